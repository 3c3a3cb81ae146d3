"""Perceptual path length (ppl_zfull, ppl_wfull, ppl_zend, ppl_wend, ppl2_wend): Karras et al. 2019, "A Style-Based
Generator Architecture for Generative Adversarial Networks", with NVIDIA StyleGAN2's settings and result lines.

A sample: two latents z0, z1 ~ N(0, I) and t ~ U(0, 1) ('full') or t = 0 ('end'); the points at t and t + epsilon on
the path between them, by spherical interpolation of the normalized z0, z1 then mapping (space 'z'), or by linear
interpolation of their mapped w (space 'w'); the two images of the synthesis network with its stored noise inputs,
redrawn for every minibatch (the two images of a sample see the same noise); with crop, the face region (rows
3/8 to 7/8, columns 2/8 to 6/8); box-downsampled to 256 pixels when at least twice that; mapped to [0, 255]; their
LPIPS distance / epsilon^2. The result is the mean of the distances between their 1st and 99th percentiles.

Random numbers: default_rng(SAMPLES_SEED) gives, for each minibatch, the latents [n, 2, latent_size], t [n]
(sampling 'full' only), the labels (conditional networks), then each device's noise inputs in the order of the
synthesis network's variables.
"""

import numpy as np
import tensorflow as tf

import dnnlib.tflib as tflib
from dnnlib.tflib import tfutil
from dnnlib.tflib.ops.upfirdn_2d import downsample_2d
from metrics import lpips, metric_base
from training.layers import noise_variables

SAMPLES_SEED = 1008


def normalize(v):
    """v scaled to unit length along its last axis."""
    return v / tf.sqrt(tf.reduce_sum(tf.square(v), axis=-1, keepdims=True))


def slerp(a, b, t):
    """The unit vector at fraction t of the great-circle arc from the direction of a to that of b."""
    a, b = normalize(a), normalize(b)
    cos_ab = tf.reduce_sum(a * b, axis=-1, keepdims=True)
    angle = t * tf.math.acos(cos_ab)
    towards_b = normalize(b - cos_ab * a)  # Unit vector orthogonal to a in the plane of a and b.
    return normalize(a * tf.math.cos(angle) + towards_b * tf.math.sin(angle))


def crop_face(images):
    """The central face region of NCHW images (FFHQ's alignment): rows [3c, 7c), columns [2c, 6c), c = height // 8."""
    c = images.shape[2] // 8
    return images[:, :, c * 3:c * 7, c * 2:c * 6]


def downsample_to_256(images):
    """Box-filter NCHW images by the integer factor height // 256 when it is above 1 (VGG16 works at 224)."""
    factor = images.shape[2] // 256
    return downsample_2d(images, factor=factor) if factor > 1 else images


def filtered_mean(distances):
    """The mean of the distances between the 1st percentile (rounded down to a sample) and the 99th (rounded up)."""
    lo = np.percentile(distances, 1, method='lower')
    hi = np.percentile(distances, 99, method='higher')
    return np.mean(distances[np.logical_and(lo <= distances, distances <= hi)])


class PPL(metric_base.MetricBase):
    """Gs_overrides: keyword arguments for the mapping and synthesis networks on top of Gs_kwargs (NVIDIA's metric
    settings pass dtype='float32', mapping_dtype='float32': float32 activations). distance: f(images0, images1) ->
    [N] for [0, 255] float NCHW batches; None = LPIPS from the metric data folder."""

    def __init__(self, num_samples, epsilon, space, sampling, crop, minibatch_per_gpu, Gs_overrides=None, distance=None,
                 **kwargs):
        if space not in ('z', 'w'):
            raise ValueError(f"PPL: space must be 'z' or 'w', got {space!r}.")
        if sampling not in ('full', 'end'):
            raise ValueError(f"PPL: sampling must be 'full' or 'end', got {sampling!r}.")
        super().__init__(**kwargs)
        self.num_samples = num_samples
        self.epsilon = epsilon
        self.space = space
        self.sampling = sampling
        self.crop = crop
        self.minibatch_per_gpu = minibatch_per_gpu
        self.Gs_overrides = dict(Gs_overrides or {})
        self.distance = distance

    def check_files(self):
        if self.distance is None:
            metric_base.metric_file(lpips.LPIPS_FILE, self.name, lpips.LPIPS_URL)

    def _evaluate(self, Gs, Gs_kwargs, num_gpus):
        if not {'mapping', 'synthesis'} <= set(Gs.components):
            raise ValueError(f'{self.name}: the path length needs a generator with mapping and synthesis networks '
                             f'(StyleGAN, StyleGAN2); {Gs.name} has none.')
        rnd = np.random.default_rng(SAMPLES_SEED)
        Gs_kwargs = dict(Gs_kwargs, **self.Gs_overrides)
        distance = self.distance or lpips.load_lpips(self.name)
        device_names = metric_base.devices(num_gpus)
        minibatch_size = num_gpus * self.minibatch_per_gpu
        label_size = Gs.input_shapes[1][1]

        # A synthesis copy per device with its own noise inputs, as the original cloned Gs per GPU; Gs keeps its own.
        syntheses = [Gs.components.synthesis.clone() for _ in device_names]
        noise_vars = [var for synthesis in syntheses for var in noise_variables(synthesis)]
        step = self._step_function(Gs.components.mapping, syntheses, device_names, distance, Gs_kwargs)

        all_distances = []
        for begin in range(0, self.num_samples, minibatch_size):
            self._report_progress(begin, self.num_samples)
            latents = rnd.standard_normal([minibatch_size, 2] + Gs.input_shape[1:])
            lerp_t = rnd.uniform(0.0, 1.0, minibatch_size) if self.sampling == 'full' else np.zeros(minibatch_size)
            labels = self._get_random_labels(minibatch_size, rnd) if label_size else np.zeros([minibatch_size, 0])
            for var in noise_vars:
                var.assign(rnd.standard_normal(var.shape.as_list()).astype(np.float32))
            inputs = [np.asarray(x, np.float32) for x in (latents, lerp_t, labels)]
            all_distances.append(step(*inputs).numpy())
        self._report_progress(self.num_samples, self.num_samples)
        self._report_result(filtered_mean(np.concatenate(all_distances)))

    def _step_function(self, mapping, syntheses, device_names, distance, Gs_kwargs):
        """A compiled minibatch step: (latents [n, 2, Z], t [n], labels [n, L]) -> distances [n], split over the
        devices."""

        def step(latents, lerp_t, labels):
            parts = [tf.split(x, len(device_names)) for x in (latents, lerp_t, labels)]
            results = []
            for device, synthesis, *inputs in zip(device_names, syntheses, *parts):
                with tf.device(device):
                    results.append(self._path_distances(mapping, synthesis, *inputs, distance, Gs_kwargs))
            return tf.concat(results, axis=0)

        latent_size, label_size = mapping.input_shapes[0][1], mapping.input_shapes[1][1]
        return tfutil.function(step, input_signature=[tf.TensorSpec([None, 2, latent_size], tf.float32),
                                                      tf.TensorSpec([None], tf.float32),
                                                      tf.TensorSpec([None, label_size], tf.float32)])

    def _path_distances(self, mapping, synthesis, latents, lerp_t, labels, distance, Gs_kwargs):
        pair_labels = tf.repeat(labels, 2, axis=0)  # Both images of a sample have its label.
        if self.space == 'w':
            dlatents = mapping.get_output_for(tf.reshape(latents, [-1, latents.shape[2]]), pair_labels, **Gs_kwargs)
            dlatents = tf.cast(dlatents, tf.float32)
            w0, w1 = dlatents[0::2], dlatents[1::2]
            t = lerp_t[:, np.newaxis, np.newaxis]
            ends = tf.stack([tflib.lerp(w0, w1, t), tflib.lerp(w0, w1, t + self.epsilon)], axis=1)
            dlatents = tf.reshape(ends, [-1] + dlatents.shape[1:].as_list())
        else:
            z0, z1 = latents[:, 0], latents[:, 1]
            t = lerp_t[:, np.newaxis]
            ends = tf.stack([slerp(z0, z1, t), slerp(z0, z1, t + self.epsilon)], axis=1)
            dlatents = mapping.get_output_for(tf.reshape(ends, [-1, latents.shape[2]]), pair_labels, **Gs_kwargs)
        images = synthesis.get_output_for(dlatents, **dict(Gs_kwargs, randomize_noise=False))
        images = tf.cast(images, tf.float32)
        if self.crop:
            images = crop_face(images)
        images = downsample_to_256(images)
        images = (images + 1) * (255 / 2)
        return distance(images[0::2], images[1::2]) * (1 / self.epsilon ** 2)
