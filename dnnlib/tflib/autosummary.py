"""autosummary(name, value): report a value for TensorBoard from inside a loss or network, as NVIDIA's
tflib.autosummary does.

NVIDIA's version keeps accumulators in the TF1 graph. Here whoever runs a step collects what it reports
(`with collect() as reports:` around the trace), and the training loop averages each name over the steps that
reported it and writes the averages at every tick. Outside a collect() block autosummary() only returns its value.
"""

import contextlib
import threading

import tensorflow as tf

_tls = threading.local()


def _stack() -> list:
    if not hasattr(_tls, 'stack'):
        _tls.stack = []
    return _tls.stack


@contextlib.contextmanager
def collect():
    """Yield a dict that receives name -> [flattened float32 tensors] for every autosummary() inside the block."""
    reports = {}
    _stack().append(reports)
    try:
        yield reports
    finally:
        _stack().pop()


def autosummary(name: str, value, passthru=None):
    """Report `value` (any shape: its elements are averaged) under `name`; return passthru, or value."""
    stack = _stack()
    if stack:
        stack[-1].setdefault(name, []).append(tf.reshape(tf.cast(tf.stop_gradient(value), tf.float32), [-1]))
    return value if passthru is None else passthru
