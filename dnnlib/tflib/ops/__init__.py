"""Custom ops used by the StyleGAN2 networks: fused bias + activation and FIR up/down sampling.

Each op has a reference implementation in plain TensorFlow (impl='ref') and compiled kernels: C++ for
CPUs ('cpu', float32) and CUDA for GPUs ('cuda', float32 and float16), built on first use by
dnnlib.tflib.custom_ops. impl=None takes the fastest available: 'cuda' where TensorFlow sees a GPU and
the CUDA kernels build, else 'cpu' where the C++ kernels build (faster than the reference path on CPUs
for every case measured, docs/PERFORMANCE.md), else 'ref'; dtypes a compiled impl lacks use 'ref'.
$STYLEGAN2_OPS_IMPL (ref, cpu, cuda or auto) overrides what impl=None means. Forcing a compiled impl that
cannot run is an error, never a silent fallback.
"""

import contextlib
import os
import sys
import threading

import tensorflow as tf

from .. import custom_ops

IMPLS = ('ref', 'cpu', 'cuda')
IMPL_ENV = 'STYLEGAN2_OPS_IMPL'
DTYPES = {'cpu': (tf.float32,), 'cuda': (tf.float32, tf.float16)}

_auto = None  # What impl=None means in this process, once decided: 'ref', 'cpu' or 'cuda'.
_auto_lock = threading.Lock()


def select_impl(op_name, impl, dtype):
    """The implementation an op call runs: 'ref', 'cpu' or 'cuda'; builds the compiled ops on first use."""
    if impl is None:
        impl = os.environ.get(IMPL_ENV) or None
        if impl not in (None, 'auto') + IMPLS:
            raise ValueError(f'{IMPL_ENV}={impl!r}: expected auto, {", ".join(IMPLS)}.')
        impl = None if impl == 'auto' else impl
    elif impl not in IMPLS:
        raise ValueError(f'{op_name}: unknown impl {impl!r}; expected None, {", ".join(map(repr, IMPLS))}.')
    if impl == 'ref':
        return 'ref'
    if impl is None:
        impl = _auto_impl()
        return impl if impl != 'ref' and dtype in DTYPES[impl] else 'ref'

    if dtype not in DTYPES[impl]:
        raise ValueError(f"{op_name}: impl={impl!r} supports {', '.join(t.name for t in DTYPES[impl])} tensors, "
                         f"not {tf.as_dtype(dtype).name}; use impl='ref' or impl=None.")
    try:
        custom_ops.get_library(gpu=impl == 'cuda')
    except custom_ops.BuildError as e:
        raise ValueError(f"{op_name}: impl={impl!r} needs the compiled kernels, but they are unavailable: {e}\n"
                         f"Use impl='ref' (or impl=None, which falls back to it).") from e
    return impl


def _auto_impl():
    with _auto_lock:
        return _decide_auto()


def _decide_auto():
    global _auto
    if _auto is None:
        gpu = custom_ops.gpu_available()
        try:
            lib = custom_ops.get_library(gpu=gpu)
            _auto = 'cuda' if gpu else 'cpu'
            print(f"Custom ops: impl=None runs the compiled {_auto.upper()} kernels for "
                  f"{' and '.join(t.name for t in DTYPES[_auto])} tensors ({lib.how}: {lib.path}).", flush=True)
        except custom_ops.BuildError as e:
            _auto = 'ref'
            print(f"Custom ops: the compiled {'CUDA' if gpu else 'CPU'} kernels are unavailable, so impl=None runs the "
                  f"reference ops (impl='ref') instead. Reason: {e}", file=sys.stderr, flush=True)
    return _auto


def library(impl):
    """The compiled op library for impl 'cpu' or 'cuda' (which select_impl returned, so it loads)."""
    return custom_ops.get_library(gpu=impl == 'cuda').module


def device_scope(impl):
    """Pins impl='cpu' to the CPU where the library also has GPU kernels; otherwise TensorFlow places the op."""
    if impl == 'cpu' and custom_ops.get_library(gpu=False).variant == 'cuda':
        return tf.device('/device:CPU:0')
    return contextlib.nullcontext()
