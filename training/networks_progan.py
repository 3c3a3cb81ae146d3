"""Progressive GAN networks (G_paper, D_paper of "Progressive Growing of GANs"): build functions for dnnlib.tflib.Network.

Inputs and outputs are NCHW like NVIDIA's; inside, the layers compute in the layout that suits the device (NCHW on
GPUs, NHWC on CPUs), or the one data_format asks for. Variable names, shapes, creation order, initializers and
arguments are those of NVIDIA's networks.py in progressive_growing_of_gans, so its pickles load here and ours load there.
The layers these networks share with the StyleGAN and StyleGAN2 ones are in training/layers.py.
"""

import numpy as np
import tensorflow as tf

import dnnlib
import dnnlib.tflib as tflib
from dnnlib.tflib.ops.upfirdn_2d import upsample_2d, downsample_2d
from training.layers import (compute_layout, nf_func, dense_layer, conv2d_layer, upscale2d_conv2d, apply_bias_act,
                             pixel_norm, minibatch_stddev_layer, check_structure, generator_levels,
                             discriminator_levels)

# The build functions a pickle may name (anything else in this module is a helper).
BUILD_FUNCTIONS = ('G_paper', 'D_paper')

# The state layout of ProGAN's tfutil.Network pickles.
PICKLE_STATE_VERSION = 2

# What our pickles store as the source of this module (`build_module_src`). ProGAN's loader executes it in a fresh
# module and looks the build function up there; ProGAN's networks.py, importable wherever that loader runs, defines
# the same functions with the same arguments and variables. Our own loader never executes it.
PICKLE_MODULE_SRC = (
    '# Network pickled by the TensorFlow 2 port of ProGAN: its build functions are those of\n'
    '# networks.py, with the same arguments and variables.\n'
    'from networks import *\n')

STRUCTURES = (None, 'auto', 'linear', 'recursive')

# ----------------------------------------------------------------------------
# Argument checks.


def check_min_lod(min_lod, resolution_log2):
    if not (isinstance(min_lod, (int, np.integer)) and 0 <= min_lod <= resolution_log2 - 2):
        raise ValueError(f'min_lod must be an integer in [0, {resolution_log2 - 2}] at this resolution, got {min_lod!r}.')


# ----------------------------------------------------------------------------
# Generator network used in the paper.


def G_paper(
        latents_in,                     # First input: latent vectors [minibatch, latent_size].
        labels_in,                      # Second input: labels [minibatch, label_size].
        num_channels=1,                 # Number of output color channels.
        resolution=32,                  # Output resolution.
        label_size=0,                   # Dimensionality of the labels, 0 = unconditional.
        fmap_base=8192,                 # Overall multiplier for the number of feature maps.
        fmap_decay=1.0,                 # log2 feature map reduction when doubling the resolution.
        fmap_max=512,                   # Maximum number of feature maps in any layer.
        latent_size=None,               # Dimensionality of the latent vectors; None = nf(0).
        normalize_latents=True,         # Pixel-normalize the latents (and labels) first?
        use_wscale=True,                # Equalized learning rate?
        use_pixelnorm=True,             # Pixelwise feature vector normalization after every layer?
        pixelnorm_epsilon=1e-8,         # Epsilon of the pixelwise normalization.
        use_leakyrelu=True,             # True = leaky ReLU, False = ReLU.
        dtype='float32',                # Data type of the activations and outputs.
        fused_scale=True,               # True = upsampling fused into the convolution, False = separate.
        structure=None,                 # 'linear', 'recursive', 'auto' or None: all give the same images here.
        is_template_graph=False,        # True while the Network traces its template.
        min_lod=0,                      # Static int, lod >= min_lod in this call: skip the finer levels, which lod ignores.
        data_format=None,               # Layout to compute in: 'NCHW' (GPU), 'NHWC' (CPU); None = by device.
        fused_weight_in_out=False,      # Store the fused up-convolution weight [k, k, in, out] (NVlabs/stylegan's copy).
        **_kwargs):                     # Other arguments are for other networks.

    del is_template_graph
    check_structure(structure, STRUCTURES)
    resolution_log2 = dnnlib.util.check_power_of_two(resolution, 'resolution')
    check_min_lod(min_lod, resolution_log2)
    nf = nf_func(fmap_base, fmap_decay, 0, fmap_max)  # ProGAN has no minimum.
    fmt = compute_layout(data_format)
    act = 'lrelu' if use_leakyrelu else 'relu'
    if latent_size is None:
        latent_size = nf(0)

    latents_in = tflib.set_input_shape(latents_in, [None, latent_size], 'G: latents_in')
    labels_in = tflib.set_input_shape(labels_in, [None, label_size], 'G: labels_in')
    combo_in = tf.cast(tf.concat([latents_in, labels_in], axis=1), dtype)
    lod_in = tf.cast(tflib.get_variable('lod', [], tflib.init_zeros(), trainable=False), dtype)

    # Every layer: weight (He gain sqrt(2)), bias, activation with gain 1, then pixel norm.
    def bias_act_norm(x):
        x = apply_bias_act(x, act=act, gain=1, fmt=fmt)
        return pixel_norm(x, pixelnorm_epsilon, fmt) if use_pixelnorm else x

    def block(x, res):
        with tflib.variable_scope('%dx%d' % (2 ** res, 2 ** res)):
            if res == 2:
                if normalize_latents:
                    x = pixel_norm(x, pixelnorm_epsilon)
                with tflib.variable_scope('Dense'):
                    # Gain sqrt(2)/4 matches the original Theano implementation of the paper.
                    x = dense_layer(x, fmaps=nf(1) * 16, gain=np.sqrt(2) / 4, use_wscale=use_wscale)
                    x = bias_act_norm(tflib.nchw_to(tf.reshape(x, [-1, nf(1), 4, 4]), fmt))
                with tflib.variable_scope('Conv'):
                    x = bias_act_norm(conv2d_layer(x, fmaps=nf(1), kernel=3, gain=np.sqrt(2), use_wscale=use_wscale, fmt=fmt))
                return x
            if fused_scale:
                with tflib.variable_scope('Conv0_up'):
                    x = bias_act_norm(upscale2d_conv2d(x, fmaps=nf(res - 1), kernel=3, use_wscale=use_wscale,
                                                       weight_in_out=fused_weight_in_out, fmt=fmt))
            else:
                x = upsample_2d(x, data_format=fmt)  # Default kernel: nearest neighbour.
                with tflib.variable_scope('Conv0'):
                    x = bias_act_norm(conv2d_layer(x, fmaps=nf(res - 1), kernel=3, gain=np.sqrt(2), use_wscale=use_wscale, fmt=fmt))
            with tflib.variable_scope('Conv1'):
                x = bias_act_norm(conv2d_layer(x, fmaps=nf(res - 1), kernel=3, gain=np.sqrt(2), use_wscale=use_wscale, fmt=fmt))
            return x

    def torgb(x, res):
        with tflib.variable_scope('ToRGB_lod%d' % (resolution_log2 - res)):
            return apply_bias_act(conv2d_layer(x, fmaps=num_channels, kernel=1, gain=1, use_wscale=use_wscale, fmt=fmt), fmt=fmt)

    images_out = generator_levels(block(combo_in, 2), block, torgb, resolution_log2, lod_in, min_lod, False, fmt)
    return tf.identity(tflib.to_nchw(images_out, fmt), name='images_out')


# ----------------------------------------------------------------------------
# Discriminator network used in the paper.


def D_paper(
        images_in,                      # Input: images [minibatch, channel, height, width].
        num_channels=1,                 # Number of input color channels.
        resolution=32,                  # Input resolution.
        label_size=0,                   # Dimensionality of the labels, 0 = unconditional.
        fmap_base=8192,                 # Overall multiplier for the number of feature maps.
        fmap_decay=1.0,                 # log2 feature map reduction when doubling the resolution.
        fmap_max=512,                   # Maximum number of feature maps in any layer.
        use_wscale=True,                # Equalized learning rate?
        mbstd_group_size=4,             # Group size of the minibatch stddev layer, 0 = off.
        dtype='float32',                # Data type of the activations and outputs.
        fused_scale=True,               # True = downsampling fused into the convolution, False = separate.
        structure=None,                 # 'linear', 'recursive', 'auto' or None: all give the same outputs here.
        is_template_graph=False,        # True while the Network traces its template.
        min_lod=0,                      # Static int, lod >= min_lod in this call: skip the finer levels, which lod ignores.
        data_format=None,               # Layout to compute in: 'NCHW' (GPU), 'NHWC' (CPU); None = by device.
        **_kwargs):                     # Other arguments are for other networks.

    del is_template_graph
    check_structure(structure, STRUCTURES)
    resolution_log2 = dnnlib.util.check_power_of_two(resolution, 'resolution')
    check_min_lod(min_lod, resolution_log2)
    nf = nf_func(fmap_base, fmap_decay, 0, fmap_max)  # ProGAN has no minimum.
    fmt = compute_layout(data_format)

    images_in = tflib.set_input_shape(images_in, [None, num_channels, resolution, resolution], 'D: images_in')
    images_in = tflib.nchw_to(tf.cast(images_in, dtype), fmt)
    lod_in = tf.cast(tflib.get_variable('lod', [], tflib.init_zeros(), trainable=False), dtype)

    # Every layer but the last: weight (He gain sqrt(2)), bias, leaky ReLU with gain 1.
    def conv_act(x, fmaps, kernel, down=False):
        x = conv2d_layer(x, fmaps=fmaps, kernel=kernel, down=down, gain=np.sqrt(2), use_wscale=use_wscale, fmt=fmt)
        return apply_bias_act(x, act='lrelu', gain=1, fmt=fmt)

    def fromrgb(x, res):
        with tflib.variable_scope('FromRGB_lod%d' % (resolution_log2 - res)):
            return conv_act(x, fmaps=nf(res - 1), kernel=1)

    def block(x, res):
        with tflib.variable_scope('%dx%d' % (2 ** res, 2 ** res)):
            if res >= 3:
                with tflib.variable_scope('Conv0'):
                    x = conv_act(x, fmaps=nf(res - 1), kernel=3)
                if fused_scale:
                    with tflib.variable_scope('Conv1_down'):
                        # Default resampling kernel: the 2x2 box, i.e. the convolution then a 2x2 average.
                        x = conv_act(x, fmaps=nf(res - 2), kernel=3, down=True)
                else:
                    with tflib.variable_scope('Conv1'):
                        x = conv_act(x, fmaps=nf(res - 2), kernel=3)
                    x = downsample_2d(x, data_format=fmt)
                return x
            if mbstd_group_size > 1:
                x = minibatch_stddev_layer(x, mbstd_group_size, fmt=fmt)
            with tflib.variable_scope('Conv'):
                x = conv_act(x, fmaps=nf(1), kernel=3)
            with tflib.variable_scope('Dense0'):
                x = apply_bias_act(dense_layer(x, fmaps=nf(0), gain=np.sqrt(2), use_wscale=use_wscale, fmt=fmt), act='lrelu', gain=1)
            with tflib.variable_scope('Dense1'):
                return apply_bias_act(dense_layer(x, fmaps=1 + label_size, gain=1, use_wscale=use_wscale))

    x = discriminator_levels(images_in, block, fromrgb, resolution_log2, lod_in, min_lod, False, fmt)
    combo_out = block(x, 2)

    scores_out = tf.identity(combo_out[:, :1], name='scores_out')
    labels_out = tf.identity(combo_out[:, 1:], name='labels_out')
    return scores_out, labels_out
