"""One training step of G and D equals the losses, gradients and Adam updates written out plainly here."""

import numpy as np
import pytest
import tensorflow as tf

import dnnlib
import dnnlib.tflib as tflib
from training.training_loop import Trainer

NET = dict(num_channels=3, resolution=8, label_size=0, fmap_base=32, fmap_max=16, latent_size=8, dlatent_size=8,
           mapping_fmaps=8, mapping_layers=2, style_mixing_prob=None, randomize_noise=False)
LR, BETA1, BETA2, EPS = 0.002, 0.0, 0.99, 1e-8


def make_trainer(G_loss='training.loss.G_logistic_ns_pathreg', gamma=10.0):
    G = tflib.Network('G', func_name='training.networks_stylegan2.G_main', **NET)
    D = tflib.Network('D', func_name='training.networks_stylegan2.D_stylegan2', num_channels=3, resolution=8,
                      label_size=0, fmap_base=32, fmap_max=16)
    for name, var in list(G.vars.items()) + list(D.vars.items()):
        if name.endswith('bias') or name.endswith('noise_strength'):
            var.assign(np.float32(np.random.RandomState(len(name)).randn(*var.shape.as_list()) * 0.1))
    opt_args = dict(beta1=BETA1, beta2=BETA2, epsilon=EPS, learning_rate=LR)
    return Trainer(tf.distribute.get_strategy(), G, D, G.clone('Gs'), opt_args, opt_args,
                   dict(func_name=G_loss), dict(func_name='training.loss.D_logistic_r1', gamma=gamma),
                   lazy_regularization=True, G_reg_interval=4, D_reg_interval=16)


def snapshot(net):
    return {name: var.numpy().copy() for name, var in net.trainables.items()}


def adam_first_step(params, grads, lr, beta1, beta2):
    """TF1 Adam's first update: m = (1-b1) g, v = (1-b2) g^2, lr_t = lr sqrt(1-b2) / (1-b1)."""
    lr_t = lr * np.sqrt(1 - beta2) / (1 - beta1)
    return {k: params[k] - lr_t * ((1 - beta1) * grads[k]) / (np.sqrt((1 - beta2) * grads[k] ** 2) + EPS) for k in params}


def adam_second_step(params, g1, g2, lr, beta1, beta2):
    """TF1 Adam's second update, after a first one with gradients g1."""
    lr_t = lr * np.sqrt(1 - beta2 ** 2) / (1 - beta1 ** 2)
    out = {}
    for k in params:
        m = beta1 * (1 - beta1) * g1[k] + (1 - beta1) * g2[k]
        v = beta2 * (1 - beta2) * g1[k] ** 2 + (1 - beta2) * g2[k] ** 2
        out[k] = params[k] - lr_t * m / (np.sqrt(v) + EPS)
    return out


def lazy(interval):
    ratio = interval / (interval + 1)
    return LR * ratio, BETA1 ** ratio, BETA2 ** ratio


def grads_of(loss_fn, net):
    variables = list(net.trainables.values())
    with tf.GradientTape() as tape:
        loss = loss_fn()
    grads = tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return {name: g.numpy() for name, g in zip(net.trainables, grads)}


def assert_params(net, expected):
    for name, value in expected.items():
        np.testing.assert_allclose(net.get_var(name), value, rtol=1e-4, atol=1e-6, err_msg=name)


def test_d_step_and_r1_step():
    trainer = make_trainer()
    G, D = trainer.G, trainer.D
    rnd = np.random.RandomState(0)
    inputs = dict(latents=rnd.randn(4, 8), labels=np.zeros([4, 0]), reals=rnd.randn(4, 3, 8, 8))
    z, c, x = (tf.constant(inputs[k], tf.float32) for k in ('latents', 'labels', 'reals'))

    def d_loss():
        fake = G.get_output_for(z, c, is_training=True)
        return tf.reduce_mean(tf.nn.softplus(D.get_output_for(fake, c)) + tf.nn.softplus(-D.get_output_for(x, c)))
    params, grads = snapshot(D), grads_of(d_loss, D)
    trainer.step('D', 'loss', inputs, rounds=1, learning_rate=lazy(16)[0])
    assert_params(D, adam_first_step(params, grads, *lazy(16)))

    def r1():
        with tf.GradientTape() as tape:
            tape.watch(x)
            scores = tf.reduce_sum(D.get_output_for(x, c))
        return tf.reduce_mean(tf.reduce_sum(tf.square(tape.gradient(scores, x)), axis=[1, 2, 3]) * 10.0 * 0.5 * 16)
    first_grads = grads
    params, grads = snapshot(D), grads_of(r1, D)
    lr, b1, b2 = lazy(16)
    trainer.step('D', 'reg', inputs, rounds=1, learning_rate=lr)
    # The regularization step continues the main step's Adam state (shared moments and step count).
    assert_params(D, adam_second_step(params, first_grads, grads, lr, b1, b2))
    assert trainer.D_opt.step.numpy() == 2


def test_g_step_with_path_length_reg_and_accumulation():
    trainer = make_trainer()
    G, D = trainer.G, trainer.D
    rnd = np.random.RandomState(1)
    latents = rnd.randn(4, 8)
    params = snapshot(G)

    def g_loss(z):
        z = tf.constant(z, tf.float32)
        c = tf.zeros([z.shape[0], 0])
        return tf.reduce_mean(tf.nn.softplus(-D.get_output_for(G.get_output_for(z, c, is_training=True), c)))
    # Two rounds of two samples: the update uses the mean of the two rounds' gradients.
    g1, g2 = grads_of(lambda: g_loss(latents[:2]), G), grads_of(lambda: g_loss(latents[2:]), G)
    grads = {k: (g1[k] + g2[k]) / 2 for k in g1}
    trainer.step('G', 'loss', dict(latents=latents, labels=np.zeros([4, 0])), rounds=2, learning_rate=lazy(4)[0])
    assert_params(G, adam_first_step(params, grads, *lazy(4)))

    # Path length regularization, written out: |J^T y| per sample, its running mean, (|J^T y| - a)^2 * 2 * interval.
    pl_latents, pl_noise = rnd.randn(2, 8), rnd.randn(2, 3, 8, 8) / 8.0
    pl_mean_before = float(trainer.pl_mean.numpy())

    def pl_reg():
        with tf.GradientTape() as tape:
            images, dlatents = G.get_output_for(tf.constant(pl_latents, tf.float32), tf.zeros([2, 0]), is_training=True, return_dlatents=True)
            tape.watch(dlatents)
            y = tf.reduce_sum(images * tf.constant(pl_noise, tf.float32))
        lengths = tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(tape.gradient(y, dlatents)), axis=2), axis=1))
        a = pl_mean_before + 0.01 * (tf.reduce_mean(lengths) - pl_mean_before)
        pl_reg.lengths = lengths.numpy()
        return tf.reduce_mean(tf.square(lengths - a) * 2.0 * 4)
    expected_grads = grads_of(pl_reg, G)
    lr, b1, b2 = lazy(4)
    params = snapshot(G)
    trainer.step('G', 'reg', dict(pl_latents=pl_latents, pl_labels=np.zeros([2, 0]), pl_noise=pl_noise), rounds=1, learning_rate=lr)
    assert_params(G, adam_second_step(params, grads, expected_grads, lr, b1, b2))
    np.testing.assert_allclose(trainer.pl_mean.numpy(), pl_mean_before + 0.01 * (pl_reg.lengths.mean() - pl_mean_before), rtol=1e-5)


def test_non_finite_gradients_skip_the_update():
    trainer = make_trainer()
    D = trainer.D
    params = snapshot(D)
    bad = dict(latents=np.zeros([2, 8]), labels=np.zeros([2, 0]), reals=np.full([2, 3, 8, 8], np.nan))
    stats = trainer.step('D', 'loss', bad, rounds=1, learning_rate=0.01)
    assert not np.isfinite(stats['Loss/D/loss'])
    for name, value in params.items():
        np.testing.assert_array_equal(D.get_var(name), value)
    assert trainer.D_opt.step.numpy() == 0


def test_reset_optimizers_makes_the_next_step_a_first_step():
    trainer = make_trainer()
    G, D = trainer.G, trainer.D
    rnd = np.random.RandomState(5)
    for _ in range(2):
        trainer.step('D', 'loss', dict(latents=rnd.randn(4, 8), labels=np.zeros([4, 0]), reals=rnd.randn(4, 3, 8, 8)),
                     rounds=1, learning_rate=0.01)
    trainer.reset_optimizers()
    assert trainer.D_opt.step.numpy() == 0 and trainer.G_reg_opt.step.numpy() == 0
    assert not any(np.any(m.numpy()) for m in trainer.D_opt.moments1 + trainer.D_opt.moments2)

    z, c, x = tf.constant(rnd.randn(4, 8), tf.float32), tf.zeros([4, 0]), tf.constant(rnd.randn(4, 3, 8, 8), tf.float32)

    def d_loss():
        fake = G.get_output_for(z, c, is_training=True)
        return tf.reduce_mean(tf.nn.softplus(D.get_output_for(fake, c)) + tf.nn.softplus(-D.get_output_for(x, c)))
    params, grads = snapshot(D), grads_of(d_loss, D)
    trainer.step('D', 'loss', dict(latents=z.numpy(), labels=np.zeros([4, 0]), reals=x.numpy()), rounds=1,
                 learning_rate=lazy(16)[0])
    assert_params(D, adam_first_step(params, grads, *lazy(16)))


def test_gs_is_the_moving_average_of_g():
    trainer = make_trainer()
    G, Gs = trainer.G, trainer.Gs
    name = 'G_synthesis/8x8/Conv1/weight'
    before = Gs.get_var(name)
    G.set_var(name, before + 1.0)
    trainer.update_gs(0.75)
    np.testing.assert_allclose(Gs.get_var(name), (before + 1.0) + (before - (before + 1.0)) * 0.75, rtol=1e-6)


def test_lazy_regularization_rescales_learning_rate_and_betas():
    trainer = make_trainer()
    assert trainer.G_opt.learning_rate == pytest.approx(LR * 0.8)
    assert trainer.G_opt.beta2 == pytest.approx(0.99 ** 0.8)
    assert trainer.D_opt.beta2 == pytest.approx(0.99 ** (16 / 17))
    assert trainer.G_reg_opt.moments1 is trainer.G_opt.moments1
    assert dnnlib.EasyDict(a=1).a == 1


def test_steps_are_traced_once():
    trainer = make_trainer()
    rnd = np.random.RandomState(3)
    for _ in range(3):
        trainer.step('G', 'loss', dict(latents=rnd.randn(4, 8), labels=np.zeros([4, 0])), rounds=2, learning_rate=0.001)
        trainer.step('D', 'loss', dict(latents=rnd.randn(4, 8), labels=np.zeros([4, 0]), reals=rnd.randn(4, 3, 8, 8)),
                     rounds=1, learning_rate=0.001)
        trainer.update_gs(0.9)
    counts = [fn.experimental_get_tracing_count() for fn in trainer._accumulate_fns.values()]
    counts += [trainer._apply_fns[name].experimental_get_tracing_count() for name in ('TrainG', 'TrainD')]
    assert counts == [1, 1, 1, 1]
    assert trainer._gs_update_fn.experimental_get_tracing_count() == 1


def test_process_reals_maps_range_fades_and_upsamples():
    from training.training_loop import process_reals
    x = np.random.RandomState(4).randint(0, 256, size=[2, 3, 4, 4]).astype(np.uint8)
    net = x.astype(np.float64) / 127.5 - 1
    np.testing.assert_allclose(process_reals(x, 0.0, False, [0, 255], [-1, 1], None), net, rtol=1e-6, atol=1e-6)
    # lod 1.25: a quarter of the way to the 2x2-box version, then nearest-upsampled x2.
    box = net.reshape(2, 3, 2, 2, 2, 2).mean(axis=(3, 5)).repeat(2, axis=2).repeat(2, axis=3)
    expected = (net * 0.75 + box * 0.25).repeat(2, axis=2).repeat(2, axis=3)
    np.testing.assert_allclose(process_reals(x, 1.25, False, [0, 255], [-1, 1], None), expected, rtol=1e-5, atol=1e-6)
    mirrored = process_reals(x, 0.0, True, [0, 255], [-1, 1], np.random.default_rng(0))
    flips = [np.allclose(m, n[:, :, ::-1]) for m, n in zip(mirrored, net)]
    for m, n, flipped in zip(mirrored, net, flips):
        np.testing.assert_allclose(m, n[:, :, ::-1] if flipped else n, rtol=1e-6, atol=1e-6)


def test_non_finite_loss_stops_with_a_clear_message():
    from training.training_loop import _check_finite
    _check_finite({'Loss/G/loss': 1.5}, '/runs/00001-x')
    with pytest.raises(FloatingPointError, match=r"Loss/D/reg.*not finite.*last good snapshot in /runs/00001-x"):
        _check_finite({'Loss/G/loss': 1.5, 'Loss/D/reg': float('nan')}, '/runs/00001-x')


class _NoLabels:
    def get_random_labels_np(self, n, rnd):
        del rnd
        return np.zeros([n, 0], np.float32)


def test_path_length_batch_with_an_odd_minibatch_gpu():
    # 6 images in 2 rounds of 3 (minibatch_gpu 3): as in the original, each round's path length batch is 3 // 2 = 1.
    trainer = make_trainer()
    inputs = trainer.g_inputs(np.random.default_rng(0), _NoLabels(), 6, 'reg', chunks=2)
    assert inputs['pl_latents'].shape == (2, 8) and inputs['pl_noise'].shape == (2, 3, 8, 8)
    assert inputs['pl_labels'].shape == (2, 0)
    stats = trainer.step('G', 'reg', inputs, rounds=2, learning_rate=0.001)
    assert np.isfinite(stats['Loss/G/reg']) and stats['Loss/G/reg'] > 0
