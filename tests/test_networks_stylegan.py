"""StyleGAN (v1) networks: variable names/order/shapes, parameter count, layers, truncation, style mixing, lod blend.

Expected names, shapes and counts are written out here from the layout of NVIDIA's training/networks_stylegan.py
(G_style, G_mapping, G_synthesis, D_basic) and its published parameter count; expected values come from numpy
forward passes written from the original's definitions, not from our code.
"""

import numpy as np
import pytest
import tensorflow as tf

import dnnlib.tflib as tflib
from training import layers
from training import networks_stylegan as nets

SQRT2 = np.sqrt(2)
SMALL = dict(num_channels=3, resolution=32, fmap_base=128, fmap_max=32, latent_size=32, dlatent_size=32,
             mapping_layers=2, mapping_fmaps=32)
TINY = dict(num_channels=3, fmap_base=64, fmap_max=4, latent_size=8, dlatent_size=8, mapping_layers=2, mapping_fmaps=8)


def own_shapes(net):
    return [(name, var.shape.as_list()) for name, var in net.own_vars.items()]


def randomize(net, seed, scale=1.0):
    """Every variable N(0, scale^2) (lod and dlatent_avg included), so that no term of a layer vanishes."""
    rnd = np.random.RandomState(seed)
    for var in net.vars.values():
        var.assign(np.float32(rnd.randn(*var.shape.as_list()) * scale))
    for name in net.vars:
        if name.endswith('lod'):
            net.set_var(name, 0.0)


# ----------------------------------------------------------------------------
# Variable names, order and shapes, written out from the original's template graph.

def nf_small(stage):
    return min(128 >> stage, 32)


def epilogue_vars(scope, fmaps, dlatent, noise=True, styles=True):
    v = [(f'{scope}/Noise/weight', [fmaps])] if noise else []
    v += [(f'{scope}/bias', [fmaps])]
    if styles:
        v += [(f'{scope}/StyleMod/weight', [dlatent, 2 * fmaps]), (f'{scope}/StyleMod/bias', [2 * fmaps])]
    return v


def expected_synthesis_vars(R, nf, dlatent, channels=3, structure='linear', const=True, noise=True, styles=True):
    def epi(scope, fmaps):
        return epilogue_vars(scope, fmaps, dlatent, noise, styles)

    def torgb(r):
        return [(f'ToRGB_lod{R - r}/weight', [1, 1, nf(r - 1), channels]), (f'ToRGB_lod{R - r}/bias', [channels])]

    v = [('lod', [])]
    if noise:
        v += [(f'noise{i}', [1, 1, 2 ** (i // 2 + 2), 2 ** (i // 2 + 2)]) for i in range(2 * R - 2)]
    if const:
        v += [('4x4/Const/const', [1, nf(1), 4, 4])] + epi('4x4/Const', nf(1))
    else:
        v += [('4x4/Dense/weight', [dlatent, nf(1) * 16])] + epi('4x4/Dense', nf(1))
    v += [('4x4/Conv/weight', [3, 3, nf(1), nf(1)])] + epi('4x4/Conv', nf(1))
    if structure == 'linear':
        v += torgb(2)
    for r in range(3, R + 1):
        s = f'{2 ** r}x{2 ** r}'
        v += [(f'{s}/Conv0_up/weight', [3, 3, nf(r - 2), nf(r - 1)])] + epi(f'{s}/Conv0_up', nf(r - 1))
        v += [(f'{s}/Conv1/weight', [3, 3, nf(r - 1), nf(r - 1)])] + epi(f'{s}/Conv1', nf(r - 1))
        if structure == 'linear' or r == R:
            v += torgb(r)
    return v


def expected_mapping_vars(latent, label_size, fmaps, dlatent, layers):
    v = [('LabelConcat/weight', [label_size, latent])] if label_size else []
    for i in range(layers):
        fin = (latent * 2 if label_size else latent) if i == 0 else fmaps
        fout = dlatent if i == layers - 1 else fmaps
        v += [(f'Dense{i}/weight', [fin, fout]), (f'Dense{i}/bias', [fout])]
    return v


def expected_discriminator_vars(R, nf, channels=3, label_size=0, structure='linear'):
    def fromrgb(r):
        return [(f'FromRGB_lod{R - r}/weight', [1, 1, channels, nf(r - 1)]), (f'FromRGB_lod{R - r}/bias', [nf(r - 1)])]

    v = [('lod', [])] + fromrgb(R)
    for r in range(R, 2, -1):
        s = f'{2 ** r}x{2 ** r}'
        v += [(f'{s}/Conv0/weight', [3, 3, nf(r - 1), nf(r - 1)]), (f'{s}/Conv0/bias', [nf(r - 1)]),
              (f'{s}/Conv1_down/weight', [3, 3, nf(r - 1), nf(r - 2)]), (f'{s}/Conv1_down/bias', [nf(r - 2)])]
        if structure == 'linear':
            v += fromrgb(r - 1)
    return v + [('4x4/Conv/weight', [3, 3, nf(1) + 1, nf(1)]), ('4x4/Conv/bias', [nf(1)]),
                ('4x4/Dense0/weight', [16 * nf(1), nf(0)]), ('4x4/Dense0/bias', [nf(0)]),
                ('4x4/Dense1/weight', [nf(0), max(label_size, 1)]), ('4x4/Dense1/bias', [max(label_size, 1)])]


@pytest.mark.parametrize('label_size', [0, 3])
def test_generator_variable_names_order_and_shapes(label_size):
    G = tflib.Network('G', func_name=nets.G_style, label_size=label_size, **SMALL)
    assert own_shapes(G) == [('lod', []), ('dlatent_avg', [32])]
    assert list(G.components.keys()) == ['synthesis', 'mapping']  # Synthesis first, as in the original.
    assert own_shapes(G.components.synthesis) == expected_synthesis_vars(5, nf_small, 32)
    assert own_shapes(G.components.mapping) == expected_mapping_vars(32, label_size, 32, 32, 2)
    assert G.components.mapping.static_kwargs['dlatent_broadcast'] == 8
    assert list(G.vars)[:4] == ['lod', 'dlatent_avg', 'G_synthesis/lod', 'G_synthesis/noise0']
    assert list(G.vars)[-1] == 'G_mapping/Dense1/bias'
    assert G.input_shapes == [[None, 32], [None, label_size]] and G.output_shape == [None, 3, 32, 32]
    Gs = G.clone('Gs')
    assert [(name, var.shape.as_list()) for name, var in Gs.vars.items()] == \
           [(name, var.shape.as_list()) for name, var in G.vars.items()]
    trainable = {name for name, var in G.vars.items() if var.trainable}
    assert not trainable & {'lod', 'dlatent_avg', 'G_synthesis/lod', 'G_synthesis/noise7'}
    assert 'G_synthesis/4x4/Const/const' in trainable and 'G_synthesis/4x4/Const/Noise/weight' in trainable


@pytest.mark.parametrize('options', [dict(structure='fixed'), dict(const_input_layer=False, use_noise=False, use_styles=False)])
def test_synthesis_variable_options(options):
    syn = tflib.Network('G_synthesis', func_name=nets.G_synthesis, **dict(SMALL, **options))
    expected = expected_synthesis_vars(5, nf_small, 32, structure=options.get('structure', 'linear'),
                                       const=options.get('const_input_layer', True), noise=options.get('use_noise', True),
                                       styles=options.get('use_styles', True))
    assert own_shapes(syn) == expected
    assert syn.input_shape == [None, 8 if options.get('use_styles', True) else 1, 32]


@pytest.mark.parametrize('label_size,structure', [(0, 'linear'), (3, 'linear'), (0, 'fixed')])
def test_discriminator_variable_names_order_and_shapes(label_size, structure):
    D = tflib.Network('D', func_name=nets.D_basic, num_channels=3, resolution=32, label_size=label_size, fmap_base=128,
                      fmap_max=32, structure=structure)
    assert own_shapes(D) == expected_discriminator_vars(5, nf_small, label_size=label_size, structure=structure)
    assert D.input_shapes == [[None, 3, 32, 32], [None, label_size]] and D.output_shape == [None, 1]


def test_parameter_count_1024():
    Gs = tflib.Network('Gs', func_name='training.networks_stylegan.G_style', num_channels=3, resolution=1024, label_size=0)
    count = lambda net: sum(int(np.prod(v.shape.as_list())) for v in net.trainables.values())  # noqa: E731
    assert count(Gs) == 26219627
    assert count(Gs.components.mapping) == 8 * (512 * 512 + 512)


def test_module_constants_and_pickled_source():
    assert nets.BUILD_FUNCTIONS == ('G_style', 'G_mapping', 'G_synthesis', 'D_basic')
    assert all(callable(getattr(nets, name)) for name in nets.BUILD_FUNCTIONS)
    assert nets.PICKLE_STATE_VERSION == 3
    assert 'from training.networks_stylegan import *' in nets.PICKLE_MODULE_SRC
    D = tflib.Network('D', func_name=nets.D_basic, num_channels=1, resolution=8, fmap_base=16)
    assert D.__getstate__()['build_module_src'] == nets.PICKLE_MODULE_SRC


# ----------------------------------------------------------------------------
# Numpy reference implementations of the original's operations (NCHW, float64).

def np_lrelu(x):
    return np.maximum(x, 0.2 * x)


def np_relu(x):
    return np.maximum(x, 0)


def ws(w, gain):
    """Equalized learning rate: the stored weight times gain / sqrt(fan_in)."""
    return w.astype(np.float64) * gain / np.sqrt(np.prod(w.shape[:-1]))


def per_map(b):
    return b[np.newaxis, :, np.newaxis, np.newaxis]


def np_conv(x, w):
    """Cross-correlation (TF's conv2d) with zero 'SAME' padding: x [N,I,H,W], w [k,k,I,O] -> [N,O,H,W]."""
    k, p = w.shape[0], w.shape[0] // 2
    h, wd = x.shape[2], x.shape[3]
    xp = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)])
    return sum(np.einsum('nihw,io->nohw', xp[:, :, dy:dy + h, dx:dx + wd], w[dy, dx]) for dy in range(k) for dx in range(k))


def np_blur(x, f=(1, 2, 1)):
    """Each channel correlated with the normalized filter (outer product if 1D), zero padded, size kept."""
    f = np.asarray(f, np.float64)
    f = np.outer(f, f) if f.ndim == 1 else f
    f = f / f.sum()
    k, p = f.shape[0], f.shape[0] // 2
    h, w = x.shape[2], x.shape[3]
    xp = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)])
    return sum(f[dy, dx] * xp[:, :, dy:dy + h, dx:dx + w] for dy in range(k) for dx in range(k))


def np_up(x, factor=2):
    return x.repeat(factor, axis=2).repeat(factor, axis=3)


def np_box(x, factor=2):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // factor, factor, w // factor, factor).mean(axis=(3, 5))


def shifted_sum(w):
    """The original's fused kernel: the four copies of w shifted by 0/1 pixel down and right, summed ([k+1, k+1, I, O])."""
    k = w.shape[0]
    w4 = np.zeros((k + 1, k + 1) + w.shape[2:])
    for a in (0, 1):
        for b in (0, 1):
            w4[a:a + k, b:b + k] += w
    return w4


def np_up_fused(x, w):
    """The original's fused upscale2d_conv2d: conv2d_transpose, stride 2, 'SAME', filter = shifted_sum(w)
    (the weight only transposed to [k, k, out, in], not flipped): each input pixel adds itself times the
    kernel at twice its position; 'SAME' crops (k - 1) // 2 rows and columns at the start."""
    w4 = shifted_sum(w)
    n, _, h, wd = x.shape
    full = np.zeros([n, w.shape[3], 2 * h + w4.shape[0] - 2, 2 * wd + w4.shape[1] - 2])
    for a in range(w4.shape[0]):
        for b in range(w4.shape[1]):
            full[:, :, a:a + 2 * h:2, b:b + 2 * wd:2] += np.einsum('nihw,io->nohw', x, w4[a, b])
    crop = (w.shape[0] - 1) // 2
    return full[:, :, crop:crop + 2 * h, crop:crop + 2 * wd]


def np_down_fused(x, w):
    """The original's fused conv2d_downscale2d: conv2d, stride 2, 'SAME' (pad 1 before), filter shifted_sum(w) / 4."""
    w4 = shifted_sum(w) / 4
    n, _, h, wd = x.shape
    xp = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)])
    return sum(np.einsum('nihw,io->nohw', xp[:, :, a:a + h:2, b:b + wd:2], w4[a, b])
               for a in range(w4.shape[0]) for b in range(w4.shape[1]))


def np_instance_norm(x):
    x = x - x.mean(axis=(2, 3), keepdims=True)
    return x / np.sqrt((x ** 2).mean(axis=(2, 3), keepdims=True) + 1e-8)


def np_pixel_norm(x):
    return x / np.sqrt((x ** 2).mean(axis=1, keepdims=True) + 1e-8)


def np_synthesis_levels(v, dlatents, R, const_input_layer=True, use_noise=True, use_styles=True, act=np_lrelu,
                        use_pixel_norm=False, use_instance_norm=True, blur=True, fused=lambda size: size >= 128):
    """The original's synthesis with the stored noise: {r: the 2^r x 2^r image of ToRGB_lod(R - r)}."""
    def epilogue(scope, x, layer_idx):
        if use_noise:
            x = x + v[f'noise{layer_idx}'] * per_map(v[f'{scope}/Noise/weight'])
        x = act(x + per_map(v[f'{scope}/bias']))
        x = np_pixel_norm(x) if use_pixel_norm else x
        x = np_instance_norm(x) if use_instance_norm else x
        if use_styles:
            style = dlatents[:, layer_idx] @ ws(v[f'{scope}/StyleMod/weight'], 1) + v[f'{scope}/StyleMod/bias']
            c = x.shape[1]
            x = x * (style[:, :c, np.newaxis, np.newaxis] + 1) + style[:, c:, np.newaxis, np.newaxis]
        return x

    def torgb(x, r):
        return np_conv(x, ws(v[f'ToRGB_lod{R - r}/weight'], 1)) + per_map(v[f'ToRGB_lod{R - r}/bias'])

    n = dlatents.shape[0]
    if const_input_layer:
        x = epilogue('4x4/Const', np.tile(v['4x4/Const/const'], [n, 1, 1, 1]), 0)
    else:
        x = dlatents[:, 0] @ ws(v['4x4/Dense/weight'], SQRT2 / 4)
        x = epilogue('4x4/Dense', x.reshape(n, -1, 4, 4), 0)
    x = epilogue('4x4/Conv', np_conv(x, ws(v['4x4/Conv/weight'], SQRT2)), 1)
    images = {2: torgb(x, 2)}
    for r in range(3, R + 1):
        s = f'{2 ** r}x{2 ** r}'
        w = ws(v[f'{s}/Conv0_up/weight'], SQRT2)
        x = np_up_fused(x, w) if fused(2 ** r) else np_conv(np_up(x), w)
        x = epilogue(f'{s}/Conv0_up', np_blur(x) if blur else x, 2 * r - 4)
        x = epilogue(f'{s}/Conv1', np_conv(x, ws(v[f'{s}/Conv1/weight'], SQRT2)), 2 * r - 3)
        images[r] = torgb(x, r)
    return images


def np_discriminator(v, images, labels, R, lod=0.0, group_size=4, fused=lambda size: size >= 128):
    """The original's D_basic in its 'linear' structure."""
    def layer(scope, x, gain=SQRT2):
        return np_lrelu(np_conv(x, ws(v[f'{scope}/weight'], gain)) + per_map(v[f'{scope}/bias']))

    img = images
    x = layer('FromRGB_lod0', img)
    for r in range(R, 2, -1):
        s = f'{2 ** r}x{2 ** r}'
        x = np_blur(layer(f'{s}/Conv0', x))
        w = ws(v[f'{s}/Conv1_down/weight'], SQRT2)
        x = np_down_fused(x, w) if fused(2 ** r) else np_box(np_conv(x, w))
        x = np_lrelu(x + per_map(v[f'{s}/Conv1_down/bias']))
        img = np_box(img)
        t = np.clip(lod - (R - r), 0, 1)
        x = x + (layer(f'FromRGB_lod{R - r + 1}', img) - x) * t

    # Minibatch stddev over strided groups: sample i is in group i mod (N / G).
    n, c, h, w = x.shape
    g = min(group_size, n)
    std = np.sqrt(x.reshape(g, n // g, c, h, w).var(axis=0) + 1e-8).mean(axis=(1, 2, 3))
    x = np.concatenate([x, np.tile(std, g)[:, None, None, None] * np.ones([n, 1, h, w])], axis=1)
    x = layer('4x4/Conv', x)
    x = np_lrelu(x.reshape(n, -1) @ ws(v['4x4/Dense0/weight'], SQRT2) + v['4x4/Dense0/bias'])
    x = x @ ws(v['4x4/Dense1/weight'], 1) + v['4x4/Dense1/bias']
    return x if labels is None else np.sum(x * labels, axis=1, keepdims=True)


def values(net):
    return {name: var.numpy().astype(np.float64) for name, var in net.vars.items()}


def assert_close(got, expected, tol=1e-4):
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * np.abs(expected).max())


# ----------------------------------------------------------------------------
# Layers and whole networks against numpy.

def test_mapping_against_numpy():
    G_map = tflib.Network('G_mapping', func_name=nets.G_mapping, latent_size=6, label_size=3, dlatent_size=5,
                          mapping_layers=2, mapping_fmaps=7, dlatent_broadcast=4)
    rnd = np.random.RandomState(0)
    for name in ('Dense0/bias', 'Dense1/bias'):
        # Large stored biases (times lrmul 0.01): the gain multiplies the weight only, not the bias as in StyleGAN2.
        G_map.set_var(name, rnd.randn(*G_map.get_var(name).shape) * 100)
    z, labels = rnd.randn(4, 6), np.eye(3)[[0, 2, 1, 1]]
    v = values(G_map)
    # The first layer written out: pixel norm of [z, labels @ embedding], weight * sqrt(2)/sqrt(12) * lrmul.
    x0 = np.concatenate([z, labels @ v['LabelConcat/weight']], axis=1)
    x0 = x0 / np.sqrt(np.mean(x0 ** 2, axis=1, keepdims=True) + 1e-8)
    h = np_lrelu(x0 @ (v['Dense0/weight'] * np.sqrt(2) / np.sqrt(12) * 0.01) + v['Dense0/bias'] * 0.01)
    expected = np_lrelu(h @ (v['Dense1/weight'] * np.sqrt(2) / np.sqrt(7) * 0.01) + v['Dense1/bias'] * 0.01)
    got = G_map.run(z, labels)
    assert got.shape == (4, 4, 5)
    for i in range(4):
        assert_close(got[:, i], expected)


@pytest.mark.parametrize('resolution,options', [
    (8, {}),
    (8, dict(const_input_layer=False, use_styles=False, use_pixel_norm=True, use_instance_norm=False, nonlinearity='relu')),
    (8, dict(use_noise=False, blur_filter=None, fused_scale=True)),
    (128, dict(fmap_max=2)),  # The fused ('auto') up-convolution from 128x128 on.
])
def test_synthesis_against_numpy(resolution, options):
    syn = tflib.Network('G_synthesis', func_name=nets.G_synthesis, **dict(TINY, resolution=resolution, **options))
    randomize(syn, seed=1)
    R = int(np.log2(resolution))
    dlatents = np.random.RandomState(2).randn(3, syn.input_shape[1], 8)
    fused_scale = options.get('fused_scale', 'auto')
    levels = np_synthesis_levels(values(syn), dlatents, R, const_input_layer=options.get('const_input_layer', True),
                                 use_noise=options.get('use_noise', True), use_styles=options.get('use_styles', True),
                                 act=np_relu if options.get('nonlinearity') == 'relu' else np_lrelu,
                                 use_pixel_norm=options.get('use_pixel_norm', False),
                                 use_instance_norm=options.get('use_instance_norm', True),
                                 blur='blur_filter' not in options,
                                 fused=(lambda size: size >= 128) if fused_scale == 'auto' else (lambda size: fused_scale))
    got = syn.run(dlatents, randomize_noise=False)
    assert_close(got, levels[R])
    # The original's clean graph reads the stored noise.
    np.testing.assert_array_equal(syn.run(dlatents, randomize_noise=True, force_clean_graph=True), got)


@pytest.mark.parametrize('resolution,label_size', [(8, 0), (16, 3), (128, 0)])
def test_discriminator_against_numpy(resolution, label_size):
    D = tflib.Network('D', func_name=nets.D_basic, num_channels=3, resolution=resolution, label_size=label_size,
                      fmap_base=64, fmap_max=3, mbstd_group_size=2)
    randomize(D, seed=3, scale=0.5)
    rnd = np.random.RandomState(4)
    images = rnd.randn(4, 3, resolution, resolution)
    labels = np.eye(3)[[0, 2, 1, 1]] if label_size else None
    expected = np_discriminator(values(D), images, labels, int(np.log2(resolution)), group_size=2)
    assert_close(D.run(images, labels), expected)


def test_instance_norm_and_style_mod_against_numpy():
    def build(x_in, y_in, fmt='NHWC', **_kwargs):
        x = tflib.nchw_to(tflib.set_input_shape(x_in, [None, 3, 4, 5], 'x'), fmt)
        with tflib.variable_scope('Layer'):
            x = nets.style_mod(nets.instance_norm(x, fmt=fmt), tflib.set_input_shape(y_in, [None, 6], 'y'), fmt=fmt)
        return tflib.to_nchw(x, fmt)

    rnd = np.random.RandomState(5)
    x, y = rnd.randn(2, 3, 4, 5) * 3 + 1, rnd.randn(2, 6)
    for fmt in ('NHWC', 'NCHW'):
        net = tflib.Network('AdaIN', func_name=build, fmt=fmt)
        assert own_shapes(net) == [('Layer/StyleMod/weight', [6, 6]), ('Layer/StyleMod/bias', [6])]
        randomize(net, seed=6)
        weight, bias = net.get_var('Layer/StyleMod/weight'), net.get_var('Layer/StyleMod/bias')
        normed = (x - x.mean(axis=(2, 3), keepdims=True)) / np.sqrt(x.var(axis=(2, 3), keepdims=True) + 1e-8)
        style = y @ weight / np.sqrt(6) + bias  # Gain 1.
        expected = normed * (1 + style[:, :3, None, None]) + style[:, 3:, None, None]
        assert_close(net.run(x, y), expected)


def test_noise_injection_per_channel_weights():
    def build(x_in, randomize_noise=True, fmt='NHWC', **_kwargs):
        x = tflib.nchw_to(tflib.set_input_shape(x_in, [None, 3, 4, 4], 'x'), fmt)
        noise_var = tflib.get_variable('noise0', [1, 1, 4, 4], tflib.init_normal(), trainable=False)
        with tflib.variable_scope('Layer'):
            return tflib.to_nchw(nets.apply_noise(x, noise_var, randomize_noise, fmt=fmt), fmt)

    x = np.random.RandomState(7).randn(5, 3, 4, 4)
    for fmt in ('NHWC', 'NCHW'):
        net = tflib.Network('Noise', func_name=build, fmt=fmt)
        assert own_shapes(net) == [('noise0', [1, 1, 4, 4]), ('Layer/Noise/weight', [3])]
        np.testing.assert_array_equal(net.run(x), x.astype(np.float32))  # The weights start at zero.
        weight = np.array([1.0, -2.0, 0.5])
        net.set_var('Layer/Noise/weight', weight)
        stored = net.run(x, randomize_noise=False) - x
        assert_close(stored, np.broadcast_to(net.get_var('noise0') * weight[None, :, None, None], x.shape), tol=1e-6)
        fresh = (net.run(x) - x) / weight[None, :, None, None]
        # One noise image per sample, the same for all feature maps, different between samples and calls.
        np.testing.assert_allclose(fresh, np.repeat(fresh[:, :1], 3, axis=1), atol=1e-5)
        assert np.abs(fresh[0, 0] - fresh[1, 0]).max() > 1e-2
        assert np.abs(fresh - ((net.run(x) - x) / weight[None, :, None, None])).max() > 1e-2


@pytest.mark.parametrize('f', [[1, 2, 1], [[1, 2, 0], [0, 1, 3], [1, 0, 4]]])
def test_blur_against_numpy(f):
    x = np.random.RandomState(8).randn(2, 3, 5, 6)
    expected = np_blur(x, f)
    for fmt in ('NHWC', 'NCHW'):
        got = tflib.to_nchw(layers.blur2d(tflib.nchw_to(tf.constant(x, tf.float32), fmt), f, fmt=fmt), fmt).numpy()
        assert_close(got, expected, tol=1e-5)
    with pytest.raises(ValueError, match='odd'):
        layers.blur2d(tf.zeros([1, 1, 4, 4]), [1, 1])


def upconv_build(x_in, size=8, fused_scale='auto', fmt='NHWC', **_kwargs):
    x = tflib.nchw_to(tflib.set_input_shape(x_in, [None, 2, size, size], 'x'), fmt)
    with tflib.variable_scope('Layer'):
        return tflib.to_nchw(layers.upscale2d_conv2d(x, fmaps=3, kernel=3, fused_scale=fused_scale, fmt=fmt), fmt)


@pytest.mark.parametrize('size,fused_scale,fused', [(8, True, True), (8, False, False), (64, 'auto', True), (32, 'auto', False)])
def test_upscale_conv_against_numpy(size, fused_scale, fused):
    rnd = np.random.RandomState(9)
    x = rnd.randn(2, 2, size, size)
    for fmt in ('NHWC', 'NCHW'):
        net = tflib.Network('Up', func_name=upconv_build, size=size, fused_scale=fused_scale, fmt=fmt)
        assert own_shapes(net) == [('Layer/weight', [3, 3, 2, 3])]
        w = ws(net.get_var('Layer/weight'), SQRT2)
        separate, one_op = np_conv(np_up(x), w), np_up_fused(x, w)
        assert np.abs(separate - one_op).max() > 1e-1  # The original's two forms differ: a flip of the kernel.
        assert_close(net.run(x), one_op if fused else separate)


def test_fused_downscale_conv_equals_separate_in_numpy():
    """D_basic computes one form for both: check in numpy that the original's fused and separate forms agree."""
    rnd = np.random.RandomState(10)
    x, w = rnd.randn(2, 2, 8, 8), rnd.randn(3, 3, 2, 3)
    np.testing.assert_allclose(np_down_fused(x, w), np_box(np_conv(x, w)), rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------
# G_style: truncation, style mixing, dlatent averaging.

def small_G(resolution=32, label_size=0, **kwargs):
    G = tflib.Network('G', func_name=nets.G_style, label_size=label_size, **dict(TINY, resolution=resolution, **kwargs))
    randomize(G, seed=11)
    return G


def capture_calls(monkeypatch, net):
    """Record the inputs of every get_output_for() call of a sub-network (which still runs)."""
    calls = []
    original = net.get_output_for

    def recording(*args, **kwargs):
        calls.append([x.numpy() for x in args])
        return original(*args, **kwargs)
    monkeypatch.setattr(net, 'get_output_for', recording)
    return calls


@pytest.mark.parametrize('kwargs,psi,cutoff', [
    ({}, 0.7, 8),                                                                       # Defaults: psi 0.7 below layer 8.
    (dict(truncation_psi=0.5, truncation_cutoff=3), 0.5, 3),
    (dict(truncation_psi=tf.constant(0.5)), 0.5, 8),                                    # A tensor is never known to be off.
    (dict(truncation_psi=0.5, truncation_cutoff=None), 1, 0),                           # No cutoff: no truncation.
    (dict(truncation_psi=None), 1, 0),
    (dict(truncation_psi=1.0), 1, 0),
    (dict(truncation_cutoff=0), 1, 0),
    (dict(is_validation=True), 1, 0),                                                   # *_val None: no truncation.
    (dict(is_validation=True, truncation_psi_val=0.2, truncation_cutoff_val=5), 0.2, 5),
    (dict(is_training=True, style_mixing_prob=None), 1, 0),
])
def test_truncation(monkeypatch, kwargs, psi, cutoff):
    G = small_G(resolution=64)  # 10 layers.
    avg = G.get_var('dlatent_avg')
    z = np.random.RandomState(12).randn(3, 8)
    w = G.components.mapping.run(z, None)
    dlatents = capture_calls(monkeypatch, G.components.synthesis)
    G.get_output_for(tf.constant(z, tf.float32), tf.zeros([3, 0]), randomize_noise=False, **kwargs)
    expected = w.copy()
    expected[:, :cutoff] = avg + (w[:, :cutoff] - avg) * psi
    assert_close(dlatents[-1][0], expected, tol=1e-5)


@pytest.mark.parametrize('lod,num_used', [(0.0, 8), (1.0, 6)])
def test_style_mixing(monkeypatch, lod, num_used):
    G = small_G(label_size=3)  # 8 layers.
    G.set_var('lod', lod)
    mapping = G.components.mapping.clone()  # Unrecorded.
    mapped = capture_calls(monkeypatch, G.components.mapping)
    dlatents = capture_calls(monkeypatch, G.components.synthesis)
    z, labels = np.random.RandomState(13).randn(4, 8).astype(np.float32), np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    crossovers = set()
    for seed in range(12):
        with tflib.reproducible_random([seed, 0]):
            G.get_output_for(tf.constant(z), tf.constant(labels), is_training=True, style_mixing_prob=1.0)
        (z1, labels1), (z2, labels2) = mapped[-2:]
        np.testing.assert_array_equal(z1, z)
        np.testing.assert_array_equal(labels2, labels1)  # The second latents get the same labels.
        w1, w2 = mapping.run(z1, labels), mapping.run(z2, labels)
        got = dlatents[-1][0]
        crossover = next(c for c in range(1, 8) if np.allclose(got[:, c], w2[:, c], rtol=1e-5, atol=1e-6))
        assert_close(got[:, :crossover], w1[:, :crossover], tol=1e-5)
        assert_close(got[:, crossover:], w2[:, crossover:], tol=1e-5)
        crossovers.add(crossover)
    assert crossovers <= set(range(1, num_used)) and len(crossovers) > 1  # U-int[1, layers used at this lod).
    G.get_output_for(tf.constant(z), tf.constant(labels), is_training=True, style_mixing_prob=0.0)
    assert_close(dlatents[-1][0], mapping.run(z, labels), tol=1e-5)


def test_training_mode_tracks_dlatent_avg():
    G = small_G()
    avg = G.get_var('dlatent_avg')
    z = np.random.RandomState(14).randn(4, 8).astype(np.float32)
    batch_mean = G.components.mapping.run(z, None)[:, 0].mean(axis=0)
    G.get_output_for(tf.constant(z), tf.zeros([4, 0]), is_training=True)
    assert_close(G.get_var('dlatent_avg'), batch_mean + (avg - batch_mean) * 0.995, tol=1e-5)
    G.get_output_for(tf.constant(z), tf.zeros([4, 0]))  # Not training: no update.
    assert_close(G.get_var('dlatent_avg'), batch_mean + (avg - batch_mean) * 0.995, tol=1e-5)


# ----------------------------------------------------------------------------
# Progressive growing: the lod blend, skipping inactive levels, layouts.

def test_generator_lod_blend_against_numpy():
    G = small_G(resolution=16)
    syn = G.components.synthesis
    dlatents = np.random.RandomState(15).randn(2, 6, 8)
    rgb = np_synthesis_levels(values(syn), dlatents, 4)
    expected = {0.0: rgb[4], 0.5: 0.5 * rgb[4] + 0.5 * np_up(rgb[3]), 1.0: np_up(rgb[3]),
                1.5: np_up(0.5 * rgb[3] + 0.5 * np_up(rgb[2])), 2.0: np_up(rgb[2], 4)}
    for lod, image in expected.items():
        syn.set_var('lod', lod)
        for min_lod in range(int(lod) + 1):
            assert_close(syn.run(dlatents, randomize_noise=False, min_lod=min_lod), image)
    # G_style hands its own lod to the synthesis network.
    G.set_var('lod', 1.0)
    z = np.random.RandomState(16).randn(2, 8)
    rgb = np_synthesis_levels(values(syn), G.components.mapping.run(z, None), 4)
    assert_close(G.run(z, None, truncation_psi=None, randomize_noise=False), np_up(rgb[3]))


@pytest.mark.parametrize('lod', [0.0, 0.5, 1.0, 1.5])
def test_discriminator_lod_blend_against_numpy(lod):
    D = tflib.Network('D', func_name=nets.D_basic, num_channels=3, resolution=16, label_size=0, fmap_base=64, fmap_max=4)
    randomize(D, seed=17, scale=0.5)
    D.set_var('lod', lod)
    images = np.random.RandomState(18).randn(4, 3, 16, 16)
    expected = np_discriminator(values(D), images, None, 4, lod=lod)
    for min_lod in range(int(lod) + 1):
        assert_close(D.run(images, None, min_lod=min_lod), expected)


def test_nchw_and_nhwc_agree():
    G = {fmt: small_G(resolution=16, data_format=fmt, fused_scale=True) for fmt in ('NCHW', 'NHWC')}
    D = {fmt: tflib.Network('D', func_name=nets.D_basic, num_channels=3, resolution=16, label_size=2, fmap_base=64,
                            fmap_max=4, data_format=fmt) for fmt in ('NCHW', 'NHWC')}
    for nets_by_fmt in (G, D):
        randomize(nets_by_fmt['NCHW'], seed=19, scale=0.5)
        nets_by_fmt['NHWC'].copy_vars_from(nets_by_fmt['NCHW'])
        for net in nets_by_fmt.values():
            net.set_var('lod', 0.5)
    z, labels = np.random.RandomState(20).randn(4, 8), np.eye(2)[[0, 1, 1, 0]]
    images = G['NCHW'].run(z, np.zeros([4, 0]), randomize_noise=False)
    assert_close(G['NHWC'].run(z, np.zeros([4, 0]), randomize_noise=False), images, tol=1e-5)
    assert_close(D['NHWC'].run(images, labels), D['NCHW'].run(images, labels), tol=1e-5)
