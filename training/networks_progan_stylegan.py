"""ProGAN's G_paper and D_paper as NVlabs/stylegan ships them (its training/networks_progan.py, for its ProGAN
baselines): build functions for dnnlib.tflib.Network.

They are the networks of networks_progan.py (ProGAN's own networks.py) with three differences, all in what is
stored, none in what G computes: the fused up-convolution weight is stored [k, k, in, out]; D takes the labels as a
second input and ignores them; D's last layer has one output, the scores, whatever label_size says. Their pickles are
dnnlib Networks with StyleGAN's state layout (version 3), not ProGAN's tfutil.Networks.
"""

import dnnlib.tflib as tflib
from training import networks_progan

# The build functions a pickle may name.
BUILD_FUNCTIONS = ('G_paper', 'D_paper')

# The state layout of NVlabs/stylegan's dnnlib.tflib.Network pickles.
PICKLE_STATE_VERSION = 3

# What our pickles store as the source of this module (`build_module_src`): NVlabs/stylegan's loader executes it,
# and its training/networks_progan.py defines the same functions with the same arguments and variables.
PICKLE_MODULE_SRC = (
    '# Network pickled by the TensorFlow 2 port of ProGAN: its build functions are those of\n'
    "# NVlabs/stylegan's training/networks_progan.py, with the same arguments and variables.\n"
    'from training.networks_progan import *\n')


def G_paper(latents_in, labels_in, **kwargs):
    """networks_progan.G_paper, with its fused up-convolution weights stored [k, k, in, out]."""
    return networks_progan.G_paper(latents_in, labels_in, fused_weight_in_out=True, **kwargs)


def D_paper(images_in, labels_in, label_size=0, **kwargs):
    """networks_progan.D_paper with labels as an unused second input and the scores as its only output."""
    tflib.set_input_shape(labels_in, [None, label_size], 'D: labels_in')
    scores_out, _ = networks_progan.D_paper(images_in, label_size=0, **kwargs)
    return scores_out
