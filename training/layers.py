"""Layers and building blocks shared by the ProGAN, StyleGAN and StyleGAN2 networks.

Each layer creates its variables under the caller's variable scope, with the names, shapes and initializers of
NVIDIA's networks, so the model modules that call them keep NVIDIA's variable lists. `fmt` is the layout the
activations are in ('NCHW' or 'NHWC'); the layers compute in it, and results do not depend on it.
"""

import numpy as np
import tensorflow as tf

import dnnlib.tflib as tflib
from dnnlib.tflib.ops.fused_bias_act import fused_bias_act
from dnnlib.tflib.ops.upfirdn_2d import (upsample_2d, downsample_2d, upsample_conv_2d, conv_downsample_2d,
                                         filter_2d)

# ----------------------------------------------------------------------------
# Layout and sizes.


def channel_axis(fmt):
    return 1 if fmt == 'NCHW' else 3


def compute_layout(data_format):
    """The layout the layers compute in: as asked, or by device (NCHW on GPUs, NHWC on CPUs)."""
    if data_format not in (None, 'NCHW', 'NHWC'):
        raise ValueError(f"data_format must be 'NCHW', 'NHWC' or None (by device), got {data_format!r}.")
    return data_format or tflib.default_data_format()


def nf_func(fmap_base, fmap_decay, fmap_min, fmap_max):
    """Number of feature maps at a stage (stage r-1 is used by the block at 2^r x 2^r)."""
    return lambda stage: int(np.clip(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_min, fmap_max))


# ----------------------------------------------------------------------------
# Dense and convolution layers with equalized learning rate.


def get_weight(shape, gain=1, use_wscale=True, lrmul=1, weight_var='weight', fan_in=None):
    """Weight with equalized learning rate: stored N(0, 1/lrmul^2), used times He's constant * lrmul."""
    if fan_in is None:
        fan_in = np.prod(shape[:-1])  # [kernel, kernel, fmaps_in, fmaps_out] or [in, out]
    he_std = gain / np.sqrt(fan_in)
    if use_wscale:
        init_std, runtime_coef = 1.0 / lrmul, he_std * lrmul
    else:
        init_std, runtime_coef = he_std / lrmul, lrmul
    return tflib.get_variable(weight_var, shape, tflib.init_normal(init_std)) * runtime_coef


def dense_layer(x, fmaps, gain=1, use_wscale=True, lrmul=1, weight_var='weight', fmt='NCHW'):
    if len(x.shape) > 2:
        # Flatten in NCHW order, the order the original's dense weights expect.
        x = tflib.to_nchw(x, fmt) if len(x.shape) == 4 else x
        x = tf.reshape(x, [-1, int(np.prod(x.shape[1:]))])
    w = get_weight([int(x.shape[1]), fmaps], gain=gain, use_wscale=use_wscale, lrmul=lrmul, weight_var=weight_var)
    return tf.matmul(x, tf.cast(w, x.dtype))


def conv2d_layer(x, fmaps, kernel, up=False, down=False, resample_kernel=None, gain=1, use_wscale=True, lrmul=1,
                 weight_var='weight', fmt='NCHW'):
    assert not (up and down)
    assert kernel >= 1 and kernel % 2 == 1
    w = get_weight([kernel, kernel, int(x.shape[channel_axis(fmt)]), fmaps], gain=gain, use_wscale=use_wscale,
                   lrmul=lrmul, weight_var=weight_var)
    return resample_conv2d(x, tf.cast(w, x.dtype), up, down, resample_kernel, fmt)


def resample_conv2d(x, w, up, down, resample_kernel, fmt):
    """Convolution with the weight w [k, k, in, out]: plain, or with FIR upsampling before / downsampling after."""
    if up:
        return upsample_conv_2d(x, w, k=resample_kernel, data_format=fmt)
    if down:
        return conv_downsample_2d(x, w, k=resample_kernel, data_format=fmt)
    return tf.nn.conv2d(x, w, strides=1, padding='SAME', data_format=fmt)


def upscale2d_conv2d(x, fmaps, kernel, fused_scale=True, gain=np.sqrt(2), use_wscale=True, weight_in_out=True,
                     fmt='NCHW'):
    """Nearest-neighbour upsampling by 2 and a convolution, in the two forms of ProGAN's and StyleGAN's originals.

    fused_scale: the originals' transposed convolution, whose 4x4 kernel is the sum of the four shifted copies of
    the weight, not flipped; it equals the upsampling and a convolution with the weight flipped spatially, so the
    two forms give different images for the same weights. 'auto' (StyleGAN's): fused for outputs from 128x128 on.
    weight_in_out: the weight is stored [kernel, kernel, fmaps_in, fmaps_out] (StyleGAN, and NVlabs/stylegan's copy
    of ProGAN), else [kernel, kernel, fmaps_out, fmaps_in], the filter layout of ProGAN's transposed convolution.
    Its fan-in is kernel * kernel * fmaps_in either way.
    """
    assert kernel >= 1 and kernel % 2 == 1
    if fused_scale == 'auto':
        fused_scale = int(x.shape[2 if fmt == 'NCHW' else 1]) * 2 >= 128
    in_fmaps = int(x.shape[channel_axis(fmt)])
    shape = [kernel, kernel, in_fmaps, fmaps] if weight_in_out else [kernel, kernel, fmaps, in_fmaps]
    w = get_weight(shape, gain=gain, use_wscale=use_wscale, fan_in=kernel * kernel * in_fmaps)
    if not weight_in_out:
        w = tf.transpose(w, [0, 1, 3, 2])  # As an ordinary convolution weight [k, k, in, out].
    if fused_scale:
        w = tf.reverse(w, axis=[0, 1])
    return upsample_conv_2d(x, tf.cast(w, x.dtype), data_format=fmt)


def apply_bias_act(x, act='linear', alpha=None, gain=None, lrmul=1, bias_var='bias', fmt='NCHW'):
    axis = channel_axis(fmt) if len(x.shape) == 4 else 1
    b = tflib.get_variable(bias_var, [int(x.shape[axis])], tflib.init_zeros()) * lrmul
    return fused_bias_act(x, b=tf.cast(b, x.dtype), axis=axis, act=act, alpha=alpha, gain=gain)


# ----------------------------------------------------------------------------
# Layers without variables.


def blur2d(x, f=[1, 2, 1], fmt='NCHW'):
    """StyleGAN's blur: correlation with the normalized filter (outer product if 1D), zero padded to keep the size.

    filter_2d convolves, so it gets the filter flipped; its padding is the original's for odd filter sizes only.
    """
    f = np.asarray(f, dtype=np.float32)
    if f.shape[0] % 2 == 0:
        raise ValueError(f'blur_filter must have an odd size, got {f.tolist()}.')
    return filter_2d(x, np.flip(f), data_format=fmt)


def pixel_norm(x, epsilon=1e-8, fmt='NCHW'):
    """Each feature vector (over the channels, per pixel or per sample) scaled to unit mean square."""
    axis = channel_axis(fmt) if len(x.shape) == 4 else 1
    return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=axis, keepdims=True) + epsilon)


def minibatch_stddev_layer(x, group_size=4, num_new_features=1, fmt='NCHW'):
    """Append the average standard deviation over groups of samples as extra feature maps.

    Groups are strided: sample i belongs to group i mod (N / group_size), as in the original.
    """
    group_size = tf.minimum(group_size, tf.shape(x)[0])
    y = tflib.to_nchw(x, fmt)
    _, c, h, w = y.shape.as_list()
    n = num_new_features
    y = tf.reshape(y, [group_size, -1, n, c // n, h, w])  # [GMncHW]
    y = tf.cast(y, tf.float32)
    y -= tf.reduce_mean(y, axis=0, keepdims=True)
    y = tf.sqrt(tf.reduce_mean(tf.square(y), axis=0) + 1e-8)  # [MncHW]
    y = tf.reduce_mean(y, axis=[2, 3, 4])  # [Mn]
    y = tf.cast(y, x.dtype)
    if fmt == 'NCHW':
        y = tf.tile(y[:, :, np.newaxis, np.newaxis], [group_size, 1, h, w])
    else:
        y = tf.tile(y[:, np.newaxis, np.newaxis, :], [group_size, h, w, 1])
    return tf.concat([x, y], axis=channel_axis(fmt))


# ----------------------------------------------------------------------------
# Progressive growing: the levels of detail (lod) of the generators and discriminators.


def check_structure(structure, structures):
    """structure: the original's graph structure argument; here they all give the same results."""
    if structure not in structures:
        raise ValueError(f'structure must be one of {", ".join(map(str, structures))}, got {structure!r}.')


def generator_levels(x, block, torgb, resolution_log2, lod_in, min_lod, fixed, fmt):
    """The image of a progressive generator, from the 4x4 features x.

    NVIDIA's 'linear' structure: each level's image replaces the nearest-upsampled coarser ones with weight
    1 - clip(lod - its lod). At lod >= min_lod (a static int) the levels finer than resolution / 2**min_lod have weight
    0: like NVIDIA's 'recursive' structure they are not built, and the finest image built is upsampled to full size;
    the same images. fixed: no growing, the finest level's image. block(x, res) and torgb(x, res) build one level's
    layers; they are called in the original's order, which is the order its pickles list the variables in.
    """
    if fixed:
        for res in range(3, resolution_log2 + 1):
            x = block(x, res)
        return torgb(x, resolution_log2)
    images = torgb(x, 2)
    for res in range(3, resolution_log2 - min_lod + 1):
        x = block(x, res)
        images = tflib.lerp_clip(torgb(x, res), upsample_2d(images, data_format=fmt), lod_in - (resolution_log2 - res))
    return upsample_2d(images, factor=2 ** min_lod, data_format=fmt) if min_lod > 0 else images


def discriminator_levels(images, block, fromrgb, resolution_log2, lod_in, min_lod, fixed, fmt):
    """The 4x4 features of a progressive discriminator, the mirror of generator_levels: each level's features give
    way to those of the box-downsampled image with weight clip(lod - its lod); the levels finer than
    resolution / 2**min_lod are not built, their input is downsampled straight to the finest level built."""
    if fixed:
        x = fromrgb(images, resolution_log2)
        for res in range(resolution_log2, 2, -1):
            x = block(x, res)
        return x
    top = resolution_log2 - min_lod
    if min_lod > 0:
        images = downsample_2d(images, factor=2 ** min_lod, data_format=fmt)
    x = fromrgb(images, top)
    for res in range(top, 2, -1):
        x = block(x, res)
        images = downsample_2d(images, data_format=fmt)  # Default kernel: 2x2 box.
        x = tflib.lerp_clip(x, fromrgb(images, res - 1), lod_in - (resolution_log2 - res))
    return x


# ----------------------------------------------------------------------------
# Pieces of the style-based generators (StyleGAN, StyleGAN2) and their discriminators.


def static_off(value, is_off):
    """None if value is a number for which is_off holds (a tensor is never known to be off), else value."""
    return None if value is not None and not tflib.is_tf_expression(value) and is_off(value) else value


def mapping_network(latents_in, labels_in, latent_size, label_size, dlatent_size, dlatent_broadcast, mapping_layers,
                    mapping_fmaps, mapping_lrmul, act, use_wscale, normalize_latents, gain_in_weight, dtype):
    """The mapping network Z (+ labels) -> W of both style-based generators.

    gain_in_weight: StyleGAN's layers fold the activation's gain sqrt(2) into the weight; StyleGAN2's apply it after
    the bias (fused_bias_act's default), so there it scales the bias too.
    """
    latents_in = tf.cast(tflib.set_input_shape(latents_in, [None, latent_size], 'G_mapping: latents_in'), dtype)
    labels_in = tf.cast(tflib.set_input_shape(labels_in, [None, label_size], 'G_mapping: labels_in'), dtype)
    x = latents_in

    if label_size:
        with tflib.variable_scope('LabelConcat'):
            w = tflib.get_variable('weight', [label_size, latent_size], tflib.init_normal())  # Used as stored.
            x = tf.concat([x, tf.matmul(labels_in, tf.cast(w, dtype))], axis=1)

    if normalize_latents:
        x = pixel_norm(x)

    for layer_idx in range(mapping_layers):
        with tflib.variable_scope('Dense%d' % layer_idx):
            fmaps = dlatent_size if layer_idx == mapping_layers - 1 else mapping_fmaps
            x = dense_layer(x, fmaps=fmaps, gain=np.sqrt(2) if gain_in_weight else 1, use_wscale=use_wscale,
                            lrmul=mapping_lrmul)
            x = apply_bias_act(x, act=act, gain=1 if gain_in_weight else None, lrmul=mapping_lrmul)

    if dlatent_broadcast is not None:
        x = tf.tile(x[:, np.newaxis], [1, dlatent_broadcast, 1])
    return tf.identity(x, name='dlatents_out')


def d_inputs(images_in, labels_in, num_channels, resolution, label_size, dtype, fmt):
    """A discriminator's images (NCHW, converted to fmt) and labels, with their shapes checked."""
    images_in = tflib.set_input_shape(images_in, [None, num_channels, resolution, resolution], 'D: images_in')
    labels_in = tflib.set_input_shape(labels_in, [None, label_size], 'D: labels_in')
    return tflib.nchw_to(tf.cast(images_in, dtype), fmt), tf.cast(labels_in, dtype)


def noise_variables(synthesis):
    """The stored noise maps of a StyleGAN or StyleGAN2 synthesis network, 'noise0', 'noise1', ... in layer order
    (none for a network without noise inputs)."""
    noise_vars = []
    while 'noise%d' % len(noise_vars) in synthesis.vars:
        noise_vars.append(synthesis.vars['noise%d' % len(noise_vars)])
    return noise_vars
