"""run_generator.py's videos: ProGAN's interpolation video (its latents against the original's formula written out in
numpy), loops through seeds, the training video's time warp; the MP4s decoded and compared with the networks' images."""

import os

import imageio.v3 as iio
import numpy as np
import PIL.Image
import pytest

import run_generator
from dnnlib.util import format_time
from small_networks import make_family_networks, make_networks
from training import latent_walks, misc


def gaussian_wrap_blur(x, sigma):
    """scipy.ndimage.gaussian_filter along axis 0 with mode='wrap', written out: a kernel of exp(-t^2 / 2 sigma^2) for
    |t| <= int(4 sigma + 0.5), normalized to sum 1, applied as a circular convolution."""
    radius = int(4 * sigma + 0.5)
    taps = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * taps ** 2 / sigma ** 2)
    kernel /= kernel.sum()
    return sum(k * np.roll(x.astype(np.float64), -t, axis=0) for t, k in zip(taps, kernel))


def progan_walk(num_frames, num_walks, latent_size, smoothing_frames, seed):
    latents = np.random.RandomState(seed).randn(num_frames, num_walks, latent_size).astype(np.float32)
    latents = gaussian_wrap_blur(latents, smoothing_frames)
    return latents / np.sqrt(np.mean(np.square(latents)))


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255 ** 2 / max(mse, 1e-10))


def to_uint8_nhwc(images_nchw):
    """NVIDIA's convert_images_to_uint8 written out."""
    return np.clip(np.floor(images_nchw * 127.5 + 128.0), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def grid(images_nhwc, cols):
    rows = [np.concatenate(list(images_nhwc[r * cols:(r + 1) * cols]), axis=1) for r in range(len(images_nhwc) // cols)]
    return np.concatenate(rows, axis=0)


def only_run_dir(root):
    (name,) = os.listdir(root)
    return root / name


def read_video(run_dir, pattern):
    """The frames of the one MP4 named like pattern (ProGAN's names start with the pickle's folder)."""
    (path,) = run_dir.glob(pattern)
    return iio.imread(path)


def test_frame_count_is_rounded_duration_times_fps():
    assert latent_walks.num_video_frames(60.0, 30) == 1800
    assert latent_walks.num_video_frames(2.5, 10) == 25
    assert latent_walks.num_video_frames(0.25, 10) == 2  # 2.5 frames: numpy's rint rounds halves to even.


@pytest.mark.parametrize('num_frames, smoothing_frames', [(40, 3.0), (9, 7.5)])
def test_random_walk_is_progans_smoothed_noise(num_frames, smoothing_frames):
    got = latent_walks.smoothed_random_walk(num_frames, 3, [5], smoothing_frames, seed=11)
    expected = progan_walk(num_frames, 3, 5, smoothing_frames, seed=11)
    assert got.shape == (num_frames, 3, 5)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert np.sqrt(np.mean(got.astype(np.float64) ** 2)) == pytest.approx(1, abs=1e-5)


def test_random_walk_loops():
    """The blur wraps around: the last frame is as close to the first as neighbouring frames are to each other."""
    walk = latent_walks.smoothed_random_walk(60, 1, [8], 5.0, seed=0).astype(np.float64)
    steps = np.linalg.norm(np.diff(walk, axis=0), axis=-1)
    assert np.linalg.norm(walk[0] - walk[-1]) < 1.5 * steps.max()
    assert np.linalg.norm(walk[0] - walk[30]) > 3 * steps.max()  # While frames far apart differ.


def test_keyframe_walks():
    keys = np.float32([[1, 0, 0], [0, 2, 0], [0, 0, 1]])
    lerped = latent_walks.keyframe_walk(keys, 12, latent_walks.lerp)
    assert lerped.shape == (12, 3)
    np.testing.assert_array_equal(lerped[[0, 4, 8]], keys)  # Each key at its frame, the loop back to keys[0].
    np.testing.assert_allclose(lerped[2], (keys[0] + keys[1]) / 2)
    np.testing.assert_allclose(lerped[10], (keys[2] + keys[0]) / 2)
    slerped = latent_walks.keyframe_walk(keys, 12, latent_walks.slerp)
    np.testing.assert_allclose(slerped[[0, 4, 8]], keys, atol=1e-6)
    # Halfway between orthogonal directions: the bisector, with the length halfway between 1 and 2.
    np.testing.assert_allclose(slerped[2], np.float32([1, 1, 0]) / np.sqrt(2) * 1.5, rtol=1e-6)
    one_third = latent_walks.slerp(keys[0], keys[2], 1 / 3)
    np.testing.assert_allclose(one_third, [np.cos(np.pi / 6), 0, np.sin(np.pi / 6)], rtol=1e-6)
    np.testing.assert_allclose(latent_walks.slerp(keys[0], 2 * keys[0], 0.5), 1.5 * keys[0])  # Parallel: no 0 / 0.


@pytest.fixture(scope='module')
def snapshots(tmp_path_factory):
    folder = tmp_path_factory.mktemp('pkl')
    paths = {}
    for family, networks in (('stylegan2', make_networks()), ('progan', make_family_networks('progan'))):
        paths[family] = str(folder / f'{family}.pkl')
        misc.save_pkl(networks, paths[family])
    return paths


def test_interpolation_video_frames_are_the_networks_images_of_progans_walk(snapshots, tmp_path):
    pkl = snapshots['stylegan2']
    run_generator.main(['interpolation-video', '--network', pkl, '--grid-size', '2x1', '--duration-sec', '1.2', '--fps', '5',
                        '--smoothing-sec', '0.4', '--random-seed', '3', '--image-zoom', '4', '--truncation-psi', '0.7',
                        '--minibatch-size', '3', '--result-dir', str(tmp_path)])
    run_dir = only_run_dir(tmp_path)
    assert run_dir.name == '00000-interpolation-video'
    frames = read_video(run_dir, '*-stylegan2-lerp.mp4')
    assert frames.shape == (6, 64, 128, 3)  # round(1.2 * 5) frames of 2x1 images of 16x16, zoomed 4x.

    _, _, Gs = misc.load_pkl(pkl)
    latents = progan_walk(6, 2, 16, 0.4 * 5, seed=3)
    images = to_uint8_nhwc(Gs.run(latents.reshape(12, 16), None, truncation_psi=0.7, randomize_noise=False)).reshape(6, 2, 16, 16, 3)
    expected = np.stack([grid(f, 2).repeat(4, axis=0).repeat(4, axis=1) for f in images])
    for frame, want, far in zip(frames, expected, np.roll(expected, 3, axis=0)):  # far: half the loop away.
        assert psnr(frame, want) > 30 and psnr(frame, want) > psnr(frame, far) + 6


def test_progan_interpolation_video(snapshots, tmp_path):
    run_generator.main(['interpolation-video', '--network', snapshots['progan'], '--duration-sec', '0.6', '--fps', '5',
                        '--image-zoom', '8', '--result-dir', str(tmp_path)])
    frames = read_video(only_run_dir(tmp_path), '*-progan-lerp.mp4')
    _, _, Gs = misc.load_pkl(snapshots['progan'])
    latents = progan_walk(3, 1, 8, 1.0 * 5, seed=1000)  # The original's defaults: smoothing 1 s, seed 1000.
    expected = to_uint8_nhwc(Gs.run(latents[:, 0], None)).repeat(8, axis=1).repeat(8, axis=2)
    assert frames.shape == (3, 64, 64, 3)
    assert all(psnr(f, e) > 30 for f, e in zip(frames, expected))


def test_loops_through_seeds_in_z_and_w(snapshots, tmp_path):
    pkl = snapshots['stylegan2']
    _, _, Gs = misc.load_pkl(pkl)
    z = np.stack([np.random.RandomState(seed).randn(16) for seed in (4, 9)])
    w_avg = Gs.get_var('dlatent_avg')
    for walk in ('slerp-z', 'lerp-w'):
        run_generator.main(['interpolation-video', '--network', pkl, '--walk', walk, '--seeds', '4,9', '--duration-sec', '0.8',
                            '--fps', '5', '--image-zoom', '4', '--truncation-psi', '0.6', '--result-dir', str(tmp_path / walk)])
        frames = read_video(only_run_dir(tmp_path / walk), f'*-stylegan2-{walk}.mp4')
        assert frames.shape == (4, 64, 64, 3)
        if walk == 'slerp-z':  # Frame 1 is halfway from seed 4 to seed 9 on the sphere; the mapping takes z.
            mid = latent_walks.slerp(z[0], z[1], 0.5)
            keys = np.stack([z[0], mid, z[1]])
            images = Gs.run(keys, None, truncation_psi=0.6, randomize_noise=False)
        else:  # Frame 1 is the mean of the two truncated w.
            w = w_avg + (Gs.components.mapping.run(z, None) - w_avg) * 0.6
            keys = np.stack([w[0], (w[0] + w[1]) / 2, w[1]])
            images = Gs.components.synthesis.run(keys, randomize_noise=False)
        expected = to_uint8_nhwc(images).repeat(4, axis=1).repeat(4, axis=2)
        for frame_idx, key_idx in ((0, 0), (1, 1), (2, 2), (3, 1)):  # Frame 3 is halfway back from seed 9 to seed 4.
            assert psnr(frames[frame_idx], expected[key_idx]) > 30, (walk, frame_idx)


def write_training_run(run_dir, ticks):
    """A run dir as training writes it: log.txt tick lines and fakes<kimg>.png, each PNG one flat colour."""
    run_dir.mkdir()
    lines = ['Training for 3 kimg...', '']
    for idx, (seconds, kimg, lod) in enumerate(ticks):
        lines.append('tick %-5d kimg %-8.1f lod %-5.2f minibatch %-4d time %-12s sec/tick %-7.1f sec/kimg %-7.2f maintenance %-6.1f'
                     % (idx, kimg, lod, 32, format_time(seconds), 1.0, 1.0, 0.0))
        PIL.Image.fromarray(np.full([96, 160, 3], 40 * idx + 20, np.uint8)).save(run_dir / ('fakes%06d.png' % int(kimg)))
    (run_dir / 'log.txt').write_text('\n'.join(lines) + '\n')


def test_training_video_shows_the_snapshot_of_the_warped_wall_clock(tmp_path):
    ticks = [(0, 0.1, 2.0), (50, 1.1, 1.5), (300, 2.0, 1.0), (3700, 3.1, 0.0)]  # 3700 s prints as '1h 01m 40s'.
    write_training_run(tmp_path / '00007-sgan-tiny', ticks)
    run_generator.main(['training-video', '--result-dir', str(tmp_path), '--run-id', '7', '--duration-sec', '2', '--fps', '10',
                        '--time-warp', '1.5'])
    frames = iio.imread(tmp_path / '00008-training-video' / '00007-sgan-tiny-train.mp4')
    assert frames.shape == (20, 96, 160, 3)
    for idx, frame in enumerate(frames):
        wallclock = ((idx / 10) / 2) ** 1.5 * 3700
        shown = max(i for i, tick in enumerate(ticks) if tick[0] <= wallclock)
        assert abs(float(frame[:40].mean()) - (40 * shown + 20)) < 3, idx  # Above the labels: the snapshot's colour.
    assert frames[:, 60:].max() > 200  # The white labels along the bottom.


def test_generate_fake_images_are_progans_grids(snapshots, tmp_path):
    pkl = snapshots['progan']
    run_generator.main(['generate-fake-images', '--network', pkl, '--grid-size', '3x2', '--num-pngs', '2', '--image-shrink', '2',
                        '--random-seed', '5', '--result-dir', str(tmp_path)])
    run_dir = only_run_dir(tmp_path)
    prefix = os.path.basename(os.path.dirname(pkl)) + '-progan-'  # ProGAN's: the pickle's folder and name.
    assert sorted(f for f in os.listdir(run_dir) if f.endswith('.png')) == [prefix + '000000.png', prefix + '000001.png']
    _, _, Gs = misc.load_pkl(pkl)
    rnd = np.random.RandomState(5)
    for png_idx in range(2):
        latents = rnd.randn(6, 8).astype(np.float32)  # Drawn in turn from one seed, PNG after PNG.
        images = Gs.run(latents, None).astype(np.float64)
        images = images.reshape(6, 3, 4, 2, 4, 2).mean(axis=(3, 5))  # Box-shrunk by 2.
        expected = grid(to_uint8_nhwc(images), 3)
        got = np.asarray(PIL.Image.open(run_dir / ('%s%06d.png' % (prefix, png_idx))))
        assert got.shape == (8, 12, 3) and np.abs(got.astype(int) - expected.astype(int)).max() <= 1
