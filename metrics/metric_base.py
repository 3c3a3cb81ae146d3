"""Common definitions for the metrics: running one on a network pickle, reals and fakes, progress, result lines,
the cached statistics of the reals, and the local files of the feature networks."""

import glob
import hashlib
import os
import time

import numpy as np
import tensorflow as tf

import dnnlib
import dnnlib.tflib as tflib
from dnnlib.tflib import tfutil
from training import dataset, misc

# ----------------------------------------------------------------------------
# Feature networks come from local files only: a folder given by --metric-data, or by this environment variable,
# or the default under the cache directory. Nothing is downloaded.

METRIC_DATA_ENV = 'STYLEGAN2_METRIC_DATA'
_metric_data_dir = None


def set_metric_data_dir(path):
    """Where the feature network files are, for this process (None: $STYLEGAN2_METRIC_DATA or the default)."""
    global _metric_data_dir
    _metric_data_dir = path


def metric_data_dir():
    return _metric_data_dir or os.environ.get(METRIC_DATA_ENV) or dnnlib.util.make_cache_dir_path('metric-data')


def metric_file(filename, metric_name, published_at):
    """The path of a feature network file a metric needs; a clear error if it is not in the metric data folder."""
    return metric_files([filename], metric_name, published_at)[0]


def metric_files(filenames, metric_name, published_at):
    """The paths of the feature network files a metric needs; one clear error naming them all if any is missing."""
    paths = [os.path.join(metric_data_dir(), filename) for filename in filenames]
    missing = [filename for filename, path in zip(filenames, paths) if not os.path.isfile(path)]
    if missing:
        if len(filenames) == 1:
            needs = f'the file {filenames[0]}, which is not in the metric data folder {metric_data_dir()}. It is'
        else:
            needs = (f'the {len(filenames)} files {", ".join(filenames)}; missing from the metric data folder '
                     f'{metric_data_dir()}: {", ".join(missing[:3])}{", ..." * (len(missing) > 3)}. They are')
        them = 'it' if len(filenames) == 1 else 'them'
        raise FileNotFoundError(
            f'Metric {metric_name} needs {needs} published at {published_at}. Nothing is downloaded here: get {them} '
            f'there, put {them} in a folder and pass that folder as --metric-data DIR (or set {METRIC_DATA_ENV}).')
    return paths


def file_md5(path):
    """The MD5 of a file's bytes, read in chunks."""
    with open(path, 'rb') as file:
        return hashlib.file_digest(file, 'md5').hexdigest()


_feature_networks = {}  # (path, size, mtime) -> network: each file is read once per process, again if it changes.


def load_feature_network(filename, metric_name, published_at, build):
    """build(path) of a file in the metric data folder, once per process; metric_file's error if it is missing."""
    path = os.path.abspath(metric_file(filename, metric_name, published_at))
    stat = os.stat(path)
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key not in _feature_networks:
        _feature_networks[key] = build(path)
    return _feature_networks[key]


# ----------------------------------------------------------------------------
# Base class.

# The largest statistics of the reals written to the cache (the arrays' bytes; the .npz file adds a few hundred
# bytes per array): FID's 33 MB, PR's 819 MB and swd1k's descriptors (at most 539 MB, 7 levels at 1024x1024) fit;
# swd16k's (1.2 GB per pyramid level, 8.6 GB at 1024x1024) do not.
REALS_CACHE_MAX_BYTES = 1 << 30


class MetricBase:
    """A metric: _evaluate(Gs, Gs_kwargs, num_gpus) computes it and reports its values with _report_result().
    mirror_reals=False: the reals are never mirrored, whatever run()'s mirror_augment (stylegan2-ada's *_full
    metrics)."""

    def __init__(self, name, progress_sec=10, mirror_reals=True):
        self.name = name
        self._progress_sec = progress_sec
        self.mirror_reals = mirror_reals
        self._reset()

    def _reset(self, network_pkl=None, data_dir=None, dataset_args=None, mirror_augment=False):
        self._network_pkl = network_pkl
        self._data_dir = data_dir
        self._dataset_args = dict(dataset_args or {})
        self._mirror_augment = mirror_augment and self.mirror_reals
        self._dataset_obj = None
        self._eval_time = 0.0
        self._results = []
        self._progress_start = self._progress_time = None

    def run(self, network_pkl, run_dir=None, data_dir=None, dataset_args=None, mirror_augment=False, num_gpus=1,
            tf_config=None, log_results=True, Gs_kwargs=dict(is_validation=True)):
        """Evaluate the Gs of a network pickle against a dataset; print the result line and append it to
        <run_dir>/metric-<name>.txt. dataset_args: load_dataset() arguments (tfrecord_dir, ...)."""
        self._reset(network_pkl, data_dir, dataset_args, mirror_augment)
        if tf_config is not None:
            tflib.init_tf(tf_config)
        time_begin = time.time()
        _G, _D, Gs = misc.load_pkl(network_pkl)
        self._evaluate(Gs, Gs_kwargs=dict(Gs_kwargs), num_gpus=num_gpus)
        self._eval_time = time.time() - time_begin
        if self._dataset_obj is not None:
            self._dataset_obj.close()
            self._dataset_obj = None
        if log_results:
            line = self.get_result_str().strip()
            print(line, flush=True)
            if run_dir is not None:
                with open(os.path.join(run_dir, 'metric-%s.txt' % self.name), 'a') as file:
                    file.write(line + '\n')
        return self.get_results()

    def get_results(self):
        """{name + suffix: value} of the last run, e.g. {'fid50k': 4.41} or {'pr50k3_precision': ..., ...}."""
        return {self.name + res.suffix: res.value for res in self._results}

    def get_result_str(self):
        """The original's line: network name (shortened to 29 characters), time, then 'name<suffix> value' each."""
        network_name = os.path.splitext(os.path.basename(self._network_pkl))[0]
        if len(network_name) > 29:
            network_name = '...' + network_name[-26:]
        result_str = '%-30s' % network_name
        result_str += ' time %-12s' % dnnlib.util.format_time(self._eval_time)
        for res in self._results:
            result_str += ' ' + self.name + res.suffix + ' '
            result_str += res.fmt % res.value
        return result_str

    def check_files(self):
        """Raise FileNotFoundError (metric_file's) if a feature network file this metric needs is missing, ValueError
        if one is not what the metric reads."""

    def _evaluate(self, Gs, Gs_kwargs, num_gpus):
        raise NotImplementedError  # Subclasses compute the metric here.

    def _report_result(self, value, suffix='', fmt='%-10.4f'):
        self._results.append(dnnlib.EasyDict(value=float(value), suffix=suffix, fmt=fmt))

    def _report_progress(self, done, total, what='images'):
        """A progress line with the rate and the time left, at most every progress_sec seconds, and at the end."""
        now = time.time()
        if self._progress_start is None or done == 0:
            self._progress_start, self._progress_time = now, now
        if done < total and now < self._progress_time + self._progress_sec:
            return
        self._progress_time = now
        rate = done / max(now - self._progress_start, 1e-8)
        eta = (total - done) / rate if rate > 0 else 0.0
        print('%s: %d / %d %s, %.1f %s/s, %s left' % (self.name, done, total, what, rate, what,
                                                      dnnlib.util.format_time(eta)), flush=True)

    def _first_images(self, minibatches, num_images, what='images'):
        """(index of its first image, minibatch) for the minibatches of a stream, cut to its first num_images images,
        with progress reports."""
        done = 0
        self._report_progress(0, num_images, what)
        for images in minibatches:
            images = images[:num_images - done]
            yield done, images
            done += images.shape[0]
            self._report_progress(done, num_images, what)
            if done == num_images:
                return

    def _collect(self, func, minibatches, num_images, what):
        """func(minibatch) for the first num_images images of a stream of minibatches, as one float32 array."""
        result = None
        for done, images in self._first_images(minibatches, num_images, what):
            values = np.asarray(func(images))
            if result is None:
                result = np.empty([num_images] + list(values.shape[1:]), np.float32)
            result[done:done + values.shape[0]] = values
        return result

    # -- reals ----------------------------------------------------------------

    def _get_dataset_obj(self):
        if self._dataset_obj is None:
            # In file order (no shuffling), as the original reads the reals for its statistics.
            self._dataset_obj = dataset.load_dataset(data_dir=self._data_dir, **dict(self._dataset_args, shuffle_mb=0))
        return self._dataset_obj

    def _iterate_reals(self, minibatch_size):
        """Endless uint8 NCHW minibatches of the dataset in file order; with mirror_augment, a random half of the
        images mirrored (seeded, so the cached statistics are reproducible)."""
        dataset_obj = self._get_dataset_obj()
        rnd = np.random.RandomState(123)
        while True:
            images, _labels = dataset_obj.get_minibatch_np(minibatch_size)
            if self._mirror_augment:
                mask = rnd.rand(images.shape[0]) < 0.5
                images = np.array(images)
                images[mask] = images[mask, :, :, ::-1]
            yield images

    def _dataset_num_images(self):
        """How many images the dataset has (its highest-resolution TFRecord file)."""
        return self._get_dataset_obj().num_images

    def _get_random_labels(self, minibatch_size, rnd):
        return self._get_dataset_obj().get_random_labels_np(minibatch_size, rnd)

    def _cached_reals_stats(self, compute, **settings):
        """The statistics of the reals as a dict of arrays: computed by compute() once, then read from the cache.

        The cache file is keyed by the metric, its settings, the mirroring, the dataset arguments and a fingerprint
        of the dataset's files (names, sizes, times and their first and last bytes), so a changed dataset never gets
        old statistics. Stored as .npz (arrays only: reading it runs no code), and only when the arrays add up to at
        most REALS_CACHE_MAX_BYTES; larger statistics are computed again at every evaluation.
        """
        key = dict(metric_name=self.name, mirror_augment=self._mirror_augment, dataset_args=sorted(self._dataset_args.items()),
                   dataset_files=self._dataset_fingerprint(), **settings)
        md5 = hashlib.md5(repr(sorted(key.items())).encode('utf-8')).hexdigest()
        dataset_name = os.path.basename(os.path.normpath(self._dataset_args.get('tfrecord_dir', 'dataset')))
        path = dnnlib.util.make_cache_dir_path('metric-stats', '%s-%s-%s.npz' % (md5, self.name, dataset_name))
        if os.path.isfile(path):
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        stats = compute()
        num_bytes = sum(np.asarray(value).nbytes for value in stats.values())
        if num_bytes > REALS_CACHE_MAX_BYTES:
            print('%s: the statistics of the reals (%.2f GB) are over the cache limit of %.2f GB: not cached, computed '
                  'again at each evaluation.' % (self.name, num_bytes / 1e9, REALS_CACHE_MAX_BYTES / 1e9), flush=True)
            return stats
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with dnnlib.util.atomic_write(path) as file:
            np.savez(file, **stats)
        return stats

    def _dataset_fingerprint(self):
        tfrecord_dir = self._dataset_args.get('tfrecord_dir', '')
        if self._data_dir is not None:
            tfrecord_dir = os.path.join(self._data_dir, tfrecord_dir)
        fingerprint = []
        for path in sorted(glob.glob(os.path.join(tfrecord_dir, '*'))):
            stat = os.stat(path)
            with open(path, 'rb') as file:
                head = file.read(1 << 16)
                file.seek(max(stat.st_size - (1 << 16), 0))
                tail = file.read()
            fingerprint.append((os.path.basename(path), stat.st_size, stat.st_mtime_ns,
                                hashlib.md5(head + tail).hexdigest()))
        return fingerprint

    # -- fakes ----------------------------------------------------------------

    def _iterate_fakes(self, Gs, minibatch_size, num_gpus, Gs_kwargs, rnd, outputs=None):
        """Endless uint8 NCHW minibatches of Gs's images: z ~ N(0, I) and random dataset labels from rnd (a numpy
        Generator), Gs_kwargs as given (the original's is_validation=True: no truncation). The random draws inside
        Gs (StyleGAN's and StyleGAN2's noise inputs with randomize_noise) are fresh for every image, as in the
        original, but keyed on a seed that rnd gives each minibatch: the same rnd gives the same images.
        outputs: f(latents, labels) -> tensor, computed on each device instead of the images."""
        def images(latents, labels):
            return tflib.convert_images_to_uint8(Gs.get_output_for(latents, labels, **Gs_kwargs))

        generate = _fakes_function(Gs, outputs or images, num_gpus)
        label_size = Gs.input_shapes[1][1]
        while True:
            latents = rnd.standard_normal([minibatch_size] + Gs.input_shape[1:])
            labels = self._get_random_labels(minibatch_size, rnd) if label_size else np.zeros([minibatch_size, 0])
            seed = rnd.integers(1 << 62, size=2)
            yield generate(np.float32(latents), np.float32(labels), seed).numpy()


def _fakes_function(Gs, outputs, num_gpus):
    """A compiled (latents, labels, seed int64 [2]) -> outputs(latents, labels), split over the devices; Gs's own
    random draws come from stateless ops keyed on seed (tflib.reproducible_random), not from TensorFlow's global
    state."""
    device_names = devices(num_gpus)

    def generate(latents, labels, seed):
        parts = []
        with tflib.reproducible_random(seed):
            for device, part_latents, part_labels in zip(device_names, tf.split(latents, len(device_names)),
                                                         tf.split(labels, len(device_names))):
                with tf.device(device):
                    parts.append(outputs(part_latents, part_labels))
        return tf.concat(parts, axis=0)

    return tfutil.function(generate, input_signature=[tf.TensorSpec([None] + Gs.input_shape[1:], tf.float32),
                                                     tf.TensorSpec([None, Gs.input_shapes[1][1]], tf.float32),
                                                     tf.TensorSpec([2], tf.int64)])


def devices(num_gpus):
    """The devices a metric spreads its feature network over: num_gpus GPUs (or logical CPU devices), else the
    default device."""
    found = tf.config.list_logical_devices('GPU') or tf.config.list_logical_devices('CPU')
    return [device.name for device in found[:num_gpus]] if num_gpus > 1 and len(found) >= num_gpus else [None]


def run_on_devices(func, inputs, num_gpus):
    """func(batch) -> array on each device's part of the numpy batch, concatenated: the metrics' multi-GPU runs."""
    names = devices(num_gpus)
    outputs = []
    for device, part in zip(names, np.array_split(inputs, len(names))):
        with tf.device(device):
            outputs.append(np.asarray(func(part)))
    return np.concatenate(outputs, axis=0)


# ----------------------------------------------------------------------------
# Several metrics in a row (train.py --metrics, run_metrics.py --metrics).


class MetricGroup:
    def __init__(self, metric_kwarg_list):
        self.metrics = [dnnlib.util.call_func_by_name(**kwargs) for kwargs in metric_kwarg_list]

    def run(self, *args, **kwargs):
        results = {}
        for metric in self.metrics:
            results.update(metric.run(*args, **kwargs))
        return results

    def check_files(self):
        """Raise FileNotFoundError if a feature network file one of the metrics needs is missing, ValueError if one is
        not what the metric reads."""
        for metric in self.metrics:
            metric.check_files()

    def get_result_str(self):
        return ' '.join(metric.get_result_str() for metric in self.metrics)
