"""Sliced Wasserstein distance (SWD), ProGAN's metric: reals and fakes are compared at each level of their Laplacian
pyramids, from the full resolution down to 16x16. Each level gives 7x7 neighbourhoods at 128 random positions per
image; each set of neighbourhoods is normalized per color channel by its own mean and standard deviation; the
distance is the mean absolute difference of the sorted projections on 128 random unit directions, averaged over 4
draws of directions. Reported x1e3 per level and averaged over the levels, as ProGAN's SWDx1e3_<res> and SWDx1e3_avg.

The random numbers are seeded (ProGAN drew them from the unseeded global generator), so a network and a dataset
always give the same random draws: the positions in the i-th image come from default_rng([seed, i]) for the reals
(REAL_NHOODS_SEED) and for the fakes (FAKE_NHOODS_SEED), the fakes' latents, labels and the seeds of the networks'
noise inputs from default_rng(FAKE_LATENTS_SEED) (metric_base's _iterate_fakes), the directions from
default_rng(DIRECTIONS_SEED), drawn level after level. What can still vary is the rounding of the generator's
float arithmetic on another device, another number of GPUs or minibatch size, or a GPU whose convolution
algorithms TensorFlow picks anew in each process.
"""

import numpy as np

from metrics import metric_base
from metrics.filters import correlate_valid

NHOOD_SIZE = 7
NHOODS_PER_IMAGE = 128
DIR_REPEATS = 4
DIRS_PER_REPEAT = 128
MIN_RESOLUTION = 16

REAL_NHOODS_SEED = 1001
FAKE_LATENTS_SEED = 1002
FAKE_NHOODS_SEED = 1003
DIRECTIONS_SEED = 1004

# The 5x5 binomial filter of cv2.pyrDown / pyrUp, as 1-D taps: the 2-D filter is their outer product.
_BINOMIAL_TAPS = np.float32([1, 4, 6, 4, 1]) / 16

# ----------------------------------------------------------------------------
# Laplacian pyramid (float32 NCHW), as ProGAN builds it with scipy.ndimage.convolve(mode='mirror'): the border is
# reflected about the edge pixels (d c b | a b c d | c b a), which is numpy's pad mode 'reflect'.


def _filter_axis(images, axis, taps):
    pad = [(0, 0)] * images.ndim
    pad[axis] = (len(taps) // 2, len(taps) // 2)
    return correlate_valid(np.pad(images, pad, mode='reflect'), taps, axis)


def pyr_down(images):
    """Blur with the 5x5 binomial filter, keep the even rows and columns (cv2.pyrDown)."""
    images = _filter_axis(images, 2, _BINOMIAL_TAPS)[:, :, ::2, :]
    return _filter_axis(images, 3, _BINOMIAL_TAPS)[:, :, :, ::2]


def pyr_up(images):
    """Put the pixels on the even rows and columns of a twice larger zero image and blur with 4x the binomial
    filter (cv2.pyrUp)."""
    n, c, h, w = images.shape
    up = np.zeros([n, c, h * 2, w * 2], images.dtype)
    up[:, :, ::2, ::2] = images
    return _filter_axis(_filter_axis(up, 2, _BINOMIAL_TAPS * 2), 3, _BINOMIAL_TAPS * 2)


def generate_laplacian_pyramid(minibatch, num_levels):
    """[full-resolution band, ..., the last level's low-pass image], float32 NCHW, each level half the size."""
    pyramid = [np.float32(minibatch)]
    for _ in range(1, num_levels):
        pyramid.append(pyr_down(pyramid[-1]))
        pyramid[-2] -= pyr_up(pyramid[-1])
    return pyramid


def pyramid_resolutions(resolution):
    """The levels' resolutions, from resolution halving down to 16 (ProGAN's levels)."""
    resolutions = []
    while resolution >= MIN_RESOLUTION:
        resolutions.append(resolution)
        resolution //= 2
    return resolutions


# ----------------------------------------------------------------------------
# Descriptors and the distance.


def random_nhood_centers(rnd, height, width, nhood_size, nhoods_per_image):
    """(ys, xs) of nhoods_per_image centers in one image, drawn uniformly where the whole neighbourhood fits."""
    half = nhood_size // 2
    xs = rnd.integers(half, width - half, size=nhoods_per_image)
    ys = rnd.integers(half, height - half, size=nhoods_per_image)
    return ys, xs


def get_descriptors(level, ys, xs, nhood_size):
    """The nhood_size^2 neighbourhoods of level [N, C, H, W] centered at ys, xs [N, K]: [N*K, C, size, size],
    image by image, laid out [.., x offset, y offset] (transposed) as ProGAN's are. The random directions are
    isotropic, so the layout leaves the distance's distribution alone; it keeps ProGAN's numbers for the same draws."""
    half = nhood_size // 2
    offsets = np.arange(-half, half + 1)
    n, c = level.shape[:2]
    img = np.repeat(np.arange(n), ys.shape[1])[:, None, None, None]
    chan = np.arange(c)[None, :, None, None]
    x = xs.reshape(-1)[:, None, None, None] + offsets[None, None, :, None]
    y = ys.reshape(-1)[:, None, None, None] + offsets[None, None, None, :]
    return level[img, chan, y, x]


def finalize_descriptors(desc):
    """Normalize [N, C, h, w] descriptors per channel by their mean and standard deviation over all descriptors
    (in float64 for the sums over millions of values); flattened to [N, C*h*w] float32."""
    mean = np.mean(desc, axis=(0, 2, 3), keepdims=True, dtype=np.float64)
    std = np.std(desc, axis=(0, 2, 3), keepdims=True, dtype=np.float64)
    out = desc - mean.astype(np.float32)
    out /= std.astype(np.float32)
    return out.reshape(desc.shape[0], -1)


def sliced_wasserstein(A, B, dir_repeats, dirs_per_repeat, rnd):
    """Mean over dir_repeats draws of dirs_per_repeat random unit directions (numpy Generator rnd) of the mean
    absolute difference between the sorted projections of A and B [N, D]."""
    if A.ndim != 2 or A.shape != B.shape:
        raise ValueError('sliced_wasserstein: A and B must be [N, D] of the same shape, got %s and %s.'
                         % (A.shape, B.shape))
    results = []
    for _ in range(dir_repeats):
        dirs = rnd.standard_normal([A.shape[1], dirs_per_repeat])
        dirs /= np.sqrt(np.sum(np.square(dirs), axis=0, keepdims=True))
        dirs = dirs.astype(np.float32)
        # Projections as [direction, neighbourhood]: sorting along contiguous rows is about twice as fast.
        proj_a = np.sort(np.matmul(dirs.T, A.T), axis=1)
        proj_b = np.sort(np.matmul(dirs.T, B.T), axis=1)
        results.append(np.mean(np.abs(proj_a - proj_b), dtype=np.float64))
    return float(np.mean(results))


# ----------------------------------------------------------------------------


class SWD(metric_base.MetricBase):
    """Results '<name>_<res>' for each pyramid level (e.g. swd16k_1024 ... swd16k_16) and '<name>_avg', x1e3."""

    def __init__(self, num_images, minibatch_per_gpu, **kwargs):
        super().__init__(**kwargs)
        self.num_images = num_images
        self.minibatch_per_gpu = minibatch_per_gpu

    def _evaluate(self, Gs, Gs_kwargs, num_gpus):
        resolution = Gs.output_shape[2]
        resolutions = pyramid_resolutions(resolution)
        if not resolutions:
            raise ValueError('%s: SWD needs images of at least %dx%d (its coarsest pyramid level); the network makes '
                             '%dx%d.' % (self.name, MIN_RESOLUTION, MIN_RESOLUTION, resolution, resolution))
        keys = ['level_%d' % res for res in resolutions]

        # Positions are drawn per image: the descriptors depend on neither the minibatch size nor num_gpus.
        def compute_reals():
            stream = self._iterate_reals(self.minibatch_per_gpu)
            return dict(zip(keys, self._descriptors(stream, resolution, resolutions, REAL_NHOODS_SEED)))

        reals = self._cached_reals_stats(compute_reals, num_images=self.num_images, resolutions=resolutions,
                                         nhood_size=NHOOD_SIZE, nhoods_per_image=NHOODS_PER_IMAGE,
                                         seed=REAL_NHOODS_SEED)
        fakes = self._iterate_fakes(Gs, self.minibatch_per_gpu * num_gpus, num_gpus, Gs_kwargs,
                                    np.random.default_rng(FAKE_LATENTS_SEED))
        fakes = self._descriptors(fakes, resolution, resolutions, FAKE_NHOODS_SEED)

        rnd = np.random.default_rng(DIRECTIONS_SEED)
        dists = [sliced_wasserstein(reals[key], desc, DIR_REPEATS, DIRS_PER_REPEAT, rnd) * 1e3
                 for key, desc in zip(keys, fakes)]
        for res, dist in zip(resolutions, dists):
            self._report_result(dist, suffix='_%d' % res, fmt='%-13.4f')
        self._report_result(np.mean(dists), suffix='_avg', fmt='%-13.4f')

    def _descriptors(self, minibatches, resolution, resolutions, seed):
        """The normalized descriptors [num_images * 128, 147] of each level of num_images images of the stream."""
        shape = [self.num_images * NHOODS_PER_IMAGE, 3, NHOOD_SIZE, NHOOD_SIZE]
        desc = [np.empty(shape, np.float32) for _ in resolutions]
        for done, images in self._first_images(minibatches, self.num_images):
            if images.shape[1] == 1:
                images = np.tile(images, [1, 3, 1, 1])  # Grayscale as RGB, as ProGAN feeds it.
            if list(images.shape[1:]) != [3, resolution, resolution]:
                raise ValueError('%s: images of shape %s, expected [3, %d, %d] (the dataset and the network must have '
                                 'the same resolution).' % (self.name, list(images.shape[1:]), resolution, resolution))
            rnds = [np.random.default_rng([seed, done + i]) for i in range(images.shape[0])]
            for lod, level in enumerate(generate_laplacian_pyramid(images, len(resolutions))):
                centers = [random_nhood_centers(rnd, level.shape[2], level.shape[3], NHOOD_SIZE, NHOODS_PER_IMAGE)
                           for rnd in rnds]
                ys, xs = np.stack([c[0] for c in centers]), np.stack([c[1] for c in centers])
                rows = slice(done * NHOODS_PER_IMAGE, (done + images.shape[0]) * NHOODS_PER_IMAGE)
                desc[lod][rows] = get_descriptors(level, ys, xs, NHOOD_SIZE)
        return [finalize_descriptors(d) for d in desc]
