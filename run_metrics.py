"""Evaluate metrics of a network pickle against a dataset (NVIDIA's run_metrics.py, TF2; run with --help).

Writes results/<ID>-run-metrics/ with log.txt and metric-<name>.txt, one line per metric in the original's format.
Feature networks come from local files (--metric-data); nothing is downloaded.
"""

import argparse
import os

import dnnlib
import dnnlib.tflib as tflib
import pretrained_networks
from metrics import metric_base
from metrics.metric_defaults import metric_defaults


def run(network_pkl, metrics, dataset, data_dir, mirror_augment, metric_data=None):
    print('Evaluating metrics "%s" for "%s"...' % (','.join(metrics), network_pkl))
    tflib.init_tf()
    if metric_data is not None:
        metric_base.set_metric_data_dir(metric_data)
    network_pkl = pretrained_networks.get_path_or_url(network_pkl)
    dataset_args = dnnlib.EasyDict(tfrecord_dir=dataset)
    metric_group = metric_base.MetricGroup([metric_defaults[metric] for metric in metrics])
    metric_group.run(network_pkl, run_dir=dnnlib.make_run_dir_path(), data_dir=data_dir, dataset_args=dataset_args,
                     mirror_augment=mirror_augment, num_gpus=dnnlib.submit_config.num_gpus)


def _parse_metrics(s):
    names = [name for name in s.split(',') if name]
    unknown = [name for name in names if name not in metric_defaults]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f'unknown metric(s) {", ".join(unknown) or "(none given)"}; '
                                         f'valid: {", ".join(metric_defaults)}')
    return names


_examples = '''examples:

  python %(prog)s --data-dir=~/datasets --network=stylegan2-ffhq-config-f.pkl --metrics=fid50k,ppl_wend --dataset=ffhq --mirror-augment=true

valid metrics:

  ''' + ', '.join(metric_defaults) + '''

Files the metrics need (in the --metric-data folder, or $''' + metric_base.METRIC_DATA_ENV + '''; see the README):
  fid50k, fid50k_full, kid50k_full, is50k: classify_image_graph_def.pb (from inception-2015-12-05.tgz)
  ppl_*: net-lin_vgg_v0.1.pb (LPIPS, VGG16)
  pr50k3, pr50k3_full: vgg16_weights_tf_dim_ordering_tf_kernels.h5 (Keras' VGG16 ImageNet weights)
  ls: celebahq-classifier-00-male.pkl ... celebahq-classifier-39-wearing-necktie.pkl (NVIDIA's 40 CelebA-HQ
      attribute classifiers)
  swd16k, swd1k, msssim20k: none
'''


def main(argv=None):
    parser = dnnlib.util.ArgumentParser(description='Run StyleGAN2, StyleGAN and ProGAN metrics.', epilog=_examples,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--result-dir', help='Root directory for run results (default: %(default)s)', default='results', metavar='DIR')
    parser.add_argument('--network', help='Network pickle filename', dest='network_pkl', required=True)
    parser.add_argument('--metrics', help='Metrics to compute (default: %(default)s)', default='fid50k', type=_parse_metrics)
    parser.add_argument('--dataset', help='Training dataset', required=True)
    parser.add_argument('--data-dir', help='Dataset root directory', required=True)
    parser.add_argument('--mirror-augment', help='Mirror augment (default: %(default)s)', default=False, type=dnnlib.util.parse_bool,
                        metavar='BOOL')
    parser.add_argument('--num-gpus', help='Number of GPUs to use', type=int, default=1, metavar='N')
    parser.add_argument('--metric-data', help=f'Folder with the feature network files (default: ${metric_base.METRIC_DATA_ENV} '
                        f'or the cache directory)', default=None, metavar='DIR')
    args = parser.parse_args(argv)

    if not os.path.isdir(os.path.join(os.path.expanduser(args.data_dir), args.dataset)):
        dnnlib.util.exit_with_error(f'--dataset: dataset directory does not exist: {os.path.join(args.data_dir, args.dataset)}')
    if args.metric_data is not None:
        metric_base.set_metric_data_dir(args.metric_data)
    try:  # A missing or unusable feature network file stops here, before a run directory is made.
        metric_base.MetricGroup([metric_defaults[name] for name in args.metrics]).check_files()
    except (FileNotFoundError, ValueError) as err:
        dnnlib.util.exit_with_error(str(err))
    pretrained_networks.load_snapshot_or_exit(args.network_pkl)
    kwargs = vars(args)
    kwargs['data_dir'] = os.path.expanduser(kwargs['data_dir'])
    sc = dnnlib.SubmitConfig()
    sc.num_gpus = kwargs.pop('num_gpus')
    sc.run_dir_root = kwargs.pop('result_dir')
    sc.run_desc = 'run-metrics'
    dnnlib.submit_run(sc, 'run_metrics.run', **kwargs)


if __name__ == '__main__':
    main()
