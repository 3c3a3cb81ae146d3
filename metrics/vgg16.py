"""VGG16 features for precision and recall (pr50k3): the 4096 activations of the second fully connected layer (fc2,
after its ReLU) of Simonyan and Zisserman's ImageNet VGG16, as NVIDIA's vgg16.pkl gave them.

The weights are Keras' standard ImageNet file for VGG16 with its top (vgg16_weights_tf_dim_ordering_tf_kernels.h5,
a conversion of the weights the Oxford VGG group released), read from the metric data folder by
tf.keras.applications.VGG16(weights=path): this Keras model is the project's only one, a fixed feature extractor.
"""


import numpy as np
import tensorflow as tf

from metrics import metric_base

VGG16_FILE = 'vgg16_weights_tf_dim_ordering_tf_kernels.h5'
VGG16_URL = ('https://storage.googleapis.com/tensorflow/keras-applications/vgg16/'
             'vgg16_weights_tf_dim_ordering_tf_kernels.h5')
INPUT_SIZE = 224

class VGG16Features:
    """features(images) -> float32 [N, 4096] for uint8 NCHW images of any size, RGB or grayscale (used as RGB).
    fingerprint: the MD5 of the weights file, which keys the cached features of the reals."""

    def __init__(self, path):
        # The weights file is channels_last; a keras.json asking for channels_first must not change the model.
        data_format = tf.keras.backend.image_data_format()
        tf.keras.backend.set_image_data_format('channels_last')
        try:
            model = tf.keras.applications.VGG16(weights=path)
        finally:
            tf.keras.backend.set_image_data_format(data_format)
        self._fc2 = tf.keras.Model(model.input, model.get_layer('fc2').output)
        self._features = tf.function(self._compute, input_signature=[tf.TensorSpec([None, 3, None, None], tf.uint8)])
        self.fingerprint = metric_base.file_md5(path)

    def _compute(self, images):
        x = tf.cast(tf.transpose(images, [0, 2, 3, 1]), tf.float32)
        # TF1's resize_bilinear (source pixel = target pixel * in / out, no half-pixel offset): the resize of TF1
        # graphs such as NVIDIA's vgg16.pkl.
        x = tf.raw_ops.ResizeBilinear(images=x, size=[INPUT_SIZE, INPUT_SIZE], align_corners=False,
                                      half_pixel_centers=False)
        x = tf.keras.applications.vgg16.preprocess_input(x, data_format='channels_last')
        return self._fc2(x, training=False)

    def __call__(self, images):
        images = np.asarray(images)
        if images.shape[1] == 1:
            images = np.repeat(images, 3, axis=1)
        return self._features(images)


def load_vgg16(metric_name):
    """VGG16 features from the metric data folder, read once per process; a FileNotFoundError naming the file, the
    metric and its URL if it is missing."""
    return metric_base.load_feature_network(VGG16_FILE, metric_name, VGG16_URL, VGG16Features)
