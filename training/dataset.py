"""Multi-resolution TFRecord datasets in NVIDIA's layout: read with tf.data (TFRecordDataset) and written
(TFRecordExporter, encode_image; dataset_tool.py's commands use them).

A dataset folder holds <name>-rNN.tfrecords for every resolution 2^NN from full size down to 4x4. Each record is
a tf.train.Example with 'shape' (int64 [C, H, W]) and 'data' (one bytes value: the CHW uint8 pixels); all files list
the same images in the same order. An optional <name>-rxx.labels is an np.save of float32 [N, label_size].

TFRecordDataset takes the original's arguments and offers its calls:
    dset = load_dataset(tfrecord_dir='ffhq', data_dir='datasets')
    dset.configure(minibatch_size, lod)           # lod 0 = full resolution, 1 = half, ...
    images, labels = dset.get_minibatch_np(n)     # uint8 [n, C, H, W], float32 [n, label_size]
    labels = dset.get_random_labels_np(n)
Beyond the original: as_tf_dataset() (the stream as a tf.data pipeline of uint8 minibatches) and
distribute(strategy, ...), which gives each replica its own part of every minibatch; the training step maps the
images to the network's range, mirrors and fades them on the device (trainer.process_reals).

The image order is reproducible: epoch e is shuffled with a seed made of shuffle_seed and e (and TensorFlow's
global seed), and dset.position counts the images handed out. With repeat=True, a new pipeline (another lod or
minibatch size) continues the same stream at that position, and setting dset.position lets a resumed training
run continue the exact stream it stopped in (skipping at most one epoch of records). With repeat=False, each
new pipeline makes a new single pass from the first image, as in the original.
"""

import glob
import os
import shutil
import tempfile
import time

import numpy as np
import tensorflow as tf

import dnnlib

# The two feature keys of NVIDIA's records.
_FEATURES = {'shape': tf.io.FixedLenFeature([3], tf.int64), 'data': tf.io.FixedLenFeature([], tf.string)}
LABELS_SUFFIX = '-rxx.labels'


def tfrecord_suffix(resolution_log2):
    """The end of the file name of a level: <name>-r10.tfrecords holds the 1024x1024 images."""
    return '-r%02d.tfrecords' % resolution_log2


def parse_tfrecord_np(record):
    """One serialized Example -> uint8 array of its 'shape' (CHW)."""
    ex = tf.train.Example()
    ex.ParseFromString(record)
    shape = ex.features.feature['shape'].int64_list.value
    data = ex.features.feature['data'].bytes_list.value[0]
    return np.frombuffer(data, np.uint8).reshape(shape)


def parse_tfrecord_tf(record):
    """One serialized Example -> uint8 tensor of its 'shape' (CHW)."""
    features = tf.io.parse_single_example(record, features=_FEATURES)
    return tf.reshape(tf.io.decode_raw(features['data'], tf.uint8), features['shape'])


class TFRecordDataset:
    """NVIDIA's training.dataset.TFRecordDataset on tf.data: one pipeline per level of detail."""

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
                 num_threads=2,         # Number of concurrent threads.
                 shuffle_seed=None):    # Seed of the image order, None = random.
        self.tfrecord_dir = tfrecord_dir
        self.dtype = 'uint8'
        self.dynamic_range = [0, 255]
        self.label_file = label_file
        self._max_images = max_images
        self._repeat = repeat
        self._shuffle_mb = shuffle_mb
        self._prefetch_mb = prefetch_mb
        self._buffer_mb = buffer_mb
        self._num_threads = num_threads
        self._shuffle_seed = int(shuffle_seed if shuffle_seed is not None else np.random.randint(1 << 31))
        self._position = 0
        self._cur_minibatch = -1
        self._cur_lod = -1
        self._iterator = None

        if not os.path.isdir(tfrecord_dir):
            raise FileNotFoundError(f'Dataset directory not found: {tfrecord_dir}')
        tfr_files = sorted(glob.glob(os.path.join(tfrecord_dir, '*.tfrecords')))
        if not tfr_files:
            raise FileNotFoundError(f'{tfrecord_dir} holds no *.tfrecords files; make a dataset with dataset_tool.py.')
        if max_label_size != 'full' and not (isinstance(max_label_size, int) and max_label_size >= 0):
            raise ValueError(f"max_label_size must be 0, a positive int or 'full', got {max_label_size!r}.")

        # The shape of each file, from its first record.
        tfr_shapes = []
        for tfr_file in tfr_files:
            first = [record.numpy() for record in tf.data.TFRecordDataset(tfr_file).take(1)]
            if not first:
                raise ValueError(f'{tfr_file} holds no records.')
            tfr_shapes.append(parse_tfrecord_np(first[0]).shape)

        # Resolution and levels: every level from the chosen resolution down to 4x4 must be present.
        max_shape = max(tfr_shapes, key=np.prod)
        self.resolution = resolution if resolution is not None else max_shape[1]
        self.resolution_log2 = dnnlib.util.check_power_of_two(self.resolution, f'{tfrecord_dir}: resolution')
        self.shape = [max_shape[0], self.resolution, self.resolution]
        self._lod_files = {}  # lod -> (file, [C, H, W])
        for path, shape in zip(tfr_files, tfr_shapes):
            if len(shape) != 3 or shape[0] != max_shape[0] or shape[1] != shape[2] or not dnnlib.util.is_power_of_two(shape[1], minimum=1):
                raise ValueError(f'{path}: records of shape {list(shape)}; every file must hold [C, 2^n, 2^n] '
                                 f'with the same C ({max_shape[0]}).')
            lod = self.resolution_log2 - int(np.log2(shape[1]))
            if lod >= 0:  # Files finer than the requested resolution are not used.
                self._lod_files[lod] = (path, list(shape))
        for lod in range(self.resolution_log2 - 1):
            if lod not in self._lod_files:
                raise ValueError(f'{tfrecord_dir}: no file for resolution {2 ** (self.resolution_log2 - lod)}; every '
                                 f'level from {self.resolution} down to 4 is needed (<name>-rNN.tfrecords).')

        # Labels: a table with one row per record. Without labels, a zero-width table as in the original.
        self._np_labels = np.zeros([1 << 30, 0], dtype=np.float32)
        if self.label_file is None:
            guess = sorted(glob.glob(os.path.join(tfrecord_dir, '*.labels')))
            self.label_file = guess[0] if guess else None
        elif not os.path.isfile(self.label_file):
            self.label_file = os.path.join(tfrecord_dir, self.label_file)
            if not os.path.isfile(self.label_file):
                raise FileNotFoundError(f'Label file not found: {label_file} (also looked in {tfrecord_dir}).')
        # The 4x4 file is the cheapest to count.
        num_records = int(tf.data.TFRecordDataset(self._lod_files[self.resolution_log2 - 2][0]).reduce(
            np.int64(0), tf.autograph.experimental.do_not_convert(lambda count, _: count + 1)))
        self.num_images = num_records if max_images is None else min(num_records, max_images)  # Images per epoch.
        if self.label_file is not None and max_label_size != 0:
            self._np_labels = np.load(self.label_file)
            if self._np_labels.ndim != 2:
                raise ValueError(f'{self.label_file}: labels must be a 2-D array [N, label_size], '
                                 f'got shape {list(self._np_labels.shape)}.')
            if self._np_labels.shape[0] != num_records:  # A labels file of another dataset is caught here.
                raise ValueError(f'{self.label_file}: {self._np_labels.shape[0]} labels for {num_records} images in '
                                 f'{tfrecord_dir}; there must be one label row per image.')
            if max_label_size != 'full':
                self._np_labels = self._np_labels[:, :max_label_size]
        if max_images is not None:
            self._np_labels = self._np_labels[:max_images]
        self.label_size = self._np_labels.shape[1]
        self.label_dtype = self._np_labels.dtype.name

    # ------------------------------------------------------------------------------------------------
    # The original's calls.

    @property
    def position(self):
        """How many images the minibatches so far have handed out: where the image stream continues."""
        return self._position

    @position.setter
    def position(self, images):
        self._position = int(images)
        self._iterator = None  # The next minibatch comes from a new pipeline, starting there.

    def configure(self, minibatch_size, lod=0):
        """Use this minibatch size and level of detail (floor(lod)) from now on; a new pipeline only on a change."""
        lod = self._check_level(minibatch_size, lod)
        if self._cur_minibatch != minibatch_size or self._cur_lod != lod:
            if not self._repeat:
                self._position = 0
            self._iterator = None  # Made by the next get_minibatch_tf(), so that a position set later costs nothing.
            self._cur_minibatch = minibatch_size
            self._cur_lod = lod

    def get_minibatch_tf(self):
        """Next (images uint8 [N, C, H, W], labels [N, label_size]) as tensors. Raises tf.errors.OutOfRangeError at
        the end of a dataset made with repeat=False, like the original."""
        if self._cur_minibatch < 0:
            raise RuntimeError('Call configure(minibatch_size, lod) or get_minibatch_np() first.')
        if self._iterator is None:
            self._iterator = iter(self.as_tf_dataset(self._cur_minibatch, self._cur_lod, start=self._position))
        try:
            images, labels = next(self._iterator)
        except StopIteration:
            raise tf.errors.OutOfRangeError(None, None, f'End of dataset {self.tfrecord_dir}') from None
        self._position += int(images.shape[0])
        return images, labels

    def get_minibatch_np(self, minibatch_size, lod=0):
        """Next minibatch as numpy: uint8 images [N, C, h, h] at the resolution of floor(lod), and labels."""
        self.configure(minibatch_size, lod)
        images, labels = self.get_minibatch_tf()
        return images.numpy(), labels.numpy()

    @property
    def label_table(self):
        """The labels of all images [num_images, label_size] (what random labels are drawn from); None without labels."""
        return self._np_labels if self.label_size else None

    def get_random_labels_np(self, minibatch_size, rnd=None):
        """Labels of uniformly random dataset entries (zero-width without labels), drawn with the numpy Generator
        rnd if given, else with np.random."""
        if self.label_size > 0:
            count = self._np_labels.shape[0]
            index = rnd.integers(count, size=minibatch_size) if rnd is not None else np.random.randint(count, size=minibatch_size)
            return self._np_labels[index]
        return np.zeros([minibatch_size, 0], self.label_dtype)

    def close(self):
        self._iterator = None

    def _check_level(self, minibatch_size, lod):
        """floor(lod), once minibatch_size and lod are known to be usable."""
        lod = int(np.floor(lod))
        if minibatch_size < 1:
            raise ValueError(f'minibatch_size must be >= 1, got {minibatch_size}.')
        if lod not in self._lod_files:
            raise ValueError(f'{self.tfrecord_dir}: no data for lod {lod}; available: {sorted(self._lod_files)}.')
        return lod

    # ------------------------------------------------------------------------------------------------
    # tf.data pipelines.

    def as_tf_dataset(self, minibatch_size, lod=0, start=0, part=None, split=1):
        """A tf.data.Dataset of (images uint8 [N, C, H, W], labels) minibatches at the level floor(lod).

        start: the first image of the stream to hand out (a position, see the module's doc).
        part=(offset, count) keeps images [offset, offset + count) of every minibatch; only those are decoded.
        split=k hands out each minibatch (or part) as k consecutive pieces, one element each.
        """
        lod = self._check_level(minibatch_size, lod)
        path, shape = self._lod_files[lod]
        record_bytes = int(np.prod(shape)) * np.dtype(self.dtype).itemsize

        records = tf.data.TFRecordDataset(path, compression_type='', buffer_size=self._buffer_mb << 20)
        if self._max_images is not None:
            records = records.take(self._max_images)
        if self.label_size:
            labels = tf.data.Dataset.from_tensor_slices(self._np_labels)
        else:
            labels = tf.data.Dataset.from_tensors(np.zeros([0], self.label_dtype)).repeat()
        pairs = tf.data.Dataset.zip((records, labels))
        epoch_size = self.num_images
        # Both windows are capped at an epoch of the endlessly repeated stream: a larger shuffle window shuffles the
        # same way, but TensorFlow would reserve all of it for every epoch, and prefetching would fill all of it.
        def images_in(megabytes):
            return min(((megabytes << 20) - 1) // record_bytes + 1, max(epoch_size, minibatch_size))
        shuffle_buffer = images_in(self._shuffle_mb)

        # The tf.data functions are plain Python: no autograph conversion (which would also leave a converted copy in
        # the temp dir of a process that ends with os._exit, as a multi-worker run after SIGTERM does).
        @tf.autograph.experimental.do_not_convert
        def epoch(index):
            if self._shuffle_mb <= 0:
                return pairs
            seed = tf.cast(index, tf.int64) * (1 << 31) + self._shuffle_seed
            return pairs.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=False)

        first_epoch, start = divmod(start, max(epoch_size, 1)) if self._repeat else (0, start)
        epochs = tf.data.Dataset.range(first_epoch, np.iinfo(np.int64).max if self._repeat else 1)
        dset = epochs.flat_map(epoch).skip(start)
        # Batching the serialized records and parsing whole batches is much faster than parsing one by one.
        dset = dset.batch(minibatch_size)

        @tf.autograph.experimental.do_not_convert  # As epoch().
        def parse(records, labels):
            if part is not None:
                records, labels = records[part[0]:part[0] + part[1]], labels[part[0]:part[0] + part[1]]
            data = tf.io.parse_example(records, _FEATURES)['data']
            return tf.reshape(tf.io.decode_raw(data, tf.uint8), [-1] + shape), labels

        dset = dset.map(parse, num_parallel_calls=self._num_threads)
        if split > 1:
            dset = dset.flat_map(lambda images, labels: tf.data.Dataset.from_tensor_slices(
                (tf.reshape(images, [split, -1] + shape), tf.reshape(labels, [split, tf.shape(labels)[0] // split, self.label_size]))))
        if self._repeat:
            # Said outright (TensorFlow cannot tell through flat_map): tf.distribute then skips its end-of-data
            # check, an all-reduce at every minibatch that a multi-worker run would wait on, 20 s at its end too.
            dset = dset.apply(tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY))
        if self._prefetch_mb > 0:
            dset = dset.prefetch((images_in(self._prefetch_mb) - 1) // (minibatch_size // split) + 1)
        return dset

    def distribute(self, strategy, minibatch_size, lod=0):
        """The image stream from the current position for a tf.distribute strategy: each step,
        replica k of the run gets images [k * n, (k + 1) * n) of the next minibatch (n = minibatch_size / replicas),
        uint8, with their labels. Every worker walks the same shuffled stream and decodes only its replicas' images,
        so a run sees the same images in the same groups whatever the number of workers, replicas and rounds."""
        replicas = strategy.num_replicas_in_sync
        if minibatch_size % replicas != 0:
            raise ValueError(f'minibatch_size {minibatch_size} is not a multiple of the {replicas} replicas.')
        start = self._position

        def dataset_fn(context):
            per_worker = minibatch_size // context.num_input_pipelines
            local_replicas = per_worker // context.get_per_replica_batch_size(minibatch_size)
            return self.as_tf_dataset(minibatch_size, lod, start=start, part=(context.input_pipeline_id * per_worker, per_worker),
                                      split=local_replicas)

        return strategy.distribute_datasets_from_function(dataset_fn)

    def distributed_minibatches(self, strategy, minibatch_size, lod=0):
        """Iterate distribute(strategy, minibatch_size, lod) from the current position, advancing the position by a
        minibatch at each step (so that a snapshot's position is where a resumed run continues)."""
        for images_and_labels in iter(self.distribute(strategy, minibatch_size, lod)):
            self._position += minibatch_size
            yield images_and_labels


# ----------------------------------------------------------------------------
# Writing: what dataset_tool.py's commands create.


class TFRecordExporter:
    """Writes <dir>/<name>-rNN.tfrecords for every level from the full resolution down to 4x4, and optionally
    <name>-rxx.labels, into a temporary folder that becomes `tfrecord_dir` only when close() succeeds."""

    def __init__(self, tfrecord_dir, expected_images, print_progress=True, progress_interval=10):
        if os.path.exists(tfrecord_dir) and not os.path.isdir(tfrecord_dir):
            raise FileExistsError(f'{tfrecord_dir} exists and is not a folder; choose another dataset folder.')
        if glob.glob(os.path.join(tfrecord_dir, '*.tfrecords')):
            raise FileExistsError(f'{tfrecord_dir} already holds a dataset (*.tfrecords); remove it or choose another folder.')
        self.tfrecord_dir = tfrecord_dir
        self.expected_images = expected_images  # None when unknown (no percentage or ETA then).
        self.cur_images = 0
        self.shape = None
        self.resolution_log2 = None
        self.tfr_writers = []
        self.print_progress = print_progress
        self.progress_interval = progress_interval
        parent = os.path.dirname(os.path.abspath(tfrecord_dir))
        os.makedirs(parent, exist_ok=True)
        # Hidden and beside the target: the final rename stays on one file system.
        self._tmp_dir = tempfile.mkdtemp(prefix='.tmp-' + os.path.basename(os.path.abspath(tfrecord_dir)) + '-', dir=parent)
        self.tfr_prefix = os.path.join(self._tmp_dir, os.path.basename(os.path.abspath(tfrecord_dir)))
        self._start = time.time()
        self._last_print = 0.0
        if print_progress:
            print('Creating dataset "%s"' % tfrecord_dir)

    def choose_shuffled_order(self):
        """NVIDIA's image order: np.random.RandomState(123).shuffle(np.arange(N)). Add images and labels in it."""
        order = np.arange(self.expected_images)
        np.random.RandomState(123).shuffle(order)
        return order

    def add_image(self, img):
        """img: [C, H, W] with C 1 or 3, H = W a power of two >= 4; stored as uint8, lower levels as 2x2 box means."""
        self.add_encoded(encode_image(img))

    def add_encoded(self, encoded):
        """Write the output of encode_image(), which the create_* commands compute in their decoding threads."""
        shape, records = encoded
        if self.shape is None:
            self.shape = shape
            self.resolution_log2 = int(np.log2(shape[1]))
            for lod in range(self.resolution_log2 - 1):
                path = self.tfr_prefix + tfrecord_suffix(self.resolution_log2 - lod)
                self.tfr_writers.append(tf.io.TFRecordWriter(path, tf.io.TFRecordOptions(compression_type='')))
        if shape != self.shape:
            raise ValueError(f'Image {self.cur_images} has shape {list(shape)}; every image must be {list(self.shape)}.')
        for writer, record in zip(self.tfr_writers, records):
            writer.write(record)
        self.cur_images += 1
        self._show_progress()

    def add_labels(self, labels):
        """labels: [N, label_size], one row per image added, in the order added."""
        labels = np.asarray(labels)
        if labels.ndim != 2 or labels.shape[0] != self.cur_images:
            raise ValueError(f'{list(labels.shape)} labels for {self.cur_images} images; '
                             f'labels must be [number of images, label_size].')
        with open(self.tfr_prefix + LABELS_SUFFIX, 'wb') as f:  # Through a file object: np.save(path) would add '.npy'.
            np.save(f, labels.astype(np.float32))

    def close(self):
        """Finish the files and move the dataset into place."""
        for writer in self.tfr_writers:
            writer.close()
        self.tfr_writers = []
        if self.cur_images == 0:
            self.abort()
            raise ValueError(f'No images were added to {self.tfrecord_dir}; nothing was written.')
        try:
            os.replace(self._tmp_dir, self.tfrecord_dir)  # Atomic; works when the target is absent or an empty folder.
        except OSError:
            # The target holds other files: move ours in, the 4x4 level last, so that an interrupted move leaves
            # a level missing, which every reader refuses.
            names = [LABELS_SUFFIX] + [tfrecord_suffix(r) for r in range(self.resolution_log2, 1, -1)]
            for name in names:
                path = self.tfr_prefix + name
                if os.path.exists(path):
                    os.replace(path, os.path.join(self.tfrecord_dir, os.path.basename(path)))
            os.rmdir(self._tmp_dir)
        if self.print_progress:
            elapsed = time.time() - self._start
            print('\rAdded %d images in %s (%.1f images/s).%s' % (self.cur_images, dnnlib.util.format_time(elapsed),
                                                                   self.cur_images / max(elapsed, 1e-9), ' ' * 40))

    def abort(self):
        """Drop everything written so far."""
        for writer in self.tfr_writers:
            writer.close()
        self.tfr_writers = []
        shutil.rmtree(self._tmp_dir, ignore_errors=True)

    def _show_progress(self):
        now = time.time()
        done, total = self.cur_images, self.expected_images
        if not self.print_progress or (done % self.progress_interval and done != total) or now - self._last_print < 0.25:
            return
        self._last_print = now
        rate = done / max(now - self._start, 1e-9)
        if total:
            frac = min(done / total, 1.0)
            eta = dnnlib.util.format_time((total - done) / rate) if done < total else '0s'
            line = '[%-30s] %d / %d  %3d%%  %.1f images/s  ETA %s' % ('#' * int(frac * 30), done, total, frac * 100, rate, eta)
        else:
            line = '%d images  %.1f images/s' % (done, rate)
        print('\r' + line + '   ', end='', flush=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        if exc_type is None:
            self.close()
        else:
            self.abort()  # Also on KeyboardInterrupt: no half-written dataset.


def encode_image(img):
    """An image [C, H, W] -> (shape, serialized tf.train.Example for every level from H x W down to 4x4).
    Each lower level is the 2x2 box mean of the level above's float32 values (not of its rounded bytes), stored
    rounded half to even and clipped to [0, 255]: NVIDIA's records exactly."""
    if img.ndim != 3 or img.shape[0] not in (1, 3) or img.shape[1] != img.shape[2] or not dnnlib.util.is_power_of_two(img.shape[1]):
        raise ValueError(f'Images must be [C, H, W] with C 1 or 3 and H = W a power of two >= 4, got {list(img.shape)}.')
    log2 = int(np.log2(img.shape[1]))
    shape, records = img.shape, []
    img = np.ascontiguousarray(img)  # Images arrive as transposed HWC views; strided box means on those are 2x slower.
    for lod in range(log2 - 1):
        if lod:
            img = img.astype(np.float32)
            img = (img[:, 0::2, 0::2] + img[:, 0::2, 1::2] + img[:, 1::2, 0::2] + img[:, 1::2, 1::2]) * 0.25
        # uint8 input is stored as is: np.rint would compute it in float16, slowly, to the same values.
        quant = img if img.dtype == np.uint8 else np.rint(img).clip(0, 255).astype(np.uint8)
        feature = {'shape': tf.train.Feature(int64_list=tf.train.Int64List(value=quant.shape)),
                   'data': tf.train.Feature(bytes_list=tf.train.BytesList(value=[quant.tobytes()]))}
        # Sorted map keys: the same bytes on every run (protobuf's map order otherwise varies between processes).
        records.append(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True))
    return shape, records



def load_dataset(class_name=None, data_dir=None, verbose=False, **kwargs):
    """Make a dataset: class_name defaults to TFRecordDataset; tfrecord_dir is taken relative to data_dir."""
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
