"""The losses against direct numpy formulas, on toy networks with known gradients, and Loss: the terms and
variables it gives the trainer."""

import numpy as np
import pytest
import tensorflow as tf

import dnnlib
import dnnlib.tflib as tflib
from training import loss

N, C, H = 4, 2, 3
RND = np.random.RandomState(1)
FAKES = RND.randn(N, C, H, H).astype(np.float32)
REALS = RND.randn(N, C, H, H).astype(np.float32)
LABELS = np.eye(3, dtype=np.float32)[[0, 2, 1, 2]]
B = RND.randn(C, H, H).astype(np.float32)
L = RND.randn(C * H * H, 3).astype(np.float32)
CURV = 0.3


class ToyG:
    """Outputs FAKES whatever the latents (so the losses' fakes are known)."""

    def get_output_for(self, latents, labels, is_training=False):
        del labels, is_training
        return tf.constant(FAKES) + 0.0 * tf.reduce_sum(latents)


def toy_scores_np(x):
    """sum(B * sin(x)) + CURV * sum(x^2): gradient B * cos(x) + 2 * CURV * x."""
    return (np.sum(B * np.sin(x), axis=(1, 2, 3)) + CURV * np.sum(x ** 2, axis=(1, 2, 3)))[:, np.newaxis]


def toy_scores_tf(x):
    return (tf.reduce_sum(B * tf.sin(x), axis=[1, 2, 3]) + CURV * tf.reduce_sum(tf.square(x), axis=[1, 2, 3]))[:, np.newaxis]


class ToyD:
    """StyleGAN's D interface: scores of (images, labels)."""

    def get_output_for(self, images, labels, is_training=False):
        del labels, is_training
        return toy_scores_tf(images)


class ToyProGAND:
    """ProGAN's D interface: images only, returns (scores, label logits)."""

    def get_output_for(self, images, is_training=False):
        del is_training
        return toy_scores_tf(images), tf.matmul(tf.reshape(images, [-1, C * H * H]), L)


def inputs(labels=LABELS):
    return dnnlib.EasyDict(latents=tf.zeros([N, 5]), labels=tf.constant(labels), reals=tf.constant(REALS))


def softplus(x):
    return np.log1p(np.exp(x))


def cross_entropy_np(labels, logits):
    logits = logits - logits.max(axis=1, keepdims=True)
    return -np.sum(labels * (logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))), axis=1)


def grad_norm_fd(x, eps=1e-3):
    """|grad of the toy D| per sample by central finite differences, in float64."""
    x = x.astype(np.float64)
    grads = np.zeros_like(x)
    for idx in np.ndindex(*x.shape[1:]):
        step = np.zeros_like(x)
        step[(slice(None),) + idx] = eps
        grads[(slice(None),) + idx] = (toy_scores_np(x + step) - toy_scores_np(x - step))[:, 0] / (2 * eps)
    return np.sqrt(np.sum(grads ** 2, axis=(1, 2, 3)))


def test_stylegan1_logistic_names():
    fake = toy_scores_np(FAKES)
    g_ns, _ = loss.G_logistic_nonsaturating(ToyG(), ToyD(), inputs())
    g_sat, _ = loss.G_logistic_saturating(ToyG(), ToyD(), inputs())
    np.testing.assert_allclose(g_ns.numpy(), softplus(-fake), rtol=1e-5)
    np.testing.assert_allclose(g_sat.numpy(), -softplus(fake), rtol=1e-5)


def test_d_logistic_simplegp_r1_and_r2():
    real, fake = toy_scores_np(REALS), toy_scores_np(FAKES)
    grad_sq = lambda x: np.sum((B * np.cos(x) + 2 * CURV * x) ** 2, axis=(1, 2, 3))  # noqa: E731
    d_loss, reg = loss.D_logistic_simplegp(ToyG(), ToyD(), inputs())
    np.testing.assert_allclose(d_loss.numpy(), softplus(fake) + softplus(-real), rtol=1e-5)
    np.testing.assert_allclose(reg.numpy(), 5.0 * grad_sq(REALS), rtol=1e-5)
    _, reg = loss.D_logistic_simplegp(ToyG(), ToyD(), inputs(), r1_gamma=2.0, r2_gamma=6.0)
    np.testing.assert_allclose(reg.numpy(), 1.0 * grad_sq(REALS) + 3.0 * grad_sq(FAKES), rtol=1e-5)
    assert loss.D_logistic_simplegp(ToyG(), ToyD(), inputs(), r1_gamma=0.0)[1] is None


def test_wgan_gp_penalty_is_the_finite_difference_gradient_norm():
    """With reals equal to the fakes, the mixed images are the reals whatever the mixing factors."""
    same = dnnlib.EasyDict(inputs(), reals=tf.constant(FAKES))
    expected = 10.0 * (grad_norm_fd(FAKES) - 1.0) ** 2
    _, reg = loss.D_wgan_gp(ToyG(), ToyD(), same)
    np.testing.assert_allclose(reg.numpy(), expected, rtol=2e-4)
    _, reg = loss.D_wgangp_acgan(ToyG(), ToyProGAND(), same, wgan_target=2.0)
    np.testing.assert_allclose(reg.numpy(), 10.0 / 4.0 * (grad_norm_fd(FAKES) - 2.0) ** 2, rtol=2e-4)


def test_wgan_gp_mixes_each_sample_at_its_own_point_between_real_and_fake():
    """For D(x) = |x|^2 / 2 the gradient is x: at u * fake (reals zero) its norm is u * |fake|, u in [0, 1]."""
    class HalfSquare:
        def get_output_for(self, images, labels, is_training=False):
            return 0.5 * tf.reduce_sum(tf.square(images), axis=[1, 2, 3])[:, np.newaxis]

    zero_reals = dnnlib.EasyDict(inputs(), reals=tf.zeros_like(FAKES))
    with tflib.reproducible_random(tf.constant([3, 4], tf.int64)):
        _, reg = loss.D_wgan_gp(ToyG(), HalfSquare(), zero_reals, wgan_lambda=1e4, wgan_target=100.0)
    u = (100.0 - np.sqrt(reg.numpy())) / np.sqrt(np.sum(FAKES ** 2, axis=(1, 2, 3)))  # reg = (norm - 100)^2, norm < 100.
    assert np.all((u >= 0) & (u <= 1)) and len(np.unique(np.round(u, 4))) == N


@pytest.mark.parametrize('labels', [LABELS, np.zeros([N, 0], np.float32)])
def test_progan_losses(labels):
    real, fake = toy_scores_np(REALS), toy_scores_np(FAKES)
    D = ToyProGAND() if labels.shape[1] else type('NoLabels', (), {
        'get_output_for': lambda self, x, is_training=False: (toy_scores_tf(x), tf.zeros([N, 0]))})()
    ce = lambda x: cross_entropy_np(labels, x.reshape(N, -1) @ L)[:, np.newaxis] if labels.shape[1] else 0.0  # noqa: E731
    g_loss, _ = loss.G_wgan_acgan(ToyG(), D, inputs(labels), cond_weight=0.5)
    np.testing.assert_allclose(g_loss.numpy(), -fake + 0.5 * ce(FAKES), rtol=1e-5)
    d_loss, _ = loss.D_wgangp_acgan(ToyG(), D, inputs(labels), compute_reg=False)
    np.testing.assert_allclose(d_loss.numpy(), fake - real + 0.001 * real ** 2 + ce(REALS) + ce(FAKES), rtol=1e-5)


def test_loss_tells_the_trainer_its_terms_and_keeps_their_variables():
    stylegan2 = loss.Loss({'func_name': 'training.loss.G_logistic_ns_pathreg', 'pl_weight': 3.0},
                          {'func_name': 'training.loss.D_logistic_r1', 'gamma': 5.0})
    assert stylegan2.terms('G') == ('loss', 'reg') and stylegan2.terms('D') == ('loss', 'reg')
    assert list(stylegan2.variables) == ['pl_mean'] and float(stylegan2.variables['pl_mean'].numpy()) == 0.0
    progan = loss.Loss({'func_name': 'training.loss.G_wgan_acgan'}, {'func_name': 'training.loss.D_wgangp_acgan'})
    assert progan.terms('G') == ('loss',) and progan.terms('D') == ('loss', 'reg') and progan.variables == {}
    # Called with the asked terms and the function's arguments: R1 only, gamma 5.
    d_loss, reg = stylegan2('D', ToyG(), ToyD(), inputs(), ('reg',))
    grad_sq = np.sum((B * np.cos(REALS) + 2 * CURV * REALS) ** 2, axis=(1, 2, 3))
    assert d_loss is None
    np.testing.assert_allclose(reg.numpy(), 2.5 * grad_sq, rtol=1e-5)
    with pytest.raises(TypeError, match='does not declare its terms'):
        loss.Loss({'func_name': 'numpy.sum'}, {'func_name': 'training.loss.D_logistic'})


def test_r2_penalises_the_gradient_at_the_losss_fakes():
    grad_sq = np.sum((B * np.cos(FAKES) + 2 * CURV * FAKES) ** 2, axis=(1, 2, 3))
    d_loss, reg = loss.D_logistic_r2(ToyG(), ToyD(), inputs(), gamma=4.0)
    np.testing.assert_allclose(d_loss.numpy(), softplus(toy_scores_np(FAKES)) + softplus(-toy_scores_np(REALS)), rtol=1e-5)
    np.testing.assert_allclose(reg.numpy(), 2.0 * grad_sq, rtol=1e-5)
