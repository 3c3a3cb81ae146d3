"""LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric"): VGG16 with
the v0.1 linear weights, the perceptual distance of the path length metric (ppl_*).

The network comes from its standard frozen TensorFlow graph, net-lin_vgg_v0.1.pb, which alexlee-gk/lpips-tensorflow
exported from richzhang/PerceptualSimilarity (PyTorch -> ONNX -> TensorFlow, export_to_tensorflow.py). What that
export guarantees and lpips-tensorflow's lpips_tf.py relies on: the two images enter as the tensors '0:0' and '1:0',
NCHW RGB in [-1, 1], and the distance is the only output of the graph's last operation, shaped [N, 1, 1, 1].
"""

import tensorflow as tf

from metrics import frozen_graph, metric_base

LPIPS_FILE = 'net-lin_vgg_v0.1.pb'
LPIPS_URL = 'http://rail.eecs.berkeley.edu/models/lpips/net-lin_vgg_v0.1.pb'
INPUT_NAMES = ('0:0', '1:0')

def last_op_output(graph_def):
    """The name of the output of the graph's last operation, found as lpips-tensorflow finds it: import the graph
    and take the last operation created."""
    with tf.Graph().as_default() as graph:
        tf.graph_util.import_graph_def(graph_def, name='')
        outputs = graph.get_operations()[-1].outputs
    if len(outputs) != 1:
        raise ValueError(f'The last operation of the LPIPS graph has {len(outputs)} outputs; expected the distance '
                         f'only.')
    return outputs[0].name


class LPIPS:
    """distance(images0, images1) -> [N]: LPIPS between two float NCHW batches of the same size, in [0, 255]; RGB,
    or grayscale (used as RGB)."""

    def __init__(self, path):
        graph_def = frozen_graph.read_graph_def(path)
        # Any batch size and image size: the inputs are remapped whatever shape the file's placeholders carry.
        spec = tf.TensorSpec([None, 3, None, None], tf.float32)
        inputs = {name: spec for name in INPUT_NAMES}
        self._graph = frozen_graph.graph_function(graph_def, inputs, [last_op_output(graph_def)])

    def __call__(self, images0, images1):
        # The PPL metric hands over [0, 255] images, as NVIDIA's vgg16_zhang_perceptual.pkl took them; the graph
        # wants LPIPS's own [-1, 1].
        inputs = [tf.cast(images, tf.float32) * (2 / 255) - 1 for images in (images0, images1)]
        if inputs[0].shape[1] == 1:
            inputs = [tf.tile(x, [1, 3, 1, 1]) for x in inputs]
        distance = self._graph(*inputs)[0]
        return tf.reshape(distance, [-1])


def load_lpips(metric_name):
    """LPIPS from the metric data folder, imported once per process; a FileNotFoundError naming the file, the metric
    and its URL if it is missing."""
    return metric_base.load_feature_network(LPIPS_FILE, metric_name, LPIPS_URL, LPIPS)
