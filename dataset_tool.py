"""Create, inspect and compare multi-resolution TFRecord datasets in NVIDIA's layout (see training/dataset.py).

Datasets are written into a temporary folder beside the target and moved into place only when complete, so an
interrupted or failed run leaves no dataset behind. Images are decoded by a pool of threads and streamed to the
writer: memory stays a small multiple of the largest image, whatever the number of images.

Run 'python dataset_tool.py <command> --help' for the commands and their arguments.
"""

import argparse
import collections
import concurrent.futures
import glob
import gzip
import io
import itertools
import os
import pickle
import signal
import sys

import dnnlib  # Before TensorFlow, to quiet its info lines.
import numpy as np
import PIL.Image
import PIL.ImageDraw
import tensorflow as tf

from training import dataset
from training.images import crop_and_resize, load_image, to_chw

# Threads that decode and encode images (at most two images in flight per thread).
NUM_THREADS = min(os.cpu_count() or 1, 16)
# Number of aligned images in CelebA's img_align_celeba_png.
CELEBA_IMAGES = 202599


def parallel_map(func, items, num_threads=None):
    """func(item) for each item, computed by a thread pool, yielded in order. At most 2 * num_threads results are in
    flight, so memory stays bounded however many items there are. PIL and numpy release the GIL while decoding
    and resizing, which is what makes threads pay off."""
    num_threads = num_threads or NUM_THREADS
    with concurrent.futures.ThreadPoolExecutor(num_threads) as pool:
        pending = collections.deque()
        try:
            for item in items:
                pending.append(pool.submit(func, item))
                if len(pending) >= 2 * num_threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def optional_import(module, command, package=None):
    """Import a package that only some commands need, or say which one to install."""
    try:
        return __import__(module)
    except ImportError:
        raise ImportError(f'{command} needs the {package or module} package: pip install {package or module}') from None


def one_hot(labels, num_classes, source):
    """Integer class labels -> float32 one-hot rows."""
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f'{source}: class labels must be in 0..{num_classes - 1}, got {labels.min()}..{labels.max()}.')
    onehot = np.zeros([labels.size, num_classes], np.float32)
    onehot[np.arange(labels.size), labels] = 1.0
    return onehot


# ----------------------------------------------------------------------------
# Images.

# PIL modes stored as they are (after palette expansion); others only with --resize, which converts them.
NATIVE_MODES = {'L': 'L', '1': 'L', 'P': 'RGB', 'RGB': 'RGB'}
GRAY_MODES = ('1', 'L', 'LA', 'I', 'I;16', 'F')


def scan_image(path):
    """(width, height, mode) from the file's header, without decoding the pixels."""
    try:
        with PIL.Image.open(path) as image:
            return image.size[0], image.size[1], image.mode
    except (OSError, ValueError, PIL.Image.DecompressionBombError) as err:
        raise ValueError(f'{path}: cannot read the image ({err}).') from None


def check_image_folder(files, headers, resize):
    """The PIL mode every image is converted to; refuses what the original refuses unless --resize is given."""
    if resize is not None:
        # Mixed grayscale and color become color; grayscale stays grayscale only when every image is.
        return 'L' if all(mode in GRAY_MODES for _, _, mode in headers) else 'RGB'
    first, (w0, h0, mode0) = files[0], headers[0]
    for path, (w, h, mode) in zip(files, headers):
        if mode not in NATIVE_MODES:
            raise ValueError(f'{path}: {mode} images ({PIL.Image.getmodebands(mode)} channels) are not supported; '
                             f'images must be grayscale (1 channel) or RGB (3 channels). --resize R converts them.')
        if w != h or not dnnlib.util.is_power_of_two(w):
            raise ValueError(f'{path}: {w}x{h}; images must be square with a power-of-two size >= 4. '
                             f'--resize R (and --center-crop) converts them.')
        if (w, h) != (w0, h0):
            raise ValueError(f'{path}: {w}x{h}, but {first} is {w0}x{h0}; every image must have the same size. '
                             f'--resize R makes mixed sizes usable.')
        if NATIVE_MODES[mode] != NATIVE_MODES[mode0]:
            raise ValueError(f'{path}: {NATIVE_MODES[mode]} ({mode}), but {first} is {NATIVE_MODES[mode0]} ({mode0}); every '
                             f'image must have the same channels (L: 1, RGB: 3). --resize R makes mixed channels usable '
                             f'(all become RGB).')
    return NATIVE_MODES[mode0]


# ----------------------------------------------------------------------------
# Commands that read datasets.


def read_minibatches(dset, minibatch_size):
    """The (images, labels) minibatches of a dataset made with repeat=False, in order, up to its end."""
    while True:
        try:
            yield dset.get_minibatch_np(minibatch_size)
        except tf.errors.OutOfRangeError:
            return


def display(tfrecord_dir):
    """Show the images one by one in an OpenCV window (SPACE/ENTER: next, ESC: quit)."""
    print('Loading dataset "%s"' % tfrecord_dir)
    dset = dataset.TFRecordDataset(tfrecord_dir, max_label_size='full', repeat=False, shuffle_mb=0)
    cv2 = optional_import('cv2', 'display', 'opencv-python')
    if sys.platform.startswith('linux') and not (os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY')):
        raise ValueError('display needs a graphical display, but neither $DISPLAY nor $WAYLAND_DISPLAY is set; '
                         'use "extract DIR OUTPUT_DIR" to write the images as PNG files instead.')
    try:
        cv2.namedWindow('dataset_tool')
    except cv2.error as err:
        raise ValueError(f'OpenCV cannot open a window ({err}); opencv-python-headless has no GUI, install '
                         f'opencv-python, or use "extract" to write the images as PNG files.') from None
    print('Press SPACE or ENTER to advance, ESC to exit')
    idx = 0
    for images, labels in read_minibatches(dset, 1):
        print('\nidx = %-8d\nlabel = %s' % (idx, labels[0].tolist()))
        cv2.imshow('dataset_tool', images[0].transpose(1, 2, 0)[:, :, ::-1])  # CHW RGB -> HWC BGR.
        idx += 1
        if cv2.waitKey() == 27:
            break
    print('\nDisplayed %d images.' % idx)


def extract(tfrecord_dir, output_dir):
    """Write every full-resolution image as output_dir/img%08d.png, in dataset order."""
    print('Loading dataset "%s"' % tfrecord_dir)
    dset = dataset.TFRecordDataset(tfrecord_dir, max_label_size=0, repeat=False, shuffle_mb=0)
    print('Extracting images to "%s"' % output_dir)
    os.makedirs(output_dir, exist_ok=True)
    idx = 0
    for images, _labels in read_minibatches(dset, 64):
        for img in images:
            PIL.Image.fromarray(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)).save(
                os.path.join(output_dir, 'img%08d.png' % idx))
            idx += 1
        print('%d\r' % idx, end='', flush=True)
    print('Extracted %d images.' % idx)


def compare(tfrecord_dir_a, tfrecord_dir_b, ignore_labels):
    """Compare two datasets image by image (full resolution) and label by label."""
    max_label_size = 0 if ignore_labels else 'full'
    print('Loading dataset "%s"' % tfrecord_dir_a)
    dset_a = dataset.TFRecordDataset(tfrecord_dir_a, max_label_size=max_label_size, repeat=False, shuffle_mb=0)
    print('Loading dataset "%s"' % tfrecord_dir_b)
    dset_b = dataset.TFRecordDataset(tfrecord_dir_b, max_label_size=max_label_size, repeat=False, shuffle_mb=0)
    print('Comparing datasets')
    idx = identical_images = identical_labels = 0
    for (images_a, labels_a), (images_b, labels_b) in itertools.zip_longest(
            read_minibatches(dset_a, 64), read_minibatches(dset_b, 64), fillvalue=([], [])):
        for i in range(min(len(images_a), len(images_b))):
            if images_a[i].shape == images_b[i].shape and np.all(images_a[i] == images_b[i]):
                identical_images += 1
            else:
                print('Image %d is different' % idx)
            if labels_a[i].shape == labels_b[i].shape and np.all(labels_a[i] == labels_b[i]):
                identical_labels += 1
            else:
                print('Label %d is different' % idx)
            idx += 1
        if len(images_a) != len(images_b):
            print('Datasets contain different number of images')
        if len(images_a) < 64 or len(images_b) < 64:
            break
    print('Identical images: %d / %d' % (identical_images, idx))
    if not ignore_labels:
        print('Identical labels: %d / %d' % (identical_labels, idx))


def info(tfrecord_dir):
    """Print resolution, channels, image count, label size and the files with their sizes."""
    dset = dataset.TFRecordDataset(tfrecord_dir, max_label_size='full', repeat=False, shuffle_mb=0)
    print(f'Dataset:     {tfrecord_dir}')
    print(f'Resolution:  {dset.resolution}x{dset.resolution}')
    print(f'Channels:    {dset.shape[0]}')
    print(f'Images:      {dset.num_images}')
    print(f'Label size:  {dset.label_size}' + (f' ({os.path.basename(dset.label_file)})' if dset.label_file else ''))
    files = sorted(glob.glob(os.path.join(tfrecord_dir, '*.tfrecords')) + glob.glob(os.path.join(tfrecord_dir, '*.labels')))
    for path in files:
        print(f'  {os.path.basename(path):40s} {os.path.getsize(path):>16,d} bytes')


# ----------------------------------------------------------------------------
# Commands that create datasets from the classic archives (read whole: they are a few hundred MB at most).


def export_in_nvidia_order(tfrecord_dir, images, onehot=None):
    """images [N, C, H, W] (and labels) written in NVIDIA's shuffled order."""
    with dataset.TFRecordExporter(tfrecord_dir, images.shape[0]) as tfr:
        order = tfr.choose_shuffled_order()
        for idx in order:
            tfr.add_image(images[idx])
        if onehot is not None:
            tfr.add_labels(onehot[order])


def read_mnist_images(mnist_dir):
    """train-images-idx3-ubyte.gz -> uint8 [N, 32, 32] (28x28 digits padded by 2 pixels, as the original)."""
    path = os.path.join(mnist_dir, 'train-images-idx3-ubyte.gz')
    with gzip.open(path, 'rb') as f:
        data = f.read()
    if len(data) < 16 or int.from_bytes(data[:4], 'big') != 2051:
        raise ValueError(f'{path}: not an MNIST idx3 image file (magic number 2051 expected).')
    images = np.frombuffer(data, np.uint8, offset=16).reshape(-1, 28, 28)
    return np.pad(images, [(0, 0), (2, 2), (2, 2)], 'constant', constant_values=0)


def create_mnist(tfrecord_dir, mnist_dir):
    """MNIST training set: 1x32x32 digits with one-hot labels of size 10."""
    print('Loading MNIST from "%s"' % mnist_dir)
    images = read_mnist_images(mnist_dir)
    path = os.path.join(mnist_dir, 'train-labels-idx1-ubyte.gz')
    with gzip.open(path, 'rb') as f:
        data = f.read()
    if len(data) < 8 or int.from_bytes(data[:4], 'big') != 2049:
        raise ValueError(f'{path}: not an MNIST idx1 label file (magic number 2049 expected).')
    labels = np.frombuffer(data, np.uint8, offset=8)
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f'{path}: {labels.shape[0]} labels for {images.shape[0]} images; the counts must match.')
    export_in_nvidia_order(tfrecord_dir, images[:, np.newaxis], one_hot(labels, 10, path))


def create_mnistrgb(tfrecord_dir, mnist_dir, num_images=1000000, random_seed=123):
    """3x32x32 images whose R, G and B channels are three random MNIST digits; no labels."""
    print('Loading MNIST from "%s"' % mnist_dir)
    images = read_mnist_images(mnist_dir)
    with dataset.TFRecordExporter(tfrecord_dir, num_images) as tfr:
        rnd = np.random.RandomState(random_seed)
        for _ in range(num_images):
            tfr.add_image(images[rnd.randint(images.shape[0], size=3)])


def load_pickle(path):
    try:
        with open(path, 'rb') as f:
            return pickle.load(f, encoding='latin1')
    except (OSError, pickle.UnpicklingError, EOFError) as err:
        raise ValueError(f'{path}: cannot read the batch file ({err}).') from None


def create_cifar10(tfrecord_dir, cifar10_dir):
    """CIFAR-10 training set (data_batch_1..5 of the Python version): 3x32x32, one-hot labels of size 10."""
    print('Loading CIFAR-10 from "%s"' % cifar10_dir)
    batches = [load_pickle(os.path.join(cifar10_dir, 'data_batch_%d' % i)) for i in range(1, 6)]
    images = np.concatenate([b['data'].reshape(-1, 3, 32, 32) for b in batches])
    labels = np.concatenate([b['labels'] for b in batches])
    export_in_nvidia_order(tfrecord_dir, images, one_hot(labels, 10, cifar10_dir))


def create_cifar100(tfrecord_dir, cifar100_dir):
    """CIFAR-100 training set (file 'train' of the Python version): 3x32x32, one-hot fine labels of size 100."""
    print('Loading CIFAR-100 from "%s"' % cifar100_dir)
    data = load_pickle(os.path.join(cifar100_dir, 'train'))
    images = data['data'].reshape(-1, 3, 32, 32)
    export_in_nvidia_order(tfrecord_dir, images, one_hot(data['fine_labels'], 100, cifar100_dir))


def create_svhn(tfrecord_dir, svhn_dir):
    """SVHN training set as train_1..3.pkl, each (images uint8 [N, 3, 32, 32], labels [N]); one-hot size 10."""
    print('Loading SVHN from "%s"' % svhn_dir)
    batches = [load_pickle(os.path.join(svhn_dir, 'train_%d.pkl' % i)) for i in range(1, 4)]
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    export_in_nvidia_order(tfrecord_dir, images, one_hot(labels, 10, svhn_dir))


# ----------------------------------------------------------------------------
# Commands that stream images.


def create_from_lmdb(tfrecord_dir, lmdb_dir, max_images, convert, command):
    """Images of an LMDB database in its key order; convert(PIL image) -> CHW array, or None to skip it.
    Entries that do not decode are reported and skipped, as in the original."""
    lmdb = optional_import('lmdb', command)
    print('Loading LSUN dataset from "%s"' % lmdb_dir)

    def decode(entry):
        key, value = entry
        try:
            with PIL.Image.open(io.BytesIO(value)) as image:
                img = convert(image.convert('RGB'))
            return key, None if img is None else dataset.encode_image(img)
        except (OSError, ValueError, PIL.Image.DecompressionBombError) as err:
            print('\nSkipping entry %r: %s' % (key, err))
            return key, None

    with lmdb.open(lmdb_dir, readonly=True).begin(write=False) as txn:
        total = txn.stat()['entries']
        with dataset.TFRecordExporter(tfrecord_dir, min(total, max_images) if max_images is not None else total) as tfr:
            for _key, encoded in parallel_map(decode, txn.cursor()):
                if encoded is not None:
                    tfr.add_encoded(encoded)
                if tfr.cur_images == max_images:
                    break


def create_lsun(tfrecord_dir, lmdb_dir, resolution=256, max_images=None):
    """One LSUN category: central square crops resized to resolution x resolution, in database order."""
    dnnlib.util.check_power_of_two(resolution, '--resolution')
    create_from_lmdb(tfrecord_dir, lmdb_dir, max_images,
                     lambda image: to_chw(crop_and_resize(image, resolution, center_crop=True)), 'create_lsun')


def create_lsun_wide(tfrecord_dir, lmdb_dir, width=512, height=384, max_images=None):
    """One LSUN category at width x height, centered vertically on a black width x width square (the network
    needs square images); images smaller than that are skipped."""
    dnnlib.util.check_power_of_two(width, '--width')
    if not 0 < height <= width:
        raise ValueError(f'--height must be between 1 and --width ({width}), got {height}.')

    def convert(image):
        w, h = image.size
        ch = int(np.round(width * h / w))
        if w < width or ch < height:
            return None
        # The original keeps ch rows of the source (ch computed at the output width) and resizes that band to
        # width x height; done the same way so that datasets agree.
        image = image.crop((0, (h - ch) // 2, w, (h + ch) // 2)).resize((width, height), PIL.Image.LANCZOS)
        canvas = np.zeros([3, width, width], np.uint8)
        canvas[:, (width - height) // 2:(width + height) // 2] = to_chw(image)
        return canvas

    create_from_lmdb(tfrecord_dir, lmdb_dir, max_images, convert, 'create_lsun_wide')


def create_celeba(tfrecord_dir, celeba_dir, cx=89, cy=121):
    """CelebA's aligned PNGs (img_align_celeba_png/*.png, 218x178): 128x128 crops centered at (cx, cy)."""
    print('Loading CelebA from "%s"' % celeba_dir)
    files = sorted(glob.glob(os.path.join(celeba_dir, 'img_align_celeba_png', '*.png')))
    if len(files) != CELEBA_IMAGES:
        raise ValueError(f'Expected to find {CELEBA_IMAGES} images in {os.path.join(celeba_dir, "img_align_celeba_png")}, '
                         f'found {len(files)}.')
    if not (64 <= cy <= 218 - 64 and 64 <= cx <= 178 - 64):
        raise ValueError(f'--cx {cx} --cy {cy}: the 128x128 crop must lie inside the 178x218 images.')

    def load(path):
        img = load_image(path, 'RGB')
        if img.shape != (3, 218, 178):
            raise ValueError(f'{path}: {img.shape[2]}x{img.shape[1]}; aligned CelebA images are 178x218.')
        return dataset.encode_image(img[:, cy - 64:cy + 64, cx - 64:cx + 64])

    with dataset.TFRecordExporter(tfrecord_dir, len(files)) as tfr:
        for encoded in parallel_map(load, [files[i] for i in tfr.choose_shuffled_order()]):
            tfr.add_encoded(encoded)


def create_from_images(tfrecord_dir, image_dir, shuffle, resize=None, center_crop=False):
    """Every image file in a folder. As in the original, they must be square, power-of-two, grayscale or RGB and
    all of one size, unless --resize R is given: then they are padded (or with --center-crop cropped) to a square,
    resized to R x R and converted to RGB (grayscale if every image is)."""
    if resize is not None:
        dnnlib.util.check_power_of_two(resize, '--resize')
    if center_crop and resize is None:
        raise ValueError('--center-crop needs --resize R (the size to resize the cropped squares to).')
    print('Loading images from "%s"' % image_dir)
    if not os.path.isdir(image_dir):
        raise FileNotFoundError(f'Image folder not found: {image_dir}')
    files = sorted(f for f in glob.glob(os.path.join(image_dir, '*')) if os.path.isfile(f))
    if not files:
        raise ValueError(f'No input images found in {image_dir}.')
    with dataset.TFRecordExporter(tfrecord_dir, len(files)) as tfr:
        mode = check_image_folder(files, list(parallel_map(scan_image, files)), resize)
        order = tfr.choose_shuffled_order() if shuffle else np.arange(len(files))
        for encoded in parallel_map(lambda idx: dataset.encode_image(load_image(files[idx], mode, resize, center_crop)), order):
            tfr.add_encoded(encoded)


def create_from_hdf5(tfrecord_dir, hdf5_filename, shuffle):
    """ProGAN's legacy HDF5 archive: its largest data* array [N, C, H, W]; labels from <name>-labels.npy if present."""
    h5py = optional_import('h5py', 'create_from_hdf5')
    print('Loading HDF5 archive from "%s"' % hdf5_filename)
    with h5py.File(hdf5_filename, 'r') as hdf5_file:
        arrays = [value for key, value in hdf5_file.items() if key.startswith('data') and len(value.shape) == 4]
        if not arrays:
            raise ValueError(f'{hdf5_filename}: no data* array of shape [N, C, H, W] (keys: {sorted(hdf5_file.keys())}).')
        hdf5_data = max(arrays, key=lambda data: data.shape[3])
        labels = None
        npy_filename = os.path.splitext(hdf5_filename)[0] + '-labels.npy'
        if os.path.isfile(npy_filename):
            labels = np.load(npy_filename)
            if labels.ndim != 2 or labels.shape[0] != hdf5_data.shape[0]:
                raise ValueError(f'{npy_filename}: labels of shape {list(labels.shape)} for {hdf5_data.shape[0]} images '
                                 f'in {hdf5_filename}; expected [{hdf5_data.shape[0]}, label_size].')
        with dataset.TFRecordExporter(tfrecord_dir, hdf5_data.shape[0]) as tfr:
            order = tfr.choose_shuffled_order() if shuffle else np.arange(hdf5_data.shape[0])
            for idx in order:  # h5py serializes reads anyway: no threads.
                tfr.add_image(hdf5_data[idx])
            if labels is not None:
                tfr.add_labels(labels[order])


def create_from_tfds(tfrecord_dir, dataset_name, split='train', data_dir=None, image_key='image', label_key=None,
                     resolution=None):
    """Any image dataset of tensorflow_datasets, in tfds's order (tfds shuffles when it prepares a dataset).
    With --resolution R, each image's central square is resized to R x R; without, the images must already be
    square, power-of-two and all of one size. --label-key (a ClassLabel feature) writes one-hot labels."""
    tfds = optional_import('tensorflow_datasets', 'create_from_tfds', 'tensorflow-datasets')
    if resolution is not None:
        dnnlib.util.check_power_of_two(resolution, '--resolution')
    try:
        builder = tfds.builder(dataset_name, data_dir=data_dir)
    except tfds.core.DatasetNotFoundError:
        raise ValueError(f'tensorflow_datasets has no dataset named {dataset_name!r} '
                         f'(tensorflow_datasets.list_builders() lists them).') from None
    features = dict(builder.info.features.items())
    if not isinstance(features.get(image_key), tfds.features.Image):
        keys = [key for key, feature in features.items() if isinstance(feature, tfds.features.Image)]
        raise ValueError(f'{dataset_name}: --image-key {image_key!r} is not an image feature; image features: {keys}.')
    num_classes = None
    if label_key is not None:
        if not isinstance(features.get(label_key), tfds.features.ClassLabel):
            keys = [key for key, feature in features.items() if isinstance(feature, tfds.features.ClassLabel)]
            raise ValueError(f'{dataset_name}: --label-key {label_key!r} is not a class label feature; '
                             f'class label features: {keys}.')
        num_classes = features[label_key].num_classes
    print('Loading %s (split %s) with tensorflow_datasets' % (dataset_name, split))
    builder.download_and_prepare()
    total = builder.info.splits[split].num_examples if split in builder.info.splits else None
    examples = tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))

    def convert(example):
        img = example[image_key]
        if img.ndim != 3 or img.shape[2] not in (1, 3):
            raise ValueError(f'{dataset_name}: images of shape {list(img.shape)}; 1 or 3 channels (HWC) are supported.')
        if resolution is not None:
            img = np.asarray(crop_and_resize(PIL.Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img),
                                             resolution, center_crop=True))
        elif img.shape[0] != img.shape[1] or not dnnlib.util.is_power_of_two(img.shape[0]):
            raise ValueError(f'{dataset_name}: images of {img.shape[1]}x{img.shape[0]}; images must be square with a '
                             f'power-of-two size >= 4. --resolution R center-crops and resizes them.')
        return dataset.encode_image(to_chw(img)), example[label_key] if label_key else None

    labels = []
    with dataset.TFRecordExporter(tfrecord_dir, total) as tfr:
        for encoded, label in parallel_map(convert, examples):
            shape = encoded[0]
            if tfr.shape is not None and shape != tfr.shape:
                raise ValueError(f'{dataset_name}: image {tfr.cur_images} is {shape[2]}x{shape[1]}, the first was '
                                 f'{tfr.shape[2]}x{tfr.shape[1]}; --resolution R makes mixed sizes usable.')
            tfr.add_encoded(encoded)
            labels.append(label)
        if num_classes is not None:
            tfr.add_labels(one_hot(labels, num_classes, f'{dataset_name} {label_key}'))


def draw_demo_image(rnd, resolution):
    """A procedurally drawn picture: one filled circle, square or triangle of a random color on a dark background."""
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
    return to_chw(image)


def create_demo(tfrecord_dir, num_images, resolution, random_seed):
    """A small dataset drawn by the program itself (circles, squares, triangles): nothing to download."""
    dnnlib.util.check_power_of_two(resolution, '--resolution')
    rnd = np.random.RandomState(random_seed)
    with dataset.TFRecordExporter(tfrecord_dir, num_images) as tfr:
        for _ in range(num_images):
            tfr.add_image(draw_demo_image(rnd, resolution))


# ----------------------------------------------------------------------------


def execute_cmdline(argv):
    prog = argv[0]
    parser = dnnlib.util.ArgumentParser(
        prog=prog,
        description='Tool for creating multi-resolution TFRecords datasets for StyleGAN2, StyleGAN and ProGAN '
                    '(NVIDIA\'s layout: DIR/<name>-rNN.tfrecords for every resolution down to 4x4, '
                    'DIR/<name>-rxx.labels).',
        epilog='Type "%s <command> -h" for more information.' % prog)
    subparsers = parser.add_subparsers(dest='command', metavar='<command>')
    subparsers.required = True

    def add_command(cmd, desc, *examples):
        epilog = '\n'.join('Example: %s %s' % (prog, example) for example in examples)
        return subparsers.add_parser(cmd, description=desc, help=desc, epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)

    def add_dirs(p, source, source_help):
        p.add_argument('tfrecord_dir', help='New dataset directory to be created')
        p.add_argument(source, help=source_help)

    p = add_command('display', 'Display images in dataset (needs OpenCV and a graphical display).', 'display datasets/mnist')
    p.add_argument('tfrecord_dir', help='Directory containing dataset')

    p = add_command('extract', 'Extract images from dataset (full resolution, as img00000000.png, img00000001.png, ...).',
                    'extract datasets/mnist mnist-images')
    p.add_argument('tfrecord_dir', help='Directory containing dataset')
    p.add_argument('output_dir', help='Directory to extract the images into')

    p = add_command('compare', 'Compare two datasets.', 'compare datasets/mydataset datasets/mnist')
    p.add_argument('tfrecord_dir_a', help='Directory containing first dataset')
    p.add_argument('tfrecord_dir_b', help='Directory containing second dataset')
    p.add_argument('--ignore_labels', help='Ignore labels (default: 0)', type=int, default=0)

    p = add_command('info', 'Show resolution, channels, image count, label size and files of a dataset.',
                    'info datasets/mydataset')
    p.add_argument('tfrecord_dir', help='Directory containing dataset')

    p = add_command('create_mnist', 'Create dataset for MNIST.', 'create_mnist datasets/mnist ~/downloads/mnist')
    add_dirs(p, 'mnist_dir', 'Directory containing MNIST (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz)')

    p = add_command('create_mnistrgb', 'Create dataset for MNIST-RGB.', 'create_mnistrgb datasets/mnistrgb ~/downloads/mnist')
    add_dirs(p, 'mnist_dir', 'Directory containing MNIST (train-images-idx3-ubyte.gz)')
    p.add_argument('--num_images', help='Number of composite images to create (default: 1000000)', type=int, default=1000000)
    p.add_argument('--random_seed', help='Random seed (default: 123)', type=int, default=123)

    p = add_command('create_cifar10', 'Create dataset for CIFAR-10.', 'create_cifar10 datasets/cifar10 ~/downloads/cifar10')
    add_dirs(p, 'cifar10_dir', 'Directory containing CIFAR-10 (data_batch_1..5 of the Python version)')

    p = add_command('create_cifar100', 'Create dataset for CIFAR-100.', 'create_cifar100 datasets/cifar100 ~/downloads/cifar100')
    add_dirs(p, 'cifar100_dir', 'Directory containing CIFAR-100 (train of the Python version)')

    p = add_command('create_svhn', 'Create dataset for SVHN.', 'create_svhn datasets/svhn ~/downloads/svhn')
    add_dirs(p, 'svhn_dir', 'Directory containing SVHN (train_1.pkl, train_2.pkl, train_3.pkl)')

    p = add_command('create_lsun', 'Create dataset for single LSUN category (needs: pip install lmdb).',
                    'create_lsun datasets/lsun-car-100k ~/downloads/lsun/car_lmdb --resolution 256 --max_images 100000')
    add_dirs(p, 'lmdb_dir', 'Directory containing LMDB database')
    p.add_argument('--resolution', help='Output resolution (default: 256)', type=int, default=256)
    p.add_argument('--max_images', help='Maximum number of images (default: none)', type=int, default=None)

    p = add_command('create_lsun_wide', 'Create LSUN dataset with non-square aspect ratio (needs: pip install lmdb).',
                    'create_lsun_wide datasets/lsun-car-512x384 ~/downloads/lsun/car_lmdb --width 512 --height 384')
    add_dirs(p, 'lmdb_dir', 'Directory containing LMDB database')
    p.add_argument('--width', help='Output width (default: 512)', type=int, default=512)
    p.add_argument('--height', help='Output height (default: 384)', type=int, default=384)
    p.add_argument('--max_images', help='Maximum number of images (default: none)', type=int, default=None)

    p = add_command('create_celeba', 'Create dataset for CelebA.', 'create_celeba datasets/celeba ~/downloads/celeba')
    add_dirs(p, 'celeba_dir', 'Directory containing CelebA (img_align_celeba_png/*.png)')
    p.add_argument('--cx', help='Center X coordinate (default: 89)', type=int, default=89)
    p.add_argument('--cy', help='Center Y coordinate (default: 121)', type=int, default=121)

    p = add_command('create_from_images', 'Create dataset from a directory full of images.',
                    'create_from_images datasets/mydataset myimagedir',
                    'create_from_images datasets/myphotos ~/photos --resize 256 --center-crop')
    add_dirs(p, 'image_dir', 'Directory containing the images')
    p.add_argument('--shuffle', help='Randomize image order (default: 1)', type=int, default=1)
    p.add_argument('--resize', help='Make every image RxR (a power of two), converting any size, aspect ratio and '
                   'color mode: pad to a square with black bars, or crop with --center-crop', type=int, default=None, metavar='R')
    p.add_argument('--center-crop', help='With --resize: crop the central square instead of padding',
                   action='store_true', dest='center_crop')

    p = add_command('create_from_hdf5', 'Create dataset from legacy HDF5 archive.',
                    'create_from_hdf5 datasets/celebahq ~/downloads/celeba-hq-1024x1024.h5')
    add_dirs(p, 'hdf5_filename', 'HDF5 archive containing the images')
    p.add_argument('--shuffle', help='Randomize image order (default: 1)', type=int, default=1)

    p = add_command('create_from_tfds', 'Create dataset from any image dataset of tensorflow_datasets '
                    '(downloaded and prepared by tfds into --data-dir on first use).',
                    'create_from_tfds datasets/cifar10 cifar10 --label-key label',
                    'create_from_tfds datasets/flowers tf_flowers --resolution 128')
    add_dirs(p, 'dataset_name', 'tensorflow_datasets name, optionally with config and version (e.g. cifar10, mnist:3.*.*)')
    p.add_argument('--split', help='Split to export (default: train)', default='train')
    p.add_argument('--data-dir', help='tensorflow_datasets data directory (default: ~/tensorflow_datasets)',
                   default=None, dest='data_dir')
    p.add_argument('--image-key', help='Image feature (default: image)', default='image', dest='image_key')
    p.add_argument('--label-key', help='Class label feature to store as one-hot labels (default: none)',
                   default=None, dest='label_key')
    p.add_argument('--resolution', help='Center-crop and resize every image to RxR, a power of two (default: keep '
                   'the size; images must then be square, power-of-two and of one size)', type=int, default=None, metavar='R')

    p = add_command('create_demo', 'Create a small dataset of drawn shapes (no download needed).',
                    'create_demo datasets/demo --num_images 2000 --resolution 32')
    p.add_argument('tfrecord_dir', help='New dataset directory to be created')
    p.add_argument('--num_images', help='Number of images (default: 2000)', type=int, default=2000)
    p.add_argument('--resolution', help='Image size, a power of two (default: 32)', type=int, default=32)
    p.add_argument('--random_seed', help='Random seed (default: 123)', type=int, default=123)

    args = parser.parse_args(argv[1:] if len(argv) > 1 else ['-h'])
    func = globals()[args.command]
    del args.command
    try:
        func(**vars(args))
    except (ValueError, OSError, ImportError) as err:
        print(f'\nError: {err}', file=sys.stderr)
        sys.exit(1)


def exit_on_sigterm():
    """Make a plain `kill` (SIGTERM) unwind like Ctrl-C, so that the exporter removes its temporary folder."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


if __name__ == '__main__':
    exit_on_sigterm()
    execute_cmdline(sys.argv)
