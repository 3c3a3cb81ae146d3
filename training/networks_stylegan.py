"""StyleGAN (v1) networks (G_style, G_mapping, G_synthesis, D_basic): build functions for dnnlib.tflib.Network.

Inputs and outputs are NCHW like NVIDIA's; inside, the layers compute in the layout that suits the device (NCHW on
GPUs, NHWC on CPUs), or the one data_format asks for. Variable names, shapes, creation order, initializers and
arguments are those of NVIDIA's training/networks_stylegan.py (NVlabs/stylegan; NVlabs/stylegan2 ships the same
file for its config-a), so its pickles load here and ours load there.
The layers these networks share with the StyleGAN2 and ProGAN ones are in training/layers.py.
"""

import numpy as np
import tensorflow as tf

import dnnlib
import dnnlib.tflib as tflib
from training.layers import (channel_axis, compute_layout, nf_func, dense_layer, conv2d_layer, upscale2d_conv2d,
                             apply_bias_act, blur2d, pixel_norm, minibatch_stddev_layer, check_structure,
                             generator_levels, discriminator_levels, static_off, mapping_network, d_inputs)

# The build functions a pickle may name (anything else in this module is a helper).
BUILD_FUNCTIONS = ('G_style', 'G_mapping', 'G_synthesis', 'D_basic')

# The state layout of StyleGAN's Network pickles (read by both NVIDIA's StyleGAN and StyleGAN2 code).
PICKLE_STATE_VERSION = 3

# What our pickles store as the source of this module (`build_module_src`). NVIDIA's loader executes it and looks
# the build function up in the result; NVIDIA's training/networks_stylegan.py, which exists wherever that loader
# runs (StyleGAN and StyleGAN2 alike), defines the same functions with the same arguments and variables.
PICKLE_MODULE_SRC = (
    '# Network pickled by the TensorFlow 2 port of StyleGAN: its build functions are those of\n'
    '# training/networks_stylegan.py, with the same arguments and variables.\n'
    'from training.networks_stylegan import *\n')

STRUCTURES = ('auto', 'fixed', 'linear', 'recursive')

# ----------------------------------------------------------------------------
# StyleGAN's own layers (the shared ones are in training/layers.py). `fmt` is the data format the activations
# are in. The rectifiers' gain sqrt(2) is folded into the weights of the layer before them (get_weight's gain), so
# the activations themselves have gain 1.


def check_rectifier(nonlinearity):
    if nonlinearity not in ('relu', 'lrelu'):
        raise ValueError(f"nonlinearity must be 'relu' or 'lrelu', got {nonlinearity!r}.")
    return nonlinearity


def instance_norm(x, epsilon=1e-8, fmt='NCHW'):
    """Each feature map of each sample to mean 0 and variance 1 over its pixels, computed in float32."""
    pixels = [2, 3] if fmt == 'NCHW' else [1, 2]
    y = tf.cast(x, tf.float32)
    y -= tf.reduce_mean(y, axis=pixels, keepdims=True)
    y *= tf.math.rsqrt(tf.reduce_mean(tf.square(y), axis=pixels, keepdims=True) + epsilon)
    return tf.cast(y, x.dtype)


def style_mod(x, dlatent, use_wscale=True, fmt='NCHW'):
    """The affine part of AdaIN: from the dlatent, a scale (+1) and a shift per feature map and sample."""
    fmaps = int(x.shape[channel_axis(fmt)])
    with tflib.variable_scope('StyleMod'):
        style = apply_bias_act(dense_layer(dlatent, fmaps=fmaps * 2, gain=1, use_wscale=use_wscale))
    per_map = [-1, fmaps, 1, 1] if fmt == 'NCHW' else [-1, 1, 1, fmaps]
    return x * tf.reshape(style[:, :fmaps] + 1, per_map) + tf.reshape(style[:, fmaps:], per_map)


def apply_noise(x, noise_var, randomize_noise, fmt='NCHW'):
    """Add one noise image per sample (fresh N(0, 1), or the stored one), scaled by a learned weight per feature map."""
    h, w = (x.shape[2], x.shape[3]) if fmt == 'NCHW' else (x.shape[1], x.shape[2])
    one_map = [-1, 1, h, w] if fmt == 'NCHW' else [-1, h, w, 1]
    with tflib.variable_scope('Noise'):
        if randomize_noise:
            noise = tflib.random_normal([tf.shape(x)[0]] + one_map[1:], dtype=x.dtype)
        else:
            noise = tf.cast(tf.reshape(noise_var, one_map), x.dtype)
        weight = tflib.get_variable('weight', [int(x.shape[channel_axis(fmt)])], tflib.init_zeros())
    per_map = [1, -1, 1, 1] if fmt == 'NCHW' else [1, 1, 1, -1]
    return x + noise * tf.reshape(tf.cast(weight, x.dtype), per_map)


# ----------------------------------------------------------------------------
# Style-based generator: G_mapping and G_synthesis, with dlatent averaging, style mixing and truncation.


def G_style(
        latents_in,                                 # First input: latent vectors (Z) [minibatch, latent_size].
        labels_in,                                  # Second input: conditioning labels [minibatch, label_size].
        truncation_psi=0.7,                         # Truncation strength; None or 1 = off.
        truncation_cutoff=8,                        # Truncate the layers below this index; None or <= 0 = off.
        truncation_psi_val=None,                    # truncation_psi when is_validation.
        truncation_cutoff_val=None,                 # truncation_cutoff when is_validation.
        dlatent_avg_beta=0.995,                     # Decay of the running mean of W in training; None = off.
        style_mixing_prob=0.9,                      # Probability of style mixing in training; None = off.
        is_training=False,                          # Training mode: tracks dlatent_avg, mixes styles, no truncation.
        is_validation=False,                        # Validation mode: uses the *_val truncation settings.
        is_template_graph=False,                    # True while the Network traces its template.
        components=dnnlib.EasyDict(),               # Sub-networks (synthesis, mapping), kept between calls.
        **kwargs):                                  # Arguments for the sub-networks.

    if is_training and is_validation:
        raise ValueError('G_style: is_training and is_validation cannot both be set.')
    if is_validation:
        truncation_psi, truncation_cutoff = truncation_psi_val, truncation_cutoff_val
    # Training never truncates; only training averages and mixes.
    truncation_psi = None if is_training else static_off(truncation_psi, lambda psi: psi == 1)
    truncation_cutoff = None if is_training else static_off(truncation_cutoff, lambda cutoff: cutoff <= 0)
    dlatent_avg_beta = static_off(dlatent_avg_beta, lambda beta: beta == 1) if is_training else None
    style_mixing_prob = static_off(style_mixing_prob, lambda prob: prob <= 0) if is_training else None

    # Sub-networks are created on the first (template) call, synthesis first, and reused afterwards.
    if 'synthesis' not in components:
        components.synthesis = tflib.Network('G_synthesis', func_name=G_synthesis, **kwargs)
    _, num_layers, dlatent_size = components.synthesis.input_shape
    if 'mapping' not in components:
        components.mapping = tflib.Network('G_mapping', func_name=G_mapping, dlatent_broadcast=num_layers, **kwargs)

    lod_in = tflib.get_variable('lod', [], tflib.init_zeros(), trainable=False)
    dlatent_avg = tflib.get_variable('dlatent_avg', [dlatent_size], tflib.init_zeros(), trainable=False)
    layer_idx = np.arange(num_layers)[np.newaxis, :, np.newaxis]

    dlatents = tf.cast(components.mapping.get_output_for(latents_in, labels_in, **kwargs), tf.float32)

    if dlatent_avg_beta is not None:
        dlatent_avg.assign(tflib.lerp(tf.reduce_mean(dlatents[:, 0], axis=0), dlatent_avg, dlatent_avg_beta))

    if style_mixing_prob is not None:
        # The layers from a random crossover on (among those the current lod uses) take the styles of other latents.
        other_latents = tflib.random_normal(tf.shape(latents_in))
        other_dlatents = tf.cast(components.mapping.get_output_for(other_latents, labels_in, **kwargs), tf.float32)
        used_layers = num_layers - 2 * tf.cast(lod_in, tf.int32)
        crossover = tf.cond(tflib.random_uniform([], 0.0, 1.0) < style_mixing_prob,
                            lambda: tflib.random_uniform([], 1, used_layers, dtype=tf.int32), lambda: used_layers)
        dlatents = tf.where(layer_idx < crossover, dlatents, other_dlatents)

    # Unlike StyleGAN2's G_main, truncation needs a cutoff: no cutoff means no truncation.
    if truncation_psi is not None and truncation_cutoff is not None:
        psi = tf.where(layer_idx < truncation_cutoff, tf.cast(truncation_psi, tf.float32), 1.0)
        dlatents = tflib.lerp(dlatent_avg, dlatents, psi)

    components.synthesis.find_var('lod').assign(lod_in)
    images_out = components.synthesis.get_output_for(dlatents, force_clean_graph=is_template_graph, **kwargs)
    return tf.identity(images_out, name='images_out')


# ----------------------------------------------------------------------------
# Mapping network: Z (+ labels) -> W.


def G_mapping(
        latents_in,                     # First input: latent vectors (Z) [minibatch, latent_size].
        labels_in,                      # Second input: conditioning labels [minibatch, label_size].
        latent_size=512,                # Dimensionality of Z.
        label_size=0,                   # Dimensionality of the labels, 0 = unconditional.
        dlatent_size=512,               # Dimensionality of W.
        dlatent_broadcast=None,         # Output [minibatch, dlatent_size] (None) or [minibatch, dlatent_broadcast, dlatent_size].
        mapping_layers=8,               # Number of dense layers.
        mapping_fmaps=512,              # Width of the hidden dense layers.
        mapping_lrmul=0.01,             # Learning rate multiplier of the mapping layers.
        mapping_nonlinearity='lrelu',   # Activation function: 'relu' or 'lrelu'.
        use_wscale=True,                # Equalized learning rate?
        normalize_latents=True,         # Pixel-normalize Z (and the label embedding) first?
        dtype='float32',                # Data type of the activations.
        **_kwargs):                     # Other arguments are for other networks.

    # The gain sits in the weight, so unlike StyleGAN2's mapping it does not scale the bias.
    return mapping_network(latents_in, labels_in, latent_size, label_size, dlatent_size, dlatent_broadcast,
                           mapping_layers, mapping_fmaps, mapping_lrmul, act=check_rectifier(mapping_nonlinearity),
                           use_wscale=use_wscale, normalize_latents=normalize_latents, gain_in_weight=True, dtype=dtype)


# ----------------------------------------------------------------------------
# Synthesis network: W -> image, progressive growing via `lod`.


def G_synthesis(
        dlatents_in,                    # Input: disentangled latents (W) [minibatch, num_layers, dlatent_size].
        dlatent_size=512,               # Dimensionality of W.
        num_channels=3,                 # Number of output color channels.
        resolution=1024,                # Output resolution.
        fmap_base=8192,                 # Overall multiplier for the number of feature maps.
        fmap_decay=1.0,                 # log2 feature map reduction when doubling the resolution.
        fmap_max=512,                   # Maximum number of feature maps in any layer.
        use_styles=True,                # Style inputs (AdaIN)? False = one dlatent, for the 4x4 Dense input only.
        const_input_layer=True,         # First layer a learned constant? False = a dense layer from the first dlatent.
        use_noise=True,                 # Noise inputs?
        randomize_noise=True,           # True = fresh noise every call, False = the stored noise variables.
        nonlinearity='lrelu',           # Activation function: 'relu' or 'lrelu'.
        use_wscale=True,                # Equalized learning rate?
        use_pixel_norm=False,           # Pixelwise feature vector normalization?
        use_instance_norm=True,         # Instance normalization?
        dtype='float32',                # Data type of the activations.
        fused_scale='auto',             # Upsampling convolutions in the original's fused form? 'auto' = from 128x128.
        blur_filter=[1, 2, 1],          # Low-pass filter after upsampling; None = none.
        structure='auto',               # 'fixed' = no growing; 'linear', 'recursive' or 'auto' = growing.
        min_lod=0,                      # Static int, lod >= min_lod in this call: skip the finer levels, which lod ignores.
        is_template_graph=False,        # True while the Network traces its template.
        force_clean_graph=False,        # The original's graph for TensorBoard: like the template, stored noise.
        data_format=None,               # Layout to compute in: 'NCHW' (GPU), 'NHWC' (CPU); None = by device.
        **_kwargs):                     # Other arguments are for other networks.

    resolution_log2 = dnnlib.util.check_power_of_two(resolution, 'resolution')
    nf = nf_func(fmap_base, fmap_decay, 0, fmap_max)
    act = check_rectifier(nonlinearity)
    gain = np.sqrt(2)
    check_structure(structure, STRUCTURES)
    fmt = compute_layout(data_format)
    if is_template_graph or force_clean_graph:
        randomize_noise = False
    num_layers = resolution_log2 * 2 - 2
    num_styles = num_layers if use_styles else 1
    dlatents_in = tf.cast(tflib.set_input_shape(dlatents_in, [None, num_styles, dlatent_size], 'G_synthesis: dlatents_in'), dtype)
    lod_in = tf.cast(tflib.get_variable('lod', [], tflib.init_zeros(), trainable=False), dtype)

    # Layer i works at 2^(i // 2 + 2) pixels.
    noise_inputs = [tflib.get_variable('noise%d' % layer_idx, [1, 1, 2 ** (layer_idx // 2 + 2), 2 ** (layer_idx // 2 + 2)],
                                       tflib.init_normal(), trainable=False)
                    for layer_idx in range(num_layers if use_noise else 0)]

    def layer_epilogue(x, layer_idx):
        if use_noise:
            x = apply_noise(x, noise_inputs[layer_idx], randomize_noise, fmt=fmt)
        x = apply_bias_act(x, act=act, gain=1, fmt=fmt)
        if use_pixel_norm:
            x = pixel_norm(x, fmt=fmt)
        if use_instance_norm:
            x = instance_norm(x, fmt=fmt)
        if use_styles:
            x = style_mod(x, dlatents_in[:, layer_idx], use_wscale=use_wscale, fmt=fmt)
        return x

    with tflib.variable_scope('4x4'):
        if const_input_layer:
            with tflib.variable_scope('Const'):
                x = tflib.get_variable('const', [1, nf(1), 4, 4], tf.ones)
                x = tf.tile(tflib.nchw_to(tf.cast(x, dtype), fmt), [tf.shape(dlatents_in)[0], 1, 1, 1])
                x = layer_epilogue(x, 0)
        else:
            with tflib.variable_scope('Dense'):
                # Gain / 4 as in the original (ProGAN's first layer).
                x = dense_layer(dlatents_in[:, 0], fmaps=nf(1) * 16, gain=gain / 4, use_wscale=use_wscale)
                x = layer_epilogue(tflib.nchw_to(tf.reshape(x, [-1, nf(1), 4, 4]), fmt), 0)
        with tflib.variable_scope('Conv'):
            x = layer_epilogue(conv2d_layer(x, fmaps=nf(1), kernel=3, gain=gain, use_wscale=use_wscale, fmt=fmt), 1)

    def block(x, res):
        with tflib.variable_scope('%dx%d' % (2 ** res, 2 ** res)):
            with tflib.variable_scope('Conv0_up'):
                x = upscale2d_conv2d(x, fmaps=nf(res - 1), kernel=3, fused_scale=fused_scale, gain=gain,
                                     use_wscale=use_wscale, fmt=fmt)
                x = layer_epilogue(blur2d(x, blur_filter, fmt=fmt) if blur_filter else x, res * 2 - 4)
            with tflib.variable_scope('Conv1'):
                x = conv2d_layer(x, fmaps=nf(res - 1), kernel=3, gain=gain, use_wscale=use_wscale, fmt=fmt)
                return layer_epilogue(x, res * 2 - 3)

    def torgb(x, res):
        with tflib.variable_scope('ToRGB_lod%d' % (resolution_log2 - res)):
            return apply_bias_act(conv2d_layer(x, fmaps=num_channels, kernel=1, gain=1, use_wscale=use_wscale, fmt=fmt), fmt=fmt)

    images_out = generator_levels(x, block, torgb, resolution_log2, lod_in, min_lod, structure == 'fixed', fmt)
    return tf.identity(tflib.to_nchw(images_out, fmt), name='images_out')


# ----------------------------------------------------------------------------
# Discriminator: ProGAN's, with a blur before each downsampling convolution.


def D_basic(
        images_in,                      # First input: images [minibatch, channel, height, width].
        labels_in,                      # Second input: labels [minibatch, label_size].
        num_channels=1,                 # Number of input color channels.
        resolution=32,                  # Input resolution.
        label_size=0,                   # Dimensionality of the labels, 0 = unconditional.
        fmap_base=8192,                 # Overall multiplier for the number of feature maps.
        fmap_decay=1.0,                 # log2 feature map reduction when doubling the resolution.
        fmap_max=512,                   # Maximum number of feature maps in any layer.
        nonlinearity='lrelu',           # Activation function: 'relu' or 'lrelu'.
        use_wscale=True,                # Equalized learning rate?
        mbstd_group_size=4,             # Group size of the minibatch stddev layer, 0 = off.
        mbstd_num_features=1,           # Number of features of the minibatch stddev layer.
        dtype='float32',                # Data type of the activations.
        fused_scale='auto',             # The original's choice of form for the downsampling convolutions; same results.
        blur_filter=[1, 2, 1],          # Low-pass filter before downsampling; None = none.
        structure='auto',               # 'fixed' = no growing; 'linear', 'recursive' or 'auto' = growing.
        min_lod=0,                      # Static int, lod >= min_lod in this call: skip the finer levels, which lod ignores.
        is_template_graph=False,        # True while the Network traces its template.
        data_format=None,               # Layout to compute in: 'NCHW' (GPU), 'NHWC' (CPU); None = by device.
        **_kwargs):                     # Other arguments are for other networks.

    # Convolving, then box-downsampling 2x2 is a strided convolution of the box-filtered input with the same weight,
    # which is the original's fused form: one computation serves both.
    del fused_scale, is_template_graph
    resolution_log2 = dnnlib.util.check_power_of_two(resolution, 'resolution')
    nf = nf_func(fmap_base, fmap_decay, 0, fmap_max)
    act = check_rectifier(nonlinearity)
    gain = np.sqrt(2)
    check_structure(structure, STRUCTURES)
    fmt = compute_layout(data_format)
    images_in, labels_in = d_inputs(images_in, labels_in, num_channels, resolution, label_size, dtype, fmt)
    lod_in = tf.cast(tflib.get_variable('lod', [], tflib.init_zeros(), trainable=False), dtype)

    def conv(x, fmaps, kernel, down=False):
        x = conv2d_layer(x, fmaps=fmaps, kernel=kernel, down=down, gain=gain, use_wscale=use_wscale, fmt=fmt)
        return apply_bias_act(x, act=act, gain=1, fmt=fmt)

    def fromrgb(x, res):
        with tflib.variable_scope('FromRGB_lod%d' % (resolution_log2 - res)):
            return conv(x, nf(res - 1), 1)

    def block(x, res):
        with tflib.variable_scope('%dx%d' % (2 ** res, 2 ** res)):
            with tflib.variable_scope('Conv0'):
                x = conv(x, nf(res - 1), 3)
            with tflib.variable_scope('Conv1_down'):
                return conv(blur2d(x, blur_filter, fmt=fmt) if blur_filter else x, nf(res - 2), 3, down=True)

    x = discriminator_levels(images_in, block, fromrgb, resolution_log2, lod_in, min_lod, structure == 'fixed', fmt)

    with tflib.variable_scope('4x4'):
        if mbstd_group_size > 1:
            x = minibatch_stddev_layer(x, mbstd_group_size, mbstd_num_features, fmt=fmt)
        with tflib.variable_scope('Conv'):
            x = conv(x, nf(1), 3)
        with tflib.variable_scope('Dense0'):
            x = apply_bias_act(dense_layer(x, fmaps=nf(0), gain=gain, use_wscale=use_wscale, fmt=fmt), act=act, gain=1)
        with tflib.variable_scope('Dense1'):
            x = apply_bias_act(dense_layer(x, fmaps=max(label_size, 1), gain=1, use_wscale=use_wscale))

    # Projection conditioning ("Which Training Methods for GANs do actually Converge?").
    if label_size:
        x = tf.reduce_sum(x * labels_in, axis=1, keepdims=True)
    return tf.identity(x, name='scores_out')
