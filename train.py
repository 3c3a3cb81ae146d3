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
import re
import tempfile

import dnnlib
from dnnlib import EasyDict

_valid_configs = [
    'config-a', 'config-b', 'config-c', 'config-d', 'config-e', 'config-f',
    'config-e-Gorig-Dorig', 'config-e-Gorig-Dresnet', 'config-e-Gorig-Dskip',
    'config-e-Gresnet-Dorig', 'config-e-Gresnet-Dresnet', 'config-e-Gresnet-Dskip',
    'config-e-Gskip-Dorig', 'config-e-Gskip-Dresnet', 'config-e-Gskip-Dskip',
    'sgan', 'pgan-preset-v2',
]

# The StyleGAN paper's experiments, as StyleGAN's train.py selects them (its description suffixes): Table 1 (the
# steps from the tuned ProGAN baseline to the style-based generator), Table 2 (mixing regularization), Table 4
# (mapping depth), and WGAN-GP. --config sgan-<name>; plain sgan is the shipped setup (Table 1's last step).
_TRADITIONAL = dict(use_styles=False, use_pixel_norm=True, use_instance_norm=False, truncation_psi=None,
                    const_input_layer=False, style_mixing_prob=0.0, use_noise=False)
_SGAN_EXPERIMENTS = {
    'tuned-baseline': dict(_TRADITIONAL, mapping_layers=0),
    'add-mapping-and-styles': dict(const_input_layer=False, style_mixing_prob=0.0, use_noise=False),
    'remove-traditional-input': dict(style_mixing_prob=0.0, use_noise=False),
    'add-noise-inputs': dict(style_mixing_prob=0.0),
    'mixing-regularization': {},
    'mix0': dict(style_mixing_prob=0.0), 'mix50': dict(style_mixing_prob=0.5),
    'mix90': dict(style_mixing_prob=0.9), 'mix100': dict(style_mixing_prob=1.0),
    'traditional-0': dict(_TRADITIONAL, mapping_layers=0), 'traditional-8': dict(_TRADITIONAL, mapping_layers=8),
    'stylebased-0': dict(mapping_layers=0), 'stylebased-1': dict(mapping_layers=1),
    'stylebased-2': dict(mapping_layers=2), 'stylebased-8': dict(mapping_layers=8),
    'wgangp': {},
}
_valid_configs += ['sgan-' + name for name in _SGAN_EXPERIMENTS]

# Minibatch size by resolution for 1, 2, 4 and 8 GPUs (base size, resolution-specific sizes): StyleGAN's train.py
# and ProGAN's v2 presets. ProGAN's v2 presets also set the learning rates.
_ORIGINAL_MINIBATCHES = {
    1: (4, {4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4}),
    2: (8, {4: 256, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8}),
    4: (16, {4: 512, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16}),
    8: (32, {4: 512, 8: 256, 16: 128, 32: 64, 64: 32}),
}
_PROGAN_V2_LRATES = {1: {1024: 0.0015}, 2: {512: 0.0015, 1024: 0.002}, 4: {256: 0.0015, 512: 0.002, 1024: 0.003},
                     8: {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}}
_PROGAN_FP32_MAX_MINIBATCH_PER_GPU = {256: 16, 512: 8, 1024: 4}
_STYLEGAN_LRATES = {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}


def original_minibatches(num_gpus, max_minibatch_per_gpu={}):
    """(minibatch_size_dict, minibatch_gpu_dict) at 4x4...1024x1024 of StyleGAN's and ProGAN's tables: the minibatch
    split evenly among the GPUs, in one round, capped per GPU where asked (ProGAN's fp32 presets)."""
    base, table = _ORIGINAL_MINIBATCHES[num_gpus]
    sizes = {}
    for res in (2 ** r for r in range(2, 11)):
        size = table.get(res, base)
        sizes[res] = min(size - size % num_gpus, max_minibatch_per_gpu.get(res, size) * num_gpus)
    return sizes, {res: size // num_gpus for res, size in sizes.items()}


def build_run_kwargs(dataset, data_dir, result_dir, config_id, num_gpus, total_kimg, gamma, mirror_augment, metrics,
                     resume=None, snapshot_ticks=10, minibatch=None, minibatch_gpu=None, seed=1000, fmap_base=None,
                     fmap_max=None, metric_data=None):
    """The training_loop() arguments and SubmitConfig of a run: NVIDIA's config table plus our overrides."""
    train = EasyDict(run_func_name='training.training_loop.training_loop')
    G = EasyDict(func_name='training.networks_stylegan2.G_main')
    D = EasyDict(func_name='training.networks_stylegan2.D_stylegan2')
    G_opt = EasyDict(beta1=0.0, beta2=0.99, epsilon=1e-8)
    D_opt = EasyDict(beta1=0.0, beta2=0.99, epsilon=1e-8)
    G_loss = EasyDict(func_name='training.loss.G_logistic_ns_pathreg')
    D_loss = EasyDict(func_name='training.loss.D_logistic_r1')
    sched = EasyDict()
    grid = EasyDict(size='8k', layout='random')
    sc = dnnlib.SubmitConfig()
    tf_config = {'rnd.np_random_seed': seed}

    train.data_dir = data_dir
    train.mirror_augment = mirror_augment
    train.image_snapshot_ticks = train.network_snapshot_ticks = snapshot_ticks
    train.random_seed = seed
    sched.G_lrate_base = 0.002
    sched.minibatch_size_base = 32
    sched.minibatch_gpu_base = 4
    D_loss.gamma = 10
    if metrics:
        check_metrics(metrics, metric_data)
        train.metrics_callback = functools.partial(run_snapshot_metrics, metrics=list(metrics), data_dir=data_dir,
                                                   dataset_args=EasyDict(tfrecord_dir=dataset), mirror_augment=mirror_augment,
                                                   num_gpus=num_gpus, metric_data=metric_data)

    if num_gpus not in (1, 2, 4, 8):
        raise ValueError(f'--num-gpus must be 1, 2, 4 or 8, got {num_gpus}.')
    if config_id not in _valid_configs:
        raise ValueError(f'--config must be one of {", ".join(_valid_configs)}, got {config_id!r}.')
    desc = f'stylegan2-{dataset}-{num_gpus}gpu-{config_id}'
    sc.num_gpus = num_gpus
    train.total_kimg = total_kimg if total_kimg is not None else (12000 if config_id == 'pgan-preset-v2' else 25000)

    # Configs A-E: the smaller networks of the original StyleGAN.
    if config_id != 'config-f':
        G.fmap_base = D.fmap_base = 8 << 10
    # Config E: gamma 100, and the architectures of Table 2 when named.
    if config_id.startswith('config-e'):
        D_loss.gamma = 100
        match = re.fullmatch(r'config-e-G(\w+)-D(\w+)', config_id)
        if match:
            G.architecture, D.architecture = match.group(1), match.group(2)
    # Configs A-D: progressive growing.
    if config_id in ('config-a', 'config-b', 'config-c', 'config-d'):
        sched.lod_initial_resolution = 8
        sched.G_lrate_base = 0.001
        sched.G_lrate_dict = {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}
        sched.minibatch_size_dict = {8: 256, 16: 128, 32: 64, 64: 32}
        sched.minibatch_gpu_dict = {8: 32, 16: 16, 32: 8, 64: 4}
        G.synthesis_func = 'G_synthesis_stylegan_revised'
        D.func_name = 'training.networks_stylegan2.D_stylegan'
    # Configs A-C: no path length regularization; A-B: no lazy regularization.
    if config_id in ('config-a', 'config-b', 'config-c'):
        G_loss = EasyDict(func_name='training.loss.G_logistic_ns')
    if config_id in ('config-a', 'config-b'):
        train.lazy_regularization = False
    if config_id == 'config-a':
        G = EasyDict(func_name='training.networks_stylegan.G_style')
        D = EasyDict(func_name='training.networks_stylegan.D_basic')

    # The originals' own setups: the StyleGAN paper's (StyleGAN's train.py) and ProGAN's v2 presets (its config.py).
    if config_id.startswith('sgan') or config_id == 'pgan-preset-v2':
        G_loss, D_loss, G, D, desc = _original_setup(config_id, dataset, num_gpus, train, sched, grid, gamma)
    elif gamma is not None:
        D_loss.gamma = gamma
    if fmap_base is not None:
        G.fmap_base = D.fmap_base = fmap_base
    if fmap_max is not None:
        G.fmap_max = D.fmap_max = fmap_max
    if minibatch is not None:
        sched.minibatch_size_base = minibatch
        sched.minibatch_size_dict = {}
    if minibatch_gpu is not None:
        sched.minibatch_gpu_base = minibatch_gpu
        sched.minibatch_gpu_dict = {}
    from training.cluster import check_minibatch_split
    check_minibatch_split(sched.minibatch_size_base, sched.minibatch_gpu_base, num_gpus)  # The trainer checks each level's.
    if resume is not None:
        train.resume_pkl = resolve_resume(resume, result_dir, desc)

    sc.run_dir_root = result_dir
    sc.run_desc = desc
    kwargs = EasyDict(train)
    kwargs.update(G_args=G, D_args=D, G_opt_args=G_opt, D_opt_args=D_opt, G_loss_args=G_loss, D_loss_args=D_loss)
    kwargs.update(dataset_args=EasyDict(tfrecord_dir=dataset), sched_args=sched, grid_args=grid, tf_config=tf_config,
                  num_gpus=num_gpus)
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


def _original_setup(config_id, dataset, num_gpus, train, sched, grid, gamma):
    """Losses, networks and run description of the StyleGAN and ProGAN setups; fills in train, sched and grid."""
    train.lazy_regularization = False
    train.D_first = True  # Their loops: D step and Gs update, then the G step.
    sched.tick_kimg_base = 160
    sched.G_lrate_base = 0.001
    if config_id.startswith('sgan'):
        experiment = config_id[len('sgan-'):]
        G = EasyDict(func_name='training.networks_stylegan.G_style', **_SGAN_EXPERIMENTS.get(experiment, {}))
        D = EasyDict(func_name='training.networks_stylegan.D_basic')
        G_loss = EasyDict(func_name='training.loss.G_logistic_nonsaturating')
        D_loss = EasyDict(func_name='training.loss.D_logistic_simplegp', r1_gamma=10.0 if gamma is None else gamma)
        sched.lod_initial_resolution = 8
        sched.G_lrate_dict = dict(_STYLEGAN_LRATES)
        if experiment == 'wgangp':  # As StyleGAN's train.py: WGAN-GP with learning rates capped at 0.002.
            if gamma is not None:
                raise ValueError('--gamma is the R1 weight; sgan-wgangp trains with WGAN-GP and has no R1.')
            G_loss = EasyDict(func_name='training.loss.G_wgan')
            D_loss = EasyDict(func_name='training.loss.D_wgan_gp')
            sched.G_lrate_dict = {res: min(rate, 0.002) for res, rate in _STYLEGAN_LRATES.items()}
        sched.minibatch_size_dict, sched.minibatch_gpu_dict = original_minibatches(num_gpus)
        sched.tick_kimg_dict = {4: 160, 8: 140, 16: 120, 32: 100, 64: 80, 128: 60, 256: 40, 512: 30, 1024: 20}
        grid.size = '4k'
        return G_loss, D_loss, G, D, f'sgan-{dataset}-{num_gpus}gpu' + (f'-{experiment}' if experiment else '')
    if gamma is not None:
        raise ValueError('--gamma is the R1 weight; the ProGAN preset trains with WGAN-GP and has no R1.')
    G = EasyDict(func_name='training.networks_progan.G_paper')
    D = EasyDict(func_name='training.networks_progan.D_paper')
    G_loss = EasyDict(func_name='training.loss.G_wgan_acgan')
    D_loss = EasyDict(func_name='training.loss.D_wgangp_acgan')
    train.G_smoothing = 0.999
    sched.lod_initial_resolution = 4
    sched.G_lrate_dict = dict(_PROGAN_V2_LRATES[num_gpus])
    sched.minibatch_size_dict, sched.minibatch_gpu_dict = original_minibatches(num_gpus, _PROGAN_FP32_MAX_MINIBATCH_PER_GPU)
    sched.tick_kimg_dict = {4: 160, 8: 140, 16: 120, 32: 100, 64: 80, 128: 60, 256: 40, 512: 20, 1024: 10}
    grid.size = '1080p'
    return G_loss, D_loss, G, D, f'pgan-{dataset}-preset-v2-{num_gpus}gpu{"s" if num_gpus > 1 else ""}-fp32'


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

  ''' + ', '.join(_valid_configs[:_valid_configs.index('sgan')]) + '''
    StyleGAN2's configs (its paper's Table 1 and 2; config-a trains the StyleGAN networks in StyleGAN2's loop).
  sgan
    The StyleGAN paper's setup (StyleGAN's train.py, e.g. its FFHQ run "sgan-ffhq-8gpu"): G_style/D_basic, growing
    from 8x8, non-saturating logistic loss with R1 (gamma 10), minibatches and learning rates by --num-gpus.
  ''' + ', '.join('sgan-' + name for name in _SGAN_EXPERIMENTS) + '''
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
    if chief:
        dnnlib.submit_run(**kwargs)
        return
    # The other workers of a multi-worker run write nothing under --result-dir: their log and the checkpoints that
    # TensorFlow has every worker write go to a temporary run dir, removed at the end.
    with tempfile.TemporaryDirectory(prefix='stylegan2-worker-') as tmp:
        kwargs.submit_config.run_dir_root = tmp
        dnnlib.submit_run(**kwargs)


if __name__ == '__main__':
    main()
