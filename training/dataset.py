"""Multi-resolution TFRecord datasets in NVIDIA's layout, read with tf.data.

A dataset folder holds <name>-rNN.tfrecords for every resolution 2^NN from full size down to 4x4, each
record a tf.train.Example with 'shape' [C, H, W] (int64) and 'data' (the CHW uint8 bytes), plus an
optional <name>-rxx.labels (np.save of float32 [N, label_size]). TFRecordDataset takes the original's
arguments and offers its calls: configure(minibatch_size, lod), get_minibatch_np(n) -> (uint8 NCHW
images, labels), get_random_labels_np(n).
"""

import glob
import os

import numpy as np
import tensorflow as tf

import dnnlib


def parse_tfrecord_np(record):
    """A serialized Example -> uint8 CHW array."""
    ex = tf.train.Example()
    ex.ParseFromString(record)
    shape = ex.features.feature['shape'].int64_list.value
    data = ex.features.feature['data'].bytes_list.value[0]
    return np.frombuffer(data, np.uint8).reshape(shape)


def _parse_tfrecord_tf(record):
    features = tf.io.parse_single_example(record, features={
        'shape': tf.io.FixedLenFeature([3], tf.int64),
        'data': tf.io.FixedLenFeature([], tf.string)})
    data = tf.io.decode_raw(features['data'], tf.uint8)
    return tf.reshape(data, features['shape'])


class TFRecordDataset:
    """A multi-resolution TFRecord dataset (NVIDIA's training.dataset.TFRecordDataset, on tf.data)."""

    def __init__(self,
                 tfrecord_dir,          # Directory containing a collection of tfrecords files.
                 resolution=None,       # Dataset resolution, None = autodetect.
                 label_file=None,       # Relative path of the labels file, None = autodetect.
                 max_label_size=0,      # 0 = no labels, 'full' = full labels, <int> = N first label components.
                 max_images=None,       # Maximum number of images to use, None = use all images.
                 repeat=True,           # Repeat dataset indefinitely?
                 shuffle_mb=4096,       # Shuffle data within specified window (megabytes), 0 = disable shuffling.
                 prefetch_mb=2048,      # Amount of data to prefetch (megabytes), 0 = disable prefetching.
                 buffer_mb=256,         # Read buffer size (megabytes).
                 num_threads=2):        # Number of concurrent threads.
        self.tfrecord_dir = tfrecord_dir
        self.resolution = None
        self.resolution_log2 = None
        self.shape = []
        self.dtype = 'uint8'
        self.dynamic_range = [0, 255]
        self.label_file = label_file
        self.label_size = None
        self.label_dtype = None
        self._max_images = max_images
        self._cur_minibatch = -1
        self._cur_lod = -1
        self._iterator = None

        if not os.path.isdir(tfrecord_dir):
            raise FileNotFoundError(f'Dataset directory not found: {tfrecord_dir}')
        tfr_files = sorted(glob.glob(os.path.join(tfrecord_dir, '*.tfrecords')))
        if not tfr_files:
            raise FileNotFoundError(f'No *.tfrecords files in {tfrecord_dir}; make the dataset with dataset_tool.py.')
        if self.label_file is None:
            guess = sorted(glob.glob(os.path.join(tfrecord_dir, '*.labels')))
            self.label_file = guess[0] if guess else None
        elif not os.path.isfile(self.label_file):
            self.label_file = os.path.join(tfrecord_dir, self.label_file)

        # Shape of every file, from its first record.
        tfr_shapes = []
        for tfr_file in tfr_files:
            first = [record.numpy() for record in tf.data.TFRecordDataset(tfr_file).take(1)]
            if not first:
                raise ValueError(f'{tfr_file} holds no records.')
            tfr_shapes.append(parse_tfrecord_np(first[0]).shape)
        max_shape = max(tfr_shapes, key=np.prod)
        self.resolution = resolution if resolution is not None else max_shape[1]
        self.resolution_log2 = int(np.log2(self.resolution))
        self.shape = [max_shape[0], self.resolution, self.resolution]
        tfr_lods = [self.resolution_log2 - int(np.log2(shape[1])) for shape in tfr_shapes]
        for shape, lod, path in zip(tfr_shapes, tfr_lods, tfr_files):
            if shape[0] != max_shape[0] or shape[1] != shape[2] or shape[1] != 2 ** int(np.log2(shape[1])):
                raise ValueError(f'{path}: records of shape {list(shape)}; expected [C, 2^n, 2^n] with C = {max_shape[0]}.')
        for lod in range(self.resolution_log2 - 1):
            if lod not in tfr_lods:
                raise ValueError(f'{tfrecord_dir}: no file for resolution {2 ** (self.resolution_log2 - lod)} '
                                 f'(every level from {self.resolution} down to 4 is needed).')

        # Labels: a table indexed like the records; without labels, a zero-width table.
        self._np_labels = np.zeros([1 << 30, 0], dtype=np.float32)
        if self.label_file is not None and max_label_size != 0:
            self._np_labels = np.load(self.label_file).astype(np.float32)
            if self._np_labels.ndim != 2:
                raise ValueError(f'{self.label_file}: labels must be a 2D array [N, label_size], got shape {list(self._np_labels.shape)}.')
            # Counting the records of the smallest (4x4) file is cheap and catches a labels file of another dataset.
            num_records = sum(1 for _ in tf.data.TFRecordDataset(tfr_files[tfr_lods.index(max(tfr_lods))]))
            if self._np_labels.shape[0] != num_records:
                raise ValueError(f'{self.label_file}: {self._np_labels.shape[0]} labels for {num_records} images in '
                                 f'{tfrecord_dir}; there must be one label row per image.')
            if max_label_size != 'full' and self._np_labels.shape[1] > max_label_size:
                self._np_labels = self._np_labels[:, :max_label_size]
        if max_images is not None and self._np_labels.shape[0] > max_images:
            self._np_labels = self._np_labels[:max_images]
        self.label_size = self._np_labels.shape[1]
        self.label_dtype = self._np_labels.dtype.name

        # One pipeline per level of detail.
        self._datasets = {}
        for tfr_file, shape, lod in zip(tfr_files, tfr_shapes, tfr_lods):
            if lod < 0:
                continue  # Finer than the requested resolution.
            dset = tf.data.TFRecordDataset(tfr_file, compression_type='', buffer_size=buffer_mb << 20)
            if max_images is not None:
                dset = dset.take(max_images)
            dset = dset.map(_parse_tfrecord_tf, num_parallel_calls=num_threads)
            labels = tf.data.Dataset.from_tensor_slices(self._np_labels if self.label_size else
                                                        np.zeros([1, 0], np.float32)).repeat()
            dset = tf.data.Dataset.zip((dset, labels))
            item_bytes = np.prod(shape) * np.dtype(self.dtype).itemsize
            if shuffle_mb > 0:
                dset = dset.shuffle(((shuffle_mb << 20) - 1) // item_bytes + 1)
            if repeat:
                dset = dset.repeat()
            self._datasets[lod] = dset
        self._prefetch = prefetch_mb > 0

    def configure(self, minibatch_size, lod=0):
        """Use this minibatch size and level of detail from now on (a new pipeline only when they change)."""
        lod = int(np.floor(lod))
        if minibatch_size < 1:
            raise ValueError(f'minibatch_size must be >= 1, got {minibatch_size}.')
        if lod not in self._datasets:
            raise ValueError(f'{self.tfrecord_dir}: no data for lod {lod}; available: {sorted(self._datasets)}.')
        if self._cur_minibatch != minibatch_size or self._cur_lod != lod:
            dset = self._datasets[lod].batch(minibatch_size)
            if self._prefetch:
                dset = dset.prefetch(tf.data.AUTOTUNE)
            self._iterator = iter(dset)
            self._cur_minibatch = minibatch_size
            self._cur_lod = lod

    def get_minibatch_tf(self):
        """Next (images uint8 [N, C, H, W], labels float32 [N, label_size]) as tensors."""
        return next(self._iterator)

    def get_minibatch_np(self, minibatch_size, lod=0):
        """Next minibatch as numpy arrays: uint8 images [N, C, h, h] at the lod's resolution h, and labels."""
        self.configure(minibatch_size, lod)
        images, labels = self.get_minibatch_tf()
        return images.numpy(), labels.numpy()

    def get_random_labels_tf(self, minibatch_size):
        """Labels of uniformly random dataset entries, as a tensor."""
        return tf.constant(self.get_random_labels_np(minibatch_size))

    def get_random_labels_np(self, minibatch_size):
        if self.label_size > 0:
            return self._np_labels[np.random.randint(self._np_labels.shape[0], size=[minibatch_size])]
        return np.zeros([minibatch_size, 0], self.label_dtype)

    def close(self):
        self._iterator = None


def load_dataset(class_name=None, data_dir=None, verbose=False, **kwargs):
    """Make a dataset: `class_name` defaults to TFRecordDataset; tfrecord_dir is taken relative to data_dir."""
    kwargs = dict(kwargs)
    if 'tfrecord_dir' in kwargs:
        if class_name is None:
            class_name = __name__ + '.TFRecordDataset'
        if data_dir is not None:
            kwargs['tfrecord_dir'] = os.path.join(data_dir, kwargs['tfrecord_dir'])
    if class_name is None:
        raise ValueError('load_dataset: give tfrecord_dir (and data_dir) or class_name.')
    if verbose:
        print('Streaming data using %s...' % class_name)
    dataset = dnnlib.util.get_obj_by_name(class_name)(**kwargs)
    if verbose:
        print('Dataset shape =', np.int32(dataset.shape).tolist())
        print('Dynamic range =', dataset.dynamic_range)
        print('Label size    =', dataset.label_size)
    return dataset
