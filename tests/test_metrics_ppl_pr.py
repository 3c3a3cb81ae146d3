"""Perceptual path length and precision/recall (metrics/perceptual_path_length.py, metrics/precision_recall.py) and
their feature networks (metrics/lpips.py, metrics/vgg16.py).

The expected values are computed here in numpy from the definitions of NVIDIA StyleGAN2's metrics: slerp of the
normalized z or lerp of w, the second point at t + epsilon, the face crop (rows [3c, 7c), columns [2c, 6c), c =
height / 8), box downsampling to 256, the [0, 255] range, distance / epsilon^2, the mean between the 1st percentile
(rounded down) and the 99th (rounded up); k-NN manifolds whose radius is the squared distance to the k-th neighbour
counting the point itself, precision = fakes inside the reals' manifold, recall = reals inside the fakes'. Toy
generators, distances and feature networks stand in where numpy must redo the computation; small stand-ins of the
feature network files are written under their standard names.
"""

import math
import os
import types

import h5py
import numpy as np
import pytest
import tensorflow as tf

import dnnlib
import dnnlib.tflib as tflib
from metrics import lpips, metric_base, vgg16
from metrics.perceptual_path_length import PPL, SAMPLES_SEED
from metrics.precision_recall import FAKE_LATENTS_SEED, PR, knn_precision_recall
from lpips_stand_in import TinyLPIPS
from small_networks import make_networks
from tfrecords_for_tests import write_dataset
from training import misc

LPIPS_URL = 'http://rail.eecs.berkeley.edu/models/lpips/net-lin_vgg_v0.1.pb'
VGG16_FILE = 'vgg16_weights_tf_dim_ordering_tf_kernels.h5'
VGG16_URL = 'https://storage.googleapis.com/tensorflow/keras-applications/vgg16/' + VGG16_FILE


@pytest.fixture
def dirs(tmp_path):
    """A throwaway cache folder and metric data folder for the test."""
    (tmp_path / 'metric-data').mkdir()
    dnnlib.util.set_cache_dir(str(tmp_path / 'cache'))
    metric_base.set_metric_data_dir(str(tmp_path / 'metric-data'))
    yield tmp_path
    dnnlib.util.set_cache_dir(None)
    metric_base.set_metric_data_dir(None)


# ----------------------------------------------------------------------------
# Numpy definitions.


def np_slerp(a, b, t):
    """Shoemake's slerp between the directions of a and b: (sin((1-t)w) a + sin(tw) b) / sin(w)."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    omega = np.arccos(np.clip(np.sum(a * b, axis=-1, keepdims=True), -1, 1))
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def np_face_region(images):
    c = images.shape[2] // 8
    return images[:, :, 3 * c:7 * c, 2 * c:6 * c]


def np_box_downsample(images, factor):
    """Mean of the factor x factor pixel grid offsets."""
    return sum(images[:, :, i::factor, j::factor] for i in range(factor) for j in range(factor)) / factor ** 2


def np_ppl_images(images, crop):
    """Generator output [-1, 1] -> what the distance sees: face region, at most 256 pixels, [0, 255]."""
    if crop:
        images = np_face_region(images)
    if images.shape[2] >= 512:
        images = np_box_downsample(images, images.shape[2] // 256)
    return (images + 1) * 127.5


def np_trimmed_mean(distances):
    """Sort; drop what lies below the 1st percentile's sample (index floor(0.01 (N-1))) and above the 99th's (index
    ceil(0.99 (N-1)))."""
    d = np.sort(distances)
    lo, hi = math.floor(0.01 * (len(d) - 1)), math.ceil(0.99 * (len(d) - 1))
    return d[lo:hi + 1].mean()


def np_sq_distances(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return ((a[:, np.newaxis] - b[np.newaxis]) ** 2).sum(axis=-1)


def brute_force_pr(ref, evals, k):
    ref_radius = np.sort(np_sq_distances(ref, ref), axis=1)[:, k]  # Column 0 is the point itself.
    eval_radius = np.sort(np_sq_distances(evals, evals), axis=1)[:, k]
    precision = np.mean([np.any(row <= ref_radius) for row in np_sq_distances(evals, ref)])
    recall = np.mean([np.any(row <= eval_radius) for row in np_sq_distances(ref, evals)])
    return precision, recall


class ToyDistance:
    """Weighted squared difference of two [0, 255] images; the weights have the shape the images must have."""

    def __init__(self, shape, seed=0):
        self.weights = np.random.RandomState(seed).uniform(0.5, 1.5, shape).astype(np.float32)

    def __call__(self, images0, images1):
        return tf.reduce_sum(self.weights * tf.square(images0 - images1), axis=[1, 2, 3])

    def numpy(self, images0, images1):
        return (self.weights * (images0 - images1) ** 2).sum(axis=(1, 2, 3))


# ----------------------------------------------------------------------------
# Perceptual path length on a toy generator whose images numpy can redo.


def toy_mapping(latents_in, labels_in, latent_size=4, label_size=0, dlatent_size=3, dlatent_broadcast=None, **_kwargs):
    z = tflib.set_input_shape(latents_in, [None, latent_size], 'toy mapping: latents')
    y = tflib.set_input_shape(labels_in, [None, label_size], 'toy mapping: labels')
    weight = tflib.get_variable('weight', [latent_size + label_size, dlatent_size], tflib.init_normal())
    w = tf.tanh(tf.matmul(tf.concat([z, y], axis=1), weight))
    return tf.tile(w[:, np.newaxis], [1, dlatent_broadcast, 1])


def toy_synthesis(dlatents_in, num_layers=2, dlatent_size=3, resolution=16, randomize_noise=True, gain=1.0, **_kwargs):
    w = tflib.set_input_shape(dlatents_in, [None, num_layers, dlatent_size], 'toy synthesis: dlatents')
    basis = tflib.get_variable('basis', [num_layers, dlatent_size, 3, resolution, resolution], tflib.init_normal())
    noise = [tflib.get_variable('noise%d' % i, [1, 1, resolution, resolution], tflib.init_normal(), trainable=False)
             for i in range(2)]
    if randomize_noise:
        noise = [tf.random.normal([tf.shape(w)[0], 1, resolution, resolution]) for _ in noise]
    return tf.tanh(gain * (tf.einsum('nld,ldchw->nchw', w, basis) + 0.5 * noise[0] - 0.25 * noise[1]))


def toy_generator(resolution, label_size):
    mapping = tflib.Network('toy_mapping', func_name=toy_mapping, label_size=label_size, dlatent_broadcast=2)
    synthesis = tflib.Network('toy_synthesis', func_name=toy_synthesis, resolution=resolution)
    return types.SimpleNamespace(name='toy', components=dnnlib.EasyDict(mapping=mapping, synthesis=synthesis),
                                 input_shape=mapping.input_shape, input_shapes=mapping.input_shapes)


def toy_labels(label_size):
    return lambda n, rnd: np.eye(label_size, dtype=np.float32)[rnd.integers(label_size, size=n)]


def np_toy_ppl(Gs, num_samples, minibatch, space, sampling, crop, epsilon, label_size, gain, distance):
    """All the distances of the metric's samples, redone in float64 from the same draws."""
    rnd = np.random.default_rng(SAMPLES_SEED)
    weight = Gs.components.mapping.get_var('weight').astype(np.float64)
    basis = Gs.components.synthesis.get_var('basis').astype(np.float64)
    distances = []
    for _ in range(0, num_samples, minibatch):
        z = rnd.standard_normal([minibatch, 2, 4]).astype(np.float32)
        t = rnd.uniform(0.0, 1.0, minibatch) if sampling == 'full' else np.zeros(minibatch)
        t = t.astype(np.float32)[:, np.newaxis].astype(np.float64)
        labels = toy_labels(label_size)(minibatch, rnd) if label_size else np.zeros([minibatch, 0])
        noise = [rnd.standard_normal([1, 1] + list(basis.shape[3:])).astype(np.float32) for _ in range(2)]

        def mapping(latents):
            return np.tanh(np.concatenate([latents, labels], axis=1) @ weight)

        if space == 'z':
            w_ends = [mapping(np_slerp(z[:, 0], z[:, 1], t)), mapping(np_slerp(z[:, 0], z[:, 1], t + epsilon))]
        else:
            w0, w1 = mapping(z[:, 0]), mapping(z[:, 1])
            w_ends = [w0 + (w1 - w0) * t, w0 + (w1 - w0) * (t + epsilon)]
        # Every layer gets the same w: the sum over the layers' bases.
        images = [np.tanh(gain * (np.einsum('nd,ldchw->nchw', w, basis) + 0.5 * noise[0] - 0.25 * noise[1]))
                  for w in w_ends]
        images = [np_ppl_images(x, crop) for x in images]
        distances.append(distance.numpy(*images) / epsilon ** 2)
    return np.concatenate(distances)


@pytest.mark.parametrize('space,sampling,crop,resolution,num_samples,label_size,overrides,image_size', [
    # slerp, labels, Gs_overrides, and enough samples (200) that the percentile filter drops the smallest and largest.
    ('z', 'full', True, 32, 200, 3, dict(gain=0.5, dtype='float32', mapping_dtype='float32'), 16),
    # The crop, then the downsampling by 2 that the cropped size (512) calls for.
    ('w', 'full', True, 1024, 4, 0, None, 256),
    # No crop: downsampled from 512.
    ('w', 'end', False, 512, 4, 0, None, 256),
    # 10 samples in minibatches of 4 give 12 distances, as in the original.
    ('z', 'end', True, 64, 10, 0, None, 32),
])
def test_ppl_against_numpy(space, sampling, crop, resolution, num_samples, label_size, overrides, image_size):
    tf.random.set_seed(1)
    Gs = toy_generator(resolution, label_size)
    noise_before = [Gs.components.synthesis.get_var('noise%d' % i) for i in range(2)]
    distance = ToyDistance([3, image_size, image_size])
    epsilon = 1e-2  # Large enough that float32 differences of the two images stay accurate.
    metric = PPL(name='ppl_test', num_samples=num_samples, epsilon=epsilon, space=space, sampling=sampling, crop=crop,
                 minibatch_per_gpu=4, Gs_overrides=overrides, distance=distance)
    if label_size:
        metric._get_random_labels = toy_labels(label_size)  # Stands in for the dataset's labels.
    metric._evaluate(Gs, Gs_kwargs=dict(is_validation=True), num_gpus=1)

    expected = np_toy_ppl(Gs, num_samples, 4, space, sampling, crop, epsilon, label_size,
                          (overrides or {}).get('gain', 1.0), distance)
    assert len(expected) == math.ceil(num_samples / 4) * 4
    if num_samples >= 200:
        assert not np.isclose(np_trimmed_mean(expected), expected.mean(), rtol=1e-3)  # The filter matters here.
    assert metric.get_results()['ppl_test'] == pytest.approx(np_trimmed_mean(expected), rel=1e-3)
    # The metric draws the noise of its own copy of the synthesis network.
    for i, before in enumerate(noise_before):
        np.testing.assert_array_equal(Gs.components.synthesis.get_var('noise%d' % i), before)


def test_ppl_rejects_generators_without_mapping_and_synthesis():
    metric = PPL(name='ppl_zend', num_samples=4, epsilon=1e-4, space='z', sampling='end', crop=True,
                 minibatch_per_gpu=4, distance=ToyDistance([3, 8, 8]))
    progan_like = types.SimpleNamespace(name='G_paper', components=dnnlib.EasyDict())
    with pytest.raises(ValueError, match='mapping and synthesis'):
        metric._evaluate(progan_like, Gs_kwargs={}, num_gpus=1)
    with pytest.raises(ValueError, match='space'):
        PPL(num_samples=4, epsilon=1e-4, space='x', sampling='end', crop=True, minibatch_per_gpu=4, name='ppl')


# ----------------------------------------------------------------------------
# Precision and recall.


def test_knn_precision_recall_by_hand():
    # k = 1. Reals 0, 1, 3, 6, 10: radii (squared) 1, 1, 4, 9, 16. Fakes 2, 13, 20: radii 121, 49, 49.
    # Fake 2 is within 1 of real 1 (radius 1, on the boundary), 13 within 9 of 10 (radius 16), 20 is 100 from 10.
    # Every real is within 121 of fake 2.
    reals = np.array([[0], [1], [3], [6], [10]])
    fakes = np.array([[2], [13], [20]])
    precision, recall = knn_precision_recall(reals, fakes, nhood_size=1, row_batch_size=2, col_batch_size=2)
    assert (precision, recall) == (pytest.approx(2 / 3), 1.0)


def test_knn_precision_recall_against_brute_force():
    rnd = np.random.RandomState(0)
    # Small integers: every float16 distance is exact, so ties and the boundary compare as in float64.
    reals = rnd.randint(0, 4, [37, 8])
    reals[5] = reals[6] = reals[0]      # Three equal points: radius 0 for k = 1 (ties at the k-th neighbour).
    reals[7] = reals[1]
    reals[7, 3] += 1                    # A near duplicate (distance 1).
    reals[30:34] -= 5                   # Reals far from the fakes.
    fakes = rnd.randint(0, 4, [29, 8])
    fakes[:6] = reals[10:16]            # Fakes on real points.
    fakes[6:12] += 6                    # Fakes far from the reals.
    for k in (1, 3):
        # Row and column batches smaller than the sets, which they do not divide.
        result = knn_precision_recall(reals, fakes, nhood_size=k, row_batch_size=8, col_batch_size=5)
        expected = brute_force_pr(reals, fakes, k)
        assert result == pytest.approx(expected, abs=1e-12)
        assert 0 < expected[0] < 1 and 0 < expected[1] < 1


# ----------------------------------------------------------------------------
# The feature network files.


def test_lpips_from_frozen_graph(dirs):
    tiny = TinyLPIPS()
    tiny.write(dirs / 'metric-data')
    images0, images1 = np.random.RandomState(1).uniform(0, 255, [2, 5, 3, 6, 7]).astype(np.float32)
    distance = lpips.load_lpips('ppl_wend')
    assert lpips.load_lpips('ppl_zfull') is distance  # Imported once per process.
    np.testing.assert_allclose(distance(images0, images1).numpy(), tiny.numpy(images0, images1), rtol=1e-5)
    # Grayscale images are used as RGB.
    gray0, gray1 = images0[:, :1], images1[:, :1]
    np.testing.assert_allclose(distance(gray0, gray1).numpy(),
                               tiny.numpy(np.repeat(gray0, 3, axis=1), np.repeat(gray1, 3, axis=1)), rtol=1e-5)


def write_keras_h5_weights(path, model):
    """Keras' HDF5 weights layout (as vgg16_weights_tf_dim_ordering_tf_kernels.h5): the layer names as a root
    attribute, one group per layer listing its weight names, one dataset per weight."""
    with h5py.File(path, 'w') as file:
        file.attrs['layer_names'] = [layer.name.encode() for layer in model.layers]
        for layer in model.layers:
            group = file.create_group(layer.name)
            names = ['%s_W_%d:0' % (layer.name, i) for i in range(len(layer.weights))]
            group.attrs['weight_names'] = [name.encode() for name in names]
            for name, value in zip(names, layer.get_weights()):
                group.create_dataset(name, data=value)


def np_resize_bilinear_tf1(images, size):
    """TF1's resize_bilinear (align_corners=False): target pixel i samples source position i * in / out."""
    def axis_weights(n_in):
        pos = np.arange(size) * (n_in / size)
        lo = np.floor(pos).astype(int)
        return lo, np.minimum(lo + 1, n_in - 1), pos - lo
    y0, y1, wy = axis_weights(images.shape[1])
    x0, x1, wx = axis_weights(images.shape[2])
    rows = images[:, y0] * (1 - wy)[None, :, None, None] + images[:, y1] * wy[None, :, None, None]
    return rows[:, :, x0] * (1 - wx)[None, None, :, None] + rows[:, :, x1] * wx[None, None, :, None]


def test_vgg16_fc2_features_from_keras_weights_file(dirs):
    model = tf.keras.applications.VGG16(weights=None)  # Random weights, saved under the standard file name.
    write_keras_h5_weights(str(dirs / 'metric-data' / VGG16_FILE), model)
    rnd = np.random.RandomState(2)
    images = rnd.randint(0, 256, [2, 3, 20, 28]).astype(np.uint8)
    gray = rnd.randint(0, 256, [1, 1, 16, 16]).astype(np.uint8)  # Used as RGB.

    # Resized to 224, RGB -> BGR, ImageNet mean pixel subtracted (Keras' 'caffe' preprocessing), fc2 of the model.
    x = [np_resize_bilinear_tf1(x.transpose(0, 2, 3, 1).astype(np.float64), 224)
         for x in (images, np.repeat(gray, 3, axis=1))]
    x = np.concatenate(x)[..., ::-1] - np.array([103.939, 116.779, 123.68])
    expected = tf.keras.Model(model.input, model.get_layer('fc2').output)(x.astype(np.float32)).numpy()
    del model

    vgg = vgg16.load_vgg16('pr50k3')
    assert vgg16.load_vgg16('pr50k3') is vgg  # Read once per process.
    features = np.concatenate([vgg(images), vgg(gray)])
    assert features.shape == (3, 4096) and np.mean(expected > 0) > 0.1
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_missing_feature_network_files_name_file_metric_and_url(dirs):
    for load, filename, metric, url in [(lpips.load_lpips, 'net-lin_vgg_v0.1.pb', 'ppl_wend', LPIPS_URL),
                                        (vgg16.load_vgg16, VGG16_FILE, 'pr50k3', VGG16_URL)]:
        with pytest.raises(FileNotFoundError) as err:
            load(metric)
        assert filename in str(err.value) and metric in str(err.value) and url in str(err.value)

    ppl_args = dict(name='ppl_zfull', num_samples=4, epsilon=1e-4, space='z', sampling='full', crop=True,
                    minibatch_per_gpu=4)
    pr_args = dict(name='pr50k3', num_images=8, nhood_size=3, minibatch_per_gpu=8, row_batch_size=8, col_batch_size=8)
    with pytest.raises(FileNotFoundError, match='net-lin_vgg_v0.1.pb'):
        PPL(**ppl_args).check_files()
    with pytest.raises(FileNotFoundError, match=VGG16_FILE):
        PR(**pr_args).check_files()
    PPL(distance=ToyDistance([3, 8, 8]), **ppl_args).check_files()  # With their stand-ins they need no files.
    PR(feature_net=lambda images: images, **pr_args).check_files()


# ----------------------------------------------------------------------------
# End to end: run() on a snapshot pickle and a TFRecord dataset.


@pytest.fixture(scope='module')
def snapshot(tmp_path_factory):
    """A tiny StyleGAN2 snapshot, and a dataset of 20 of its own images (so that reals and fakes overlap)."""
    root = tmp_path_factory.mktemp('snapshot')
    tf.random.set_seed(0)  # The same networks in every run (the PR test counts on its reals and fakes overlapping).
    G, D, Gs = make_networks()
    pkl = str(root / 'network-snapshot-000123.pkl')
    misc.save_pkl((G, D, Gs), pkl)
    latents = np.random.RandomState(9).randn(20, Gs.input_shape[1])
    images = Gs.run(latents, None, is_validation=True, randomize_noise=False,
                    output_transform=dict(func=tflib.convert_images_to_uint8))
    write_dataset(str(root / 'data' / 'mine'), images)
    return types.SimpleNamespace(pkl=pkl, data_dir=str(root / 'data'), images=images)


def run_args(dirs, snapshot, **kwargs):
    return dict(run_dir=str(dirs), data_dir=snapshot.data_dir, dataset_args=dict(tfrecord_dir='mine'), num_gpus=1,
                **kwargs)


def result_lines(path):
    with open(path) as file:
        return file.read().splitlines()


@pytest.mark.parametrize('distance_name', ['toy', 'lpips'])
def test_ppl_run_end_to_end(dirs, snapshot, distance_name):
    epsilon = 1e-2
    if distance_name == 'lpips':  # The default: LPIPS from the metric data folder.
        distance = TinyLPIPS()
        distance.write(dirs / 'metric-data')
        metric_distance = None
    else:
        distance = metric_distance = ToyDistance([3, 8, 8])  # 16x16 images, face region 8x8.
    metric = PPL(name='ppl_wend', num_samples=6, epsilon=epsilon, space='w', sampling='end', crop=True,
                 minibatch_per_gpu=4, distance=metric_distance)
    results = metric.run(snapshot.pkl, **run_args(dirs, snapshot))

    # The same samples through the pickle's mapping and synthesis networks, with numpy in between.
    _G, _D, Gs = misc.load_pkl(snapshot.pkl)
    mapping, synthesis = Gs.components.mapping, Gs.components.synthesis
    rnd = np.random.default_rng(SAMPLES_SEED)
    distances = []
    for _ in range(2):  # 6 samples in minibatches of 4.
        z = rnd.standard_normal([4, 2, Gs.input_shape[1]])
        for name, var in synthesis.vars.items():
            if name.startswith('noise'):
                synthesis.set_var(name, rnd.standard_normal(var.shape.as_list()))
        w = mapping.run(z.reshape(8, -1), None).astype(np.float64)
        w0, w1 = w[0::2], w[1::2]
        ends = [synthesis.run(x.astype(np.float32), randomize_noise=False) for x in (w0, w0 + (w1 - w0) * epsilon)]
        distances.append(distance.numpy(*[np_ppl_images(x.astype(np.float64), crop=True) for x in ends]) / epsilon ** 2)
    expected = np_trimmed_mean(np.concatenate(distances))

    assert results == {'ppl_wend': pytest.approx(expected, rel=1e-3)}
    [line] = result_lines(dirs / 'metric-ppl_wend.txt')
    assert line.startswith('network-snapshot-000123'.ljust(30) + ' time ')
    assert line.endswith(' ppl_wend %.4f' % results['ppl_wend'])


class ToyFeatures:
    """Coarse pixels in 0..3 (small integers: exact in float16); counts the images it sees."""

    def __init__(self, fingerprint='coarse pixels'):
        self.fingerprint = fingerprint
        self.seen = 0

    def __call__(self, images):
        self.seen += len(images)
        return self.numpy(images)

    @staticmethod
    def numpy(images):
        return (np.asarray(images)[:, :, ::4, ::4] // 64).reshape(len(images), -1).astype(np.float32)


def test_pr_run_end_to_end_with_cached_reals(dirs, snapshot):
    args = run_args(dirs, snapshot, Gs_kwargs=dict(is_validation=True, randomize_noise=False))
    pr_args = dict(name='pr50k3', num_images=10, nhood_size=3, minibatch_per_gpu=4, row_batch_size=4, col_batch_size=3)
    features = ToyFeatures()
    results = PR(feature_net=features, **pr_args).run(snapshot.pkl, **args)
    assert features.seen == 20  # 10 reals and 10 fakes.

    # Reals: the dataset's first 10 images in file order. Fakes: the pickle's Gs on the metric's latents.
    _G, _D, Gs = misc.load_pkl(snapshot.pkl)
    rnd = np.random.default_rng(FAKE_LATENTS_SEED)
    fakes = np.concatenate([Gs.run(rnd.standard_normal([4, Gs.input_shape[1]]), None, is_validation=True,
                                   randomize_noise=False, output_transform=dict(func=tflib.convert_images_to_uint8))
                            for _ in range(3)])[:10]
    precision, recall = brute_force_pr(ToyFeatures.numpy(snapshot.images[:10]), ToyFeatures.numpy(fakes), 3)
    assert 0 < precision < 1 and 0 < recall < 1  # The snapshot's reals and fakes overlap in part.
    assert results == {'pr50k3_precision': pytest.approx(precision), 'pr50k3_recall': pytest.approx(recall)}

    # A second run reads the reals' features from the cache: the feature network sees only the 10 fakes. Another
    # feature network (fingerprint) computes them again.
    features = ToyFeatures()
    assert PR(feature_net=features, **pr_args).run(snapshot.pkl, **args) == results
    assert features.seen == 10
    [cached] = os.listdir(dirs / 'cache' / 'metric-stats')
    assert cached.endswith('-pr50k3-mine.npz')
    features = ToyFeatures('other features')
    assert PR(feature_net=features, **pr_args).run(snapshot.pkl, **args) == results
    assert features.seen == 20

    lines = result_lines(dirs / 'metric-pr50k3.txt')
    assert len(lines) == 3
    for line in lines:
        assert line.startswith('network-snapshot-000123'.ljust(30) + ' time ')
        assert line.endswith(' pr50k3_precision %-10.4f pr50k3_recall %.4f' % (precision, recall))
