"""fused_bias_act and upfirdn_2d (and the resampling helpers) against direct numpy computations,
and their first and second derivatives against finite differences."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from dnnlib.tflib.ops.fused_bias_act import fused_bias_act
from dnnlib.tflib.ops.upfirdn_2d import (upfirdn_2d, filter_2d, upsample_2d, downsample_2d, upsample_conv_2d,
                                         conv_downsample_2d)
from numpy_ops import NP_ACTS, np_upfirdn

# ----------------------------------------------------------------------------
# numpy references, written from the definitions.


def np_correlate(x, w, stride=1):
    """x [N, H, W, Cin], w [kh, kw, Cin, Cout], VALID cross-correlation (what conv2d computes)."""
    kh, kw = w.shape[:2]
    oh, ow = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    out = np.zeros([x.shape[0], oh, ow, w.shape[3]])
    for i in range(kh):
        for j in range(kw):
            out += np.einsum('nhwc,co->nhwo', x[:, i:i + oh, j:j + ow], w[i, j])
    return out[:, ::stride, ::stride]


def np_grouped(fn, x, w, groups):
    """Apply fn(x_g, w_g) per group: x channels and w's output channels split into `groups` blocks."""
    xs = np.split(x, groups, axis=3)
    ws = np.split(w, groups, axis=3)
    return np.concatenate([fn(xg, wg) for xg, wg in zip(xs, ws)], axis=3)


def np_fir_kernel(k, scale):
    k = np.asarray(k, np.float64)
    k = np.outer(k, k) if k.ndim == 1 else k
    return k / k.sum() * scale


def np_upsample_conv(x, w, k, factor=2):
    """Transposed conv: zero-insert by factor, pad kernel-1 on both sides, correlate; then FIR (x factor^2)."""
    n, h, wd, c = x.shape
    kh = w.shape[0]
    z = np.zeros([n, (h - 1) * factor + 1, (wd - 1) * factor + 1, c])
    z[:, ::factor, ::factor] = x
    z = np.pad(z, [(0, 0), (kh - 1, kh - 1), (kh - 1, kh - 1), (0, 0)])
    y = np_correlate(z, w)
    f = np_fir_kernel(k, factor ** 2)
    p = (f.shape[0] - factor) - (kh - 1)
    pad0, pad1 = (p + 1) // 2 + factor - 1, p // 2 + 1
    return np_upfirdn(y, f, 1, 1, 1, 1, pad0, pad1, pad0, pad1)


def np_conv_downsample(x, w, k, factor=2):
    kh = w.shape[0]
    f = np_fir_kernel(k, 1)
    p = (f.shape[0] - factor) + (kh - 1)
    y = np_upfirdn(x, f, 1, 1, 1, 1, (p + 1) // 2, p // 2, (p + 1) // 2, p // 2)
    return np_correlate(y, w, stride=factor)


def to_format(x_nhwc, data_format):
    return x_nhwc if data_format == 'NHWC' else x_nhwc.transpose(0, 3, 1, 2)


def from_format(x, data_format):
    return x if data_format == 'NHWC' else x.transpose(0, 2, 3, 1)


def close(got, expected, tol=1e-4):
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * max(1.0, np.abs(expected).max()))


# ----------------------------------------------------------------------------
# upfirdn_2d.

RND = np.random.RandomState(123)
KERNELS = {
    'box2': np.ones([2, 2]),
    'fir4': np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0,
    'rand3': RND.rand(3, 3),               # Odd, not separable.
    'rand5x2': RND.rand(5, 2),             # Odd x even, not square.
    'one': np.ones([1, 1]),
    'sep6': np.outer(RND.rand(6), RND.rand(6)),
}


@pytest.mark.parametrize('kname', sorted(KERNELS))
@pytest.mark.parametrize('up,down', [((1, 1), (1, 1)), ((2, 2), (1, 1)), ((1, 1), (2, 2)), ((4, 1), (1, 2)),
                                     ((1, 4), (4, 1)), ((2, 2), (2, 2))])
def test_upfirdn_2d_matches_numpy(kname, up, down):
    k = KERNELS[kname]
    x = RND.randn(2, 7, 6, 3)
    for pads in [(0, 0, 0, 0), (2, 1, 1, 3), (-1, 2, 3, -2)]:
        expected = np_upfirdn(x, k, up[0], up[1], down[0], down[1], *pads)
        got = upfirdn_2d(tf.constant(x, tf.float32), k, up[0], up[1], down[0], down[1], *pads).numpy()
        assert got.shape == expected.shape
        close(got, expected)


@pytest.mark.parametrize('shape', [(1, 1, 1, 1), (1, 5, 1, 2), (3, 1, 4, 1), (1, 8, 8, 1)])
def test_upfirdn_2d_degenerate_sizes(shape):
    x = RND.randn(*shape)
    k = KERNELS['fir4']
    expected = np_upfirdn(x, k, 2, 2, 1, 1, 2, 2, 2, 2)
    close(upfirdn_2d(tf.constant(x, tf.float32), k, 2, 2, 1, 1, 2, 2, 2, 2).numpy(), expected)


# ----------------------------------------------------------------------------
# The helpers, in both layouts.

@pytest.mark.parametrize('data_format', ['NCHW', 'NHWC'])
def test_default_kernels_are_nearest_and_box(data_format):
    x = RND.randn(2, 4, 6, 3)
    up = from_format(upsample_2d(tf.constant(to_format(x, data_format), tf.float32), data_format=data_format).numpy(), data_format)
    close(up, x.repeat(2, axis=1).repeat(2, axis=2))
    down = from_format(downsample_2d(tf.constant(to_format(x, data_format), tf.float32), data_format=data_format).numpy(), data_format)
    close(down, x.reshape(2, 2, 2, 3, 2, 3).mean(axis=(2, 4)))


@pytest.mark.parametrize('data_format', ['NCHW', 'NHWC'])
@pytest.mark.parametrize('k', [[1, 3, 3, 1], [1, 2, 1], [1, 1]])
def test_resampling_helpers_match_numpy(data_format, k):
    x = RND.randn(2, 8, 8, 3)
    tx = tf.constant(to_format(x, data_format), tf.float32)
    run = lambda fn, *args, **kw: from_format(fn(tx, *args, data_format=data_format, **kw).numpy(), data_format)  # noqa: E731

    f = np_fir_kernel(k, 1)
    p = f.shape[0] - 1
    close(run(filter_2d, k, gain=2), np_upfirdn(x, f * 2, 1, 1, 1, 1, (p + 1) // 2, p // 2, (p + 1) // 2, p // 2))
    p = f.shape[0] - 2
    close(run(upsample_2d, k), np_upfirdn(x, f * 4, 2, 2, 1, 1, (p + 1) // 2 + 1, p // 2, (p + 1) // 2 + 1, p // 2))
    close(run(downsample_2d, k), np_upfirdn(x, f, 1, 1, 2, 2, (p + 1) // 2, p // 2, (p + 1) // 2, p // 2))
    assert run(upsample_2d, k).shape == (2, 16, 16, 3) and run(downsample_2d, k).shape == (2, 4, 4, 3)


@pytest.mark.parametrize('data_format', ['NCHW', 'NHWC'])
@pytest.mark.parametrize('kernel,groups', [(3, 1), (1, 1), (3, 2)])
@pytest.mark.parametrize('op,np_op,size,out_size', [(upsample_conv_2d, np_upsample_conv, 5, 10),
                                                    (conv_downsample_2d, np_conv_downsample, 8, 4)])
def test_resampling_convolutions_match_numpy(data_format, kernel, groups, op, np_op, size, out_size):
    x = RND.randn(2, size, size, 4 * groups)
    w = RND.randn(kernel, kernel, 4, 3 * groups)
    got = op(tf.constant(to_format(x, data_format), tf.float32), tf.constant(w, tf.float32), k=[1, 3, 3, 1],
             data_format=data_format).numpy()
    expected = np_grouped(lambda xg, wg: np_op(xg, wg, [1, 3, 3, 1]), x, w, groups)
    assert expected.shape == (2, out_size, out_size, 3 * groups)
    close(from_format(got, data_format), expected)


def test_fused_up_and_down_conv_differ_from_sequential_only_at_the_border():
    """Padding happens once: 'upsample_2d then SAME conv' equals the fused op in the interior only."""
    x = RND.randn(1, 6, 6, 2)
    w = RND.randn(3, 3, 2, 2)
    fused = np_upsample_conv(x, w, [1, 3, 3, 1])
    f = np_fir_kernel([1, 3, 3, 1], 4)
    seq = np_correlate(np.pad(np_upfirdn(x, f, 2, 2, 1, 1, 2, 1, 2, 1), [(0, 0), (1, 1), (1, 1), (0, 0)]), w)
    got = upsample_conv_2d(tf.constant(x, tf.float32), tf.constant(w, tf.float32), k=[1, 3, 3, 1], data_format='NHWC').numpy()
    close(got, fused)
    close(fused[:, 1:-1, 1:-1], seq[:, 1:-1, 1:-1])
    assert np.abs(fused - seq).max() > 1e-3


# ----------------------------------------------------------------------------
# fused_bias_act.

@pytest.mark.parametrize('act', sorted(NP_ACTS))
@pytest.mark.parametrize('axis,use_bias', [(1, True), (1, False), (2, True), (-1, True)])
def test_fused_bias_act_matches_numpy(act, axis, use_bias):
    x = RND.randn(3, 4, 5, 2)
    b = RND.randn(x.shape[axis]) if use_bias else None
    func, def_gain = NP_ACTS[act]
    shape = [1] * 4
    shape[axis] = -1
    pre = x + (b.reshape(shape) if use_bias else 0)
    got = fused_bias_act(tf.constant(x, tf.float32), None if b is None else tf.constant(b, tf.float32), axis=axis, act=act)
    close(got.numpy(), func(pre, 0.2) * def_gain, tol=1e-5)
    custom = fused_bias_act(tf.constant(x, tf.float32), None if b is None else tf.constant(b, tf.float32), axis=axis,
                            act=act, alpha=0.1, gain=0.5)
    close(custom.numpy(), func(pre, 0.1) * 0.5, tol=1e-5)


def test_fused_bias_act_linear_without_bias_is_identity_and_errors_are_clear():
    x = tf.constant(RND.randn(2, 3), tf.float32)
    assert fused_bias_act(x) is x
    with pytest.raises(ValueError, match="unknown act 'gelu'; expected one of linear, relu, lrelu"):
        fused_bias_act(x, act='gelu')
    with pytest.raises(ValueError, match=r'bias has shape \[4\], expected \[3\]'):
        fused_bias_act(x, tf.zeros([4]))
    with pytest.raises(ValueError, match="impl='cuda' needs the compiled kernels"):
        fused_bias_act(x, impl='cuda')


# ----------------------------------------------------------------------------
# Derivatives against central finite differences (float64).

def numeric_grad(f, x, eps=1e-5):
    g = np.zeros_like(x)
    for idx in itertools.product(*[range(s) for s in x.shape]):
        d = np.zeros_like(x)
        d[idx] = eps
        g[idx] = (f(x + d) - f(x - d)) / (2 * eps)
    return g


def check_derivatives(op, x, tol=1e-5):
    """First order: d/dx sum(op(x) * r). Second order: d/dx |d/dx sum(op(x) * r)|^2."""
    r = tf.constant(np.random.RandomState(5).randn(*op(tf.constant(x)).shape))

    def loss(v):
        return float(tf.reduce_sum(op(tf.constant(v)) * r))

    def grad(v):  # v: a tensor, possibly watched by an outer tape.
        with tf.GradientTape() as tape:
            tape.watch(v)
            y = tf.reduce_sum(op(v) * r)
        return tape.gradient(y, v, unconnected_gradients=tf.UnconnectedGradients.ZERO)

    def grad_norm(v):
        return float(tf.reduce_sum(tf.square(grad(tf.constant(v)))))

    def grad_of_grad_norm(v):
        v = tf.constant(v)
        with tf.GradientTape() as outer:
            outer.watch(v)
            g = tf.reduce_sum(tf.square(grad(v)))
        return outer.gradient(g, v, unconnected_gradients=tf.UnconnectedGradients.ZERO).numpy()

    np.testing.assert_allclose(grad(tf.constant(x)).numpy(), numeric_grad(loss, x), rtol=tol, atol=tol)
    np.testing.assert_allclose(grad_of_grad_norm(x), numeric_grad(grad_norm, x), rtol=tol * 10, atol=tol * 10)


@pytest.mark.parametrize('act', sorted(NP_ACTS))
def test_fused_bias_act_derivatives(act):
    x = np.random.RandomState(2).randn(2, 3, 2)
    x[np.abs(x) < 0.05] = 0.3  # Keep away from the kinks of relu/lrelu, where differences are one-sided.
    b = tf.constant(np.random.RandomState(3).randn(3) * 0.01)
    check_derivatives(lambda v: fused_bias_act(v, b, act=act), x)


@pytest.mark.parametrize('name,op', [
    ('upfirdn', lambda v: upfirdn_2d(v, np.outer([1, 2, 1], [1, 3, 3, 1]).astype(np.float64) / 32, 2, 1, 1, 2, 1, 2, -1, 1)),
    ('upsample_conv', lambda v: upsample_conv_2d(v * v, tf.constant(np.random.RandomState(6).randn(3, 3, 2, 2)),
                                                 k=[1, 3, 3, 1], data_format='NHWC')),
    ('conv_downsample', lambda v: conv_downsample_2d(v * v, tf.constant(np.random.RandomState(7).randn(3, 3, 2, 2)),
                                                     k=[1, 3, 3, 1], data_format='NHWC')),
])
def test_resampling_derivatives(name, op):
    # v * v makes the second derivative non-trivial (the ops themselves are linear).
    x = np.random.RandomState(4).randn(1, 4, 4, 2)
    check_derivatives(op if name != 'upfirdn' else (lambda v: op(v * v)), x)
