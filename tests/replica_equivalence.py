"""Run by test_distributed.py in fresh processes: the same minibatches from the same weights, reading the same
dataset, on one replica (2 accumulation rounds) or on 2 MirroredStrategy replicas (two logical CPU devices).
Saves the trained weights to an .npz file.

Usage: python replica_equivalence.py single|mirrored OUT.npz
"""

import os
import sys
import tempfile

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import dnnlib  # noqa: E402,F401 (before TensorFlow, as the scripts)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import dnnlib.tflib as tflib  # noqa: E402
from tfrecords_for_tests import color_squares, write_dataset  # noqa: E402
from training import dataset  # noqa: E402
from training.cluster import split_cpu  # noqa: E402
from training.trainer import Trainer  # noqa: E402

# Noise inputs, style mixing and mirroring on: round r of the single replica and replica r draw the same random
# numbers (the trainer keys them on the chunk of images, replica * rounds + round).
NET = dict(num_channels=3, resolution=8, label_size=0, fmap_base=32, fmap_max=16, latent_size=8, dlatent_size=8,
           mapping_fmaps=8, mapping_layers=2, style_mixing_prob=0.9, randomize_noise=True)
D_NET = dict(num_channels=3, resolution=8, label_size=0, fmap_base=32, fmap_max=16, mbstd_group_size=2)
OPT = dict(beta1=0.0, beta2=0.99, epsilon=1e-8)


def main(mode, out_path):
    if mode == 'mirrored':
        split_cpu(2)
        strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices('CPU')][:2])
    else:
        strategy = tf.distribute.get_strategy()

    with strategy.scope():
        G = tflib.Network('G', func_name='training.networks_stylegan2.G_main', **NET)
        D = tflib.Network('D', func_name='training.networks_stylegan2.D_stylegan2', **D_NET)
        rnd = np.random.RandomState(123)
        for net in (G, D):
            for name in sorted(net.vars):
                var = net.vars[name]
                var.assign(np.float32(rnd.randn(*var.shape.as_list()) * (0.1 if 'bias' in name or 'strength' in name else 1.0)))
        Gs = G.clone('Gs')
    initial = {k: v.numpy() for k, v in G.trainables.items()}
    trainer = Trainer(strategy=strategy, G=G, D=D, Gs=Gs, G_opt_args=OPT, D_opt_args=OPT,
                      G_loss_args=dict(func_name='training.loss.G_logistic_ns'),
                      D_loss_args=dict(func_name='training.loss.D_logistic_r1', gamma=10.0), G_smoothing_kimg=0.1,
                      mirror_augment=True)
    with tempfile.TemporaryDirectory() as tmp:
        write_dataset(os.path.join(tmp, 'squares'), color_squares(16, 8, seed=3))
        training_set = dataset.TFRecordDataset(os.path.join(tmp, 'squares'), shuffle_seed=1)
        # 8 images a minibatch: 2 rounds of 4, or 1 round of 2 replicas x 4.
        minibatches = training_set.distributed_minibatches(strategy, 8)
        seeds = np.random.default_rng(0).integers(1 << 62, size=[3, 2])
        for index in range(3):
            trainer.run_minibatch(index, next(minibatches), seeds[index], lod=0.0, learning_rate=0.002, minibatch_gpu=4)
    weights = {f'{net.name}/{k}': v.numpy() for net in (G, D, Gs) for k, v in net.trainables.items()}
    weights['replicas'] = np.array(strategy.num_replicas_in_sync)
    weights['moved'] = np.array(max(float(np.abs(G.get_var(k) - v).max()) for k, v in initial.items()))
    np.savez(out_path, **weights)


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
