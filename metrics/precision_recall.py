"""Precision and recall (pr50k3, pr50k3_full): Kynkaanniemi et al. 2019, "Improved Precision and Recall Metric for
Assessing Generative Models", with NVIDIA StyleGAN2's settings and result names (pr50k3_precision, pr50k3_recall),
and stylegan2-ada's pr50k3_full (up to 200000 reals, never mirrored: pr50k3_full_precision, pr50k3_full_recall).

Each set of VGG16 features (reals, fakes) estimates a manifold: the union of balls around its points whose radius
is the distance to the point's k-th nearest neighbour in the set (the point itself counted as the 0th). Precision is
the share of fakes inside the reals' manifold, recall the share of reals inside the fakes' manifold. As in the
original, the features and the squared distances are float16, computed in row and column batches.
"""

import numpy as np
import tensorflow as tf

from metrics import metric_base, vgg16

FAKE_LATENTS_SEED = 1009


@tf.function(input_signature=[tf.TensorSpec([None, None], tf.float16)] * 2)
def pairwise_sq_distances(U, V):
    """[rows, cols] squared euclidean distances between the rows of U and of V, in float16."""
    norm_u = tf.reduce_sum(tf.square(U), axis=1, keepdims=True)
    norm_v = tf.reshape(tf.reduce_sum(tf.square(V), axis=1), [1, -1])
    return tf.maximum(norm_u - 2 * tf.matmul(U, V, transpose_b=True) + norm_v, 0)


class _BatchedDistances:
    """Float16 distances from a batch of rows to all of a reference set, assembled from column batches, each split
    over the devices (as the original splits them over its GPUs)."""

    def __init__(self, reference, col_batch_size, num_gpus):
        self.reference = reference
        self.col_batch_size = col_batch_size
        self.devices = metric_base.devices(num_gpus)

    def __call__(self, rows):
        rows = tf.constant(rows, tf.float16)
        out = np.empty([rows.shape[0], self.reference.shape[0]], np.float16)
        for begin in range(0, self.reference.shape[0], self.col_batch_size):
            cols = np.arange(begin, min(begin + self.col_batch_size, self.reference.shape[0]))
            for device, part in zip(self.devices, np.array_split(cols, len(self.devices))):
                with tf.device(device):
                    out[:, part] = pairwise_sq_distances(rows, self.reference[part]).numpy()
        return out


def manifold_radii(features, nhood_size, row_batch_size, col_batch_size, num_gpus=1):
    """float16 [N]: each point's squared distance to its nhood_size-th nearest neighbour in the set (itself the 0th)."""
    distances = _BatchedDistances(features, col_batch_size, num_gpus)
    radii = np.empty([features.shape[0]], np.float16)
    for begin in range(0, features.shape[0], row_batch_size):
        batch = distances(features[begin:begin + row_batch_size])
        radii[begin:begin + batch.shape[0]] = np.partition(batch, nhood_size, axis=1)[:, nhood_size]
    return radii


def in_manifold(probes, features, radii, row_batch_size, col_batch_size, num_gpus=1):
    """bool [M]: whether each probe lies within the radius of at least one point of the set (its boundary included)."""
    distances = _BatchedDistances(features, col_batch_size, num_gpus)
    inside = np.empty([probes.shape[0]], bool)
    for begin in range(0, probes.shape[0], row_batch_size):
        batch = distances(probes[begin:begin + row_batch_size])
        inside[begin:begin + batch.shape[0]] = np.any(batch <= radii[np.newaxis], axis=1)
    return inside


def knn_precision_recall(ref_features, eval_features, nhood_size, row_batch_size, col_batch_size, num_gpus=1):
    """(precision, recall) of eval_features (fakes) against ref_features (reals), both [N, num_features]."""
    ref_features = np.asarray(ref_features, np.float16)
    eval_features = np.asarray(eval_features, np.float16)
    batching = dict(row_batch_size=row_batch_size, col_batch_size=col_batch_size, num_gpus=num_gpus)
    ref_radii = manifold_radii(ref_features, nhood_size, **batching)
    eval_radii = manifold_radii(eval_features, nhood_size, **batching)
    precision = in_manifold(eval_features, ref_features, ref_radii, **batching).mean()
    recall = in_manifold(ref_features, eval_features, eval_radii, **batching).mean()
    return float(precision), float(recall)


class PR(metric_base.MetricBase):
    """num_images fakes against num_images reals, or with max_reals, against the dataset's first max_reals images
    (fewer if it is smaller; stylegan2-ada's pr50k3_full: 200000). The fakes' latents, labels and noise seeds come
    from default_rng(FAKE_LATENTS_SEED). feature_net: f(uint8 NCHW images) -> [N, num_features], with a fingerprint
    attribute (a string) that keys the cached features of the reals; None = VGG16 fc2 from the metric data folder."""

    def __init__(self, num_images, nhood_size, minibatch_per_gpu, row_batch_size, col_batch_size, feature_net=None,
                 max_reals=None, **kwargs):
        super().__init__(**kwargs)
        self.num_images = num_images
        self.nhood_size = nhood_size
        self.minibatch_per_gpu = minibatch_per_gpu
        self.row_batch_size = row_batch_size
        self.col_batch_size = col_batch_size
        self.feature_net = feature_net
        self.max_reals = max_reals

    def check_files(self):
        if self.feature_net is None:
            metric_base.metric_file(vgg16.VGG16_FILE, self.name, vgg16.VGG16_URL)

    def _evaluate(self, Gs, Gs_kwargs, num_gpus):
        minibatch_size = num_gpus * self.minibatch_per_gpu
        feature_net = self.feature_net or vgg16.load_vgg16(self.name)

        def features(minibatches, num_images, what):
            return self._collect(lambda images: metric_base.run_on_devices(feature_net, images, num_gpus), minibatches,
                                 num_images, what)

        def reals_features():
            num_reals = self.num_images if self.max_reals is None else min(self._dataset_num_images(), self.max_reals)
            return dict(features=features(self._iterate_reals(minibatch_size), num_reals, 'reals'))

        settings = dict(num_images=self.num_images) if self.max_reals is None else dict(max_reals=self.max_reals)
        reals = self._cached_reals_stats(reals_features, features=feature_net.fingerprint, **settings)
        fakes = features(self._iterate_fakes(Gs, minibatch_size, num_gpus, Gs_kwargs,
                                             np.random.default_rng(FAKE_LATENTS_SEED)), self.num_images, 'fakes')
        precision, recall = knn_precision_recall(reals['features'], fakes, self.nhood_size, self.row_batch_size,
                                                 self.col_batch_size, num_gpus)
        self._report_result(precision, suffix='_precision')
        self._report_result(recall, suffix='_recall')
