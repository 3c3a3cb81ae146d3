"""The Inception network of the FID and the Inception Score: classify_image_graph_def.pb from TensorFlow's
inception-2015-12-05.tgz, the graph of TTUR's FID code and OpenAI's improved-gan Inception Score, which ProGAN's
metrics use directly (StyleGAN2's inception_v3_features and inception_v3_softmax pickles compute the same).

The tensors used, as TTUR and improved-gan use them:
    'ExpandDims:0'            input, float32 NHWC pixels in 0..255 of any size: [1, H, W, 3] in the file (the
                              output of its JPEG decoder); the graph resizes to 299x299 and scales to [-1, 1] itself.
                              Replaced here by an input with a free batch dimension.
    'pool_3:0'                features, [N, 1, 1, 2048] (average pooling): read as [N, 2048].
    'softmax/logits/MatMul'   its second input is the [2048, 1008] weights of the classifier. The probabilities are
                              softmax(features @ weights) without the bias of 'softmax/logits', as improved-gan
                              computes them; the graph's own 'softmax' cannot take a batch: 'pool_3/_reshape'
                              reshapes to the constant [1, 2048].
"""

import os

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import graph_pb2

from metrics import frozen_graph, metric_base

GRAPH_FILE = 'classify_image_graph_def.pb'
PUBLISHED_AT = 'http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz (inside the archive)'
INPUT = 'ExpandDims:0'
FEATURES = 'pool_3:0'
LOGITS_MATMUL = 'softmax/logits/MatMul'
_REQUIRED_NODES = {'ExpandDims': 'the image input', 'pool_3': 'the features',
                   LOGITS_MATMUL: 'the classifier weights of the probabilities'}

def inception_file(metric_name):
    """The path of the graph file in the metric data folder (a clear FileNotFoundError naming the metric if missing)."""
    return os.path.abspath(metric_base.metric_file(GRAPH_FILE, metric_name, PUBLISHED_AT))


def load_inception(metric_name):
    """The Inception network of the metric data folder, imported once per process."""
    return metric_base.load_feature_network(GRAPH_FILE, metric_name, PUBLISHED_AT, Inception)


def without_old_batchnorm(graph_def):
    """The graph with every BatchNormWithGlobalNormalization node (the 2015 graph's batch normalization, an op TF
    removed at GraphDef version 9: TF 2 imports it but refuses to run it) written as the ops of its kernel,
    (t - m) * (rsqrt(v + variance_epsilon) * gamma) + beta, gamma only with scale_after_normalization."""
    result = graph_pb2.GraphDef()
    result.versions.CopyFrom(graph_def.versions)
    result.library.CopyFrom(graph_def.library)
    for node in graph_def.node:
        if node.op != 'BatchNormWithGlobalNormalization':
            result.node.add().CopyFrom(node)
            continue
        t, m, v, beta, gamma = [name for name in node.input if not name.startswith('^')]
        dtype = node.attr['T'].type

        def add(suffix, op, inputs):
            new = result.node.add()
            new.name, new.op = node.name + suffix, op
            new.input.extend(inputs)
            new.attr['T'].type = dtype
            return new.name

        eps = result.node.add()
        eps.name, eps.op = node.name + '/_epsilon', 'Const'
        eps.attr['dtype'].type = dtype
        eps.attr['value'].tensor.CopyFrom(tf.make_tensor_proto(node.attr['variance_epsilon'].f, tf.as_dtype(dtype)))
        scale = add('/_rsqrt', 'Rsqrt', [add('/_var_eps', 'AddV2', [v, eps.name])])
        if node.attr['scale_after_normalization'].b:
            scale = add('/_scale', 'Mul', [scale, gamma])
        scaled = add('/_scaled', 'Mul', [add('/_centered', 'Sub', [t, m]), scale])
        # The last op takes the node's name (its consumers read it) and its control inputs.
        add('', 'AddV2', [scaled, beta] + [name for name in node.input if name.startswith('^')])
    return result


class Inception:
    """The graph as a function: uint8 NCHW images -> (pool_3 features [N, 2048], probabilities [N, 1008])."""

    def __init__(self, path):
        graph_def = frozen_graph.read_graph_def(path)
        names = {node.name for node in graph_def.node}
        for name, role in _REQUIRED_NODES.items():
            if name not in names:
                raise ValueError(f'{path} has no tensor {name} ({role}): it is not the Inception graph {GRAPH_FILE} '
                                 f'published at {PUBLISHED_AT}.')
        self.fingerprint = metric_base.file_md5(path)  # Keys the cached statistics of the reals.

        def features_and_probs(outputs):
            pool3, matmul = outputs
            self.num_features = int(pool3.shape[-1])
            features = tf.reshape(pool3, [-1, self.num_features])
            return tf.concat([features, tf.nn.softmax(tf.matmul(features, matmul.inputs[1]))], axis=1)

        graph = frozen_graph.graph_function(without_old_batchnorm(graph_def),
                                            {INPUT: tf.TensorSpec([None, None, None, 3], tf.float32)},
                                            [FEATURES, LOGITS_MATMUL], features_and_probs)

        @tf.function(input_signature=[tf.TensorSpec([None, 3, None, None], tf.uint8)])
        def run(images):
            return graph(tf.cast(tf.transpose(images, [0, 2, 3, 1]), tf.float32))

        self._run = run

    def __call__(self, images, num_gpus=1):
        """(features, probabilities) of a uint8 NCHW minibatch, split over num_gpus devices."""
        images = np.asarray(images)
        if images.shape[1] == 1:
            images = np.repeat(images, 3, axis=1)  # Grayscale as RGB, as ProGAN's metrics feed it.
        out = metric_base.run_on_devices(self._run, images, num_gpus)
        return out[:, :self.num_features], out[:, self.num_features:]
