"""Small TensorFlow helpers used across the project (TF2 counterparts of NVIDIA's tfutil)."""

import contextlib
import threading
from typing import Any, List, Union

import numpy as np
import tensorflow as tf

from .ops.upfirdn_2d import downsample_2d

TfExpression = Union[tf.Tensor, tf.Variable]
TfExpressionEx = Union[TfExpression, int, float, np.ndarray]


def init_tf(config_dict: dict = None) -> None:
    """Seed numpy and TensorFlow and let GPU memory grow on demand, like the original's init_tf()."""
    cfg = dict(config_dict or {})
    seed = cfg.get('rnd.np_random_seed', None)
    if seed is not None:
        np.random.seed(seed)
    tf_seed = cfg.get('rnd.tf_random_seed', 'auto')
    if tf_seed == 'auto':
        tf_seed = np.random.randint(1 << 31) if seed is not None else None
    if tf_seed is not None:
        tf.random.set_seed(tf_seed)
    for gpu in tf.config.list_physical_devices('GPU'):
        try:
            tf.config.experimental.set_memory_growth(gpu, cfg.get('gpu_options.allow_growth', True))
        except RuntimeError:
            pass  # Already initialized: the setting can no longer change, which is harmless.


def is_tf_expression(x: Any) -> bool:
    """Is x a TensorFlow tensor or variable (as opposed to a Python or numpy value)?"""
    return isinstance(x, (tf.Tensor, tf.Variable, tf.Operation))


def set_vars(var_to_value_dict: dict) -> None:
    """Assign numpy values to variables: {variable: value}."""
    for var, value in var_to_value_dict.items():
        var.assign(np.asarray(value, dtype=var.dtype.as_numpy_dtype))


def lerp(a: TfExpressionEx, b: TfExpressionEx, t: TfExpressionEx) -> TfExpressionEx:
    """Linear interpolation a + (b - a) * t."""
    return a + (b - a) * t


def lerp_clip(a: TfExpressionEx, b: TfExpressionEx, t: TfExpressionEx) -> TfExpressionEx:
    """Linear interpolation with t clipped to [0, 1]."""
    return a + (b - a) * tf.clip_by_value(t, 0.0, 1.0)


def default_data_format() -> str:
    """Layout the networks compute in: NCHW on GPUs (cuDNN's fast path), NHWC on CPUs.

    TF's CPU convolution backprops support NCHW only through oneDNN, which TF enables by default on
    AVX-512 machines only, so NHWC is the layout that works (and is fastest) on every CPU.
    """
    return 'NCHW' if tf.config.list_logical_devices('GPU') else 'NHWC'


def nchw_to(x: TfExpression, data_format: str) -> TfExpression:
    """Convert an NCHW tensor to the given layout."""
    return x if data_format == 'NCHW' else tf.transpose(x, [0, 2, 3, 1])


def to_nchw(x: TfExpression, data_format: str) -> TfExpression:
    """Convert a tensor in the given layout to NCHW."""
    return x if data_format == 'NCHW' else tf.transpose(x, [0, 3, 1, 2])


def convert_images_to_uint8(images: TfExpression, drange=(-1, 1), nchw_to_nhwc: bool = False, shrink: int = 1) -> TfExpression:
    """Map float images in `drange` to uint8 with rounding and saturation (usable as an output transform)."""
    images = tf.cast(images, tf.float32)
    if shrink > 1:
        images = downsample_2d(images, factor=shrink)  # Box filter.
    if nchw_to_nhwc:
        images = tf.transpose(images, [0, 2, 3, 1])
    scale = 255 / (drange[1] - drange[0])
    images = images * scale + (0.5 - drange[0] * scale)
    return tf.saturate_cast(images, tf.uint8)


def set_input_shape(x: TfExpression, shape: List[Any], what: str) -> TfExpression:
    """Give a build function's input its static shape, with an error that says which input is wrong."""
    if not x.shape.is_compatible_with(shape):
        raise ValueError(f'{what} has shape {x.shape.as_list()}, expected {shape} (None = any size).')
    x.set_shape(shape)
    return x


def function(python_func, input_signature=None):
    """tf.function without autograph, for functions built once per object and argument set.

    TF counts traces per Python code object, so many such functions (one per network, optimizer or
    run() argument set, each traced once) would trigger its "excessive retracing" warning.
    """
    func = tf.function(python_func, input_signature=input_signature, autograph=False)
    func._omit_frequent_tracing_warning = True  # pylint: disable=protected-access
    return func


# ----------------------------------------------------------------------------
# Random numbers that a training step can reproduce.

_random_scopes = threading.local()  # Per thread: MirroredStrategy traces each replica in its own thread.


@contextlib.contextmanager
def reproducible_random(seed: TfExpressionEx):
    """Within this scope (while a function is traced or run), random_normal and random_uniform use stateless
    ops keyed on `seed` (int [2]) and the order of the calls: the same seed gives the same numbers in any
    process, so that a resumed training run draws what the uninterrupted run would have drawn. Outside,
    they are TensorFlow's ordinary stateful random ops."""
    stack = _random_scopes.__dict__.setdefault('stack', [])
    stack.append([tf.cast(seed, tf.int64), 0])
    try:
        yield
    finally:
        stack.pop()


def _next_stateless_seed():
    """The seed of the next draw in the innermost reproducible_random scope, or None outside any."""
    stack = getattr(_random_scopes, 'stack', None)
    if not stack:
        return None
    stack[-1][1] += 1
    return tf.random.experimental.stateless_fold_in(stack[-1][0], stack[-1][1])


def random_normal(shape: Any, dtype: tf.DType = tf.float32) -> TfExpression:
    seed = _next_stateless_seed()
    if seed is None:
        return tf.random.normal(shape, dtype=dtype)
    return tf.random.stateless_normal(shape, seed=seed, dtype=dtype)


def random_uniform(shape: Any, minval: TfExpressionEx = 0, maxval: TfExpressionEx = None, dtype: tf.DType = tf.float32) -> TfExpression:
    seed = _next_stateless_seed()
    if seed is None:
        return tf.random.uniform(shape, minval, maxval, dtype=dtype)
    return tf.random.stateless_uniform(shape, seed=seed, minval=minval, maxval=maxval, dtype=dtype)
