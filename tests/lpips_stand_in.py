"""A small stand-in of net-lin_vgg_v0.1.pb (LPIPS) with a numpy twin, for the PPL and projector tests."""

import os

import numpy as np
import tensorflow as tf


class TinyLPIPS:
    """A graph with the interface of net-lin_vgg_v0.1.pb: inputs '0:0' and '1:0' (NCHW, [-1, 1], batch baked to 1
    in the placeholders), distance [N, 1, 1, 1] from the last operation. Inside, an LPIPS in miniature: scaling
    layer, one 1x1 convolution with ReLU, unit-normalized channels, weighted squared difference, spatial mean.
    numpy(images0, images1): the same for [0, 255] images."""

    def __init__(self, seed=1):
        rnd = np.random.RandomState(seed)
        self.conv, self.lin = rnd.randn(4, 3).astype(np.float32), rnd.uniform(0.1, 1, 4).astype(np.float32)
        self.shift, self.scale = np.float32([-.030, -.088, -.188]), np.float32([.458, .448, .450])

    def write(self, folder):
        graph = tf.Graph()
        with graph.as_default():
            features = []
            for name in ('0', '1'):
                x = tf.compat.v1.placeholder(tf.float32, [1, 3, None, None], name=name)
                x = tf.reshape(x, [-1, 3, tf.shape(x)[2], tf.shape(x)[3]])  # Takes 3 channels only, as VGG16 does.
                x = (x - self.shift[:, np.newaxis, np.newaxis]) / self.scale[:, np.newaxis, np.newaxis]
                f = tf.nn.relu(tf.einsum('nchw,dc->ndhw', x, self.conv))
                features.append(f / (tf.sqrt(tf.reduce_sum(tf.square(f), axis=1, keepdims=True)) + 1e-10))
            d = tf.einsum('nchw,c->nhw', tf.square(features[0] - features[1]), self.lin)
            tf.reshape(tf.reduce_mean(d, axis=[1, 2]), [-1, 1, 1, 1], name='Reshape_10')
        with open(os.path.join(folder, 'net-lin_vgg_v0.1.pb'), 'wb') as file:
            file.write(graph.as_graph_def().SerializeToString())

    def features(self, images):
        x = (images / 127.5 - 1 - self.shift[:, None, None]) / self.scale[:, None, None]
        f = np.maximum(np.einsum('nchw,dc->ndhw', x, self.conv), 0)
        return f / (np.sqrt((f ** 2).sum(axis=1, keepdims=True)) + 1e-10)

    def numpy(self, images0, images1):
        diff = self.features(images0) - self.features(images1)
        return np.einsum('nchw,c->nhw', diff ** 2, self.lin).mean(axis=(1, 2))
