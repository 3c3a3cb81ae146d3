"""Optimizer: Adam with gradients accumulated over minibatch rounds and replicas (NVIDIA's tflib.Optimizer in TF2).

The training loop calls `accumulate(grads)` once per round in each replica (inside `strategy.run`), then
`apply_updates()` once in cross-replica context: the update uses the mean of all accumulated gradients,
so N replicas x R rounds of small batches step exactly like one big batch. An update whose gradients
are not all finite is skipped, as in the original.

Adam is TF1's AdamOptimizer: lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t); v -= lr_t * m / (sqrt(v_hat) + eps).
Optimizers made with `share=other` use other's moments, step count and accumulators (NVIDIA's lazy regularization
gives the regularization step its own optimizer that shares Adam's state with the main one).
"""

from typing import List

import tensorflow as tf


class Optimizer:
    """Adam over a fixed list of variables, with accumulation."""

    def __init__(self, name: str = 'Train', beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8,
                 share: 'Optimizer' = None):
        self.name = name
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self._share = share
        self.variables = None

    def setup(self, variables: List[tf.Variable] = None) -> None:
        """Create the optimizer state for `variables`, by default the shared optimizer's (inside strategy.scope())."""
        if self._share is not None:
            share = self._share
            if variables is not None and [id(v) for v in share.variables] != [id(v) for v in variables]:
                raise ValueError(f'Optimizer {self.name}: a shared optimizer must train the same variables.')
            if (self.beta1, self.beta2, self.epsilon) != (share.beta1, share.beta2, share.epsilon):
                raise ValueError(f'Optimizer {self.name}: a shared optimizer must have the same beta1, beta2, epsilon.')
            # Everything is shared, the accumulators too: each phase applies (and empties) them before the next
            # one starts, so both phases step through one compiled update (apply_updates of `root`).
            self.root = share.root
            self.variables, self.accumulator = share.variables, share.accumulator
            self.moments1, self.moments2, self.step = share.moments1, share.moments2, share.step
            return
        self.root = self
        self.variables = list(variables)
        # Every gradient, flattened, then the number of rounds, in one vector summed over replicas when read: the
        # update costs one all-reduce, not one per variable (each a round trip between the workers of a cluster).
        size = sum(v.shape.num_elements() for v in self.variables) + 1
        self.accumulator = tf.Variable(tf.zeros([size]), trainable=False, name=f'{self.name}_acc',
                                       synchronization=tf.VariableSynchronization.ON_READ,
                                       aggregation=tf.VariableAggregation.SUM)
        self.moments1 = [tf.Variable(tf.zeros_like(v), trainable=False, name=f'{self.name}_m') for v in self.variables]
        self.moments2 = [tf.Variable(tf.zeros_like(v), trainable=False, name=f'{self.name}_v') for v in self.variables]
        self.step = tf.Variable(0.0, trainable=False, name=f'{self.name}_step')

    def state_variables(self) -> dict:
        """The variables a checkpoint needs to continue training exactly (accumulators are always empty then)."""
        if self._share is not None:
            return {}
        state = {f'{self.name}/step': self.step}
        for i, (m, v) in enumerate(zip(self.moments1, self.moments2)):
            state[f'{self.name}/m{i}'] = m
            state[f'{self.name}/v{i}'] = v
        return state

    def reset_optimizer_state(self) -> None:
        """Zero Adam's moments and step count (shared with the optimizers made with share=self)."""
        for var in self.moments1 + self.moments2 + [self.step]:
            var.assign(tf.zeros_like(var))

    def accumulate(self, grads: List[tf.Tensor]) -> None:
        """Add one round's gradients (replica context); None gradients count as zeros."""
        grads = [tf.zeros_like(var) if grad is None else tf.convert_to_tensor(grad) for var, grad in zip(self.variables, grads)]
        self.accumulator.assign_add(tf.concat([tf.reshape(grad, [-1]) for grad in grads] + [tf.ones([1])], axis=0))

    def apply_updates(self, learning_rate: float) -> tf.Tensor:
        """One Adam step of the given learning rate (the caller's schedule) with the mean accumulated gradient
        (cross-replica context). Returns False if skipped."""
        lr = tf.cast(learning_rate, tf.float32)
        total = self.accumulator.read_value()
        flat = total[:-1] / tf.maximum(total[-1], 1.0)
        grads = [tf.reshape(part, var.shape) for part, var in
                 zip(tf.split(flat, [var.shape.num_elements() for var in self.variables]), self.variables)]
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])

        def update():
            step = self.step.assign_add(1.0)
            lr_t = lr * tf.sqrt(1.0 - self.beta2 ** step) / (1.0 - self.beta1 ** step)
            for var, grad, m, v in zip(self.variables, grads, self.moments1, self.moments2):
                # With beta1 = 0 (StyleGAN2's) the formula gives m = grad exactly: three ops fewer to trace and run.
                m_new = m.assign(grad if self.beta1 == 0.0 else self.beta1 * m + (1.0 - self.beta1) * grad)
                v_new = v.assign(self.beta2 * v + (1.0 - self.beta2) * tf.square(grad))
                var.assign_sub(lr_t * m_new / (tf.sqrt(v_new) + self.epsilon))
            return tf.constant(True)

        applied = tf.cond(finite, update, lambda: tf.constant(False))
        with tf.control_dependencies([applied]):
            self.accumulator.assign(tf.zeros(self.accumulator.shape))
        return tf.identity(applied)
