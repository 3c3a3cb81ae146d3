"""ProGAN's sliced Wasserstein distance and MS-SSIM against numpy implementations written here from the formulas
(2-D mirror-padded convolutions, neighbourhoods cut out one by one, non-separable windows), and run end to end on
a tiny network and dataset."""

import os

import numpy as np
import pytest

import dnnlib
from metrics import metric_base, ms_ssim, sliced_wasserstein as swd
from small_networks import make_networks
from tfrecords_for_tests import color_squares, write_dataset
from training import misc

# ----------------------------------------------------------------------------
# Reference SWD: 2-D filtering with an explicitly mirrored index, float64.

BINOMIAL_5X5 = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0


def mirror_index(i, n):
    """Reflection about the edge pixels: -1 -> 1, n -> n - 2."""
    i = np.abs(i)
    return np.where(i >= n, 2 * (n - 1) - i, i)


def ref_convolve(images, kernel):
    h, w = images.shape[2:]
    out = np.zeros(images.shape)
    for dy in range(5):
        for dx in range(5):
            rows = mirror_index(np.arange(h) + dy - 2, h)
            cols = mirror_index(np.arange(w) + dx - 2, w)
            out += kernel[dy, dx] * images[:, :, rows[:, None], cols[None, :]]
    return out


def ref_pyr_down(images):
    return ref_convolve(images, BINOMIAL_5X5)[:, :, ::2, ::2]


def ref_pyr_up(images):
    n, c, h, w = images.shape
    up = np.zeros([n, c, 2 * h, 2 * w])
    up[:, :, ::2, ::2] = images
    return ref_convolve(up, 4 * BINOMIAL_5X5)


def ref_laplacian_pyramid(images, num_levels):
    gaussians = [np.float64(images)]
    for _ in range(1, num_levels):
        gaussians.append(ref_pyr_down(gaussians[-1]))
    return [g - ref_pyr_up(coarse) for g, coarse in zip(gaussians, gaussians[1:])] + [gaussians[-1]]


def ref_descriptors(level, ys, xs):
    """The 7x7 patches around (y, x), transposed: ProGAN's descriptors index [channel, x offset, y offset]."""
    out = []
    for n in range(level.shape[0]):
        for y, x in zip(ys[n], xs[n]):
            out.append(level[n, :, y - 3:y + 4, x - 3:x + 4].transpose(0, 2, 1))
    return np.array(out)


def ref_normalize(desc):
    desc = np.float64(desc)
    mean = desc.mean(axis=(0, 2, 3), keepdims=True)
    std = np.sqrt(((desc - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True))
    return ((desc - mean) / std).reshape(len(desc), -1)


def ref_sliced(a, b, rnd, repeats=4, dirs_per_repeat=128):
    values = []
    for _ in range(repeats):
        dirs = rnd.standard_normal([a.shape[1], dirs_per_repeat])
        dirs = dirs / np.linalg.norm(dirs, axis=0)
        values.append(np.abs(np.sort(a @ dirs, axis=0) - np.sort(b @ dirs, axis=0)).mean())
    return np.mean(values)


def ref_level_descriptors(images, num_levels, seed):
    """Normalized descriptors of each level; image i's 128 centers per level from default_rng([seed, i])."""
    if images.shape[1] == 1:
        images = np.tile(images, [1, 3, 1, 1])
    levels = [[] for _ in range(num_levels)]
    for i, image in enumerate(images):
        rnd = np.random.default_rng([seed, i])
        for lod, level in enumerate(ref_laplacian_pyramid(image[None], num_levels)):
            size = level.shape[2]
            xs = rnd.integers(3, size - 3, size=128)
            ys = rnd.integers(3, size - 3, size=128)
            levels[lod].append(ref_descriptors(level, ys[None], xs[None]))
    return [ref_normalize(np.concatenate(d)) for d in levels]


def ref_swd(reals, fakes):
    """[SWD x1e3 per level..., their mean], with the module's seeds."""
    num_levels = int(np.log2(reals.shape[2] // 16)) + 1
    desc_reals = ref_level_descriptors(reals, num_levels, swd.REAL_NHOODS_SEED)
    desc_fakes = ref_level_descriptors(fakes, num_levels, swd.FAKE_NHOODS_SEED)
    rnd = np.random.default_rng(swd.DIRECTIONS_SEED)
    dists = [ref_sliced(a, b, rnd) * 1e3 for a, b in zip(desc_reals, desc_fakes)]
    return dists + [np.mean(dists)]


# ----------------------------------------------------------------------------
# SWD parts.


@pytest.mark.parametrize('res', [16, 32])
def test_pyr_down_and_up_are_mirrored_binomial_filters(res):
    images = np.random.default_rng(0).uniform(-50, 255, size=[2, 3, res, res]).astype(np.float32)
    down = swd.pyr_down(images)
    assert down.shape == (2, 3, res // 2, res // 2) and down.dtype == np.float32
    np.testing.assert_allclose(down, ref_pyr_down(images), rtol=0, atol=1e-3)
    up = swd.pyr_up(down)
    assert up.shape == images.shape and up.dtype == np.float32
    np.testing.assert_allclose(up, ref_pyr_up(np.float64(down)), rtol=0, atol=1e-3)


@pytest.mark.parametrize('res, num_levels', [(16, 1), (32, 2), (64, 3)])
def test_laplacian_pyramid(res, num_levels):
    images = np.random.default_rng(1).integers(0, 256, size=[3, 3, res, res], dtype=np.uint8)
    assert swd.pyramid_resolutions(res) == [res >> lod for lod in range(num_levels)]
    pyramid = swd.generate_laplacian_pyramid(images, num_levels)
    expected = ref_laplacian_pyramid(images, num_levels)
    assert [level.shape[2] for level in pyramid] == [res >> lod for lod in range(num_levels)]
    for level, ref in zip(pyramid, expected):
        assert level.dtype == np.float32
        np.testing.assert_allclose(level, ref, rtol=0, atol=1e-3)
    # Band-pass levels plus the upsampled coarser image give back each finer image.
    rebuilt = np.float64(pyramid[-1])
    for band in pyramid[-2::-1]:
        rebuilt = ref_pyr_up(rebuilt) + band
    np.testing.assert_allclose(rebuilt, images, rtol=0, atol=1e-3)


def test_pyramid_resolutions_stop_at_16():
    assert swd.pyramid_resolutions(1024) == [1024, 512, 256, 128, 64, 32, 16]
    assert swd.pyramid_resolutions(8) == []


def test_nhood_centers_cover_every_position_where_the_nhood_fits():
    ys, xs = swd.random_nhood_centers(np.random.default_rng(2), 16, 32, 7, 4000)
    assert ys.shape == xs.shape == (4000,)
    assert sorted(set(ys.tolist())) == list(range(3, 13)) and sorted(set(xs.tolist())) == list(range(3, 29))


def test_descriptors_are_the_neighbourhoods():
    rnd = np.random.default_rng(3)
    level = rnd.standard_normal([2, 3, 16, 24]).astype(np.float32)
    ys, xs = rnd.integers(3, 13, size=[2, 5]), rnd.integers(3, 21, size=[2, 5])
    desc = swd.get_descriptors(level, ys, xs, 7)
    assert desc.shape == (10, 3, 7, 7) and desc.dtype == np.float32
    np.testing.assert_array_equal(desc, ref_descriptors(level, ys, xs))


def test_finalize_descriptors_normalizes_each_channel():
    rnd = np.random.default_rng(4)
    scale, shift = np.reshape([2.0, 5.0, 0.5], [1, 3, 1, 1]), np.reshape([10.0, -3.0, 0.0], [1, 3, 1, 1])
    desc = (rnd.standard_normal([500, 3, 7, 7]) * scale + shift).astype(np.float32)
    out = swd.finalize_descriptors(desc)
    assert out.shape == (500, 147) and out.dtype == np.float32
    np.testing.assert_allclose(out, ref_normalize(desc), rtol=0, atol=1e-5)
    per_channel = out.reshape(500, 3, 49)
    np.testing.assert_allclose(per_channel.mean(axis=(0, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(per_channel.std(axis=(0, 2)), 1, atol=1e-5)


def test_sliced_wasserstein():
    rnd = np.random.default_rng(5)
    a = rnd.standard_normal([300, 20]).astype(np.float32)
    b = (rnd.standard_normal([300, 20]) * 1.5 + 0.3).astype(np.float32)
    value = swd.sliced_wasserstein(a, b, 4, 128, np.random.default_rng(6))
    assert value == pytest.approx(ref_sliced(np.float64(a), np.float64(b), np.random.default_rng(6)), rel=1e-5)
    # The same set in another order is at distance 0.
    assert swd.sliced_wasserstein(a, a[::-1].copy(), 4, 128, np.random.default_rng(6)) == 0
    # In one dimension every direction is +-1: the 1-D Wasserstein-1 distance of the two empirical distributions.
    a1, b1 = a[:, :1], b[:, :1]
    w1 = np.abs(np.sort(a1[:, 0].astype(np.float64)) - np.sort(b1[:, 0].astype(np.float64))).mean()
    assert swd.sliced_wasserstein(a1, b1, 2, 3, np.random.default_rng(7)) == pytest.approx(w1, rel=1e-6)
    with pytest.raises(ValueError):
        swd.sliced_wasserstein(a, b[:10], 4, 128, np.random.default_rng(6))


def test_grayscale_images_are_compared_as_rgb():
    gray = np.random.default_rng(8).integers(0, 256, size=[4, 1, 32, 32], dtype=np.uint8)
    metric = swd.SWD(name='swd_gray', num_images=3, minibatch_per_gpu=2)
    desc = metric._descriptors(iter([gray[:2], gray[2:]]), 32, [32, 16], seed=11)
    expected = ref_level_descriptors(gray[:3], 2, seed=11)
    for d, ref in zip(desc, expected):
        assert d.shape == (3 * 128, 147)
        np.testing.assert_allclose(d, ref, rtol=0, atol=1e-4)


def test_swd_needs_16x16_images():
    class TinyGs:
        output_shape = [None, 3, 8, 8]
    with pytest.raises(ValueError, match='at least 16x16'):
        swd.SWD(name='swd1k', num_images=8, minibatch_per_gpu=4)._evaluate(TinyGs(), {}, 1)


# ----------------------------------------------------------------------------
# Reference MS-SSIM: 2-D fspecial window over sliding windows, box means by reshaping.


def ref_window(size, sigma):
    radius = (size - 1) / 2
    y, x = np.mgrid[-radius:radius + 0.5, -radius:radius + 0.5]
    g = np.exp(-(x ** 2 + y ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def ref_ssim_cs(x, y, filter_size=11, filter_sigma=1.5, c1=(0.01 * 255) ** 2, c2=(0.03 * 255) ** 2):
    size = min(filter_size, x.shape[1])
    window = ref_window(size, size * filter_sigma / filter_size)

    def blur(img):
        windows = np.lib.stride_tricks.sliding_window_view(img, (size, size), axis=(1, 2))
        return np.einsum('nhwcij,ij->nhwc', windows, window)
    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    cs = (2 * cov + c2) / (vx + vy + c2)
    ssim = (2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1) * cs
    return ssim.mean(axis=(1, 2, 3)), cs.mean(axis=(1, 2, 3))


def ref_msssim_per_pair(x, y, weights=(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)):
    x, y = np.float64(x), np.float64(y)
    score = 1.0
    for scale, weight in enumerate(weights):
        ssim, cs = ref_ssim_cs(x, y)
        last = scale == len(weights) - 1
        score = score * np.maximum(ssim if last else cs, 0) ** weight
        if last:
            return score
        n, h, w, c = x.shape
        x = x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))
        y = y.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


@pytest.mark.parametrize('res', [16, 32, 64])
def test_msssim_of_noisy_and_shifted_copies(res):
    rnd = np.random.default_rng(9)
    smooth = np.cumsum(np.cumsum(rnd.uniform(-1, 1, size=[4, res, res, 3]), axis=1), axis=2)
    img = np.uint8(np.clip(128 + smooth * (100 / np.abs(smooth).max()), 0, 255))
    noisy = np.uint8(np.clip(img + rnd.normal(0, 20, size=img.shape), 0, 255))
    shifted = np.roll(img, 3, axis=2)
    for other in (noisy, shifted):
        expected = ref_msssim_per_pair(img, other).mean()
        assert 0.05 < expected < 0.999
        assert ms_ssim.msssim(img, other) == pytest.approx(expected, rel=1e-9)


def test_msssim_of_identical_and_constant_images():
    img = np.random.default_rng(10).integers(0, 256, size=[3, 32, 32, 3], dtype=np.uint8)
    assert ms_ssim.msssim(img, img.copy()) == pytest.approx(1.0, abs=1e-12)
    # Constant images: no contrast, so cs = 1 at every scale and the last scale's SSIM is the luminance term.
    a, b, c1 = 40.0, 200.0, (0.01 * 255) ** 2
    const_a, const_b = np.full([2, 16, 16, 3], a), np.full([2, 16, 16, 3], b)
    expected = ((2 * a * b + c1) / (a * a + b * b + c1)) ** 0.1333
    assert ms_ssim.msssim(const_a, const_b) == pytest.approx(expected, rel=1e-9)


def test_single_scale_ssim_of_one_window():
    # 11x11 images and the full 11x11 window: one Gaussian-weighted SSIM per channel.
    rnd = np.random.default_rng(11)
    x, y = rnd.uniform(0, 255, size=[1, 11, 11, 3]), rnd.uniform(0, 255, size=[1, 11, 11, 3])
    r = np.arange(11) - 5
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 1.5 ** 2))
    g /= g.sum()
    values = []
    for ch in range(3):
        xc, yc = x[0, :, :, ch], y[0, :, :, ch]
        mx, my = (g * xc).sum(), (g * yc).sum()
        vx, vy, cov = (g * (xc - mx) ** 2).sum(), (g * (yc - my) ** 2).sum(), (g * (xc - mx) * (yc - my)).sum()
        c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
        values.append((2 * mx * my + c1) * (2 * cov + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2)))
    assert ms_ssim.msssim(x, y, weights=[1.0]) == pytest.approx(max(np.mean(values), 0), rel=1e-9)


def test_msssim_needs_images_divisible_by_16():
    img = np.zeros([2, 8, 8, 3], np.uint8)
    with pytest.raises(ValueError, match='divisible by 16'):
        ms_ssim.msssim(img, img)
    with pytest.raises(ValueError, match='even'):
        ms_ssim.MSSSIM(name='msssim', num_images=11, minibatch_per_gpu=4)


# ----------------------------------------------------------------------------
# End to end: a tiny 32x32 network and dataset.

NUM_REALS = 48
NHOODS, DESC_SIZE = 128, 3 * 7 * 7  # Neighbourhoods per image and level, values per descriptor.


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('swd_msssim')
    reals = color_squares(NUM_REALS, 32, seed=3)
    write_dataset(str(root / 'squares'), reals)
    G, D, Gs = make_networks(resolution=32)
    pkl = str(root / 'network-snapshot-000000.pkl')
    misc.save_pkl((G, D, Gs), pkl)
    return dnnlib.EasyDict(root=root, reals=reals, pkl=pkl)


@pytest.fixture
def cache_dir(tmp_path):
    dnnlib.util.set_cache_dir(str(tmp_path / 'cache'))
    yield tmp_path / 'cache'
    dnnlib.util.set_cache_dir(None)


def spying(metric_class):
    """metric_class that keeps the fakes it is given, minibatch by minibatch."""
    class Spy(metric_class):
        def _iterate_fakes(self, *args, **kwargs):
            for images in super()._iterate_fakes(*args, **kwargs):
                self.fakes.append(images)
                yield images
    return Spy


def parse_result_line(line, network_name, fmt):
    """{name: value} of a result line; asserts the original's layout: '%-30s', ' time %-12s', ' name value'..."""
    assert line.startswith('%-30s time ' % network_name)
    fields = line[48:].split()
    values = {name: float(value) for name, value in zip(fields[0::2], fields[1::2])}
    expected = '%-30s time %-12s' % (network_name, line[36:48].strip())
    expected += ''.join(' %s %s' % (name, fmt % value) for name, value in values.items())
    assert line == expected.strip()
    return values


def no_reals(*args, **kwargs):
    raise AssertionError('the reals were read again')


def test_swd_end_to_end(setup, cache_dir, tmp_path, monkeypatch):
    num_images = 40  # Minibatches of 16: two whole ones and half of a third.
    metric = spying(swd.SWD)(name='swd_e2e', num_images=num_images, minibatch_per_gpu=16)
    dataset_args = dict(tfrecord_dir=str(setup.root / 'squares'))
    results = []
    for attempt in range(2):
        metric.fakes = []
        results.append(metric.run(setup.pkl, run_dir=str(tmp_path), dataset_args=dataset_args))
        fakes = np.concatenate(metric.fakes)[:num_images]
        assert fakes.shape == (num_images, 3, 32, 32) and fakes.dtype == np.uint8
        expected = ref_swd(setup.reals[:num_images], fakes)
        assert list(results[-1]) == ['swd_e2e_32', 'swd_e2e_16', 'swd_e2e_avg']
        np.testing.assert_allclose(list(results[-1].values()), expected, rtol=1e-4)
        if attempt == 0:
            # The real descriptors are cached: the second run must not read the reals.
            assert len(os.listdir(cache_dir / 'metric-stats')) == 1
            monkeypatch.setattr(swd.SWD, '_iterate_reals', no_reals)

    with open(tmp_path / 'metric-swd_e2e.txt') as f:
        lines = f.read().splitlines()
    assert len(lines) == 2
    for line, result in zip(lines, results):
        values = parse_result_line(line, 'network-snapshot-000000', '%-13.4f')
        assert list(values) == list(result)
        np.testing.assert_allclose(list(values.values()), list(result.values()), rtol=0, atol=5.1e-5)


def test_swd_reals_cache_holds_the_descriptors_up_to_the_bound(setup, cache_dir, monkeypatch):
    # The bound as documented: one level of swd16k's descriptors (16384 images x 128 neighbourhoods x 147 float32) is
    # over it, all 7 levels of swd1k's at 1024x1024 are within it.
    per_image_level = NHOODS * DESC_SIZE * 4
    assert 16384 * per_image_level > metric_base.REALS_CACHE_MAX_BYTES
    assert 1024 * per_image_level * 7 <= metric_base.REALS_CACHE_MAX_BYTES

    num_images, num_levels = 8, 2  # 32x32 images: levels 32 and 16.
    descriptor_bytes = num_images * num_levels * per_image_level
    reads = []

    class Counting(swd.SWD):
        def _iterate_reals(self, minibatch_size):
            reads.append(minibatch_size)
            return super()._iterate_reals(minibatch_size)

    metric = Counting(name='swd_cache', num_images=num_images, minibatch_per_gpu=4)
    run_args = dict(dataset_args=dict(tfrecord_dir=str(setup.root / 'squares')), log_results=False,
                    Gs_kwargs=dict(is_validation=True, randomize_noise=False))  # The same fakes every run.
    first = metric.run(setup.pkl, **run_args)
    [cached] = (cache_dir / 'metric-stats').iterdir()
    # The cache file is the descriptors and the .npz's headers (under 300 bytes an array): nothing else.
    assert descriptor_bytes < cached.stat().st_size < descriptor_bytes + 300 * num_levels
    assert metric.run(setup.pkl, **run_args) == first and len(reads) == 1

    # A bound below the descriptors' size: no cache file, the reals read at every evaluation, the same values.
    cached.unlink()
    monkeypatch.setattr(metric_base, 'REALS_CACHE_MAX_BYTES', descriptor_bytes - 1, raising=False)
    for _ in range(2):
        assert metric.run(setup.pkl, **run_args) == first
    assert len(reads) == 3 and not list((cache_dir / 'metric-stats').iterdir())


def test_two_evaluations_of_a_network_with_noise_give_the_same_values(setup, cache_dir):
    # The tiny StyleGAN2 network's noise strengths are 0.3: its images depend on the noise it draws.
    dataset_args = dict(tfrecord_dir=str(setup.root / 'squares'))
    runs = []
    drawn_noise, stored_noise = dict(is_validation=True), dict(is_validation=True, randomize_noise=False)
    for Gs_kwargs in (drawn_noise, drawn_noise, stored_noise):
        metric = spying(swd.SWD)(name='swd_noise', num_images=16, minibatch_per_gpu=8)
        metric.fakes = []
        runs.append((metric.run(setup.pkl, dataset_args=dataset_args, log_results=False, Gs_kwargs=Gs_kwargs),
                     np.concatenate(metric.fakes)))
    (first, fakes), (second, fakes_again), (_, fakes_stored_noise) = runs
    np.testing.assert_array_equal(fakes, fakes_again)
    assert first == second
    # The same latents with the stored noise inputs instead of drawn ones give other images: the noise was drawn.
    assert np.mean(np.abs(np.int16(fakes) - fakes_stored_noise)) > 1


def test_msssim_end_to_end(setup, cache_dir, tmp_path, monkeypatch):
    num_images = 20
    metric = spying(ms_ssim.MSSSIM)(name='msssim_e2e', num_images=num_images, minibatch_per_gpu=8)
    metric.fakes = []
    dataset_args = dict(tfrecord_dir=str(setup.root / 'squares'))
    result = metric.run(setup.pkl, run_dir=str(tmp_path), dataset_args=dataset_args)
    fakes = np.concatenate(metric.fakes)[:num_images].transpose(0, 2, 3, 1)
    reals = setup.reals[:num_images].transpose(0, 2, 3, 1)
    assert list(result) == ['msssim_e2e', 'msssim_e2e_reals']
    assert result['msssim_e2e'] == pytest.approx(ref_msssim_per_pair(fakes[0::2], fakes[1::2]).mean(), rel=1e-9)
    assert result['msssim_e2e_reals'] == pytest.approx(ref_msssim_per_pair(reals[0::2], reals[1::2]).mean(), rel=1e-9)
    with open(tmp_path / 'metric-msssim_e2e.txt') as f:
        values = parse_result_line(f.read().strip(), 'network-snapshot-000000', '%-10.4f')
    assert values == pytest.approx(result, abs=5.1e-5)
    # The reals' MS-SSIM is cached.
    monkeypatch.setattr(ms_ssim.MSSSIM, '_iterate_reals', no_reals)
    assert metric.run(setup.pkl, dataset_args=dataset_args)['msssim_e2e_reals'] == result['msssim_e2e_reals']
