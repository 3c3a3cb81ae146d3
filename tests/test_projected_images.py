"""Projected images through the chain: run_projector.py --save-video, then run_generator.py rendering the projection
files (equal to the projector's last PNG), mixing their styles, and walking between them."""

import os

import imageio.v3 as iio
import numpy as np
import PIL.Image
import pytest

import pretrained_networks
import projector
import run_generator
import run_projector
from lpips_stand_in import TinyLPIPS
from metrics import metric_base
from small_networks import make_networks
from training import misc

STEPS = 12


def read_png(path):
    return np.asarray(PIL.Image.open(path))


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255 ** 2 / max(mse, 1e-10))


def to_uint8_nhwc(images_nchw):
    """The PNGs' conversion of [-1, 1] images (save_image_grid): rint of (x + 1) * 127.5, clipped."""
    return np.rint((images_nchw + 1) * np.float32(127.5)).clip(0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


@pytest.fixture(scope='module')
def projected(tmp_path_factory):
    """Two projections of generated images (seeds 3 and 4) by a short run of run_projector.py with --save-video."""
    folder = tmp_path_factory.mktemp('projected')
    (folder / 'metric-data').mkdir()
    TinyLPIPS().write(str(folder / 'metric-data'))
    pkl = str(folder / 'network-snapshot-000000.pkl')
    misc.save_pkl(make_networks(), pkl)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(projector.Projector, 'num_steps', STEPS)  # The commands have no flag for it (nor the original's).
        patch.setattr(projector.Projector, 'dlatent_avg_samples', 500)
        try:
            run_projector.main(['project-generated-images', '--network', pkl, '--seeds', '3,4', '--num-snapshots', '1',
                                '--save-video', '--result-dir', str(folder / 'results'), '--metric-data', str(folder / 'metric-data')])
        finally:
            metric_base.set_metric_data_dir(None)
    run_dir = folder / 'results' / '00000-project-generated-images'
    return pkl, run_dir, [str(run_dir / f'seed{seed:04d}-projection.npz') for seed in (3, 4)]


def test_save_video_shows_target_and_projection_at_every_step(projected):
    _, run_dir, _ = projected
    frames = iio.imread(run_dir / 'seed0003-projection.mp4')
    assert frames.shape == (STEPS, 16, 32, 3)  # One frame per step, target | projection.
    target, final = read_png(run_dir / 'seed0003-target.png'), read_png(run_dir / f'seed0003-step{STEPS:04d}.png')
    # 16x16 images of noise lose much to H.264's 4:2:0 chroma (about 16 dB PSNR; the interpolation video tests, with
    # zoomed pixels, compare within 30 dB), so the halves are told apart by which image they are closest to.
    assert all(psnr(frame[:, :16], target) > psnr(frame[:, :16], final) + 3 for frame in frames)
    assert psnr(frames[-1][:, 16:], final) > psnr(frames[-1][:, 16:], target) + 3
    assert psnr(frames[-1][:, 16:], final) > psnr(frames[0][:, 16:], final) + 3  # The projection moved towards it.


def test_dlatents_render_equals_the_projectors_last_png(projected, tmp_path):
    pkl, run_dir, npzs = projected
    run_generator.main(['generate-images', '--network', pkl, '--dlatents', ','.join(npzs), '--result-dir', str(tmp_path)])
    out = tmp_path / '00000-generate-images'
    assert sorted(f for f in os.listdir(out) if f.endswith('.png')) == ['seed0003-projection.png', 'seed0004-projection.png']
    for seed in (3, 4):
        np.testing.assert_array_equal(read_png(out / f'seed{seed:04d}-projection.png'),
                                      read_png(run_dir / f'seed{seed:04d}-step{STEPS:04d}.png'))


def render_by_hand(Gs, dlatents, noises):
    syn = Gs.components.synthesis
    for idx, noise in enumerate(noises):
        syn.set_var(f'noise{idx}', noise)
    return to_uint8_nhwc(syn.run(dlatents, randomize_noise=False))


def test_style_mixing_of_projected_rows_and_seeded_columns(projected, tmp_path):
    pkl, _, npzs = projected
    run_generator.main(['style-mixing-example', '--network', pkl, '--row-dlatents', ','.join(npzs), '--col-seeds', '5,6',
                        '--col-styles', '0-2', '--truncation-psi', '0.7', '--result-dir', str(tmp_path)])
    out = tmp_path / '00000-style-mixing-example'
    # The networks the command used (cached in the process: their noise maps are what earlier commands left there).
    _, _, Gs = pretrained_networks.load_networks(pkl)
    stored = [Gs.get_var(f'G_synthesis/noise{i}') for i in range(5)]
    with np.load(npzs[1]) as data:
        row_w, row_noises = data['dlatents'], [data[f'noise{i}'] for i in range(5)]
    avg = Gs.get_var('dlatent_avg')
    col_w = avg + (Gs.components.mapping.run(np.random.RandomState(6).randn(1, 16), None) - avg) * 0.7
    mixed = row_w.copy()
    mixed[:, :3] = col_w[:, :3]  # The column's coarse styles, the row's others and its noise maps.
    expected = render_by_hand(Gs, mixed, row_noises)[0]
    got = read_png(out / 'seed0004-projection-6.png')
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    assert np.abs(read_png(out / '6-6.png').astype(int) - render_by_hand(Gs, col_w, stored)[0].astype(int)).max() <= 1
    grid = read_png(out / 'grid.png')
    assert grid.shape == (16 * 3, 16 * 3, 3)
    np.testing.assert_array_equal(grid[32:48, 32:48], read_png(out / 'seed0004-projection-6.png'))
    np.testing.assert_array_equal(grid[32:48, :16], read_png(out / 'seed0004-projection-seed0004-projection.png'))


def test_interpolation_video_between_projections(projected, tmp_path):
    pkl, _, npzs = projected
    run_generator.main(['interpolation-video', '--network', pkl, '--dlatents', ','.join(npzs), '--duration-sec', '0.8',
                        '--fps', '5', '--image-zoom', '4', '--result-dir', str(tmp_path)])
    (mp4,) = (tmp_path / '00000-interpolation-video').glob('*-network-snapshot-000000-lerp-w.mp4')
    frames = iio.imread(mp4)
    assert frames.shape == (4, 64, 64, 3)
    _, _, Gs = misc.load_pkl(pkl)
    data = [np.load(path) for path in npzs]
    keys = [(d['dlatents'], [d[f'noise{i}'] for i in range(5)]) for d in data]
    halfway = ((keys[0][0] + keys[1][0]) / 2, [(a + b) / 2 for a, b in zip(keys[0][1], keys[1][1])])
    for frame, (dlatents, noises) in zip(frames, [keys[0], halfway, keys[1], halfway]):
        assert psnr(frame, render_by_hand(Gs, dlatents, noises)[0].repeat(4, axis=0).repeat(4, axis=1)) > 30
