"""StyleGAN2 networks (configs B-F of the paper): build functions for dnnlib.tflib.Network.

Inputs and outputs are NCHW like NVIDIA's; inside, the layers compute in the layout that suits the
device (NCHW on GPUs, NHWC on CPUs), which changes the arithmetic order only, not the results. The
argument data_format='NCHW' or 'NHWC' picks the layout regardless of the device (e.g. to run the GPU
layout on a CPU, which needs oneDNN: TF_ENABLE_ONEDNN_OPTS=1).
Variable names, shapes, initializers and arguments are those of NVIDIA's networks_stylegan2.py, so
its pickles load here and ours load there.
The layers these networks share with the StyleGAN and ProGAN ones are in training/layers.py.
"""

import numpy as np
import tensorflow as tf

import dnnlib
import dnnlib.tflib as tflib
from dnnlib.tflib.ops.upfirdn_2d import upsample_2d, downsample_2d
from training.layers import (channel_axis, compute_layout, nf_func, get_weight, dense_layer, conv2d_layer,
                             resample_conv2d, apply_bias_act, minibatch_stddev_layer, generator_levels,
                             discriminator_levels, static_off, mapping_network, d_inputs)

# The build functions a pickle may name (anything else in this module is a helper).
BUILD_FUNCTIONS = ('G_main', 'G_mapping', 'G_synthesis_stylegan2', 'G_synthesis_stylegan_revised', 'D_stylegan2', 'D_stylegan')

# What our pickles store as the source of this module (`build_module_src`). NVIDIA's TF1 loader executes it and
# looks the build function up in the result; NVIDIA's training/networks_stylegan2.py, which exists wherever that
# loader runs, defines the same functions with the same arguments and variables. Our own loader never executes it.
PICKLE_MODULE_SRC = (
    '# Network pickled by the TensorFlow 2 port of StyleGAN2: its build functions are those of\n'
    '# training/networks_stylegan2.py, with the same arguments and variables.\n'
    'from training.networks_stylegan2 import *\n')

# ----------------------------------------------------------------------------
# Modulated convolution (StyleGAN2's layer; the others are in training/layers.py). `fmt` is the data
# format the activations are in.


def modulated_conv2d_layer(x, y, fmaps, kernel, up=False, down=False, demodulate=True, resample_kernel=None, gain=1,
                           use_wscale=True, lrmul=1, fused_modconv=True, weight_var='weight', mod_weight_var='mod_weight',
                           mod_bias_var='mod_bias', fmt='NCHW'):
    """Convolution whose input channels are scaled per sample by a style from y, then (optionally) demodulated.

    Fused: one grouped convolution with a weight per sample (the original's GPU path). Not fused: scale the
    activations instead of the weights, so all samples share one plain convolution. The results are the
    same; the synthesis networks fuse only in the GPU layout, since TF's CPU grouped convolutions are
    slow and, without oneDNN, missing.
    """
    assert not (up and down)
    assert kernel >= 1 and kernel % 2 == 1
    in_fmaps = int(x.shape[channel_axis(fmt)])
    w = get_weight([kernel, kernel, in_fmaps, fmaps], gain=gain, use_wscale=use_wscale, lrmul=lrmul, weight_var=weight_var)

    # Style: one scale per input feature map and sample; the bias starts at 1 so the layer starts unmodulated.
    s = dense_layer(y, fmaps=in_fmaps, weight_var=mod_weight_var)
    s = apply_bias_act(s, bias_var=mod_bias_var) + 1  # [BI]

    if fused_modconv:
        ww = w[np.newaxis] * tf.cast(s[:, np.newaxis, np.newaxis, :, np.newaxis], w.dtype)  # [BkkIO]
        if demodulate:
            ww *= tf.math.rsqrt(tf.reduce_sum(tf.square(ww), axis=[1, 2, 3], keepdims=True) + 1e-8)
        # Fold the minibatch into convolution groups: one image with B*I channels, weight [k, k, I, B*O].
        w = tf.reshape(tf.transpose(ww, [1, 2, 3, 0, 4]), [kernel, kernel, in_fmaps, -1])
        if fmt == 'NCHW':
            x = tf.reshape(x, [1, -1, x.shape[2], x.shape[3]])
            x = resample_conv2d(x, tf.cast(w, x.dtype), up, down, resample_kernel, fmt)
            return tf.reshape(x, [-1, fmaps, x.shape[2], x.shape[3]])
        h, wd = x.shape[1], x.shape[2]
        x = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, h, wd, -1])
        x = resample_conv2d(x, tf.cast(w, x.dtype), up, down, resample_kernel, fmt)
        x = tf.reshape(x, [x.shape[1], x.shape[2], -1, fmaps])
        return tf.transpose(x, [2, 0, 1, 3])

    bcast = [slice(None), np.newaxis, np.newaxis] if fmt == 'NHWC' else [slice(None), slice(None), np.newaxis, np.newaxis]
    x *= tf.cast(s[tuple(bcast)], x.dtype)
    x = resample_conv2d(x, tf.cast(w, x.dtype), up, down, resample_kernel, fmt)
    if demodulate:
        # sum over (k, k, I) of (w * s)^2 = s^2 @ sum over (k, k) of w^2, without a per-sample weight tensor.
        d = tf.math.rsqrt(tf.matmul(tf.square(s), tf.reduce_sum(tf.square(w), axis=[0, 1])) + 1e-8)  # [BO]
        x *= tf.cast(d[tuple(bcast)], x.dtype)
    return x


# ----------------------------------------------------------------------------
# Main generator: mapping + synthesis, with dlatent averaging, style mixing and truncation.


def G_main(
        latents_in,                                 # First input: latent vectors (Z) [minibatch, latent_size].
        labels_in,                                  # Second input: conditioning labels [minibatch, label_size].
        truncation_psi=0.5,                         # Truncation strength; None or 1 = off.
        truncation_cutoff=None,                     # Truncate only layers below this index; None = all layers.
        truncation_psi_val=None,                    # truncation_psi when is_validation.
        truncation_cutoff_val=None,                 # truncation_cutoff when is_validation.
        dlatent_avg_beta=0.995,                     # Decay of the running mean of W in training; None = off.
        style_mixing_prob=0.9,                      # Probability of style mixing in training; None = off.
        is_training=False,                          # Training mode: tracks dlatent_avg, mixes styles, no truncation.
        is_validation=False,                        # Validation mode: uses the *_val truncation settings.
        return_dlatents=False,                      # Also return the dlatents?
        is_template_graph=False,                    # True while the Network traces its template.
        components=dnnlib.EasyDict(),               # Sub-networks (mapping, synthesis), kept between calls.
        mapping_func='G_mapping',                   # Build function name of the mapping network.
        synthesis_func='G_synthesis_stylegan2',     # Build function name of the synthesis network.
        **kwargs):                                  # Arguments for the sub-networks.

    if is_training and is_validation:
        raise ValueError('G_main: is_training and is_validation cannot both be set.')
    if is_validation:
        truncation_psi, truncation_cutoff = truncation_psi_val, truncation_cutoff_val
    # Training never truncates; only training averages and mixes.
    truncation_psi = None if is_training else static_off(truncation_psi, lambda psi: psi == 1)
    truncation_cutoff = None if is_training else truncation_cutoff
    dlatent_avg_beta = static_off(dlatent_avg_beta, lambda beta: beta == 1) if is_training else None
    style_mixing_prob = static_off(style_mixing_prob, lambda prob: prob <= 0) if is_training else None

    # Sub-networks are created on the first (template) call and reused afterwards.
    if 'synthesis' not in components:
        components.synthesis = tflib.Network('G_synthesis', func_name=globals()[synthesis_func], **kwargs)
    num_layers = components.synthesis.input_shape[1]
    dlatent_size = components.synthesis.input_shape[2]
    if 'mapping' not in components:
        components.mapping = tflib.Network('G_mapping', func_name=globals()[mapping_func], dlatent_broadcast=num_layers, **kwargs)

    lod_in = tflib.get_variable('lod', [], tflib.init_zeros(), trainable=False)
    dlatent_avg = tflib.get_variable('dlatent_avg', [dlatent_size], tflib.init_zeros(), trainable=False)

    dlatents = tf.cast(components.mapping.get_output_for(latents_in, labels_in, is_training=is_training, **kwargs), tf.float32)

    if dlatent_avg_beta is not None:
        batch_avg = tf.reduce_mean(dlatents[:, 0], axis=0)
        dlatent_avg.assign(tflib.lerp(batch_avg, dlatent_avg, dlatent_avg_beta))

    layer_idx = np.arange(num_layers)[np.newaxis, :, np.newaxis]
    if style_mixing_prob is not None:
        latents2 = tflib.random_normal(tf.shape(latents_in))
        dlatents2 = tf.cast(components.mapping.get_output_for(latents2, labels_in, is_training=is_training, **kwargs), tf.float32)
        cur_layers = num_layers - tf.cast(lod_in, tf.int32) * 2
        mixing_cutoff = tf.cond(tflib.random_uniform([], 0.0, 1.0) < style_mixing_prob,
                                lambda: tflib.random_uniform([], 1, cur_layers, dtype=tf.int32),
                                lambda: cur_layers)
        dlatents = tf.where(tf.broadcast_to(layer_idx < mixing_cutoff, tf.shape(dlatents)), dlatents, dlatents2)

    if truncation_psi is not None:
        layer_psi = np.ones(layer_idx.shape, dtype=np.float32) * truncation_psi
        if truncation_cutoff is not None:
            layer_psi = tf.where(layer_idx < truncation_cutoff, layer_psi, np.ones(layer_idx.shape, dtype=np.float32))
        dlatents = tflib.lerp(dlatent_avg, dlatents, layer_psi)

    if 'lod' in components.synthesis.vars:
        components.synthesis.vars['lod'].assign(lod_in)
    images_out = components.synthesis.get_output_for(dlatents, is_training=is_training, force_clean_graph=is_template_graph, **kwargs)
    images_out = tf.identity(images_out, name='images_out')
    return (images_out, dlatents) if return_dlatents else images_out


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
        mapping_nonlinearity='lrelu',   # Activation function.
        normalize_latents=True,         # Pixel-normalize Z (and the label embedding) first?
        dtype='float32',                # Data type of the activations.
        **_kwargs):                     # Other arguments are for other networks.

    # The activation's gain (sqrt(2) for lrelu) is applied after the bias.
    return mapping_network(latents_in, labels_in, latent_size, label_size, dlatent_size, dlatent_broadcast,
                           mapping_layers, mapping_fmaps, mapping_lrmul, act=mapping_nonlinearity, use_wscale=True,
                           normalize_latents=normalize_latents, gain_in_weight=False, dtype=dtype)


# ----------------------------------------------------------------------------
# Synthesis layers shared by the two StyleGAN2 synthesis networks.


def noise_variables(num_layers):
    """The stored noise inputs noise0..noise{num_layers-2}; layer i works at 2^((i+5)//2) pixels."""
    noise_vars = []
    for layer_idx in range(num_layers - 1):
        res = 2 ** ((layer_idx + 5) // 2)
        noise_vars.append(tflib.get_variable('noise%d' % layer_idx, [1, 1, res, res], tflib.init_normal(), trainable=False))
    return noise_vars


def style_layer(x, dlatents, noise_var, fmaps, kernel, up, randomize_noise, resample_kernel, fused_modconv, act, fmt):
    """Modulated conv -> + scaled noise -> bias and activation."""
    x = modulated_conv2d_layer(x, dlatents, fmaps=fmaps, kernel=kernel, up=up, resample_kernel=resample_kernel,
                               fused_modconv=fused_modconv and fmt == 'NCHW', fmt=fmt)
    h, w = (x.shape[2], x.shape[3]) if fmt == 'NCHW' else (x.shape[1], x.shape[2])
    if randomize_noise:
        noise_shape = [tf.shape(x)[0], 1, h, w] if fmt == 'NCHW' else [tf.shape(x)[0], h, w, 1]
        noise = tflib.random_normal(noise_shape, dtype=x.dtype)
    else:
        noise = tf.cast(tf.reshape(noise_var, [1, 1, h, w] if fmt == 'NCHW' else [1, h, w, 1]), x.dtype)
    noise_strength = tflib.get_variable('noise_strength', [], tflib.init_zeros())
    x += noise * tf.cast(noise_strength, x.dtype)
    return apply_bias_act(x, act=act, fmt=fmt)


def to_rgb_layer(x, dlatents, num_channels, fused_modconv, fmt):
    """1x1 modulated conv without demodulation, plus bias, linear."""
    x = modulated_conv2d_layer(x, dlatents, fmaps=num_channels, kernel=1, demodulate=False,
                               fused_modconv=fused_modconv and fmt == 'NCHW', fmt=fmt)
    return apply_bias_act(x, fmt=fmt)


def style_layers(dlatents_in, noise_vars, randomize_noise, resample_kernel, fused_modconv, act, fmt):
    """layer(x, layer_idx, fmaps, kernel, up=False): the synthesis layer driven by dlatents_in[:, layer_idx]."""
    def layer(x, layer_idx, fmaps, kernel, up=False):
        return style_layer(x, dlatents_in[:, layer_idx], noise_vars[layer_idx], fmaps, kernel, up, randomize_noise,
                           resample_kernel, fused_modconv, act, fmt)
    return layer


def early_layers(layer, nf1, dlatents_in, dtype, fmt):
    """The learned 4x4 input, repeated over the minibatch, and the first styled convolution."""
    with tflib.variable_scope('Const'):
        x = tflib.get_variable('const', [1, nf1, 4, 4], tflib.init_normal())
        x = tflib.nchw_to(tf.cast(x, dtype), fmt)
        x = tf.tile(x, [tf.shape(dlatents_in)[0], 1, 1, 1])
    with tflib.variable_scope('Conv'):
        return layer(x, 0, nf1, 3)


def double_conv_block(layer, x, res, fmaps):
    """The two styled convolutions of the block at 2^res x 2^res, the first one upsampling."""
    with tflib.variable_scope('Conv0_up'):
        x = layer(x, res * 2 - 5, fmaps, 3, up=True)
    with tflib.variable_scope('Conv1'):
        return layer(x, res * 2 - 4, fmaps, 3)


# ----------------------------------------------------------------------------
# StyleGAN2 synthesis network (configs E-F): orig, skip or resnet, no progressive growing.


def G_synthesis_stylegan2(
        dlatents_in,                    # Input: disentangled latents (W) [minibatch, num_layers, dlatent_size].
        dlatent_size=512,               # Dimensionality of W.
        num_channels=3,                 # Number of output color channels.
        resolution=1024,                # Output resolution.
        fmap_base=16 << 10,             # Overall multiplier for the number of feature maps.
        fmap_decay=1.0,                 # log2 feature map reduction when doubling the resolution.
        fmap_min=1,                     # Minimum number of feature maps in any layer.
        fmap_max=512,                   # Maximum number of feature maps in any layer.
        randomize_noise=True,           # True = fresh noise every call, False = the stored noise variables.
        architecture='skip',            # 'orig', 'skip' or 'resnet'.
        nonlinearity='lrelu',           # Activation function.
        dtype='float32',                # Data type of the activations.
        resample_kernel=[1, 3, 3, 1],   # FIR filter used when resampling.
        fused_modconv=True,             # Modulated convolution as one grouped convolution (GPU layout only).
        data_format=None,               # Layout to compute in: 'NCHW' (GPU), 'NHWC' (CPU); None = by device.
        **_kwargs):                     # Other arguments are for other networks.

    resolution_log2 = dnnlib.util.check_power_of_two(resolution, 'resolution')
    if architecture not in ('orig', 'skip', 'resnet'):
        raise ValueError(f"architecture must be 'orig', 'skip' or 'resnet', got {architecture!r}.")
    nf = nf_func(fmap_base, fmap_decay, fmap_min, fmap_max)
    fmt = compute_layout(data_format)
    num_layers = resolution_log2 * 2 - 2
    dlatents_in = tf.cast(tflib.set_input_shape(dlatents_in, [None, num_layers, dlatent_size], 'G_synthesis: dlatents_in'), dtype)
    noise_vars = noise_variables(num_layers)

    layer = style_layers(dlatents_in, noise_vars, randomize_noise, resample_kernel, fused_modconv, nonlinearity, fmt)

    def torgb(x, y, res):
        with tflib.variable_scope('ToRGB'):
            t = to_rgb_layer(x, dlatents_in[:, res * 2 - 3], num_channels, fused_modconv, fmt)
            return t if y is None else y + t

    y = None
    with tflib.variable_scope('4x4'):
        x = early_layers(layer, nf(1), dlatents_in, dtype, fmt)
        if architecture == 'skip':
            y = torgb(x, y, 2)

    for res in range(3, resolution_log2 + 1):
        with tflib.variable_scope('%dx%d' % (2 ** res, 2 ** res)):
            t = x
            x = double_conv_block(layer, x, res, nf(res - 1))
            if architecture == 'resnet':
                with tflib.variable_scope('Skip'):
                    t = conv2d_layer(t, fmaps=nf(res - 1), kernel=1, up=True, resample_kernel=resample_kernel, fmt=fmt)
                    x = (x + t) * (1 / np.sqrt(2))
            if architecture == 'skip':
                y = upsample_2d(y, k=resample_kernel, data_format=fmt)
            if architecture == 'skip' or res == resolution_log2:
                y = torgb(x, y, res)

    return tf.identity(tflib.to_nchw(y, fmt), name='images_out')


# ----------------------------------------------------------------------------
# StyleGAN synthesis network with the revised layers (configs B-D): progressive growing via `lod`.


def G_synthesis_stylegan_revised(
        dlatents_in,                    # Input: disentangled latents (W) [minibatch, num_layers, dlatent_size].
        dlatent_size=512,               # Dimensionality of W.
        num_channels=3,                 # Number of output color channels.
        resolution=1024,                # Output resolution.
        fmap_base=16 << 10,             # Overall multiplier for the number of feature maps.
        fmap_decay=1.0,                 # log2 feature map reduction when doubling the resolution.
        fmap_min=1,                     # Minimum number of feature maps in any layer.
        fmap_max=512,                   # Maximum number of feature maps in any layer.
        randomize_noise=True,           # True = fresh noise every call, False = the stored noise variables.
        nonlinearity='lrelu',           # Activation function.
        dtype='float32',                # Data type of the activations.
        resample_kernel=[1, 3, 3, 1],   # FIR filter used when resampling.
        fused_modconv=True,             # Modulated convolution as one grouped convolution (GPU layout only).
        structure='auto',               # 'fixed' = no growing; 'linear', 'recursive' or 'auto' = growing.
        min_lod=0,                      # Static int, lod >= min_lod in this call: skip the finer levels, which lod ignores.
        is_template_graph=False,        # True while the Network traces its template.
        force_clean_graph=False,        # Accepted for compatibility; the graph is the same either way.
        data_format=None,               # Layout to compute in: 'NCHW' (GPU), 'NHWC' (CPU); None = by device.
        **_kwargs):                     # Other arguments are for other networks.

    del is_template_graph, force_clean_graph
    resolution_log2 = dnnlib.util.check_power_of_two(resolution, 'resolution')
    nf = nf_func(fmap_base, fmap_decay, fmap_min, fmap_max)
    fmt = compute_layout(data_format)
    num_layers = resolution_log2 * 2 - 2
    dlatents_in = tf.cast(tflib.set_input_shape(dlatents_in, [None, num_layers, dlatent_size], 'G_synthesis: dlatents_in'), dtype)
    lod_in = tf.cast(tflib.get_variable('lod', [], tflib.init_zeros(), trainable=False), dtype)
    noise_vars = noise_variables(num_layers)

    layer = style_layers(dlatents_in, noise_vars, randomize_noise, resample_kernel, fused_modconv, nonlinearity, fmt)

    def block(x, res):
        with tflib.variable_scope('%dx%d' % (2 ** res, 2 ** res)):
            return double_conv_block(layer, x, res, nf(res - 1))

    def torgb(x, res):
        with tflib.variable_scope('ToRGB_lod%d' % (resolution_log2 - res)):
            return to_rgb_layer(x, dlatents_in[:, res * 2 - 3], num_channels, fused_modconv, fmt)

    with tflib.variable_scope('4x4'):
        x = early_layers(layer, nf(1), dlatents_in, dtype, fmt)
    images_out = generator_levels(x, block, torgb, resolution_log2, lod_in, min_lod, structure == 'fixed', fmt)
    return tf.identity(tflib.to_nchw(images_out, fmt), name='images_out')


# ----------------------------------------------------------------------------
# Discriminators.


def discriminator_epilogue(x, labels_in, nf, mbstd_group_size, mbstd_num_features, act, fmt):
    """4x4 layers shared by both discriminators: minibatch stddev, conv, dense, conditioned output."""
    with tflib.variable_scope('4x4'):
        if mbstd_group_size > 1:
            x = minibatch_stddev_layer(x, mbstd_group_size, mbstd_num_features, fmt=fmt)
        with tflib.variable_scope('Conv'):
            x = apply_bias_act(conv2d_layer(x, fmaps=nf(1), kernel=3, fmt=fmt), act=act, fmt=fmt)
        with tflib.variable_scope('Dense0'):
            x = apply_bias_act(dense_layer(x, fmaps=nf(0), fmt=fmt), act=act)

    # Projection conditioning ("Which Training Methods for GANs do actually Converge?").
    label_size = int(labels_in.shape[1])
    with tflib.variable_scope('Output'):
        x = apply_bias_act(dense_layer(x, fmaps=max(label_size, 1)))
        if label_size > 0:
            x = tf.reduce_sum(x * labels_in, axis=1, keepdims=True)
    return tf.identity(x, name='scores_out')


def D_stylegan2(
        images_in,                      # First input: images [minibatch, channel, height, width].
        labels_in,                      # Second input: labels [minibatch, label_size].
        num_channels=3,                 # Number of input color channels.
        resolution=1024,                # Input resolution.
        label_size=0,                   # Dimensionality of the labels, 0 = unconditional.
        fmap_base=16 << 10,             # Overall multiplier for the number of feature maps.
        fmap_decay=1.0,                 # log2 feature map reduction when doubling the resolution.
        fmap_min=1,                     # Minimum number of feature maps in any layer.
        fmap_max=512,                   # Maximum number of feature maps in any layer.
        architecture='resnet',          # 'orig', 'skip' or 'resnet'.
        nonlinearity='lrelu',           # Activation function.
        mbstd_group_size=4,             # Group size of the minibatch stddev layer, 0 = off.
        mbstd_num_features=1,           # Number of features of the minibatch stddev layer.
        dtype='float32',                # Data type of the activations.
        resample_kernel=[1, 3, 3, 1],   # FIR filter used when resampling.
        data_format=None,               # Layout to compute in: 'NCHW' (GPU), 'NHWC' (CPU); None = by device.
        **_kwargs):                     # Other arguments are for other networks.

    resolution_log2 = dnnlib.util.check_power_of_two(resolution, 'resolution')
    if architecture not in ('orig', 'skip', 'resnet'):
        raise ValueError(f"architecture must be 'orig', 'skip' or 'resnet', got {architecture!r}.")
    nf = nf_func(fmap_base, fmap_decay, fmap_min, fmap_max)
    fmt = compute_layout(data_format)
    act = nonlinearity
    images_in, labels_in = d_inputs(images_in, labels_in, num_channels, resolution, label_size, dtype, fmt)

    def fromrgb(x, y, res):
        with tflib.variable_scope('FromRGB'):
            t = apply_bias_act(conv2d_layer(y, fmaps=nf(res - 1), kernel=1, fmt=fmt), act=act, fmt=fmt)
            return t if x is None else x + t

    x = None
    y = images_in
    for res in range(resolution_log2, 2, -1):
        with tflib.variable_scope('%dx%d' % (2 ** res, 2 ** res)):
            if architecture == 'skip' or res == resolution_log2:
                x = fromrgb(x, y, res)
            t = x
            with tflib.variable_scope('Conv0'):
                x = apply_bias_act(conv2d_layer(x, fmaps=nf(res - 1), kernel=3, fmt=fmt), act=act, fmt=fmt)
            with tflib.variable_scope('Conv1_down'):
                x = conv2d_layer(x, fmaps=nf(res - 2), kernel=3, down=True, resample_kernel=resample_kernel, fmt=fmt)
                x = apply_bias_act(x, act=act, fmt=fmt)
            if architecture == 'resnet':
                with tflib.variable_scope('Skip'):
                    t = conv2d_layer(t, fmaps=nf(res - 2), kernel=1, down=True, resample_kernel=resample_kernel, fmt=fmt)
                    x = (x + t) * (1 / np.sqrt(2))
            if architecture == 'skip':
                y = downsample_2d(y, k=resample_kernel, data_format=fmt)

    if architecture == 'skip':
        with tflib.variable_scope('4x4'):
            x = fromrgb(x, y, 2)
    return discriminator_epilogue(x, labels_in, nf, mbstd_group_size, mbstd_num_features, act, fmt)


def D_stylegan(
        images_in,                      # First input: images [minibatch, channel, height, width].
        labels_in,                      # Second input: labels [minibatch, label_size].
        num_channels=3,                 # Number of input color channels.
        resolution=1024,                # Input resolution.
        label_size=0,                   # Dimensionality of the labels, 0 = unconditional.
        fmap_base=16 << 10,             # Overall multiplier for the number of feature maps.
        fmap_decay=1.0,                 # log2 feature map reduction when doubling the resolution.
        fmap_min=1,                     # Minimum number of feature maps in any layer.
        fmap_max=512,                   # Maximum number of feature maps in any layer.
        nonlinearity='lrelu',           # Activation function.
        mbstd_group_size=4,             # Group size of the minibatch stddev layer, 0 = off.
        mbstd_num_features=1,           # Number of features of the minibatch stddev layer.
        dtype='float32',                # Data type of the activations.
        resample_kernel=[1, 3, 3, 1],   # FIR filter used when resampling.
        structure='auto',               # 'fixed' = no growing; 'linear', 'recursive' or 'auto' = growing.
        min_lod=0,                      # Static int, lod >= min_lod in this call: skip the finer levels, which lod ignores.
        is_template_graph=False,        # True while the Network traces its template.
        data_format=None,               # Layout to compute in: 'NCHW' (GPU), 'NHWC' (CPU); None = by device.
        **_kwargs):                     # Other arguments are for other networks.

    del is_template_graph
    resolution_log2 = dnnlib.util.check_power_of_two(resolution, 'resolution')
    nf = nf_func(fmap_base, fmap_decay, fmap_min, fmap_max)
    fmt = compute_layout(data_format)
    act = nonlinearity
    images_in, labels_in = d_inputs(images_in, labels_in, num_channels, resolution, label_size, dtype, fmt)
    lod_in = tf.cast(tflib.get_variable('lod', [], tflib.init_zeros(), trainable=False), dtype)

    def fromrgb(x, res):
        with tflib.variable_scope('FromRGB_lod%d' % (resolution_log2 - res)):
            return apply_bias_act(conv2d_layer(x, fmaps=nf(res - 1), kernel=1, fmt=fmt), act=act, fmt=fmt)

    def block(x, res):
        with tflib.variable_scope('%dx%d' % (2 ** res, 2 ** res)):
            with tflib.variable_scope('Conv0'):
                x = apply_bias_act(conv2d_layer(x, fmaps=nf(res - 1), kernel=3, fmt=fmt), act=act, fmt=fmt)
            with tflib.variable_scope('Conv1_down'):
                x = conv2d_layer(x, fmaps=nf(res - 2), kernel=3, down=True, resample_kernel=resample_kernel, fmt=fmt)
                return apply_bias_act(x, act=act, fmt=fmt)

    x = discriminator_levels(images_in, block, fromrgb, resolution_log2, lod_in, min_lod, structure == 'fixed', fmt)
    return discriminator_epilogue(x, labels_in, nf, mbstd_group_size, mbstd_num_features, act, fmt)
