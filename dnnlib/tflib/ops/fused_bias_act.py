"""fused_bias_act: add a bias along one axis, apply an activation, scale by a gain, as one op.

NVIDIA's StyleGAN2 computes this in a custom CUDA kernel. This module holds the activation table that
defines the op and the reference implementation in plain TensorFlow, which TF differentiates to any
order; compiled kernels (`impl='cpu'`/`'cuda'`) plug in behind the same signature.
"""

from typing import Callable, NamedTuple

import numpy as np
import tensorflow as tf

from . import select_impl


class Activation(NamedTuple):
    func: Callable          # f(x, alpha) in TensorFlow.
    def_alpha: float        # Default alpha (only lrelu has one).
    def_gain: float         # Default output gain: sqrt(2) for the rectifiers keeps the signal's magnitude.
    cuda_idx: int           # Index of the activation in the compiled kernels.
    ref: str                # What the compiled backward pass keeps: 'x' (input) or 'y' (output).
    zero_2nd_grad: bool     # Piecewise linear: the second derivative is zero almost everywhere.


activation_funcs = {
    'linear':   Activation(lambda x, alpha: x,                              None, 1.0,          1, 'y', True),
    'relu':     Activation(lambda x, alpha: tf.nn.relu(x),                  None, np.sqrt(2),   2, 'y', True),
    'lrelu':    Activation(lambda x, alpha: tf.nn.leaky_relu(x, alpha),     0.2,  np.sqrt(2),   3, 'y', True),
    'tanh':     Activation(lambda x, alpha: tf.nn.tanh(x),                  None, 1.0,          4, 'y', False),
    'sigmoid':  Activation(lambda x, alpha: tf.nn.sigmoid(x),               None, 1.0,          5, 'y', False),
    'elu':      Activation(lambda x, alpha: tf.nn.elu(x),                   None, 1.0,          6, 'y', False),
    'selu':     Activation(lambda x, alpha: tf.nn.selu(x),                  None, 1.0,          7, 'y', False),
    'softplus': Activation(lambda x, alpha: tf.nn.softplus(x),              None, 1.0,          8, 'y', False),
    'swish':    Activation(lambda x, alpha: tf.nn.sigmoid(x) * x,           None, np.sqrt(2),   9, 'x', False),
}

def fused_bias_act(x, b=None, axis=1, act='linear', alpha=None, gain=None, impl=None):
    """gain * act(x + b), with b broadcast along `axis`.

    Args:
        x:     Input tensor of any rank >= 1.
        b:     Bias of shape [x.shape[axis]], or None.
        axis:  The axis of x that b runs along (1 = channels of NCHW and of dense layers).
        act:   One of activation_funcs: linear, relu, lrelu, tanh, sigmoid, elu, selu, softplus, swish.
        alpha: Slope of lrelu's negative side (default 0.2); other activations ignore it.
        gain:  Output scale; None = the activation's default (sqrt(2) for relu, lrelu and swish, else 1).
        impl:  None = fastest available, 'ref' = plain TensorFlow, 'cpu'/'cuda' = compiled kernels.
    Returns:
        Tensor of x's shape and dtype.
    """
    if act not in activation_funcs:
        raise ValueError(f'fused_bias_act: unknown act {act!r}; expected one of {", ".join(activation_funcs)}.')
    select_impl('fused_bias_act', impl)  # Only the reference implementation exists so far.
    return _fused_bias_act_ref(x, b, axis, act, alpha, gain)


def _fused_bias_act_ref(x, b, axis, act, alpha, gain):
    spec = activation_funcs[act]
    x = tf.convert_to_tensor(x)
    alpha = float(alpha if alpha is not None else (spec.def_alpha or 0))
    gain = float(gain if gain is not None else spec.def_gain)
    rank = x.shape.rank
    if rank is not None and not -rank <= axis < rank:
        raise ValueError(f'fused_bias_act: axis {axis} is out of range for a tensor of rank {rank}.')

    if b is not None:
        b = tf.convert_to_tensor(b, dtype=x.dtype)
        size = x.shape[axis]
        if b.shape.rank != 1 or (size is not None and b.shape[0] is not None and b.shape[0] != size):
            raise ValueError(f'fused_bias_act: bias has shape {b.shape.as_list()}, expected [{size}] '
                             f'(the size of axis {axis} of x, whose shape is {x.shape.as_list()}).')
        bias_shape = [1] * rank
        bias_shape[axis] = -1
        x += tf.reshape(b, bias_shape)

    x = spec.func(x, alpha)
    if gain != 1:
        x *= tf.cast(gain, x.dtype)
    return x
