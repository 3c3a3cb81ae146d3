"""Linear separability (ls): Karras et al. 2019, "A Style-Based Generator Architecture for Generative Adversarial
Networks" (its tables 3 and 4), with StyleGAN's and StyleGAN2's settings and result names (ls_z, ls_w).

num_samples fakes are drawn (z ~ N(0, I), w the mapping network's output for its last layer), their images
box-filtered down to 256x256 when larger (the classifiers' size), and each CelebA-HQ attribute classifier gives a
logit l per image; softmax([l, -l]) are the two classes' probabilities, the more probable one the image's label. Per
attribute, the num_keep images with the most confident labels are kept and a linear SVM is fitted to predict their
labels from z, and one from w; the conditional entropy H(label | SVM prediction), in bits, is what the hyperplane
leaves unexplained. ls_z and ls_w are 2 to the power of its sum over the attributes.

The SVM is scikit-learn's LinearSVC with the settings the originals ran with (scikit-learn's defaults of 2019: the
dual solver, at most 1000 iterations, whose convergence warnings they ignored), seeded here. Where all kept images
share one label, the prediction counts as perfect (entropy 0), as in the originals.

The classifiers are NVIDIA's network pickles celebahq-classifier-00-male.pkl ... -39-wearing-necktie.pkl from the
metric data folder, read by the project's restricted reader: nothing in them is executed, each is rebuilt with this
project's build function of the name it stores (a discriminator's, e.g. NVlabs/stylegan's D_paper or D_basic).

Random numbers: the fakes' latents, labels and noise seeds come from default_rng(SAMPLES_SEED).
"""

import pickle
import warnings

import numpy as np
import sklearn.exceptions
import sklearn.svm
import tensorflow as tf

from dnnlib.tflib import network_pickle
from metrics import metric_base
from metrics.perceptual_path_length import downsample_to_256
from training import misc

SAMPLES_SEED = 1012

ATTRIBUTES = ['male', 'smiling', 'attractive', 'wavy-hair', 'young', '5-o-clock-shadow', 'arched-eyebrows',
              'bags-under-eyes', 'bald', 'bangs', 'big-lips', 'big-nose', 'black-hair', 'blond-hair', 'blurry',
              'brown-hair', 'bushy-eyebrows', 'chubby', 'double-chin', 'eyeglasses', 'goatee', 'gray-hair',
              'heavy-makeup', 'high-cheekbones', 'mouth-slightly-open', 'mustache', 'narrow-eyes', 'no-beard',
              'oval-face', 'pale-skin', 'pointy-nose', 'receding-hairline', 'rosy-cheeks', 'sideburns', 'straight-hair',
              'wearing-earrings', 'wearing-hat', 'wearing-lipstick', 'wearing-necklace', 'wearing-necktie']
CLASSIFIER_FILES = ['celebahq-classifier-%02d-%s.pkl' % (index, name) for index, name in enumerate(ATTRIBUTES)]
PUBLISHED_AT = 'https://nvlabs-fi-cdn.nvidia.com/stylegan/networks/metrics/ (followed by each file name)'


# ----------------------------------------------------------------------------
# The classifier files.


def _describe(obj):
    """What a pickle holds, in words: networks by name and build function, anything else by type."""
    if isinstance(obj, network_pickle.NetworkState):
        return f'network {obj.state.get("name")!r} ({obj.state.get("build_func_name")})'
    if isinstance(obj, (tuple, list)):
        return (f'a {type(obj).__name__} of {len(obj)}: ' + ', '.join(_describe(item) for item in obj[:4]) +
                ', ...' * (len(obj) > 4))
    return f'a {type(obj).__name__}'


def classifier_state(path):
    """The pickled state of a classifier file, read without building the network (so without starting TensorFlow);
    a ValueError saying what the file holds unless it is one discriminator network without labels."""
    try:
        with open(path, 'rb') as file:
            obj = network_pickle.load_states(file)
    except pickle.UnpicklingError as err:
        raise ValueError(f'{path}: not a network pickle this project reads. {err}') from err
    expected = 'an attribute classifier is a single discriminator network without labels (images -> logits [N, 1])'
    if not isinstance(obj, network_pickle.NetworkState):
        raise ValueError(f'{path} holds {_describe(obj)}; {expected}.')
    try:
        build_func = misc.resolve_build_func(obj.state, obj.class_path)
    except ValueError as err:
        raise ValueError(f'{path}: {err}') from err
    static_kwargs = dict(obj.state.get('static_kwargs') or {})
    if not build_func.__name__.startswith('D_') or static_kwargs.get('label_size', 0) != 0:
        raise ValueError(f'{path} holds {_describe(obj)} with static_kwargs {static_kwargs}; {expected}.')
    return obj


def read_classifier(path):
    """The classifier network of a file (classifier_state's checks, then rebuilt from its state)."""
    classifier = misc.network_from_state(classifier_state(path))
    if classifier.output_shapes != [[None, 1]]:
        raise ValueError(f'{path}: the network gives outputs {classifier.output_shapes}; a classifier gives logits '
                         f'[N, 1].')
    return classifier


def classifier_logits(classifier, images):
    """[N] logits of float NCHW images in [-1, 1]; labels, if the network takes them, are empty."""
    labels = [tf.zeros([tf.shape(images)[0], 0])] * (classifier.num_inputs - 1)
    return tf.reshape(classifier.get_output_for(images, *labels), [-1])


# ----------------------------------------------------------------------------
# Separability.


def conditional_entropy(joint):
    """H(Y | X) in bits of a joint distribution p[x, y] (normalized here): what remains unknown of y once x is known."""
    p = np.asarray(joint, np.float64)
    p = p / p.sum()
    p_x = np.broadcast_to(p.sum(axis=1, keepdims=True), p.shape)
    seen = p > 0
    return float(-np.sum(p[seen] * np.log2(p[seen] / p_x[seen])))


def svm_conditional_entropy(inputs, labels):
    """H(label | prediction) of a linear SVM fitted to predict the 0/1 labels from the inputs, on those samples."""
    if len(np.unique(labels)) < 2:
        return 0.0  # The SVM cannot be fitted; the originals count its prediction as perfect.
    svm = sklearn.svm.LinearSVC(dual=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', sklearn.exceptions.ConvergenceWarning)
        svm.fit(inputs, labels)
    predictions = svm.predict(inputs)
    joint = [[np.mean((predictions == row) & (labels == col)) for col in (0, 1)] for row in (0, 1)]
    return conditional_entropy(joint)


def linear_separability(latents, dlatents, probabilities, num_keep):
    """(ls_z, ls_w) of the samples' z [N, Z], w [N, W] and class probabilities [N, attributes, 2]."""
    entropies = np.zeros([2])
    for probs in np.moveaxis(probabilities, 1, 0):
        # The most confident first; a stable sort keeps ties in sample order, as the originals' sorted().
        keep = np.argsort(-np.max(probs, axis=1), kind='stable')[:num_keep]
        labels = np.argmax(probs[keep], axis=1)
        entropies += [svm_conditional_entropy(space[keep], labels) for space in (latents, dlatents)]
    return tuple(float(2 ** total) for total in entropies)


class LS(metric_base.MetricBase):
    """attrib_indices: which of the 40 classifiers (CLASSIFIER_FILES) to use."""

    def __init__(self, num_samples, num_keep, attrib_indices, minibatch_per_gpu, **kwargs):
        super().__init__(**kwargs)
        if not 0 < num_keep <= num_samples:
            raise ValueError(f'LS needs 0 < num_keep <= num_samples, got num_keep={num_keep}, num_samples={num_samples}.')
        self.num_samples = num_samples
        self.num_keep = num_keep
        self.files = [CLASSIFIER_FILES[index] for index in attrib_indices]
        self.minibatch_per_gpu = minibatch_per_gpu

    def check_files(self):
        for path in metric_base.metric_files(self.files, self.name, PUBLISHED_AT):
            classifier_state(path)

    def _evaluate(self, Gs, Gs_kwargs, num_gpus):
        if not {'mapping', 'synthesis'} <= set(Gs.components):
            raise ValueError(f'{self.name}: linear separability needs a generator with mapping and synthesis networks '
                             f'(StyleGAN, StyleGAN2) for w; {Gs.name} has none.')
        classifiers = [metric_base.load_feature_network(file, self.name, PUBLISHED_AT, read_classifier)
                       for file in self.files]
        channels, size = Gs.output_shape[1], Gs.output_shape[2]
        size //= max(size // 256, 1)
        for file, classifier in zip(self.files, classifiers):
            if classifier.input_shape[1:] != [3, size, size]:
                raise ValueError(f'{self.name}: {file} classifies {classifier.input_shape[1:]} images; the generator '
                                 f'gives {[channels, size, size]} (after the box filter to at most 256x256, grayscale '
                                 f'as RGB).')

        def samples(latents, labels):
            """[n, Z + W + 2 attributes]: z, w and the class probabilities of each classifier."""
            dlatents = tf.cast(Gs.components.mapping.get_output_for(latents, labels, **Gs_kwargs), tf.float32)
            images = downsample_to_256(tf.cast(Gs.get_output_for(latents, labels, **Gs_kwargs), tf.float32))
            if channels == 1:
                images = tf.tile(images, [1, 3, 1, 1])  # Grayscale as RGB.
            logits = tf.stack([classifier_logits(classifier, images) for classifier in classifiers], axis=1)
            probs = tf.nn.softmax(tf.stack([logits, -logits], axis=2))
            return tf.concat([latents, dlatents[:, -1], tf.reshape(probs, [tf.shape(probs)[0], -1])], axis=1)

        fakes = self._iterate_fakes(Gs, num_gpus * self.minibatch_per_gpu, num_gpus, Gs_kwargs,
                                    np.random.default_rng(SAMPLES_SEED), outputs=samples)
        values = self._collect(lambda batch: batch, fakes, self.num_samples, 'samples')
        latent_size = Gs.input_shape[1]
        dlatent_size = Gs.components.mapping.output_shape[2]
        latents, dlatents, probs = np.split(values, [latent_size, latent_size + dlatent_size], axis=1)
        ls_z, ls_w = linear_separability(latents, dlatents, probs.reshape(len(probs), -1, 2), self.num_keep)
        self._report_result(ls_z, suffix='_z')
        self._report_result(ls_w, suffix='_w')
