"""Train a StyleGAN2, StyleGAN or ProGAN network on a multi-resolution TFRecord dataset (NVIDIA's run_training.py,
with the setups of StyleGAN's train.py and ProGAN's config.py as presets; TF2).

Writes results/<ID>-<description>/ (e.g. 00000-stylegan2-<dataset>-<N>gpu-<config>) with log.txt, reals.png, fakes_init.png,
fakesNNNNNN.png, network-snapshot-NNNNNN.pkl (+ .ckpt/.json training state for --resume) and
network-final.pkl. Run with --help for the options and examples.
"""

import argparse
import copy
import functools
import glob
import os
import sys
import tempfile

import dnnlib
from dnnlib import EasyDict
from training import configs

def build_run_kwargs(dataset, data_dir, result_dir, config_id, num_gpus, total_kimg, gamma, mirror_augment, metrics,
                     resume=None, snapshot_ticks=10, minibatch=None, minibatch_gpu=None, seed=1000, fmap_base=None,
                     fmap_max=None, metric_data=None):
    """The training_loop() arguments and SubmitConfig of a run: the config's setup plus this command line's."""
    if metrics:
        check_metrics(metrics, metric_data)
    setup = configs.training_setup(dataset, config_id, num_gpus, total_kimg, gamma, fmap_base, fmap_max, minibatch,
                                   minibatch_gpu)
    train = setup.train
    train.data_dir = data_dir
    train.mirror_augment = mirror_augment
    train.image_snapshot_ticks = train.network_snapshot_ticks = snapshot_ticks
    train.random_seed = seed
    if metrics:
        train.metrics_callback = functools.partial(run_snapshot_metrics, metrics=list(metrics), data_dir=data_dir,
                                                   dataset_args=EasyDict(tfrecord_dir=dataset), mirror_augment=mirror_augment,
                                                   num_gpus=num_gpus, metric_data=metric_data)
    if resume is not None:
        train.resume_pkl = resolve_resume(resume, result_dir, setup.desc)

    sc = dnnlib.SubmitConfig()
    sc.num_gpus = num_gpus
    sc.run_dir_root = result_dir
    sc.run_desc = setup.desc
    kwargs = EasyDict(train)
    kwargs.update(G_args=setup.G, D_args=setup.D, G_opt_args=setup.G_opt, D_opt_args=setup.D_opt, G_loss_args=setup.G_loss,
                  D_loss_args=setup.D_loss)
    kwargs.update(dataset_args=EasyDict(tfrecord_dir=dataset), sched_args=setup.sched, grid_args=setup.grid,
                  tf_config={'rnd.np_random_seed': seed}, num_gpus=num_gpus)
    kwargs.submit_config = copy.deepcopy(sc)
    return kwargs


def check_metrics(metrics, metric_data):
    """Unknown metric names and missing feature network files stop the run before it starts, not at its first snapshot."""
    from metrics import metric_base
    from metrics.metric_defaults import metric_defaults
    unknown = [name for name in metrics if name not in metric_defaults]
    if unknown:
        raise ValueError(f'--metrics: unknown metric(s) {", ".join(unknown)}; valid: {", ".join(metric_defaults)}, or none.')
    if metric_data is not None:
        metric_base.set_metric_data_dir(metric_data)
    metric_base.MetricGroup([metric_defaults[name] for name in metrics]).check_files()


def run_snapshot_metrics(network_pkl, run_dir, metrics, data_dir, dataset_args, mirror_augment, num_gpus, metric_data):
    """The training loop's metrics callback: NVIDIA's metrics of a network snapshot, each appended to
    <run_dir>/metric-<name>.txt; returns {name: value} for TensorBoard."""
    from metrics import metric_base
    from metrics.metric_defaults import metric_defaults
    if metric_data is not None:
        metric_base.set_metric_data_dir(metric_data)
    group = metric_base.MetricGroup([metric_defaults[name] for name in metrics])
    return group.run(network_pkl, run_dir=run_dir, data_dir=data_dir, dataset_args=dataset_args,
                     mirror_augment=mirror_augment, num_gpus=num_gpus)


def resolve_resume(resume, result_dir, desc):
    """A snapshot path, or 'latest': the newest complete snapshot of the newest run named like this one."""
    if resume != 'latest':
        if not os.path.isfile(resume):
            raise FileNotFoundError(f'--resume: no such snapshot file: {resume}')
        return resume
    from training.snapshot import find_latest_snapshot
    runs = sorted(glob.glob(os.path.join(result_dir, '[0-9]*-' + desc)), reverse=True)
    for run in runs:
        snapshot = find_latest_snapshot(run)
        if snapshot is not None:
            return snapshot
    raise FileNotFoundError(f'--resume=latest: no complete snapshot of a run "*-{desc}" in {result_dir}.')


def _parse_comma_sep(s):
    if s is None or s.lower() == 'none' or s == '':
        return []
    return s.split(',')


_examples = '''examples:

  # Train StyleGAN2 on FFHQ at 1024x1024 with 8 GPUs
  python %(prog)s --num-gpus=8 --data-dir=~/datasets --config=config-f --dataset=ffhq --mirror-augment=true

  # Train on your own dataset (made with dataset_tool.py) with 1 GPU, or on the CPU
  python %(prog)s --data-dir=datasets --dataset=mydata --config=config-e --total-kimg=1000 --metrics=none

  # StyleGAN's FFHQ setup and ProGAN's CelebA-HQ setup, as in their papers
  python %(prog)s --num-gpus=8 --data-dir=~/datasets --config=sgan --dataset=ffhq --mirror-augment=true
  python %(prog)s --num-gpus=1 --data-dir=~/datasets --config=pgan-preset-v2 --dataset=celebahq --mirror-augment=true

  # Continue the newest run of the same description from its last snapshot
  python %(prog)s --data-dir=datasets --dataset=mydata --config=config-e --resume=latest --metrics=none

valid configs:

  ''' + ', '.join(configs.VALID_CONFIGS[:configs.VALID_CONFIGS.index('sgan')]) + '''
    StyleGAN2's configs (its paper's Table 1 and 2; config-a trains the StyleGAN networks in StyleGAN2's loop).
  sgan
    The StyleGAN paper's setup (StyleGAN's train.py, e.g. its FFHQ run "sgan-ffhq-8gpu"): G_style/D_basic, growing
    from 8x8, non-saturating logistic loss with R1 (gamma 10), minibatches and learning rates by --num-gpus.
  ''' + ', '.join('sgan-' + name for name in configs.SGAN_EXPERIMENTS) + '''
    The StyleGAN paper's experiments on that setup (its train.py's suffixes): Table 1 (tuned-baseline ...
    mixing-regularization), Table 2 (mix*), Table 4 (traditional-*, stylebased-*), and WGAN-GP (wgangp).
  pgan-preset-v2
    ProGAN's CelebA-HQ setup (its config.py, "pgan-celebahq-preset-v2-1gpu-fp32"): G_paper/D_paper, growing from
    4x4, WGAN-GP with the drift term (and AC-GAN terms with labels), minibatches and learning rates by --num-gpus,
    12000 kimg.

Several machines: start the same command on each with TF_CONFIG set (tf.distribute.MultiWorkerMirroredStrategy),
e.g. TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'.
'''


def main(argv=None):
    parser = dnnlib.util.ArgumentParser(description='Train StyleGAN2, StyleGAN or ProGAN.', epilog=_examples,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--result-dir', help='Root directory for run results (default: %(default)s)', default='results', metavar='DIR')
    parser.add_argument('--data-dir', help='Dataset root directory', required=True)
    parser.add_argument('--dataset', help='Training dataset (a folder of <name>-rNN.tfrecords under --data-dir)', required=True)
    parser.add_argument('--config', help='Training config (default: %(default)s)', default='config-f', dest='config_id', metavar='CONFIG')
    parser.add_argument('--num-gpus', help='Number of GPUs, or of CPU replicas without GPUs (default: %(default)s)', default=1, type=int,
                        metavar='N')
    parser.add_argument('--total-kimg', help='Training length in thousands of images (default: 25000; 12000 for pgan-preset-v2)',
                        metavar='KIMG', default=None, type=int)
    parser.add_argument('--gamma', help='R1 regularization weight (default is config dependent)', default=None, type=float)
    parser.add_argument('--mirror-augment', help='Mirror augment (default: %(default)s)', default=False, metavar='BOOL',
                        type=dnnlib.util.parse_bool)
    parser.add_argument('--metrics', help='Comma-separated list of metrics or "none", evaluated at every network snapshot '
                        '(default: %(default)s); see run_metrics.py --help', default='none', type=_parse_comma_sep)
    parser.add_argument('--metric-data', help='Folder with the metrics\' feature network files (default: '
                        '$STYLEGAN2_METRIC_DATA or the cache directory)', default=None, metavar='DIR')
    parser.add_argument('--resume', help='Snapshot .pkl to continue from, or "latest"', default=None)
    parser.add_argument('--snapshot-ticks', help='Ticks between image and network snapshots (default: %(default)s)', default=10, type=int)
    parser.add_argument('--minibatch', help='Global minibatch size (default: config dependent)', default=None, type=int)
    parser.add_argument('--minibatch-gpu', help='Images per GPU and round (default: config dependent)', default=None, type=int)
    parser.add_argument('--seed', help='Random seed (default: %(default)s)', default=1000, type=int)
    parser.add_argument('--fmap-base', help='Network width multiplier (default: config dependent)', default=None, type=int)
    parser.add_argument('--fmap-max', help='Most feature maps in any layer, e.g. 64 for a CPU (default: 512)', default=None, type=int)
    args = parser.parse_args(argv)

    data_dir = os.path.expanduser(args.data_dir)
    tfrecord_dir = os.path.join(data_dir, args.dataset)
    if not os.path.isdir(tfrecord_dir) or not glob.glob(os.path.join(tfrecord_dir, '*.tfrecords')):
        dnnlib.util.exit_with_error(f'--dataset: dataset root directory does not exist or holds no *.tfrecords: '
                                    f'{tfrecord_dir}. Make one with dataset_tool.py (e.g. python dataset_tool.py '
                                    f'create_from_images {tfrecord_dir} IMAGE_DIR).')
    try:
        kwargs = build_run_kwargs(args.dataset, data_dir, args.result_dir, args.config_id, args.num_gpus, args.total_kimg,
                                  args.gamma, args.mirror_augment, args.metrics, resume=args.resume,
                                  snapshot_ticks=args.snapshot_ticks, minibatch=args.minibatch,
                                  minibatch_gpu=args.minibatch_gpu, seed=args.seed, fmap_base=args.fmap_base,
                                  fmap_max=args.fmap_max, metric_data=args.metric_data)
    except (ValueError, FileNotFoundError) as err:
        dnnlib.util.exit_with_error(str(err))

    # Logical CPU devices for --num-gpus on a machine without GPUs: must happen before TensorFlow starts.
    from training.cluster import is_chief_worker, split_cpu
    split_cpu(args.num_gpus)
    try:
        chief = is_chief_worker()
    except ValueError as err:
        dnnlib.util.exit_with_error(str(err))
    try:
        if chief:
            dnnlib.submit_run(**kwargs)
        else:
            # The other workers of a multi-worker run write nothing under --result-dir: their log and the checkpoints
            # that TensorFlow has every worker write go to a temporary run dir, removed at the end.
            with tempfile.TemporaryDirectory(prefix='stylegan2-worker-') as tmp:
                kwargs.submit_config.run_dir_root = tmp
                dnnlib.submit_run(**kwargs)
    except SystemExit as stop:  # PREEMPTED_EXIT_CODE after a SIGTERM, with the snapshot written.
        if 'TF_CONFIG' in os.environ:
            exit_now(stop.code)
        raise
    except Exception as err:
        from training.cluster import lost_peer
        peer = lost_peer(err)
        if peer is None:
            raise
        print(f'Error: lost {peer} of the multi-worker run ({type(err).__name__}); the last complete snapshot is '
              f'kept: restart every worker with --resume latest.', file=sys.stderr)
        exit_now(1)
    if 'TF_CONFIG' in os.environ:
        exit_now(0)


def exit_now(code):
    """End a multi-worker process at once, its files written and closed: TensorFlow's teardown waits for peers that
    are gone or leaving (10-35 s measured on one machine, at the end of a run too), which would eat into the time a
    preemption notice leaves."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == '__main__':
    main()
