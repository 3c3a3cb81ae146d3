"""Benchmark: StyleGAN2 generator forward pass, images/s and achieved GFLOP/s vs this machine's fp32 matmul peak.

Usage: python bench/generator.py [--resolution 256] [--fmap-base 16384] [--batches 1,4] [--seconds 20]

The peak is measured in the same run (a large float32 matmul), so the ratio compares like with like
on whatever CPU or GPU runs this. FLOPs are counted analytically (2 per multiply-add) for the
convolutions, the modulation/demodulation, the FIR filters and the mapping network; the many small
element-wise ops are not counted, as is usual for such figures.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf  # noqa: E402

import dnnlib.tflib as tflib  # noqa: E402


def generator_flops_per_image(resolution, fmap_base, num_channels=3, dlatent=512, mapping_layers=8, fmap_max=512):
    """Multiply-adds x 2 of one G forward pass (config-e/f 'skip' generator)."""
    R = int(np.log2(resolution))
    nf = lambda s: int(min(max(fmap_base // 2 ** s, 1), fmap_max))  # noqa: E731
    flops = 2 * mapping_layers * dlatent * dlatent

    def modconv(k, fin, fout, out_hw, demod=True):
        f = 2 * dlatent * fin                      # style dense layer
        f += 2 * k * k * fin * fout * out_hw        # the convolution
        if demod:
            f += 2 * k * k * fin * fout            # demodulation coefficients
        return f

    flops += modconv(3, nf(1), nf(1), 16) + modconv(1, nf(1), num_channels, 16, demod=False)
    for r in range(3, R + 1):
        hw_in, hw = (2 ** (r - 1)) ** 2, (2 ** r) ** 2
        flops += 2 * 9 * nf(r - 2) * nf(r - 1) * hw_in + 2 * dlatent * nf(r - 2) + 2 * 9 * nf(r - 2) * nf(r - 1)  # up-conv
        flops += 2 * 16 * nf(r - 1) * hw                                      # 4x4 FIR after the up-conv
        flops += modconv(3, nf(r - 1), nf(r - 1), hw)
        flops += modconv(1, nf(r - 1), num_channels, hw, demod=False)
        flops += 2 * 16 * num_channels * hw                                   # skip upsampling of the image
    return flops


def matmul_peak_gflops(seconds=3.0, n=2048):
    a = tf.random.normal([n, n])
    b = tf.random.normal([n, n])
    mm = tf.function(lambda x, y: tf.linalg.matmul(x, y))
    mm(a, b).numpy()
    best = 0.0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        mm(a, b).numpy()
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t0) / 1e9)
    return best


def time_generator(Gs, batch, seconds):
    z = np.random.RandomState(0).randn(batch, *Gs.input_shape[1:]).astype(np.float32)
    Gs.run(z, None, truncation_psi=0.5, randomize_noise=False)  # Trace and warm up.
    Gs.run(z, None, truncation_psi=0.5, randomize_noise=False)
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 3:
        t0 = time.perf_counter()
        Gs.run(z, None, truncation_psi=0.5, randomize_noise=False)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--resolution', type=int, default=256)
    parser.add_argument('--fmap-base', type=int, default=16384)
    parser.add_argument('--batches', default='1,4')
    parser.add_argument('--seconds', type=float, default=20.0, help='Timing budget per batch size')
    args = parser.parse_args()

    print(f'TensorFlow {tf.__version__}, devices: {[d.name for d in tf.config.list_logical_devices()]}, '
          f'layout {tflib.default_data_format()}, oneDNN {os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default")}')
    Gs = tflib.Network('Gs', func_name='training.networks_stylegan2.G_main', num_channels=3,
                       resolution=args.resolution, label_size=0, fmap_base=args.fmap_base)
    peak = matmul_peak_gflops()
    flops = generator_flops_per_image(args.resolution, args.fmap_base)
    print(f'fp32 matmul peak: {peak:.1f} GFLOP/s; G forward: {flops / 1e9:.2f} GFLOP per image')
    print('| batch | sec/batch | images/s | GFLOP/s | fraction of matmul peak |')
    print('|---|---|---|---|---|')
    for batch in [int(b) for b in args.batches.split(',')]:
        sec = time_generator(Gs, batch, args.seconds)
        gflops = flops * batch / sec / 1e9
        print(f'| {batch} | {sec:.3f} | {batch / sec:.2f} | {gflops:.1f} | {gflops / peak:.0%} |', flush=True)


if __name__ == '__main__':
    main()
