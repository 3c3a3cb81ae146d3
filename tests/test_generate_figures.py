"""generate_figures.py: each figure's canvas has the size of NVIDIA's layout for the network's image size, and its
tiles are the images this test computes itself from the networks (mapping, truncation, style mixing and noise
maps done by hand in numpy). Tiny networks: a 64x64 StyleGAN (10 layers, so every style and noise range of the
figures has layers) and the 16x16 StyleGAN2 of small_networks (6 layers: the ranges are clipped)."""

import os

import numpy as np
import PIL.Image
import pytest

import dnnlib.tflib as tflib
import generate_figures
from small_networks import make_family_networks, make_networks
from training import misc

FIVE = ['figure02-uncurated-ffhq', 'figure03-style-mixing', 'figure04-noise-detail', 'figure05-noise-components',
        'figure08-truncation-trick']


@pytest.fixture(scope='module', autouse=True)
def reference_ops():
    """The StyleGAN2 networks' ops in plain TensorFlow: no kernel build (half a minute) for this file alone."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('STYLEGAN2_OPS_IMPL', 'ref')
        yield


def make_stylegan_64():
    """(G, D, Gs): StyleGAN (v1) at 64x64 with few feature maps, non-zero noise weights and biases."""
    kwargs = dict(num_channels=3, resolution=64, label_size=0, fmap_base=32, fmap_max=8)
    G = tflib.Network('G', func_name='training.networks_stylegan.G_style', latent_size=8, dlatent_size=8,
                      mapping_fmaps=8, mapping_layers=2, **kwargs)
    D = tflib.Network('D', func_name='training.networks_stylegan.D_basic', **kwargs)
    rnd = np.random.RandomState(11)
    for name, var in G.vars.items():
        if name.endswith('Noise/weight'):
            var.assign(np.full(var.shape.as_list(), 0.3, np.float32))
        if name.endswith('dlatent_avg') or name.endswith('/bias'):
            var.assign(np.float32(rnd.randn(*var.shape.as_list()) * 0.1))
    return G, D, G.clone('Gs')


@pytest.fixture(scope='module')
def nets():
    return {'stylegan': make_stylegan_64()[2], 'stylegan2': make_networks()[2]}


def quiet(Gs):
    """A clone without noise (weights 0): what randomize_noise=True draws then changes nothing."""
    Gq = Gs.clone()
    for name, var in Gq.vars.items():
        if name.endswith('Noise/weight') or name.endswith('noise_strength'):
            var.assign(np.zeros(var.shape.as_list(), np.float32))
    return Gq


def to_uint8(images_nchw):
    """NVIDIA's convert_images_to_uint8 written out: [-1, 1] -> floor(x * 127.5 + 128), saturated, NHWC."""
    return np.clip(np.floor(images_nchw * 127.5 + 128.0), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def synth(Gs, dlatents):
    return to_uint8(Gs.components.synthesis.run(np.asarray(dlatents, np.float32), randomize_noise=False))


def seeds_w(Gs, seeds):
    z = np.stack([np.random.RandomState(seed).randn(Gs.input_shape[1]) for seed in seeds])
    return Gs.components.mapping.run(z, None)


def draw(name, Gs, tmp_path):
    """Draw one of the script's figures for Gs; the canvas as an HWC array."""
    png = str(tmp_path / (name + '.png'))
    _n, _c, h, w = Gs.output_shape
    generate_figures.FIGURES[name](png, Gs, w, h)
    return np.asarray(PIL.Image.open(png))


def draw_with(func, Gs, tmp_path, **settings):
    png = str(tmp_path / 'figure.png')
    func(png, Gs, **settings)
    return np.asarray(PIL.Image.open(png))


def assert_close(got, expected):
    """Equal but for a rounding of values at .5 (1 level)."""
    assert got.shape == expected.shape
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


def test_figure_names():
    for name in ('3', '03', 'style-mixing', 'figure03-style-mixing', 'Figure03-Style-Mixing.png', ' 3 '):
        assert generate_figures.parse_figures(name) == (['figure03-style-mixing'], []), name
    assert generate_figures.parse_figures(generate_figures.DEFAULT_FIGURES) == (FIVE, [])
    assert generate_figures.parse_figures('12,11,uncurated-bedrooms,12') == (
        ['figure12-uncurated-cats', 'figure11-uncurated-cars', 'figure10-uncurated-bedrooms'], [])
    assert generate_figures.parse_figures('3,13,,figure03') == (['figure03-style-mixing'], ['13', '', 'figure03'])
    assert generate_figures.noise_detail_box(1024, 1024) == (650, 180, 906, 436)
    assert generate_figures.noise_detail_box(512, 512) == (325, 90, 453, 218)
    assert generate_figures.noise_detail_box(64, 64) == (41, 11, 57, 27)


def uncurated_expected(Gs, seed, count):
    """Gs.run's defaults for StyleGAN, by hand: psi 0.7 on the layers below 8, the stored noise (weights 0 here)."""
    z = np.random.RandomState(seed).randn(count, Gs.input_shape[1])
    w = Gs.components.mapping.run(z, None)
    avg = Gs.get_var('dlatent_avg')
    psi = np.where(np.arange(w.shape[1]) < 8, 0.7, 1.0)[np.newaxis, :, np.newaxis]
    return synth(Gs, avg + (w - avg) * psi)


def check_uncurated(canvas, images, cx, cy, cw, ch, rows, lods):
    assert canvas.shape == (ch * rows, sum(cw // 2 ** lod for lod in lods), 3)  # NVIDIA's canvas size.
    index, x = 0, 0
    for lod in lods:
        tw, th = cw // 2 ** lod, ch // 2 ** lod
        for row in range(rows * 2 ** lod):
            tile = PIL.Image.fromarray(images[index][cy:cy + ch, cx:cx + cw]).resize((tw, th), PIL.Image.LANCZOS)
            assert_close(canvas[row * th:(row + 1) * th, x:x + tw], np.asarray(tile))
            index += 1
        x += tw
    assert index == len(images)


def test_uncurated_figures(nets, tmp_path):
    Gs = quiet(nets['stylegan'])
    # FFHQ's 1024x1024 crop and the cars' 512x384 crop do not fit 64x64 images: the whole image instead.
    canvas = draw('figure02-uncurated-ffhq', Gs, tmp_path)
    assert canvas.shape == (3 * 64, 64 + 32 + 16 + 16 + 8 + 8, 3)
    check_uncurated(canvas, uncurated_expected(Gs, 5, 3 * (1 + 2 + 4 + 4 + 8 + 8)), 0, 0, 64, 64, 3, [0, 1, 2, 2, 3, 3])
    canvas = draw('figure11-uncurated-cars', Gs, tmp_path)
    check_uncurated(canvas, uncurated_expected(Gs, 2, 4 * 27), 0, 0, 64, 64, 4, [0, 1, 2, 2, 3, 3])
    # A crop that fits is taken, the cars' way (a 4:3 band).
    canvas = draw_with(generate_figures.draw_uncurated_result_figure, Gs, tmp_path, cx=0, cy=8, cw=64, ch=48, rows=2,
                       lods=[0, 1, 2], seed=2)
    check_uncurated(canvas, uncurated_expected(Gs, 2, 2 * 7), 0, 8, 64, 48, 2, [0, 1, 2])


def test_uncurated_uses_random_noise(nets, tmp_path):
    """With noise, two drawings differ (Gs.run's default randomize_noise=True) but keep the layout."""
    first = draw('figure12-uncurated-cats', nets['stylegan'], tmp_path)
    second = draw('figure12-uncurated-cats', nets['stylegan'], tmp_path)
    assert first.shape == second.shape == (5 * 64, 2 * 64 + 2 * 32 + 3 * 16, 3)
    assert (first != second).any()


@pytest.mark.parametrize('family', ['stylegan', 'stylegan2'])
def test_style_mixing_figure(nets, family, tmp_path):
    Gs = nets[family]
    size = Gs.output_shape[3]
    num_layers = Gs.components.synthesis.input_shape[1]
    src_seeds, dst_seeds = [639, 701, 687, 615, 2268], [888, 829, 1898, 1733, 1614, 845]
    ranges = [range(0, 4)] * 3 + [range(4, 8)] * 2 + [range(8, 18)]
    canvas = draw('figure03-style-mixing', Gs, tmp_path)
    assert canvas.shape == (size * 7, size * 6, 3)
    assert (canvas[:size, :size] == 255).all()  # White corner.

    src_w, dst_w = seeds_w(Gs, src_seeds), seeds_w(Gs, dst_seeds)

    def tile(row, col):
        return canvas[row * size:(row + 1) * size, col * size:(col + 1) * size]

    for col, image in enumerate(synth(Gs, src_w)):
        assert_close(tile(0, col + 1), image)
    dst_images = synth(Gs, dst_w)
    for row in range(6):
        assert_close(tile(row + 1, 0), dst_images[row])
        mixed = np.stack([dst_w[row]] * 5)
        for layer in range(num_layers):
            if layer in ranges[row]:
                mixed[:, layer] = src_w[:, layer]
        for col, image in enumerate(synth(Gs, mixed)):
            assert_close(tile(row + 1, col + 1), image)
            if family == 'stylegan2' and row == 5:  # Layers 8-17 are past its 6: nothing mixed.
                assert_close(tile(row + 1, col + 1), dst_images[row])


def test_noise_detail_layout(nets, tmp_path):
    """Without noise every draw is the same image: its copy, four magnified details and a zero deviation."""
    Gs = quiet(nets['stylegan'])
    canvas = draw('figure04-noise-detail', Gs, tmp_path)
    assert canvas.shape == (64 * 2, 64 * 3, 3)
    for row, image in enumerate(synth(Gs, seeds_w(Gs, [1157, 1012]))):  # psi = 1: the mapping's own W.
        cell = canvas[row * 64:(row + 1) * 64]
        assert_close(cell[:, :64], image)
        detail = image[11:27, 41:57].repeat(2, axis=0).repeat(2, axis=1)  # Box (41, 11, 57, 27), nearest 2x.
        for i in range(4):
            y, x = (i // 2) * 32, 64 + (i % 2) * 32
            assert_close(cell[y:y + 32, x:x + 32], detail)
        assert (cell[:, 128:] == 0).all()


class ImageSource:
    """Stands for Gs in the noise detail figure: returns given random images and records how it was run."""

    def __init__(self, size, seed):
        self.input_shape = [None, 8]
        self.size = size
        self.rnd = np.random.RandomState(seed)
        self.calls = []

    def run(self, latents, labels, **kwargs):
        images = self.rnd.randint(0, 256, [len(latents), self.size, self.size, 3]).astype(np.uint8)
        self.calls.append((latents, labels, kwargs, images))
        return images


def test_noise_detail_deviation(tmp_path):
    source = ImageSource(16, 3)
    canvas = draw_with(generate_figures.draw_noise_detail_figure, source, tmp_path, w=16, h=16, num_samples=10, seeds=[5, 6])
    assert canvas.shape == (32, 48, 3)
    for row, (seed, (latents, labels, kwargs, images)) in enumerate(zip([5, 6], source.calls)):
        assert labels is None and kwargs['truncation_psi'] == 1 and kwargs.get('randomize_noise', True)
        np.testing.assert_array_equal(latents, np.stack([np.random.RandomState(seed).randn(8)] * 10))
        cell = canvas[row * 16:(row + 1) * 16]
        np.testing.assert_array_equal(cell[:, :16], images[0])
        for i in range(4):  # Draws 1-4, box (10, 3, 14, 7) of 16x16, nearest 2x.
            y, x = (i // 2) * 8, 16 + (i % 2) * 8
            np.testing.assert_array_equal(cell[y:y + 8, x:x + 8], images[i + 1][3:7, 10:14].repeat(2, 0).repeat(2, 1))
        gray = images.astype(np.float64).mean(axis=3)
        deviation = np.clip(np.sqrt(((gray - gray.mean(axis=0)) ** 2).mean(axis=0)) * 4 + 0.5, 0, 255).astype(np.uint8)
        for channel in range(3):
            np.testing.assert_array_equal(cell[:, 32:, channel], deviation)


@pytest.mark.parametrize('family', ['stylegan', 'stylegan2'])
def test_noise_components_figure(nets, family, tmp_path):
    Gs = nets[family]
    size = Gs.output_shape[3]
    syn = Gs.components.synthesis
    noise_names = sorted((name for name in syn.vars if name.startswith('noise') and name[5:].isdigit()), key=lambda n: int(n[5:]))
    assert len(noise_names) == {'stylegan': 10, 'stylegan2': 5}[family]
    stored = {name: syn.get_var(name) for name in noise_names}
    canvas = draw('figure05-noise-components', Gs, tmp_path)
    assert canvas.shape == (size * 2, size * 2, 3)
    for name in noise_names:  # The figure zeroed the noise of a clone, not of Gs.
        np.testing.assert_array_equal(syn.get_var(name), stored[name])

    w = seeds_w(Gs, [1967, 1555])  # psi = 1
    Gt = Gs.clone()
    images = []
    for layers in (range(0, 18), range(0, 0), range(8, 18), range(0, 8)):  # All, none, fine, coarse.
        for index, name in enumerate(noise_names):
            Gt.components.synthesis.set_var(name, stored[name] * (index in layers))
        range_images = synth(Gt, w)
        range_images[1] = range_images[1][:, ::-1]  # The second seed mirrored.
        images.append(range_images)
    assert (images[0] != images[1]).any()  # The noise shows.
    half = size // 2
    for col in range(2):
        cell = canvas[:, col * size:(col + 1) * size]
        assert_close(cell[:size, :half], images[0][col][:, :half])
        assert_close(cell[:size, half:], images[1][col][:, half:])
        assert_close(cell[size:, :half], images[2][col][:, :half])
        assert_close(cell[size:, half:], images[3][col][:, half:])


@pytest.mark.parametrize('family', ['stylegan', 'stylegan2'])
def test_truncation_trick_figure(nets, family, tmp_path):
    Gs = nets[family]
    size = Gs.output_shape[3]
    psis = [1, 0.7, 0.5, 0, -0.5, -1]
    canvas = draw('figure08-truncation-trick', Gs, tmp_path)
    assert canvas.shape == (size * 2, size * 6, 3)
    avg = Gs.get_var('dlatent_avg')
    for row, w in enumerate(seeds_w(Gs, [91, 388])):
        for col, psi in enumerate(psis):
            expected = synth(Gs, [avg + psi * (w - avg)])[0]  # Every layer truncated.
            assert_close(canvas[row * size:(row + 1) * size, col * size:(col + 1) * size], expected)


@pytest.fixture(scope='module')
def pickles(tmp_path_factory):
    root = tmp_path_factory.mktemp('pkl')
    misc.save_pkl(make_networks(), str(root / 'stylegan2.pkl'))
    misc.save_pkl(make_family_networks('progan'), str(root / 'progan.pkl'))
    return root


def test_script_writes_figures(pickles, tmp_path, capsys):
    generate_figures.main(['--network', str(pickles / 'stylegan2.pkl'), '--figures', 'truncation-trick,3',
                           '--result-dir', str(tmp_path)])
    run_dir = tmp_path / '00000-generate-figures'
    assert sorted(os.listdir(tmp_path)) == ['00000-generate-figures']
    assert sorted(f for f in os.listdir(run_dir) if f.endswith('.png')) == ['figure03-style-mixing.png',
                                                                           'figure08-truncation-trick.png']
    assert PIL.Image.open(run_dir / 'figure08-truncation-trick.png').size == (16 * 6, 16 * 2)
    assert PIL.Image.open(run_dir / 'figure03-style-mixing.png').size == (16 * 6, 16 * 7)
    # One progress line per figure, in the order asked for, in the output and in the run's log.
    for text in (capsys.readouterr().out, (run_dir / 'log.txt').read_text()):
        lines = [line for line in text.splitlines() if line.endswith('.png')]
        assert [os.path.basename(line) for line in lines] == ['figure08-truncation-trick.png', 'figure03-style-mixing.png']


def test_script_errors(pickles, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cases = [
        (['--network', pickles / 'progan.pkl'], 1, 'generate_figures.py needs a style-based generator'),
        (['--network', pickles / 'stylegan2.pkl', '--figures', '3,style,14'], 1, "--figures: no figure named 'style', '14'"),
        (['--network', pickles / 'missing.pkl'], 1, 'no such file'),
        (['--figures', '3'], 2, 'the following arguments are required: --network'),
    ]
    for args, status, message in cases:
        with pytest.raises(SystemExit) as exit_:
            generate_figures.main([str(arg) for arg in args])
        out = capsys.readouterr()
        errors = [line for line in (out.out + out.err).splitlines() if line.startswith('Error: ')]
        assert exit_.value.code == status and len(errors) == 1 and message in errors[0], (args, out)
        assert not os.path.exists(tmp_path / 'results'), args
        if '--figures' in args and status == 1:  # The line lists the figures there are.
            assert all(stem in errors[0] for stem in generate_figures.FIGURES)
