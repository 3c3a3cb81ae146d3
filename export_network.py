"""Export a generator (Gs of a StyleGAN2, StyleGAN or ProGAN pickle) as a TensorFlow SavedModel, a TensorFlow Lite
model or an ONNX model, which run without this project's code.

Every format is traced from the network with the reference ops (plain TensorFlow, impl='ref') in the NHWC layout,
so that it needs no compiled kernel library and runs on any CPU. The SavedModel has these signatures, each with a
dynamic batch:
    generate:  z [N, latent_size], labels [N, label_size] (conditional networks only), truncation_psi [] and
               noise [] ('const' = the stored noise maps, 'random'; style-based networks only) -> images, uint8 NHWC.
    mapping:   z, labels -> dlatents [N, num_layers, dlatent_size]        (style-based networks only)
    synthesis: dlatents -> images, float NCHW, nominally in [-1, 1], with the stored noise maps (style-based only)
TF Lite (builtin ops only) and ONNX models hold `generate` with the noise fixed at export (--noise) and a dynamic
batch. No format needs a fixed batch size.
"""

import argparse
import contextlib
import importlib.util
import inspect
import os
import shutil
import sys
import tempfile

import dnnlib  # Before TensorFlow, as the other scripts.
import tensorflow as tf

import pretrained_networks
from dnnlib.tflib import ops

FORMATS = ('savedmodel', 'tflite', 'onnx')
NOISE_MODES = ('const', 'random')


@contextlib.contextmanager
def reference_ops():
    """Trace with the plain-TensorFlow ops: an export must not reference the compiled kernels."""
    old = os.environ.get(ops.IMPL_ENV)
    os.environ[ops.IMPL_ENV] = 'ref'
    try:
        yield
    finally:
        if old is None:
            del os.environ[ops.IMPL_ENV]
        else:
            os.environ[ops.IMPL_ENV] = old


def is_style_based(Gs):
    return {'mapping', 'synthesis'} <= set(Gs.components)


def to_uint8_nhwc(images):
    """tflib.convert_images_to_uint8(images, nchw_to_nhwc=True) with min/max for its clip: TF Lite has no builtin
    ClipByValue."""
    images = tf.transpose(images, [0, 2, 3, 1]) * 127.5 + 128
    return tf.cast(tf.minimum(tf.maximum(images, 0.0), 255.0), tf.uint8)


def network_truncation_psi(Gs):
    """The truncation Gs.run applies by default (1 = none)."""
    param = inspect.signature(Gs._build_func).parameters.get('truncation_psi')
    psi = Gs.static_kwargs.get('truncation_psi', param.default if param else None)
    return 1.0 if psi is None else float(psi)


class GeneratorExport(tf.Module):
    """Gs's variables and the functions of the export; `fixed_noise` fixes the noise of `generate`, which then has
    no noise input (TF Lite, ONNX). `default_truncation_psi` is stored for the user to read."""

    def __init__(self, Gs, fixed_noise=None, default_truncation_psi=None):
        super().__init__(name='generator')
        self._Gs = Gs
        self.net_vars = list(Gs.vars.values())  # Tracked: the SavedModel stores them.
        if default_truncation_psi is None:
            default_truncation_psi = network_truncation_psi(Gs)
        self.default_truncation_psi = tf.Variable(default_truncation_psi, trainable=False, name='default_truncation_psi')
        self._kwargs = dict(data_format='NHWC')  # CPUs run NHWC convolutions only.
        latent_size, label_size = Gs.input_shapes[0][1], Gs.input_shapes[1][1]
        self._label_size = label_size
        z = tf.TensorSpec([None, latent_size], tf.float32, name='z')
        inputs = [z] + ([tf.TensorSpec([None, label_size], tf.float32, name='labels')] if label_size else [])
        style = is_style_based(Gs)
        if style:
            inputs.append(tf.TensorSpec([], tf.float32, name='truncation_psi'))
            if fixed_noise is None:
                inputs.append(tf.TensorSpec([], tf.string, name='noise'))
        self._fixed_noise = fixed_noise
        self.generate = tf.function(self._generate, input_signature=inputs, autograph=False)
        if style:
            self.mapping = tf.function(self._mapping, input_signature=inputs[:2 if label_size else 1], autograph=False)
            self.synthesis = tf.function(self._synthesis, autograph=False, input_signature=[
                tf.TensorSpec([None] + Gs.components.synthesis.input_shape[1:], tf.float32, name='dlatents')])

    def _labels(self, z, labels):
        return labels if self._label_size else tf.zeros([tf.shape(z)[0], 0])

    def _generate(self, z, *args):
        labels = self._labels(z, args[0] if self._label_size else None)
        args = args[1:] if self._label_size else args
        if not args:  # ProGAN.
            images = self._Gs.get_output_for(z, labels, **self._kwargs)
        else:
            psi = args[0]
            noise = args[1] if len(args) > 1 else tf.constant(self._fixed_noise)

            def run(randomize_noise):
                return lambda: self._Gs.get_output_for(z, labels, truncation_psi=psi, randomize_noise=randomize_noise,
                                                       **self._kwargs)
            if self._fixed_noise is not None:
                images = run(self._fixed_noise == 'random')()
            else:
                check = tf.debugging.Assert(tf.reduce_any(tf.equal(noise, NOISE_MODES)),
                                            ['noise must be const or random, got', noise])
                with tf.control_dependencies([check]):
                    images = tf.cond(tf.equal(noise, 'random'), run(True), run(False))
        return {'images': to_uint8_nhwc(images)}

    def _mapping(self, z, labels=None):
        return {'dlatents': self._Gs.components.mapping.get_output_for(z, self._labels(z, labels), **self._kwargs)}

    def _synthesis(self, dlatents):
        return {'images': self._Gs.components.synthesis.get_output_for(dlatents, randomize_noise=False, **self._kwargs)}

    def signatures(self):
        names = ['generate', 'mapping', 'synthesis'] if hasattr(self, 'mapping') else ['generate']
        return {name: getattr(self, name).get_concrete_function() for name in names}


def save_savedmodel(Gs, path, fixed_noise=None, default_truncation_psi=None):
    with reference_ops():
        module = GeneratorExport(Gs, fixed_noise, default_truncation_psi)
        tf.saved_model.save(module, path, signatures=module.signatures())


def save_tflite(Gs, path, noise):
    """The TF Lite model of `generate` (noise fixed), converted from a SavedModel of it."""
    with tempfile.TemporaryDirectory() as tmp:
        save_savedmodel(Gs, tmp, fixed_noise=noise)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=['generate'])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # No TF (Flex) ops.
        data = converter.convert()
    with open(path, 'wb') as f:
        f.write(data)


def save_onnx(Gs, path, noise, opset):
    import tf2onnx  # Only this format needs it.
    with reference_ops():
        module = GeneratorExport(Gs, fixed_noise=noise)
        func = module.generate
        tf2onnx.convert.from_function(func, input_signature=func.input_signature, opset=opset, output_path=path)


def export_network(network_pkl, fmt, out, noise='const', opset=17, truncation_psi=None):
    _G, _D, Gs = pretrained_networks.load_snapshot_or_exit(network_pkl)
    print(f'Exporting {Gs.build_func_name} ({Gs.output_shape[1:]}) as {fmt} to "{out}"...')
    if fmt == 'savedmodel':
        save_savedmodel(Gs, out, default_truncation_psi=truncation_psi)
    elif fmt == 'tflite':
        save_tflite(Gs, out, noise)
    else:
        save_onnx(Gs, out, noise, opset)
    print('Done.')


def main(argv=None):
    parser = dnnlib.util.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--network', help='Network pickle filename', required=True)
    parser.add_argument('--format', help='savedmodel (a directory), tflite or onnx (a file)', choices=FORMATS, required=True)
    parser.add_argument('--out', help='Output directory (savedmodel) or file (tflite, onnx)', required=True)
    parser.add_argument('--noise', help="TF Lite and ONNX: noise of the style-based networks, 'const' (the stored noise "
                        "maps, default) or 'random'; a SavedModel takes it as an input", choices=NOISE_MODES, default='const')
    parser.add_argument('--truncation-psi', help='SavedModel: the value stored as default_truncation_psi for users '
                        'to pass (default: the network\'s own)', type=float)
    parser.add_argument('--opset', help='ONNX opset (default: %(default)s)', type=int, default=17)
    parser.add_argument('--overwrite', help='Replace an existing --out', action='store_true')
    args = parser.parse_args(argv)

    if os.path.exists(args.out) and not args.overwrite:
        dnnlib.util.exit_with_error(f'--out {args.out}: exists already (give --overwrite to replace it).')
    if args.format == 'savedmodel' and os.path.isfile(args.out):
        dnnlib.util.exit_with_error(f'--out {args.out}: a file; a SavedModel is a directory.')
    if args.format != 'savedmodel' and os.path.isdir(args.out):
        dnnlib.util.exit_with_error(f'--out {args.out}: a directory; a {args.format} model is one file.')
    if not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        dnnlib.util.exit_with_error(f'--out {args.out}: its directory does not exist.')
    if args.format == 'onnx' and importlib.util.find_spec('tf2onnx') is None:
        dnnlib.util.exit_with_error('--format onnx needs tf2onnx and onnx: pip install -r requirements.txt')
    if args.opset < 13:
        dnnlib.util.exit_with_error(f'--opset must be at least 13, got {args.opset}.')
    if args.overwrite and os.path.isdir(args.out):
        shutil.rmtree(args.out)
    export_network(args.network, args.format, args.out, args.noise, args.opset, args.truncation_psi)


if __name__ == '__main__':
    sys.exit(main())
