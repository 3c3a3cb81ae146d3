"""Run by test_distributed.py in a fresh process: the same training steps on 1 replica and on 2
MirroredStrategy replicas (two logical CPU devices) from the same weights and global batches.
Prints a JSON dict of the largest relative weight differences."""

import json
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import dnnlib.tflib as tflib  # noqa: E402
from training.training_loop import Trainer, split_cpu  # noqa: E402

split_cpu(2)
NET = dict(num_channels=3, resolution=8, label_size=0, fmap_base=32, fmap_max=16, latent_size=8, dlatent_size=8,
           mapping_fmaps=8, mapping_layers=2, style_mixing_prob=None, randomize_noise=False)
OPT = dict(beta1=0.0, beta2=0.99, epsilon=1e-8, learning_rate=0.002)


def train(strategy, init, rounds):
    with strategy.scope():
        G = tflib.Network('G', func_name='training.networks_stylegan2.G_main', **NET)
        D = tflib.Network('D', func_name='training.networks_stylegan2.D_stylegan2', num_channels=3, resolution=8,
                          label_size=0, fmap_base=32, fmap_max=16, mbstd_group_size=2)
        Gs = G.clone('Gs')
        for net in (G, D, Gs):
            for name, var in net.vars.items():
                var.assign(init[net.name.replace('Gs', 'G')][name])
    trainer = Trainer(strategy, G, D, Gs, OPT, OPT, dict(func_name='training.loss.G_logistic_ns'),
                      dict(func_name='training.loss.D_logistic_r1', gamma=10.0), True, 4, 16)
    rnd = np.random.RandomState(0)
    for step in range(3):
        g_in = dict(latents=rnd.randn(8, 8), labels=np.zeros([8, 0]))
        d_in = dict(latents=rnd.randn(8, 8), labels=np.zeros([8, 0]), reals=rnd.randn(8, 3, 8, 8))
        trainer.step('G', 'loss', g_in, rounds, 0.002)
        trainer.update_gs(0.9)
        trainer.step('D', 'loss', d_in, rounds, 0.002)
        if step == 0:
            trainer.step('D', 'reg', d_in, rounds, 0.002)
    weights = {name: {k: v.numpy() for k, v in net.trainables.items()} for name, net in (('G', G), ('D', D), ('Gs', Gs))}
    return weights, strategy.num_replicas_in_sync


def main():
    G0 = tflib.Network('G', func_name='training.networks_stylegan2.G_main', **NET)
    D0 = tflib.Network('D', func_name='training.networks_stylegan2.D_stylegan2', num_channels=3, resolution=8,
                       label_size=0, fmap_base=32, fmap_max=16, mbstd_group_size=2)
    init = {'G': {k: v.numpy() for k, v in G0.vars.items()}, 'D': {k: v.numpy() for k, v in D0.vars.items()}}
    cpus = [d.name for d in tf.config.list_logical_devices('CPU')]
    # One replica, 2 rounds of 4 images == two replicas, 1 round of 2 x 4 images (same samples per group).
    single, single_replicas = train(tf.distribute.get_strategy(), init, rounds=2)
    mirrored, mirrored_replicas = train(tf.distribute.MirroredStrategy(cpus[:2]), init, rounds=1)
    moved = max(float(np.abs(mirrored['G'][k] - init['G'][k]).max()) for k in mirrored['G'])
    result = {'replicas': [single_replicas, mirrored_replicas], 'moved': moved}
    for net in single:
        result[net] = max(float(np.abs(single[net][k] - mirrored[net][k]).max() / (np.abs(single[net][k]).max() + 1e-12))
                          for k in single[net])
    print(json.dumps(result))


if __name__ == '__main__':
    main()
