"""ProGAN networks (G_paper, D_paper): variable names/shapes/order, parameter counts, resampling convolutions, and
both networks at every lod against a forward pass written here in numpy.

Expected names, shapes and counts are written out from the layout of NVIDIA's networks.py in
progressive_growing_of_gans (the variable order of its 'linear' template graph) and its published parameter
counts; expected values come from numpy and the paper's formulas, not from our code.
"""

import sys
import types

import numpy as np
import pytest

import dnnlib.tflib as tflib
from training import networks_progan as nets
from training import networks_progan_stylegan as nets_stylegan_repo
from training import layers

SQRT2 = np.sqrt(2)
SMALL = dict(num_channels=3, resolution=32, fmap_base=128, fmap_max=32, latent_size=32)  # nf: 32, 32, 32, 16, 8.


def nf_expected(fmap_base, fmap_max, stage):
    return min(fmap_base // 2 ** stage, fmap_max)


def own_shapes(net):
    return [(name, var.shape.as_list()) for name, var in net.own_vars.items()]


def wb(scope, shape):
    return [(f'{scope}/weight', shape), (f'{scope}/bias', [shape[2] if scope.endswith('_up') else shape[-1]])]


def expected_G_vars(resolution, fmap_base, fmap_max, latent_size, label_size, channels, fused_scale):
    R = int(np.log2(resolution))
    nf = lambda s: nf_expected(fmap_base, fmap_max, s)  # noqa: E731
    v = [('lod', [])]
    v += [('4x4/Dense/weight', [latent_size + label_size, 16 * nf(1)]), ('4x4/Dense/bias', [nf(1)])]
    v += wb('4x4/Conv', [3, 3, nf(1), nf(1)]) + wb(f'ToRGB_lod{R - 2}', [1, 1, nf(1), channels])
    for r in range(3, R + 1):
        s = f'{2 ** r}x{2 ** r}'
        if fused_scale:  # Transposed-convolution layout [k, k, out, in].
            v += wb(f'{s}/Conv0_up', [3, 3, nf(r - 1), nf(r - 2)])
        else:
            v += wb(f'{s}/Conv0', [3, 3, nf(r - 2), nf(r - 1)])
        v += wb(f'{s}/Conv1', [3, 3, nf(r - 1), nf(r - 1)]) + wb(f'ToRGB_lod{R - r}', [1, 1, nf(r - 1), channels])
    return v


def expected_D_vars(resolution, fmap_base, fmap_max, label_size, channels, fused_scale, mbstd=True):
    R = int(np.log2(resolution))
    nf = lambda s: nf_expected(fmap_base, fmap_max, s)  # noqa: E731
    v = [('lod', [])] + wb('FromRGB_lod0', [1, 1, channels, nf(R - 1)])
    for r in range(R, 2, -1):
        s = f'{2 ** r}x{2 ** r}'
        v += wb(f'{s}/Conv0', [3, 3, nf(r - 1), nf(r - 1)])
        v += wb(f'{s}/Conv1_down' if fused_scale else f'{s}/Conv1', [3, 3, nf(r - 1), nf(r - 2)])
        v += wb(f'FromRGB_lod{R - r + 1}', [1, 1, channels, nf(r - 2)])
    v += wb('4x4/Conv', [3, 3, nf(1) + (1 if mbstd else 0), nf(1)])
    v += wb('4x4/Dense0', [16 * nf(1), nf(0)]) + wb('4x4/Dense1', [nf(0), 1 + label_size])
    return v


@pytest.mark.parametrize('fused_scale', [True, False])
@pytest.mark.parametrize('label_size', [0, 3])
def test_generator_variable_names_order_and_shapes(fused_scale, label_size):
    G = tflib.Network('G', func_name=nets.G_paper, label_size=label_size, fused_scale=fused_scale, **SMALL)
    assert own_shapes(G) == expected_G_vars(32, 128, 32, 32, label_size, 3, fused_scale)
    assert [name for name, var in G.own_vars.items() if not var.trainable] == ['lod']
    assert G.input_names == ['latents_in', 'labels_in']
    assert G.input_shapes == [[None, 32], [None, label_size]] and G.output_shapes == [[None, 3, 32, 32]]


@pytest.mark.parametrize('fused_scale', [True, False])
@pytest.mark.parametrize('label_size', [0, 3])
def test_discriminator_variable_names_order_and_shapes(fused_scale, label_size):
    D = tflib.Network('D', func_name=nets.D_paper, label_size=label_size, fused_scale=fused_scale, **SMALL)
    assert own_shapes(D) == expected_D_vars(32, 128, 32, label_size, 3, fused_scale)
    assert [name for name, var in D.own_vars.items() if not var.trainable] == ['lod']
    assert D.input_names == ['images_in']
    assert D.input_shapes == [[None, 3, 32, 32]] and D.output_shapes == [[None, 1], [None, label_size]]


def test_defaults_and_no_minibatch_stddev():
    G = tflib.Network('G', func_name=nets.G_paper)  # 1 channel, 32x32, latent nf(0) = 512.
    assert own_shapes(G) == expected_G_vars(32, 8192, 512, 512, 0, 1, True)
    D = tflib.Network('D', func_name=nets.D_paper, mbstd_group_size=0)
    assert own_shapes(D) == expected_D_vars(32, 8192, 512, 0, 1, True, mbstd=False)


def test_parameter_counts_1024():
    count = lambda net: sum(int(np.prod(v.shape.as_list())) for v in net.trainables.values())  # noqa: E731
    assert count(tflib.Network('G', func_name=nets.G_paper, num_channels=3, resolution=1024)) == 23079115
    assert count(tflib.Network('D', func_name=nets.D_paper, num_channels=3, resolution=1024)) == 23087249


def test_initializers():
    """Equalized learning rate: weights stored N(0, 1); without it, N(0, gain^2 / fan_in), the fused up-conv's fan-in
    counting its input maps (the last axis of its weight). Biases and lod start at 0."""
    G = tflib.Network('G', func_name=nets.G_paper, **SMALL)
    assert all(not np.any(G.get_var(n)) for n in G.own_vars if not n.endswith('/weight'))
    assert abs(G.get_var('8x8/Conv1/weight').std() - 1) < 0.05
    G = tflib.Network('G', func_name=nets.G_paper, use_wscale=False, **SMALL)
    for name, std in [('4x4/Dense/weight', SQRT2 / 4 / np.sqrt(32)), ('8x8/Conv1/weight', SQRT2 / np.sqrt(9 * 32)),
                      ('32x32/Conv0_up/weight', SQRT2 / np.sqrt(9 * 16))]:  # [3, 3, 8, 16]: 16 maps in.
        assert abs(G.get_var(name).std() / std - 1) < 0.1, name


# ----------------------------------------------------------------------------
# numpy: NCHW images, weights [k, k, in, out] unless said otherwise.

def np_conv(x, w):
    """Cross-correlation (TF's conv2d) with zero padding to the same size."""
    k = w.shape[0]
    p = k // 2
    h, wd = x.shape[2:]
    xp = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)])
    return sum(np.einsum('nihw,io->nohw', xp[:, :, dy:dy + h, dx:dx + wd], w[dy, dx]) for dy in range(k) for dx in range(k))


def np_scatter(x, w):
    """Transposed convolution (conv2d_transpose, stride 1) with a weight [k, k, out, in]: every input pixel
    x[y, x] adds x[y, x] * w[dy, dx] at [y + dy - k//2, x + dx - k//2]; cropped to the input's size."""
    k = w.shape[0]
    p = k // 2
    n, _, h, wd = x.shape
    out = np.zeros([n, w.shape[2], h + 2 * p, wd + 2 * p])
    for dy in range(k):
        for dx in range(k):
            out[:, :, dy:dy + h, dx:dx + wd] += np.einsum('nihw,oi->nohw', x, w[dy, dx])
    return out[:, :, p:p + h, p:p + wd]


def np_up(x, factor=2):
    return x.repeat(factor, axis=2).repeat(factor, axis=3)


def np_down(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def np_pixel_norm(x, eps=1e-8):
    return x / np.sqrt(np.mean(x ** 2, axis=1, keepdims=True) + eps)


def np_lrelu(x):
    return np.where(x >= 0, x, 0.2 * x)


def np_bias(x, b):
    return x + (b if x.ndim == 2 else b[np.newaxis, :, np.newaxis, np.newaxis])


def np_mbstd(x, group_size):
    """Sample n joins the group of the samples n + multiples of N / group_size (strided groups)."""
    g = min(group_size, x.shape[0])
    m = x.shape[0] // g
    stds = [np.sqrt(x[i::m].var(axis=0) + 1e-8).mean() for i in range(m)]
    feature = np.stack([np.full(x.shape[2:], stds[i % m]) for i in range(x.shape[0])])[:, np.newaxis]
    return np.concatenate([x, feature], axis=1)


# ----------------------------------------------------------------------------
# Layers.

def layer_build(x_in, layer='up', in_fmaps=3, fmaps=4, size=6, use_wscale=True, fmt='NHWC', **_kwargs):
    x = tflib.nchw_to(tflib.set_input_shape(x_in, [None, in_fmaps, size, size], 'x'), fmt)
    with tflib.variable_scope('Layer'):
        if layer == 'up':
            y = layers.upscale2d_conv2d(x, fmaps=fmaps, kernel=3, use_wscale=use_wscale, weight_in_out=False, fmt=fmt)
        elif layer == 'down':
            y = layers.conv2d_layer(x, fmaps=fmaps, kernel=3, down=True, gain=SQRT2, fmt=fmt)
        else:
            y = layers.pixel_norm(x, epsilon=0.5, fmt=fmt)
    return tflib.to_nchw(y, fmt)


def random_weight(net, rnd):
    w = rnd.randn(*net.own_vars['Layer/weight'].shape.as_list())
    net.set_var('Layer/weight', w)
    return w


@pytest.mark.parametrize('fmt', ['NHWC', 'NCHW'])
@pytest.mark.parametrize('use_wscale', [True, False])
def test_fused_upscale_conv(fmt, use_wscale):
    net = tflib.Network('L', func_name=layer_build, layer='up', use_wscale=use_wscale, fmt=fmt)
    assert own_shapes(net) == [('Layer/weight', [3, 3, 4, 3])]  # [k, k, out, in].
    rnd = np.random.RandomState(1)
    w = random_weight(net, rnd) * (SQRT2 / np.sqrt(9 * 3) if use_wscale else 1)
    x = rnd.randn(2, 3, 6, 6)
    got = net.run(x)
    assert got.shape == (2, 4, 12, 12)
    # The stored weight as conv2d_transpose's filter on the nearest-upsampled image...
    expected = np_scatter(np_up(x), w)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    # ...which is a convolution with that weight flipped and its last two axes swapped.
    np.testing.assert_allclose(np_conv(np_up(x), w[::-1, ::-1].transpose(0, 1, 3, 2)), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize('fmt', ['NHWC', 'NCHW'])
def test_fused_conv_downscale(fmt):
    net = tflib.Network('L', func_name=layer_build, layer='down', fmt=fmt)
    rnd = np.random.RandomState(2)
    w = random_weight(net, rnd) * SQRT2 / np.sqrt(9 * 3)
    x = rnd.randn(2, 3, 6, 6)
    got = net.run(x)
    expected = np_down(np_conv(x, w))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize('fmt', ['NHWC', 'NCHW'])
def test_pixel_norm(fmt):
    net = tflib.Network('L', func_name=layer_build, layer='pixel_norm', fmt=fmt)
    x = np.random.RandomState(3).randn(2, 3, 6, 6)
    np.testing.assert_allclose(net.run(x), np_pixel_norm(x, eps=0.5), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------
# Whole networks against numpy, at every lod.

NET = dict(num_channels=3, resolution=16, fmap_base=64, fmap_max=16, latent_size=8)  # nf: 16, 16, 16, 8, 4.


def randomize(net, seed):
    rnd = np.random.RandomState(seed)
    for name, var in net.trainables.items():
        var.assign(np.float32(rnd.randn(*var.shape.as_list()) * (0.3 if name.endswith('bias') else 1)))
    return {name: net.get_var(name).astype(np.float64) for name in net.trainables}


def np_G(p, latents, labels, lod, fused_scale=True, normalize_latents=True, use_pixelnorm=True, use_leakyrelu=True,
         resolution=16, **_kwargs):
    """Each layer: weight * gain / sqrt(fan_in), bias, activation, pixel norm; the images of all levels blended."""
    R = int(np.log2(resolution))
    act = np_lrelu if use_leakyrelu else (lambda x: np.maximum(x, 0))
    pn = np_pixel_norm if use_pixelnorm else (lambda x: x)

    def layer(x, scope, conv=np_conv):
        w = p[scope + '/weight']
        fan_in = x.shape[1] * w.shape[0] ** 2
        return pn(act(np_bias(conv(x, w * SQRT2 / np.sqrt(fan_in)), p[scope + '/bias'])))

    def torgb(x, lod_index):
        w = p[f'ToRGB_lod{lod_index}/weight']
        return np_bias(np_conv(x, w / np.sqrt(x.shape[1])), p[f'ToRGB_lod{lod_index}/bias'])

    x = np.concatenate([latents, labels], axis=1)
    if normalize_latents:
        x = np_pixel_norm(x)
    w = p['4x4/Dense/weight'] * (SQRT2 / 4) / np.sqrt(x.shape[1])
    x = (x @ w).reshape(x.shape[0], -1, 4, 4)
    x = pn(act(np_bias(x, p['4x4/Dense/bias'])))
    x = layer(x, '4x4/Conv')
    images = torgb(x, R - 2)
    for r in range(3, R + 1):
        s = f'{2 ** r}x{2 ** r}'
        x = layer(np_up(x), f'{s}/Conv0_up', np_scatter) if fused_scale else layer(np_up(x), f'{s}/Conv0')
        x = layer(x, f'{s}/Conv1')
        alpha = np.clip(lod - (R - r), 0, 1)
        images = (1 - alpha) * torgb(x, R - r) + alpha * np_up(images)
    return images


def np_D(p, images, lod, fused_scale=True, mbstd_group_size=4, resolution=16, **_kwargs):
    R = int(np.log2(resolution))

    def conv(x, scope):
        w = p[scope + '/weight']
        return np_conv(x, w * SQRT2 / np.sqrt(x.shape[1] * w.shape[0] ** 2))

    def fromrgb(img, lod_index):
        return np_lrelu(np_bias(conv(img, f'FromRGB_lod{lod_index}'), p[f'FromRGB_lod{lod_index}/bias']))

    x = fromrgb(images, 0)
    for r in range(R, 2, -1):
        s = f'{2 ** r}x{2 ** r}'
        x = np_lrelu(np_bias(conv(x, f'{s}/Conv0'), p[f'{s}/Conv0/bias']))
        if fused_scale:  # Bias and activation after the 2x2 average.
            x = np_lrelu(np_bias(np_down(conv(x, f'{s}/Conv1_down')), p[f'{s}/Conv1_down/bias']))
        else:
            x = np_down(np_lrelu(np_bias(conv(x, f'{s}/Conv1'), p[f'{s}/Conv1/bias'])))
        images = np_down(images)
        alpha = np.clip(lod - (R - r), 0, 1)
        x = (1 - alpha) * x + alpha * fromrgb(images, R - r + 1)
    if mbstd_group_size > 1:
        x = np_mbstd(x, mbstd_group_size)
    x = np_lrelu(np_bias(conv(x, '4x4/Conv'), p['4x4/Conv/bias']))
    x = x.reshape(x.shape[0], -1)  # Flattened in NCHW order.
    x = np_lrelu(x @ (p['4x4/Dense0/weight'] * SQRT2 / np.sqrt(x.shape[1])) + p['4x4/Dense0/bias'])
    x = x @ (p['4x4/Dense1/weight'] / np.sqrt(x.shape[1])) + p['4x4/Dense1/bias']
    return x[:, :1], x[:, 1:]


LODS = [0.0, 0.5, 1.0, 1.5, 2.0]
G_CASES = [dict(), dict(fused_scale=False, label_size=3, data_format='NCHW'),
           dict(label_size=2, normalize_latents=False, use_pixelnorm=False, use_leakyrelu=False)]


@pytest.mark.parametrize('case', G_CASES)
def test_generator_matches_numpy_at_every_lod(case):
    kwargs = dict(NET, data_format='NHWC')
    kwargs.update(case)
    G = tflib.Network('G', func_name=nets.G_paper, **kwargs)
    p = randomize(G, seed=4)
    rnd = np.random.RandomState(5)
    latents, labels = rnd.randn(3, 8), rnd.randn(3, kwargs.get('label_size', 0))
    for lod in LODS:
        G.set_var('lod', lod)
        expected = np_G(p, latents, labels, lod, **kwargs)
        scale = np.abs(expected).max()
        np.testing.assert_allclose(G.run(latents, labels), expected, rtol=1e-4, atol=1e-5 * scale, err_msg=f'lod {lod}')
        # Leaving out the levels finer than resolution / 2**floor(lod) changes nothing.
        np.testing.assert_allclose(G.run(latents, labels, min_lod=int(lod)), expected, rtol=1e-4, atol=1e-5 * scale,
                                   err_msg=f'lod {lod}, min_lod {int(lod)}')


D_CASES = [dict(), dict(fused_scale=False, label_size=3, data_format='NCHW'), dict(mbstd_group_size=0, label_size=1)]


@pytest.mark.parametrize('case', D_CASES)
def test_discriminator_matches_numpy_at_every_lod(case):
    kwargs = dict(NET, data_format='NHWC', mbstd_group_size=2)
    kwargs.update(case)
    D = tflib.Network('D', func_name=nets.D_paper, **kwargs)
    p = randomize(D, seed=6)
    images = np.random.RandomState(7).randn(4, 3, 16, 16)  # 2 groups of 2: {0, 2} and {1, 3}.
    for lod in LODS:
        D.set_var('lod', lod)
        expected = np_D(p, images, lod, **kwargs)
        for min_lod in sorted({0, int(lod)}):
            scores, labels = D.run(images, min_lod=min_lod)
            assert scores.shape == (4, 1) and labels.shape == (4, kwargs.get('label_size', 0))
            for got, exp in zip((scores, labels), expected):
                np.testing.assert_allclose(got, exp, rtol=1e-4, atol=1e-5 * np.abs(expected[0]).max(),
                                           err_msg=f'lod {lod}, min_lod {min_lod}')


def test_minibatch_stddev_feature_is_the_strided_group_stddev():
    """D's extra 4x4 feature map (minibatch_stddev_layer with ProGAN's one feature): the mean stddev of the sample's group."""
    def build(x_in, **_kwargs):
        x = tflib.set_input_shape(x_in, [None, 2, 4, 4], 'x')
        return tflib.to_nchw(layers.minibatch_stddev_layer(tflib.nchw_to(x, 'NHWC'), 4, fmt='NHWC'), 'NHWC')
    net = tflib.Network('M', func_name=build)
    x = np.random.RandomState(8).randn(8, 2, 4, 4)  # Groups of 4: {0, 2, 4, 6} and {1, 3, 5, 7}.
    np.testing.assert_allclose(net.run(x), np_mbstd(x, 4), rtol=1e-5, atol=1e-6)


def test_layouts_agree():
    out = {}
    for fmt in ('NCHW', 'NHWC'):
        G = tflib.Network('G', func_name=nets.G_paper, label_size=2, data_format=fmt, **NET)
        D = tflib.Network('D', func_name=nets.D_paper, label_size=2, data_format=fmt, **NET)
        for net in (G, D):
            randomize(net, seed=9)
            net.set_var('lod', 0.3)
        rnd = np.random.RandomState(10)
        images = G.run(rnd.randn(4, 8), rnd.randn(4, 2))
        out[fmt] = [images] + list(D.run(images))
    for nchw, nhwc in zip(out['NCHW'], out['NHWC']):
        np.testing.assert_allclose(nchw, nhwc, rtol=1e-4, atol=1e-5 * np.abs(nhwc).max())


def test_structures_give_the_same_outputs():
    outputs = []
    for structure in (None, 'auto', 'linear', 'recursive'):
        G = tflib.Network('G', func_name=nets.G_paper, structure=structure, **NET)
        randomize(G, seed=11)
        G.set_var('lod', 0.7)
        outputs.append(G.run(np.random.RandomState(12).randn(2, 8), None))
        assert list(G.own_vars) == [name for name, _ in expected_G_vars(16, 64, 16, 8, 0, 3, True)]
    for images in outputs[1:]:
        np.testing.assert_array_equal(images, outputs[0])
    with pytest.raises(ValueError, match='structure'):
        tflib.Network('G', func_name=nets.G_paper, structure='fixed', **NET)
    with pytest.raises(ValueError, match='min_lod'):
        tflib.Network('D', func_name=nets.D_paper, min_lod=3, **NET)


def test_pickled_module_source_gives_progans_build_functions():
    """ProGAN's loader executes build_module_src in a fresh module and looks the build function up in it; the
    source imports ProGAN's networks.py (a stand-in here)."""
    G = tflib.Network('G', func_name=nets.G_paper, **NET)
    src = G.__getstate__()['build_module_src']
    assert src == nets.PICKLE_MODULE_SRC
    stand_in = types.ModuleType('networks')
    stand_in.G_paper, stand_in.D_paper = object(), object()
    module = types.ModuleType('_tfutil_network_import_module_0')
    saved = sys.modules.get('networks')
    sys.modules['networks'] = stand_in
    try:
        exec(src, module.__dict__)  # pylint: disable=exec-used
    finally:
        if saved is None:
            del sys.modules['networks']
        else:
            sys.modules['networks'] = saved
    assert module.G_paper is stand_in.G_paper and module.D_paper is stand_in.D_paper
    assert nets.BUILD_FUNCTIONS == ('G_paper', 'D_paper') and nets.PICKLE_STATE_VERSION == 2


def test_stylegan_repo_copy_matches_numpy():
    """NVlabs/stylegan's copy of these networks: G stores its fused up-convolution weights [k, k, in, out] (the numpy
    reference takes ProGAN's [k, k, out, in]) and computes the same; D takes labels as a second input, ignores them,
    and its one output is the scores (Dense1 has one unit whatever label_size is)."""
    kwargs = dict(NET, data_format='NHWC', label_size=2)
    G = tflib.Network('G', func_name=nets_stylegan_repo.G_paper, **kwargs)
    p = randomize(G, seed=8)
    assert p['16x16/Conv0_up/weight'].shape == (3, 3, 16, 8)  # in = nf(2) = 16, out = nf(3) = 8.
    p_progan = {name: value.transpose(0, 1, 3, 2) if name.endswith('Conv0_up/weight') else value for name, value in p.items()}
    rnd = np.random.RandomState(9)
    latents, labels = rnd.randn(3, 8), rnd.randn(3, 2)
    for lod in LODS:
        G.set_var('lod', lod)
        expected = np_G(p_progan, latents, labels, lod, **kwargs)
        np.testing.assert_allclose(G.run(latents, labels), expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max(),
                                   err_msg=f'lod {lod}')

    D = tflib.Network('D', func_name=nets_stylegan_repo.D_paper, **dict(kwargs, mbstd_group_size=2))
    assert D.input_names == ['images_in', 'labels_in'] and D.num_outputs == 1
    p = randomize(D, seed=10)
    assert p['4x4/Dense1/weight'].shape == (16, 1) and p['4x4/Dense1/bias'].shape == (1,)
    images = np.random.RandomState(11).randn(4, 3, 16, 16)
    for lod in LODS:
        D.set_var('lod', lod)
        expected, _ = np_D(p, images, lod, **dict(kwargs, mbstd_group_size=2))
        for labels in (np.eye(2)[[0, 1, 1, 0]], np.eye(2)[[1, 1, 0, 0]]):
            np.testing.assert_allclose(D.run(images, labels), expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max(),
                                       err_msg=f'lod {lod}')
