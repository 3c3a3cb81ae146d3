"""Projector: the dlatent (W) and noise inputs of a StyleGAN2 generator that best reproduce a target image
(NVIDIA's projector.py, TF2). Used by run_projector.py.

One w is optimized, shared by every layer, starting at the mean of mapped latents, with noise added to it early on;
the noise inputs are optimized too, renormalized after each step and kept uncorrelated by a multi-scale
regularizer. The loss is the LPIPS distance (VGG16) of images box-downsampled to 256x256, or any distance given.
"""

import numpy as np
import tensorflow as tf

import dnnlib
from dnnlib.tflib.ops.upfirdn_2d import downsample_2d
from dnnlib.tflib.optimizer import Optimizer
from training.layers import noise_variables


def learning_rate_schedule(t, initial_learning_rate=0.1, lr_rampdown_length=0.25, lr_rampup_length=0.05):
    """The learning rate at progress t = step / num_steps: a linear ramp-up, then a cosine ramp-down."""
    ramp = min(1.0, (1.0 - t) / lr_rampdown_length)
    ramp = 0.5 - 0.5 * np.cos(ramp * np.pi)
    return initial_learning_rate * ramp * min(1.0, t / lr_rampup_length)


def noise_strength_schedule(t, dlatent_std, initial_noise_factor=0.05, noise_ramp_length=0.75):
    """The std of the noise added to w at progress t: quadratic decay to 0 at noise_ramp_length."""
    return dlatent_std * initial_noise_factor * max(0.0, 1.0 - t / noise_ramp_length) ** 2


def noise_regularization(noise_maps):
    """Sum over the noise maps [1, 1, H, W] and their 2x2-averaged pyramids down to 8x8 of the squared mean
    correlation of each map with itself shifted by one pixel, horizontally and vertically (with wrap-around)."""
    reg = 0.0
    for noise in noise_maps:
        size = int(noise.shape[2])
        while True:
            reg += tf.reduce_mean(noise * tf.roll(noise, shift=1, axis=3)) ** 2
            reg += tf.reduce_mean(noise * tf.roll(noise, shift=1, axis=2)) ** 2
            if size <= 8:
                break
            noise = downsample_2d(noise)  # 2x2 box filter.
            size //= 2
    return reg


def to_distance_input(images, max_size=256):
    """Images in [-1, 1] as the distance sees them: [0, 255], box-downsampled to max_size if larger."""
    images = (images + 1) * (255 / 2)
    size = int(images.shape[2])
    if size > max_size:
        images = downsample_2d(images, factor=size // max_size)  # Box filter.
    return images


class Projector:
    """NVIDIA's Projector: set_network(Gs), then run(target) or start(target) and step() num_steps times.

    distance: f(images, targets) -> [N] on [0, 255] NCHW images (at most 256x256); None = LPIPS (VGG16) from the
    metric data folder (net-lin_vgg_v0.1.pb), as the metrics use it.
    """

    # The original's settings (an instance may change them before set_network() / start()).
    num_steps = 1000
    dlatent_avg_samples = 10000
    initial_learning_rate = 0.1
    initial_noise_factor = 0.05
    lr_rampdown_length = 0.25
    lr_rampup_length = 0.05
    noise_ramp_length = 0.75
    regularize_noise_weight = 1e5
    verbose = False
    clone_net = True

    def __init__(self, distance=None):
        self._distance = distance
        self._Gs = None
        self._cur_step = None

    def _info(self, *args):
        if self.verbose:
            print('Projector:', *args)

    def set_network(self, Gs, minibatch_size=1):
        if minibatch_size != 1:
            raise ValueError('Projector: minibatch_size must be 1, as in the original.')
        self._Gs = Gs.clone() if self.clone_net else Gs
        if self._distance is None:
            from metrics import lpips
            self._distance = lpips.load_lpips("projector")
        synthesis = self._Gs.components.synthesis

        self._info('Finding W midpoint and stddev using %d samples...' % self.dlatent_avg_samples)
        latent_samples = np.random.RandomState(123).randn(self.dlatent_avg_samples, *self._Gs.input_shape[1:])
        dlatent_samples = self._Gs.components.mapping.run(latent_samples, None)[:, :1, :]  # [N, 1, dlatent_size]
        self._dlatent_avg = np.mean(dlatent_samples, axis=0, keepdims=True)  # [1, 1, dlatent_size]
        self._dlatent_std = float(np.sum((dlatent_samples - self._dlatent_avg) ** 2) / self.dlatent_avg_samples) ** 0.5
        self._info('std = %g' % self._dlatent_std)

        self._noise_vars = noise_variables(synthesis)
        self._num_layers = synthesis.input_shape[1]
        self._dlatents_var = tf.Variable(tf.zeros(self._dlatent_avg.shape), name='dlatents_var')
        image_shape = to_distance_input(tf.zeros([1] + self._Gs.output_shape[1:])).shape
        self._target_images_var = tf.Variable(tf.zeros(image_shape), name='target_images_var')
        self._opt = Optimizer(name='Projector')  # Adam 0.9, 0.999, 1e-8; step() gives the learning rate.
        self._opt.setup([self._dlatents_var] + self._noise_vars)
        self._train_step = tf.function(self._train_step_eager)
        self._images_fn = tf.function(lambda: synthesis.get_output_for(self._dlatents(0.0), randomize_noise=False))

    def _dlatents(self, noise_strength):
        """The optimized w with noise added, tiled to every layer: [1, num_layers, dlatent_size]."""
        noisy = self._dlatents_var + tf.random.normal(self._dlatents_var.shape) * noise_strength
        return tf.tile(noisy, [1, self._num_layers, 1])

    def _train_step_eager(self, noise_strength, learning_rate):
        variables = [self._dlatents_var] + self._noise_vars
        with tf.GradientTape() as tape:
            images = self._Gs.components.synthesis.get_output_for(self._dlatents(noise_strength), randomize_noise=False)
            dist = self._distance(to_distance_input(images), self._target_images_var)
            loss = tf.reduce_sum(dist) + noise_regularization(self._noise_vars) * self.regularize_noise_weight
        self._opt.accumulate(tape.gradient(loss, variables))
        self._opt.apply_updates(learning_rate)
        for noise in self._noise_vars:  # Back to mean 0 and standard deviation 1.
            mean = tf.reduce_mean(noise)
            noise.assign((noise - mean) / tf.reduce_mean((noise - mean) ** 2) ** 0.5)
        return tf.reduce_sum(dist), loss

    def run(self, target_images):
        """Project to completion; returns EasyDict(dlatents, noises, images)."""
        self.start(target_images)
        while self._cur_step < self.num_steps:
            self.step()
        return dnnlib.EasyDict(dlatents=self.get_dlatents(), noises=self.get_noises(), images=self.get_images())

    def start(self, target_images):
        """Begin a projection of target_images [1, C, H, W] in [-1, 1]."""
        if self._Gs is None:
            raise ValueError('Projector: call set_network() before start().')
        target_images = np.asarray(target_images, dtype=np.float32)
        if list(target_images.shape) != [1] + self._Gs.output_shape[1:]:
            raise ValueError(f'Projector: the target must be one image of shape {self._Gs.output_shape[1:]}, '
                             f'got {list(target_images.shape)}.')
        self._target_images_var.assign(to_distance_input(tf.constant(target_images)))
        self._dlatents_var.assign(self._dlatent_avg)
        for noise in self._noise_vars:
            noise.assign(tf.random.normal(noise.shape))
        self._opt.reset_optimizer_state()
        self._cur_step = 0
        self._last = None

    def step(self):
        """One optimization step with the original's learning rate and w-noise schedules."""
        if self._cur_step is None:
            raise ValueError('Projector: call start() before step().')
        if self._cur_step >= self.num_steps:
            return
        t = self._cur_step / self.num_steps
        noise_strength = noise_strength_schedule(t, self._dlatent_std, self.initial_noise_factor, self.noise_ramp_length)
        learning_rate = learning_rate_schedule(t, self.initial_learning_rate, self.lr_rampdown_length, self.lr_rampup_length)
        dist, loss = self._train_step(tf.constant(noise_strength, tf.float32), tf.constant(learning_rate, tf.float32))
        self._cur_step += 1
        self._last = (float(dist), float(loss))
        if self._cur_step == self.num_steps or self._cur_step % 10 == 0:
            self._info('%-8d%-12g%-12g' % (self._cur_step, *self._last))

    def get_cur_step(self):
        return self._cur_step

    def get_last_losses(self):
        """(distance, loss) of the last step, or None before the first."""
        return self._last

    def get_dlatents(self):
        return self._dlatents(0.0).numpy()

    def get_noises(self):
        return [noise.numpy() for noise in self._noise_vars]

    def get_images(self):
        return self._images_fn().numpy()


def save_projection(path, dlatents, noises):
    """A projection file: the dlatents [1, num_layers, dlatent_size] as 'dlatents', the noise maps as 'noise0', ...."""
    with dnnlib.util.atomic_write(path) as file:
        np.savez(file, dlatents=dlatents, **{'noise%d' % i: noise for i, noise in enumerate(noises)})


def load_projection(path, synthesis):
    """(dlatents [1, num_layers, dlatent_size], [noise maps]) of a projection file, checked against the synthesis
    network it is rendered with; ValueError naming the file and what does not fit."""
    noise_shapes = [var.shape.as_list() for var in noise_variables(synthesis)]
    try:
        with np.load(path) as data:
            arrays = {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as err:
        raise ValueError(f'{path}: not a projection file (.npz) ({err}).') from None
    expected = ['dlatents'] + ['noise%d' % i for i in range(len(noise_shapes))]
    if sorted(arrays) != sorted(expected):
        raise ValueError(f'{path}: holds {sorted(arrays)}; a projection for this network holds {expected}.')
    dlatents, noises = arrays['dlatents'], [arrays['noise%d' % i] for i in range(len(noise_shapes))]
    wanted = [1] + synthesis.input_shape[1:]
    if list(dlatents.shape) != wanted or any(list(n.shape) != s for n, s in zip(noises, noise_shapes)):
        raise ValueError(f'{path}: dlatents {list(dlatents.shape)} and noise maps {[list(n.shape) for n in noises]}; '
                         f'this network takes dlatents {wanted} and noise maps {noise_shapes}.')
    return dlatents.astype(np.float32), [n.astype(np.float32) for n in noises]
