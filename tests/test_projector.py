"""projector.py: the original's schedules and noise regularizer against numpy, and a projection that finds the w of
an image a tiny generator made (with a toy distance in place of LPIPS)."""

import os

import numpy as np
import pytest
import tensorflow as tf

import projector
from lpips_stand_in import TinyLPIPS
from small_networks import make_networks


@pytest.mark.parametrize('step', [0, 10, 50, 100, 400, 750, 800, 999])
def test_schedules_are_the_originals(step):
    t = step / 1000
    expected_lr = 0.1 * (0.5 - 0.5 * np.cos(np.pi * min(1.0, (1.0 - t) / 0.25))) * min(1.0, t / 0.05)
    assert projector.learning_rate_schedule(t) == pytest.approx(expected_lr, abs=1e-12)
    assert projector.noise_strength_schedule(t, 2.5) == pytest.approx(2.5 * 0.05 * max(0.0, 1.0 - t / 0.75) ** 2, abs=1e-12)


def test_noise_regularization_against_numpy():
    rnd = np.random.RandomState(0)
    maps = [rnd.randn(1, 1, size, size).astype(np.float32) for size in (4, 8, 32)]
    expected = 0.0
    for noise in maps:
        noise = noise[0, 0].astype(np.float64)
        while True:
            expected += np.mean(noise * np.roll(noise, 1, axis=1)) ** 2 + np.mean(noise * np.roll(noise, 1, axis=0)) ** 2
            if noise.shape[0] <= 8:
                break
            half = noise.shape[0] // 2
            noise = noise.reshape(half, 2, half, 2).mean(axis=(1, 3))
    got = float(projector.noise_regularization([tf.constant(m) for m in maps]))
    assert got == pytest.approx(expected, rel=1e-5)


def test_distance_input_is_0_255_box_downsampled_to_256():
    images = np.random.RandomState(1).uniform(-1, 1, [1, 3, 512, 512]).astype(np.float32)
    expected = ((images + 1) * 127.5).reshape(1, 3, 256, 2, 256, 2).mean(axis=(3, 5))
    np.testing.assert_allclose(projector.to_distance_input(tf.constant(images)).numpy(), expected, rtol=1e-5, atol=1e-3)
    small = images[:, :, :64, :64]
    np.testing.assert_allclose(projector.to_distance_input(tf.constant(small)).numpy(), (small + 1) * 127.5, rtol=1e-6)


def squared_error(images, targets):
    return tf.reduce_mean(tf.square(images - targets), axis=[1, 2, 3])


def test_projection_finds_the_w_of_a_generated_image():
    _, _, Gs = make_networks()
    synthesis = Gs.components.synthesis
    for name, var in synthesis.vars.items():  # Noise inputs off: the image is a function of w alone.
        if name.endswith('noise_strength'):
            var.assign(0.0)
    # The target: the image of a known w (one w for every layer, as the projector models it), stored noise.
    w_true = Gs.components.mapping.run(np.random.RandomState(5).randn(1, 16), None)[:, :1]
    target = synthesis.run(np.tile(w_true, [1, synthesis.input_shape[1], 1]), randomize_noise=False)

    noise_before = Gs.get_var('G_synthesis/noise0')
    proj = projector.Projector(distance=squared_error)
    proj.num_steps, proj.dlatent_avg_samples = 300, 2000
    proj.set_network(Gs)
    proj.start(target)
    start_image = proj.get_images()
    start_w = proj.get_dlatents()[:, :1]
    first_distances = []
    while proj.get_cur_step() < proj.num_steps:
        proj.step()
        if proj.get_cur_step() <= 5:
            first_distances.append(proj.get_last_losses()[0])
        for noise in proj.get_noises():  # Renormalized after every step: mean 0, standard deviation 1.
            assert abs(noise.mean()) < 1e-5 and abs(noise.std() - 1) < 1e-4
    final_distance = float(squared_error(projector.to_distance_input(tf.constant(proj.get_images())),
                                         projector.to_distance_input(tf.constant(target)))[0])
    assert final_distance < first_distances[0] / 100  # Orders of magnitude.
    assert np.abs(proj.get_images() - target).mean() < np.abs(start_image - target).mean() / 5
    assert np.linalg.norm(proj.get_dlatents()[:, :1] - w_true) < np.linalg.norm(start_w - w_true)
    assert proj.get_dlatents().shape == (1, synthesis.input_shape[1], 16)
    # The projector worked on a clone: Gs's own noise maps are intact.
    np.testing.assert_array_equal(Gs.get_var('G_synthesis/noise0'), noise_before)


def test_run_projector_writes_the_original_files(tmp_path, monkeypatch):
    """Both commands with LPIPS from a tiny graph of net-lin_vgg_v0.1.pb's interface; the original's file names."""
    import PIL.Image
    import run_projector
    from metrics import metric_base
    from training import misc
    (tmp_path / 'metric-data').mkdir()
    TinyLPIPS().write(str(tmp_path / 'metric-data'))
    pkl = str(tmp_path / 'network-snapshot-000000.pkl')
    misc.save_pkl(make_networks(), pkl)
    monkeypatch.setattr(projector.Projector, 'num_steps', 20)  # The commands have no flag for it (nor the original's).
    monkeypatch.setattr(projector.Projector, 'dlatent_avg_samples', 500)
    try:
        run_projector.main(['project-generated-images', '--network', pkl, '--seeds', '3', '--num-snapshots', '2',
                            '--result-dir', str(tmp_path / 'results'), '--metric-data', str(tmp_path / 'metric-data')])
        photos = tmp_path / 'photos'
        photos.mkdir()
        PIL.Image.fromarray(np.random.RandomState(0).randint(0, 255, [30, 41, 3], np.uint8)).save(photos / 'a.jpg')
        run_projector.main(['project-real-images', '--network', pkl, '--images', str(photos), '--num-images', '1',
                            '--num-snapshots', '1', '--result-dir', str(tmp_path / 'results')])
    finally:
        metric_base.set_metric_data_dir(None)
    generated = sorted(os.listdir(tmp_path / 'results' / '00000-project-generated-images'))
    assert [f for f in generated if f.startswith('seed')] == ['seed0003-projection.npz', 'seed0003-step0010.png',
                                                             'seed0003-step0020.png', 'seed0003-target.png']
    real = sorted(os.listdir(tmp_path / 'results' / '00001-project-real-images'))
    assert [f for f in real if f.startswith('image')] == ['image0000-projection.npz', 'image0000-step0020.png',
                                                         'image0000-target.png']
    with np.load(tmp_path / 'results' / '00000-project-generated-images' / 'seed0003-projection.npz') as result:
        assert result['dlatents'].shape == (1, 6, 16) and result['noise0'].shape == (1, 1, 4, 4)
    assert np.asarray(PIL.Image.open(tmp_path / 'results' / '00001-project-real-images' / 'image0000-target.png')).shape == (16, 16, 3)
