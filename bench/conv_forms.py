"""Benchmark: the 3x3 convolutions of a config-f 256x256 generator at batch 1, as TensorFlow's conv2d and as one
matmul over extracted 3x3 patches (im2col), in GFLOP/s and as a fraction of this machine's fp32 matmul peak.

Usage: python bench/conv_forms.py [--batch 1] [--seconds 3]

It answers one question: how close to the matmul peak can a single image's convolutions get on this machine,
with either form? The generator benchmark (bench/generator.py) measures the whole network.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf  # noqa: E402

from bench.generator import matmul_peak_gflops  # noqa: E402

LAYERS = [(8, 512), (16, 512), (32, 512), (64, 512), (128, 256), (256, 128)]  # (resolution, feature maps)


@tf.function
def conv2d_form(x, w):
    return tf.nn.conv2d(x, w, strides=1, padding='SAME')


@tf.function
def im2col_form(x, w):
    _, h, wd, c = x.shape
    patches = tf.image.extract_patches(x, [1, 3, 3, 1], [1, 1, 1, 1], [1, 1, 1, 1], 'SAME')
    y = tf.linalg.matmul(tf.reshape(patches, [-1, 9 * c]), tf.reshape(w, [9 * c, -1]))
    return tf.reshape(y, [-1, h, wd, w.shape[-1]])


def best_seconds(fn, x, w, seconds):
    fn(x, w).numpy()
    best = float('inf')
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        fn(x, w).numpy()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--seconds', type=float, default=3.0, help='Timing budget per layer and form')
    args = parser.parse_args()

    peak = matmul_peak_gflops()
    print(f'fp32 matmul peak: {peak:.1f} GFLOP/s, batch {args.batch}')
    print('| resolution | feature maps | conv2d: ms, fraction of peak | im2col matmul: ms, fraction of peak |')
    print('|---|---|---|---|')
    for res, fmaps in LAYERS:
        x = tf.random.normal([args.batch, res, res, fmaps])
        w = tf.random.normal([3, 3, fmaps, fmaps])
        flops = 2 * args.batch * res * res * 9 * fmaps * fmaps
        cells = []
        for fn in (conv2d_form, im2col_form):
            sec = best_seconds(fn, x, w, args.seconds)
            cells.append(f'{sec * 1e3:.1f}, {flops / sec / 1e9 / peak:.0%}')
        print(f'| {res} | {fmaps} | {cells[0]} | {cells[1]} |', flush=True)


if __name__ == '__main__':
    main()
