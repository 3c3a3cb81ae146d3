"""run_generator.py and pretrained_example.py write the files NVIDIA's do, with the images the seeds define."""

import os

import numpy as np
import PIL.Image
import pytest

import pretrained_example
import pretrained_networks
import run_generator
from small_networks import make_networks
from training import misc


@pytest.fixture(scope='module')
def snapshot(tmp_path_factory):
    G, D, Gs = make_networks()
    path = str(tmp_path_factory.mktemp('pkl') / 'network-snapshot-000000.pkl')
    misc.save_pkl((G, D, Gs), path)
    return path, Gs


def read_png(path):
    return np.asarray(PIL.Image.open(path))


def to_uint8(images_nchw):
    """NVIDIA's convert_images_to_uint8, written out: [-1,1] -> round((x+1)*127.5), saturated, NHWC."""
    return np.clip(np.floor(images_nchw * 127.5 + 128.0), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def test_generate_images(snapshot, tmp_path, capsys):
    pkl, Gs = snapshot
    run_generator.main(['generate-images', '--network', pkl, '--seeds', '3,5-6', '--truncation-psi', '0.7',
                        '--result-dir', str(tmp_path)])
    run_dir = tmp_path / '00000-generate-images'
    assert sorted(f for f in os.listdir(run_dir) if f.endswith('.png')) == ['seed0003.png', 'seed0005.png', 'seed0006.png']
    assert 'Generating image for seed 5 (1/3) ...' in capsys.readouterr().out

    # The seed draws z, then each noise map in order; truncation 0.7 on every layer.
    syn = Gs.components.synthesis
    noise_names = [name for name in syn.vars if name.startswith('noise')]
    rnd = np.random.RandomState(5)
    z = rnd.randn(1, 16)
    for name in noise_names:
        syn.set_var(name, rnd.randn(*syn.vars[name].shape.as_list()))
    w = Gs.components.mapping.run(z, None)
    avg = Gs.get_var('dlatent_avg')
    expected = to_uint8(syn.run(avg + (w - avg) * 0.7, randomize_noise=False))[0]
    got = read_png(run_dir / 'seed0005.png')
    assert got.shape == (16, 16, 3)
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1  # Rounding of values at .5 may differ.


def test_style_mixing_example(snapshot, tmp_path):
    pkl, _ = snapshot
    run_generator.main(['style-mixing-example', '--network', pkl, '--row-seeds', '1,2', '--col-seeds', '3-5',
                        '--col-styles', '0-2', '--truncation-psi', '0.5', '--result-dir', str(tmp_path)])
    run_dir = tmp_path / '00000-style-mixing-example'
    pngs = sorted(f for f in os.listdir(run_dir) if f.endswith('.png'))
    expected = ['grid.png'] + [f'{s}-{s}.png' for s in range(1, 6)] + [f'{r}-{c}.png' for r in (1, 2) for c in (3, 4, 5)]
    assert pngs == sorted(expected)

    # Mixed image: row seed's w with the column seed's w at styles 0..2, both truncated by 0.5.
    _, _, Gs = pretrained_networks.load_networks(pkl)  # The (cached) networks the command used, stored noise included.
    avg = Gs.get_var('dlatent_avg')
    w = {s: avg + (Gs.components.mapping.run(np.random.RandomState(s).randn(1, 16), None)[0] - avg) * 0.5 for s in (2, 4)}
    mixed = w[2].copy()
    mixed[[0, 1, 2]] = w[4][[0, 1, 2]]
    expected_img = to_uint8(Gs.components.synthesis.run(mixed[np.newaxis], randomize_noise=False))[0]
    got = read_png(run_dir / '2-4.png')
    assert np.abs(got.astype(int) - expected_img.astype(int)).max() <= 1

    grid = read_png(run_dir / 'grid.png')
    assert grid.shape == (16 * 3, 16 * 4, 3)
    assert not grid[:16, :16].any()  # Black corner.
    np.testing.assert_array_equal(grid[32:48, 32:48], got)  # Row 2 (seed 2), column 2 (seed 4).
    np.testing.assert_array_equal(grid[:16, 16:32], read_png(run_dir / '3-3.png'))  # Top row: column sources.
    np.testing.assert_array_equal(grid[16:32, :16], read_png(run_dir / '1-1.png'))  # Left column: row sources.


def test_style_mixing_rejects_out_of_range_styles(snapshot, tmp_path, capsys):
    pkl, _ = snapshot
    with pytest.raises(SystemExit):
        run_generator.main(['style-mixing-example', '--network', pkl, '--row-seeds', '1', '--col-seeds', '2',
                            '--col-styles', '0,9', '--result-dir', str(tmp_path)])
    assert 'Error: --col-styles: this network has styles 0-5, got [9].' in capsys.readouterr().err
    assert not os.listdir(tmp_path)


def test_bad_seed_list_is_a_usage_error(snapshot, capsys):
    pkl, _ = snapshot
    with pytest.raises(SystemExit):
        run_generator.main(['generate-images', '--network', pkl, '--seeds', 'abc'])
    assert "expected numbers like '1,5,9'" in capsys.readouterr().err


def test_pretrained_example(snapshot, tmp_path):
    pkl, Gs = snapshot
    pretrained_example.main([pkl, '--result-dir', str(tmp_path)])
    image = read_png(tmp_path / 'example.png')
    assert image.shape == (16, 16, 3) and image.std() > 0


@pytest.fixture(scope='module')
def original_snapshots(tmp_path_factory):
    """Small StyleGAN (v1) and ProGAN snapshots, with noise weights that matter and a non-zero dlatent_avg."""
    import dnnlib.tflib as tflib
    rnd = np.random.RandomState(4)
    base = dict(num_channels=3, resolution=16, fmap_base=64, fmap_max=16)
    sg1 = dict(latent_size=16, dlatent_size=16, mapping_fmaps=16, mapping_layers=2)
    paths = {}
    for name, module, g_func, d_func, g_kwargs in (('sgan', 'networks_stylegan', 'G_style', 'D_basic', sg1),
                                                     ('pgan', 'networks_progan', 'G_paper', 'D_paper', dict(latent_size=16))):
        G = tflib.Network('G', func_name=f'training.{module}.{g_func}', **base, **g_kwargs)
        D = tflib.Network('D', func_name=f'training.{module}.{d_func}', **base)
        for var_name, var in G.vars.items():
            if var_name.endswith('Noise/weight') or var_name.endswith('dlatent_avg') or var_name.endswith('/bias'):
                var.assign(np.float32(rnd.randn(*var.shape.as_list()) * 0.3))
        paths[name] = str(tmp_path_factory.mktemp(name) / 'network-snapshot-000000.pkl')
        misc.save_pkl((G, D, G.clone('Gs')), paths[name])
    return paths


def test_generate_images_stylegan1_truncates_the_first_8_layers(original_snapshots, tmp_path):
    pkl = original_snapshots['sgan']
    run_generator.main(['generate-images', '--network', pkl, '--seeds', '7', '--truncation-psi', '0.5', '--result-dir', str(tmp_path)])
    _, _, Gs = pretrained_networks.load_networks(pkl)
    syn = Gs.components.synthesis
    rnd = np.random.RandomState(7)
    z = rnd.randn(1, 16)
    for name in [name for name in syn.vars if name.startswith('noise')]:  # noise0..noise5: 16x16 has 6 layers.
        syn.set_var(name, rnd.randn(*syn.vars[name].shape.as_list()))
    w = Gs.components.mapping.run(z, None)
    avg = Gs.get_var('dlatent_avg')
    w[:, :8] = avg + (w[:, :8] - avg) * 0.5  # StyleGAN's cutoff 8 covers all 6 layers at 16x16.
    expected = to_uint8(syn.run(w, randomize_noise=False))[0]
    got = read_png(tmp_path / '00000-generate-images' / 'seed0007.png')
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


def test_generate_images_and_example_from_progan(original_snapshots, tmp_path, capsys):
    pkl = original_snapshots['pgan']
    run_generator.main(['generate-images', '--network', pkl, '--seeds', '2', '--truncation-psi', '0.5', '--result-dir', str(tmp_path)])
    assert 'this generator (G_paper) has no truncation' in capsys.readouterr().out
    _, _, Gs = pretrained_networks.load_networks(pkl)
    expected = to_uint8(Gs.run(np.random.RandomState(2).randn(1, 16), np.zeros([1, 0])))[0]
    got = read_png(tmp_path / '00000-generate-images' / 'seed0002.png')
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    pretrained_example.main([pkl, '--result-dir', str(tmp_path)])
    np.testing.assert_array_equal(read_png(tmp_path / 'example.png'),
                                  to_uint8(Gs.run(np.random.RandomState(5).randn(1, 16), np.zeros([1, 0])))[0])
    with pytest.raises(SystemExit):
        run_generator.main(['style-mixing-example', '--network', pkl, '--row-seeds', '1', '--col-seeds', '2'])
    assert 'style-mixing-example needs a style-based generator' in capsys.readouterr().err


def test_style_mixing_and_example_on_stylegan1(original_snapshots, tmp_path):
    pkl = original_snapshots['sgan']
    run_generator.main(['style-mixing-example', '--network', pkl, '--row-seeds', '1', '--col-seeds', '2',
                        '--col-styles', '0-1', '--truncation-psi', '0.5', '--result-dir', str(tmp_path)])
    pngs = sorted(f for f in os.listdir(tmp_path / '00000-style-mixing-example') if f.endswith('.png'))
    assert pngs == ['1-1.png', '1-2.png', '2-2.png', 'grid.png']
    pretrained_example.main([pkl, '--result-dir', str(tmp_path)])
    assert read_png(tmp_path / 'example.png').shape == (16, 16, 3)
