"""Tiny networks for tests: StyleGAN2 (16x16, a few feature maps, with non-trivial biases and noise strengths), and
of every model family with random values in every variable."""

import numpy as np

import dnnlib.tflib as tflib

SMALL_G = dict(num_channels=3, resolution=16, label_size=0, fmap_base=64, latent_size=16, dlatent_size=16,
               mapping_fmaps=16, mapping_layers=2)
_G_ONLY = ('latent_size', 'dlatent_size', 'mapping_fmaps', 'mapping_layers')


def make_networks(seed=7, **overrides):
    """(G, D, Gs) like a training snapshot; Gs is a clone of G."""
    kwargs = dict(SMALL_G, **overrides)
    G = tflib.Network('G', func_name='training.networks_stylegan2.G_main', **kwargs)
    D = tflib.Network('D', func_name='training.networks_stylegan2.D_stylegan2',
                      **{k: v for k, v in kwargs.items() if k not in _G_ONLY and k != 'architecture'})
    rnd = np.random.RandomState(seed)
    for net in (G, D):
        for name, var in net.vars.items():
            if name.endswith('noise_strength'):
                var.assign(0.3)
            if name.endswith('dlatent_avg') or name.endswith('/bias'):
                var.assign(np.float32(rnd.randn(*var.shape.as_list()) * 0.1))
    return G, D, G.clone('Gs')


def make_family_networks(family):
    """(G, D, Gs) of one model family with random variable values: every value appears in the pickle."""
    if family == 'stylegan2':
        return make_networks()
    kwargs = dict(num_channels=3, resolution=8, label_size=2, fmap_base=32, fmap_max=8)
    if family == 'stylegan':
        G = tflib.Network('G', func_name='training.networks_stylegan.G_style', latent_size=8, dlatent_size=8,
                          mapping_fmaps=8, mapping_layers=2, **kwargs)
        D = tflib.Network('D', func_name='training.networks_stylegan.D_basic', **kwargs)
    else:  # 'progan' (ProGAN's networks.py) or 'progan_stylegan' (NVlabs/stylegan's copy).
        module = 'training.networks_' + family
        G = tflib.Network('G', func_name=module + '.G_paper', latent_size=8, **kwargs)
        D = tflib.Network('D', func_name=module + '.D_paper', **kwargs)
    rnd = np.random.RandomState(3)
    for net in (G, D):
        for var in net.vars.values():
            var.assign(np.float32(rnd.randn(*var.shape.as_list())))
    return G, D, G.clone('Gs')
