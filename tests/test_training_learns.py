"""A GAN trained with our steps learns a simple distribution: a fixed color field with a little noise."""

import numpy as np
import tensorflow as tf

import dnnlib.tflib as tflib
from training.trainer import Trainer

TARGET = np.array([0.6, -0.5, 0.2], np.float32)  # Per-channel value of the data, in [-1, 1].


def test_generator_moves_to_the_data_distribution():
    tf.random.set_seed(0)
    net = dict(num_channels=3, resolution=8, label_size=0, fmap_base=64, fmap_max=32, latent_size=16, dlatent_size=16,
               mapping_fmaps=16, mapping_layers=2)
    G = tflib.Network('G', func_name='training.networks_stylegan2.G_main', **net)
    D = tflib.Network('D', func_name='training.networks_stylegan2.D_stylegan2', num_channels=3, resolution=8,
                      label_size=0, fmap_base=64, fmap_max=32)
    opt = dict(beta1=0.0, beta2=0.99, epsilon=1e-8)
    trainer = Trainer(strategy=tf.distribute.get_strategy(), G=G, D=D, Gs=G.clone('Gs'), G_opt_args=opt, D_opt_args=opt,
                      G_loss_args=dict(func_name='training.loss.G_logistic_ns_pathreg'),
                      D_loss_args=dict(func_name='training.loss.D_logistic_r1', gamma=1.0))
    rnd = np.random.RandomState(0)
    z_eval = rnd.randn(64, 16)

    def fake_means():
        return G.run(z_eval, None, truncation_psi=1.0).mean(axis=(0, 2, 3))

    before = np.abs(fake_means() - TARGET).max()
    n = 8
    for index in range(300):
        reals = TARGET[np.newaxis, :, np.newaxis, np.newaxis] + 0.05 * rnd.randn(n, 3, 8, 8)
        reals = np.clip(np.rint((reals + 1) * 127.5), 0, 255).astype(np.uint8)  # As the dataset stores them.
        trainer.run_minibatch(index, (tf.constant(reals), tf.zeros([n, 0])), rnd.randint(1 << 30, size=2), lod=0.0,
                              learning_rate=0.002, minibatch_gpu=n)
    after_means = fake_means()
    after = np.abs(after_means - TARGET).max()
    assert before > 0.3  # The untrained generator is far from the data...
    assert after < 0.15 and after < before / 3, (before, after_means)  # ...and training brings it close.
    # The fakes' per-pixel spread shrinks towards the data's small noise.
    assert G.run(z_eval, None, truncation_psi=1.0).std(axis=0).mean() < 0.3
