"""run_metrics.py and train.py --metrics: the original's result lines in metric-<name>.txt, clear errors for
missing feature network files, nothing downloaded."""

import os
import re

import pytest

import dnnlib
import run_metrics
import train
from metrics import metric_base
from small_networks import make_networks
from tfrecords_for_tests import color_squares, write_dataset
from training import misc

# 'network-snapshot-000000' padded to 30 characters, ' time ' and a duration, then 'swd1k_<res> <value>' per level
# of the 16x16 images (one: 16) and 'swd1k_avg <value>': the original's line.
SWD_LINE = re.compile(r'^network-snapshot-000000 {7} time \S+( \S+)?\s+ swd1k_16 [\d.]+\s+swd1k_avg [\d.]+\s*$')


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp('metrics')
    write_dataset(str(root / 'datasets' / 'squares'), color_squares(40, 16))
    pkl = str(root / 'network-snapshot-000000.pkl')
    misc.save_pkl(make_networks(), pkl)
    return root, pkl


@pytest.fixture(autouse=True)
def private_cache(tmp_path):
    dnnlib.util.set_cache_dir(str(tmp_path / 'cache'))
    yield
    dnnlib.util.set_cache_dir(None)
    metric_base.set_metric_data_dir(None)


def test_run_metrics_writes_the_original_result_line(data, tmp_path):
    root, pkl = data
    results = tmp_path / 'results'
    run_metrics.main(['--network', pkl, '--metrics', 'swd1k', '--dataset', 'squares', '--data-dir', str(root / 'datasets'),
                      '--result-dir', str(results)])
    lines = (results / '00000-run-metrics' / 'metric-swd1k.txt').read_text().splitlines()
    assert len(lines) == 1 and SWD_LINE.match(lines[0]), lines
    assert lines[0] in (results / '00000-run-metrics' / 'log.txt').read_text()


def test_missing_feature_file_names_it_and_where_to_get_it(data, tmp_path, capsys):
    root, pkl = data
    for metric, filename, where in (('fid50k', 'classify_image_graph_def.pb', 'inception-2015-12-05.tgz'),
                                    ('kid50k_full', 'classify_image_graph_def.pb', 'inception-2015-12-05.tgz'),
                                    ('ppl_wend', 'net-lin_vgg_v0.1.pb', 'http'),
                                    ('pr50k3', 'vgg16_weights_tf_dim_ordering_tf_kernels.h5', 'http'),
                                    ('pr50k3_full', 'vgg16_weights_tf_dim_ordering_tf_kernels.h5', 'http'),
                                    ('ls', 'celebahq-classifier-39-wearing-necktie.pkl',
                                     'https://nvlabs-fi-cdn.nvidia.com/stylegan/networks/metrics/')):
        with pytest.raises(SystemExit):
            run_metrics.main(['--network', pkl, '--metrics', metric, '--dataset', 'squares', '--data-dir',
                              str(root / 'datasets'), '--result-dir', str(tmp_path / 'r'), '--metric-data', str(tmp_path / 'empty')])
        out = capsys.readouterr().err
        assert filename in out and metric in out and where in out and '--metric-data' in out
    assert not (tmp_path / 'r').exists()  # Stopped before a run directory was made.
    assert not (tmp_path / 'cache').exists()  # Nothing downloaded or cached.


def test_train_evaluates_metrics_at_every_network_snapshot(data, tmp_path):
    root, _ = data
    kwargs = train.build_run_kwargs('squares', str(root / 'datasets'), str(tmp_path / 'results'), 'config-e', 1,
                                    total_kimg=0.024, gamma=None, mirror_augment=False, metrics=['swd1k'], snapshot_ticks=1,
                                    minibatch=8, minibatch_gpu=8, fmap_base=64, fmap_max=16)
    kwargs.sched_args.update(tick_kimg_base=0.016, tick_kimg_dict={})
    kwargs.minibatch_repeats = 1
    dnnlib.submit_run(**kwargs)
    run_dir = tmp_path / 'results' / '00000-stylegan2-squares-1gpu-config-e'
    snapshots = sorted(f for f in os.listdir(run_dir) if f.startswith('network-snapshot-') and f.endswith('.pkl'))
    lines = (run_dir / 'metric-swd1k.txt').read_text().splitlines()
    # Ticks at 8 and 24 images: two network snapshots (both named 000000 below 1 kimg), a line each.
    assert len(lines) == 2 and snapshots == ['network-snapshot-000000.pkl']
    assert all(SWD_LINE.match(line) for line in lines), lines
    from test_training_loop import _tensorboard_scalars
    scalars = _tensorboard_scalars(str(run_dir))
    values = [float(line.split('swd1k_avg')[1]) for line in lines]
    assert [scalars[('Metrics/swd1k_avg', step)] for step in (8, 24)] == pytest.approx(values, abs=1e-4)


def test_unknown_metric_stops_train_before_it_starts(data, tmp_path):
    root, _ = data
    with pytest.raises(ValueError, match='unknown metric\\(s\\) fid1k'):
        train.build_run_kwargs('squares', str(root / 'datasets'), str(tmp_path), 'config-e', 1, total_kimg=1, gamma=None,
                               mirror_augment=False, metrics=['fid1k'])
    with pytest.raises(FileNotFoundError, match='classify_image_graph_def.pb'):
        train.build_run_kwargs('squares', str(root / 'datasets'), str(tmp_path), 'config-e', 1, total_kimg=1, gamma=None,
                               mirror_augment=False, metrics=['fid50k'], metric_data=str(tmp_path / 'empty'))
    assert not any(name.startswith('0') for name in os.listdir(tmp_path))  # No run directory.
