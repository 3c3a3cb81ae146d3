"""Loss functions of StyleGAN2, StyleGAN and ProGAN, and Loss: a run's G and D losses as the trainer uses them.

Each function returns (loss, reg): per-sample loss and regularization terms, either None when not asked for
(the trainer runs the main and the regularization terms in separate phases: lazy regularization). Each declares
with @loss_terms which terms it has and which variables it keeps between steps (pl_mean); Loss creates those and
tells the trainer the terms, so a new regularizer needs no change to the trainer.
They report NVIDIA's TensorBoard values with autosummary (Loss/scores/real, Loss/scores/fake,
Loss/gradient_penalty, Loss/pl_lengths, Loss/pl_penalty, Loss/epsilon_penalty).
Random numbers come from tflib.random_normal / random_uniform, which the trainer keys on the minibatch's seed, the
phase and the chunk of images (tflib.reproducible_random), so a step is a pure function of the seed, the reals and
the variables, and replicas split a batch exactly.

inputs fields (drawn by the trainer): latents [N, latent], labels [N, label_size], reals [N, C, H, W] (D losses),
random_labels(n): labels of n random dataset entries. The path length regularizer draws its own batch
(path_length_inputs).
"""

import numpy as np
import tensorflow as tf

import dnnlib
import dnnlib.tflib as tflib
from dnnlib.tflib.autosummary import autosummary

# ----------------------------------------------------------------------------
# Declaring a loss function's terms, and a run's losses.


def loss_terms(*terms, **state):
    """Declare a loss function's terms ('loss', plus 'reg' when it has a regularizer, which lazy regularization runs
    in a phase of its own) and the variables it keeps between steps, as name=initial value: Loss creates them
    (averaged over replicas, saved in the snapshots' checkpoint) and passes them to the function by name."""
    def declare(func):
        func.terms, func.state = terms, state
        return func
    return declare


class Loss:
    """A run's G and D losses: NVIDIA's G_loss_args and D_loss_args (func_name and the function's arguments), with
    the variables the functions keep (create it in the strategy's scope). terms('G') or terms('D') is what that
    network's loss has; loss('G', G, D, inputs, terms) computes the asked terms as (loss, reg)."""

    def __init__(self, G_loss_args, D_loss_args):
        self.funcs, self.kwargs = {}, {}
        for net, args in (('G', G_loss_args), ('D', D_loss_args)):
            args = dict(args)
            func = dnnlib.util.get_obj_by_name(args.pop('func_name'))
            if not hasattr(func, 'terms'):
                raise TypeError(f'{func.__module__}.{func.__name__} does not declare its terms: decorate it with '
                                f'training.loss.loss_terms, e.g. @loss_terms(\'loss\', \'reg\').')
            self.funcs[net], self.kwargs[net] = func, args
        self.variables = {name: tf.Variable(float(value), trainable=False, name=name, aggregation=tf.VariableAggregation.MEAN)
                          for func in self.funcs.values() for name, value in func.state.items()}

    def terms(self, net):
        return self.funcs[net].terms

    def __call__(self, net, G, D, inputs, terms):
        func = self.funcs[net]
        state = {name: self.variables[name] for name in func.state}
        return func(G=G, D=D, inputs=inputs, compute_loss='loss' in terms, compute_reg='reg' in terms, **state,
                    **self.kwargs[net])


# ----------------------------------------------------------------------------
# Generator losses.


def _fakes(G, inputs):
    return G.get_output_for(inputs.latents, inputs.labels, is_training=True)


@loss_terms('loss')
def G_logistic(G, D, inputs, compute_loss=True, compute_reg=False):
    """Saturating logistic loss: -log(1 - sigmoid(D(G(z))))."""
    del compute_reg
    if not compute_loss:
        return None, None
    fake_scores = D.get_output_for(_fakes(G, inputs), inputs.labels, is_training=True)
    return -tf.nn.softplus(fake_scores), None


@loss_terms('loss')
def G_logistic_ns(G, D, inputs, compute_loss=True, compute_reg=False):
    """Non-saturating logistic loss: -log(sigmoid(D(G(z))))."""
    del compute_reg
    if not compute_loss:
        return None, None
    fake_scores = D.get_output_for(_fakes(G, inputs), inputs.labels, is_training=True)
    return tf.nn.softplus(-fake_scores), None


def path_length_inputs(G, inputs, pl_minibatch_shrink=2):
    """The path length regularizer's own batch, pl_minibatch_shrink times smaller than the step's (at least 1):
    pl_latents, pl_labels (of random dataset entries) and pl_noise y ~ N(0, I) / sqrt(H * W) over the image."""
    n = max(int(inputs.latents.shape[0]) // pl_minibatch_shrink, 1)
    image_shape = G.output_shape[1:]
    return dnnlib.EasyDict(pl_latents=tflib.random_normal([n] + inputs.latents.shape[1:]),
                           pl_labels=inputs.random_labels(n),
                           pl_noise=tflib.random_normal([n] + image_shape) / np.sqrt(np.prod(image_shape[-2:])))


@loss_terms('loss', 'reg', pl_mean=0.0)
def G_logistic_ns_pathreg(G, D, inputs, pl_mean, compute_loss=True, compute_reg=True, pl_minibatch_shrink=2,
                          pl_decay=0.01, pl_weight=2.0):
    """Non-saturating logistic loss with path length regularization (StyleGAN2).

    reg = pl_weight * (|J_w^T y| - a)^2 per sample, y ~ N(0, I) / sqrt(H * W) over the image, J_w the
    Jacobian of the image w.r.t. the dlatents, a = pl_mean, the running mean of |J_w^T y| (decay pl_decay),
    on a batch pl_minibatch_shrink times smaller than the step's (path_length_inputs).
    """
    loss, _ = G_logistic_ns(G, D, inputs, compute_loss)
    reg = None
    if compute_reg:
        pl = path_length_inputs(G, inputs, pl_minibatch_shrink)
        with tf.GradientTape() as tape:
            fake_images, fake_dlatents = G.get_output_for(pl.pl_latents, pl.pl_labels, is_training=True, return_dlatents=True)
            tape.watch(fake_dlatents)
            projected = tf.reduce_sum(fake_images * pl.pl_noise)
        pl_grads = tape.gradient(projected, fake_dlatents)
        pl_lengths = autosummary('Loss/pl_lengths', tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(pl_grads), axis=2), axis=1)))
        # As in the original, the penalty uses the updated mean as a tensor (differentiable w.r.t. the lengths);
        # the variable keeps its value for the next step (averaged over replicas).
        pl_mean_new = pl_mean + pl_decay * (tf.reduce_mean(pl_lengths) - pl_mean)
        with tf.control_dependencies([pl_mean.assign(tf.stop_gradient(pl_mean_new))]):
            reg = autosummary('Loss/pl_penalty', tf.square(pl_lengths - pl_mean_new)) * pl_weight
    return loss, reg


@loss_terms('loss')
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


def _score_grads_sq(D, images, labels):
    """|grad_x D(x)|^2 per sample at x = images (R1 on reals, R2 on fakes), kept differentiable."""
    images = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        tape.watch(images)
        scores_sum = tf.reduce_sum(D.get_output_for(images, labels, is_training=True))
    return tf.reduce_sum(tf.square(tape.gradient(scores_sum, images)), axis=[1, 2, 3])


def _logistic(real_scores, fake_scores):
    return tf.nn.softplus(fake_scores) + tf.nn.softplus(-real_scores)


@loss_terms('loss')
def D_logistic(G, D, inputs, compute_loss=True, compute_reg=False):
    """Logistic loss: -log(1 - sigmoid(D(G(z)))) - log(sigmoid(D(x)))."""
    del compute_reg
    if not compute_loss:
        return None, None
    return _logistic(*_d_scores(D, inputs, _fakes(G, inputs))), None


@loss_terms('loss', 'reg')
def D_logistic_r1(G, D, inputs, compute_loss=True, compute_reg=True, gamma=10.0):
    """Logistic loss with R1 regularization: reg = gamma / 2 * |grad_x D(x)|^2 on reals."""
    loss, _ = D_logistic(G, D, inputs, compute_loss)
    reg = None
    if compute_reg:
        reg = autosummary('Loss/gradient_penalty', _score_grads_sq(D, inputs.reals, inputs.labels)) * (gamma * 0.5)
    return loss, reg


@loss_terms('loss', 'reg')
def D_logistic_r2(G, D, inputs, compute_loss=True, compute_reg=True, gamma=10.0):
    """Logistic loss with R2 regularization: reg = gamma / 2 * |grad_x D(x)|^2 on fakes (the loss's fakes)."""
    fakes = _fakes(G, inputs)
    loss = _logistic(*_d_scores(D, inputs, fakes)) if compute_loss else None
    reg = None
    if compute_reg:
        reg = autosummary('Loss/gradient_penalty', _score_grads_sq(D, fakes, inputs.labels)) * (gamma * 0.5)
    return loss, reg


def _wgan_loss(real_scores, fake_scores, wgan_epsilon):
    """D(G(z)) - D(x) + eps * D(x)^2: the WGAN loss with the epsilon drift penalty."""
    return fake_scores - real_scores + autosummary('Loss/epsilon_penalty', tf.square(real_scores)) * wgan_epsilon


@loss_terms('loss', 'reg')
def D_wgan_gp(G, D, inputs, compute_loss=True, compute_reg=True, wgan_lambda=10.0, wgan_epsilon=0.001, wgan_target=1.0):
    """WGAN-GP (StyleGAN): D(G(z)) - D(x) + eps * D(x)^2, reg = lambda / target^2 * (|grad D(x_mix)| - target)^2."""
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


@loss_terms('loss', 'reg')
def D_logistic_simplegp(G, D, inputs, compute_loss=True, compute_reg=True, r1_gamma=10.0, r2_gamma=0.0):
    """Logistic loss, reg = r1_gamma / 2 * |grad D(reals)|^2 + r2_gamma / 2 * |grad D(fakes)|^2."""
    fakes = _fakes(G, inputs) if compute_loss or (compute_reg and r2_gamma != 0.0) else None
    loss = _logistic(*_d_scores(D, inputs, fakes)) if compute_loss else None
    reg = None
    if compute_reg:
        penalties = []
        if r1_gamma != 0.0:
            penalties.append(autosummary('Loss/r1_penalty', _score_grads_sq(D, inputs.reals, inputs.labels)) * (r1_gamma * 0.5))
        if r2_gamma != 0.0:
            penalties.append(autosummary('Loss/r2_penalty', _score_grads_sq(D, fakes, inputs.labels)) * (r2_gamma * 0.5))
        reg = tf.add_n(penalties) if penalties else None
    return loss, reg


# ----------------------------------------------------------------------------
# ProGAN: WGAN-GP with an auxiliary classifier. Its D takes images only and returns (scores, label logits).


@loss_terms('loss')
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


@loss_terms('loss', 'reg')
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
