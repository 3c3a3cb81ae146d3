"""Loss functions of StyleGAN2, StyleGAN and ProGAN.

Each returns (loss, reg): per-sample loss and regularization terms, either None when not asked for
(the training loop runs the main and the regularization steps separately: lazy regularization).
They report NVIDIA's TensorBoard values with autosummary (Loss/scores/real, Loss/scores/fake,
Loss/gradient_penalty, Loss/pl_lengths, Loss/pl_penalty, Loss/epsilon_penalty).
All randomness comes in through `inputs` (an EasyDict of tensors drawn by the training loop), so a
step is a pure function of its inputs and the variables, and replicas split a batch exactly.

inputs fields: latents [N, latent], labels [N, label_size], reals [N, C, H, W] (D losses),
pl_latents, pl_labels, pl_noise [N_pl, C, H, W] (path length regularization).
"""

import numpy as np
import tensorflow as tf

import dnnlib.tflib as tflib
from dnnlib.tflib.autosummary import autosummary

# ----------------------------------------------------------------------------
# Generator losses.


def _fakes(G, inputs):
    return G.get_output_for(inputs.latents, inputs.labels, is_training=True)


def G_logistic(G, D, inputs, compute_loss=True, compute_reg=False):
    """Saturating logistic loss: -log(1 - sigmoid(D(G(z))))."""
    del compute_reg
    if not compute_loss:
        return None, None
    fake_scores = D.get_output_for(_fakes(G, inputs), inputs.labels, is_training=True)
    return -tf.nn.softplus(fake_scores), None


def G_logistic_ns(G, D, inputs, compute_loss=True, compute_reg=False):
    """Non-saturating logistic loss: -log(sigmoid(D(G(z))))."""
    del compute_reg
    if not compute_loss:
        return None, None
    fake_scores = D.get_output_for(_fakes(G, inputs), inputs.labels, is_training=True)
    return tf.nn.softplus(-fake_scores), None


def G_logistic_ns_pathreg(G, D, inputs, pl_mean, compute_loss=True, compute_reg=True, pl_minibatch_shrink=2,
                          pl_decay=0.01, pl_weight=2.0):
    """Non-saturating logistic loss with path length regularization (StyleGAN2).

    reg = pl_weight * (|J_w^T y| - a)^2 per sample, y ~ N(0, I) / sqrt(H * W) over the image, J_w the
    Jacobian of the image w.r.t. the dlatents, a = pl_mean, the running mean of |J_w^T y| (decay pl_decay).
    pl_minibatch_shrink is how much smaller the loop draws the regularization batch (pl_latents).
    """
    del pl_minibatch_shrink  # Used by the loop, which draws pl_latents, pl_labels and pl_noise.
    loss, _ = G_logistic_ns(G, D, inputs, compute_loss)
    reg = None
    if compute_reg:
        with tf.GradientTape() as tape:
            fake_images, fake_dlatents = G.get_output_for(inputs.pl_latents, inputs.pl_labels, is_training=True, return_dlatents=True)
            tape.watch(fake_dlatents)
            projected = tf.reduce_sum(fake_images * inputs.pl_noise)
        pl_grads = tape.gradient(projected, fake_dlatents)
        pl_lengths = autosummary('Loss/pl_lengths', tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(pl_grads), axis=2), axis=1)))
        # As in the original, the penalty uses the updated mean as a tensor (differentiable w.r.t. the lengths);
        # the variable keeps its value for the next step (averaged over replicas).
        pl_mean_new = pl_mean + pl_decay * (tf.reduce_mean(pl_lengths) - pl_mean)
        with tf.control_dependencies([pl_mean.assign(tf.stop_gradient(pl_mean_new))]):
            reg = autosummary('Loss/pl_penalty', tf.square(pl_lengths - pl_mean_new)) * pl_weight
    return loss, reg


def G_wgan(G, D, inputs, compute_loss=True, compute_reg=False):
    """WGAN generator loss: -D(G(z))."""
    del compute_reg
    if not compute_loss:
        return None, None
    return -D.get_output_for(_fakes(G, inputs), inputs.labels, is_training=True), None


# ----------------------------------------------------------------------------
# Discriminator losses.


def _d_scores(D, inputs, fake_images):
    real_scores = D.get_output_for(inputs.reals, inputs.labels, is_training=True)
    fake_scores = D.get_output_for(fake_images, inputs.labels, is_training=True)
    return autosummary('Loss/scores/real', real_scores), autosummary('Loss/scores/fake', fake_scores)


def _real_score_grads(D, inputs):
    """Gradient of the real scores w.r.t. the real images, kept differentiable (for R1)."""
    reals = tf.convert_to_tensor(inputs.reals)
    with tf.GradientTape() as tape:
        tape.watch(reals)
        real_scores_sum = tf.reduce_sum(D.get_output_for(reals, inputs.labels, is_training=True))
    return tape.gradient(real_scores_sum, reals)


def D_logistic(G, D, inputs, compute_loss=True, compute_reg=False):
    """Logistic loss: -log(1 - sigmoid(D(G(z)))) - log(sigmoid(D(x)))."""
    del compute_reg
    if not compute_loss:
        return None, None
    real_scores, fake_scores = _d_scores(D, inputs, _fakes(G, inputs))
    return tf.nn.softplus(fake_scores) + tf.nn.softplus(-real_scores), None


def D_logistic_r1(G, D, inputs, compute_loss=True, compute_reg=True, gamma=10.0):
    """Logistic loss with R1 regularization: reg = gamma / 2 * |grad_x D(x)|^2 on reals."""
    loss, _ = D_logistic(G, D, inputs, compute_loss)
    reg = None
    if compute_reg:
        reg = autosummary('Loss/gradient_penalty', tf.reduce_sum(tf.square(_real_score_grads(D, inputs)), axis=[1, 2, 3])) * (gamma * 0.5)
    return loss, reg


def D_logistic_r2(G, D, inputs, compute_loss=True, compute_reg=True, gamma=10.0):
    """Logistic loss with R2 regularization: reg = gamma / 2 * |grad_x D(x)|^2 on fakes."""
    loss, _ = D_logistic(G, D, inputs, compute_loss)
    reg = None
    if compute_reg:
        fakes = _fakes(G, inputs)
        with tf.GradientTape() as tape:
            tape.watch(fakes)
            fake_scores_sum = tf.reduce_sum(D.get_output_for(fakes, inputs.labels, is_training=True))
        reg = autosummary('Loss/gradient_penalty', tf.reduce_sum(tf.square(tape.gradient(fake_scores_sum, fakes)), axis=[1, 2, 3])) * (gamma * 0.5)
    return loss, reg


def D_wgan(G, D, inputs, compute_loss=True, compute_reg=False, wgan_epsilon=0.001):
    """WGAN loss with the epsilon drift penalty: D(G(z)) - D(x) + eps * D(x)^2."""
    del compute_reg
    if not compute_loss:
        return None, None
    return _wgan_loss(*_d_scores(D, inputs, _fakes(G, inputs)), wgan_epsilon), None


def _wgan_loss(real_scores, fake_scores, wgan_epsilon):
    return fake_scores - real_scores + autosummary('Loss/epsilon_penalty', tf.square(real_scores)) * wgan_epsilon


def D_wgan_gp(G, D, inputs, compute_loss=True, compute_reg=True, wgan_lambda=10.0, wgan_epsilon=0.001, wgan_target=1.0):
    """WGAN-GP (StyleGAN): D_wgan, reg = lambda / target^2 * (|grad D(x_mix)| - target)^2."""
    fakes = _fakes(G, inputs)
    loss = _wgan_loss(*_d_scores(D, inputs, fakes), wgan_epsilon) if compute_loss else None
    reg = None
    if compute_reg:
        mixed_norms = _mixed_grad_norms(lambda x: D.get_output_for(x, inputs.labels, is_training=True), inputs.reals, fakes,
                                        'Loss/scores/mixed')
        reg = tf.square(mixed_norms - wgan_target) * (wgan_lambda / wgan_target ** 2)
    return loss, reg


def _mixed_grad_norms(scores_of, reals, fakes, scores_name):
    """|grad_x D(x)| at x = lerp(reals, fakes, u), u ~ U(0, 1) per sample: the WGAN-GP gradient norms [N, 1]."""
    mixed = tflib.lerp(reals, fakes, tflib.random_uniform([tf.shape(fakes)[0], 1, 1, 1], 0.0, 1.0))
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        mixed_scores_sum = tf.reduce_sum(autosummary(scores_name, scores_of(mixed)))
    grads = tape.gradient(mixed_scores_sum, mixed)
    return autosummary('Loss/mixed_norms', tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3])))


# ----------------------------------------------------------------------------
# StyleGAN (v1): its names for the logistic losses, and R1/R2 computed with the loss (no lazy regularization).

G_logistic_saturating = G_logistic
G_logistic_nonsaturating = G_logistic_ns


def D_logistic_simplegp(G, D, inputs, compute_loss=True, compute_reg=True, r1_gamma=10.0, r2_gamma=0.0):
    """Logistic loss, reg = r1_gamma / 2 * |grad D(reals)|^2 + r2_gamma / 2 * |grad D(fakes)|^2."""
    loss, _ = D_logistic(G, D, inputs, compute_loss)
    reg = None
    if compute_reg:
        penalties = []
        if r1_gamma != 0.0:
            penalties.append(autosummary('Loss/r1_penalty', tf.reduce_sum(tf.square(_real_score_grads(D, inputs)), axis=[1, 2, 3])) * (r1_gamma * 0.5))
        if r2_gamma != 0.0:
            penalties.append(D_logistic_r2(G, D, inputs, compute_loss=False, gamma=r2_gamma)[1])
        reg = tf.add_n(penalties) if penalties else None
    return loss, reg


# ----------------------------------------------------------------------------
# ProGAN: WGAN-GP with an auxiliary classifier. Its D takes images only and returns (scores, label logits).


def G_wgan_acgan(G, D, inputs, compute_loss=True, compute_reg=False, cond_weight=1.0):
    """-D(G(z)), plus cond_weight * the cross-entropy of D's label logits on the fakes against their labels."""
    del compute_reg
    if not compute_loss:
        return None, None
    fake_scores, fake_labels = D.get_output_for(_fakes(G, inputs), is_training=True)
    loss = -fake_scores
    if fake_labels.shape[1] > 0:
        loss += tf.nn.softmax_cross_entropy_with_logits(labels=inputs.labels, logits=fake_labels)[:, np.newaxis] * cond_weight
    return loss, None


def D_wgangp_acgan(G, D, inputs, compute_loss=True, compute_reg=True, wgan_lambda=10.0, wgan_epsilon=0.001,
                   wgan_target=1.0, cond_weight=1.0):
    """D(G(z)) - D(x) + eps * D(x)^2 (drift), plus cond_weight * the label cross-entropies on reals and fakes;
    reg = lambda / target^2 * (|grad D(x_mix)| - target)^2."""
    fakes = _fakes(G, inputs)
    loss = reg = None
    if compute_loss:
        real_scores, real_labels = D.get_output_for(inputs.reals, is_training=True)
        fake_scores, fake_labels = D.get_output_for(fakes, is_training=True)
        loss = _wgan_loss(autosummary('Loss/real_scores', real_scores), autosummary('Loss/fake_scores', fake_scores), wgan_epsilon)
        if real_labels.shape[1] > 0:
            penalty_reals = tf.nn.softmax_cross_entropy_with_logits(labels=inputs.labels, logits=real_labels)
            penalty_fakes = tf.nn.softmax_cross_entropy_with_logits(labels=inputs.labels, logits=fake_labels)
            penalties = autosummary('Loss/label_penalty_reals', penalty_reals) + autosummary('Loss/label_penalty_fakes', penalty_fakes)
            loss += penalties[:, np.newaxis] * cond_weight
    if compute_reg:
        mixed_norms = _mixed_grad_norms(lambda x: D.get_output_for(x, is_training=True)[0], inputs.reals, fakes, 'Loss/mixed_scores')
        reg = tf.square(mixed_norms - wgan_target) * (wgan_lambda / wgan_target ** 2)
    return loss, reg


def pl_noise_scale(image_shape):
    """1 / sqrt(H * W): the path length noise is N(0, I) scaled by this."""
    return 1.0 / np.sqrt(np.prod(image_shape[-2:]))
