"""Linear separability (metrics/linear_separability.py), KID (metrics/kernel_inception_distance.py) and stylegan2-ada's
pr50k3_full, against computations written out here: scikit-learn's LinearSVC and the entropies from their
definitions; the unbiased MMD estimator as a sum over pairs; brute-force precision and recall. The attribute
classifiers are read from pickles in the layout NVIDIA's dnnlib writes, and their logits compared with the values
NVIDIA's own TF1 code computed for the same networks and images (docs/VERIFICATION.md, issue 21).
"""

import copyreg
import io
import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import sklearn.svm
import tensorflow as tf

import dnnlib
import dnnlib.tflib as tflib
import run_metrics
import train
from metrics import linear_separability, metric_base
from metrics.kernel_inception_distance import SUBSETS_SEED, kernel_inception_distance
from metrics.linear_separability import CLASSIFIER_FILES, LS, SAMPLES_SEED
from metrics.metric_defaults import metric_defaults
from small_networks import make_networks
from test_metrics_inception import record_fakes, tiny_graph_def, tiny_params, tiny_reference, write_graph
from test_metrics_ppl_pr import ToyFeatures, brute_force_pr
from tfrecords_for_tests import color_squares, write_dataset
from training import misc

LS_URL = 'https://nvlabs-fi-cdn.nvidia.com/stylegan/networks/metrics/'


@pytest.fixture
def folders(tmp_path):
    """A metric data folder with the tiny Inception graph (64 features), a dataset of 12 squares, a run folder and a
    throwaway cache; all reset afterwards."""
    params = tiny_params(64, seed=3)
    write_graph(str(tmp_path / 'metric-data'), tiny_graph_def(params))
    metric_base.set_metric_data_dir(str(tmp_path / 'metric-data'))
    dnnlib.util.set_cache_dir(str(tmp_path / 'cache'))
    reals = color_squares(12, 16, seed=5)
    write_dataset(str(tmp_path / 'data' / 'squares'), reals)
    os.makedirs(tmp_path / 'run')
    yield tmp_path, params, reals
    metric_base.set_metric_data_dir(None)
    dnnlib.util.set_cache_dir(None)


@pytest.fixture(scope='module')
def snapshot(tmp_path_factory):
    """A 16x16 StyleGAN2 snapshot with 4-dimensional z and w: more kept samples than dimensions, so that the SVMs
    cannot separate every labelling."""
    path = str(tmp_path_factory.mktemp('pkl') / 'network-snapshot-000000.pkl')
    tf.random.set_seed(2)
    misc.save_pkl(make_networks(latent_size=4, dlatent_size=4), path)
    return path


def run_args(folders, **kwargs):
    tmp_path = folders[0]
    return dict(run_dir=str(tmp_path / 'run'), data_dir=str(tmp_path / 'data'), dataset_args=dict(tfrecord_dir='squares'),
                **kwargs)


def result_line(folders, name):
    [line] = (folders[0] / 'run' / f'metric-{name}.txt').read_text().splitlines()
    return line


# ----------------------------------------------------------------------------
# KID.


def unbiased_mmd2(x, y):
    """Sum over the pairs i != j within each set and over all pairs across, k(a, b) = (a . b / d + 1)^3."""
    def k(a, b):
        return (np.dot(a, b) / len(a) + 1) ** 3
    m = len(x)
    within = sum(k(s[i], s[j]) for s in (x, y) for i in range(m) for j in range(m) if i != j)
    across = sum(k(a, b) for a in x for b in y)
    return within / (m * (m - 1)) - 2 * across / m ** 2


def test_kid_against_the_unbiased_mmd_estimator():
    rnd = np.random.RandomState(0)
    fakes, reals = rnd.randn(9, 5) + 0.3, rnd.randn(11, 5)
    # Subsets as large as the smaller set: all fakes, in any order, so the draws do not matter for them.
    full = kernel_inception_distance(fakes, reals[:9], 2, 100, np.random.default_rng(1))
    assert full == pytest.approx(unbiased_mmd2(fakes, reals[:9]), rel=1e-12)
    # Subsets of 4, drawn for each of 3 subsets as the docstring says: the fakes' indices, then the reals'.
    rng = np.random.default_rng(2)
    expected = np.mean([unbiased_mmd2(fakes[rng.choice(9, 4, replace=False)], reals[rng.choice(11, 4, replace=False)])
                        for _ in range(3)])
    assert kernel_inception_distance(fakes, reals, 3, 4, np.random.default_rng(2)) == pytest.approx(expected, rel=1e-12)
    # The same distribution: an estimate around 0, negative as often as not (the estimator has no bias).
    same = [kernel_inception_distance(rnd.randn(30, 5), rnd.randn(30, 5), 1, 30, np.random.default_rng(i))
            for i in range(20)]
    assert 3 <= sum(value < 0 for value in same) <= 17 and abs(np.mean(same)) < 0.1


def test_kid50k_full_run(folders, snapshot, monkeypatch):
    tmp_path, params, reals = folders
    settings = dict(metric_defaults['kid50k_full'], num_images=10, max_reals=9, num_subsets=3, max_subset_size=6,
                    minibatch_per_gpu=4)
    metric = dnnlib.util.call_func_by_name(**settings)
    fakes = record_fakes(monkeypatch, metric)
    value = metric.run(snapshot, mirror_augment=True, **run_args(folders))['kid50k_full']

    # 10 fakes against the first 9 reals, never mirrored; the subsets drawn from default_rng(SUBSETS_SEED).
    fake_features = tiny_reference(params, np.concatenate(fakes)[:10])[0]
    real_features = tiny_reference(params, reals[:9])[0]
    rng = np.random.default_rng(SUBSETS_SEED)
    expected = np.mean([unbiased_mmd2(fake_features[rng.choice(10, 6, replace=False)],
                                      real_features[rng.choice(9, 6, replace=False)]) for _ in range(3)])
    assert value == pytest.approx(expected, rel=1e-4)
    assert re.fullmatch(r'network-snapshot-000000 {7} time \S+( \S+)? +kid50k_full %.6f *' % expected,
                        result_line(folders, 'kid50k_full'))


def test_pr50k3_full_run(folders, snapshot, monkeypatch):
    tmp_path, _params, reals = folders
    settings = dict(metric_defaults['pr50k3_full'], num_images=6, minibatch_per_gpu=4, row_batch_size=4,
                    col_batch_size=3, feature_net=ToyFeatures())
    metric = dnnlib.util.call_func_by_name(**settings)
    fakes = record_fakes(monkeypatch, metric)
    results = metric.run(snapshot, mirror_augment=True, **run_args(folders))

    # All 12 reals (fewer than max_reals = 200000), never mirrored, against 6 fakes.
    precision, recall = brute_force_pr(ToyFeatures.numpy(reals), ToyFeatures.numpy(np.concatenate(fakes)[:6]), 3)
    assert results == {'pr50k3_full_precision': pytest.approx(precision), 'pr50k3_full_recall': pytest.approx(recall)}
    assert result_line(folders, 'pr50k3_full').endswith(
        ' pr50k3_full_precision %-10.4f pr50k3_full_recall %.4f' % (precision, recall))


# ----------------------------------------------------------------------------
# Linear separability: the entropy and the SVMs.


def entropy_bits(p):
    p = p[p > 0]
    return -np.sum(p * np.log2(p))


def conditional_entropy_via_mutual_information(counts):
    """H(Y | X) = H(Y) - I(X; Y) of a joint count table [x, y]."""
    p = np.asarray(counts, np.float64) / np.sum(counts)
    px, py = p.sum(axis=1), p.sum(axis=0)
    mutual = sum(p[x, y] * np.log2(p[x, y] / (px[x] * py[y])) for x in range(2) for y in range(2) if p[x, y] > 0)
    return entropy_bits(py) - mutual


def expected_separability(latents, dlatents, probs, num_keep):
    """2 ** the sum over the attributes of H(label | prediction) of a LinearSVC per space, as the originals compute
    it: sorted() by descending confidence (ties in sample order), the first num_keep kept, argmax labels."""
    totals = [0.0, 0.0]
    for attribute in range(probs.shape[1]):
        p = probs[:, attribute]
        keep = sorted(range(len(p)), key=lambda i: -np.max(p[i]))[:num_keep]
        labels = np.argmax(p[keep], axis=1)
        for space, inputs in enumerate((latents, dlatents)):
            if len(set(labels)) == 1:
                continue  # One class: the prediction counts as perfect, entropy 0.
            svm = sklearn.svm.LinearSVC(dual=True, random_state=0).fit(inputs[keep], labels)
            predictions = svm.predict(inputs[keep])
            counts = [[np.sum((predictions == row) & (labels == col)) for col in (0, 1)] for row in (0, 1)]
            totals[space] += conditional_entropy_via_mutual_information(counts)
    return 2 ** totals[0], 2 ** totals[1]


def two_class_probs(logits):
    """softmax([l, -l]) per logit, [N, attributes, 2], in float32 as the metric's graph gives them."""
    return np.float32(np.stack([1 / (1 + np.exp(-2 * logits)), 1 / (1 + np.exp(2 * logits))], axis=-1))


def test_conditional_entropy():
    for joint, expected in [([[0.5, 0], [0, 0.5]], 0.0),              # The prediction tells the label.
                            ([[1, 1], [1, 1]], 1.0),                  # It tells nothing: one bit per sample.
                            ([[3, 0], [0, 0]], 0.0),                  # One class only.
                            ([[4, 1], [1, 4]], entropy_bits(np.array([0.8, 0.2])))]:
        assert linear_separability.conditional_entropy(joint) == pytest.approx(expected, abs=1e-12)
    rnd = np.random.RandomState(3)
    for _ in range(5):
        counts = rnd.randint(0, 20, [2, 2])
        assert linear_separability.conditional_entropy(counts) == pytest.approx(
            conditional_entropy_via_mutual_information(counts), abs=1e-12)


def test_separability_against_scikit_learn_and_numpy():
    rnd = np.random.RandomState(4)
    latents, dlatents = rnd.randn(90, 3).astype(np.float32), rnd.randn(90, 5).astype(np.float32)
    logits = np.stack([
        latents[:, 0] + 0.8 * rnd.randn(90),                 # Mostly linear in z.
        np.tanh(dlatents[:, 1] * dlatents[:, 2]) * 3,        # Not linear in either space.
        rnd.uniform(0.5, 2, 90),                             # Every sample class 0: no SVM, entropy 0.
        np.round(rnd.randn(90) * 2) / 2,                     # Many equal confidences: ties in the sort.
    ], axis=1)
    probs = two_class_probs(logits)
    ls_z, ls_w = linear_separability.linear_separability(latents, dlatents, probs, num_keep=60)
    assert (ls_z, ls_w) == pytest.approx(expected_separability(latents, dlatents, probs, 60), rel=1e-12)
    assert ls_z > 1.1 and ls_w > 1.1


# ----------------------------------------------------------------------------
# The classifier files.


def random_values(net, seed):
    """Seeded values for every trainable variable of a network: N(0, 1) weights, N(0, 0.2^2) biases."""
    rnd = np.random.RandomState(seed)
    for name, var in net.vars.items():
        if var.trainable:
            var.assign(np.float32((0.2 if name.endswith('bias') else 1.0) * rnd.randn(*var.shape.as_list())))
    return net


def tiny_classifier(func_name='training.networks_progan_stylegan.D_paper', resolution=16, seed=0, **kwargs):
    """A classifier as the metric reads them (a discriminator without labels or minibatch stddev), 8 feature maps."""
    net = tflib.Network('classifier', func_name=func_name, num_channels=3, resolution=resolution, label_size=0,
                        fmap_base=64, fmap_max=8, mbstd_group_size=0, **kwargs)
    return random_values(net, seed)


def write_classifiers(folder, indices, seed=10):
    """Classifier files under their standard names, each with its own values; the networks, by index."""
    os.makedirs(folder, exist_ok=True)
    nets = {}
    for index in indices:
        nets[index] = tiny_classifier(seed=seed + index)
        misc.save_pkl(nets[index], os.path.join(folder, CLASSIFIER_FILES[index]))
    return nets


def test_missing_classifier_files_are_all_named(tmp_path):
    metric_base.set_metric_data_dir(str(tmp_path))
    try:
        ls = dnnlib.util.call_func_by_name(**metric_defaults['ls'])
        with pytest.raises(FileNotFoundError) as err:
            ls.check_files()
        assert all(name in str(err.value) for name in CLASSIFIER_FILES)
        assert CLASSIFIER_FILES[0] == 'celebahq-classifier-00-male.pkl'
        assert CLASSIFIER_FILES[39] == 'celebahq-classifier-39-wearing-necktie.pkl'
        assert LS_URL in str(err.value) and '--metric-data' in str(err.value) and str(tmp_path) in str(err.value)
    finally:
        metric_base.set_metric_data_dir(None)


def test_files_that_are_not_classifiers_are_refused(tmp_path, snapshot, capsys):
    metric_base.set_metric_data_dir(str(tmp_path))
    marker = tmp_path / 'pwned'

    class Exploit:
        def __reduce__(self):
            return os.system, (f'touch {marker}',)

    G, _D, _Gs = misc.load_pkl(snapshot)
    with_labels = tflib.Network('D', func_name='training.networks_progan_stylegan.D_paper', num_channels=3,
                                resolution=16, label_size=2, fmap_base=64, fmap_max=8)
    cases = [(Path(snapshot).read_bytes(), ["holds a tuple of 3: network 'G' (G_main), network 'D' (D_stylegan2), "
                                            "network 'Gs' (G_main); an attribute classifier is a single discriminator"]),
             (pickle.dumps(G), ["holds network 'G' (G_main) with static_kwargs"]),
             (pickle.dumps(with_labels), ["holds network 'D' (D_paper) with static_kwargs", "'label_size': 2"]),
             (pickle.dumps({'weights': np.zeros(3)}), ['holds a dict;']),
             (b'not a pickle', ['not a network pickle this project reads']),
             (pickle.dumps(Exploit()), ['not a network pickle this project reads', 'Refusing to load "posix.system"'])]
    metric = LS(name='ls', num_samples=4, num_keep=2, attrib_indices=[0, 1], minibatch_per_gpu=4)
    path = tmp_path / CLASSIFIER_FILES[1]
    try:
        for name in CLASSIFIER_FILES[:2]:
            misc.save_pkl(tiny_classifier(), str(tmp_path / name))
        metric.check_files()
        for data, parts in cases:
            path.write_bytes(data)
            with pytest.raises(ValueError) as err:
                metric.check_files()
            assert str(err.value).startswith(str(path)) and all(part in str(err.value) for part in parts), err.value
        # run_metrics.py stops with that error, before a run directory is made.
        for name in CLASSIFIER_FILES[2:]:
            (tmp_path / name).write_bytes(data)
        os.makedirs(tmp_path / 'data' / 'any')
        with pytest.raises(SystemExit):
            run_metrics.main(['--network', snapshot, '--metrics', 'ls', '--dataset', 'any', '--data-dir',
                              str(tmp_path / 'data'), '--result-dir', str(tmp_path / 'results'),
                              '--metric-data', str(tmp_path)])
        assert capsys.readouterr().err.startswith(f'Error: {path}') and not (tmp_path / 'results').exists()
    finally:
        metric_base.set_metric_data_dir(None)
    assert not marker.exists()


# What NVIDIA's TF1 code (NVlabs/stylegan) created for its training.networks_progan.D_paper and for its
# training.networks_stylegan.D_basic with num_channels=3, resolution=256, label_size=0, fmap_base=512, fmap_max=16,
# mbstd_group_size=0: the same variables for both, (name, shape) in order; and the logits it computed, after giving
# every variable but lod the values below, for images = RandomState(7).uniform(-1, 1, [4, 3, 256, 256]) in float32.
NVIDIA_KWARGS = dict(num_channels=3, resolution=256, label_size=0, fmap_base=512, fmap_max=16, mbstd_group_size=0)


def _nvidia_variables():
    variables = [('lod', []), ('FromRGB_lod0/weight', [1, 1, 3, 4]), ('FromRGB_lod0/bias', [4])]
    for lod, (res, fmaps_in, fmaps_out) in enumerate([(256, 4, 8), (128, 8, 16), (64, 16, 16), (32, 16, 16),
                                                      (16, 16, 16), (8, 16, 16)], start=1):
        variables += [(f'{res}x{res}/Conv0/weight', [3, 3, fmaps_in, fmaps_in]), (f'{res}x{res}/Conv0/bias', [fmaps_in]),
                      (f'{res}x{res}/Conv1_down/weight', [3, 3, fmaps_in, fmaps_out]),
                      (f'{res}x{res}/Conv1_down/bias', [fmaps_out]),
                      (f'FromRGB_lod{lod}/weight', [1, 1, 3, fmaps_out]), (f'FromRGB_lod{lod}/bias', [fmaps_out])]
    return variables + [('4x4/Conv/weight', [3, 3, 16, 16]), ('4x4/Conv/bias', [16]), ('4x4/Dense0/weight', [256, 16]),
                        ('4x4/Dense0/bias', [16]), ('4x4/Dense1/weight', [16, 1]), ('4x4/Dense1/bias', [1])]


NVIDIA_VARIABLES = _nvidia_variables()
NVIDIA_LOGITS = {'D_paper': [-1.2055773735046387, -1.2088258266448975, -1.2358249425888062, -1.2092995643615723],
                 'D_basic': [0.25167202949523926, 0.2612975239753723, 0.25281935930252075, 0.2604227066040039]}
# Stand-ins for the module sources NVIDIA's pickles store (the whole file; never executed): the definitions the
# reader looks for.
NVIDIA_SOURCES = {'D_paper': '"""Network architectures used in the ProGAN paper."""\ndef G_paper(\n...\ndef D_paper(\n',
                  'D_basic': '"""Network architectures used in the StyleGAN paper."""\ndef G_style(\n...\ndef D_basic(\n'}


def nvidia_pickle(state, protocol):
    """A network pickle as NVIDIA's dnnlib writes it: a NEWOBJ of dnnlib.tflib.network.Network with its state dict,
    whose arrays numpy pickles itself."""
    net = tflib.Network.__new__(tflib.Network)

    class Writer(pickle.Pickler):
        def reducer_override(self, obj):
            return (copyreg.__newobj__, (tflib.Network,), state) if obj is net else NotImplemented

    buf = io.BytesIO()
    Writer(buf, protocol=protocol).dump(net)
    return buf.getvalue()


@pytest.mark.parametrize('index,func_name,module', [(0, 'D_paper', 'training.networks_progan_stylegan'),
                                                    (1, 'D_basic', 'training.networks_stylegan')])
def test_classifier_pickles_in_nvidias_layout_give_nvidias_logits(tmp_path, index, func_name, module):
    # NVIDIA's values: RandomState(2000 + index), in the order above, N(0, 1) weights and N(0, 0.2^2) biases.
    rnd = np.random.RandomState(2000 + index)
    variables = [(name, np.float32(0) if name == 'lod' else
                  np.float32((0.2 if name.endswith('bias') else 1.0) * rnd.randn(*shape)))
                 for name, shape in NVIDIA_VARIABLES]
    state = dict(version=3, name='classifier', static_kwargs=NVIDIA_KWARGS, components={},
                 build_module_src=NVIDIA_SOURCES[func_name], build_func_name=func_name, variables=variables)
    images = tf.constant(np.random.RandomState(7).uniform(-1, 1, [4, 3, 256, 256]).astype(np.float32))
    for protocol in (4, 5):  # pickle.dump's default in NVIDIA's Python 3.6 and save_pkl's HIGHEST_PROTOCOL in 3.11.
        path = tmp_path / CLASSIFIER_FILES[index]
        path.write_bytes(nvidia_pickle(state, protocol))
        classifier = linear_separability.read_classifier(str(path))
        assert classifier._build_func.__module__ == module and classifier.build_func_name == func_name
        assert [(name, var.shape.as_list()) for name, var in classifier.own_vars.items()] == NVIDIA_VARIABLES
        logits = linear_separability.classifier_logits(classifier, images).numpy()
        np.testing.assert_allclose(logits, NVIDIA_LOGITS[func_name], rtol=1e-5)


# ----------------------------------------------------------------------------
# The metric end to end.


def test_ls_run(folders, snapshot):
    classifiers = write_classifiers(folders[0] / 'metric-data', [0, 5])
    metric = LS(name='ls', num_samples=62, num_keep=40, attrib_indices=[0, 5], minibatch_per_gpu=4)
    Gs_kwargs = dict(is_validation=True, randomize_noise=False)  # Stored noise: images numpy gets from the latents.
    results = metric.run(snapshot, Gs_kwargs=Gs_kwargs, **run_args(folders))

    # The samples again: per minibatch of 4 the metric draws the latents, then a noise seed (unused here).
    rng = np.random.default_rng(SAMPLES_SEED)
    batches = []
    for _ in range(16):
        batches.append(rng.standard_normal([4, 4]))
        rng.integers(1 << 62, size=2)
    latents = np.float32(np.concatenate(batches)[:62])
    _G, _D, Gs = misc.load_pkl(snapshot)
    dlatents = Gs.components.mapping.run(latents, None)[:, -1]
    images = Gs.run(latents, None, **Gs_kwargs)
    logits = np.stack([classifiers[index].run(images, None)[:, 0] for index in (0, 5)], axis=1)
    ls_z, ls_w = expected_separability(latents, dlatents, two_class_probs(logits), 40)
    assert ls_z > 1.01 and ls_w > 1.01  # Not every attribute is separable.
    assert results == {'ls_z': pytest.approx(ls_z, rel=1e-6), 'ls_w': pytest.approx(ls_w, rel=1e-6)}
    assert re.fullmatch(r'network-snapshot-000000 {7} time \S+( \S+)? +ls_z %-10.4f ls_w %.4f *' % (ls_z, ls_w),
                        result_line(folders, 'ls'))


def test_ls_needs_a_style_based_generator_and_matching_classifiers(folders, snapshot):
    tmp_path = folders[0]
    misc.save_pkl(tiny_classifier(resolution=8), str(tmp_path / 'metric-data' / CLASSIFIER_FILES[0]))
    metric = LS(name='ls', num_samples=4, num_keep=2, attrib_indices=[0], minibatch_per_gpu=4)
    _G, _D, Gs = misc.load_pkl(snapshot)
    with pytest.raises(ValueError, match=r'celebahq-classifier-00-male.pkl classifies \[3, 8, 8\] images; the '
                                         r'generator gives \[3, 16, 16\]'):
        metric._evaluate(Gs, dict(is_validation=True), num_gpus=1)
    progan = tflib.Network('Gs', func_name='training.networks_progan.G_paper', num_channels=3, resolution=16,
                           fmap_base=64, fmap_max=8, latent_size=8)
    with pytest.raises(ValueError, match='mapping and synthesis'):
        metric._evaluate(progan, dict(is_validation=True), num_gpus=1)
    with pytest.raises(ValueError, match='num_keep <= num_samples'):
        LS(name='ls', num_samples=4, num_keep=5, attrib_indices=[0], minibatch_per_gpu=4)


def test_run_metrics_and_train_take_ls_kid_and_pr_full(folders, snapshot, monkeypatch):
    tmp_path = folders[0]
    # All 40 classifier files (one network with 40 sets of values); the run uses one, at small counts.
    net = tiny_classifier()
    for index, name in enumerate(CLASSIFIER_FILES):
        misc.save_pkl(random_values(net, seed=index), str(tmp_path / 'metric-data' / name))
    small = dict(ls=dict(num_samples=12, num_keep=8, attrib_indices=[39]),
                 kid50k_full=dict(num_images=8, num_subsets=2, max_subset_size=4),
                 pr50k3_full=dict(num_images=8, row_batch_size=4, col_batch_size=4, feature_net=ToyFeatures()))
    for name, settings in small.items():
        monkeypatch.setitem(metric_defaults, name, dict(metric_defaults[name], **settings))
    train.check_metrics(list(small), str(tmp_path / 'metric-data'))

    run_metrics.main(['--network', snapshot, '--metrics', 'ls,kid50k_full,pr50k3_full', '--dataset', 'squares',
                      '--data-dir', str(tmp_path / 'data'), '--result-dir', str(tmp_path / 'results'),
                      '--metric-data', str(tmp_path / 'metric-data')])
    run_dir = tmp_path / 'results' / '00000-run-metrics'
    head = r'network-snapshot-000000 {7} time \S+( \S+)? +'
    for name, results in [('ls', r'ls_z [\d.]+ +ls_w [\d.]+'), ('kid50k_full', r'kid50k_full -?[\d.]+'),
                          ('pr50k3_full', r'pr50k3_full_precision [\d.]+ +pr50k3_full_recall [\d.]+')]:
        [line] = (run_dir / f'metric-{name}.txt').read_text().splitlines()
        assert re.fullmatch(head + results + ' *', line), line
