"""One training phase of G or D equals the losses, gradients and Adam updates written out plainly here; reals are
processed in the step as NVIDIA's numpy-era process_reals did."""

import numpy as np
import pytest
import tensorflow as tf

import dnnlib.tflib as tflib
from training import loss
from training.trainer import Trainer, process_reals

NET = dict(num_channels=3, resolution=8, label_size=0, fmap_base=32, fmap_max=16, latent_size=8, dlatent_size=8,
           mapping_fmaps=8, mapping_layers=2, style_mixing_prob=None, randomize_noise=False)
LR, BETA1, BETA2, EPS = 0.002, 0.0, 0.99, 1e-8
SEED = np.array([12, 34])


def make_trainer(G_loss='training.loss.G_logistic_ns_pathreg', gamma=10.0, mirror_augment=False):
    G = tflib.Network('G', func_name='training.networks_stylegan2.G_main', **NET)
    D = tflib.Network('D', func_name='training.networks_stylegan2.D_stylegan2', num_channels=3, resolution=8,
                      label_size=0, fmap_base=32, fmap_max=16)
    for name, var in list(G.vars.items()) + list(D.vars.items()):
        if name.endswith('bias') or name.endswith('noise_strength'):
            var.assign(np.float32(np.random.RandomState(len(name)).randn(*var.shape.as_list()) * 0.1))
    opt_args = dict(beta1=BETA1, beta2=BETA2, epsilon=EPS)
    return Trainer(strategy=tf.distribute.get_strategy(), G=G, D=D, Gs=G.clone('Gs'), G_opt_args=opt_args,
                   D_opt_args=opt_args, G_loss_args=dict(func_name=G_loss),
                   D_loss_args=dict(func_name='training.loss.D_logistic_r1', gamma=gamma), mirror_augment=mirror_augment)


def phase(trainer, name):
    return next(phase for phase in trainer.phases if phase.name == name)


def draw_inputs(trainer, name, seed, chunk, lod, level, n, images=None, labels=None):
    """What a phase computes with: its inputs, drawn first in its random scope."""
    with trainer.random_scope(phase(trainer, name), seed, chunk):
        return trainer.draw_inputs(phase(trainer, name), seed, chunk, lod, level, n, images, labels)


def draw_path_length_inputs(trainer, seed, chunk, n):
    """The path length batch of a RegG chunk: drawn by the loss right after the phase's inputs."""
    with trainer.random_scope(phase(trainer, 'RegG'), seed, chunk):
        return loss.path_length_inputs(trainer.G, trainer.draw_inputs(phase(trainer, 'RegG'), seed, chunk, 0.0, 0, n), 2)


def random_data(rnd, n, res=8):
    images = rnd.randint(0, 256, size=[n, 3, res, res]).astype(np.uint8)
    return (tf.constant(images), tf.zeros([n, 0])), images.astype(np.float64) / 127.5 - 1


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


def d_step_grads(trainer, data, reals):
    """The D phase written out: D's parameters, and the gradients of softplus(D(G(z))) + softplus(-D(x)) with the
    phase's latents z."""
    G, D = trainer.G, trainer.D
    z = draw_inputs(trainer, 'TrainD', SEED, 0, 0.0, 0, 4, *data).latents
    x, c = tf.constant(reals, tf.float32), tf.zeros([4, 0])

    def d_loss():
        fake = G.get_output_for(z, c, is_training=True)
        return tf.reduce_mean(tf.nn.softplus(D.get_output_for(fake, c)) + tf.nn.softplus(-D.get_output_for(x, c)))
    return snapshot(D), grads_of(d_loss, D)


def test_phase_table_and_lazy_regularization_rescale_learning_rate_and_betas():
    trainer = make_trainer()
    G, D = trainer.G, trainer.D
    assert [(p.name, p.net, p.terms, p.interval) for p in trainer.phases] == [
        ('TrainG', G, ('loss',), 1), ('RegG', G, ('reg',), 4), ('TrainD', D, ('loss',), 1), ('RegD', D, ('reg',), 16)]
    assert [p.opt for p in trainer.phases] == [trainer.G_opt, trainer.G_reg_opt, trainer.D_opt, trainer.D_reg_opt]
    assert [p.lrate_ratio for p in trainer.phases] == pytest.approx([0.8, 0.8, 16 / 17, 16 / 17])
    assert trainer.G_opt.beta2 == pytest.approx(0.99 ** 0.8)
    assert trainer.D_opt.beta2 == pytest.approx(0.99 ** (16 / 17))
    assert trainer.G_reg_opt.moments1 is trainer.G_opt.moments1
    # A G loss without a regularizer has no RegG phase.
    assert [p.name for p in make_trainer(G_loss='training.loss.G_logistic_ns').phases] == ['TrainG', 'TrainD', 'RegD']


def test_d_step_and_r1_step():
    trainer = make_trainer()
    D = trainer.D
    data, reals = random_data(np.random.RandomState(0), 4)
    x, c = tf.constant(reals, tf.float32), tf.zeros([4, 0])
    params, grads = d_step_grads(trainer, data, reals)
    trainer.run_phase(phase(trainer, 'TrainD'), data, SEED, lod=0.0, learning_rate=LR, minibatch_gpu=4)
    assert_params(D, adam_first_step(params, grads, *lazy(16)))

    def r1():
        with tf.GradientTape() as tape:
            tape.watch(x)
            scores = tf.reduce_sum(D.get_output_for(x, c))
        return tf.reduce_mean(tf.reduce_sum(tf.square(tape.gradient(scores, x)), axis=[1, 2, 3]) * 10.0 * 0.5 * 16)
    first_grads = grads
    params, grads = snapshot(D), grads_of(r1, D)
    trainer.run_phase(phase(trainer, 'RegD'), data, SEED, lod=0.0, learning_rate=LR, minibatch_gpu=4)
    # The regularization step continues the main step's Adam state (shared moments and step count).
    assert_params(D, adam_second_step(params, first_grads, grads, *lazy(16)))
    assert trainer.D_opt.step.numpy() == 2
    stats = trainer.pop_stats()
    assert stats['RegD/learning_rate'] == pytest.approx(lazy(16)[0]) and stats['TrainD/overflow_frequency'] == 0


def test_g_step_with_path_length_reg_and_accumulation():
    trainer = make_trainer()
    G, D = trainer.G, trainer.D
    data, _ = random_data(np.random.RandomState(1), 4)
    params = snapshot(G)
    latents = [draw_inputs(trainer, 'TrainG', SEED, chunk, 0.0, 0, 2).latents for chunk in (0, 1)]

    def g_loss(z):
        c = tf.zeros([z.shape[0], 0])
        return tf.reduce_mean(tf.nn.softplus(-D.get_output_for(G.get_output_for(z, c, is_training=True), c)))
    # Two rounds of two samples: the update uses the mean of the two rounds' gradients.
    g1, g2 = grads_of(lambda: g_loss(latents[0]), G), grads_of(lambda: g_loss(latents[1]), G)
    grads = {k: (g1[k] + g2[k]) / 2 for k in g1}
    trainer.run_phase(phase(trainer, 'TrainG'), data, SEED, lod=0.0, learning_rate=LR, minibatch_gpu=2)
    assert_params(G, adam_first_step(params, grads, *lazy(4)))

    # Path length regularization, written out: |J^T y| per sample, its running mean, (|J^T y| - a)^2 * 2 * interval,
    # on half a round's images (pl_minibatch_shrink 2) with y ~ N(0, 1) / sqrt(8 * 8).
    inputs = draw_path_length_inputs(trainer, SEED, 0, 4)
    assert inputs.pl_latents.shape == (2, 8) and inputs.pl_noise.shape == (2, 3, 8, 8)
    assert 0.05 < float(tf.math.reduce_std(inputs.pl_noise)) < 0.2  # 1/8 = 0.125.
    pl_mean_before = float(trainer.loss.variables['pl_mean'].numpy())

    def pl_reg():
        with tf.GradientTape() as tape:
            images, dlatents = G.get_output_for(inputs.pl_latents, tf.zeros([2, 0]), is_training=True, return_dlatents=True)
            tape.watch(dlatents)
            y = tf.reduce_sum(images * inputs.pl_noise)
        lengths = tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(tape.gradient(y, dlatents)), axis=2), axis=1))
        a = pl_mean_before + 0.01 * (tf.reduce_mean(lengths) - pl_mean_before)
        pl_reg.lengths = lengths.numpy()
        return tf.reduce_mean(tf.square(lengths - a) * 2.0 * 4)
    expected_grads = grads_of(pl_reg, G)
    params = snapshot(G)
    trainer.run_phase(phase(trainer, 'RegG'), data, SEED, lod=0.0, learning_rate=LR, minibatch_gpu=4)
    assert_params(G, adam_second_step(params, grads, expected_grads, *lazy(4)))
    np.testing.assert_allclose(trainer.loss.variables['pl_mean'].numpy(),
                               pl_mean_before + 0.01 * (pl_reg.lengths.mean() - pl_mean_before), rtol=1e-5)


def test_non_finite_gradients_skip_the_update():
    trainer = make_trainer()
    D = trainer.D
    D.set_var('Output/bias', np.full([1], np.nan, np.float32))
    params = snapshot(D)
    data, _ = random_data(np.random.RandomState(2), 2)
    trainer.run_phase(phase(trainer, 'TrainD'), data, SEED, lod=0.0, learning_rate=0.01, minibatch_gpu=2)
    stats = trainer.pop_stats()
    assert not np.isfinite(stats['Loss/D/loss']) and stats['TrainD/overflow_frequency'] == 1
    for name, value in params.items():
        np.testing.assert_array_equal(D.get_var(name), value)
    assert trainer.D_opt.step.numpy() == 0


def test_reset_optimizers_makes_the_next_step_a_first_step():
    trainer = make_trainer()
    D = trainer.D
    rnd = np.random.RandomState(5)
    for _ in range(2):
        trainer.run_phase(phase(trainer, 'TrainD'), random_data(rnd, 4)[0], rnd.randint(1 << 30, size=2), 0.0, 0.01, 4)
    trainer.reset_optimizers()
    assert trainer.D_opt.step.numpy() == 0 and trainer.G_reg_opt.step.numpy() == 0
    assert not any(np.any(m.numpy()) for m in trainer.D_opt.moments1 + trainer.D_opt.moments2)

    data, reals = random_data(rnd, 4)
    params, grads = d_step_grads(trainer, data, reals)
    trainer.run_phase(phase(trainer, 'TrainD'), data, SEED, lod=0.0, learning_rate=LR, minibatch_gpu=4)
    assert_params(D, adam_first_step(params, grads, *lazy(16)))


def test_gs_is_the_moving_average_of_g():
    trainer = make_trainer()
    G, Gs = trainer.G, trainer.Gs
    name = 'G_synthesis/8x8/Conv1/weight'
    before = Gs.get_var(name)
    G.set_var(name, before + 1.0)
    trainer.update_gs(0.75)
    np.testing.assert_allclose(Gs.get_var(name), (before + 1.0) + (before - (before + 1.0)) * 0.75, rtol=1e-6)
    # In a minibatch, beta = 0.5 ** (minibatch / (G_smoothing_kimg * 1000)): 0.5 for 8 images at 0.008 kimg.
    trainer.G_smoothing_kimg = 0.008
    G.set_var(name, before)
    expected = before + (Gs.get_var(name) - before) * 0.5
    trainer.update_gs(trainer.gs_beta(8))
    np.testing.assert_allclose(Gs.get_var(name), expected, rtol=1e-6)


def test_minibatches_run_the_due_phases_and_trace_each_once():
    trainer = make_trainer()
    rnd = np.random.RandomState(3)
    for index in range(5):
        trainer.run_minibatch(index, random_data(rnd, 4)[0], rnd.randint(1 << 30, size=2), 0.0, LR, minibatch_gpu=2)
    # RegG at minibatches 0 and 4, RegD at 0; each optimizer steps once per phase it runs.
    assert trainer.G_opt.step.numpy() == 5 + 2 and trainer.D_opt.step.numpy() == 5 + 1
    assert [fn.experimental_get_tracing_count() for fn in trainer._round_fns.values()] == [1, 1, 1, 1]
    assert all(trainer._apply_fns[name].experimental_get_tracing_count() == 1 for name in ('TrainG', 'RegG', 'TrainD', 'RegD'))
    assert trainer._gs_update_fn.experimental_get_tracing_count() == 1
    stats = trainer.pop_stats()
    assert set(stats) >= {'Loss/scores/real', 'Loss/scores/fake', 'Loss/gradient_penalty', 'Loss/pl_lengths', 'Loss/G/loss',
                          'Loss/D/reg', 'TrainG/learning_rate', 'RegD/overflow_frequency'}
    assert trainer.pop_stats() == {}


def process_reals_np(x, lod, drange_data, drange_net, flip):
    """NVIDIA's process_reals in numpy: to the network's range, mirror the images where `flip`, fade towards the 2x2
    box average by lod - floor(lod), nearest-upsample by 2^floor(lod)."""
    x = (x.astype(np.float64) - drange_data[0]) * (drange_net[1] - drange_net[0]) / (drange_data[1] - drange_data[0]) + drange_net[0]
    x[flip] = x[flip, :, :, ::-1]
    alpha = lod - np.floor(lod)
    n, c, h, w = x.shape
    coarse = x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5)).repeat(2, axis=2).repeat(2, axis=3)
    x = x + (coarse - x) * alpha
    factor = 2 ** int(np.floor(lod))
    return x.repeat(factor, axis=2).repeat(factor, axis=3)


@pytest.mark.parametrize('lod', [0.0, 0.5, 1.0, 2.5])
@pytest.mark.parametrize('mirror', [False, True])
def test_process_reals_in_the_step_equals_numpy(lod, mirror):
    level = int(np.floor(lod))
    x = np.random.RandomState(4).randint(0, 256, size=[64, 3, 16 >> level, 16 >> level]).astype(np.uint8)
    with tflib.reproducible_random(tf.constant([5, 6], tf.int64)):
        got = tf.function(lambda x: process_reals(x, tf.constant(lod), level, mirror, [0, 255], [-1, 1]))(x).numpy()
    assert got.shape == (64, 3, 16, 16)
    plain = process_reals_np(x, lod, [0, 255], [-1, 1], np.zeros(64, bool))
    flipped = process_reals_np(x, lod, [0, 255], [-1, 1], np.ones(64, bool))
    is_flipped = np.array([np.allclose(g, f, atol=1e-5) and not np.allclose(g, p, atol=1e-5) for g, p, f in zip(got, plain, flipped)])
    np.testing.assert_allclose(got, process_reals_np(x, lod, [0, 255], [-1, 1], is_flipped), rtol=1e-5, atol=1e-5)
    assert (16 <= is_flipped.sum() <= 48) if mirror else not is_flipped.any()  # About half, each image on its own.


def test_the_r1_phase_sees_the_reals_of_the_d_phase():
    trainer = make_trainer(mirror_augment=True)
    data, _ = random_data(np.random.RandomState(7), 16)
    args = (SEED, 3, 0.0, 0, 16, *data)
    main, reg = (draw_inputs(trainer, name, *args) for name in ('TrainD', 'RegD'))
    np.testing.assert_array_equal(main.reals.numpy(), reg.reals.numpy())
    other_chunk = draw_inputs(trainer, 'TrainD', SEED, 4, 0.0, 0, 16, *data)
    assert not np.array_equal(main.reals.numpy(), other_chunk.reals.numpy())  # Mirroring differs by chunk.


def test_path_length_batch_with_an_odd_minibatch_gpu():
    # 6 images in 2 rounds of 3 (minibatch_gpu 3): as in the original, each round's path length batch is 3 // 2 = 1.
    trainer = make_trainer()
    inputs = draw_path_length_inputs(trainer, SEED, 0, 3)
    assert inputs.pl_latents.shape == (1, 8) and inputs.pl_noise.shape == (1, 3, 8, 8) and inputs.pl_labels.shape == (1, 0)
    trainer.run_phase(phase(trainer, 'RegG'), random_data(np.random.RandomState(0), 6)[0], SEED, 0.0, 0.001, minibatch_gpu=3)
    stats = trainer.pop_stats()
    assert np.isfinite(stats['Loss/G/reg']) and stats['Loss/G/reg'] > 0


def test_conditional_training_draws_labels_of_dataset_entries():
    table = np.eye(5, dtype=np.float32)[[0, 1, 2, 3, 4, 4, 4, 4]]  # 8 images of 5 classes, class 4 most often.
    G = tflib.Network('G', func_name='training.networks_stylegan2.G_main', **dict(NET, label_size=5))
    D = tflib.Network('D', func_name='training.networks_stylegan2.D_stylegan2', num_channels=3, resolution=8,
                      label_size=5, fmap_base=32, fmap_max=16)
    opt_args = dict(beta1=BETA1, beta2=BETA2, epsilon=EPS)
    trainer = Trainer(strategy=tf.distribute.get_strategy(), G=G, D=D, Gs=G.clone('Gs'), G_opt_args=opt_args,
                      D_opt_args=opt_args, G_loss_args=dict(func_name='training.loss.G_logistic_ns_pathreg'),
                      D_loss_args=dict(func_name='training.loss.D_logistic_r1'), label_table=table)
    labels = draw_inputs(trainer, 'TrainG', SEED, 0, 0.0, 0, 400).labels.numpy()
    assert labels.shape == (400, 5) and np.array_equal(labels.sum(axis=1), np.ones(400))  # Rows of the table.
    assert 0.4 < labels[:, 4].mean() < 0.6 and labels[:, 0].mean() > 0.05  # Each entry equally likely: class 4 is 1/2.
    images = np.random.RandomState(0).randint(0, 256, size=[4, 3, 8, 8]).astype(np.uint8)
    trainer.run_minibatch(0, (tf.constant(images), tf.constant(table[:4])), SEED, 0.0, LR, minibatch_gpu=4)
    stats = trainer.pop_stats()
    assert np.isfinite(stats['Loss/D/loss']) and np.isfinite(stats['Loss/G/reg'])
    assert trainer.G_opt.step.numpy() == 2 and trainer.D_opt.step.numpy() == 2
