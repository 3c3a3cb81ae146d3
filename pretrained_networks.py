"""Load NVIDIA's published StyleGAN2 networks, or any network pickle, by path or URL.

`gdrive:networks/<file>.pkl` names (as used in NVIDIA's README and scripts) map to the URLs NVIDIA
publishes them at; they are downloaded only when you ask for them, and cached in `.stylegan2-cache`.
"""

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
