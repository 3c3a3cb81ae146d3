"""Draw the StyleGAN paper's figures from a StyleGAN or StyleGAN2 network pickle.

The figures, seeds, settings and file names of NVIDIA's generate_figures.py (StyleGAN, 2019), drawn from the one
network you pass instead of NVIDIA's downloads, at that network's image size. Run with --help.
"""

import argparse
import re

import numpy as np
import PIL.Image

import dnnlib
import dnnlib.tflib as tflib
import pretrained_networks
from training.images import convert_to_pil_image
from training.layers import noise_variables

synthesis_kwargs = dict(output_transform=dict(func=tflib.convert_images_to_uint8, nchw_to_nhwc=True), minibatch_size=8)


def to_pil(image):
    """An HWC uint8 image as an RGB PIL image (a one-channel network's images become gray RGB)."""
    return convert_to_pil_image(image.transpose(2, 0, 1)).convert('RGB')


def seed_latents(Gs, seeds):
    """One latent per seed, each drawn first from its own RandomState as in the paper's figures."""
    return np.stack([np.random.RandomState(seed).randn(Gs.input_shape[1]) for seed in seeds])


# ----------------------------------------------------------------------------
# Figures 2, 10, 11, 12: uncurated images, in columns of decreasing size.


def fit_crop(Gs, cx, cy, cw, ch):
    """The crop box (cx, cy, cw, ch) when it lies inside the network's images, otherwise the whole image: the
    figures' crops are given in the pixels of NVIDIA's networks (1024, 256, or 512 for cars)."""
    _N, _C, height, width = Gs.output_shape
    if cx >= 0 and cy >= 0 and cx + cw <= width and cy + ch <= height:
        return cx, cy, cw, ch
    return 0, 0, width, height


def draw_uncurated_result_figure(png, Gs, cx, cy, cw, ch, rows, lods, seed):
    print(png, flush=True)
    cx, cy, cw, ch = fit_crop(Gs, cx, cy, cw, ch)
    # Column `lod` holds rows * 2**lod images at 1/2**lod size; all latents come from one seed, column by column.
    latents = np.random.RandomState(seed).randn(sum(rows * 2 ** lod for lod in lods), Gs.input_shape[1])
    images = iter(Gs.run(latents, None, **synthesis_kwargs))  # The network's own truncation and random noise.

    canvas = PIL.Image.new('RGB', (sum(cw // 2 ** lod for lod in lods), ch * rows), 'white')
    x = 0
    for lod in lods:
        for row in range(rows * 2 ** lod):
            tile = to_pil(next(images)).crop((cx, cy, cx + cw, cy + ch))
            tile = tile.resize((cw // 2 ** lod, ch // 2 ** lod), PIL.Image.LANCZOS)
            canvas.paste(tile, (x, row * ch // 2 ** lod))
        x += cw // 2 ** lod
    canvas.save(png)


# ----------------------------------------------------------------------------
# Figure 3: style mixing.


def draw_style_mixing_figure(png, Gs, w, h, src_seeds, dst_seeds, style_ranges):
    print(png, flush=True)
    num_layers = Gs.components.synthesis.input_shape[1]
    src_dlatents = Gs.components.mapping.run(seed_latents(Gs, src_seeds), None)  # [seed, layer, component]
    dst_dlatents = Gs.components.mapping.run(seed_latents(Gs, dst_seeds), None)
    src_images = Gs.components.synthesis.run(src_dlatents, randomize_noise=False, **synthesis_kwargs)
    dst_images = Gs.components.synthesis.run(dst_dlatents, randomize_noise=False, **synthesis_kwargs)

    # Sources along the top, destinations down the left; the corner stays white.
    canvas = PIL.Image.new('RGB', (w * (len(src_seeds) + 1), h * (len(dst_seeds) + 1)), 'white')
    for col, image in enumerate(src_images):
        canvas.paste(to_pil(image), ((col + 1) * w, 0))
    for row, image in enumerate(dst_images):
        canvas.paste(to_pil(image), (0, (row + 1) * h))
        # The destination's dlatents with the row's layers taken from each source; layers past the network's are dropped.
        layers = [layer for layer in style_ranges[row] if layer < num_layers]
        mixed = np.repeat(dst_dlatents[row][np.newaxis], len(src_seeds), axis=0)
        mixed[:, layers] = src_dlatents[:, layers]
        for col, image in enumerate(Gs.components.synthesis.run(mixed, randomize_noise=False, **synthesis_kwargs)):
            canvas.paste(to_pil(image), ((col + 1) * w, (row + 1) * h))
    canvas.save(png)


# ----------------------------------------------------------------------------
# Figure 4: what the noise inputs change.


def noise_detail_box(w, h):
    """The paper's crop (650, 180, 906, 436) of a 1024x1024 image, scaled to a w x h image (rounded to pixels)."""
    def scale(value, size):
        return int(np.floor(value * size / 1024 + 0.5))
    return scale(650, w), scale(180, h), scale(906, w), scale(436, h)


def draw_noise_detail_figure(png, Gs, w, h, num_samples, seeds):
    print(png, flush=True)
    box = noise_detail_box(w, h)
    canvas = PIL.Image.new('RGB', (w * 3, h * len(seeds)), 'white')
    for row, seed in enumerate(seeds):
        # One latent, num_samples fresh noise draws: only the noise differs between the images.
        latents = np.repeat(seed_latents(Gs, [seed]), num_samples, axis=0)
        images = Gs.run(latents, None, truncation_psi=1, **synthesis_kwargs)
        canvas.paste(to_pil(images[0]), (0, row * h))
        # The same detail of four other draws, magnified 2x, in a 2x2 block.
        for i in range(4):
            detail = to_pil(images[i + 1]).crop(box).resize((w // 2, h // 2), PIL.Image.NEAREST)
            canvas.paste(detail, (w + (i % 2) * w // 2, row * h + (i // 2) * h // 2))
        # Per-pixel standard deviation of the gray level over all draws, amplified 4x.
        std = np.std(np.mean(images, axis=3), axis=0) * 4
        canvas.paste(PIL.Image.fromarray(np.clip(std + 0.5, 0, 255).astype(np.uint8), 'L'), (w * 2, row * h))
    canvas.save(png)


# ----------------------------------------------------------------------------
# Figure 5: noise on all, no, fine and coarse layers.


def draw_noise_components_figure(png, Gs, w, h, seeds, noise_ranges, flips):
    print(png, flush=True)
    Gsc = Gs.clone()  # Its noise maps are zeroed below; the caller's (and the load cache's) stay as they are.
    noise_pairs = [(var, var.numpy()) for var in noise_variables(Gsc.components.synthesis)]
    latents = seed_latents(Gs, seeds)
    range_images = []  # [noise range][seed] -> image
    for noise_range in noise_ranges:
        # Layers outside the range get a zero noise map; ranges past the network's layers simply find none there.
        tflib.set_vars({var: value * (1 if layer in noise_range else 0) for layer, (var, value) in enumerate(noise_pairs)})
        images = Gsc.run(latents, None, truncation_psi=1, randomize_noise=False, **synthesis_kwargs)
        images[flips] = images[flips, :, ::-1]  # Mirrored, as in the paper.
        range_images.append(images)

    # Per seed a w x h cell: top left half of range 0, top right half of range 1, bottom likewise ranges 2 and 3.
    canvas = PIL.Image.new('RGB', (w * len(seeds), h * 2), 'white')
    halves = [(0, w // 2), (w // 2, w)]  # Left, right.
    for col in range(len(seeds)):
        for index, images in enumerate(range_images[:4]):
            x0, x1 = halves[index % 2]
            canvas.paste(to_pil(images[col]).crop((x0, 0, x1, h)), (col * w + x0, (index // 2) * h))
    canvas.save(png)


# ----------------------------------------------------------------------------
# Figure 8: the truncation trick in W.


def draw_truncation_trick_figure(png, Gs, w, h, seeds, psis):
    print(png, flush=True)
    dlatents = Gs.components.mapping.run(seed_latents(Gs, seeds), None)  # [seed, layer, component]
    dlatent_avg = Gs.get_var('dlatent_avg')  # [component]

    canvas = PIL.Image.new('RGB', (w * len(psis), h * len(seeds)), 'white')
    for row, dlatent in enumerate(dlatents):
        # Every layer truncated (unlike StyleGAN's own cutoff at layer 8): one psi per column.
        row_dlatents = dlatent_avg + (dlatent[np.newaxis] - dlatent_avg) * np.reshape(psis, [-1, 1, 1])
        for col, image in enumerate(Gs.components.synthesis.run(row_dlatents, randomize_noise=False, **synthesis_kwargs)):
            canvas.paste(to_pil(image), (col * w, row * h))
    canvas.save(png)


# ----------------------------------------------------------------------------
# The paper's figures: file name -> how to draw it from a network with w x h images.

FIGURES = {
    'figure02-uncurated-ffhq': lambda png, Gs, w, h: draw_uncurated_result_figure(
        png, Gs, cx=0, cy=0, cw=1024, ch=1024, rows=3, lods=[0, 1, 2, 2, 3, 3], seed=5),
    'figure03-style-mixing': lambda png, Gs, w, h: draw_style_mixing_figure(
        png, Gs, w, h, src_seeds=[639, 701, 687, 615, 2268], dst_seeds=[888, 829, 1898, 1733, 1614, 845],
        style_ranges=[range(0, 4)] * 3 + [range(4, 8)] * 2 + [range(8, 18)]),
    'figure04-noise-detail': lambda png, Gs, w, h: draw_noise_detail_figure(
        png, Gs, w, h, num_samples=100, seeds=[1157, 1012]),
    'figure05-noise-components': lambda png, Gs, w, h: draw_noise_components_figure(
        png, Gs, w, h, seeds=[1967, 1555], noise_ranges=[range(0, 18), range(0, 0), range(8, 18), range(0, 8)], flips=[1]),
    'figure08-truncation-trick': lambda png, Gs, w, h: draw_truncation_trick_figure(
        png, Gs, w, h, seeds=[91, 388], psis=[1, 0.7, 0.5, 0, -0.5, -1]),
    'figure10-uncurated-bedrooms': lambda png, Gs, w, h: draw_uncurated_result_figure(
        png, Gs, cx=0, cy=0, cw=256, ch=256, rows=5, lods=[0, 0, 1, 1, 2, 2, 2], seed=0),
    'figure11-uncurated-cars': lambda png, Gs, w, h: draw_uncurated_result_figure(
        png, Gs, cx=0, cy=64, cw=512, ch=384, rows=4, lods=[0, 1, 2, 2, 3, 3], seed=2),
    'figure12-uncurated-cats': lambda png, Gs, w, h: draw_uncurated_result_figure(
        png, Gs, cx=0, cy=0, cw=256, ch=256, rows=5, lods=[0, 0, 1, 1, 2, 2, 2], seed=1),
}
DEFAULT_FIGURES = '2,3,4,5,8'  # The FFHQ figures; 10, 11 and 12 are the bedrooms, cars and cats networks'.


def figure_names(stem):
    """The names --figures takes for a figure: 'figure03-style-mixing', '3', '03', 'style-mixing'."""
    number, label = re.fullmatch(r'figure(\d+)-(.+)', stem).groups()
    return {stem, number, str(int(number)), label}


def parse_figures(spec):
    """(file stems of a comma list of figure names, in the order given and each once; the names that are unknown)."""
    stems, unknown = [], []
    for name in spec.split(','):
        key = name.strip().lower()
        key = key[:-len('.png')] if key.endswith('.png') else key
        matches = [stem for stem in FIGURES if key in figure_names(stem)]
        if not matches:
            unknown.append(name)
        stems += [stem for stem in matches if stem not in stems]
    return stems, unknown


def generate_figures(network_pkl, figures):
    print('Loading networks from "%s"...' % network_pkl)
    _G, _D, Gs = pretrained_networks.load_networks(network_pkl)
    _N, _C, h, w = Gs.output_shape
    for stem in figures:
        FIGURES[stem](dnnlib.make_run_dir_path(stem + '.png'), Gs, w, h)


_examples = '''examples:

  # The paper's FFHQ figures 2, 3, 4, 5 and 8 (results/00000-generate-figures/figure02-uncurated-ffhq.png ...)
  python %(prog)s --network=karras2019stylegan-ffhq-1024x1024.pkl

  # The uncurated figures of the other datasets, each from its own network
  python %(prog)s --network=karras2019stylegan-bedrooms-256x256.pkl --figures=10
  python %(prog)s --network=karras2019stylegan-cars-512x384.pkl --figures=11
  python %(prog)s --network=karras2019stylegan-cats-256x256.pkl --figures=12

Figure names: the file name without .png (figure03-style-mixing), its number (3 or 03) or the rest of it
(style-mixing). Figures are drawn at the network's image size; crops the network's images cannot hold (e.g.
the FFHQ figures' 1024x1024 crop on a 256x256 network) take the whole image instead, and style or noise layer
ranges beyond a smaller network's layers are cut to the layers it has.
'''


def main(argv=None):
    valid = ', '.join(FIGURES)
    parser = dnnlib.util.ArgumentParser(
        description='Draw the StyleGAN paper\'s figures from a StyleGAN or StyleGAN2 network pickle.',
        epilog=_examples, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--network', help='Network pickle filename', dest='network_pkl', required=True)
    parser.add_argument('--figures', help='Comma list of figures to draw (default: %(default)s), from: ' + valid,
                        default=DEFAULT_FIGURES, metavar='NAMES')
    parser.add_argument('--result-dir', help='Root directory for run results (default: %(default)s)', default='results',
                        metavar='DIR')
    args = parser.parse_args(argv)

    # Everything that can be wrong is found before the run directory is made.
    figures, unknown = parse_figures(args.figures)
    if unknown:
        dnnlib.util.exit_with_error(f'--figures: no figure named {", ".join(map(repr, unknown))}; the figures are {valid} '
                                    '(also by number, e.g. 3, or without "figureNN-", e.g. style-mixing).')
    pretrained_networks.load_snapshot_or_exit(args.network_pkl, style_based_for='generate_figures.py')

    sc = dnnlib.SubmitConfig()
    sc.num_gpus = 1
    sc.run_dir_root = args.result_dir
    sc.run_desc = 'generate-figures'
    dnnlib.submit_run(sc, 'generate_figures.generate_figures', network_pkl=args.network_pkl, figures=figures)


if __name__ == '__main__':
    main()
