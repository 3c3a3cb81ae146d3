"""Every script on a user's mistake: exit status 1 (2 for argparse's usage errors), one 'Error:' line that names the
file or flag, no traceback, and no run directory made. Each script's first case runs it as a subprocess, as a user
runs it; the other cases call its main() in the test process (a TensorFlow start-up each would cost minutes), where
an exception instead of the Error line fails the test as a traceback would."""

import importlib
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from metrics import metric_base
from small_networks import make_family_networks, make_networks
from training import misc

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """Pickles of each kind a user may pass, an LPIPS stand-in (only its presence is checked before a run), image
    folders and a dataset-less data dir."""
    root = tmp_path_factory.mktemp('inputs')
    misc.save_pkl(make_networks(), str(root / 'stylegan2.pkl'))
    misc.save_pkl(make_family_networks('progan'), str(root / 'progan.pkl'))
    misc.save_pkl(make_networks()[0], str(root / 'single.pkl'))
    with open(root / 'dict.pkl', 'wb') as f:
        pickle.dump({'a': 1}, f)
    with open(root / 'evil.pkl', 'wb') as f:  # Names os.system: refused before anything is imported.
        pickle.dump((os.system, ('true',)), f)
    (root / 'text.pkl').write_text('# not a pickle\n')
    (root / 'metric-data').mkdir()
    (root / 'metric-data' / 'net-lin_vgg_v0.1.pb').write_bytes(b'')
    (root / 'empty').mkdir()
    (root / 'broken').mkdir()
    (root / 'broken' / 'photo.png').write_bytes(b'not a png')
    (root / 'datasets').mkdir()
    np.savez(root / 'not-a-projection.npz', dlatents=np.zeros([1, 3, 16], np.float32))
    (root / 'results' / '00004-not-a-run').mkdir(parents=True)
    return root


def run_script(cwd, script, *args):
    """Run a script; (exit status, stdout + stderr). Its results go to cwd/results."""
    proc = subprocess.run([sys.executable, os.path.join(REPO, script), *map(str, args)], cwd=cwd, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
    return proc.returncode, proc.stdout


def run_main(script, args, capsys):
    """Call the script's main() here; (exit status, stdout + stderr)."""
    try:
        importlib.import_module(script[:-len('.py')]).main([str(arg) for arg in args])
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    finally:
        metric_base.set_metric_data_dir(None)  # --metric-data sets it for the process.
    out = capsys.readouterr()
    return code, out.out + out.err


def check_errors(tmp_path, script, cases, capsys, monkeypatch):
    """cases: (arguments, expected exit status, text the Error line must contain)."""
    monkeypatch.chdir(tmp_path)
    for index, (args, status, message) in enumerate(cases):
        code, output = run_script(tmp_path, script, *args) if index == 0 else run_main(script, args, capsys)
        error_lines = [line for line in output.splitlines() if line.startswith('Error: ')]
        assert code == status and len(error_lines) == 1 and message in error_lines[0], (args, code, output[-2000:])
        assert 'Traceback' not in output, (args, output[-2000:])
        assert not os.path.exists(tmp_path / 'results') or not os.listdir(tmp_path / 'results'), args


def test_run_generator_errors(files, tmp_path, capsys, monkeypatch):
    gen = ['generate-images', '--seeds', '1', '--network']
    mix = ['style-mixing-example', '--row-seeds', '1', '--col-seeds', '2', '--network']
    check_errors(tmp_path, 'run_generator.py', capsys=capsys, monkeypatch=monkeypatch, cases=[
        (gen + [files / 'missing.pkl'], 1, f'--network {files / "missing.pkl"}: no such file'),
        (gen + [files], 1, f'--network {files}: a directory'),
        (gen + [files / 'text.pkl'], 1, f'--network {files / "text.pkl"}: not a network pickle'),
        (gen + [files / 'evil.pkl'], 1, 'Refusing to load "posix.system"' if os.name == 'posix' else 'Refusing to load'),
        (gen + [files / 'dict.pkl'], 1, 'holds a dict; expected a snapshot (G, D, Gs)'),
        (gen + [files / 'single.pkl'], 1, "holds a single network (G_main, named 'G')"),
        (mix + [files / 'progan.pkl'], 1, 'style-mixing-example needs a style-based generator'),
        (mix + [files / 'stylegan2.pkl', '--col-styles', '0-6'], 1, '--col-styles: this network has styles 0-5, got [6]'),
        (['generate-images', '--network', files / 'stylegan2.pkl', '--seeds', '9-2'], 2, "argument --seeds: the range '9-2'"),
        (['generate-images', '--network', files / 'stylegan2.pkl', '--seeds', 'x'], 2, 'argument --seeds: expected numbers'),
        (['generate-images', '--seeds', '1'], 2, 'the following arguments are required: --network'),
        ([], 1, 'missing subcommand'),
    ])


def test_run_generator_video_and_projection_errors(files, tmp_path, capsys, monkeypatch):
    sg2 = ['--network', files / 'stylegan2.pkl']
    video = ['interpolation-video', '--network', files / 'stylegan2.pkl']
    check_errors(tmp_path, 'run_generator.py', capsys=capsys, monkeypatch=monkeypatch, cases=[
        (['generate-images'] + sg2 + ['--dlatents', files / 'nothing.npz'], 1, f'--dlatents: no such file: {files / "nothing.npz"}'),
        (['generate-images'] + sg2 + ['--dlatents', files / 'not-a-projection.npz'], 1,
         "not-a-projection.npz: holds ['dlatents']; a projection for this network holds ['dlatents', 'noise0'"),
        (['generate-images'] + sg2 + ['--dlatents', files / 'dict.pkl'], 1, 'dict.pkl: not a projection file (.npz)'),
        (['generate-images'] + sg2, 1, 'give either --seeds or --dlatents'),
        (['generate-images', '--network', files / 'progan.pkl', '--dlatents', files / 'nothing.npz'], 1,
         'generate-images with --dlatents needs a style-based generator'),
        (['style-mixing-example'] + sg2 + ['--row-seeds', '1', '--col-seeds', '2', '--col-dlatents', files / 'x.npz'], 1,
         'give either --col-seeds or --col-dlatents'),
        (video + ['--walk', 'slerp-z', '--seeds', '1'], 1, '--walk slerp-z goes through --seeds: give at least two'),
        (video + ['--seeds', '1,2'], 1, '--seeds: only for --walk slerp-z or lerp-w'),
        (video + ['--walk', 'lerp-w', '--seeds', '1,2', '--grid-size', '2x2'], 1, '--grid-size: a walk through seeds'),
        (video + ['--grid-size', '2by2'], 2, "argument --grid-size: expected a grid size like '4x3'"),
        (video + ['--duration-sec', '0'], 1, '--duration-sec must be positive, got 0.0'),
        (video + ['--image-shrink', '3'], 1, '--image-shrink must divide the image size 16, got 3'),
        (['interpolation-video', '--network', files / 'progan.pkl', '--walk', 'lerp-w', '--seeds', '1,2'], 1,
         'interpolation-video --walk lerp-w needs a style-based generator'),
        (['generate-fake-images'] + sg2 + ['--num-pngs', '0'], 1, '--num-pngs must be at least 1, got 0'),
        (['training-video', '--result-dir', files / 'results', '--run-id', '3'], 1,
         f'--run-id 3: no run directories 00003-* in {files / "results"}'),
        (['training-video', '--run-dir', files / 'results' / '00004-not-a-run'], 1, 'no log.txt there; expected a training run'),
        (['training-video'], 1, 'give either --run-dir or --run-id'),
    ])


def test_pretrained_example_errors(files, tmp_path, capsys, monkeypatch):
    check_errors(tmp_path, 'pretrained_example.py', capsys=capsys, monkeypatch=monkeypatch, cases=[
        ([files / 'missing.pkl'], 1, f'NETWORK_PKL {files / "missing.pkl"}: no such file'),
        ([files / 'text.pkl'], 1, 'not a network pickle'),
        ([files / 'single.pkl'], 1, 'expected a snapshot (G, D, Gs)'),
    ])
    assert not os.path.exists(tmp_path / 'results' / 'example.png')


def test_run_projector_errors(files, tmp_path, capsys, monkeypatch):
    real = ['project-real-images', '--metric-data', files / 'metric-data', '--network', files / 'stylegan2.pkl']
    check_errors(tmp_path, 'run_projector.py', capsys=capsys, monkeypatch=monkeypatch, cases=[
        (['project-generated-images', '--network', files / 'missing.pkl'], 1, 'no such file'),
        (['project-generated-images', '--network', files / 'progan.pkl'], 1, 'project-generated-images needs a style-based generator'),
        (['project-generated-images', '--network', files / 'stylegan2.pkl', '--metric-data', files / 'empty'], 1,
         'needs the file net-lin_vgg_v0.1.pb, which is not in the metric data folder'),
        (real + ['--images', files / 'empty'], 1, f'--images: no image files (.png, .jpg, .jpeg, .bmp, .webp) in {files / "empty"}'),
        (real + ['--images', files / 'nowhere'], 1, f'--images: no such folder: {files / "nowhere"}'),
        (real + ['--images', files / 'broken'], 1, f'{files / "broken" / "photo.png"}: cannot read the image'),
        (real + ['--dataset', 'nothing', '--data-dir', files / 'datasets'], 1, 'Dataset directory not found'),
        (real, 1, 'takes either --images DIR or both --dataset and --data-dir'),
        (real + ['--images', files / 'empty', '--num-images', '0'], 1, '--num-images must be at least 1'),
    ])


def test_run_metrics_errors(files, tmp_path, capsys, monkeypatch):
    args = ['--dataset', 'datasets', '--data-dir', files, '--metric-data', files / 'empty', '--network']
    check_errors(tmp_path, 'run_metrics.py', capsys=capsys, monkeypatch=monkeypatch, cases=[
        (args + [files / 'missing.pkl', '--metrics', 'swd1k'], 1, 'no such file'),
        (args + [files / 'text.pkl', '--metrics', 'swd1k'], 1, 'not a network pickle'),
        (args + [files / 'stylegan2.pkl', '--metrics', 'fid50k'], 1, 'needs the file classify_image_graph_def.pb'),
        (args + [files / 'stylegan2.pkl', '--metrics', 'fid1k'], 2, 'unknown metric(s) fid1k'),
        (['--dataset', 'nothing', '--data-dir', files, '--network', files / 'stylegan2.pkl'], 1,
         '--dataset: dataset directory does not exist'),
    ])


def test_train_and_dataset_tool_errors(files, tmp_path, capsys, monkeypatch):
    check_errors(tmp_path, 'train.py', capsys=capsys, monkeypatch=monkeypatch, cases=[
        (['--data-dir', files / 'datasets', '--dataset', 'nothing'], 1, '--dataset: dataset root directory does not exist'),
        (['--data-dir', files / 'datasets'], 2, 'the following arguments are required: --dataset'),
    ])
    check_errors(tmp_path, 'dataset_tool.py', capsys=capsys, monkeypatch=monkeypatch, cases=[
        (['create_from_images', tmp_path / 'results' / 'new', files / 'nowhere'], 1, 'Image folder not found'),
    ])
