"""The GPU layout (NCHW, modulated convolutions fused into grouped convolutions or not) gives the same numbers as
the CPU layout (NHWC, unfused) for every architecture: G, D, and the losses and gradients of a training step with
both regularizers. Runs on the CPU: NCHW convolutions and their gradients need oneDNN there (conftest.py turns it
on), and the ops run their reference implementation (impl='ref'), as NVIDIA's networks do without CUDA.
"""

import numpy as np
import pytest
import tensorflow as tf

import dnnlib
import dnnlib.tflib as tflib
from training import loss

# (generator synthesis, its architecture, discriminator, its architecture): every architecture of both networks.
CASES = [
    ('G_synthesis_stylegan2', 'skip', 'D_stylegan2', 'resnet'),
    ('G_synthesis_stylegan2', 'resnet', 'D_stylegan2', 'skip'),
    ('G_synthesis_stylegan2', 'orig', 'D_stylegan2', 'orig'),
    ('G_synthesis_stylegan_revised', None, 'D_stylegan', None),  # Configs B-D, mid-way through a level change.
]
LAYOUTS = [('NCHW', True), ('NCHW', False)]  # Compared with ('NHWC', unfused).
NET = dict(num_channels=3, resolution=16, label_size=2, fmap_base=64, fmap_max=16)
G_ONLY = dict(latent_size=8, dlatent_size=8, mapping_fmaps=8, mapping_layers=2, style_mixing_prob=0.9, randomize_noise=True)
N = 4  # Images per batch (D's minibatch stddev groups take 4).


def build(synthesis, g_arch, d_func, d_arch, data_format, fused_modconv):
    g_kwargs = dict(NET, **G_ONLY, synthesis_func=synthesis, data_format=data_format, fused_modconv=fused_modconv)
    d_kwargs = dict(NET, data_format=data_format)
    if g_arch:
        g_kwargs['architecture'], d_kwargs['architecture'] = g_arch, d_arch
    G = tflib.Network('G', func_name='training.networks_stylegan2.G_main', **g_kwargs)
    D = tflib.Network('D', func_name='training.networks_stylegan2.' + d_func, **d_kwargs)
    return G, D


def randomize(nets, seed=3):
    """Weights, biases, noise strengths and dlatent_avg all away from their (mostly zero) initial values."""
    rnd = np.random.RandomState(seed)
    for net in nets:
        for name, var in sorted(net.vars.items()):
            if name.endswith('lod'):
                var.assign(0.5)
            else:
                scale = 0.2 if name.endswith(('bias', 'noise_strength', 'dlatent_avg')) else 1.0
                var.assign(np.float32(rnd.randn(*var.shape.as_list()) * scale))


def training_step_values(G, D, inputs):
    """Losses, regularizers and every gradient of one G step (with path length) and one D step (with R1)."""
    out = {}
    pl_mean = tf.Variable(0.7)
    with tflib.reproducible_random(tf.constant([5, 6], tf.int64)):  # The same noise and style mixing draws.
        for which, net in (('G', G), ('D', D)):
            variables = list(net.trainables.values())
            with tf.GradientTape() as tape:
                if which == 'G':
                    loss_value, reg = loss.G_logistic_ns_pathreg(G, D, inputs, pl_mean)
                else:
                    loss_value, reg = loss.D_logistic_r1(G, D, inputs, gamma=10.0)
                total = tf.reduce_mean(loss_value) + tf.reduce_mean(reg)
            grads = tape.gradient(total, variables)
            out[f'{which}/loss'], out[f'{which}/reg'] = loss_value.numpy(), reg.numpy()
            out.update({f'{which}/grad/{name}': g.numpy() for name, g in zip(net.trainables, grads)})
    return out


def all_outputs(G, D):
    rnd = np.random.RandomState(11)
    z = rnd.randn(N, 8).astype(np.float32)
    labels = np.eye(2, dtype=np.float32)[rnd.randint(2, size=N)]
    images = G.get_output_for(z, labels, truncation_psi=0.7, randomize_noise=False).numpy()
    out = {'G/images': images, 'D/scores': D.get_output_for(tf.constant(images), labels).numpy()}
    inputs = dnnlib.EasyDict(latents=tf.constant(z), labels=tf.constant(labels),
                             reals=tf.constant(rnd.randn(N, 3, 16, 16).astype(np.float32)),
                             random_labels=lambda n: tf.constant(labels[:n]))  # The path length batch's labels.
    out.update(training_step_values(G, D, inputs))
    return out


@pytest.mark.parametrize('synthesis,g_arch,d_func,d_arch', CASES)
def test_gpu_layout_equals_cpu_layout(synthesis, g_arch, d_func, d_arch, monkeypatch):
    monkeypatch.setenv('STYLEGAN2_OPS_IMPL', 'ref')
    G, D = build(synthesis, g_arch, d_func, d_arch, 'NHWC', False)
    randomize([G, D])
    others = []
    for data_format, fused in LAYOUTS:  # Copies made before training updates G's dlatent_avg.
        G2, D2 = build(synthesis, g_arch, d_func, d_arch, data_format, fused)
        G2.copy_vars_from(G)
        D2.copy_vars_from(D)
        others.append((data_format, fused, G2, D2))
    expected = all_outputs(G, D)
    # The values are not trivially zero: the comparison below means something.
    assert np.abs(expected['G/images']).max() > 0.1 and np.abs(expected['D/grad/Output/weight']).max() > 1e-4
    for data_format, fused, G2, D2 in others:
        got = all_outputs(G2, D2)
        assert sorted(got) == sorted(expected)
        for key, value in expected.items():
            scale = np.abs(value).max() + 1e-6
            np.testing.assert_allclose(got[key] / scale, value / scale, rtol=0, atol=2e-5,
                                       err_msg=f'{data_format} fused_modconv={fused}: {key}')


def test_layout_argument_is_checked():
    with pytest.raises(ValueError, match="data_format must be 'NCHW', 'NHWC' or None"):
        tflib.Network('D', func_name='training.networks_stylegan2.D_stylegan2', **NET, data_format='NWHC')
