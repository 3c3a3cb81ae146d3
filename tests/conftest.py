import atexit
import os
import shutil
import sys
import tempfile

import pytest

# Quiet TensorFlow's start-up chatter and make the repository importable from the tests.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# TF enables oneDNN by default only on AVX-512 CPUs; switch it on everywhere so that every machine
# runs the same CPU kernels: grouped convolutions and the NCHW convolution gradients (the GPU layout,
# test_gpu_layout.py) exist on the CPU only through oneDNN; without it TF 2.21 fails with
# "Conv2DCustomBackpropInputOp only supports NHWC" on CPUs without AVX-512.
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')
# The suite runs three pytest workers and their train.py subprocesses on two cores: one thread per op each, as
# several TensorFlow thread pools on the same cores only wait for each other (three concurrent train.py runs:
# 18% less CPU time, 13% less wall time; docs/PERFORMANCE.md). Subprocesses inherit it.
os.environ.setdefault('TF_NUM_INTRAOP_THREADS', '1')
# Compiled ops are built once per test process into a throwaway cache dir, set before any test imports the
# ops (a process loads them only once), so the tests never touch the user's cache.
if not os.environ.get('STYLEGAN2_OPS_CACHE'):
    _OPS_CACHE = tempfile.mkdtemp(prefix='sg2ops-test-cache-')
    atexit.register(shutil.rmtree, _OPS_CACHE, ignore_errors=True)
    os.environ['STYLEGAN2_OPS_CACHE'] = _OPS_CACHE
import dnnlib  # noqa: F401 (before any test imports TensorFlow, as the scripts do)


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
    """A data dir with two tiny TFRecord datasets of coloured squares: 'squares' (16x16) and 'squares32'."""
    from tfrecords_for_tests import color_squares, write_dataset
    root = tmp_path_factory.mktemp('datasets')
    write_dataset(str(root / 'squares'), color_squares(64, 16))
    write_dataset(str(root / 'squares32'), color_squares(64, 32))
    return str(root)
