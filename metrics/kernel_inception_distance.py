"""Kernel Inception Distance (KID, stylegan2-ada's kid50k_full): Binkowski et al. 2018, "Demystifying MMD GANs".

The squared maximum mean discrepancy between the Inception pool_3 features (d = 2048) of the fakes and of the reals
under the cubic polynomial kernel k(x, y) = (x . y / d + 1)^3, estimated without bias on random subsets: m fakes and
m reals drawn without replacement (m = max_subset_size, or the smaller set's size), the mean of k over the pairs of
distinct fakes and over the pairs of distinct reals, minus twice the mean of k over the fake-real pairs; the result is
the mean over num_subsets such draws. As stylegan2-ada: the reals are the dataset's first max_reals images (all of
them for kid50k_full), never mirrored.
"""

import numpy as np

from metrics import metric_base
from metrics.inception import inception_file, load_inception

FAKE_LATENTS_SEED = 1010
SUBSETS_SEED = 1011


def kernel_inception_distance(fakes, reals, num_subsets, max_subset_size, rnd):
    """The unbiased MMD^2 estimate with the cubic polynomial kernel, averaged over num_subsets draws from rnd (a numpy
    Generator; for each draw the fakes' indices, then the reals'), in float64."""
    dim = fakes.shape[1]
    m = min(len(fakes), len(reals), max_subset_size)
    total = 0.0
    for _ in range(num_subsets):
        x = np.asarray(fakes[rnd.choice(len(fakes), m, replace=False)], np.float64)
        y = np.asarray(reals[rnd.choice(len(reals), m, replace=False)], np.float64)
        within = (x @ x.T / dim + 1) ** 3 + (y @ y.T / dim + 1) ** 3
        across = (x @ y.T / dim + 1) ** 3
        total += (within.sum() - np.trace(within)) / (m * (m - 1)) - 2 * across.mean()
    return total / num_subsets


class KID(metric_base.MetricBase):
    """num_images fakes against the first max_reals reals (fewer if the dataset is smaller)."""

    def __init__(self, num_images, max_reals, num_subsets, max_subset_size, minibatch_per_gpu, **kwargs):
        super().__init__(**kwargs)
        if min(num_images, max_reals, max_subset_size) < 2:
            raise ValueError(f'KID needs at least 2 fakes, reals and images per subset, got num_images={num_images}, '
                             f'max_reals={max_reals}, max_subset_size={max_subset_size}.')
        self.num_images = num_images
        self.max_reals = max_reals
        self.num_subsets = num_subsets
        self.max_subset_size = max_subset_size
        self.minibatch_per_gpu = minibatch_per_gpu

    def check_files(self):
        inception_file(self.name)

    def _evaluate(self, Gs, Gs_kwargs, num_gpus):
        minibatch_size = num_gpus * self.minibatch_per_gpu
        inception = load_inception(self.name)

        def features(minibatches, num_images, what):
            return self._collect(lambda images: inception(images, num_gpus)[0], minibatches, num_images, what)

        def reals_features():
            num_reals = min(self._dataset_num_images(), self.max_reals)
            return dict(features=features(self._iterate_reals(minibatch_size), num_reals, 'reals'))

        reals = self._cached_reals_stats(reals_features, inception=inception.fingerprint, max_reals=self.max_reals)
        fakes = features(self._iterate_fakes(Gs, minibatch_size, num_gpus, Gs_kwargs,
                                             np.random.default_rng(FAKE_LATENTS_SEED)), self.num_images, 'fakes')
        kid = kernel_inception_distance(fakes, reals['features'], self.num_subsets, self.max_subset_size,
                                        np.random.default_rng(SUBSETS_SEED))
        self._report_result(kid, fmt='%-10.6f')  # Values are around 1e-3: four decimals would hide them.
