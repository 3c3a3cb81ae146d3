"""Benchmark: export_network.py's export times and file sizes, and images/s of the SavedModel's `generate` against
Gs.run (reference ops and compiled ops), uint8 images with the stored noise, truncation 0.5.

Usage: python bench/export.py [--resolution 256] [--fmap-base 16384] [--fmap-max 512] [--batches 1,8] [--runs 5]
       [--formats savedmodel,tflite,onnx]
"""

import argparse
import os
import sys
import tempfile
import time
import timeit

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf  # noqa: E402

import dnnlib.tflib as tflib  # noqa: E402
import export_network  # noqa: E402
from dnnlib.tflib.ops import IMPL_ENV  # noqa: E402
from training import misc  # noqa: E402


def size_mb(path):
    if os.path.isfile(path):
        return os.path.getsize(path) / 2 ** 20
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files) / 2 ** 20


def median_seconds(funcs, runs):
    """The median time of each function, called in turns so that other load on the machine affects all alike."""
    for func in funcs:
        func()  # Trace and warm up.
    times = np.array([[timeit.timeit(func, number=1) for func in funcs] for _ in range(runs)])
    return np.median(times, axis=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--resolution', type=int, default=256)
    parser.add_argument('--fmap-base', type=int, default=16384)
    parser.add_argument('--fmap-max', type=int, default=512)
    parser.add_argument('--batches', default='1,8')
    parser.add_argument('--runs', type=int, default=5, help='Timed calls per case (median)')
    parser.add_argument('--formats', default='savedmodel,tflite,onnx')
    args = parser.parse_args()

    Gs = tflib.Network('Gs', func_name='training.networks_stylegan2.G_main', num_channels=3, label_size=0,
                       resolution=args.resolution, fmap_base=args.fmap_base, fmap_max=args.fmap_max)
    params = sum(int(np.prod(v.shape)) for v in Gs.vars.values())
    print(f'G_main {args.resolution}x{args.resolution}, fmap_base {args.fmap_base}, fmap_max {args.fmap_max}: '
          f'{params / 1e6:.2f} M values; TensorFlow {tf.__version__}, oneDNN {os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default")}')
    tmp = tempfile.mkdtemp(prefix='bench-export-')
    pkl = os.path.join(tmp, 'network.pkl')
    misc.save_pkl((Gs, Gs, Gs), pkl)
    print(f'pickle: {size_mb(pkl):.1f} MB')
    print('| format | export s | size MB |\n|---|---|---|')
    for fmt in args.formats.split(','):
        out = os.path.join(tmp, 'model' + {'savedmodel': '', 'tflite': '.tflite', 'onnx': '.onnx'}[fmt])
        t0 = time.perf_counter()
        export_network.export_network(pkl, fmt, out)
        print(f'| {fmt} | {time.perf_counter() - t0:.1f} | {size_mb(out):.1f} |', flush=True)

    generate = tf.saved_model.load(os.path.join(tmp, 'model')).signatures['generate']
    uint8 = dict(func=tflib.convert_images_to_uint8, nchw_to_nhwc=True)
    Gs_ref, Gs_compiled = Gs.clone(), Gs.clone()  # Each traces its own run() function.
    print('| batch | Gs.run ref ops img/s | Gs.run compiled ops img/s | SavedModel img/s |\n|---|---|---|---|')
    for batch in [int(b) for b in args.batches.split(',')]:
        z = np.random.RandomState(0).randn(batch, Gs.input_shape[1]).astype(np.float32)

        def run(net, impl):
            def call():
                os.environ[IMPL_ENV] = impl  # Read when run() traces, on its first call.
                net.run(z, None, truncation_psi=0.5, randomize_noise=False, output_transform=uint8)
            return call
        exported = lambda: generate(z=tf.constant(z), truncation_psi=tf.constant(0.5),  # noqa: E731
                                    noise=tf.constant('const'))['images'].numpy()
        ref, compiled, exported = median_seconds([run(Gs_ref, 'ref'), run(Gs_compiled, 'auto'), exported], args.runs)
        print(f'| {batch} | {batch / ref:.2f} | {batch / compiled:.2f} | {batch / exported:.2f} |', flush=True)


if __name__ == '__main__':
    main()
