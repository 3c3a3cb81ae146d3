"""Load NVIDIA's published StyleGAN2 networks, or any network pickle, by path or URL.

`gdrive:networks/<file>.pkl` names (as used in NVIDIA's README and scripts) map to the URLs NVIDIA
publishes them at; they are downloaded only when you ask for them, and cached in `.stylegan2-cache`.
"""

import pickle

import dnnlib
import dnnlib.tflib as tflib
from training import misc

_CDN = 'https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/'
_PUBLISHED = (
    [f'stylegan2-{data}-config-{cfg}.pkl' for data in ('ffhq', 'car') for cfg in 'abcdef'] +
    [f'stylegan2-{data}-config-{cfg}.pkl' for data in ('cat', 'church', 'horse') for cfg in 'af'] +
    [f'table2/stylegan2-{data}-config-e-G{g}-D{d}.pkl' for data in ('car', 'ffhq')
     for g in ('orig', 'resnet', 'skip') for d in ('orig', 'resnet', 'skip')])
gdrive_urls = {f'gdrive:networks/{name}': _CDN + name for name in _PUBLISHED}

_cached_networks = dict()  # Loaded once per process, like the original.


def get_path_or_url(path_or_gdrive_path: str) -> str:
    return gdrive_urls.get(path_or_gdrive_path, path_or_gdrive_path)


def load_networks(path_or_gdrive_path: str):
    """(G, D, Gs) from a snapshot pickle, or the network from a single-network pickle."""
    path_or_url = get_path_or_url(path_or_gdrive_path)
    if path_or_url in _cached_networks:
        return _cached_networks[path_or_url]
    tflib.init_tf()
    cache_dir = '.stylegan2-cache' if dnnlib.util.is_url(path_or_url) else None
    with dnnlib.util.open_url(path_or_url, cache_dir=cache_dir) as stream:
        networks = misc.load_pkl(stream)
    _cached_networks[path_or_url] = networks
    return networks


def load_snapshot_or_exit(network_pkl: str, flag: str = '--network', style_based_for: str = None):
    """(G, D, Gs) for a script, loaded before it makes a run directory. A missing or unreadable file, a file that is
    not a network snapshot, a pickle the safe reader refuses, or (style_based_for=command) a generator without
    mapping and synthesis networks ends the script with one 'Error:' line that names the file and the flag."""
    try:
        networks = load_networks(network_pkl)
    except IsADirectoryError:
        dnnlib.util.exit_with_error(f'{flag} {network_pkl}: a directory, expected a network pickle (.pkl).')
    except FileNotFoundError:
        dnnlib.util.exit_with_error(f'{flag} {network_pkl}: no such file.')
    except pickle.UnpicklingError as err:
        dnnlib.util.exit_with_error(f'{flag} {network_pkl}: not a network pickle this project reads. {err}')
    except (ValueError, OSError) as err:  # A network state that does not match its build function; a failed download.
        dnnlib.util.exit_with_error(f'{flag} {network_pkl}: {err}')
    if not (isinstance(networks, tuple) and len(networks) == 3 and all(isinstance(net, tflib.Network) for net in networks)):
        held = (f'a single network ({networks.build_func_name}, named {networks.name!r})' if isinstance(networks, tflib.Network)
                else f'a {type(networks).__name__}')
        dnnlib.util.exit_with_error(f'{flag} {network_pkl}: holds {held}; expected a snapshot (G, D, Gs) as training writes.')
    Gs = networks[2]
    if style_based_for and not {'mapping', 'synthesis'} <= set(Gs.components):
        dnnlib.util.exit_with_error(f'{flag} {network_pkl}: {style_based_for} needs a style-based generator (StyleGAN or '
                                    f'StyleGAN2); this pickle holds {Gs.build_func_name}.')
    return networks
