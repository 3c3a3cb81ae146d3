"""StyleGAN2 networks: variable names/shapes, parameter counts, modulated convolution, truncation.

Expected names, shapes and counts are written out here from the layout of NVIDIA's networks_stylegan2.py
(G_main, G_mapping, G_synthesis_stylegan2, D_stylegan2) and its published parameter counts, not taken from our code.
"""

import numpy as np
import pytest
import tensorflow as tf

import dnnlib.tflib as tflib
from training import networks_stylegan2 as nets
from small_networks import SMALL_G


def nf_expected(fmap_base, stage):
    return int(min(max(fmap_base // 2 ** stage, 1), 512))


def modconv_vars(name, k, fin, fout, dlatent=512, noise=True):
    v = [(f'{name}/weight', [k, k, fin, fout]), (f'{name}/mod_weight', [dlatent, fin]), (f'{name}/mod_bias', [fin])]
    if noise:
        v.append((f'{name}/noise_strength', []))
    return v + [(f'{name}/bias', [fout])]


def expected_synthesis_vars(res, fmap_base, arch, channels=3):
    R = int(np.log2(res))
    nf = lambda s: nf_expected(fmap_base, s)  # noqa: E731
    v = [(f'noise{i}', [1, 1, 2 ** ((i + 5) // 2), 2 ** ((i + 5) // 2)]) for i in range(2 * R - 3)]
    v += [('4x4/Const/const', [1, nf(1), 4, 4])] + modconv_vars('4x4/Conv', 3, nf(1), nf(1))
    if arch == 'skip':
        v += modconv_vars('4x4/ToRGB', 1, nf(1), channels, noise=False)
    for r in range(3, R + 1):
        s = f'{2 ** r}x{2 ** r}'
        v += modconv_vars(f'{s}/Conv0_up', 3, nf(r - 2), nf(r - 1)) + modconv_vars(f'{s}/Conv1', 3, nf(r - 1), nf(r - 1))
        if arch == 'resnet':
            v += [(f'{s}/Skip/weight', [1, 1, nf(r - 2), nf(r - 1)])]
        if arch == 'skip' or r == R:
            v += modconv_vars(f'{s}/ToRGB', 1, nf(r - 1), channels, noise=False)
    return v


def expected_discriminator_vars(res, fmap_base, arch, channels=3, label_size=0):
    R = int(np.log2(res))
    nf = lambda s: nf_expected(fmap_base, s)  # noqa: E731
    v = []
    for r in range(R, 2, -1):
        s = f'{2 ** r}x{2 ** r}'
        if arch == 'skip' or r == R:
            v += [(f'{s}/FromRGB/weight', [1, 1, channels, nf(r - 1)]), (f'{s}/FromRGB/bias', [nf(r - 1)])]
        v += [(f'{s}/Conv0/weight', [3, 3, nf(r - 1), nf(r - 1)]), (f'{s}/Conv0/bias', [nf(r - 1)]),
              (f'{s}/Conv1_down/weight', [3, 3, nf(r - 1), nf(r - 2)]), (f'{s}/Conv1_down/bias', [nf(r - 2)])]
        if arch == 'resnet':
            v += [(f'{s}/Skip/weight', [1, 1, nf(r - 1), nf(r - 2)])]
    if arch == 'skip':
        v += [('4x4/FromRGB/weight', [1, 1, channels, nf(1)]), ('4x4/FromRGB/bias', [nf(1)])]
    v += [('4x4/Conv/weight', [3, 3, nf(1) + 1, nf(1)]), ('4x4/Conv/bias', [nf(1)]),
          ('4x4/Dense0/weight', [16 * nf(1), nf(0)]), ('4x4/Dense0/bias', [nf(0)]),
          ('Output/weight', [nf(0), max(label_size, 1)]), ('Output/bias', [max(label_size, 1)])]
    return v


def expected_mapping_vars(label_size=0):
    v = [('LabelConcat/weight', [label_size, 512])] if label_size else []
    for i in range(8):
        v += [(f'Dense{i}/weight', [1024 if (i == 0 and label_size) else 512, 512]), (f'Dense{i}/bias', [512])]
    return v


def own_shapes(net):
    return [(name, var.shape.as_list()) for name, var in net.own_vars.items()]


@pytest.mark.parametrize('res,fmap_base,arch', [(32, 8 << 10, 'skip'), (64, 16 << 10, 'skip'),
                                                (32, 16 << 10, 'resnet'), (16, 8 << 10, 'orig')])
def test_generator_variable_names_and_shapes(res, fmap_base, arch):
    G = tflib.Network('G', func_name=nets.G_main, num_channels=3, resolution=res, label_size=0,
                      fmap_base=fmap_base, architecture=arch)
    assert own_shapes(G) == [('lod', []), ('dlatent_avg', [512])]
    assert sorted(G.components.keys()) == ['mapping', 'synthesis']
    assert G.components.synthesis.name == 'G_synthesis' and G.components.mapping.name == 'G_mapping'
    assert own_shapes(G.components.synthesis) == expected_synthesis_vars(res, fmap_base, arch)
    assert own_shapes(G.components.mapping) == expected_mapping_vars()
    assert G.components.mapping.static_kwargs['dlatent_broadcast'] == 2 * int(np.log2(res)) - 2
    assert 'G_synthesis/4x4/Conv/mod_weight' in G.vars and 'G_mapping/Dense0/bias' in G.vars
    assert G.input_shapes == [[None, 512], [None, 0]] and G.output_shape == [None, 3, res, res]


@pytest.mark.parametrize('res,fmap_base,arch,label_size', [(32, 8 << 10, 'resnet', 0), (64, 16 << 10, 'skip', 0),
                                                           (16, 8 << 10, 'orig', 5)])
def test_discriminator_variable_names_and_shapes(res, fmap_base, arch, label_size):
    D = tflib.Network('D', func_name=nets.D_stylegan2, num_channels=3, resolution=res, label_size=label_size,
                      fmap_base=fmap_base, architecture=arch)
    assert own_shapes(D) == expected_discriminator_vars(res, fmap_base, arch, label_size=label_size)


def test_conditional_mapping_variables():
    G = tflib.Network('G', func_name=nets.G_main, num_channels=1, resolution=8, label_size=7, fmap_base=256)
    assert own_shapes(G.components.mapping) == expected_mapping_vars(label_size=7)
    assert G.output_shape == [None, 1, 8, 8]


def test_parameter_counts_1024_config_f():
    G = tflib.Network('G', func_name='training.networks_stylegan2.G_main', num_channels=3, resolution=1024, label_size=0)
    D = tflib.Network('D', func_name='training.networks_stylegan2.D_stylegan2', num_channels=3, resolution=1024, label_size=0)
    count = lambda net: sum(int(np.prod(v.shape.as_list())) for v in net.trainables.values())  # noqa: E731
    assert count(G) == 30370060
    assert count(G.components.synthesis) == 28268812
    assert count(D) == 29012513


# ----------------------------------------------------------------------------
# Modulated convolution against an explicit per-sample convolution in numpy.

def np_correlate_same(x, w):
    """x [C,H,W], w [k,k,I,O] -> [O,H,W], zero 'SAME' padding, cross-correlation (TF conv2d)."""
    k = w.shape[0]
    p = k // 2
    xp = np.pad(x, [(0, 0), (p, p), (p, p)])
    out = np.zeros([w.shape[3], x.shape[1], x.shape[2]])
    for dy in range(k):
        for dx in range(k):
            patch = xp[:, dy:dy + x.shape[1], dx:dx + x.shape[2]]
            out += np.einsum('ihw,io->ohw', patch, w[dy, dx])
    return out


def np_upsample_conv(x, w):
    """StyleGAN2 up-conv: transposed stride-2 conv (zero-insert, pad k-1, correlate), then FIR [1,3,3,1]."""
    C, H, W = x.shape
    k = w.shape[0]
    z = np.zeros([C, 2 * H - 1, 2 * W - 1])
    z[:, ::2, ::2] = x
    zp = np.pad(z, [(0, 0), (k - 1, k - 1), (k - 1, k - 1)])
    oh = zp.shape[1] - k + 1
    y = np.zeros([w.shape[3], oh, oh])
    for dy in range(k):
        for dx in range(k):
            y += np.einsum('ihw,io->ohw', zp[:, dy:dy + oh, dx:dx + oh], w[dy, dx])
    f = np.array([1, 3, 3, 1], np.float64)
    f = np.outer(f, f) / 64 * 4  # Normalized, times factor^2 for upsampling.
    yp = np.pad(y, [(0, 0), (1, 1), (1, 1)])
    n = yp.shape[1] - 4 + 1
    out = np.zeros([y.shape[0], n, n])
    for dy in range(4):
        for dx in range(4):
            out += yp[:, dy:dy + n, dx:dx + n] * f[3 - dy, 3 - dx]  # True convolution: flipped taps.
    return out


def modconv_build(x_in, y_in, in_fmaps=4, fmaps=5, kernel=3, up=False, demodulate=True, fused=True, fmt='NHWC', **_kwargs):
    x = tflib.nchw_to(tflib.set_input_shape(x_in, [None, in_fmaps, 8, 8], 'x'), fmt)
    y = tflib.set_input_shape(y_in, [None, 6], 'y')
    with tflib.variable_scope('Layer'):
        out = nets.modulated_conv2d_layer(x, y, fmaps=fmaps, kernel=kernel, up=up, demodulate=demodulate,
                                          resample_kernel=[1, 3, 3, 1], fused_modconv=fused, fmt=fmt)
    return tflib.to_nchw(out, fmt)


@pytest.mark.parametrize('fused', [True, False])
@pytest.mark.parametrize('up,demodulate,kernel', [(False, True, 3), (False, False, 1), (True, True, 3)])
def test_modulated_conv_matches_per_sample_convolution(fused, up, demodulate, kernel):
    net = tflib.Network('M', func_name=modconv_build, kernel=kernel, up=up, demodulate=demodulate, fused=fused)
    rnd = np.random.RandomState(1)
    for name, var in net.own_vars.items():
        var.assign(rnd.randn(*var.shape.as_list()).astype(np.float32))
    x = rnd.randn(3, 4, 8, 8)
    y = rnd.randn(3, 6)
    got = net.run(x, y)

    w = net.get_var('Layer/weight').astype(np.float64) / np.sqrt(kernel * kernel * 4)  # He constant, gain 1.
    s = y @ (net.get_var('Layer/mod_weight') / np.sqrt(6)) + net.get_var('Layer/mod_bias') + 1
    for i in range(3):
        wi = w * s[i][np.newaxis, np.newaxis, :, np.newaxis]
        if demodulate:
            wi = wi / np.sqrt(np.sum(wi ** 2, axis=(0, 1, 2)) + 1e-8)
        expected = np_upsample_conv(x[i], wi) if up else np_correlate_same(x[i], wi)
        np.testing.assert_allclose(got[i], expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


# ----------------------------------------------------------------------------
# Generator behaviour: truncation, dlatents, noise.

def small_G(**kwargs):
    return tflib.Network('G', func_name=nets.G_main, **dict(SMALL_G, **kwargs))


def test_truncation_and_dlatents():
    G = small_G()
    avg = np.random.RandomState(0).randn(16).astype(np.float32)
    G.set_var('dlatent_avg', avg)
    z = np.random.RandomState(1).randn(2, 16)
    w = G.components.mapping.run(z, None)
    assert w.shape == (2, 6, 16)
    _, dl_full = G.run(z, None, truncation_psi=1.0, return_dlatents=True, randomize_noise=False)
    np.testing.assert_allclose(dl_full, w, rtol=1e-5, atol=1e-6)
    _, dl_half = G.run(z, None, return_dlatents=True, randomize_noise=False)  # G_main default: psi 0.5, all layers.
    np.testing.assert_allclose(dl_half, avg + (w - avg) * 0.5, rtol=1e-5, atol=1e-5)
    _, dl_cut = G.run(z, None, truncation_psi=0.7, truncation_cutoff=2, return_dlatents=True, randomize_noise=False)
    np.testing.assert_allclose(dl_cut[:, :2], avg + (w[:, :2] - avg) * 0.7, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dl_cut[:, 2:], w[:, 2:], rtol=1e-5, atol=1e-6)
    _, dl_val = G.run(z, None, is_validation=True, return_dlatents=True, randomize_noise=False)
    np.testing.assert_allclose(dl_val, w, rtol=1e-5, atol=1e-6)  # *_val default None: no truncation.


def test_synthesis_equals_generator_on_mapped_dlatents_and_noise_modes():
    G = small_G(architecture='resnet')
    for name, var in G.components.synthesis.own_vars.items():
        if name.endswith('noise_strength'):
            var.assign(0.5)
    z = np.random.RandomState(2).randn(3, 16)
    img_g = G.run(z, None, truncation_psi=1.0, randomize_noise=False)
    img_s = G.components.synthesis.run(G.components.mapping.run(z, None), randomize_noise=False)
    np.testing.assert_allclose(img_g, img_s, rtol=1e-5, atol=1e-5)
    again = G.components.synthesis.run(G.components.mapping.run(z, None), randomize_noise=False)
    np.testing.assert_array_equal(img_s, again)
    random1 = G.run(z, None, truncation_psi=1.0, randomize_noise=True)
    assert np.abs(random1 - img_g).max() > 1e-3  # Fresh noise with non-zero strength changes the image.


def test_reproducible_random_gives_the_same_noise_and_mixing_for_the_same_seed():
    G = small_G(style_mixing_prob=0.9)
    for name, var in G.components.synthesis.own_vars.items():
        if name.endswith('noise_strength'):
            var.assign(0.5)
    z = tf.constant(np.random.RandomState(4).randn(3, 16), tf.float32)

    def generate(seed):
        # A new tf.function each time: a fresh trace and fresh random ops, as in a resumed process.
        def f(seed):
            with tflib.reproducible_random(seed):
                return G.get_output_for(z, tf.zeros([3, 0]), is_training=True, randomize_noise=True)
        return tf.function(f)(tf.constant(seed, tf.int64)).numpy()

    first = generate([1, 2])
    np.testing.assert_array_equal(generate([1, 2]), first)
    assert np.abs(generate([1, 3]) - first).max() > 1e-3
    # Outside a scope, noise is TensorFlow's stateful random: two calls differ.
    fresh = [G.get_output_for(z, tf.zeros([3, 0]), randomize_noise=True).numpy() for _ in range(2)]
    assert np.abs(fresh[0] - fresh[1]).max() > 1e-3


def test_training_mode_tracks_dlatent_avg():
    G = small_G()
    z = np.random.RandomState(3).randn(4, 16).astype(np.float32)
    w0 = G.components.mapping.run(z, None)[:, 0]
    G.get_output_for(tf.constant(z), tf.zeros([4, 0]), is_training=True)
    np.testing.assert_allclose(G.get_var('dlatent_avg'), w0.mean(axis=0) * (1 - 0.995), rtol=1e-4, atol=1e-7)


def test_moving_average_clone_and_copy():
    G = small_G()
    Gs = G.clone('Gs')
    assert Gs.name == 'Gs' and list(Gs.vars) == list(G.vars)
    name_t, name_n = 'G_synthesis/8x8/Conv1/weight', 'G_synthesis/noise1'
    g_t, g_n = G.get_var(name_t), G.get_var(name_n)
    G.set_var(name_t, g_t + 1.0)  # A clone owns its variables: changing G leaves Gs alone.
    G.set_var(name_n, g_n * 3.0)
    G.set_var('dlatent_avg', np.ones(16))
    np.testing.assert_array_equal(Gs.get_var(name_t), g_t)
    Gs.setup_as_moving_average_of(G, beta=0.9)
    np.testing.assert_allclose(Gs.get_var(name_t), (g_t + 1.0) + (g_t - (g_t + 1.0)) * 0.9, rtol=1e-6)
    np.testing.assert_array_equal(Gs.get_var(name_n), g_n * 3.0)  # Non-trainable: copied.
    np.testing.assert_array_equal(Gs.get_var('dlatent_avg'), np.ones(16))
    other = small_G()
    other.copy_vars_from(G)
    for name in G.vars:
        np.testing.assert_array_equal(other.get_var(name), G.get_var(name))


def test_print_layers_totals(capsys):
    G = small_G()
    G.print_layers()
    out = capsys.readouterr().out
    total = sum(int(np.prod(v.shape.as_list())) for v in G.trainables.values())
    assert 'Total' in out and str(total) in out.splitlines()[-2]
    assert 'G_synthesis/8x8/Conv0_up' in out and 'G_mapping/Dense1' in out


def test_progressive_config_b_to_d_networks():
    """G_synthesis_stylegan_revised + D_stylegan: progressive names, and `lod` blends resolutions."""
    G = small_G(synthesis_func='G_synthesis_stylegan_revised')
    syn = G.components.synthesis
    names = list(syn.own_vars)
    assert names[0] == 'lod' and names[1:6] == ['noise0', 'noise1', 'noise2', 'noise3', 'noise4']
    assert [n for n in names if 'ToRGB' in n and n.endswith('/weight')] == ['ToRGB_lod2/weight', 'ToRGB_lod1/weight', 'ToRGB_lod0/weight']
    assert syn.own_vars['ToRGB_lod1/weight'].shape.as_list() == [1, 1, nf_expected(64, 2), 3]  # 8x8 block: nf(2).

    z = np.random.RandomState(8).randn(2, 16)
    full = G.run(z, None, truncation_psi=1.0, randomize_noise=False)
    G.set_var('lod', 1.0)  # G_main copies its lod into the synthesis network.
    coarse = G.run(z, None, truncation_psi=1.0, randomize_noise=False)
    # An 8x8 image, nearest-upsampled (equal up to the rounding of the blend img + (up(img8) - img) * 1).
    np.testing.assert_allclose(coarse[:, :, 0::2, 0::2], coarse[:, :, 1::2, 1::2], rtol=0, atol=1e-6)
    assert np.abs(full[:, :, 0::2, 0::2] - full[:, :, 1::2, 1::2]).max() > 1e-2
    G.set_var('lod', 0.5)
    half = G.run(z, None, truncation_psi=1.0, randomize_noise=False)
    np.testing.assert_allclose(half, (full + coarse) / 2, rtol=1e-4, atol=1e-5)

    D = tflib.Network('D', func_name=nets.D_stylegan, num_channels=3, resolution=16, label_size=0, fmap_base=64)
    assert [n for n in D.own_vars if 'FromRGB' in n] == ['FromRGB_lod0/weight', 'FromRGB_lod0/bias', 'FromRGB_lod1/weight',
                                                         'FromRGB_lod1/bias', 'FromRGB_lod2/weight', 'FromRGB_lod2/bias']
    images = np.random.RandomState(9).randn(4, 3, 16, 16)
    D.set_var('lod', 1.0)
    # At lod 1 the discriminator sees only the 8x8 box-downsampled image.
    blocky = images.reshape(4, 3, 8, 2, 8, 2).mean(axis=(3, 5)).repeat(2, axis=2).repeat(2, axis=3)
    np.testing.assert_allclose(D.run(images, None), D.run(blocky, None), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('lod', [0.0, 0.5, 1.0, 1.5, 2.0])
def test_skipping_inactive_levels_equals_the_full_blend(lod):
    """min_lod = floor(lod) builds only the levels lod uses (the original's 'recursive' structure): same images,
    scores and gradients as the full 'linear' blend of every level."""
    G = small_G(synthesis_func='G_synthesis_stylegan_revised', resolution=32)
    D = tflib.Network('D', func_name=nets.D_stylegan, num_channels=3, resolution=32, label_size=0, fmap_base=64)
    rnd = np.random.RandomState(10)
    for net in (G, D):
        for name, var in net.vars.items():
            if name.endswith('/bias'):
                var.assign(np.float32(rnd.randn(*var.shape.as_list()) * 0.1))
        net.set_var('lod', lod)
    z, c = tf.constant(rnd.randn(4, 16), tf.float32), tf.zeros([4, 0])
    reals = tf.constant(rnd.randn(4, 3, 32, 32), tf.float32)
    names = [f'G/{k}' for k in G.trainables] + [f'D/{k}' for k in D.trainables]
    variables = list(G.trainables.values()) + list(D.trainables.values())

    def run(min_lod):
        with tf.GradientTape() as tape:
            fakes = G.get_output_for(z, c, is_training=True, style_mixing_prob=None, randomize_noise=False, min_lod=min_lod)
            scores = D.get_output_for(fakes, c, min_lod=min_lod) + D.get_output_for(reals, c, min_lod=min_lod)
            loss = tf.reduce_sum(tf.square(scores))
        grads = tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return fakes.numpy(), scores.numpy(), dict(zip(names, [g.numpy() for g in grads]))

    full, skipped = run(0), run(int(np.floor(lod)))
    np.testing.assert_allclose(skipped[0], full[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(skipped[1], full[1], rtol=1e-4, atol=1e-5)
    for name, expected in full[2].items():
        np.testing.assert_allclose(skipped[2][name], expected, rtol=1e-3, atol=1e-5 * max(1.0, np.abs(expected).max()), err_msg=name)
    # At lod >= 1 the full blend gives the 32x32 layers no gradient: they are the ones skipped.
    assert np.any(full[2]['G/G_synthesis/32x32/Conv1/weight']) == (lod < 1)
    assert np.any(full[2]['D/32x32/Conv0/weight']) == (lod < 1)
