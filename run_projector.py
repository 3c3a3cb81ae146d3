"""Project images into the W space of a StyleGAN2 network (NVIDIA's run_projector.py, TF2; run with --help).

Writes results/<ID>-project-generated-images/ (seedNNNN-target.png, seedNNNN-stepNNNN.png) or
results/<ID>-project-real-images/ (imageNNNN-target.png, imageNNNN-stepNNNN.png); beyond the original, also
<prefix>projection.npz with the final dlatents and noise maps (run_generator.py renders, mixes and animates them),
<prefix>projection.mp4 with --save-video, and real images from a folder of image files.
"""

import argparse
import contextlib
import glob
import os

import numpy as np

import dnnlib
import dnnlib.tflib as tflib
import pretrained_networks
import projector
from training import dataset, video
from training.images import adjust_dynamic_range, load_image, save_image_grid
from training.layers import noise_variables


def project_image(proj, targets, png_prefix, num_snapshots, save_video=False):
    """Project one target [1, C, H, W] in [-1, 1]; write the target, num_snapshots steps and the result (.npz), and
    with save_video <prefix>projection.mp4: target | projection side by side at every step (as stylegan2-ada's)."""
    snapshot_steps = set(proj.num_steps - np.linspace(0, proj.num_steps, num_snapshots, endpoint=False, dtype=int))
    save_image_grid(targets, png_prefix + 'target.png', drange=[-1, 1])
    target_frame = to_uint8_hwc(targets[0])
    proj.start(targets)
    with (video.VideoWriter(png_prefix + 'projection.mp4', fps=10, num_frames=proj.num_steps) if save_video
          else contextlib.nullcontext()) as writer:
        while proj.get_cur_step() < proj.num_steps:
            proj.step()
            if writer is not None:  # The writer shows the progress.
                writer.append(np.concatenate([target_frame, to_uint8_hwc(proj.get_images()[0])], axis=1))
            else:
                dist, loss = proj.get_last_losses()
                print('\r%d / %d  distance %-10.4g loss %-10.4g' % (proj.get_cur_step(), proj.num_steps, dist, loss), end='',
                      flush=True)
            if proj.get_cur_step() in snapshot_steps:
                save_image_grid(proj.get_images(), png_prefix + 'step%04d.png' % proj.get_cur_step(), drange=[-1, 1])
    print()
    projector.save_projection(png_prefix + 'projection.npz', proj.get_dlatents(), proj.get_noises())


def to_uint8_hwc(image):
    """A [C, H, W] image in [-1, 1] as uint8 HWC, rounded as the PNGs are."""
    return np.rint(adjust_dynamic_range(image, [-1, 1], [0, 255])).clip(0, 255).astype(np.uint8).transpose(1, 2, 0)


def project_generated_images(network_pkl, seeds, num_snapshots, truncation_psi, save_video=False):
    print('Loading networks from "%s"...' % network_pkl)
    _G, _D, Gs = pretrained_networks.load_networks(network_pkl)
    proj = projector.Projector()
    proj.set_network(Gs)
    noise_vars = noise_variables(Gs.components.synthesis)

    Gs_kwargs = dnnlib.EasyDict(randomize_noise=False, truncation_psi=truncation_psi)
    for seed_idx, seed in enumerate(seeds):
        print('Projecting seed %d (%d/%d) ...' % (seed, seed_idx, len(seeds)))
        # The seed draws z, then every noise map in order, as generate-images does.
        rnd = np.random.RandomState(seed)
        z = rnd.randn(1, *Gs.input_shape[1:])
        tflib.set_vars({var: rnd.randn(*var.shape.as_list()) for var in noise_vars})
        images = Gs.run(z, None, **Gs_kwargs)
        project_image(proj, targets=images, png_prefix=dnnlib.make_run_dir_path('seed%04d-' % seed), num_snapshots=num_snapshots,
                      save_video=save_video)


def project_real_images(network_pkl, dataset_name, data_dir, num_images, num_snapshots, images_dir=None, save_video=False):
    print('Loading networks from "%s"...' % network_pkl)
    _G, _D, Gs = pretrained_networks.load_networks(network_pkl)
    proj = projector.Projector()
    proj.set_network(Gs)
    for image_idx, image in enumerate(_real_images(Gs, dataset_name, data_dir, num_images, images_dir)):
        print('Projecting image %d/%d ...' % (image_idx, num_images))
        images = adjust_dynamic_range(image[np.newaxis].astype(np.float32), [0, 255], [-1, 1])
        project_image(proj, targets=images, png_prefix=dnnlib.make_run_dir_path('image%04d-' % image_idx),
                      num_snapshots=num_snapshots, save_video=save_video)


def _real_images(Gs, dataset_name, data_dir, num_images, images_dir):
    """The first num_images uint8 CHW images: of the dataset in file order, or of the image folder (sorted by name),
    center-cropped and resized to the network's resolution as dataset_tool.py --resize --center-crop does (load_image)."""
    channels, resolution = Gs.output_shape[1], Gs.output_shape[2]
    if images_dir is not None:
        if not os.path.isdir(images_dir):
            raise FileNotFoundError(f'--images: no such folder: {images_dir}')
        files = sorted(f for f in glob.glob(os.path.join(images_dir, '*'))
                       if os.path.splitext(f)[1].lower() in ('.png', '.jpg', '.jpeg', '.bmp', '.webp'))
        if not files:
            raise FileNotFoundError(f'--images: no image files (.png, .jpg, .jpeg, .bmp, .webp) in {images_dir}')
        for path in files[:num_images]:
            yield load_image(path, 'RGB' if channels == 3 else 'L', resolution, center_crop=True)
        return
    dataset_obj = dataset.load_dataset(data_dir=data_dir, tfrecord_dir=dataset_name, max_label_size=0, shuffle_mb=0)
    if list(dataset_obj.shape) != list(Gs.output_shape[1:]):
        raise ValueError(f'--dataset: {dataset_name} has images of shape {list(dataset_obj.shape)}; the network makes '
                         f'{list(Gs.output_shape[1:])}.')
    for _ in range(num_images):
        yield dataset_obj.get_minibatch_np(1)[0][0]


def check_args(subcmd, network_pkl, num_snapshots, dataset_name=None, data_dir=None, images_dir=None, num_images=None,
               save_video=False, **_kwargs):
    """What can be checked before the run directory is made: the pickle, the LPIPS file, that the real images (each
    of them, decoded) are there, and the MP4 encoder for --save-video."""
    if num_snapshots < 1 or (num_images is not None and num_images < 1):
        dnnlib.util.exit_with_error('--num-snapshots and --num-images must be at least 1.')
    if save_video:
        try:
            video.find_encoder()
        except RuntimeError as err:
            dnnlib.util.exit_with_error(f'--save-video: {err}')
    _G, _D, Gs = pretrained_networks.load_snapshot_or_exit(network_pkl, style_based_for=subcmd)
    from metrics import lpips, metric_base
    try:
        metric_base.metric_file(lpips.LPIPS_FILE, 'The projector', lpips.LPIPS_URL)
        if subcmd == 'project-real-images':
            for _image in _real_images(Gs, dataset_name, data_dir, num_images, images_dir):
                pass
    except (FileNotFoundError, ValueError) as err:
        dnnlib.util.exit_with_error(str(err))


_examples = '''examples:

  # Project generated images
  python %(prog)s project-generated-images --network=stylegan2-car-config-f.pkl --seeds=0,1,5

  # Project real images of a dataset, or of a folder of image files (any size: center-cropped and resized)
  python %(prog)s project-real-images --network=stylegan2-car-config-f.pkl --dataset=car --data-dir=~/datasets
  python %(prog)s project-real-images --network=stylegan2-ffhq-config-f.pkl --images=~/photos --num-images=5

  # The same with a video of the optimization (target | projection, one frame per step)
  python %(prog)s project-real-images --network=stylegan2-ffhq-config-f.pkl --images=~/photos --num-images=1 --save-video

The loss is LPIPS (VGG16), read from net-lin_vgg_v0.1.pb in the metric data folder (--metric-data, or
$STYLEGAN2_METRIC_DATA); nothing is downloaded.
'''


def main(argv=None):
    parser = dnnlib.util.ArgumentParser(description='StyleGAN2 projector.\n\nRun \'python %(prog)s <subcommand> --help\' for subcommand '
                                        'help.',
                                     epilog=_examples, formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(help='Sub-commands', dest='command')

    def common(sub):
        sub.add_argument('--network', help='Network pickle filename', dest='network_pkl', required=True)
        sub.add_argument('--num-snapshots', type=int, help='Number of snapshots (default: %(default)s)', default=5)
        sub.add_argument('--result-dir', help='Root directory for run results (default: %(default)s)', default='results', metavar='DIR')
        sub.add_argument('--save-video', action='store_true',
                         help='Also write <prefix>projection.mp4: target | projection at every step (10 fps)')
        sub.add_argument('--metric-data', help='Folder with net-lin_vgg_v0.1.pb (default: $STYLEGAN2_METRIC_DATA or the cache directory)',
                         default=None, metavar='DIR')

    generated = subparsers.add_parser('project-generated-images', help='Project generated images')
    common(generated)
    generated.add_argument('--seeds', type=dnnlib.util.parse_num_range, help='List of random seeds', default=range(3))
    generated.add_argument('--truncation-psi', type=float, help='Truncation psi (default: %(default)s)', default=1.0)

    real = subparsers.add_parser('project-real-images', help='Project real images')
    common(real)
    real.add_argument('--data-dir', help='Dataset root directory')
    real.add_argument('--dataset', help='Training dataset', dest='dataset_name')
    real.add_argument('--images', help='A folder of image files to project instead of a dataset', dest='images_dir', metavar='DIR')
    real.add_argument('--num-images', type=int, help='Number of images to project (default: %(default)s)', default=3)

    kwargs = vars(parser.parse_args(argv))
    subcmd = kwargs.pop('command')
    if subcmd is None:
        dnnlib.util.exit_with_error('missing subcommand.  Re-run with --help for usage.')
    if subcmd == 'project-real-images' and (kwargs['images_dir'] is None) == (kwargs['dataset_name'] is None or kwargs['data_dir'] is None):
        dnnlib.util.exit_with_error('project-real-images takes either --images DIR or both --dataset and --data-dir.')
    metric_data = kwargs.pop('metric_data')
    from metrics import metric_base
    if metric_data is not None:
        metric_base.set_metric_data_dir(metric_data)
    check_args(subcmd, **kwargs)

    sc = dnnlib.SubmitConfig()
    sc.num_gpus = 1
    sc.run_dir_root = kwargs.pop('result_dir')
    sc.run_desc = subcmd
    func_name_map = {'project-generated-images': 'run_projector.project_generated_images',
                     'project-real-images': 'run_projector.project_real_images'}
    dnnlib.submit_run(sc, func_name_map[subcmd], **kwargs)


if __name__ == '__main__':
    main()
