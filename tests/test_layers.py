"""The layers of training/layers.py tested on their own (the others are tested next to the numpy references of the
networks that use them)."""

import numpy as np
import tensorflow as tf

import dnnlib.tflib as tflib
from training import layers


def test_minibatch_stddev_groups_are_strided():
    x = np.random.RandomState(4).randn(4, 2, 3, 3).astype(np.float32)
    for fmt in ('NCHW', 'NHWC'):
        y = tflib.to_nchw(layers.minibatch_stddev_layer(tflib.nchw_to(tf.constant(x), fmt), group_size=2, fmt=fmt), fmt).numpy()
        # Groups {0, 2} and {1, 3}: sample i sits in group i mod 2.
        for group in ([0, 2], [1, 3]):
            std = np.sqrt(x[group].var(axis=0) + 1e-8).mean()
            for i in group:
                np.testing.assert_allclose(y[i, 2], np.full([3, 3], std), rtol=1e-5)
        np.testing.assert_array_equal(y[:, :2], x)
