"""Network pickles: load_pkl rebuilds the networks of NVIDIA's pickles (and ours) with this project's build
functions, never executing code from the file; save_pkl writes them."""

import os
import pickle
from typing import Any, Callable

import dnnlib
from dnnlib.tflib import network_pickle
from dnnlib.tflib.network import Network
from training import networks_progan, networks_progan_stylegan, networks_stylegan, networks_stylegan2

# Which of our modules rebuilds a pickled network, recognized by text in its stored source (searched, never
# executed): NVIDIA's modules define these functions, and ours store an import of NVIDIA's module of the same name.
# ProGAN's networks.py and NVlabs/stylegan's copy of it define the same functions; the class tells them apart.
_BUILD_MODULES = [
    (networks_stylegan2, ('def G_synthesis_stylegan2(', 'def D_stylegan2(', 'def G_main(', 'from training.networks_stylegan2 import')),
    (networks_stylegan, ('def G_style(', 'def D_basic(', 'from training.networks_stylegan import')),
    (networks_progan_stylegan, ('from training.networks_progan import',)),
    (networks_progan, ('def G_paper(', 'def D_paper(', 'from networks import')),
]


def resolve_build_func(state: dict, class_path: str) -> Callable:
    """Our build function for a pickled network state, chosen by name and module; never its stored code."""
    name = state.get('build_func_name')
    src = state.get('build_module_src') or ''
    version = state.get('version')
    if version not in (2, 3, 4):
        raise ValueError(f'Network "{state.get("name")}": unsupported pickle state version {version!r} '
                         f'(known: 2 = ProGAN, 3 = StyleGAN, 4 = StyleGAN2).')
    module = next((module for module, markers in _BUILD_MODULES if any(m in src for m in markers)), None)
    if module is None:  # A source we do not recognize: go by the function's name (G_mapping is StyleGAN2's then).
        module = next((module for module, _ in _BUILD_MODULES if name in module.BUILD_FUNCTIONS), networks_stylegan2)
    if module is networks_progan and class_path != 'tfutil.Network':  # NVlabs/stylegan's copy, a dnnlib Network.
        module = networks_progan_stylegan
    if name not in module.BUILD_FUNCTIONS:
        raise ValueError(f'Network "{state.get("name")}": unknown build function {name!r} for {module.__name__}; '
                         f'known: {", ".join(module.BUILD_FUNCTIONS)}.')
    if class_path == 'tfutil.Network' and module is not networks_progan:
        raise ValueError(f'Network "{state.get("name")}" ({name}, a {class_path}): only ProGAN networks are tfutil.Networks.')
    return getattr(module, name)


def network_from_state(obj: network_pickle.NetworkState) -> Network:
    """Rebuild a Network (and its components) from its pickled state."""
    state = obj.state
    missing = [key for key in ('name', 'static_kwargs', 'build_func_name', 'variables') if key not in state]
    if missing:
        raise ValueError(f'Network state in {obj.class_path} lacks {missing}.')
    components = dnnlib.EasyDict({key: network_from_state(comp) for key, comp in state.get('components', {}).items()})
    return Network.from_state(state, resolve_build_func(state, obj.class_path), components)


def load_pkl(file_or_url: Any) -> Any:
    """Load a network pickle (a path, URL or open binary file) without executing code from it."""
    if isinstance(file_or_url, (str, os.PathLike)):
        with dnnlib.util.open_url(str(file_or_url)) as file:
            return load_pkl(file)
    states = network_pickle.load_states(file_or_url)
    try:
        return network_pickle.map_states(states, network_from_state)
    except RecursionError as err:  # Structures nested deeper than any network pickle's.
        raise pickle.UnpicklingError('Not a readable network pickle: RecursionError while reading it.') from err


def save_pkl(obj: Any, filename: str, protocol: int = network_pickle.PICKLE_PROTOCOL) -> None:
    """Write networks (e.g. the tuple (G, D, Gs)) in NVIDIA's pickle format, atomically. The networks pickle
    themselves in that format, so this is pickle.dump into a temporary file that is renamed when complete."""
    with dnnlib.util.atomic_write(filename) as file:
        pickle.dump(obj, file, protocol=protocol)
