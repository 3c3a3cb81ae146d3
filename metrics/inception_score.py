"""Inception Score (IS) of num_images fakes: exp(E_x KL(p(y|x) || p(y))) with the Inception network's class
probabilities, on each of num_splits parts of the images; the mean and standard deviation over the parts, as
StyleGAN2's is50k and ProGAN's IS (improved-gan's formula) report them."""

import numpy as np

from metrics import metric_base
from metrics.inception import inception_file, load_inception

FAKE_LATENTS_SEED = 1007


def inception_score(probs, num_splits):
    """(mean, std) over the num_splits parts of probs [N, classes] of exp(mean KL(p(y|x) || mean_x p(y|x)))."""
    probs = np.asarray(probs, np.float64)
    scores = []
    for i in range(num_splits):
        part = probs[i * len(probs) // num_splits:(i + 1) * len(probs) // num_splits]
        marginal = part.mean(axis=0, keepdims=True)
        # 0 log 0 = 0: a probability that float32's softmax rounded to 0 adds nothing (instead of NaN).
        log_part = np.log(part, out=np.zeros_like(part), where=part > 0)
        log_marginal = np.log(marginal, out=np.zeros_like(marginal), where=marginal > 0)
        scores.append(np.exp(np.mean(np.sum(part * (log_part - log_marginal), axis=1))))
    return float(np.mean(scores)), float(np.std(scores))


class IS(metric_base.MetricBase):
    def __init__(self, num_images, num_splits, minibatch_per_gpu, **kwargs):
        super().__init__(**kwargs)
        if not 1 <= num_splits <= num_images:
            raise ValueError(f'IS needs 1 <= num_splits <= num_images, got num_splits={num_splits}, '
                             f'num_images={num_images}.')
        self.num_images = num_images
        self.num_splits = num_splits
        self.minibatch_per_gpu = minibatch_per_gpu

    def check_files(self):
        inception_file(self.name)

    def _evaluate(self, Gs, Gs_kwargs, num_gpus):
        minibatch_size = num_gpus * self.minibatch_per_gpu
        inception = load_inception(self.name)
        fakes = self._iterate_fakes(Gs, minibatch_size, num_gpus, Gs_kwargs, np.random.default_rng(FAKE_LATENTS_SEED))
        probs = self._collect(lambda images: inception(images, num_gpus)[1], fakes, self.num_images, 'fakes')
        mean, std = inception_score(probs, self.num_splits)
        self._report_result(mean, suffix='_mean')
        self._report_result(std, suffix='_std')
