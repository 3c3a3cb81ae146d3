"""Generate images from a StyleGAN2, StyleGAN or ProGAN network pickle: per-seed images and style-mixing grids.

The same commands, arguments and output files as NVIDIA's run_generator.py; run with --help.
"""

import argparse

import numpy as np
import PIL.Image

import dnnlib
import dnnlib.tflib as tflib
import pretrained_networks
from training.images import convert_to_pil_image


def to_pil(image: np.ndarray) -> PIL.Image.Image:
    """An HWC uint8 image (3 channels or 1) as a PIL image."""
    return convert_to_pil_image(image.transpose(2, 0, 1))


def generate_images(network_pkl, seeds, truncation_psi):
    print('Loading networks from "%s"...' % network_pkl)
    _G, _D, Gs = pretrained_networks.load_networks(network_pkl)
    noise_vars = [var for name, var in Gs.vars.items() if name.startswith('G_synthesis/noise')]  # None in ProGAN.

    Gs_kwargs = dnnlib.EasyDict()
    Gs_kwargs.output_transform = dict(func=tflib.convert_images_to_uint8, nchw_to_nhwc=True)
    Gs_kwargs.randomize_noise = False
    if truncation_psi is not None:
        Gs_kwargs.truncation_psi = truncation_psi
        if 'dlatent_avg' not in Gs.vars and truncation_psi != 1:
            print('Note: this generator (%s) has no truncation; --truncation-psi has no effect.' % Gs.build_func_name)

    for seed_idx, seed in enumerate(seeds):
        print('Generating image for seed %d (%d/%d) ...' % (seed, seed_idx, len(seeds)), flush=True)
        # The seed draws z first, then every noise map in order: the same images as the original.
        rnd = np.random.RandomState(seed)
        z = rnd.randn(1, *Gs.input_shape[1:])
        tflib.set_vars({var: rnd.randn(*var.shape.as_list()) for var in noise_vars})
        images = Gs.run(z, None, **Gs_kwargs)  # [minibatch, height, width, channel]
        to_pil(images[0]).save(dnnlib.make_run_dir_path('seed%04d.png' % seed))


def style_mixing_example(network_pkl, row_seeds, col_seeds, truncation_psi, col_styles, minibatch_size=4):
    print('Loading networks from "%s"...' % network_pkl)
    _G, _D, Gs = pretrained_networks.load_networks(network_pkl)
    w_avg = Gs.get_var('dlatent_avg')  # [component]

    Gs_syn_kwargs = dnnlib.EasyDict()
    Gs_syn_kwargs.output_transform = dict(func=tflib.convert_images_to_uint8, nchw_to_nhwc=True)
    Gs_syn_kwargs.randomize_noise = False
    Gs_syn_kwargs.minibatch_size = minibatch_size

    print('Generating W vectors...')
    all_seeds = list(set(row_seeds + col_seeds))
    all_z = np.stack([np.random.RandomState(seed).randn(*Gs.input_shape[1:]) for seed in all_seeds])
    all_w = Gs.components.mapping.run(all_z, None)  # [minibatch, layer, component]
    all_w = w_avg + (all_w - w_avg) * truncation_psi  # Truncate every layer.
    w_dict = dict(zip(all_seeds, list(all_w)))

    print('Generating images...')
    all_images = Gs.components.synthesis.run(all_w, **Gs_syn_kwargs)  # [minibatch, height, width, channel]
    image_dict = {(seed, seed): image for seed, image in zip(all_seeds, list(all_images))}

    print('Generating style-mixed images...')
    for row_seed in row_seeds:
        for col_seed in col_seeds:
            print('Mixing row seed %d with column seed %d ...' % (row_seed, col_seed), flush=True)
            w = w_dict[row_seed].copy()
            w[col_styles] = w_dict[col_seed][col_styles]
            image_dict[(row_seed, col_seed)] = Gs.components.synthesis.run(w[np.newaxis], **Gs_syn_kwargs)[0]

    print('Saving images...')
    for (row_seed, col_seed), image in image_dict.items():
        to_pil(image).save(dnnlib.make_run_dir_path('%d-%d.png' % (row_seed, col_seed)))

    print('Saving image grid...')
    _N, _C, H, W = Gs.output_shape
    canvas = PIL.Image.new('RGB', (W * (len(col_seeds) + 1), H * (len(row_seeds) + 1)), 'black')
    for row_idx, row_seed in enumerate([None] + row_seeds):
        for col_idx, col_seed in enumerate([None] + col_seeds):
            if row_seed is None and col_seed is None:
                continue  # The corner stays black.
            key = (row_seed if row_seed is not None else col_seed, col_seed if col_seed is not None else row_seed)
            canvas.paste(to_pil(image_dict[key]).convert('RGB'), (W * col_idx, H * row_idx))
    canvas.save(dnnlib.make_run_dir_path('grid.png'))


def check_args(subcmd, network_pkl, col_styles=(), **_kwargs):
    """What can be checked before the run directory is made: the pickle, and the styles of style mixing."""
    _G, _D, Gs = pretrained_networks.load_snapshot_or_exit(
        network_pkl, style_based_for='style-mixing-example' if subcmd == 'style-mixing-example' else None)
    if subcmd == 'style-mixing-example':
        num_layers = Gs.components.synthesis.input_shape[1]
        bad_styles = [s for s in col_styles if not 0 <= s < num_layers]
        if bad_styles:
            dnnlib.util.exit_with_error(f'--col-styles: this network has styles 0-{num_layers - 1}, got {bad_styles}.')


_examples = '''examples:

  # Uncurated images from a network pickle (paper Figure 12 with NVIDIA's FFHQ config-f pickle)
  python %(prog)s generate-images --network=stylegan2-ffhq-config-f.pkl --seeds=6600-6625 --truncation-psi=0.5

  # Curated images without truncation (paper Figure 11)
  python %(prog)s generate-images --network=stylegan2-ffhq-config-f.pkl --seeds=66,230,389,1518 --truncation-psi=1.0

  # Style mixing grid (the style mixing video clip)
  python %(prog)s style-mixing-example --network=stylegan2-ffhq-config-f.pkl --row-seeds=85,100,75,458,1500 \\
      --col-seeds=55,821,1789,293 --truncation-psi=1.0

--network takes a local path, a URL, or NVIDIA's names like gdrive:networks/stylegan2-ffhq-config-f.pkl
(downloaded once into .stylegan2-cache; offline, download the file yourself and pass its path).
'''


def main(argv=None):
    parser = dnnlib.util.ArgumentParser(
        description='''StyleGAN2 generator.

Run 'python %(prog)s <subcommand> --help' for subcommand help.''',
        epilog=_examples,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(help='Sub-commands', dest='command')

    parser_generate_images = subparsers.add_parser('generate-images', help='Generate images')
    parser_generate_images.add_argument('--network', help='Network pickle filename', dest='network_pkl', required=True)
    parser_generate_images.add_argument('--seeds', type=dnnlib.util.parse_num_range, help='List of random seeds', required=True)
    parser_generate_images.add_argument('--truncation-psi', type=float, help='Truncation psi (default: %(default)s)', default=0.5)
    parser_generate_images.add_argument('--result-dir', help='Root directory for run results (default: %(default)s)',
                                        default='results', metavar='DIR')

    parser_style_mixing = subparsers.add_parser('style-mixing-example', help='Generate style mixing video')
    parser_style_mixing.add_argument('--network', help='Network pickle filename', dest='network_pkl', required=True)
    parser_style_mixing.add_argument('--row-seeds', type=dnnlib.util.parse_num_range, help='Random seeds to use for image rows',
                                     required=True)
    parser_style_mixing.add_argument('--col-seeds', type=dnnlib.util.parse_num_range, help='Random seeds to use for image columns',
                                     required=True)
    parser_style_mixing.add_argument('--col-styles', type=dnnlib.util.parse_num_range, help='Style layer range (default: %(default)s)',
                                     default='0-6')
    parser_style_mixing.add_argument('--truncation-psi', type=float, help='Truncation psi (default: %(default)s)', default=0.5)
    parser_style_mixing.add_argument('--result-dir', help='Root directory for run results (default: %(default)s)',
                                     default='results', metavar='DIR')

    kwargs = vars(parser.parse_args(argv))
    subcmd = kwargs.pop('command')
    if subcmd is None:
        dnnlib.util.exit_with_error('missing subcommand.  Re-run with --help for usage.')
    check_args(subcmd, **kwargs)

    sc = dnnlib.SubmitConfig()
    sc.num_gpus = 1
    sc.run_dir_root = kwargs.pop('result_dir')
    sc.run_desc = subcmd
    func_name_map = {
        'generate-images': 'run_generator.generate_images',
        'style-mixing-example': 'run_generator.style_mixing_example',
    }
    dnnlib.submit_run(sc, func_name_map[subcmd], **kwargs)


if __name__ == '__main__':
    main()
