"""FID and IS (metrics/frechet_inception_distance.py, inception_score.py) and the 2015 Inception graph route
(metrics/inception.py), against numpy: the formulas on random data, and the metrics end to end with a tiny graph that
has the tensors of classify_image_graph_def.pb the loader uses (batch 1 baked in, the old batch normalization op)."""

import os
import re

import numpy as np
import pytest
import tensorflow as tf

import dnnlib
from metrics import inception, metric_base, metric_defaults
from metrics.frechet_inception_distance import FID, frechet_distance
from metrics.inception_score import IS, inception_score
from small_networks import make_networks
from tfrecords_for_tests import color_squares, write_dataset
from training import misc

URL = 'http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz'
RESIZE = 6  # The tiny graph's ResizeBilinear size (299 in the real one).
EPSILON = 1e-3
BN_PARAMS = ('moving_mean', 'moving_variance', 'beta', 'gamma')


# ----------------------------------------------------------------------------
# Independent computations.


def reference_fid(features1, features2):
    """FID from the features themselves: with centred features A, B (rows), the eigenvalues of cov(A) cov(B) are
    the squared singular values of A B^T / sqrt((n_a - 1)(n_b - 1)), so Tr sqrtm is their sum (no matrix root)."""
    a = features1 - features1.mean(axis=0)
    b = features2 - features2.mean(axis=0)
    na, nb = len(a) - 1, len(b) - 1
    trace_sqrt = np.linalg.svd(a @ b.T, compute_uv=False).sum() / np.sqrt(na * nb)
    return (np.square(features1.mean(axis=0) - features2.mean(axis=0)).sum() + np.square(a).sum() / na
            + np.square(b).sum() / nb - 2 * trace_sqrt)


def gaussian(features):
    """(mean, covariance) of the rows of features."""
    return features.mean(axis=0), np.cov(features, rowvar=False)


def softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def tiny_params(num_features, seed):
    rnd = np.random.RandomState(seed)
    return dict(conv=rnd.randn(3, num_features) * 0.7, moving_mean=rnd.randn(num_features) * 0.1,
                moving_variance=rnd.uniform(0.5, 2.0, num_features), beta=rnd.randn(num_features) * 0.1,
                gamma=rnd.uniform(0.5, 1.5, num_features), weights=rnd.randn(num_features, 1008) * 0.3,
                bias=rnd.randn(1008) * 5)


def resize_bilinear_legacy(x, size):
    """TF's ResizeBilinear without align_corners or half-pixel centres (the 2015 graph's): output pixel i reads
    the input at i * in / out, between floor() and the next pixel (clamped to the edge)."""
    def taps(n_in):
        src = np.arange(size) * (n_in / size)
        lo = np.floor(src).astype(int)
        return lo, np.minimum(lo + 1, n_in - 1), src - lo
    y0, y1, fy = taps(x.shape[1])
    x0, x1, fx = taps(x.shape[2])
    rows = x[:, y0] * (1 - fy)[:, None, None] + x[:, y1] * fy[:, None, None]
    return rows[:, :, x0] * (1 - fx)[:, None] + rows[:, :, x1] * fx[:, None]


def tiny_reference(params, images, scale_after_normalization=True):
    """The tiny graph in numpy: (features, softmax of features @ weights, without the bias) of uint8 NCHW images."""
    x = images.astype(np.float64)
    x = np.repeat(x, 3, axis=1) if x.shape[1] == 1 else x
    x = (resize_bilinear_legacy(x.transpose(0, 2, 3, 1), RESIZE) - 128) / 128
    x = x @ params['conv']
    scale = 1 / np.sqrt(params['moving_variance'] + EPSILON)
    scale = scale * params['gamma'] if scale_after_normalization else scale
    x = (x - params['moving_mean']) * scale + params['beta']
    features = np.maximum(x, 0).mean(axis=(1, 2))
    return features, softmax(features @ params['weights'])


# ----------------------------------------------------------------------------
# The tiny graph.


def tiny_graph_def(params, scale_after_normalization=True):
    """The names and shapes the loader relies on, laid out as in classify_image_graph_def.pb: the JPEG decoder, then
    'ExpandDims' [1, H, W, 3], ResizeBilinear, Sub 128, Mul 1/128, a convolution with the old batch normalization
    op, 'pool_3' [1, 1, 1, F], 'pool_3/_reshape' to the constant [1, F], 'softmax/logits/MatMul' with the weights
    [F, 1008], the bias add 'softmax/logits' and 'softmax'."""
    num_features = params['conv'].shape[1]
    with tf.Graph().as_default() as graph:
        decoded = tf.io.decode_jpeg(tf.constant(b'', name='DecodeJpeg/contents'), channels=3, name='DecodeJpeg')
        x = tf.expand_dims(tf.cast(decoded, tf.float32, name='Cast'), 0, name='ExpandDims')
        x = tf.compat.v1.image.resize_bilinear(x, [RESIZE, RESIZE], name='ResizeBilinear')
        x = tf.multiply(tf.subtract(x, 128.0, name='Sub'), 1 / 128, name='Mul')
        x = tf.nn.conv2d(x, np.float32(params['conv'])[np.newaxis, np.newaxis], 1, 'VALID', name='conv/Conv2D')
        for name in BN_PARAMS:
            tf.constant(np.float32(params[name]), name='conv/batchnorm/' + name)
        x = tf.nn.relu(tf.identity(x, name='conv/batchnorm'), name='conv')
        pool = tf.nn.avg_pool2d(x, RESIZE, 1, 'VALID', name='pool_3')
        flat = tf.reshape(pool, [1, num_features], name='pool_3/_reshape')
        logits = tf.matmul(flat, tf.constant(np.float32(params['weights']), name='softmax/weights'),
                           name='softmax/logits/MatMul')
        tf.nn.softmax(tf.nn.bias_add(logits, tf.constant(np.float32(params['bias']), name='softmax/biases'),
                                     name='softmax/logits'), name='softmax')
    graph_def = graph.as_graph_def()
    # BatchNormWithGlobalNormalization, as the 2015 file has it: TF 2 no longer builds it, so it is written here.
    node = next(node for node in graph_def.node if node.name == 'conv/batchnorm')
    node.op = 'BatchNormWithGlobalNormalization'
    node.input[:] = ['conv/Conv2D'] + ['conv/batchnorm/' + name for name in BN_PARAMS]
    node.attr['variance_epsilon'].f = EPSILON
    node.attr['scale_after_normalization'].b = scale_after_normalization
    graph_def.versions.producer = 8  # Older than the op's removal (version 9), as the 2015 file.
    return graph_def


def write_graph(folder, graph_def):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, inception.GRAPH_FILE), 'wb') as file:
        file.write(graph_def.SerializeToString())


@pytest.fixture
def metric_data(tmp_path):
    """A metric data folder with the tiny graph (64 features: FID's eigendecompositions of 2048x2048 matrices
    would take seconds each on the CPU), and a throwaway dnnlib cache; both reset afterwards."""
    params = tiny_params(64, seed=3)
    write_graph(str(tmp_path / 'metric-data'), tiny_graph_def(params))
    metric_base.set_metric_data_dir(str(tmp_path / 'metric-data'))
    dnnlib.util.set_cache_dir(str(tmp_path / 'cache'))
    yield params
    metric_base.set_metric_data_dir(None)
    dnnlib.util.set_cache_dir(None)


@pytest.fixture(scope='module')
def snapshot(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('pkl') / 'network-snapshot-000000.pkl')
    misc.save_pkl(make_networks(), path)
    return path


def record_fakes(monkeypatch, metric):
    """The list the fake minibatches the metric draws are appended to."""
    recorded, original = [], metric._iterate_fakes

    def recording(*args, **kwargs):
        for images in original(*args, **kwargs):
            recorded.append(np.array(images))
            yield images

    monkeypatch.setattr(metric, '_iterate_fakes', recording)
    return recorded


# ----------------------------------------------------------------------------
# The formulas.


def test_frechet_distance_against_numpy():
    rnd = np.random.RandomState(0)
    a = rnd.randn(300, 64) @ rnd.randn(64, 64) * 0.3 + 1.0
    b = rnd.randn(250, 64) @ rnd.randn(64, 64) * 0.2
    (mu_a, sigma_a), (mu_b, sigma_b) = gaussian(a), gaussian(b)
    expected = reference_fid(a, b)
    assert frechet_distance(mu_a, sigma_a, mu_b, sigma_b) == pytest.approx(expected, rel=1e-9)
    # The same through the eigenvalues of the product itself (full rank here: they are real and positive).
    eig = np.linalg.eigvals(sigma_a @ sigma_b)
    assert np.all(eig.real > 0)
    direct = np.square(mu_a - mu_b).sum() + np.trace(sigma_a + sigma_b) - 2 * np.sqrt(eig.real).sum()
    assert expected == pytest.approx(direct, rel=1e-9)
    # Diagonal covariances: |dmu|^2 + sum (sqrt(s1) - sqrt(s2))^2.
    s1, s2 = rnd.uniform(0.1, 3, 8), rnd.uniform(0.1, 3, 8)
    mu1, mu2 = rnd.randn(8), rnd.randn(8)
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(
        np.square(mu1 - mu2).sum() + np.square(np.sqrt(s1) - np.sqrt(s2)).sum(), rel=1e-12)
    # Identical statistics: 0.
    assert frechet_distance(mu_a, sigma_a, mu_a, sigma_a) == pytest.approx(0, abs=1e-9 * np.trace(sigma_a))


def test_frechet_distance_of_singular_covariances():
    # 20 samples in 64 dimensions: both covariances have rank 19, and the eigenvalues of their product come out
    # with rounding errors below zero and imaginary parts, which the result must not pick up.
    rnd = np.random.RandomState(1)
    a, b = rnd.randn(20, 64) + 0.5, rnd.randn(20, 64) * 2
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    eig = np.linalg.eigvals(sa @ sb)
    assert np.any(eig.real < 0) or np.any(eig.imag != 0)
    got = frechet_distance(a.mean(0), sa, b.mean(0), sb)
    assert np.isfinite(got) and got == pytest.approx(reference_fid(a, b), rel=1e-7)
    assert frechet_distance(a.mean(0), sa, a.mean(0), sa) == pytest.approx(0, abs=1e-6 * np.trace(sa))


def test_inception_score_against_numpy():
    rnd = np.random.RandomState(2)
    probs = softmax(rnd.randn(50, 7) * 2)
    scores = []
    for begin, end in [(0, 16), (16, 33), (33, 50)]:  # The original's split points i * N // splits.
        part = probs[begin:end]
        marginal = part.mean(axis=0)
        kl = [sum(p[j] * np.log(p[j] / marginal[j]) for j in range(7)) for p in part]
        scores.append(np.exp(np.mean(kl)))
    assert inception_score(probs, 3) == pytest.approx((np.mean(scores), np.std(scores)), rel=1e-12)
    # One part, uniform predictions: score 1. Certain, evenly spread predictions: the number of classes.
    assert inception_score(np.full([6, 4], 0.25), 1) == pytest.approx((1.0, 0.0))
    assert inception_score(np.eye(4)[[0, 1, 2, 3, 0, 1, 2, 3]], 2) == pytest.approx((4.0, 0.0))


def test_inception_score_with_zero_probabilities():
    # Probabilities that float32's softmax rounds to 0 count as 0 log 0 = 0.
    probs = np.array([[0.5, 0.5, 0.0], [0.0, 0.2, 0.8], [0.1, 0.0, 0.9], [0.3, 0.7, 0.0]])
    marginal = probs.mean(axis=0)
    kl = [sum(p[j] * np.log(p[j] / marginal[j]) for j in range(3) if p[j] > 0) for p in probs]
    assert inception_score(probs, 1) == pytest.approx((np.exp(np.mean(kl)), 0.0), rel=1e-12)


def test_settings_are_checked():
    with pytest.raises(ValueError, match='num_images >= 2'):
        FID(name='fid50k', num_images=1, minibatch_per_gpu=8)
    with pytest.raises(ValueError, match='num_splits <= num_images'):
        IS(name='is50k', num_images=5, num_splits=10, minibatch_per_gpu=8)


# ----------------------------------------------------------------------------
# The graph route.


@pytest.mark.parametrize('scale_after_normalization', [True, False])
def test_inception_graph_against_numpy(tmp_path, scale_after_normalization):
    params = tiny_params(2048, seed=4)  # The real graph's 2048 features.
    write_graph(str(tmp_path), tiny_graph_def(params, scale_after_normalization))
    metric_base.set_metric_data_dir(str(tmp_path))
    try:
        net = inception.load_inception('fid50k')
        assert inception.load_inception('is50k') is net  # Imported once per file.
        rnd = np.random.RandomState(5)
        for images in [rnd.randint(0, 256, size=[5, 3, 10, 10], dtype=np.uint8),  # Batch 5 through batch-1 shapes.
                       rnd.randint(0, 256, size=[3, 1, 9, 7], dtype=np.uint8)]:   # Grayscale, not square.
            features, probs = net(images)
            expected_features, expected_probs = tiny_reference(params, images, scale_after_normalization)
            assert features.shape == (len(images), 2048) and probs.shape == (len(images), 1008)
            np.testing.assert_allclose(features, expected_features, rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(probs, expected_probs, rtol=1e-3, atol=1e-7)
        # Another file at that path is read again.
        params2 = tiny_params(2048, seed=6)
        write_graph(str(tmp_path), tiny_graph_def(params2, scale_after_normalization))
        os.utime(tmp_path / inception.GRAPH_FILE, ns=(1, 1))
        net2 = inception.load_inception('fid50k')
        assert net2 is not net and net2.fingerprint != net.fingerprint
        np.testing.assert_allclose(net2(images)[0], tiny_reference(params2, images, scale_after_normalization)[0],
                                   rtol=1e-4, atol=1e-5)
    finally:
        metric_base.set_metric_data_dir(None)


@pytest.mark.parametrize('missing', ['ExpandDims', 'pool_3', 'softmax/logits/MatMul'])
def test_graph_without_a_tensor(tmp_path, missing):
    graph_def = tiny_graph_def(tiny_params(8, seed=0))
    graph_def.node.remove(next(node for node in graph_def.node if node.name == missing))
    write_graph(str(tmp_path), graph_def)
    metric_base.set_metric_data_dir(str(tmp_path))
    try:
        with pytest.raises(ValueError, match=f'has no tensor {missing} .*{inception.GRAPH_FILE}'):
            inception.load_inception('fid50k')
    finally:
        metric_base.set_metric_data_dir(None)


@pytest.mark.parametrize('metric', [FID(name='fid50k', num_images=4, minibatch_per_gpu=2),
                                    IS(name='is50k', num_images=4, num_splits=2, minibatch_per_gpu=2)])
def test_missing_graph_file(tmp_path, snapshot, metric):
    metric_base.set_metric_data_dir(str(tmp_path))
    try:
        with pytest.raises(FileNotFoundError) as err:
            metric.run(snapshot, data_dir=str(tmp_path), dataset_args=dict(tfrecord_dir='none'))
    finally:
        metric_base.set_metric_data_dir(None)
    for part in (inception.GRAPH_FILE, metric.name, URL):
        assert part in str(err.value)


# ----------------------------------------------------------------------------
# The metrics end to end.


def result_values(run_dir, metric_name, result_name):
    """The values of result_name on the lines of <run_dir>/metric-<metric_name>.txt."""
    with open(os.path.join(run_dir, 'metric-%s.txt' % metric_name)) as file:
        lines = file.read().splitlines()
    return [float(re.search(r' %s (\S+)' % result_name, line).group(1)) for line in lines]


def test_fid_run(tmp_path, metric_data, snapshot, monkeypatch):
    params = metric_data
    reals = color_squares(12, 16, seed=1)
    write_dataset(str(tmp_path / 'data' / 'squares'), reals)
    os.makedirs(tmp_path / 'run')
    run_args = dict(run_dir=str(tmp_path / 'run'), data_dir=str(tmp_path / 'data'),
                    dataset_args=dict(tfrecord_dir='squares'))
    metric = FID(name='fid50k', num_images=10, minibatch_per_gpu=4)  # 10 images: the last minibatch is cut.
    fakes = record_fakes(monkeypatch, metric)

    def expected(reals_used):
        fake_images = np.concatenate(fakes)[:10]
        fakes.clear()
        return reference_fid(tiny_reference(params, fake_images)[0], tiny_reference(params, reals_used)[0])

    # First run: the first 10 reals in file order.
    value = metric.run(snapshot, **run_args)['fid50k']
    first = expected(reals[:10])
    assert value == pytest.approx(first, rel=1e-4)
    assert result_values(tmp_path / 'run', 'fid50k', 'fid50k') == [pytest.approx(first, abs=6e-5)]

    # Second run: the reals' statistics come from the cache.
    def no_reals(minibatch_size):
        raise AssertionError('the reals were read again')
    with monkeypatch.context() as patch:
        patch.setattr(metric, '_iterate_reals', no_reals)
        assert metric.run(snapshot, **run_args)['fid50k'] == pytest.approx(expected(reals[:10]), rel=1e-4)
    assert len(result_values(tmp_path / 'run', 'fid50k', 'fid50k')) == 2

    # Other images in the dataset's files: the statistics are computed again, from them.
    reals = color_squares(12, 16, seed=2)
    write_dataset(str(tmp_path / 'data' / 'squares'), reals)
    assert metric.run(snapshot, **run_args)['fid50k'] == pytest.approx(expected(reals[:10]), rel=1e-4)

    # all_reals (fid50k_full): 10 fakes against all 12 reals.
    full = FID(name='fid50k_full', num_images=10, minibatch_per_gpu=4, all_reals=True)
    fakes = record_fakes(monkeypatch, full)
    assert full.run(snapshot, **run_args)['fid50k_full'] == pytest.approx(expected(reals), rel=1e-4)


def test_fid50k_full_never_mirrors_the_reals(tmp_path, metric_data, snapshot, monkeypatch):
    # stylegan2-ada's *_full metrics read the reals unmirrored (xflip=False) whatever the training's setting; fid50k
    # keeps StyleGAN2's: with --mirror-augment, each real of a minibatch of 4 mirrored where
    # RandomState(123).rand() < 0.5.
    params = metric_data
    reals = color_squares(12, 16, seed=4)
    write_dataset(str(tmp_path / 'data' / 'squares'), reals)
    run_args = dict(data_dir=str(tmp_path / 'data'), dataset_args=dict(tfrecord_dir='squares'), mirror_augment=True)
    rnd = np.random.RandomState(123)
    mirrored = np.concatenate([np.where((rnd.rand(4) < 0.5)[:, None, None, None], mb[..., ::-1], mb)
                               for mb in np.split(reals, 3)])
    assert not np.array_equal(mirrored, reals)

    def fid_of(name, reals_used):
        settings = dict(metric_defaults.metric_defaults[name], num_images=10, minibatch_per_gpu=4)
        metric = dnnlib.util.call_func_by_name(**settings)
        fakes = record_fakes(monkeypatch, metric)
        value = metric.run(snapshot, log_results=False, **run_args)[name]
        features = tiny_reference(params, np.concatenate(fakes)[:10])[0]
        expected = reference_fid(features, tiny_reference(params, reals_used)[0])
        other = reference_fid(features, tiny_reference(params, reals if reals_used is mirrored else mirrored)[0])
        assert abs(expected - other) > 1e-3 * expected  # Mirroring changes the value 10x more than rel=1e-4 below.
        return value, expected

    value, expected = fid_of('fid50k_full', reals)
    assert value == pytest.approx(expected, rel=1e-4)
    value, expected = fid_of('fid50k', mirrored[:10])
    assert value == pytest.approx(expected, rel=1e-4)


def test_is_run(tmp_path, metric_data, snapshot, monkeypatch):
    params = metric_data
    write_dataset(str(tmp_path / 'data' / 'squares'), color_squares(4, 16))
    os.makedirs(tmp_path / 'run')
    metric = IS(name='is50k', num_images=9, num_splits=2, minibatch_per_gpu=4)
    fakes = record_fakes(monkeypatch, metric)
    results = metric.run(snapshot, run_dir=str(tmp_path / 'run'), data_dir=str(tmp_path / 'data'),
                         dataset_args=dict(tfrecord_dir='squares'))
    probs = tiny_reference(params, np.concatenate(fakes)[:9])[1]
    scores = [np.exp(np.mean(np.sum(p * np.log(p / p.mean(axis=0)), axis=1))) for p in (probs[:4], probs[4:])]
    assert results == {'is50k_mean': pytest.approx(np.mean(scores), rel=1e-4),
                       'is50k_std': pytest.approx(np.std(scores), rel=1e-3, abs=1e-6)}
    assert result_values(tmp_path / 'run', 'is50k', 'is50k_mean') == [pytest.approx(np.mean(scores), abs=6e-5)]
    assert result_values(tmp_path / 'run', 'is50k', 'is50k_std') == [pytest.approx(np.std(scores), abs=6e-5)]
