"""Minimal example: load a network pickle and write one generated image to results/example.png.

Usage: python pretrained_example.py NETWORK_PKL [--result-dir results]
NETWORK_PKL is a local path or URL of a StyleGAN2, StyleGAN or ProGAN pickle (e.g. NVIDIA's
stylegan2-ffhq-config-f.pkl or karras2019stylegan-ffhq-1024x1024.pkl). Like StyleGAN's example: seed 5, truncation 0.7
(StyleGAN applies it to its first 8 layers, StyleGAN2 to all; ProGAN has none), random noise inputs.
"""

import argparse
import os

import numpy as np

import dnnlib
import dnnlib.tflib as tflib
import pretrained_networks
from training.images import convert_to_pil_image


def main(argv=None):
    parser = dnnlib.util.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('network_pkl', help='Network pickle: local path or URL')
    parser.add_argument('--result-dir', default='results', help='Where to write example.png (default: %(default)s)')
    args = parser.parse_args(argv)

    # Load the pre-trained networks: G is the instantaneous generator, D the discriminator and
    # Gs the long-term average of the generator, which gives better images.
    print('Loading networks from "%s"...' % args.network_pkl)
    _G, _D, Gs = pretrained_networks.load_snapshot_or_exit(args.network_pkl, flag='NETWORK_PKL')
    Gs.print_layers()

    # Pick latent vectors and generate images, as the original example does.
    rnd = np.random.RandomState(5)
    latents = rnd.randn(1, Gs.input_shape[1])
    fmt = dict(func=tflib.convert_images_to_uint8, nchw_to_nhwc=True)
    images = Gs.run(latents, None, truncation_psi=0.7, randomize_noise=True, output_transform=fmt)

    os.makedirs(args.result_dir, exist_ok=True)
    png_filename = os.path.join(args.result_dir, 'example.png')
    convert_to_pil_image(images[0].transpose(2, 0, 1)).save(png_filename)
    print('Wrote "%s".' % png_filename)


if __name__ == '__main__':
    main()
