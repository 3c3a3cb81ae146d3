"""Training on 2 MirroredStrategy replicas, and on 2 MultiWorkerMirroredStrategy workers on localhost,
equals training on 1 replica (same steps, same weights, same global batches)."""

import json
import os
import socket
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
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


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(('127.0.0.1', 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_mirrored_and_multiworker_match_one_replica(tmp_path):
    single, mirrored = tmp_path / 'single.npz', tmp_path / 'mirrored.npz'
    finish(run('single', single))
    finish(run('mirrored', mirrored))

    workers = ['127.0.0.1:%d' % port for port in free_ports(2)]
    procs = []
    for index in range(2):
        tf_config = json.dumps({'cluster': {'worker': workers}, 'task': {'type': 'worker', 'index': index}})
        procs.append(run('worker', tmp_path / f'worker{index}.npz', env={'TF_CONFIG': tf_config}))
    for proc in procs:
        finish(proc)

    assert int(np.load(single)['replicas']) == 1
    assert int(np.load(mirrored)['replicas']) == 2 and int(np.load(tmp_path / 'worker0.npz')['replicas']) == 2
    # Training moved the weights away from their (seeded) start, and every run moved them alike.
    assert float(np.load(single)['moved']) > 1e-4
    assert compare(single, mirrored) < TOLERANCE
    assert compare(single, tmp_path / 'worker0.npz') < TOLERANCE
    assert compare(tmp_path / 'worker0.npz', tmp_path / 'worker1.npz') < TOLERANCE
