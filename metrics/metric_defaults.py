"""The metrics by name (train.py --metrics, run_metrics.py --metrics), with the originals' settings.

StyleGAN2's: fid50k, is50k, ppl_zfull, ppl_wfull, ppl_zend, ppl_wend, ppl2_wend, ls, pr50k3; stylegan2-ada's *_full
metrics (50000 fakes against every real image, up to 1000000 for kid50k_full and 200000 for pr50k3_full, never
mirrored): fid50k_full, kid50k_full, pr50k3_full (is50k and ppl2_wend are ada's too, under the same names); ProGAN's
sliced Wasserstein distance and MS-SSIM at the image counts of its config.py (swd16k: 16384, msssim20k: 20000), and
swd1k, the same SWD on 1024 images for small datasets and quick checks (not an original setting: its values are
noisier than swd16k's and not comparable with the paper's).
"""

from dnnlib import EasyDict

_ppl = dict(func_name='metrics.perceptual_path_length.PPL', num_samples=50000, epsilon=1e-4, minibatch_per_gpu=4,
            Gs_overrides=dict(dtype='float32', mapping_dtype='float32'))

metric_defaults = EasyDict([(args.name, args) for args in [
    EasyDict(name='fid50k', func_name='metrics.frechet_inception_distance.FID', num_images=50000, minibatch_per_gpu=8),
    EasyDict(name='fid50k_full', func_name='metrics.frechet_inception_distance.FID', num_images=50000, minibatch_per_gpu=8,
             all_reals=True, mirror_reals=False),
    EasyDict(name='kid50k_full', func_name='metrics.kernel_inception_distance.KID', num_images=50000, max_reals=1000000,
             num_subsets=100, max_subset_size=1000, minibatch_per_gpu=8, mirror_reals=False),
    EasyDict(name='is50k', func_name='metrics.inception_score.IS', num_images=50000, num_splits=10, minibatch_per_gpu=8),
    EasyDict(name='ppl_zfull', space='z', sampling='full', crop=True, **_ppl),
    EasyDict(name='ppl_wfull', space='w', sampling='full', crop=True, **_ppl),
    EasyDict(name='ppl_zend', space='z', sampling='end', crop=True, **_ppl),
    EasyDict(name='ppl_wend', space='w', sampling='end', crop=True, **_ppl),
    EasyDict(name='ppl2_wend', space='w', sampling='end', crop=False, **_ppl),
    EasyDict(name='ls', func_name='metrics.linear_separability.LS', num_samples=200000, num_keep=100000,
             attrib_indices=range(40), minibatch_per_gpu=4),
    EasyDict(name='pr50k3', func_name='metrics.precision_recall.PR', num_images=50000, nhood_size=3, minibatch_per_gpu=8,
             row_batch_size=10000, col_batch_size=10000),
    EasyDict(name='pr50k3_full', func_name='metrics.precision_recall.PR', num_images=50000, max_reals=200000,
             nhood_size=3, minibatch_per_gpu=8, row_batch_size=10000, col_batch_size=10000, mirror_reals=False),
    EasyDict(name='swd16k', func_name='metrics.sliced_wasserstein.SWD', num_images=16384, minibatch_per_gpu=32),
    EasyDict(name='swd1k', func_name='metrics.sliced_wasserstein.SWD', num_images=1024, minibatch_per_gpu=32),
    EasyDict(name='msssim20k', func_name='metrics.ms_ssim.MSSSIM', num_images=20000, minibatch_per_gpu=8),
]])
