# The metrics of StyleGAN2, StyleGAN and ProGAN (FID, IS, PPL, precision/recall, SWD, MS-SSIM); see metric_defaults.py.
