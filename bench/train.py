"""Benchmark: training speed (sec/kimg) and peak memory of the StyleGAN2 training steps, 1 vs N replicas.

Usage: python bench/train.py [--resolution 32] [--fmap-base 8192] [--fmap-max 512] [--minibatch 32]
                             [--minibatch-gpu 4] [--replicas 1,2] [--kimg 0.5]

Runs NVIDIA's per-minibatch sequence (G step, G path-length reg every 4th, Gs update, D step, D R1 every 16th)
on random images, so the figure is the cost of training itself, without dataset reading. Each replica
count runs in a fresh process (the CPU is split into logical devices before TensorFlow starts); the
ratio to the 1-replica run of the same invocation is printed.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_one(args):
    sys.path.insert(0, ROOT)
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    from training.training_loop import Trainer, make_strategy, random_seeds, split_cpu
    split_cpu(args.replicas_one)
    import numpy as np
    import dnnlib.tflib as tflib

    strategy = make_strategy(args.replicas_one)
    net = dict(num_channels=3, resolution=args.resolution, label_size=0, fmap_base=args.fmap_base, fmap_max=args.fmap_max)
    with strategy.scope():
        G = tflib.Network('G', func_name='training.networks_stylegan2.G_main', **net)
        D = tflib.Network('D', func_name='training.networks_stylegan2.D_stylegan2', **net)
        Gs = G.clone('Gs')
    opt = dict(beta1=0.0, beta2=0.99, epsilon=1e-8, learning_rate=0.002)
    trainer = Trainer(strategy, G, D, Gs, opt, opt, dict(func_name='training.loss.G_logistic_ns_pathreg'),
                      dict(func_name='training.loss.D_logistic_r1', gamma=10.0), True, 4, 16)
    rnd = np.random.default_rng(0)
    n = args.minibatch
    rounds = n // (args.minibatch_gpu * args.replicas_one)
    shape = [args.resolution] * 2

    def minibatch(counter):
        chunks = rounds * args.replicas_one
        trainer.step('G', 'loss', trainer.g_inputs(rnd, _NoLabels(), n, 'loss', chunks), rounds, 0.0016)
        if counter % 4 == 0:
            trainer.step('G', 'reg', trainer.g_inputs(rnd, _NoLabels(), n, 'reg', chunks), rounds, 0.0016)
        trainer.update_gs(0.99)
        d_in = dict(latents=rnd.standard_normal([n, 512]), labels=np.zeros([n, 0]), reals=rnd.standard_normal([n, 3] + shape),
                    seeds=random_seeds(rnd, n))
        trainer.step('D', 'loss', d_in, rounds, 0.0019)
        if counter % 16 == 0:
            trainer.step('D', 'reg', d_in, rounds, 0.0019)

    minibatch(0)  # Trace every step once.
    num = max(int(args.kimg * 1000 / n), 16)
    start = time.perf_counter()
    for counter in range(1, num + 1):
        minibatch(counter)
    sec_per_kimg = (time.perf_counter() - start) / (num * n / 1000)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    print(json.dumps(dict(replicas=args.replicas_one, sec_per_kimg=sec_per_kimg, peak_rss_gb=peak_gb, minibatches=num)))


class _NoLabels:
    @staticmethod
    def get_random_labels_np(n, rnd=None):
        import numpy as np
        return np.zeros([n, 0], np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--resolution', type=int, default=32)
    parser.add_argument('--fmap-base', type=int, default=8192)
    parser.add_argument('--fmap-max', type=int, default=512)
    parser.add_argument('--minibatch', type=int, default=32)
    parser.add_argument('--minibatch-gpu', type=int, default=4)
    parser.add_argument('--replicas', default='1,2')
    parser.add_argument('--kimg', type=float, default=0.5, help='Images to time, in thousands (at least 16 minibatches)')
    parser.add_argument('--replicas-one', type=int, default=None, help=argparse.SUPPRESS)  # Internal: one child run.
    args = parser.parse_args()
    if args.replicas_one is not None:
        run_one(args)
        return

    print(f'resolution {args.resolution}, fmap_base {args.fmap_base}, fmap_max {args.fmap_max}, '
          f'minibatch {args.minibatch}, minibatch_gpu {args.minibatch_gpu}')
    print('| replicas | sec/kimg | relative to 1 replica | peak RSS (GiB) |')
    print('|---|---|---|---|')
    base = None
    for replicas in [int(r) for r in args.replicas.split(',')]:
        cmd = [sys.executable, os.path.abspath(__file__), '--replicas-one', str(replicas)]
        for name in ('resolution', 'fmap_base', 'fmap_max', 'minibatch', 'minibatch_gpu', 'kimg'):
            cmd += ['--' + name.replace('_', '-'), str(getattr(args, name))]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        base = base or result['sec_per_kimg']
        print(f"| {replicas} | {result['sec_per_kimg']:.1f} | {result['sec_per_kimg'] / base:.2f} | {result['peak_rss_gb']:.2f} |", flush=True)


if __name__ == '__main__':
    main()
