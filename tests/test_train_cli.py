"""train.py end to end on a tiny dataset: the run directory holds NVIDIA's files, snapshots load, resume works."""

import glob
import os
import json
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import train
from training import configs, misc
from training.preemption import PREEMPTED_EXIT_CODE

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ARGS = ['--dataset', 'squares', '--config', 'config-e', '--total-kimg', '1', '--minibatch', '32', '--minibatch-gpu', '16',
        '--fmap-base', '64', '--fmap-max', '16', '--snapshot-ticks', '1', '--metrics', 'none']


def drop_abort_txt_when_created(run_dir, timeout=300):
    deadline = time.time() + timeout
    while not os.path.isdir(run_dir) and time.time() < deadline:
        time.sleep(0.01)
    open(os.path.join(run_dir, 'abort.txt'), 'w').close()


def test_bad_arguments_fail_before_any_work(data_dir, tmp_path, capsys):
    results = str(tmp_path / 'results')
    # Each mistake is one 'Error: ...' line on stderr (dnnlib.util.exit_with_error).
    with pytest.raises(SystemExit):
        train.main(['--data-dir', data_dir, '--result-dir', results, '--dataset', 'nothing-here'])
    assert 'holds no *.tfrecords' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.main(['--data-dir', data_dir, '--result-dir', results, '--dataset', 'squares', '--minibatch', '10', '--minibatch-gpu', '4'])
    assert '--minibatch (10) must be a multiple of --minibatch-gpu (4)' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.main(['--data-dir', data_dir, '--result-dir', results, '--dataset', 'squares', '--config', 'config-z'])
    assert '--config must be one of' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.main(['--data-dir', data_dir, '--result-dir', results, '--dataset', 'squares', '--resume', 'latest'])
    assert '--resume=latest: no complete snapshot' in capsys.readouterr().err
    assert not os.path.exists(results)  # Nothing was started.


# train.py, optionally SIGKILLed while it writes the pickle of snapshot 000001 (after its checkpoint), as a kill can
# come at any moment: the temporary file is written, not yet renamed (KILL_AT_SNAPSHOT_1). Optionally with the
# levels of a progressive preset shortened to 200 images of training and 200 of fading each (NVIDIA's CLIs have no
# flags for them) and a tick every 500 images (SHORT_LEVELS).
TRAIN_SCRIPT = """
import os, signal, sys
sys.path.insert(0, %r)
import train

if os.environ.get('SHORT_LEVELS'):
    build_run_kwargs = train.build_run_kwargs

    def short_levels(*args, **kwargs):
        run_kwargs = build_run_kwargs(*args, **kwargs)
        run_kwargs.sched_args.update(lod_training_kimg=0.2, lod_transition_kimg=0.2, tick_kimg_base=0.5, tick_kimg_dict={})
        return run_kwargs
    train.build_run_kwargs = short_levels

if os.environ.get('KILL_AT_SNAPSHOT_1'):
    real_fsync = os.fsync

    def fsync_or_die(fd):
        if 'network-snapshot-000001.pkl' in os.readlink('/proc/self/fd/%%d' %% fd):
            os.kill(os.getpid(), signal.SIGKILL)
        real_fsync(fd)
    os.fsync = fsync_or_die
train.main(sys.argv[1:])
""" % REPO


def run_train(args, *switches):
    """train.py in a subprocess, through TRAIN_SCRIPT with the given switches (KILL_AT_SNAPSHOT_1, SHORT_LEVELS)."""
    env = dict(os.environ, **{switch: '1' for switch in switches})
    return subprocess.run([sys.executable, '-c', TRAIN_SCRIPT] + args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def run_train_until_sigterm(args):
    """train.py in a subprocess, sent SIGTERM as soon as it prints 'Training for' (as a preemptible VM or Kubernetes
    would at any moment); its (returncode, stdout, stderr)."""
    proc = subprocess.Popen([sys.executable, os.path.join(REPO, 'train.py')] + args, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith('Training for'):
            proc.send_signal(signal.SIGTERM)
            break
    out, err = proc.communicate(timeout=600)
    return subprocess.CompletedProcess(proc.args, proc.returncode, ''.join(lines) + out, err)


def test_run_writes_nvidia_files_stops_on_abort_survives_a_kill_and_resumes_exactly(data_dir, tmp_path, capsys):
    """One run, interrupted three times: abort.txt at its first tick, then (resumed) SIGKILL while it writes its next
    snapshot, then (resumed) SIGTERM, then resumed again to the end; its networks equal those of a run that was
    never interrupted."""
    results = str(tmp_path / 'results')
    # config-e: noise inputs, style mixing, path length and R1 regularization; plus mirroring.
    setup = ['--data-dir', data_dir] + ARGS + ['--mirror-augment', 'true', '--seed', '7']
    args = ['--result-dir', results] + setup
    # abort.txt, dropped into the run dir by a user while the run goes on, stops it at its next tick (here the
    # first, tick 0, of 1 kimg) with that tick's snapshot complete.
    first = os.path.join(results, '00000-stylegan2-squares-1gpu-config-e')
    stopper = threading.Thread(target=drop_abort_txt_when_created, args=(first,))
    stopper.start()
    train.main(args)
    stopper.join()
    out = capsys.readouterr().out
    assert re.findall(r'^tick (\d+)', out, re.M) == ['0'] and 'Stopping: abort.txt found' in out
    assert 'tick 0     kimg 0.1' in out and 'sec/kimg' in out and 'maintenance' in out
    files = set(os.listdir(first))
    for name in ('log.txt', 'run.txt', 'submit_config.pkl', 'submit_config.txt', 'reals.png', 'fakes_init.png',
                 'fakes000000.png', 'network-snapshot-000000.pkl', 'network-snapshot-000000.ckpt.index',
                 'network-final.pkl', '_finished.txt'):
        assert name in files, (name, sorted(files))
    assert glob.glob(os.path.join(first, 'events.out.tfevents.*'))

    # --resume latest continues from that snapshot; SIGKILL while writing the pickle of snapshot 000001.
    killed = run_train(args + ['--resume', 'latest'], 'KILL_AT_SNAPSHOT_1')
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert 'Resuming at 0.1 kimg.' in killed.stdout
    names = os.listdir(os.path.join(results, '00001-stylegan2-squares-1gpu-config-e'))
    # 000001 never became a pickle, so nothing there looks like a snapshot of it.
    assert 'network-snapshot-000001.pkl' not in names and 'network-final.pkl' not in names

    # --resume latest passes over the killed run (no complete snapshot) to the first run's; SIGTERM as soon as it
    # trains (while it compiles its first minibatch): it stops two minibatches later, inside a group of
    # minibatch_repeats (4) minibatches that share a schedule, with a snapshot of that moment.
    preempted = run_train_until_sigterm(args + ['--resume', 'latest'])
    assert preempted.returncode == PREEMPTED_EXIT_CODE, preempted.stderr[-3000:]
    assert 'Resuming at 0.1 kimg.' in preempted.stdout and 'tick ' not in preempted.stdout
    stop = re.search(r'Stopping: SIGTERM received; snapshot written at ([\d.]+) kimg', preempted.stdout)
    third = os.path.join(results, '00002-stylegan2-squares-1gpu-config-e')
    with open(os.path.join(third, 'network-snapshot-000000.json')) as f:
        state = json.load(f)
    assert state['cur_nimg'] == 192 == round(float(stop.group(1)) * 1000) and state['sched_nimg'] == 128
    assert 'network-snapshot-000000.pkl' in os.listdir(third) and 'network-final.pkl' not in os.listdir(third)

    # --resume latest continues from the SIGTERM's snapshot, with no minibatch lost or repeated, to the end.
    resumed = run_train(args + ['--resume', 'latest'])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'Resuming at 0.2 kimg.' in resumed.stdout and 'tick 1 ' in resumed.stdout and 'tick 0 ' not in resumed.stdout
    last = os.path.join(results, '00003-stylegan2-squares-1gpu-config-e')
    files = set(os.listdir(last))
    assert {'fakes000001.png', 'network-snapshot-000001.pkl', 'network-final.pkl'} <= files and 'fakes_init.png' not in files

    train.main(['--result-dir', str(tmp_path / 'whole')] + setup)  # Never interrupted.
    expected = misc.load_pkl(os.path.join(tmp_path, 'whole', '00000-stylegan2-squares-1gpu-config-e', 'network-final.pkl'))
    got = misc.load_pkl(os.path.join(last, 'network-final.pkl'))
    start = misc.load_pkl(os.path.join(first, 'network-snapshot-000000.pkl'))
    assert [net.name for net in got] == ['G', 'D', 'Gs'] and got[2].output_shape == [None, 3, 16, 16]
    assert dict(got[0].static_kwargs) == dict(num_channels=3, resolution=16, label_size=0, fmap_base=64, fmap_max=16)
    for net_expected, net_got in zip(expected, got):
        for name, value in net_expected.vars.items():
            np.testing.assert_allclose(net_got.get_var(name), value.numpy(), rtol=1e-5, atol=1e-6, err_msg=f'{net_expected.name}: {name}')
    # The networks did change after the snapshot the run resumed from (the comparison is not trivial), and Gs is a
    # moving average of G, not a copy.
    name = 'G_synthesis/16x16/Conv1/weight'
    assert np.abs(expected[0].get_var(name) - start[0].get_var(name)).max() > 1e-3
    assert not np.array_equal(got[0].get_var(name), got[2].get_var(name))


@pytest.mark.parametrize('config,desc,first_lod,last_level', [
    ('sgan', 'sgan-squares32-1gpu', 2.0, 'G_synthesis/32x32/Conv1/weight'),
    ('pgan-preset-v2', 'pgan-squares32-preset-v2-1gpu-fp32', 3.0, '16x16/Conv1/weight')])
def test_original_presets_grow_through_levels_and_resume_exactly(config, desc, first_lod, last_level, data_dir, tmp_path):
    args = ['--data-dir', data_dir, '--dataset', 'squares32', '--config', config, '--total-kimg', '1', '--minibatch', '32',
            '--minibatch-gpu', '32', '--fmap-base', '64', '--fmap-max', '8', '--snapshot-ticks', '1', '--seed', '3',
            '--mirror-augment', 'true']
    whole = run_train(['--result-dir', str(tmp_path / 'whole')] + args, 'SHORT_LEVELS')
    assert whole.returncode == 0, whole.stderr[-3000:]
    # Ticks at 128, 640 and 1024 images (the log shows the lod of the last schedule, at 0, 512 and 896 images):
    # from the first level (8x8 or 4x4) through two level changes.
    lods = [float(x) for x in re.findall(r'^tick \d+ +kimg [\d.]+ +lod ([\d.]+)', whole.stdout, re.M)]
    assert lods == [first_lod, first_lod - 1, first_lod - 2]

    # Resumed from the snapshot of tick 1 (640 images, 'network-snapshot-000000.pkl': snapshots are named by whole
    # kimg), across the next level change, to the same end. (A run killed at any moment resumes exactly from its last
    # snapshot: test_resume_after_a_kill_matches_the_uninterrupted_run.)
    whole_dir = os.path.join(tmp_path, 'whole', '00000-' + desc)
    start_pkl = os.path.join(whole_dir, 'network-snapshot-000000.pkl')
    resumed = run_train(['--result-dir', str(tmp_path / 'again'), '--resume', start_pkl] + args, 'SHORT_LEVELS')
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'Resuming at 0.6 kimg.' in resumed.stdout

    expected = misc.load_pkl(os.path.join(whole_dir, 'network-final.pkl'))
    got = misc.load_pkl(os.path.join(tmp_path, 'again', '00000-' + desc, 'network-final.pkl'))
    start = misc.load_pkl(start_pkl)
    for net_expected, net_got in zip(expected, got):
        for name, value in net_expected.vars.items():
            np.testing.assert_allclose(net_got.get_var(name), value.numpy(), rtol=1e-5, atol=1e-6, err_msg=f'{net_expected.name}: {name}')
    # The last level was trained after the snapshot the run resumed from (the comparison is not trivial).
    assert np.abs(expected[0].get_var(last_level) - start[0].get_var(last_level)).max() > 1e-3


@pytest.mark.parametrize('num_gpus', [1, 8])
def test_original_setups_follow_stylegan_and_progan_tables(num_gpus, tmp_path):
    """The values of StyleGAN's train.py and ProGAN's config.py (fp32 v2 preset), written out here."""
    args = dict(data_dir='d', result_dir=str(tmp_path), num_gpus=num_gpus, total_kimg=None, gamma=None,
                mirror_augment=True, metrics=[])
    sgan = train.build_run_kwargs('ffhq', config_id='sgan', **args)
    assert sgan.submit_config.run_desc == f'sgan-ffhq-{num_gpus}gpu' and sgan.total_kimg == 25000
    assert sgan.G_args.func_name == 'training.networks_stylegan.G_style' and sgan.D_args.func_name == 'training.networks_stylegan.D_basic'
    assert sgan.G_loss_args == {'func_name': 'training.loss.G_logistic_nonsaturating'}
    assert sgan.D_loss_args == {'func_name': 'training.loss.D_logistic_simplegp', 'r1_gamma': 10.0}
    assert not sgan.lazy_regularization and sgan.D_first and sgan.grid_args.size == '4k'
    s = sgan.sched_args
    assert s.lod_initial_resolution == 8 and s.G_lrate_base == 0.001
    assert s.G_lrate_dict == {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}
    assert s.tick_kimg_base == 160 and s.tick_kimg_dict[512] == 30 and s.tick_kimg_dict[1024] == 20
    expected = {1: {4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4, 1024: 4},
                8: {4: 512, 8: 256, 16: 128, 32: 64, 64: 32, 128: 32, 256: 32, 512: 32, 1024: 32}}[num_gpus]
    assert s.minibatch_size_dict == expected
    assert s.minibatch_gpu_dict == {res: size // num_gpus for res, size in expected.items()}

    pgan = train.build_run_kwargs('celebahq', config_id='pgan-preset-v2', **args)
    suffix = '1gpu' if num_gpus == 1 else '8gpus'
    assert pgan.submit_config.run_desc == f'pgan-celebahq-preset-v2-{suffix}-fp32' and pgan.total_kimg == 12000
    assert pgan.G_args.func_name == 'training.networks_progan.G_paper' and pgan.D_args.func_name == 'training.networks_progan.D_paper'
    assert pgan.G_loss_args == {'func_name': 'training.loss.G_wgan_acgan'}
    assert pgan.D_loss_args == {'func_name': 'training.loss.D_wgangp_acgan'}
    assert not pgan.lazy_regularization and pgan.D_first and pgan.G_smoothing == 0.999 and pgan.grid_args.size == '1080p'
    s = pgan.sched_args
    assert s.lod_initial_resolution == 4 and s.G_lrate_base == 0.001
    assert s.G_lrate_dict == {1: {1024: 0.0015}, 8: {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}}[num_gpus]
    assert s.tick_kimg_dict[512] == 20 and s.tick_kimg_dict[1024] == 10
    # The same tables (ProGAN's fp32 caps, 16/8/4 per GPU at 256/512/1024, do not bind in them); a cap that binds:
    assert s.minibatch_size_dict == expected
    assert configs.original_minibatches(num_gpus, {512: 1})[0][512] == num_gpus
    with pytest.raises(ValueError, match='--gamma is the R1 weight'):
        train.build_run_kwargs('celebahq', config_id='pgan-preset-v2', **dict(args, gamma=5.0))


def test_stylegan_paper_experiments_set_the_generator_as_stylegans_train_py(tmp_path):
    """StyleGAN's train.py lines for Tables 1, 2 and 4 and WGAN-GP, written out; each network builds and runs."""
    traditional = dict(use_styles=False, use_pixel_norm=True, use_instance_norm=False, truncation_psi=None,
                       const_input_layer=False, style_mixing_prob=0.0, use_noise=False)
    expected = {'tuned-baseline': dict(traditional, mapping_layers=0),
                'add-mapping-and-styles': dict(const_input_layer=False, style_mixing_prob=0.0, use_noise=False),
                'remove-traditional-input': dict(style_mixing_prob=0.0, use_noise=False),
                'add-noise-inputs': dict(style_mixing_prob=0.0), 'mixing-regularization': {},
                'mix0': dict(style_mixing_prob=0.0), 'mix50': dict(style_mixing_prob=0.5),
                'mix90': dict(style_mixing_prob=0.9), 'mix100': dict(style_mixing_prob=1.0),
                'traditional-0': dict(traditional, mapping_layers=0), 'traditional-8': dict(traditional, mapping_layers=8),
                'stylebased-0': dict(mapping_layers=0), 'stylebased-1': dict(mapping_layers=1),
                'stylebased-2': dict(mapping_layers=2), 'stylebased-8': dict(mapping_layers=8), 'wgangp': {}}
    import dnnlib.tflib as tflib
    for name, g_args in expected.items():
        kwargs = train.build_run_kwargs('ffhq', 'd', str(tmp_path), 'sgan-' + name, 8, total_kimg=None, gamma=None,
                                        mirror_augment=True, metrics=[])
        assert kwargs.submit_config.run_desc == 'sgan-ffhq-8gpu-' + name
        assert kwargs.G_args == dict(func_name='training.networks_stylegan.G_style', **g_args)
        G = tflib.Network('G', **kwargs.G_args, num_channels=1, resolution=8, fmap_base=16, fmap_max=4, latent_size=8,
                          dlatent_size=8, mapping_fmaps=8)
        assert G.run(np.ones([2, 8]), None, is_validation=True).shape == (2, 1, 8, 8)
    wgangp = train.build_run_kwargs('ffhq', 'd', str(tmp_path), 'sgan-wgangp', 8, total_kimg=None, gamma=None,
                                    mirror_augment=True, metrics=[])
    assert wgangp.G_loss_args.func_name == 'training.loss.G_wgan' and wgangp.D_loss_args.func_name == 'training.loss.D_wgan_gp'
    assert wgangp.sched_args.G_lrate_dict == {128: 0.0015, 256: 0.002, 512: 0.002, 1024: 0.002}
