"""Generate images from a StyleGAN2, StyleGAN or ProGAN network pickle: per-seed images and style-mixing grids.

The same commands, arguments and output files as NVIDIA's run_generator.py; run with --help.
"""

import argparse
import os

import numpy as np
import PIL.Image

import dnnlib
import dnnlib.tflib as tflib
import pretrained_networks
import projector
from training import latent_walks, video
from training.images import convert_to_pil_image, save_image_grid
from training.layers import noise_variables


def to_pil(image: np.ndarray) -> PIL.Image.Image:
    """An HWC uint8 image (3 channels or 1) as a PIL image."""
    return convert_to_pil_image(image.transpose(2, 0, 1))


def uint8_kwargs(Gs, truncation_psi, shrink=1):
    """Gs.run arguments for uint8 NHWC images with the stored noise maps and the given truncation."""
    kwargs = dnnlib.EasyDict(output_transform=dict(func=tflib.convert_images_to_uint8, nchw_to_nhwc=True, shrink=shrink))
    kwargs.randomize_noise = False
    if truncation_psi is not None:
        kwargs.truncation_psi = truncation_psi
        if 'dlatent_avg' not in Gs.vars and truncation_psi != 1:
            print('Note: this generator (%s) has no truncation; --truncation-psi has no effect.' % Gs.build_func_name)
    return kwargs


class Renderer:
    """Synthesis of dlatents with given noise maps (a projection's) or the network's stored ones."""

    def __init__(self, Gs):
        self.synthesis = Gs.components.synthesis
        self.noise_vars = noise_variables(Gs.components.synthesis)
        self.stored_noises = [var.numpy() for var in self.noise_vars]

    def render(self, dlatents, noises=None, output_transform=None):
        """Images of dlatents [N, num_layers, dlatent_size] (float NCHW, or what output_transform makes)."""
        tflib.set_vars(dict(zip(self.noise_vars, self.stored_noises if noises is None else noises)))
        return self.synthesis.run(dlatents, randomize_noise=False, output_transform=output_transform)


def projection_name(path):
    return os.path.splitext(os.path.basename(path))[0]


def generate_images(network_pkl, seeds, truncation_psi, dlatents_npzs=None):
    print('Loading networks from "%s"...' % network_pkl)
    _G, _D, Gs = pretrained_networks.load_networks(network_pkl)
    if dlatents_npzs:
        render_projections(Gs, dlatents_npzs)
        return
    noise_vars = noise_variables(Gs.components.synthesis) if 'synthesis' in Gs.components else []  # None in ProGAN.
    Gs_kwargs = uint8_kwargs(Gs, truncation_psi)
    for seed_idx, seed in enumerate(seeds):
        print('Generating image for seed %d (%d/%d) ...' % (seed, seed_idx, len(seeds)), flush=True)
        # The seed draws z first, then every noise map in order: the same images as the original.
        rnd = np.random.RandomState(seed)
        z = rnd.randn(1, *Gs.input_shape[1:])
        tflib.set_vars({var: rnd.randn(*var.shape.as_list()) for var in noise_vars})
        images = Gs.run(z, None, **Gs_kwargs)  # [minibatch, height, width, channel]
        to_pil(images[0]).save(dnnlib.make_run_dir_path('seed%04d.png' % seed))


def render_projections(Gs, dlatents_npzs):
    """Each projection file (the projector's dlatents and noise maps) as <file name>.png: the projector's last image."""
    renderer = Renderer(Gs)
    for idx, path in enumerate(dlatents_npzs):
        print('Rendering %s (%d/%d) ...' % (path, idx, len(dlatents_npzs)), flush=True)
        dlatents, noises = projector.load_projection(path, renderer.synthesis)
        # The projector's own conversion to PNG (save_image_grid of [-1, 1] images), so the files are equal.
        save_image_grid(renderer.render(dlatents, noises), dnnlib.make_run_dir_path(projection_name(path) + '.png'), drange=[-1, 1])


def style_mixing_example(network_pkl, row_seeds, col_seeds, truncation_psi, col_styles, minibatch_size=4,
                         row_dlatents=None, col_dlatents=None):
    """NVIDIA's style mixing grid; rows or columns may be projection files (the projector's dlatents and noise maps)
    instead of seeds. An image of a projection uses its noise maps, a mixed image those of its row."""
    print('Loading networks from "%s"...' % network_pkl)
    _G, _D, Gs = pretrained_networks.load_networks(network_pkl)
    w_avg = Gs.get_var('dlatent_avg')  # [component]
    renderer = Renderer(Gs)
    uint8_nhwc = dict(func=tflib.convert_images_to_uint8, nchw_to_nhwc=True)

    print('Generating W vectors...')
    all_seeds = list(dict.fromkeys((row_seeds or []) + (col_seeds or [])))
    sources = {}  # key (seed, or projection name) -> (w [layer, component], noise maps or None)
    if all_seeds:
        all_z = np.stack([np.random.RandomState(seed).randn(*Gs.input_shape[1:]) for seed in all_seeds])
        all_w = Gs.components.mapping.run(all_z, None, minibatch_size=minibatch_size)  # [minibatch, layer, component]
        all_w = w_avg + (all_w - w_avg) * truncation_psi  # Truncate every layer.
        sources.update((seed, (w, None)) for seed, w in zip(all_seeds, all_w))
    for path in (row_dlatents or []) + (col_dlatents or []):
        dlatents, noises = projector.load_projection(path, renderer.synthesis)
        sources[projection_name(path)] = (dlatents[0], noises)
    rows = row_seeds or [projection_name(path) for path in row_dlatents]
    cols = col_seeds or [projection_name(path) for path in col_dlatents]

    print('Generating images...')
    image_dict = {(key, key): renderer.render(w[np.newaxis], noises, uint8_nhwc)[0] for key, (w, noises) in sources.items()}

    print('Generating style-mixed images...')
    for row in rows:
        for col in cols:
            print('Mixing row %s with column %s ...' % (row, col), flush=True)
            w = sources[row][0].copy()
            w[col_styles] = sources[col][0][col_styles]
            image_dict[(row, col)] = renderer.render(w[np.newaxis], sources[row][1], uint8_nhwc)[0]

    print('Saving images...')
    for (row, col), image in image_dict.items():
        to_pil(image).save(dnnlib.make_run_dir_path('%s-%s.png' % (row, col)))

    print('Saving image grid...')
    _N, _C, H, W = Gs.output_shape
    canvas = PIL.Image.new('RGB', (W * (len(cols) + 1), H * (len(rows) + 1)), 'black')
    for row_idx, row in enumerate([None] + rows):
        for col_idx, col in enumerate([None] + cols):
            if row is None and col is None:
                continue  # The corner stays black.
            key = (row if row is not None else col, col if col is not None else row)
            canvas.paste(to_pil(image_dict[key]).convert('RGB'), (W * col_idx, H * row_idx))
    canvas.save(dnnlib.make_run_dir_path('grid.png'))


def network_id_string(network_pkl):
    """ProGAN's name for outputs of a pickle: its folder and file name joined, e.g. '00003-sgan-network-final'."""
    parts = network_pkl.replace('.pkl', '').replace('\\', '/').split('/')
    return '-'.join(parts[-2:])


def generate_fake_images(network_pkl, grid_size, num_pngs, image_shrink, png_prefix, random_seed, minibatch_size,
                         truncation_psi):
    """ProGAN's random images: num_pngs PNGs of grid_w x grid_h images each, the latents drawn in turn from one seed."""
    print('Loading networks from "%s"...' % network_pkl)
    _G, _D, Gs = pretrained_networks.load_networks(network_pkl)
    if png_prefix is None:
        png_prefix = network_id_string(network_pkl) + '-'
    Gs_kwargs = uint8_kwargs(Gs, truncation_psi, shrink=image_shrink)
    rnd = np.random.RandomState(random_seed)
    for png_idx in range(num_pngs):
        print('Generating png %d / %d...' % (png_idx, num_pngs), flush=True)
        latents = rnd.randn(int(np.prod(grid_size)), *Gs.input_shape[1:]).astype(np.float32)
        images = Gs.run(latents, None, minibatch_size=minibatch_size, **Gs_kwargs)  # [minibatch, height, width, channel]
        save_image_grid(images.transpose(0, 3, 1, 2), dnnlib.make_run_dir_path('%s%06d.png' % (png_prefix, png_idx)),
                        grid_size=grid_size)


def walk_frames(Gs, walk, num_frames, grid_size, smoothing_frames, random_seed, seeds, truncation_psi, dlatents_npzs):
    """The frames' inputs: ('z', [frame, image, latent]) for Gs.run, ('w', [frame, 1, layer, component]) for the
    synthesis network, or ('projections', [(dlatents, noise maps)] of the key frames)."""
    if walk == 'random':
        return 'z', latent_walks.smoothed_random_walk(num_frames, int(np.prod(grid_size)), Gs.input_shape[1:], smoothing_frames,
                                                      random_seed)
    if dlatents_npzs:  # Blended frame by frame below: a long video's noise maps would not fit in memory.
        return 'projections', [projector.load_projection(path, Gs.components.synthesis) for path in dlatents_npzs]
    z = np.stack([np.random.RandomState(seed).randn(*Gs.input_shape[1:]) for seed in seeds])
    if walk == 'slerp-z':
        return 'z', latent_walks.keyframe_walk(z, num_frames, latent_walks.slerp)[:, np.newaxis]
    w_avg = Gs.get_var('dlatent_avg')
    w = Gs.components.mapping.run(z, None)
    w = w_avg + (w - w_avg) * truncation_psi  # Truncate every layer, as style mixing does.
    return 'w', latent_walks.keyframe_walk(w, num_frames, latent_walks.lerp)[:, np.newaxis]


def generate_interpolation_video(network_pkl, walk, grid_size, image_shrink, image_zoom, duration_sec, smoothing_sec, mp4,
                                 mp4_fps, mp4_bitrate, random_seed, minibatch_size, truncation_psi, seeds, dlatents_npzs):
    """ProGAN's interpolation video (a grid of smoothed random walks in Z), or a loop through seeds (slerp in Z, lerp
    in W) or projections (lerp of their dlatents and noise maps), frames made in minibatches and streamed to H.264."""
    print('Loading networks from "%s"...' % network_pkl)
    _G, _D, Gs = pretrained_networks.load_networks(network_pkl)
    num_frames = latent_walks.num_video_frames(duration_sec, mp4_fps)
    if mp4 is None:
        mp4 = network_id_string(network_pkl) + {'random': '-lerp.mp4', 'slerp-z': '-slerp-z.mp4', 'lerp-w': '-lerp-w.mp4'}[walk]

    print('Generating latent vectors...')
    kind, inputs = walk_frames(Gs, walk, num_frames, grid_size, smoothing_sec * mp4_fps, random_seed, seeds, truncation_psi,
                               dlatents_npzs)
    Gs_kwargs = uint8_kwargs(Gs, truncation_psi if kind == 'z' else None, shrink=image_shrink)
    renderer = Renderer(Gs) if kind != 'z' else None
    frames_per_batch = max(minibatch_size // int(np.prod(grid_size)), 1) if kind != 'projections' else 1
    key_before, key_after, key_t = latent_walks.keyframe_positions(num_frames, len(inputs)) if kind == 'projections' else [None] * 3
    with video.VideoWriter(dnnlib.make_run_dir_path(mp4), mp4_fps, num_frames, mp4_bitrate) as writer:
        for begin in range(0, num_frames, frames_per_batch):
            end = min(begin + frames_per_batch, num_frames)
            if kind == 'z':
                flat = inputs[begin:end].reshape([-1] + list(inputs.shape[2:]))
                images = Gs.run(flat, None, minibatch_size=minibatch_size, **Gs_kwargs)
            elif kind == 'w':
                flat = inputs[begin:end].reshape([-1] + list(inputs.shape[2:]))
                images = renderer.render(flat, None, Gs_kwargs.output_transform)
            else:
                (dlatents_a, noises_a), (dlatents_b, noises_b) = inputs[key_before[begin]], inputs[key_after[begin]]
                t = key_t[begin]
                noises = [latent_walks.lerp(a, b, t) for a, b in zip(noises_a, noises_b)]
                images = renderer.render(latent_walks.lerp(dlatents_a, dlatents_b, t), noises, Gs_kwargs.output_transform)
            images = images.reshape([end - begin, -1] + list(images.shape[1:]))  # [frame, image, height, width, channel]
            for frame_images in images:
                writer.append(video.grid_frame(frame_images, grid_size, image_zoom))
    print()


def generate_training_video(run_dir, duration_sec, time_warp, mp4, mp4_fps, mp4_bitrate):
    """ProGAN's training video: the run's fakes*.png over its wall-clock time, warped to dwell on the start."""
    snapshots = video.training_snapshots(run_dir)
    if mp4 is None:
        mp4 = os.path.basename(os.path.normpath(run_dir)) + '-train.mp4'
    num_frames = latent_walks.num_video_frames(duration_sec, mp4_fps)
    seconds = [snapshot[0] for snapshot in snapshots]
    frame, shown = None, None
    with video.VideoWriter(dnnlib.make_run_dir_path(mp4), mp4_fps, num_frames, mp4_bitrate) as writer:
        for frame_idx in range(num_frames):
            idx, wallclock = video.time_warped_snapshot_index(frame_idx, mp4_fps, duration_sec, time_warp, seconds)
            label = dnnlib.util.format_time(wallclock)
            if (idx, label) != shown:  # Frames change only when the snapshot or the clock on them does.
                _seconds, kimg, lod, png = snapshots[idx]
                frame, shown = video.training_video_frame(png, kimg, lod, label), (idx, label)
            writer.append(frame)
    print()


def check_projections(Gs, flag, paths):
    """Each projection file of a flag loads for this network, and their names (the output files' names) differ."""
    names = [projection_name(path) for path in paths]
    if len(set(names)) != len(names):
        dnnlib.util.exit_with_error(f'{flag}: files must have different names (they name the outputs), got {names}.')
    for path in paths:
        try:
            projector.load_projection(path, Gs.components.synthesis)
        except FileNotFoundError:
            dnnlib.util.exit_with_error(f'{flag}: no such file: {path}')
        except ValueError as err:
            dnnlib.util.exit_with_error(f'{flag}: {err}')


def either(kwargs, flag_a, key_a, flag_b, key_b):
    """Exactly one of two alternative flags was given."""
    if (kwargs.get(key_a) is None) == (kwargs.get(key_b) is None):
        dnnlib.util.exit_with_error(f'give either {flag_a} or {flag_b}.')


def check_video_args(kwargs):
    for key, flag in (('duration_sec', '--duration-sec'), ('mp4_fps', '--fps'), ('time_warp', '--time-warp')):
        if key in kwargs and not kwargs[key] > 0:
            dnnlib.util.exit_with_error(f'{flag} must be positive, got {kwargs[key]}.')
    if latent_walks.num_video_frames(kwargs['duration_sec'], kwargs['mp4_fps']) < 1:
        dnnlib.util.exit_with_error('--duration-sec x --fps must make at least one frame.')
    try:
        video.find_encoder()
    except RuntimeError as err:
        dnnlib.util.exit_with_error(str(err))


def check_args(subcmd, kwargs):
    """What can be checked before the run directory is made: the pickle, the flags that go together, projection files,
    the styles of style mixing, the training run of a training video, and the MP4 encoder. Fills in the walk of an
    interpolation video and the run directory of a training video."""
    if subcmd == 'training-video':
        check_video_args(kwargs)
        run_dir, run_id = kwargs.pop('run_dir'), kwargs.pop('run_id')
        if (run_dir is None) == (run_id is None):
            dnnlib.util.exit_with_error('give either --run-dir or --run-id (a run in --result-dir).')
        if run_dir is None:
            try:
                run_dir = dnnlib.submission.submit.locate_run_dir(kwargs['result_dir'], run_id)
            except FileNotFoundError as err:
                dnnlib.util.exit_with_error(f'--run-id {run_id}: {err}')
        if not os.path.isfile(os.path.join(run_dir, 'log.txt')):
            dnnlib.util.exit_with_error(f'--run-dir {run_dir}: no log.txt there; expected a training run directory.')
        if not video.training_snapshots(run_dir):
            dnnlib.util.exit_with_error(f'--run-dir {run_dir}: no fakes*.png of a tick in its log.txt.')
        kwargs['run_dir'] = run_dir
        return

    if subcmd == 'generate-images':
        either(kwargs, '--seeds', 'seeds', '--dlatents', 'dlatents_npzs')
    if subcmd == 'style-mixing-example':
        either(kwargs, '--row-seeds', 'row_seeds', '--row-dlatents', 'row_dlatents')
        either(kwargs, '--col-seeds', 'col_seeds', '--col-dlatents', 'col_dlatents')
    if subcmd == 'interpolation-video':
        check_video_args(kwargs)
        walk = kwargs['walk'] or ('lerp-w' if kwargs['dlatents_npzs'] else 'random')
        if kwargs['dlatents_npzs'] and (walk != 'lerp-w' or kwargs['seeds']):
            dnnlib.util.exit_with_error('--dlatents walks in W between projections (--walk lerp-w), without --seeds.')
        if walk != 'random' and not kwargs['dlatents_npzs'] and len(kwargs['seeds'] or []) < 2:
            dnnlib.util.exit_with_error(f'--walk {walk} goes through --seeds: give at least two.')
        if walk == 'random' and kwargs['seeds']:
            dnnlib.util.exit_with_error('--seeds: only for --walk slerp-z or lerp-w (the random walk uses --random-seed).')
        if walk != 'random' and tuple(kwargs['grid_size']) != (1, 1):
            dnnlib.util.exit_with_error(f'--grid-size: a walk through seeds or projections is one image, got {kwargs["grid_size"]}.')
        if kwargs['smoothing_sec'] < 0 or kwargs['image_zoom'] < 1:
            dnnlib.util.exit_with_error('--smoothing-sec must be >= 0 and --image-zoom >= 1.')
        kwargs['walk'] = walk
    style_based_for = None  # What needs mapping and synthesis networks.
    if subcmd == 'style-mixing-example' or kwargs.get('dlatents_npzs'):
        style_based_for = subcmd + (' with --dlatents' if kwargs.get('dlatents_npzs') else '')
    elif kwargs.get('walk') == 'lerp-w':
        style_based_for = 'interpolation-video --walk lerp-w'
    _G, _D, Gs = pretrained_networks.load_snapshot_or_exit(kwargs['network_pkl'], style_based_for=style_based_for)

    for flag, key in (('--dlatents', 'dlatents_npzs'), ('--row-dlatents', 'row_dlatents'), ('--col-dlatents', 'col_dlatents')):
        if kwargs.get(key):
            check_projections(Gs, flag, kwargs[key])
    if subcmd == 'style-mixing-example':
        num_layers = Gs.components.synthesis.input_shape[1]
        bad_styles = [s for s in kwargs['col_styles'] if not 0 <= s < num_layers]
        if bad_styles:
            dnnlib.util.exit_with_error(f'--col-styles: this network has styles 0-{num_layers - 1}, got {bad_styles}.')
    if 'image_shrink' in kwargs:
        shrink, resolution = kwargs['image_shrink'], Gs.output_shape[2]
        if shrink < 1 or resolution % shrink:
            dnnlib.util.exit_with_error(f'--image-shrink must divide the image size {resolution}, got {shrink}.')
    if subcmd == 'generate-fake-images' and kwargs['num_pngs'] < 1:
        dnnlib.util.exit_with_error(f'--num-pngs must be at least 1, got {kwargs["num_pngs"]}.')


def parse_grid_size(s):
    """'WxH' or 'W,H' (columns, rows), both at least 1."""
    parts = s.replace('x', ',').split(',')
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) >= 1 for p in parts):
        raise argparse.ArgumentTypeError(f"expected a grid size like '4x3' (columns x rows), got {s!r}")
    return [int(p) for p in parts]


def parse_file_list(s):
    return [path for path in s.split(',') if path]


_examples = """examples:

  # Uncurated images from a network pickle (paper Figure 12 with NVIDIA's FFHQ config-f pickle)
  python %(prog)s generate-images --network=stylegan2-ffhq-config-f.pkl --seeds=6600-6625 --truncation-psi=0.5

  # Curated images without truncation (paper Figure 11)
  python %(prog)s generate-images --network=stylegan2-ffhq-config-f.pkl --seeds=66,230,389,1518 --truncation-psi=1.0

  # Style mixing grid (the style mixing video clip)
  python %(prog)s style-mixing-example --network=stylegan2-ffhq-config-f.pkl --row-seeds=85,100,75,458,1500 \\
      --col-seeds=55,821,1789,293 --truncation-psi=1.0

  # Images of projected photos (run_projector.py's projection.npz files), and their styles mixed
  python %(prog)s generate-images --network=stylegan2-ffhq-config-f.pkl \\
      --dlatents=results/00002-project-real-images/image0000-projection.npz
  python %(prog)s style-mixing-example --network=stylegan2-ffhq-config-f.pkl --row-dlatents=a.npz,b.npz --col-seeds=55,821

  # ProGAN's random image grids, interpolation video (a 4x3 grid of smooth random walks) and training video
  python %(prog)s generate-fake-images --network=results/00000-pgan-celebahq-preset-v2-1gpu/network-final.pkl --grid-size=4x3 --num-pngs=5
  python %(prog)s interpolation-video --network=stylegan2-ffhq-config-f.pkl --grid-size=4x3 --image-shrink=4 --duration-sec=60
  python %(prog)s training-video --result-dir=results --run-id=0

  # A loop through seeds (slerp in Z) or through projected photos (lerp in W)
  python %(prog)s interpolation-video --network=stylegan2-ffhq-config-f.pkl --walk=slerp-z --seeds=1,2,3 --duration-sec=12
  python %(prog)s interpolation-video --network=stylegan2-ffhq-config-f.pkl --dlatents=a.npz,b.npz --duration-sec=8

--network takes a local path, a URL, or NVIDIA's names like gdrive:networks/stylegan2-ffhq-config-f.pkl
(downloaded once into .stylegan2-cache; offline, download the file yourself and pass its path).
Videos are H.264 MP4 written by the ffmpeg that the imageio-ffmpeg package ships.
"""


def main(argv=None):
    parser = dnnlib.util.ArgumentParser(
        description="""StyleGAN2 generator.

Run 'python %(prog)s <subcommand> --help' for subcommand help.""",
        epilog=_examples,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(help='Sub-commands', dest='command')

    def add_network(sub):
        sub.add_argument('--network', help='Network pickle filename', dest='network_pkl', required=True)

    def add_result_dir(sub):
        sub.add_argument('--result-dir', help='Root directory for run results (default: %(default)s)', default='results', metavar='DIR')

    def add_video(sub, duration):
        sub.add_argument('--duration-sec', type=float, help='Video length in seconds (default: %(default)s)', default=duration)
        sub.add_argument('--fps', '--mp4-fps', type=float, help='Frames per second (default: %(default)s)', default=30, dest='mp4_fps')
        sub.add_argument('--mp4', help='Video file name (default: named after the network or run)', default=None)
        sub.add_argument('--mp4-bitrate', help='H.264 bit rate (default: %(default)s)', default='16M')

    parser_generate_images = subparsers.add_parser('generate-images', help='Generate images')
    add_network(parser_generate_images)
    parser_generate_images.add_argument('--seeds', type=dnnlib.util.parse_num_range, help='List of random seeds')
    parser_generate_images.add_argument('--dlatents', type=parse_file_list, dest='dlatents_npzs', metavar='NPZ[,NPZ...]',
                                        help='Projection files (run_projector.py) to render instead of seeds')
    parser_generate_images.add_argument('--truncation-psi', type=float, help='Truncation psi (default: %(default)s)', default=0.5)
    add_result_dir(parser_generate_images)

    parser_style_mixing = subparsers.add_parser('style-mixing-example', help='Generate style mixing video')
    add_network(parser_style_mixing)
    parser_style_mixing.add_argument('--row-seeds', type=dnnlib.util.parse_num_range, help='Random seeds to use for image rows')
    parser_style_mixing.add_argument('--col-seeds', type=dnnlib.util.parse_num_range, help='Random seeds to use for image columns')
    parser_style_mixing.add_argument('--row-dlatents', type=parse_file_list, metavar='NPZ[,NPZ...]',
                                     help='Projection files for the rows instead of seeds')
    parser_style_mixing.add_argument('--col-dlatents', type=parse_file_list, metavar='NPZ[,NPZ...]',
                                     help='Projection files for the columns instead of seeds')
    parser_style_mixing.add_argument('--col-styles', type=dnnlib.util.parse_num_range, help='Style layer range (default: %(default)s)',
                                     default='0-6')
    parser_style_mixing.add_argument('--truncation-psi', type=float, help='Truncation psi (default: %(default)s)', default=0.5)
    add_result_dir(parser_style_mixing)

    parser_fakes = subparsers.add_parser('generate-fake-images', help='Random images or image grids (ProGAN)')
    add_network(parser_fakes)
    parser_fakes.add_argument('--grid-size', type=parse_grid_size, help='Images per PNG, columns x rows (default: 1x1)', default=[1, 1])
    parser_fakes.add_argument('--num-pngs', type=int, help='Number of PNGs (default: %(default)s)', default=1)
    parser_fakes.add_argument('--image-shrink', type=int, help='Box-downsample images by this factor (default: %(default)s)', default=1)
    parser_fakes.add_argument('--png-prefix', help='File name prefix (default: the network\'s folder and name)', default=None)
    parser_fakes.add_argument('--random-seed', type=int, help='Seed of the latents (default: %(default)s)', default=1000)
    parser_fakes.add_argument('--minibatch-size', type=int, help='Images per network run (default: %(default)s)', default=8)
    parser_fakes.add_argument('--truncation-psi', type=float, help='Truncation psi, StyleGAN/StyleGAN2 (default: %(default)s)', default=0.5)
    add_result_dir(parser_fakes)

    parser_interp = subparsers.add_parser('interpolation-video', help='Latent walk video (ProGAN), or a loop through seeds or projections')
    add_network(parser_interp)
    parser_interp.add_argument('--walk', choices=['random', 'slerp-z', 'lerp-w'], default=None,
                               help='random: smoothed random walks in Z (ProGAN); slerp-z / lerp-w: a loop through --seeds '
                                    '(default: random, or lerp-w with --dlatents)')
    parser_interp.add_argument('--seeds', type=dnnlib.util.parse_num_range, help='Seeds the loop goes through (slerp-z, lerp-w)')
    parser_interp.add_argument('--dlatents', type=parse_file_list, dest='dlatents_npzs', metavar='NPZ[,NPZ...]',
                               help='Projection files the loop goes through (lerp of dlatents and noise maps)')
    parser_interp.add_argument('--grid-size', type=parse_grid_size, help='Walks per frame, columns x rows (default: 1x1)', default=[1, 1])
    parser_interp.add_argument('--image-shrink', type=int, help='Box-downsample images by this factor (default: %(default)s)', default=1)
    parser_interp.add_argument('--image-zoom', type=int, help='Repeat pixels this many times (default: %(default)s)', default=1)
    parser_interp.add_argument('--smoothing-sec', type=float, help='Std of the time blur (default: %(default)s)', default=1.0)
    parser_interp.add_argument('--random-seed', type=int, help='Seed of the random walk (default: %(default)s)', default=1000)
    parser_interp.add_argument('--minibatch-size', type=int, help='Images per network run (default: %(default)s)', default=8)
    parser_interp.add_argument('--truncation-psi', type=float, help='Truncation psi (default: %(default)s)', default=0.5)
    add_video(parser_interp, 60.0)
    add_result_dir(parser_interp)

    parser_train_video = subparsers.add_parser('training-video', help='Video of a training run\'s fakes*.png (ProGAN)')
    parser_train_video.add_argument('--run-dir', help='The training run directory', default=None, metavar='DIR')
    parser_train_video.add_argument('--run-id', type=int, help='Or: the number of a run in --result-dir', default=None)
    parser_train_video.add_argument('--time-warp', type=float, help='Exponent of the time warp (default: %(default)s)', default=1.5)
    add_video(parser_train_video, 20.0)
    add_result_dir(parser_train_video)

    kwargs = vars(parser.parse_args(argv))
    subcmd = kwargs.pop('command')
    if subcmd is None:
        dnnlib.util.exit_with_error('missing subcommand.  Re-run with --help for usage.')
    check_args(subcmd, kwargs)

    sc = dnnlib.SubmitConfig()
    sc.num_gpus = 1
    sc.run_dir_root = kwargs.pop('result_dir')
    sc.run_desc = subcmd
    func_name_map = {
        'generate-images': 'run_generator.generate_images',
        'style-mixing-example': 'run_generator.style_mixing_example',
        'generate-fake-images': 'run_generator.generate_fake_images',
        'interpolation-video': 'run_generator.generate_interpolation_video',
        'training-video': 'run_generator.generate_training_video',
    }
    dnnlib.submit_run(sc, func_name_map[subcmd], **kwargs)


if __name__ == '__main__':
    main()
