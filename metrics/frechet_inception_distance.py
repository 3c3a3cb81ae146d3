"""Frechet Inception Distance (FID): the Frechet distance between Gaussians fitted to the Inception pool_3 features
of num_images fakes and of num_images reals (all_reals: every real image of the dataset, stylegan2-ada's
fid50k_full), as StyleGAN2's fid50k and ProGAN's FID compute it."""

import numpy as np

from metrics import metric_base
from metrics.inception import inception_file, load_inception

FAKE_LATENTS_SEED = 1006


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """|mu1 - mu2|^2 + Tr(sigma1 + sigma2 - 2 sqrtm(sigma1 sigma2)), the real part, as the original.

    Tr sqrtm(sigma1 sigma2) is the sum of the square roots of the eigenvalues of sigma1 sigma2, which are those of
    the symmetric positive semi-definite sqrt(sigma2) sigma1 sqrt(sigma2): computed from that with eigh, they are
    real (rounding errors below zero are clipped), where the square root of the non-symmetric product itself can
    come out complex for singular or nearly singular covariances."""
    mu1, sigma1, mu2, sigma2 = [np.asarray(x, np.float64) for x in (mu1, sigma1, mu2, sigma2)]
    eigvals, eigvecs = np.linalg.eigh(sigma2)
    root2 = (eigvecs * np.sqrt(np.clip(eigvals, 0, None))) @ eigvecs.T
    product = root2 @ sigma1 @ root2
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((product + product.T) / 2), 0, None)).sum()
    return float(np.square(mu1 - mu2).sum() + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)


class FID(metric_base.MetricBase):
    def __init__(self, num_images, minibatch_per_gpu, all_reals=False, **kwargs):
        super().__init__(**kwargs)
        if num_images < 2:
            raise ValueError(f'FID needs num_images >= 2 for a covariance, got {num_images}.')
        self.num_images = num_images
        self.minibatch_per_gpu = minibatch_per_gpu
        self.all_reals = all_reals

    def check_files(self):
        inception_file(self.name)

    def _evaluate(self, Gs, Gs_kwargs, num_gpus):
        minibatch_size = num_gpus * self.minibatch_per_gpu
        inception = load_inception(self.name)

        def statistics(minibatches, num_images, what):
            features = self._collect(lambda images: inception(images, num_gpus)[0], minibatches, num_images, what)
            return dict(mu=np.mean(features, axis=0, dtype=np.float64), sigma=np.cov(features, rowvar=False))

        def reals_statistics():
            num_reals = self._dataset_num_images() if self.all_reals else self.num_images
            return statistics(self._iterate_reals(minibatch_size), num_reals, 'reals')

        settings = dict(all_reals=True) if self.all_reals else dict(num_images=self.num_images)
        reals = self._cached_reals_stats(reals_statistics, inception=inception.fingerprint, **settings)
        fakes = statistics(self._iterate_fakes(Gs, minibatch_size, num_gpus, Gs_kwargs,
                                               np.random.default_rng(FAKE_LATENTS_SEED)), self.num_images, 'fakes')
        self._report_result(frechet_distance(fakes['mu'], fakes['sigma'], reals['mu'], reals['sigma']))
