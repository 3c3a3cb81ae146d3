"""Training on 2 MirroredStrategy replicas (2 logical CPU devices) equals training on 1 replica."""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def test_two_mirrored_replicas_match_one_replica():
    # A fresh process: the CPU must be split into logical devices before TensorFlow starts.
    out = subprocess.run([sys.executable, os.path.join(HERE, 'replica_equivalence.py')], capture_output=True, text=True,
                         timeout=600, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result['replicas'] == [1, 2]
    assert result['moved'] > 1e-4  # Training changed the weights...
    # ...identically: same samples per minibatch_gpu group, gradients averaged over rounds or replicas alike.
    # Tolerance: float32 summation order may differ between the two reductions.
    for net in ('G', 'D', 'Gs'):
        assert result[net] < 1e-5, (net, result)
