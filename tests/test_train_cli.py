"""train.py end to end on a tiny dataset: the run directory holds NVIDIA's files, snapshots load, resume works."""

import glob
import os

import numpy as np
import pytest

import train
from tfrecords_for_tests import color_squares, write_dataset
from training import misc

ARGS = ['--dataset', 'squares', '--config', 'config-e', '--total-kimg', '1', '--minibatch', '8', '--minibatch-gpu', '4',
        '--fmap-base', '64', '--fmap-max', '16', '--snapshot-ticks', '1', '--metrics', 'none']


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp('datasets')
    write_dataset(str(root / 'squares'), color_squares(64, 16))
    return str(root)


def test_training_run_writes_nvidia_files(data_dir, tmp_path, capsys):
    results = str(tmp_path / 'results')
    train.main(['--data-dir', data_dir, '--result-dir', results] + ARGS)
    run_dir = os.path.join(results, '00000-stylegan2-squares-1gpu-config-e')
    files = set(os.listdir(run_dir))
    for name in ('log.txt', 'run.txt', 'submit_config.pkl', 'submit_config.txt', 'reals.png', 'fakes_init.png',
                 'fakes000000.png', 'fakes000001.png', 'network-snapshot-000000.pkl', 'network-snapshot-000001.pkl',
                 'network-final.pkl', '_finished.txt'):
        assert name in files, (name, sorted(files))
    assert glob.glob(os.path.join(run_dir, 'events.out.tfevents.*'))
    out = capsys.readouterr().out
    assert 'tick 0     kimg 0.0' in out and 'sec/kimg' in out and 'maintenance' in out
    G, D, Gs = misc.load_pkl(os.path.join(run_dir, 'network-final.pkl'))
    assert (G.name, D.name, Gs.name) == ('G', 'D', 'Gs') and Gs.output_shape == [None, 3, 16, 16]
    assert dict(G.static_kwargs) == dict(num_channels=3, resolution=16, label_size=0, fmap_base=64, fmap_max=16)
    # Gs is a moving average of G, not a copy.
    name = 'G_synthesis/16x16/Conv1/weight'
    assert not np.array_equal(G.get_var(name), Gs.get_var(name))

    # --resume latest continues from the newest snapshot with its image count and optimizer state.
    train.main(['--data-dir', data_dir, '--result-dir', results, '--resume', 'latest'] + ARGS[:5] + ['2'] + ARGS[6:])
    out = capsys.readouterr().out
    assert 'Resuming at 1.0 kimg.' in out
    resumed = os.path.join(results, '00001-stylegan2-squares-1gpu-config-e')
    assert 'network-snapshot-000002.pkl' in os.listdir(resumed) and 'fakes_init.png' not in os.listdir(resumed)


def test_bad_arguments_fail_before_any_work(data_dir, tmp_path, capsys):
    results = str(tmp_path / 'results')
    with pytest.raises(SystemExit):
        train.main(['--data-dir', data_dir, '--result-dir', results, '--dataset', 'nothing-here'])
    assert 'holds no *.tfrecords' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        train.main(['--data-dir', data_dir, '--result-dir', results, '--dataset', 'squares', '--minibatch', '10', '--minibatch-gpu', '4'])
    assert '--minibatch (10) must be a multiple of --minibatch-gpu (4)' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        train.main(['--data-dir', data_dir, '--result-dir', results, '--dataset', 'squares', '--config', 'config-z'])
    assert '--config must be one of' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        train.main(['--data-dir', data_dir, '--result-dir', results, '--dataset', 'squares', '--resume', 'latest'])
    assert '--resume=latest: no complete snapshot' in capsys.readouterr().out
    assert not os.path.exists(results)  # Nothing was started.
