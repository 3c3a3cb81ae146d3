"""Make multi-resolution TFRecord datasets in NVIDIA's layout (see training/dataset.py).

Run 'python dataset_tool.py <command> --help' for the commands and their arguments.
"""

import argparse
import glob
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import PIL.Image
import PIL.ImageDraw

import dnnlib


class TFRecordExporter:
    """Writes <dir>/<name>-rNN.tfrecords for every level, and <name>-rxx.labels, into a temporary folder
    that becomes `tfrecord_dir` only when close() finishes: an interrupted run leaves no dataset behind."""

    def __init__(self, tfrecord_dir, expected_images, print_progress=True, progress_interval=10):
        if os.path.exists(tfrecord_dir) and glob.glob(os.path.join(tfrecord_dir, '*.tfrecords')):
            raise FileExistsError(f'{tfrecord_dir} already holds a dataset (*.tfrecords); remove it or choose another folder.')
        self.tfrecord_dir = tfrecord_dir
        parent = os.path.dirname(os.path.abspath(tfrecord_dir))
        os.makedirs(parent, exist_ok=True)
        self._tmp_dir = tempfile.mkdtemp(prefix='.tmp-' + os.path.basename(tfrecord_dir) + '-', dir=parent)
        self.tfr_prefix = os.path.join(self._tmp_dir, os.path.basename(tfrecord_dir))
        self.expected_images = expected_images
        self.cur_images = 0
        self.shape = None
        self.resolution_log2 = None
        self.tfr_writers = []
        self.print_progress = print_progress
        self.progress_interval = progress_interval
        self._start = time.time()
        self._closed = False
        if print_progress:
            print('Creating dataset "%s"' % tfrecord_dir)

    def add_image(self, img):
        """img: uint8 [C, H, W] with C 1 or 3 and H = W a power of two; lower levels are 2x2 box means."""
        import tensorflow as tf
        if self.print_progress and self.cur_images % self.progress_interval == 0:
            elapsed = time.time() - self._start
            rate = self.cur_images / elapsed if elapsed > 0 else 0.0
            eta = (self.expected_images - self.cur_images) / rate if rate > 0 else 0.0
            print('\r%d / %d  %.1f images/s  ETA %s   ' % (self.cur_images, self.expected_images, rate,
                                                            dnnlib.util.format_time(eta)), end='', flush=True)
        if self.shape is None:
            self.shape = img.shape
            self.resolution_log2 = int(np.log2(self.shape[1]))
            if self.shape[0] not in (1, 3) or self.shape[1] != self.shape[2] or self.shape[1] != 2 ** self.resolution_log2 or self.shape[1] < 4:
                raise ValueError(f'Images must be [C, H, W] with C 1 or 3 and H = W a power of two >= 4, got {list(img.shape)}.')
            options = tf.io.TFRecordOptions(compression_type='')
            for lod in range(self.resolution_log2 - 1):
                path = self.tfr_prefix + '-r%02d.tfrecords' % (self.resolution_log2 - lod)
                self.tfr_writers.append(tf.io.TFRecordWriter(path, options))
        if img.shape != self.shape:
            raise ValueError(f'Image {self.cur_images} has shape {list(img.shape)}; every image must be {list(self.shape)}.')
        for lod, writer in enumerate(self.tfr_writers):
            if lod:
                img = img.astype(np.float32)
                img = (img[:, 0::2, 0::2] + img[:, 0::2, 1::2] + img[:, 1::2, 0::2] + img[:, 1::2, 1::2]) * 0.25
            quant = np.rint(img).clip(0, 255).astype(np.uint8)
            feature = {'shape': tf.train.Feature(int64_list=tf.train.Int64List(value=quant.shape)),
                       'data': tf.train.Feature(bytes_list=tf.train.BytesList(value=[quant.tobytes()]))}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
        self.cur_images += 1

    def add_labels(self, labels):
        if labels.shape[0] != self.cur_images:
            raise ValueError(f'{labels.shape[0]} labels for {self.cur_images} images; the counts must match.')
        with open(self.tfr_prefix + '-rxx.labels', 'wb') as f:  # Through a file: np.save(path) would add '.npy'.
            np.save(f, labels.astype(np.float32))

    def close(self):
        """Finish the files and move the dataset into place."""
        for writer in self.tfr_writers:
            writer.close()
        self.tfr_writers = []
        if self.cur_images == 0:
            self.abort()
            raise ValueError(f'No images were added to {self.tfrecord_dir}.')
        os.makedirs(self.tfrecord_dir, exist_ok=True)
        for path in sorted(glob.glob(os.path.join(self._tmp_dir, '*'))):
            os.replace(path, os.path.join(self.tfrecord_dir, os.path.basename(path)))
        os.rmdir(self._tmp_dir)
        self._closed = True
        if self.print_progress:
            print('\r%d / %d  done in %s.        ' % (self.cur_images, self.expected_images,
                                                     dnnlib.util.format_time(time.time() - self._start)))

    def abort(self):
        for writer in self.tfr_writers:
            writer.close()
        shutil.rmtree(self._tmp_dir, ignore_errors=True)

    def choose_shuffled_order(self):
        """NVIDIA's image order: RandomState(123) shuffle of arange(N)."""
        order = np.arange(self.expected_images)
        np.random.RandomState(123).shuffle(order)
        return order

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        if exc_type is None:
            self.close()
        elif not self._closed:
            self.abort()


# ----------------------------------------------------------------------------
# Commands.


def load_image(path, resolution=None, center_crop=False):
    """An image file as uint8 [C, H, W]; with resolution, center-cropped (if asked) or padded to a square, then resized."""
    try:
        image = PIL.Image.open(path)
        image.load()
    except (OSError, ValueError) as err:
        raise ValueError(f'{path}: cannot read the image ({err}).') from err
    if resolution is not None:
        image = image.convert('L' if image.mode in ('L', 'I', 'I;16', '1') else 'RGB')
        w, h = image.size
        side = min(w, h) if center_crop else max(w, h)
        if center_crop:
            image = image.crop(((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side))
        elif w != h:
            canvas = PIL.Image.new(image.mode, (side, side))  # Black bars keep the whole picture.
            canvas.paste(image, ((side - w) // 2, (side - h) // 2))
            image = canvas
        if image.size != (resolution, resolution):
            image = image.resize((resolution, resolution), PIL.Image.LANCZOS)
    img = np.asarray(image)
    return img[np.newaxis] if img.ndim == 2 else img.transpose([2, 0, 1])


def create_from_images(tfrecord_dir, image_dir, shuffle, resize=None, center_crop=False):
    """Images from a folder. As the original, they must be square, power-of-two, 1 or 3 channels and all of one
    size, unless --resize R is given: then any sizes are cropped (--center-crop) or padded to a square and resized."""
    if resize is not None and (resize < 4 or resize != 2 ** int(np.log2(resize))):
        raise ValueError(f'--resize must be a power of two >= 4, got {resize}.')
    if center_crop and resize is None:
        raise ValueError('--center-crop needs --resize R (the size to resize the cropped squares to).')
    print('Loading images from "%s"' % image_dir)
    image_filenames = sorted(f for f in glob.glob(os.path.join(image_dir, '*')) if os.path.isfile(f))
    if not image_filenames:
        raise ValueError(f'No input images found in {image_dir}.')
    first = load_image(image_filenames[0], resize, center_crop)
    channels, resolution = first.shape[0], first.shape[1]
    if first.shape[1] != first.shape[2] or resolution != 2 ** int(np.floor(np.log2(resolution))):
        raise ValueError(f'{image_filenames[0]}: images must be square with a power-of-two size, got '
                         f'{first.shape[2]}x{first.shape[1]}; use --resize R (and --center-crop) to convert them.')
    if channels not in (1, 3):
        raise ValueError(f'{image_filenames[0]}: images must have 1 or 3 channels, got {channels}.')
    with TFRecordExporter(tfrecord_dir, len(image_filenames)) as tfr:
        order = tfr.choose_shuffled_order() if shuffle else np.arange(len(image_filenames))
        for idx in order:
            img = load_image(image_filenames[idx], resize, center_crop)
            if img.shape != (channels, resolution, resolution):
                raise ValueError(f'{image_filenames[idx]}: shape {list(img.shape)}, expected {[channels, resolution, resolution]} '
                                 f'like {image_filenames[0]}; use --resize R to make mixed sizes usable.')
            tfr.add_image(img)


def draw_demo_image(rnd, resolution):
    """A procedurally drawn picture: one filled circle, square or triangle of a random color on a soft background."""
    background = tuple(int(v) for v in rnd.randint(0, 60, size=3))
    color = tuple(int(v) for v in rnd.randint(120, 256, size=3))
    image = PIL.Image.new('RGB', (resolution, resolution), background)
    draw = PIL.ImageDraw.Draw(image)
    size = rnd.uniform(0.35, 0.7) * resolution
    cx, cy = rnd.uniform(size / 2, resolution - size / 2, size=2)
    box = [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2]
    shape = rnd.randint(3)
    if shape == 0:
        draw.ellipse(box, fill=color)
    elif shape == 1:
        draw.rectangle(box, fill=color)
    else:
        draw.polygon([(cx, box[1]), (box[2], box[3]), (box[0], box[3])], fill=color)
    return np.asarray(image).transpose(2, 0, 1)


def create_demo(tfrecord_dir, num_images, resolution, random_seed):
    """A small dataset drawn by the program itself (circles, squares, triangles): nothing to download."""
    if resolution < 4 or resolution != 2 ** int(np.log2(resolution)):
        raise ValueError(f'--resolution must be a power of two >= 4, got {resolution}.')
    rnd = np.random.RandomState(random_seed)
    with TFRecordExporter(tfrecord_dir, num_images, progress_interval=max(num_images // 20, 1)) as tfr:
        for _ in range(num_images):
            tfr.add_image(draw_demo_image(rnd, resolution))


def info(tfrecord_dir):
    """Print resolution, channels, image count, label size and files of a dataset."""
    from training import dataset
    files = sorted(glob.glob(os.path.join(tfrecord_dir, '*.tfrecords')) + glob.glob(os.path.join(tfrecord_dir, '*.labels')))
    if not files:
        raise ValueError(f'{tfrecord_dir} holds no dataset (*.tfrecords).')
    dset = dataset.TFRecordDataset(tfrecord_dir, max_label_size='full', repeat=False, shuffle_mb=0)
    import tensorflow as tf
    count = sum(1 for _ in tf.data.TFRecordDataset(max(glob.glob(os.path.join(tfrecord_dir, '*.tfrecords')))))
    print(f'Dataset:     {tfrecord_dir}')
    print(f'Resolution:  {dset.resolution}x{dset.resolution}')
    print(f'Channels:    {dset.shape[0]}')
    print(f'Images:      {count}')
    print(f'Label size:  {dset.label_size}')
    for path in files:
        print(f'  {os.path.basename(path):40s} {os.path.getsize(path):>12,d} bytes')


# ----------------------------------------------------------------------------


def execute_cmdline(argv):
    prog = argv[0]
    parser = argparse.ArgumentParser(
        prog=prog,
        description='Tool for creating multi-resolution TFRecords datasets for StyleGAN2 and ProGAN.',
        epilog='Type "%s <command> -h" for more information.' % prog)
    subparsers = parser.add_subparsers(dest='command')
    subparsers.required = True

    def add_command(cmd, desc, example=None):
        epilog = 'Example: %s %s' % (prog, example) if example is not None else None
        return subparsers.add_parser(cmd, description=desc, help=desc, epilog=epilog)

    p = add_command('create_from_images', 'Create dataset from a directory full of images.',
                    'create_from_images datasets/mydataset myimagedir')
    p.add_argument('tfrecord_dir', help='New dataset directory to be created')
    p.add_argument('image_dir', help='Directory containing the images')
    p.add_argument('--shuffle', help='Randomize image order (default: 1)', type=int, default=1)
    p.add_argument('--resize', help='Make every image RxR (a power of two): pad to a square, or crop with --center-crop',
                   type=int, default=None, metavar='R')
    p.add_argument('--center-crop', help='With --resize: crop the central square instead of padding',
                   action='store_true', dest='center_crop')

    p = add_command('create_demo', 'Create a small dataset of drawn shapes (no download needed).',
                    'create_demo datasets/demo --num_images 2000 --resolution 32')
    p.add_argument('tfrecord_dir', help='New dataset directory to be created')
    p.add_argument('--num_images', help='Number of images (default: 2000)', type=int, default=2000)
    p.add_argument('--resolution', help='Image size, a power of two (default: 32)', type=int, default=32)
    p.add_argument('--random_seed', help='Random seed (default: 123)', type=int, default=123)

    p = add_command('info', 'Show the resolution, channels, image count, labels and files of a dataset.',
                    'info datasets/mydataset')
    p.add_argument('tfrecord_dir', help='Dataset directory')

    args = parser.parse_args(argv[1:] if len(argv) > 1 else ['-h'])
    func = globals()[args.command]
    del args.command
    try:
        func(**vars(args))
    except (ValueError, FileExistsError, FileNotFoundError) as err:
        print(f'\nError: {err}')
        sys.exit(1)


if __name__ == '__main__':
    execute_cmdline(sys.argv)
