"""Network pickles (load_pkl / save_pkl) and small helpers shared by the scripts."""

import os
import re
import tempfile
from typing import Any, Callable

import dnnlib
from dnnlib.tflib import network_pickle
from dnnlib.tflib.network import Network
from training import networks_stylegan2

# Which of our modules rebuilds a pickled network: recognized by a function its stored source defines
# (the source is only searched as text, never executed).
_BUILD_MODULES = [
    ('def G_synthesis_stylegan2(', networks_stylegan2),
    ('def D_stylegan2(', networks_stylegan2),
    ('def G_main(', networks_stylegan2),
]
_NOT_YET_SUPPORTED = [
    ('def G_style(', 'a StyleGAN (v1) network'),
    ('def D_basic(', 'a StyleGAN (v1) network'),
    ('def G_paper(', 'a ProGAN network'),
    ('def D_paper(', 'a ProGAN network'),
]


def resolve_build_func(state: dict) -> Callable:
    """Our build function for a pickled network state, chosen by name and module; never its stored code."""
    name = state.get('build_func_name')
    src = state.get('build_module_src') or ''
    if state.get('version') not in (2, 3, 4):
        raise ValueError(f'Network "{state.get("name")}": unsupported pickle state version {state.get("version")!r} '
                         f'(known: 2 = ProGAN, 3 = StyleGAN, 4 = StyleGAN2).')
    for marker, what in _NOT_YET_SUPPORTED:
        if marker in src:
            raise ValueError(f'Network "{state.get("name")}" ({name}) is {what}; this version reads StyleGAN2 pickles only.')
    candidates = [module for marker, module in _BUILD_MODULES if marker in src] or [networks_stylegan2]
    func = getattr(candidates[0], name, None) if isinstance(name, str) and re.fullmatch(r'\w+', name) else None
    if not callable(func) or name.startswith('_'):
        raise ValueError(f'Network "{state.get("name")}": unknown build function {name!r}; '
                         f'known: G_main, G_mapping, G_synthesis_stylegan2, G_synthesis_stylegan_revised, D_stylegan2, D_stylegan.')
    return func


def network_from_state(obj: network_pickle.NetworkState) -> Network:
    """Rebuild a Network (and its components) from its pickled state."""
    state = obj.state
    missing = [key for key in ('name', 'static_kwargs', 'build_func_name', 'variables') if key not in state]
    if missing:
        raise ValueError(f'Network state in {obj.class_path} lacks {missing}.')
    components = dnnlib.EasyDict({key: network_from_state(comp) for key, comp in state.get('components', {}).items()})
    return Network.from_state(state, resolve_build_func(state), components)


def load_pkl(file_or_url: Any) -> Any:
    """Load a network pickle (a path, URL or open binary file) without executing code from it."""
    if isinstance(file_or_url, (str, os.PathLike)):
        with dnnlib.util.open_url(str(file_or_url)) as file:
            return load_pkl(file)
    return network_pickle.map_states(network_pickle.load_states(file_or_url), network_from_state)


def save_pkl(obj: Any, filename: str) -> None:
    """Write networks (e.g. the tuple (G, D, Gs)) in NVIDIA's pickle format, atomically."""
    data = network_pickle.dumps(obj)
    directory = os.path.dirname(os.path.abspath(filename))
    fd, tmp_path = tempfile.mkstemp(prefix='.' + os.path.basename(filename) + '.', suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_path, filename)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise
