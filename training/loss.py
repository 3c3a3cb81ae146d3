"""StyleGAN2 loss functions.

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

from dnnlib.tflib.autosummary import autosummary

# ----------------------------------------------------------------------------
# Generator losses.


def G_logistic(G, D, inputs, compute_loss=True, compute_reg=False):
    """Saturating logistic loss: -log(1 - sigmoid(D(G(z))))."""
    del compute_reg
    if not compute_loss:
        return None, None
    fake_scores = D.get_output_for(G.get_output_for(inputs.latents, inputs.labels, is_training=True), inputs.labels, is_training=True)
    return -tf.nn.softplus(fake_scores), None


def G_logistic_ns(G, D, inputs, compute_loss=True, compute_reg=False):
    """Non-saturating logistic loss: -log(sigmoid(D(G(z))))."""
    del compute_reg
    if not compute_loss:
        return None, None
    fake_scores = D.get_output_for(G.get_output_for(inputs.latents, inputs.labels, is_training=True), inputs.labels, is_training=True)
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
    return -D.get_output_for(G.get_output_for(inputs.latents, inputs.labels, is_training=True), inputs.labels, is_training=True), None


# ----------------------------------------------------------------------------
# Discriminator losses.


def _d_scores(G, D, inputs):
    fake_images = G.get_output_for(inputs.latents, inputs.labels, is_training=True)
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
    real_scores, fake_scores = _d_scores(G, D, inputs)
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
        fakes = G.get_output_for(inputs.latents, inputs.labels, is_training=True)
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
    real_scores, fake_scores = _d_scores(G, D, inputs)
    return fake_scores - real_scores + autosummary('Loss/epsilon_penalty', tf.square(real_scores)) * wgan_epsilon, None


def pl_noise_scale(image_shape):
    """1 / sqrt(H * W): the path length noise is N(0, I) scaled by this."""
    return 1.0 / np.sqrt(np.prod(image_shape[-2:]))
