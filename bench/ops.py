"""Benchmark: compiled ops (impl='cpu', or 'cuda' on a GPU) vs the reference path, per op and for a whole G forward pass.

Usage: python bench/ops.py [--resolution 256] [--fmap-base 16384] [--batch 4] [--reps 15] [--g-reps 7]

The op cases are the shapes a config-f generator at the given resolution and batch size runs on this
device (NHWC on CPUs, NCHW on GPUs), plus some in the other layout and D's downsampling. Each case
times the forward pass and forward + backward (the output and its first-order gradient), the two
implementations interleaved, and reports median times and the ratio ref / compiled (> 1: the compiled
op is faster). The G forward pass is Gs.get_output_for(z, truncation_psi=0.5, randomize_noise=False),
traced once per implementation.
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
from dnnlib.tflib import custom_ops  # noqa: E402
from dnnlib.tflib.ops import IMPL_ENV  # noqa: E402
from dnnlib.tflib.ops.fused_bias_act import fused_bias_act  # noqa: E402
from dnnlib.tflib.ops.upfirdn_2d import upfirdn_2d, _setup_kernel  # noqa: E402


def interleaved(funcs, reps):
    """Median seconds of each function, run alternately so that machine noise hits all alike."""
    for f in funcs:
        f()
        f()
    times = [[] for _ in funcs]
    for _ in range(reps):
        for f, t in zip(funcs, times):
            start = time.perf_counter()
            f()
            t.append(time.perf_counter() - start)
    return [float(np.median(t)) for t in times]


def op_cases(resolution, fmap_base, batch, nchw):
    """(name, op(x, impl), x shape) for the generator's op calls, largest per kind."""
    nf = lambda res: int(min(fmap_base // res * 2, 512))  # Feature maps at a resolution (config-f: 128 at 256).  # noqa: E731
    k4 = _setup_kernel([1, 3, 3, 1])
    r, c = resolution, nf(resolution)
    layout = 'NCHW' if nchw else 'NHWC'
    other = 'NHWC' if nchw else 'NCHW'

    def image(fmt, n, h, w, ch):
        """upfirdn_2d's [major, H, W, minor] view of an image batch in layout fmt."""
        return [n * ch, h, w, 1] if fmt == 'NCHW' else [n, h, w, ch]

    def act_shape(fmt, n, h, w, ch):
        return [n, ch, h, w] if fmt == 'NCHW' else [n, h, w, ch]

    ax = lambda fmt: 1 if fmt == 'NCHW' else 3  # noqa: E731
    return [
        (f'fused_bias_act lrelu, conv output {layout} {r}x{r}x{c}',
         lambda x, impl, f=layout: fused_bias_act(x, tf.ones([c]), axis=ax(f), act='lrelu', impl=impl), act_shape(layout, batch, r, r, c)),
        (f'fused_bias_act lrelu, conv output {layout} {r // 4}x{r // 4}x{nf(r // 4)}',
         lambda x, impl, f=layout: fused_bias_act(x, tf.ones([nf(r // 4)]), axis=ax(f), act='lrelu', impl=impl),
         act_shape(layout, batch, r // 4, r // 4, nf(r // 4))),
        (f'fused_bias_act lrelu, conv output {other} {r}x{r}x{c}',
         lambda x, impl, f=other: fused_bias_act(x, tf.ones([c]), axis=ax(f), act='lrelu', impl=impl), act_shape(other, batch, r, r, c)),
        ('fused_bias_act linear, style [batch, 512]',
         lambda x, impl: fused_bias_act(x, tf.ones([512]), axis=1, impl=impl), [batch, 512]),
        (f'upfirdn_2d 4x4 filter after up-conv, {layout} {r + 1}x{r + 1}x{c}',
         lambda x, impl: upfirdn_2d(x, k4 * 4, padx0=1, padx1=1, pady0=1, pady1=1, impl=impl), image(layout, batch, r + 1, r + 1, c)),
        (f'upfirdn_2d 4x4 filter after up-conv, {other} {r + 1}x{r + 1}x{c}',
         lambda x, impl: upfirdn_2d(x, k4 * 4, padx0=1, padx1=1, pady0=1, pady1=1, impl=impl), image(other, batch, r + 1, r + 1, c)),
        (f'upfirdn_2d upsample x2 of the RGB skip, {layout} {r // 2}x{r // 2}x3',
         lambda x, impl: upfirdn_2d(x, k4 * 4, 2, 2, 1, 1, 2, 1, 2, 1, impl=impl), image(layout, batch, r // 2, r // 2, 3)),
        (f'upfirdn_2d downsample x2 (D), {layout} {r}x{r}x{c}',
         lambda x, impl: upfirdn_2d(x, k4, 1, 1, 2, 2, 1, 1, 1, 1, impl=impl), image(layout, batch, r, r, c)),
    ]


def probe(y):
    """One element of y: reading it back waits for the computation (GPUs run asynchronously) without
    timing a copy of the whole output."""
    return tf.reshape(y, [-1])[0]


def time_op(op, shape, impl_compiled, reps):
    rnd = np.random.RandomState(0)
    x = tf.constant(rnd.randn(*shape).astype(np.float32))
    # The upstream gradient is an input, not a constant that TensorFlow could fold into the graph.
    dy = tf.constant(rnd.randn(*op(x, 'ref').shape).astype(np.float32))

    def fwd(impl):
        return tf.function(lambda v, _: probe(op(v, impl)))

    def fwd_bwd(impl):
        @tf.function
        def f(v, dy):
            with tf.GradientTape() as tape:
                tape.watch(v)
                y = op(v, impl)
            # Both results kept, as in training, where the forward output is used too.
            return probe(tape.gradient(y, v, output_gradients=dy)) + probe(y)
        return f

    results = []
    for make in (fwd, fwd_bwd):
        ref, comp = make('ref'), make(impl_compiled)
        results.append(interleaved([lambda: ref(x, dy).numpy(), lambda: comp(x, dy).numpy()], reps))
    return results


def time_generator(resolution, fmap_base, batch, impl_compiled, reps):
    Gs = tflib.Network('Gs', func_name='training.networks_stylegan2.G_main', num_channels=3, resolution=resolution,
                       label_size=0, fmap_base=fmap_base)
    z = tf.constant(np.random.RandomState(0).randn(batch, *Gs.input_shape[1:]).astype(np.float32))
    labels = tf.zeros([batch, 0])
    funcs = []
    for impl in ('ref', impl_compiled):
        # The networks call the ops with impl=None; the variable decides what that means while tracing.
        os.environ[IMPL_ENV] = impl
        f = tf.function(lambda z: probe(Gs.get_output_for(z, labels, truncation_psi=0.5, randomize_noise=False)),
                        autograph=False)
        f(z).numpy()
        funcs.append(lambda f=f: f(z).numpy())
    del os.environ[IMPL_ENV]
    return interleaved(funcs, reps)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--resolution', type=int, default=256)
    parser.add_argument('--fmap-base', type=int, default=16384)
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--reps', type=int, default=15, help='Timed runs per op case and implementation')
    parser.add_argument('--g-reps', type=int, default=7, help='Timed G forward passes per implementation (0: skip)')
    args = parser.parse_args()

    gpu = custom_ops.gpu_available()
    impl = 'cuda' if gpu else 'cpu'
    lib = custom_ops.get_library(gpu=gpu)
    print(f'TensorFlow {tf.__version__}, {"GPU" if gpu else "CPU"}, oneDNN {os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default")}, '
          f'compiled ops: {lib.variant} ({lib.how}: {lib.path})')
    print(f'\n| op (batch {args.batch}) | ref fwd ms | {impl} fwd ms | ratio | ref fwd+bwd ms | {impl} fwd+bwd ms | ratio |')
    print('|---|---|---|---|---|---|---|')
    for name, op, shape in op_cases(args.resolution, args.fmap_base, args.batch, nchw=gpu):
        (rf, cf), (rb, cb) = time_op(op, shape, impl, args.reps)
        print(f'| {name} | {rf * 1e3:.2f} | {cf * 1e3:.2f} | {rf / cf:.2f} | {rb * 1e3:.2f} | {cb * 1e3:.2f} | {rb / cb:.2f} |', flush=True)
    if args.g_reps:
        ref, comp = time_generator(args.resolution, args.fmap_base, args.batch, impl, args.g_reps)
        print(f'\nG forward, {args.resolution}x{args.resolution}, fmap_base {args.fmap_base}, batch {args.batch}, '
              f'layout {tflib.default_data_format()}: ref {ref:.3f} s, {impl} {comp:.3f} s, ratio {ref / comp:.3f} '
              f'(compiled {100 * (ref / comp - 1):+.1f}% images/s)')


if __name__ == '__main__':
    main()
