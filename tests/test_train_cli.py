"""train.py end to end on a tiny dataset: the run directory holds NVIDIA's files, snapshots load, resume works."""

import glob
import os
import subprocess
import sys

import numpy as np
import pytest

import dnnlib
import train
from tfrecords_for_tests import color_squares, write_dataset
from training import misc
from training.training_loop import Trainer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

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


# train.py, SIGKILLed while it writes the pickle of snapshot 000001 (after its checkpoint), as a kill can come at
# any moment: the temporary file is written, not yet renamed.
KILLED_WHILE_SAVING = """
import os, signal, sys
sys.path.insert(0, %r)
import train

real_fsync = os.fsync

def fsync_or_die(fd):
    if 'network-snapshot-000001.pkl' in os.readlink('/proc/self/fd/%%d' %% fd):
        os.kill(os.getpid(), signal.SIGKILL)
    real_fsync(fd)

os.fsync = fsync_or_die
train.main(sys.argv[1:])
""" % REPO


def run_train(args, script=None):
    cmd = [sys.executable] + (['-c', script] if script else [os.path.join(REPO, 'train.py')]) + args
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)


def test_resume_after_a_kill_matches_the_uninterrupted_run(data_dir, tmp_path):
    # Defaults of config-e: noise inputs, style mixing, path length and R1 regularization; plus mirroring.
    args = ['--data-dir', data_dir] + ARGS + ['--mirror-augment', 'true', '--seed', '7']
    whole = run_train(['--result-dir', str(tmp_path / 'whole')] + args)
    assert whole.returncode == 0, whole.stderr[-3000:]

    killed = run_train(['--result-dir', str(tmp_path / 'cut')] + args, KILLED_WHILE_SAVING)
    assert killed.returncode == -9, killed.stderr[-3000:]
    cut_dir = str(tmp_path / 'cut' / '00000-stylegan2-squares-1gpu-config-e')
    names = os.listdir(cut_dir)
    # Snapshot 000000 (tick 0) is intact; 000001 never became a pickle, so nothing looks like a snapshot of it.
    assert 'network-snapshot-000000.pkl' in names and 'network-snapshot-000001.pkl' not in names
    assert 'network-final.pkl' not in names
    misc.load_pkl(os.path.join(cut_dir, 'network-snapshot-000000.pkl'))

    resumed = run_train(['--result-dir', str(tmp_path / 'cut'), '--resume', 'latest'] + args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'Resuming at 0.0 kimg.' in resumed.stdout and 'tick 1 ' in resumed.stdout and 'tick 0 ' not in resumed.stdout

    expected = misc.load_pkl(os.path.join(tmp_path, 'whole', '00000-stylegan2-squares-1gpu-config-e', 'network-final.pkl'))
    got = misc.load_pkl(os.path.join(tmp_path, 'cut', '00001-stylegan2-squares-1gpu-config-e', 'network-final.pkl'))
    start = misc.load_pkl(os.path.join(cut_dir, 'network-snapshot-000000.pkl'))
    for net_expected, net_got, net_start in zip(expected, got, start):
        for name, value in net_expected.vars.items():
            np.testing.assert_allclose(net_got.get_var(name), value.numpy(), rtol=1e-5, atol=1e-6, err_msg=f'{net_expected.name}: {name}')
    # The networks did change after the snapshot the run resumed from (the comparison is not trivial).
    name = 'G_synthesis/16x16/Conv1/weight'
    assert np.abs(expected[0].get_var(name) - start[0].get_var(name)).max() > 1e-3


def test_progressive_growing_resets_adam_when_the_resolution_changes(data_dir, tmp_path, monkeypatch):
    kwargs = train.build_run_kwargs('squares', data_dir, str(tmp_path / 'results'), 'config-d', 1, total_kimg=0.048,
                                    gamma=None, mirror_augment=False, metrics=[], snapshot_ticks=100, minibatch=8,
                                    minibatch_gpu=4, fmap_base=64, fmap_max=16)
    # 8x8 for 16 images, fading in 16x16 over the next 16, then 16x16; a new schedule every minibatch of 8:
    # lod 1, 1, 1, 0.5, 0, 0.
    kwargs.sched_args.update(lod_training_kimg=0.016, lod_transition_kimg=0.016)
    kwargs.minibatch_repeats = 1
    steps_before_reset = []
    real_reset = Trainer.reset_optimizers

    def reset(self):
        steps_before_reset.append(int(self.G_opt.step.numpy()))
        real_reset(self)
    monkeypatch.setattr(Trainer, 'reset_optimizers', reset)
    dnnlib.submit_run(**kwargs)
    # Resets before the first minibatch, when lod leaves 1 (floor changes) and when it reaches 0 (ceil changes).
    # G's Adam steps in between: minibatches 0-2 (and the path length step of minibatch 0), then minibatch 3.
    assert steps_before_reset == [0, 4, 1]
    G, _, Gs = misc.load_pkl(os.path.join(tmp_path, 'results', '00000-stylegan2-squares-1gpu-config-d', 'network-final.pkl'))
    assert G.get_var('lod') == 0 and Gs.output_shape == [None, 3, 16, 16]
