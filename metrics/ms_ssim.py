"""Multi-scale structural similarity (MS-SSIM, Wang et al. 2003), ProGAN's diversity metric: the mean MS-SSIM of
consecutive pairs of images (the 1st with the 2nd, the 3rd with the 4th, ...), for the fakes and, as ProGAN's
'Reals' row, for the reals in file order. Lower means more varied images.

Per scale: an 11x11 Gaussian window (sigma 1.5; both shrunk in proportion when the image is smaller than 11 pixels),
'valid' filtering per color channel, k1=0.01, k2=0.03 and a dynamic range of 255; 2x2 box averages to the next of
the 5 scales, weighted 0.0448, 0.2856, 0.3001, 0.2363, 0.1333 (the paper's weights, which do not sum to 1). The
contrast-structure terms of the first 4 scales and the full SSIM of the last are clipped at 0 and combined per pair.
The fakes' latents, labels and noise seeds come from default_rng(FAKE_LATENTS_SEED).
"""

import numpy as np

from metrics import metric_base
from metrics.filters import correlate_valid

FAKE_LATENTS_SEED = 1005
_DEFAULT_WEIGHTS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]


def _gaussian_taps(size, sigma):
    """1-D taps whose outer product is MATLAB's fspecial('gaussian', size, sigma): centered, even sizes too."""
    x = np.arange(size) - (size - 1) / 2
    taps = np.exp(-x ** 2 / (2 * sigma ** 2))
    return taps / taps.sum()


def _filter_valid(images, taps):
    """'valid' correlation of NHWC images with the separable window taps x taps (symmetric, so also convolution)."""
    return correlate_valid(correlate_valid(images, taps, axis=1), taps, axis=2)


def _ssim_and_cs(img1, img2, max_val, filter_size, filter_sigma, k1, k2):
    """Per image of the NHWC float64 batches: the mean SSIM and the mean contrast-structure term."""
    size = min(filter_size, img1.shape[1], img1.shape[2])
    taps = _gaussian_taps(size, size * filter_sigma / filter_size)
    mu1, mu2 = _filter_valid(img1, taps), _filter_valid(img2, taps)
    sigma11 = _filter_valid(img1 * img1, taps) - mu1 * mu1
    sigma22 = _filter_valid(img2 * img2, taps) - mu2 * mu2
    sigma12 = _filter_valid(img1 * img2, taps) - mu1 * mu2
    c1 = (k1 * max_val) ** 2
    c2 = (k2 * max_val) ** 2
    v1 = 2 * sigma12 + c2
    v2 = sigma11 + sigma22 + c2
    ssim = np.mean((2 * mu1 * mu2 + c1) * v1 / ((mu1 * mu1 + mu2 * mu2 + c1) * v2), axis=(1, 2, 3))
    cs = np.mean(v1 / v2, axis=(1, 2, 3))
    return ssim, cs


def _box_downsample(images):
    return (images[:, 0::2, 0::2] + images[:, 1::2, 0::2] + images[:, 0::2, 1::2] + images[:, 1::2, 1::2]) * 0.25


def msssim(img1, img2, max_val=255, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03, weights=None):
    """The mean MS-SSIM of the pairs (img1[i], img2[i]) of two NHWC batches; weights: one per scale (default: the
    paper's 5). filter_size >= 1. Height and width must be divisible by 2^(scales - 1) (16 for 5 scales), so that
    every scale has whole 2x2 blocks to average and at least one pixel."""
    if img1.shape != img2.shape or img1.ndim != 4:
        raise ValueError('msssim: two NHWC batches of the same shape needed, got %s and %s.' % (img1.shape, img2.shape))
    weights = np.array(weights if weights else _DEFAULT_WEIGHTS)
    factor = 2 ** (weights.size - 1)
    if img1.shape[1] % factor or img1.shape[2] % factor or min(img1.shape[1:3]) < factor:
        raise ValueError('MS-SSIM with %d scales needs a height and width divisible by %d; the images are %dx%d.'
                         % (weights.size, factor, img1.shape[1], img1.shape[2]))
    im1, im2 = np.float64(img1), np.float64(img2)
    mssim, mcs = [], []
    for scale in range(weights.size):
        if scale:
            im1, im2 = _box_downsample(im1), _box_downsample(im2)
        ssim, cs = _ssim_and_cs(im1, im2, max_val, filter_size, filter_sigma, k1, k2)
        mssim.append(ssim)
        mcs.append(cs)
    # Negative terms would give NaN under the fractional powers.
    mssim = np.clip(np.asarray(mssim), 0, np.inf)
    mcs = np.clip(np.asarray(mcs), 0, np.inf)
    scores = np.prod(mcs[:-1] ** weights[:-1, np.newaxis], axis=0) * mssim[-1] ** weights[-1]
    return float(np.mean(scores))


class MSSSIM(metric_base.MetricBase):
    """Results '<name>' (the fakes) and '<name>_reals' (the reals, computed once and cached)."""

    def __init__(self, num_images, minibatch_per_gpu, **kwargs):
        if num_images % 2 or minibatch_per_gpu % 2:
            raise ValueError('MS-SSIM compares pairs of images: num_images (%d) and minibatch_per_gpu (%d) must be '
                             'even.'
                             % (num_images, minibatch_per_gpu))
        super().__init__(**kwargs)
        self.num_images = num_images
        self.minibatch_per_gpu = minibatch_per_gpu

    def _evaluate(self, Gs, Gs_kwargs, num_gpus):
        reals = self._cached_reals_stats(
            lambda: dict(msssim=np.float64(self._mean_msssim(self._iterate_reals(self.minibatch_per_gpu)))),
            num_images=self.num_images)
        fakes = self._mean_msssim(self._iterate_fakes(Gs, self.minibatch_per_gpu * num_gpus, num_gpus, Gs_kwargs,
                                                      np.random.default_rng(FAKE_LATENTS_SEED)))
        self._report_result(fakes)
        self._report_result(reals['msssim'], suffix='_reals')

    def _mean_msssim(self, minibatches):
        """The mean MS-SSIM of the consecutive pairs of the stream's first num_images images."""
        total = 0.0
        for _, images in self._first_images(minibatches, self.num_images):
            images = images.transpose(0, 2, 3, 1)
            total += msssim(images[0::2], images[1::2]) * (images.shape[0] // 2)
        return total / (self.num_images // 2)
