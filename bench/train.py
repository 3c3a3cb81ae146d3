"""Benchmark: training speed (sec/kimg) and peak memory of the trainer's minibatches, 1 vs N replicas.

Usage: python bench/train.py [--config config-f] [--resolution 32] [--fmap-base 8192] [--fmap-max 512]
                             [--minibatch 32] [--minibatch-gpu 4] [--replicas 1,2] [--kimg 0.5] [--lod 0]
                             [--data DIR] [--host-time] [--phases]

Runs training.trainer.Trainer.run_minibatch(): the phases of the config (for config-e/f: G step, G path length
regularization every 4th, Gs update, D step, D R1 every 16th), with train.py's networks, losses and optimizer
settings for --config. Without --data the reals are the same random uint8 images every minibatch, already on the
replicas: the cost of training itself. With --data DIR (a dataset_tool.py dataset of --resolution) they come from
the TFRecords through the tf.data pipeline train.py uses. --lod L (progressive configs b-d) trains at that level of
detail: reals at the resolution of floor(L), the networks building only the levels L uses. Each replica count runs
in a fresh process (the CPU is split into logical devices before TensorFlow starts); the ratio to the first replica
count of the same invocation is printed.
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
    from training import configs
    from training.cluster import make_strategy, split_cpu
    from training.trainer import Trainer
    split_cpu(args.replicas_one)
    import numpy as np
    import tensorflow as tf
    import dnnlib.tflib as tflib
    from training import dataset

    strategy = make_strategy(args.replicas_one)
    setup = configs.training_setup('bench', args.config, 1, total_kimg=1, fmap_base=args.fmap_base, fmap_max=args.fmap_max)
    net = dict(num_channels=3, resolution=args.resolution, label_size=0)
    with strategy.scope():
        G = tflib.Network('G', **setup.G, **net)
        D = tflib.Network('D', **setup.D, **net)
        Gs = G.clone('Gs')
        for network in (G, D, Gs):
            if 'lod' in network.vars:
                network.set_var('lod', args.lod)
    trainer = Trainer(strategy=strategy, G=G, D=D, Gs=Gs, G_opt_args=setup.G_opt, D_opt_args=setup.D_opt,
                      G_loss_args=setup.G_loss, D_loss_args=setup.D_loss,
                      lazy_regularization=setup.train.get('lazy_regularization', True), mirror_augment=True)
    rnd = np.random.default_rng(0)
    level_res = args.resolution >> int(np.floor(args.lod))
    if args.data:
        minibatches = dataset.TFRecordDataset(args.data, resolution=args.resolution).distributed_minibatches(
            strategy, args.minibatch, args.lod)
    else:
        per_replica = args.minibatch // args.replicas_one
        data = strategy.experimental_distribute_values_from_function(lambda _ctx: (
            tf.constant(rnd.integers(256, size=[per_replica, 3, level_res, level_res], dtype=np.uint8)),
            tf.zeros([per_replica, 0])))
        minibatches = iter(lambda: data, None)

    def minibatch(index):
        trainer.run_minibatch(index, next(minibatches), rnd.integers(1 << 62, size=2), args.lod, 0.002, args.minibatch_gpu)

    minibatch(0)  # Trace every phase once.
    trainer.pop_stats()
    gflop = graph_gflop_per_minibatch(trainer)
    num = max(int(args.kimg * 1000 / args.minibatch), 16)
    start = time.perf_counter()
    for index in range(1, num + 1):
        minibatch(index)
    trainer.pop_stats()  # Waits for the last minibatch.
    sec_per_kimg = (time.perf_counter() - start) / (num * args.minibatch / 1000)
    host_ms = host_ms_per_minibatch(minibatch, trainer, num) if args.host_time else None
    phases = phase_shares(minibatch, trainer, num) if args.phases else None
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    print(json.dumps(dict(replicas=args.replicas_one, sec_per_kimg=sec_per_kimg, peak_rss_gb=peak_gb, minibatches=num,
                          ms_per_minibatch=sec_per_kimg * args.minibatch, gflop_per_minibatch=gflop,  # s/kimg x images = ms.
                          host_ms_per_minibatch=host_ms, phases=phases)))


def phase_shares(minibatch, trainer, num):
    """num more minibatches with each phase timed on its own (its rounds and its update; on a CPU a call returns
    when its work is done): per phase the ms per minibatch (averaged over all minibatches, so a phase that runs
    every 4th counts a quarter), the GFLOP per minibatch, GFLOP/s and the fraction of the matmul peak measured now;
    'rest' is the time outside the phases (Gs update, host work)."""
    sys.path.insert(0, os.path.join(ROOT, 'bench'))
    from generator import matmul_peak_gflops
    seconds = {}
    run_phase = trainer.run_phase

    def timed_phase(phase, *phase_args):
        start = time.perf_counter()
        run_phase(phase, *phase_args)
        trainer.pop_stats()  # Waits for the phase's results.
        seconds[phase.name] = seconds.get(phase.name, 0.0) + time.perf_counter() - start
    trainer.run_phase = timed_phase
    start = time.perf_counter()
    for index in range(2 * num + 1, 3 * num + 1):
        minibatch(index)
    total = time.perf_counter() - start
    trainer.run_phase = run_phase
    peak = matmul_peak_gflops()
    result = {'matmul_peak_gflops': peak}
    for phase in trainer.phases:
        ms = seconds.get(phase.name, 0.0) / num * 1000
        gflop = graph_gflop_per_minibatch(trainer, only=phase.name)
        result[phase.name] = dict(ms=ms, gflop=gflop, gflops=gflop / ms * 1000 if ms else 0.0,
                                  peak_fraction=gflop / ms * 1000 / peak if ms else 0.0)
    result['rest'] = dict(ms=(total - sum(seconds.values())) / num * 1000)
    return result


def host_ms_per_minibatch(minibatch, trainer, num):
    """An upper bound of the host time per minibatch outside TensorFlow's execution of the compiled phases: num more
    minibatches under cProfile, their whole time minus the time inside TFE_Py_Execute (the profiler's own cost is
    included, hence an upper bound)."""
    import cProfile
    import pstats
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.enable()
    for index in range(num + 1, 2 * num + 1):
        minibatch(index)
    trainer.pop_stats()
    profile.disable()
    total = time.perf_counter() - start
    executing = sum(stat[2] for key, stat in pstats.Stats(profile).stats.items() if 'TFE_Py_Execute' in key[2])
    return (total - executing) / num * 1000


def graph_gflop_per_minibatch(trainer, only=None):
    """The multiply-adds x 2 of a minibatch's convolutions and matmuls, read from the traced phases' graphs (their
    forward and backward ops with static shapes; element-wise ops and the compiled custom ops are not counted), each
    phase weighted by how often it runs and by its rounds, summed over replicas; only=name: that phase's."""
    total = 0.0
    intervals = {phase.name: phase.interval for phase in trainer.phases}
    for (name, _level, _minibatch_gpu, rounds), fn in trainer._round_fns.items():
        if only not in (None, name):
            continue
        graph = fn._list_all_concrete_functions()[0].graph
        flops = sum(op_flops(op) for op in graph.get_operations())
        total += flops * rounds * trainer.strategy.num_replicas_in_sync / intervals[name]
    return total / 1e9


def op_flops(op):
    """2 x multiply-adds of one MatMul or 2-D convolution (forward or either gradient); 0 for other ops or unknown shapes."""
    import numpy as np

    def dims(tensor):
        shape = tensor.shape.as_list() if tensor.shape.rank is not None else [None]
        return None if None in shape else shape
    if op.type == 'MatMul':
        a, b = dims(op.inputs[0]), dims(op.inputs[1])
        if a is None or b is None:
            return 0
        rows, inner = (a[1], a[0]) if op.get_attr('transpose_a') else (a[0], a[1])
        return 2 * rows * inner * (b[0] if op.get_attr('transpose_b') else b[1])
    # Each output element of the side with the output feature maps takes kh * kw * in_channels multiply-adds.
    if op.type == 'Conv2D':
        kernel, out_side = op.inputs[1], op.outputs[0]
    elif op.type == 'Conv2DBackpropInput':
        kernel, out_side = op.inputs[1], op.inputs[2]
    elif op.type == 'Conv2DBackpropFilter':
        kernel, out_side = op.outputs[0], op.inputs[2]
    else:
        return 0
    if dims(kernel) is None or dims(out_side) is None:
        return 0
    kh, kw, cin, _ = dims(kernel)
    return 2 * int(np.prod(dims(out_side))) * kh * kw * cin


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default='config-f', help='train.py config (default: %(default)s)')
    parser.add_argument('--resolution', type=int, default=32)
    parser.add_argument('--fmap-base', type=int, default=8192)
    parser.add_argument('--fmap-max', type=int, default=512)
    parser.add_argument('--minibatch', type=int, default=32)
    parser.add_argument('--minibatch-gpu', type=int, default=4)
    parser.add_argument('--replicas', default='1,2')
    parser.add_argument('--kimg', type=float, default=0.5, help='Images to time, in thousands (at least 16 minibatches)')
    parser.add_argument('--lod', type=float, default=0.0, help='Level of detail (progressive configs; default: %(default)s)')
    parser.add_argument('--data', default=None, help='Read the reals from this dataset directory (default: random images)')
    parser.add_argument('--host-time', action='store_true', help='Also report host time outside the compiled phases')
    parser.add_argument('--phases', action='store_true', help='Also time each phase alone: ms, GFLOP, fraction of the matmul peak')
    parser.add_argument('--replicas-one', type=int, default=None, help=argparse.SUPPRESS)  # Internal: one child run.
    args = parser.parse_args()
    if args.replicas_one is not None:
        run_one(args)
        return

    print(f'{args.config}, resolution {args.resolution}, lod {args.lod}, fmap_base {args.fmap_base}, fmap_max {args.fmap_max}, '
          f'minibatch {args.minibatch}, minibatch_gpu {args.minibatch_gpu}, data {args.data or "random, in memory"}')
    print('| replicas | sec/kimg | ms/minibatch | relative to the first | GFLOP/minibatch | GFLOP/s | peak RSS (GiB) |')
    print('|---|---|---|---|---|---|---|')
    base = None
    for replicas in [int(r) for r in args.replicas.split(',')]:
        cmd = [sys.executable, os.path.abspath(__file__), '--replicas-one', str(replicas)]
        for name in ('config', 'resolution', 'fmap_base', 'fmap_max', 'minibatch', 'minibatch_gpu', 'kimg', 'lod', 'data'):
            if getattr(args, name) is not None:
                cmd += ['--' + name.replace('_', '-'), str(getattr(args, name))]
        cmd += (['--host-time'] if args.host_time else []) + (['--phases'] if args.phases else [])
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f'bench/train.py: the {replicas}-replica run failed:\n{out.stderr[-3000:]}')
        result = json.loads(out.stdout.strip().splitlines()[-1])
        base = base or result['sec_per_kimg']
        print(f"| {replicas} | {result['sec_per_kimg']:.2f} | {result['ms_per_minibatch']:.1f} | "
              f"{result['sec_per_kimg'] / base:.2f} | {result['gflop_per_minibatch']:.2f} | "
              f"{result['gflop_per_minibatch'] / result['ms_per_minibatch'] * 1000:.1f} | {result['peak_rss_gb']:.2f} |", flush=True)
        if result['host_ms_per_minibatch'] is not None:
            print(f"host time outside the compiled phases: at most {result['host_ms_per_minibatch']:.1f} ms per minibatch")
        if result['phases'] is not None:
            phases = result['phases']
            print(f"Phases of {replicas} replica(s), matmul peak {phases.pop('matmul_peak_gflops'):.1f} GFLOP/s:")
            print('| phase | ms/minibatch | share | GFLOP/minibatch | GFLOP/s | fraction of peak |')
            print('|---|---|---|---|---|---|')
            total = sum(phase['ms'] for phase in phases.values())
            for name, phase in phases.items():
                flops = (f"{phase['gflop']:.2f} | {phase['gflops']:.1f} | {phase['peak_fraction']:.0%}" if 'gflop' in phase
                         else '- | - | -')
                print(f"| {name} | {phase['ms']:.1f} | {phase['ms'] / total:.0%} | {flops} |", flush=True)


if __name__ == '__main__':
    main()
