"""Training on 2 MirroredStrategy replicas equals training on 1 replica (same steps, same weights, same global
batches); train.py on 2 MultiWorkerMirroredStrategy workers on localhost equals train.py on 2 mirrored replicas,
with one run dir, written by the chief, through an abort, a SIGTERM to one worker and the loss of one worker."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np

from tfrecords_for_tests import color_squares, write_dataset
import train
from training import misc
from training.cluster import localhost_workers
from training.preemption import PREEMPTED_EXIT_CODE

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SCRIPT = os.path.join(HERE, 'replica_equivalence.py')
# float32 sums in a different order (all-reduce vs accumulation) may differ in the last bits.
TOLERANCE = 1e-5


def run(mode, out, env=None):
    return subprocess.Popen([sys.executable, SCRIPT, mode, str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', **(env or {})))


def finish(proc):
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]


def compare(a, b):
    a, b = np.load(a), np.load(b)
    names = [k for k in a.files if k not in ('replicas', 'moved')]
    assert sorted(names) == sorted(k for k in b.files if k not in ('replicas', 'moved'))
    return max(float(np.abs(a[k] - b[k]).max() / (np.abs(a[k]).max() + 1e-12)) for k in names)


def test_two_mirrored_replicas_match_one_replica(tmp_path):
    single, mirrored = tmp_path / 'single.npz', tmp_path / 'mirrored.npz'
    finish(run('single', single))
    finish(run('mirrored', mirrored))
    assert int(np.load(single)['replicas']) == 1 and int(np.load(mirrored)['replicas']) == 2
    # Training moved the weights away from their (seeded) start, and both runs moved them alike.
    assert float(np.load(single)['moved']) > 1e-4
    assert compare(single, mirrored) < TOLERANCE


def train_py(args, env=None, default_threads=False):
    """train.py in a subprocess. default_threads: with TensorFlow's own thread pools, as a user runs it, instead of the
    suite's one thread per op (conftest.py)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', **(env or {}))
    if default_threads:
        env.pop('TF_NUM_INTRAOP_THREADS', None)
    return subprocess.Popen([sys.executable, os.path.join(REPO, 'train.py')] + args, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def run_two_workers(args, tmp_dir, abort_run_dir=None, signal_worker=None, expect=(0, 0)):
    """train.py as both workers of a MultiWorkerMirroredStrategy cluster on localhost; their stdout and stderr. With
    abort_run_dir, abort.txt is dropped into that run dir as soon as it exists, as a user would. With
    signal_worker=(index, signal), that worker gets the signal as soon as it prints 'Training for' (a preemption
    notice, or a machine lost); each worker's exit status must be the one in `expect`."""
    workers = localhost_workers(2)
    procs = [train_py(args, env={'TMPDIR': str(tmp_dir), 'TF_CONFIG': json.dumps(
        {'cluster': {'worker': workers}, 'task': {'type': 'worker', 'index': index}})}) for index in range(2)]
    if abort_run_dir is not None:
        deadline = time.time() + 300
        while not os.path.isdir(abort_run_dir):
            assert all(proc.poll() is None for proc in procs) and time.time() < deadline
            time.sleep(0.02)
        open(os.path.join(abort_run_dir, 'abort.txt'), 'w').close()
    first_lines = ['', '']
    if signal_worker is not None:
        index, signum = signal_worker
        for line in procs[index].stdout:
            first_lines[index] += line
            if line.startswith('Training for'):
                procs[index].send_signal(signum)
                break
    outs = []
    for proc, status, first in zip(procs, expect, first_lines):
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == status, err[-3000:]
        outs.append((first + out, err))
    return outs, workers


def assert_same_networks(pkl_a, pkl_b):
    """Equal within a thousandth of each variable's largest value, and within 2e-4 (a tenth of one Adam step at
    config-e's learning rate, 0.002) however small the variable: Adam moves a weight by about the learning rate per
    step whatever its gradient's size, so a near-zero gradient summed in another order (the all-reduce, or the
    thread pools of the mirrored run, which vary with the machine's load) can turn part of a step. Training data
    split or drawn wrongly moves weights by whole steps."""
    for net_a, net_b in zip(misc.load_pkl(pkl_a), misc.load_pkl(pkl_b)):
        assert list(net_a.vars) == list(net_b.vars)
        for name, var in net_a.vars.items():
            value = var.numpy()
            assert np.abs(net_b.get_var(name) - value).max() <= 1e-3 * max(float(np.abs(value).max()), 0.2), f'{net_a.name}/{name}'


def test_train_py_on_two_workers_writes_one_run_dir_stops_on_abort_and_sigterm_survives_a_lost_worker_and_equals_mirrored(tmp_path):
    data_dir = tmp_path / 'datasets'
    write_dataset(str(data_dir / 'tiny'), color_squares(32, 8))
    # config-e: noise inputs, style mixing, path length and R1 regularization; plus mirroring.
    args = ['--data-dir', str(data_dir), '--dataset', 'tiny', '--config', 'config-e', '--total-kimg', '1',
            '--minibatch', '32', '--minibatch-gpu', '16', '--fmap-base', '32', '--fmap-max', '8', '--snapshot-ticks', '1',
            '--metrics', 'none', '--mirror-augment', 'true', '--seed', '5']
    # Runs meanwhile. Two replicas in one process sum some gradients in an order that depends on the threads per op
    # (3e-3 apart after 4 steps, 8e-3 after 32, with one thread or TensorFlow's pools), while the workers' results
    # do not: the mirrored run on TensorFlow's pools, as the tolerances below were measured; the workers on the
    # suite's one thread each, the cheaper setting.
    mirrored = train_py(['--result-dir', str(tmp_path / 'mirrored'), '--num-gpus', '2'] + args, default_threads=True)
    mirrored_dir = tmp_path / 'mirrored' / '00000-stylegan2-tiny-2gpu-config-e'

    # Two workers; abort.txt in the chief's run dir stops both at the same (first) tick, after its snapshot.
    worker_tmp = tmp_path / 'worker_tmp'
    worker_tmp.mkdir()
    multi = tmp_path / 'multi'
    first = multi / '00000-stylegan2-tiny-1gpu-config-e'
    outs, _ = run_two_workers(['--result-dir', str(multi)] + args, worker_tmp, abort_run_dir=first)
    _, err = mirrored.communicate(timeout=600)
    assert mirrored.returncode == 0, err[-3000:]
    assert all('Stopping: abort.txt found' in out and re.findall(r'^tick (\d+)', out, re.M) == ['0'] for out, _ in outs)
    # One run dir, written by the chief; the other worker left nothing behind (its temp dir is gone).
    assert os.listdir(multi) == [first.name] and os.listdir(worker_tmp) == []
    for name in ('reals.png', 'fakes_init.png', 'fakes000000.png', 'network-snapshot-000000.pkl', 'network-final.pkl'):
        assert (first / name).exists(), name
    # After these 4 steps: 7e-6 of a variable's largest value apart alone, 2.5e-4 (1.7e-6 absolute) inside the suite.
    assert_same_networks(str(mirrored_dir / 'network-snapshot-000000.pkl'), str(first / 'network-snapshot-000000.pkl'))

    # --resume latest: every worker picks the chief's snapshot. SIGTERM to the other worker (a preemption notice)
    # while both compile: both stop two minibatches later, at the same one, with the chief's snapshot of it.
    outs, _ = run_two_workers(['--result-dir', str(multi), '--resume', 'latest'] + args, worker_tmp,
                              signal_worker=(1, signal.SIGTERM), expect=(PREEMPTED_EXIT_CODE, PREEMPTED_EXIT_CODE))
    stopped = 'Stopping: SIGTERM received; snapshot written at 0.192 kimg.'
    assert all('Resuming at 0.1 kimg.' in out and stopped in out and 'tick ' not in out for out, _ in outs)
    second = multi / '00001-stylegan2-tiny-1gpu-config-e'
    with open(second / 'network-snapshot-000000.json') as f:
        assert json.load(f)['cur_nimg'] == 192
    assert (second / 'network-snapshot-000000.pkl').exists() and os.listdir(worker_tmp) == []

    # SIGKILL of the other worker (a machine lost): the chief does not hang; it stops with an error naming the lost
    # worker, and the snapshot --resume latest picks is still the SIGTERM's.
    outs, workers = run_two_workers(['--result-dir', str(multi), '--resume', 'latest'] + args, worker_tmp,
                                    signal_worker=(1, signal.SIGKILL), expect=(1, -signal.SIGKILL))
    assert f'Error: lost worker 1 ({workers[1]}) of the multi-worker run' in outs[0][1]
    assert train.resolve_resume('latest', str(multi), 'stylegan2-tiny-1gpu-config-e') == str(second / 'network-snapshot-000000.pkl')
    left_by_the_killed_worker = set(os.listdir(worker_tmp))  # A killed process cannot remove its temporary files.

    # Restarted, both workers continue from the SIGTERM's snapshot to the end, where the mirrored run ended.
    outs, _ = run_two_workers(['--result-dir', str(multi), '--resume', 'latest'] + args, worker_tmp)
    assert all('Resuming at 0.2 kimg.' in out for out, _ in outs)
    last = multi / '00003-stylegan2-tiny-1gpu-config-e'
    assert sorted(os.listdir(multi))[-1] == last.name and set(os.listdir(worker_tmp)) == left_by_the_killed_worker
    # After 32 Adam steps: up to 2.8e-4 of a variable's largest value alone, 1.04e-3 (4e-5 absolute, a mapping bias
    # whose gradients are tiny) inside the suite; training moved the weights by far more.
    assert_same_networks(str(mirrored_dir / 'network-final.pkl'), str(last / 'network-final.pkl'))
    start = misc.load_pkl(str(first / 'network-snapshot-000000.pkl'))[0].get_var('G_synthesis/8x8/Conv1/weight')
    end = misc.load_pkl(str(last / 'network-final.pkl'))[0].get_var('G_synthesis/8x8/Conv1/weight')
    assert np.abs(end - start).max() > 1e-2 * np.abs(start).max()
