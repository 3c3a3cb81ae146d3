"""fused_bias_act: add a bias along one axis, apply an activation, scale by a gain, as one op.

NVIDIA's StyleGAN2 computes this in a custom CUDA kernel. This module holds the activation table that
defines the op, the reference implementation in plain TensorFlow, which TF differentiates to any
order, and the compiled path (impl='cpu'/'cuda'): the FusedBiasAct op (fused_bias_act.cc/.cu), whose
backward pass is the same op in grad mode, twice differentiable.
"""

from typing import Callable, NamedTuple

import numpy as np
import tensorflow as tf

from . import device_scope, library, select_impl


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
    x = tf.convert_to_tensor(x)
    impl = select_impl('fused_bias_act', impl, x.dtype)
    if impl == 'ref':
        return _fused_bias_act_ref(x, b, axis, act, alpha, gain)
    return _fused_bias_act_compiled(x, b, axis, act, alpha, gain, impl)


def _check_args(x, b, axis):
    """b as a tensor of x's dtype (or None) after checking its shape against x's axis."""
    rank = x.shape.rank
    if rank is not None and not -rank <= axis < rank:
        raise ValueError(f'fused_bias_act: axis {axis} is out of range for a tensor of rank {rank}.')
    if b is None:
        return None
    b = tf.convert_to_tensor(b, dtype=x.dtype)
    size = x.shape[axis]
    if b.shape.rank != 1 or (size is not None and b.shape[0] is not None and b.shape[0] != size):
        raise ValueError(f'fused_bias_act: bias has shape {b.shape.as_list()}, expected [{size}] '
                         f'(the size of axis {axis} of x, whose shape is {x.shape.as_list()}).')
    return b


def _bias_shape(rank, axis):
    shape = [1] * rank
    shape[axis] = -1
    return shape


def _fused_bias_act_ref(x, b, axis, act, alpha, gain):
    spec = activation_funcs[act]
    x = tf.convert_to_tensor(x)
    alpha = float(alpha if alpha is not None else (spec.def_alpha or 0))
    gain = float(gain if gain is not None else spec.def_gain)
    b = _check_args(x, b, axis)
    if b is not None:
        x += tf.reshape(b, _bias_shape(x.shape.rank, axis))

    x = spec.func(x, alpha)
    if gain != 1:
        x *= tf.cast(gain, x.dtype)
    return x


def _fused_bias_act_compiled(x, b, axis, act, alpha, gain, impl):
    """The FusedBiasAct op. Its gradient is the op in grad mode 1; the gradient's gradient uses modes 1 and 2
    (twice differentiable, as NVIDIA's; a third derivative raises TensorFlow's no-gradient error)."""
    spec = activation_funcs[act]
    alpha = float(alpha if alpha is not None else (spec.def_alpha or 0))
    gain = float(gain if gain is not None else spec.def_gain)
    b = _check_args(x, b, axis)
    if act == 'linear' and b is None and gain == 1:
        return x
    rank = x.shape.rank
    if rank is None:
        raise ValueError('fused_bias_act: the rank of x must be known when the graph is built.')
    axis %= rank
    lib = library(impl)
    empty = tf.zeros([0], x.dtype)
    reduce_axes = [i for i in range(rank) if i != axis]

    def kernel(v, bias, ref, grad):
        with device_scope(impl):
            return lib.fused_bias_act(x=v, b=bias, ref=ref, grad=grad, axis=axis, act=spec.cuda_idx, alpha=alpha, gain=gain)

    def bias_grad(dx):
        return empty if b is None else tf.reduce_sum(dx, reduce_axes)

    def second_order_inputs(d_dx, d_db, like):
        # The tape passes None for an output that the outer loss does not depend on.
        d_dx = tf.zeros_like(like) if d_dx is None else d_dx
        return d_dx, empty if b is None or d_db is None else d_db

    @tf.custom_gradient
    def func(x, bias):
        y = kernel(x, bias, empty, 0)
        # What the backward pass evaluates the derivatives at: y (the op divides out the gain) or, for
        # swish, x + b. (NVIDIA's op passes x without the bias there, wrong for swish with a bias.)
        # The custom gradients below account for all of ref's dependence on x and b; without
        # stop_gradient, an outer eager tape would also see the raw ops that use ref, which have no gradient.
        ref = y if spec.ref == 'y' else (x if b is None else x + tf.reshape(bias, _bias_shape(rank, axis)))
        ref = tf.stop_gradient(ref)

        if spec.zero_2nd_grad:
            # Piecewise linear: dx is linear in dy, and its derivative in x is zero.
            @tf.custom_gradient
            def backward(dy):
                dx = kernel(dy, empty, ref, 1)

                def backward2(d_dx, d_db):
                    d_dx, d_db = second_order_inputs(d_dx, d_db, dx)
                    return kernel(d_dx, d_db, ref, 1)
                return (dx, bias_grad(dx)), backward2
            return y, backward

        @tf.custom_gradient
        def backward_with_x(dy, x, bias):
            dx = kernel(dy, empty, ref, 1)

            def backward2(d_dx, d_db):
                # dx = dy * gain * f'(x + b), and db sums dx: their upstream gradients add up to
                # d_dx + d_db, which the op in grad mode 1 / 2 multiplies by gain * f' / gain * f''.
                # The x-gradient also has the factor dy, which NVIDIA's op leaves out.
                d_dx, d_db = second_order_inputs(d_dx, d_db, dx)
                d_x = kernel(d_dx, d_db, ref, 2) * dy
                return kernel(d_dx, d_db, ref, 1), d_x, bias_grad(d_x)
            return (dx, bias_grad(dx)), backward2

        return y, lambda dy: backward_with_x(dy, x, bias)

    return func(x, empty if b is None else b)
