"""export_network.py: the SavedModel, TF Lite and ONNX exports of pickles in NVIDIA's format, run in a Python process
that cannot import this project, give the images of Gs.run and the dlatents and images of the components' run()."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import dnnlib.tflib as tflib
import export_network
from small_networks import make_family_networks, make_networks
from test_network_pickle import _expected_pickle

# name: (networks, pickle layout, formats exported). Each export takes seconds: TF Lite and ONNX on two families.
FAMILIES = {
    'stylegan2': (lambda: make_networks(), 'stylegan2', ('savedmodel', 'tflite', 'onnx')),
    'stylegan2_cond': (lambda: make_networks(label_size=3), 'stylegan2', ('savedmodel',)),
    'stylegan': (lambda: make_family_networks('stylegan'), 'stylegan', ('savedmodel', 'tflite')),
    'progan': (lambda: make_family_networks('progan'), 'progan', ('savedmodel', 'onnx')),
}
EXT = {'savedmodel': '', 'tflite': '.tflite', 'onnx': '.onnx'}
PSI = 0.6

# Runs in a process whose sys.path has no project directory (python -I, cwd elsewhere): plain TensorFlow,
# tf.lite.Interpreter and onnxruntime, as a user of the exports has them. A SavedModel with a compiled op of this
# project would not load there, and this tf.lite.Interpreter has no Flex delegate: a TF Lite model that runs holds
# builtin ops only.
RUNNER = r'''
import contextlib, importlib.util, io, json, sys
import numpy as np, onnxruntime, tensorflow as tf
from tensorflow.python.tools import saved_model_cli
assert importlib.util.find_spec('dnnlib') is None and importlib.util.find_spec('training') is None, sys.path
out = {}
for name, job in json.load(open('jobs.json')).items():
    inp = dict(np.load(job['inputs']))
    args = {k: inp[k] for k in ('z', 'labels', 'truncation_psi') if k in inp}
    if job['format'] == 'tflite':
        out[name + '/generate'] = tf.lite.Interpreter(job['path']).get_signature_runner('generate')(**args)['images']
        continue
    if job['format'] == 'onnx':
        session = onnxruntime.InferenceSession(job['path'])
        out[name + '/generate'] = session.run(None, {i.name: args[i.name] for i in session.get_inputs()})[0]
        continue
    model = tf.saved_model.load(job['path'])
    sigs = model.signatures
    style = 'mapping' in sigs
    noise = {'noise': tf.constant('const')} if style else {}
    for n in (1, 5):
        batch = {k: v[:n] if v.ndim else v for k, v in args.items()}
        out[f'{name}/generate{n}'] = sigs['generate'](**batch, **noise)['images'].numpy()
    if style:
        out[name + '/mapping'] = sigs['mapping'](**{k: args[k] for k in ('z', 'labels') if k in args})['dlatents'].numpy()
        out[name + '/synthesis'] = sigs['synthesis'](dlatents=inp['dlatents'])['images'].numpy()
        for i in range(2):
            out[f'{name}/random{i}'] = sigs['generate'](**args, noise=tf.constant('random'))['images'].numpy()
        try:
            sigs['generate'](**args, noise=tf.constant('fresh'))
        except tf.errors.InvalidArgumentError as err:
            out[name + '/bad_noise'] = np.array(err.message)
    out[name + '/default_psi'] = model.default_truncation_psi.numpy()
    with contextlib.redirect_stdout(io.StringIO()) as shown:
        saved_model_cli._show_all(job['path'])  # What `saved_model_cli show --all` prints.
    out[name + '/show_all'] = np.array(shown.getvalue())
np.savez('outputs.npz', **out)
'''


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """(networks, outputs of the runner, folder) for every family: pickles written in NVIDIA's format, exported
    with the script's main(), run in one subprocess."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('STYLEGAN2_OPS_IMPL', 'ref')  # Gs.run here with the exports' ops; no kernel build.
        yield _export_and_run(tmp_path_factory.mktemp('export'))


def _export_and_run(root):
    rnd = np.random.RandomState(5)
    nets, jobs = {}, {}
    for name, (make, layout, formats) in FAMILIES.items():
        nets[name] = make()
        pkl = root / (name + '.pkl')
        pkl.write_bytes(_expected_pickle(nets[name], layout, 4))
        Gs = nets[name][2]
        inputs = dict(z=rnd.randn(5, Gs.input_shape[1]).astype(np.float32))
        if Gs.input_shapes[1][1]:
            inputs['labels'] = np.eye(Gs.input_shapes[1][1], dtype=np.float32)[rnd.randint(Gs.input_shapes[1][1], size=5)]
        if 'synthesis' in Gs.components:
            inputs['truncation_psi'] = np.float32(PSI)
            inputs['dlatents'] = rnd.randn(3, *Gs.components.synthesis.input_shape[1:]).astype(np.float32)
        np.savez(root / (name + '-inputs.npz'), **inputs)
        for fmt in formats:
            path = str(root / (name + EXT[fmt]))
            export_network.main(['--network', str(pkl), '--format', fmt, '--out', path])
            jobs[f'{name}/{fmt}'] = dict(format=fmt, path=path, inputs=str(root / (name + '-inputs.npz')))
    run_dir = root / 'elsewhere'
    run_dir.mkdir()
    (run_dir / 'jobs.json').write_text(json.dumps(jobs))
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    proc = subprocess.run([sys.executable, '-I', '-c', RUNNER], cwd=run_dir, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return nets, dict(np.load(run_dir / 'outputs.npz')), root


def _inputs(root, name):
    return dict(np.load(root / (name + '-inputs.npz')))


def _uint8(Gs, inp, **kwargs):
    return Gs.run(inp['z'], inp.get('labels'), randomize_noise=False,
                  output_transform=dict(func=tflib.convert_images_to_uint8, nchw_to_nhwc=True), **kwargs)


def _assert_within_one_level(actual, expected):
    assert actual.shape == expected.shape and actual.dtype == np.uint8
    assert np.abs(actual.astype(np.int32) - expected).max() <= 1


@pytest.mark.parametrize('name', list(FAMILIES))
def test_exports_give_gs_run_images(exported, name):
    nets, out, root = exported
    Gs = nets[name][2]
    inp = _inputs(root, name)
    style = 'synthesis' in Gs.components
    expected = _uint8(Gs, inp, **(dict(truncation_psi=PSI) if style else {}))
    # SavedModel with a dynamic batch: 5 images, and the first alone.
    _assert_within_one_level(out[f'{name}/savedmodel/generate5'], expected)
    _assert_within_one_level(out[f'{name}/savedmodel/generate1'], expected[:1])
    for fmt in FAMILIES[name][2][1:]:
        _assert_within_one_level(out[f'{name}/{fmt}/generate'], expected)
    show_all = str(out[f'{name}/savedmodel/show_all'])
    for sig in (['generate', 'mapping', 'synthesis'] if style else ['generate']):
        assert f"signature_def['{sig}']" in show_all
    if not style:
        assert 'mapping' not in show_all and 'truncation_psi' not in show_all and 'noise' not in show_all


@pytest.mark.parametrize('name', [name for name in FAMILIES if name != 'progan'])
def test_mapping_and_synthesis_equal_the_components(exported, name):
    nets, out, root = exported
    Gs = nets[name][2]
    inp = _inputs(root, name)
    dlatents = Gs.components.mapping.run(inp['z'], inp.get('labels'))
    np.testing.assert_allclose(out[f'{name}/savedmodel/mapping'], dlatents, rtol=1e-5, atol=1e-6)
    images = Gs.components.synthesis.run(inp['dlatents'], randomize_noise=False)
    np.testing.assert_allclose(out[f'{name}/savedmodel/synthesis'], images, rtol=1e-5, atol=1e-5)
    assert out[f'{name}/savedmodel/default_psi'] == pytest.approx(export_network.network_truncation_psi(Gs))


def test_random_noise_varies_and_bad_noise_is_refused(exported):
    nets, out, root = exported
    const = _uint8(nets['stylegan2'][2], _inputs(root, 'stylegan2'), truncation_psi=PSI)
    first, second = out['stylegan2/savedmodel/random0'], out['stylegan2/savedmodel/random1']
    assert first.shape == const.shape and not np.array_equal(first, second) and not np.array_equal(first, const)
    assert 'noise must be const or random, got] [fresh]' in str(out['stylegan2/savedmodel/bad_noise'])


def test_export_errors_name_the_flag(tmp_path, capsys):
    existing = tmp_path / 'model.onnx'
    existing.write_bytes(b'')
    for argv, message in (
            (['--format', 'onnx', '--out', str(existing)], 'exists already'),
            (['--format', 'savedmodel', '--out', str(existing), '--overwrite'], 'a file; a SavedModel is a directory'),
            (['--format', 'tflite', '--out', str(tmp_path / 'no' / 'g.tflite')], 'its directory does not exist'),
            (['--format', 'onnx', '--out', str(tmp_path / 'g.onnx'), '--opset', '9'], '--opset must be at least 13')):
        with pytest.raises(SystemExit) as info:
            export_network.main(['--network', str(tmp_path / 'missing.pkl')] + argv)
        assert info.value.code == 1
        err = capsys.readouterr().err
        assert err.startswith('Error: ') and message in err and err.count('\n') == 1, err
