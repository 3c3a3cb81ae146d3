"""upfirdn_2d: upsample (insert zeros), FIR filter, downsample, and the resampling helpers built on it.

NVIDIA's StyleGAN2 computes upfirdn_2d in a custom CUDA kernel. This module holds the reference
implementation in plain TensorFlow (differentiable to any order), the compiled path (impl='cpu'/'cuda':
the UpFirDn2D op of upfirdn_2d.cc/.cu, whose gradient is the same op again) and the helpers the
networks use, each for NCHW (GPU) and NHWC (CPU) tensors.

Semantics of upfirdn_2d, per image and channel: insert up-1 zeros after every input sample, pad the
result (a negative pad crops), convolve with the kernel (a true convolution: the kernel is flipped),
keep every down-th output sample. Output size: (in * up + pad0 + pad1 - kernel) // down + 1.
"""

import numpy as np
import tensorflow as tf

from . import device_scope, library, select_impl

def upfirdn_2d(x, k, upx=1, upy=1, downx=1, downy=1, padx0=0, padx1=0, pady0=0, pady1=0, impl=None):
    """Pad, upsample, FIR-filter and downsample a batch of 2D images.

    Args:
        x: Input tensor [majorDim, inH, inW, minorDim] (NCHW callers pass [N*C, H, W, 1]).
        k: 2D FIR kernel [firH, firW] (numpy).
        upx, upy: Integer upsampling factors.
        downx, downy: Integer downsampling factors.
        padx0, padx1, pady0, pady1: Padding of the upsampled image before filtering (negative crops).
        impl: None = fastest available, 'ref' = plain TensorFlow, 'cpu'/'cuda' = compiled kernels.
    Returns:
        Tensor [majorDim, outH, outW, minorDim].
    """
    k = np.asarray(k, dtype=np.float32)
    if k.ndim != 2:
        raise ValueError(f'upfirdn_2d: the kernel must be 2D, got shape {list(k.shape)}.')
    for name, value in dict(upx=upx, upy=upy, downx=downx, downy=downy).items():
        if int(value) != value or value < 1:
            raise ValueError(f'upfirdn_2d: {name} must be an integer >= 1, got {value!r}.')
    x = tf.convert_to_tensor(x)
    args = (k, int(upx), int(upy), int(downx), int(downy), int(padx0), int(padx1), int(pady0), int(pady1))
    in_h, in_w = x.shape[1], x.shape[2]
    if in_h is None or in_w is None:
        raise ValueError('upfirdn_2d: the image height and width must be known when the graph is built.')
    out_h, out_w = _out_size(in_h, k.shape[0], upy, downy, pady0, pady1), _out_size(in_w, k.shape[1], upx, downx, padx0, padx1)
    if out_h < 1 or out_w < 1:
        raise ValueError(f'upfirdn_2d: the output would be empty ({out_h}x{out_w}): input {in_h}x{in_w}, kernel '
                         f'{k.shape[0]}x{k.shape[1]}, up {upx},{upy}, down {downx},{downy}, pads x {padx0},{padx1} y {pady0},{pady1}.')
    impl = select_impl('upfirdn_2d', impl, x.dtype)
    if impl == 'ref':
        return _upfirdn_nhwc(x, *args)
    return _upfirdn_compiled(x, *args, impl=impl)


def _out_size(size, kernel, up, down, pad0, pad1):
    return (size * up + pad0 + pad1 - kernel) // down + 1


def _upfirdn_compiled(x, k, upx, upy, downx, downy, padx0, padx1, pady0, pady1, impl):
    """The UpFirDn2D op; its gradient is the op with the kernel flipped, up and down swapped and pads that
    map the output grid back onto the input's; linear, so that is all orders."""
    in_h, in_w = x.shape[1], x.shape[2]
    kernel_h, kernel_w = k.shape
    out_h = _out_size(in_h, kernel_h, upy, downy, pady0, pady1)
    out_w = _out_size(in_w, kernel_w, upx, downx, padx0, padx1)
    grad_args = (k[::-1, ::-1], downx, downy, upx, upy,
                 kernel_w - padx0 - 1, in_w * upx - out_w * downx + padx0 - upx + 1,
                 kernel_h - pady0 - 1, in_h * upy - out_h * downy + pady0 - upy + 1)
    lib = library(impl)

    @tf.custom_gradient
    def func(x):
        with device_scope(impl):
            y = lib.up_fir_dn2d(x=x, k=tf.constant(k, x.dtype), upx=upx, upy=upy, downx=downx, downy=downy,
                                padx0=padx0, padx1=padx1, pady0=pady0, pady1=pady1)
        # The incoming gradient has y's shape, even when an op upstream (e.g. an imported graph) left it unknown.
        return y, lambda dy: _upfirdn_compiled(tf.ensure_shape(dy, y.shape), *grad_args, impl=impl)
    return func(x)


def _upfirdn_nhwc(x, k, upx, upy, downx, downy, padx0, padx1, pady0, pady1):
    """The reference computation on an NHWC tensor, the channels filtered independently."""
    in_h, in_w = x.shape[1], x.shape[2]

    # Insert zeros after each sample: columns, then rows, in 4-D tensors (TF Lite's builtin Pad has at most 5 dims).
    if upx > 1 or upy > 1:
        channels = tf.shape(x)[3]
        x = tf.reshape(x, [-1, in_w, 1, channels])
        x = tf.pad(x, [[0, 0], [0, 0], [0, upx - 1], [0, 0]])
        x = tf.reshape(x, [-1, 1, in_w * upx, channels])
        x = tf.pad(x, [[0, 0], [0, upy - 1], [0, 0], [0, 0]])
        x = tf.reshape(x, [-1, in_h * upy, in_w * upx, channels])

    # Pad with zeros, or crop where the pad is negative.
    x = tf.pad(x, [[0, 0], [max(pady0, 0), max(pady1, 0)], [max(padx0, 0), max(padx1, 0)], [0, 0]])
    x = x[:, max(-pady0, 0): x.shape[1] - max(-pady1, 0), max(-padx0, 0): x.shape[2] - max(-padx1, 0), :]

    # True convolution = correlation with the flipped kernel; the strides downsample.
    return _depthwise_correlate(x, k[::-1, ::-1], downy, downx)


def _depthwise_correlate(x, k, stride_y, stride_x):
    """Correlate every channel of NHWC x with the 2D kernel k (VALID), taking every stride-th output."""
    channels = x.shape[3]
    kv, kh = _separate(k)
    if channels is None:
        # The channel count is only known at run time (fused modulated convolutions): filter the
        # channels as separate one-channel images.
        n, h, w = tf.shape(x)[0], x.shape[1], x.shape[2]
        y = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, h, w, 1])
        y = _depthwise_correlate(y, k, stride_y, stride_x)
        y = tf.reshape(y, [n, -1, y.shape[1], y.shape[2]])
        return tf.transpose(y, [0, 2, 3, 1])
    if kv is not None:
        # Separable kernel: a vertical then a horizontal pass, kh + kw taps instead of kh * kw.
        x = _depthwise(x, kv[:, np.newaxis], stride_y, 1)
        return _depthwise(x, kh[np.newaxis, :], 1, stride_x)
    return _depthwise(x, k, stride_y, stride_x)


def _depthwise(x, k, stride_y, stride_x):
    channels = x.shape[3]
    w = tf.constant(np.tile(k[:, :, np.newaxis, np.newaxis], [1, 1, channels, 1]), dtype=x.dtype)
    if stride_y == stride_x:
        return tf.nn.depthwise_conv2d(x, w, strides=[1, stride_y, stride_x, 1], padding='VALID')
    # TF's depthwise convolution takes equal strides only: filter everything, then subsample.
    return tf.nn.depthwise_conv2d(x, w, strides=[1, 1, 1, 1], padding='VALID')[:, ::stride_y, ::stride_x]


def _separate(k):
    """(column, row) vectors whose outer product is k, or (None, None) if k is not separable."""
    u, s, vt = np.linalg.svd(k.astype(np.float64))
    if len(s) > 1 and s[1:].max() > 1e-6 * s[0]:
        return None, None
    scale = np.sqrt(s[0])
    return (u[:, 0] * scale).astype(np.float32), (vt[0] * scale).astype(np.float32)


# ----------------------------------------------------------------------------
# Helpers used by the networks.


def _setup_kernel(k):
    """1D kernels become their outer product; the kernel is normalized to sum 1."""
    k = np.asarray(k, dtype=np.float32)
    if k.ndim == 1:
        k = np.outer(k, k)
    k /= np.sum(k)
    if k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise ValueError(f'FIR kernel must be 1D or square 2D, got shape {list(k.shape)}.')
    return k


def _check_format(data_format):
    if data_format not in ('NCHW', 'NHWC'):
        raise ValueError(f"data_format must be 'NCHW' or 'NHWC', got {data_format!r}.")


def _simple_upfirdn_2d(x, k, up=1, down=1, pad0=0, pad1=0, data_format='NCHW', impl=None):
    """upfirdn_2d with the same factor and pads on both axes, for NCHW or NHWC images."""
    _check_format(data_format)
    x = tf.convert_to_tensor(x)
    if data_format == 'NHWC':
        return upfirdn_2d(x, k, up, up, down, down, pad0, pad1, pad0, pad1, impl=impl)
    # NCHW: every channel is an independent image.
    h, w = x.shape[2], x.shape[3]
    y = upfirdn_2d(tf.reshape(x, [-1, h, w, 1]), k, up, up, down, down, pad0, pad1, pad0, pad1, impl=impl)
    return tf.reshape(y, [-1, tf.shape(x)[1], y.shape[1], y.shape[2]])


def filter_2d(x, k, gain=1, data_format='NCHW', impl=None):
    """FIR-filter a batch of images with k, keeping their size."""
    k = _setup_kernel(k) * gain
    p = k.shape[0] - 1
    return _simple_upfirdn_2d(x, k, pad0=(p + 1) // 2, pad1=p // 2, data_format=data_format, impl=impl)


def upsample_2d(x, k=None, factor=2, gain=1, data_format='NCHW', impl=None):
    """Upsample a batch of images by `factor` with FIR filter k (default [1] * factor = nearest neighbour)."""
    if k is None:
        k = [1] * factor
    k = _setup_kernel(k) * (gain * factor ** 2)
    p = k.shape[0] - factor
    return _simple_upfirdn_2d(x, k, up=factor, pad0=(p + 1) // 2 + factor - 1, pad1=p // 2, data_format=data_format, impl=impl)


def downsample_2d(x, k=None, factor=2, gain=1, data_format='NCHW', impl=None):
    """Downsample a batch of images by `factor` with FIR filter k (default [1] * factor = box filter)."""
    if k is None:
        k = [1] * factor
    k = _setup_kernel(k) * gain
    p = k.shape[0] - factor
    return _simple_upfirdn_2d(x, k, down=factor, pad0=(p + 1) // 2, pad1=p // 2, data_format=data_format, impl=impl)


def _dim(x, axis):
    """Static size of an axis where known, else its run-time size."""
    return x.shape[axis] if x.shape[axis] is not None else tf.shape(x)[axis]


def upsample_conv_2d(x, w, k=None, factor=2, gain=1, data_format='NCHW', impl=None):
    """Upsample by `factor` and convolve with w in one step (padding once, as NVIDIA's fused op).

    A stride-`factor` transposed convolution with the flipped weights, then FIR filtering.
    x has num_groups * inC channels for a grouped convolution with w [kh, kw, inC, num_groups * outC].
    """
    _check_format(data_format)
    x = tf.convert_to_tensor(x)
    w = tf.convert_to_tensor(w)
    conv_h, conv_w = w.shape[0], w.shape[1]
    in_c = w.shape[2]
    if conv_h != conv_w:
        raise ValueError(f'upsample_conv_2d: the weight must be square, got {w.shape.as_list()}.')
    if k is None:
        k = [1] * factor
    k = _setup_kernel(k) * (gain * factor ** 2)
    p = (k.shape[0] - factor) - (conv_w - 1)

    c_axis, h_axis, w_axis = (1, 2, 3) if data_format == 'NCHW' else (3, 1, 2)
    num_groups = _dim(x, c_axis) // in_c
    out_c = _dim(w, 3)
    out_h = (x.shape[h_axis] - 1) * factor + conv_h
    out_w = (x.shape[w_axis] - 1) * factor + conv_w
    if data_format == 'NCHW':
        strides, output_shape = [1, 1, factor, factor], [tf.shape(x)[0], out_c, out_h, out_w]
    else:
        strides, output_shape = [1, factor, factor, 1], [tf.shape(x)[0], out_h, out_w, out_c]

    # conv2d_transpose wants [kh, kw, out, in]; per group, swap in and out and flip spatially.
    w = tf.reshape(w, [conv_h, conv_w, in_c, num_groups, -1])
    w = tf.transpose(tf.reverse(w, axis=[0, 1]), [0, 1, 4, 3, 2])  # Not w[::-1, ::-1]: a strided slice is 10x slower.
    w = tf.reshape(w, [conv_h, conv_w, -1, num_groups * in_c])
    x = tf.nn.conv2d_transpose(x, w, output_shape=tf.stack(output_shape), strides=strides, padding='VALID',
                               data_format=data_format)
    x = _set_shape_except_channels(x, out_h, out_w, data_format)
    return _simple_upfirdn_2d(x, k, pad0=(p + 1) // 2 + factor - 1, pad1=p // 2 + 1, data_format=data_format, impl=impl)


def _set_shape_except_channels(x, h, w, data_format):
    channels = x.shape[1] if data_format == 'NCHW' else x.shape[3]
    x.set_shape([None, channels, h, w] if data_format == 'NCHW' else [None, h, w, channels])
    return x


def conv_downsample_2d(x, w, k=None, factor=2, gain=1, data_format='NCHW', impl=None):
    """FIR-filter, then convolve with w at stride `factor`, in one step (padding once).

    x has num_groups * inC channels for a grouped convolution with w [kh, kw, inC, num_groups * outC].
    """
    _check_format(data_format)
    w = tf.convert_to_tensor(w)
    conv_h, conv_w = w.shape[0], w.shape[1]
    if conv_h != conv_w:
        raise ValueError(f'conv_downsample_2d: the weight must be square, got {w.shape.as_list()}.')
    if k is None:
        k = [1] * factor
    k = _setup_kernel(k) * gain
    p = (k.shape[0] - factor) + (conv_w - 1)
    strides = [1, 1, factor, factor] if data_format == 'NCHW' else [1, factor, factor, 1]
    x = _simple_upfirdn_2d(x, k, pad0=(p + 1) // 2, pad1=p // 2, data_format=data_format, impl=impl)
    return tf.nn.conv2d(x, w, strides=strides, padding='VALID', data_format=data_format)
