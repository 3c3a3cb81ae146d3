"""training.dataset: NVIDIA's TFRecord layout read record for record, the original's calls and arguments, and the
tf.data extras (parts and pieces of minibatches, distribution strategies)."""

import os
import subprocess
import sys

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

import dataset_tool
from tfrecords_for_tests import box_levels, write_dataset
from training import dataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_epoch(dset, lod=0, minibatch=5):
    """Every (image, label) of one pass over a repeat=False dataset, in order."""
    images, labels = [], []
    while True:
        try:
            x, y = dset.get_minibatch_np(minibatch, lod)
        except tf.errors.OutOfRangeError:
            break
        images.append(x)
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels)


@pytest.fixture(scope='module')
def squares(tmp_path_factory):
    """A 16x16 RGB dataset of 12 random images, written independently of dataset_tool, with one-hot labels."""
    root = tmp_path_factory.mktemp('data')
    images = np.random.RandomState(0).randint(0, 256, size=[12, 3, 16, 16]).astype(np.uint8)
    labels = np.eye(12, dtype=np.float32)  # Label = image index: shows that labels travel with their images.
    write_dataset(str(root / 'squares'), images, labels)
    return str(root / 'squares'), images, labels


def test_reads_nvidia_records_at_every_level(squares):
    path, images, labels = squares
    dset = dataset.TFRecordDataset(path, max_label_size='full', repeat=False, shuffle_mb=0)
    assert dset.shape == [3, 16, 16] and dset.resolution == 16 and dset.resolution_log2 == 4
    assert dset.dtype == 'uint8' and dset.dynamic_range == [0, 255] and dset.label_size == 12 and dset.label_dtype == 'float32'
    for lod, level in enumerate(box_levels(images)):
        dset = dataset.TFRecordDataset(path, max_label_size='full', repeat=False, shuffle_mb=0)
        got, got_labels = read_epoch(dset, lod)  # 12 images in minibatches of 5: the last one is partial.
        assert got.dtype == np.uint8 and got.shape == level.shape
        np.testing.assert_array_equal(got, level)
        np.testing.assert_array_equal(got_labels, labels)


def test_round_trip_through_dataset_tool(tmp_path):
    images = np.random.RandomState(1).randint(0, 256, size=[6, 3, 32, 32]).astype(np.uint8)
    os.makedirs(tmp_path / 'pngs')
    for i, img in enumerate(images):
        PIL.Image.fromarray(img.transpose(1, 2, 0)).save(tmp_path / 'pngs' / ('%d.png' % i))
    dataset_tool.execute_cmdline(['dataset_tool.py', 'create_from_images', str(tmp_path / 'ds'), str(tmp_path / 'pngs'), '--shuffle', '0'])
    dset = dataset.load_dataset(tfrecord_dir='ds', data_dir=str(tmp_path), verbose=False, shuffle_mb=0)
    got, labels = dset.get_minibatch_np(6)
    np.testing.assert_array_equal(got, images)
    assert labels.shape == (6, 0)
    for lod, level in enumerate(box_levels(images)):
        np.testing.assert_array_equal(dset.get_minibatch_np(6, lod)[0], level)  # A new pipeline per level.


def test_shuffled_epochs_keep_labels_with_images(squares):
    path, images, _ = squares
    dset = dataset.TFRecordDataset(path, max_label_size='full', repeat=False, shuffle_mb=1)
    got, labels = read_epoch(dset, lod=1)
    index = labels.argmax(axis=1)
    assert sorted(index) == list(range(12))
    np.testing.assert_array_equal(got, box_levels(images)[1][index])


def test_repeat_runs_forever_and_configure_floors_lod(squares):
    path, images, _ = squares
    dset = dataset.TFRecordDataset(path, shuffle_mb=0)
    dset.configure(8, lod=1.7)
    first, _ = dset.get_minibatch_tf()
    second, _ = dset.get_minibatch_tf()
    expected = box_levels(images)[1]
    np.testing.assert_array_equal(first.numpy(), expected[:8])
    np.testing.assert_array_equal(second.numpy(), np.concatenate([expected[8:], expected[:4]]))
    # Known to be endless, so that tf.distribute does not all-reduce an end-of-data flag at every minibatch; a
    # dataset read once is not.
    assert dset.as_tf_dataset(8, split=2).cardinality() == tf.data.INFINITE_CARDINALITY
    once = dataset.TFRecordDataset(path, shuffle_mb=0, repeat=False)
    assert once.as_tf_dataset(8).cardinality() != tf.data.INFINITE_CARDINALITY


def stream_indices(dset, minibatches, minibatch=5, lod=0):
    """The image indices (from the one-hot labels) of the next minibatches, checked against their pixels."""
    images = dset.squares[1]
    index = []
    for _ in range(minibatches):
        x, y = dset.get_minibatch_np(minibatch, lod)
        np.testing.assert_array_equal(x, box_levels(images)[int(lod)][y.argmax(axis=1)])
        index.extend(y.argmax(axis=1))
    return index


def seeded(squares, seed):
    dset = dataset.TFRecordDataset(squares[0], max_label_size='full', shuffle_mb=1, shuffle_seed=seed)
    dset.squares = squares
    return dset


def test_image_stream_is_reproducible_and_resumable(squares):
    stream = stream_indices(seeded(squares, 5), 8)  # 40 images: three whole epochs of 12, and a part.
    for e in range(3):
        assert sorted(stream[12 * e:12 * (e + 1)]) == list(range(12))
    assert stream[:12] != stream[12:24] and stream[:12] != list(range(12))  # Each epoch in its own order.
    assert stream_indices(seeded(squares, 5), 8) == stream
    assert stream_indices(seeded(squares, 6), 8) != stream

    # A dataset told where the stream stopped continues it exactly, also in the middle of an epoch.
    resumed = seeded(squares, 5)
    resumed.position = 15
    assert stream_indices(resumed, 5) == stream[15:40] and resumed.position == 40

    # Another level of detail or minibatch size continues the same stream (all levels hold the same images).
    dset = seeded(squares, 5)
    mixed = stream_indices(dset, 2) + stream_indices(dset, 3, minibatch=4, lod=1) + stream_indices(dset, 1, lod=2)
    assert mixed == stream[:27] and dset.position == 27

    # Without repeat, every level is a whole pass of its own, as in the original.
    single = dataset.TFRecordDataset(squares[0], max_label_size='full', repeat=False, shuffle_mb=0)
    for lod in (0, 1, 0):
        images, labels = read_epoch(single, lod)
        np.testing.assert_array_equal(images, box_levels(squares[1])[lod])


def test_end_of_dataset_raises_out_of_range(squares):
    dset = dataset.TFRecordDataset(squares[0], repeat=False, shuffle_mb=0)
    assert dset.get_minibatch_np(12)[0].shape == (12, 3, 16, 16)
    with pytest.raises(tf.errors.OutOfRangeError):
        dset.get_minibatch_np(12)
    with pytest.raises(RuntimeError, match='Call configure'):
        dataset.TFRecordDataset(squares[0]).get_minibatch_tf()


def test_label_options(squares):
    path, images, labels = squares
    assert dataset.TFRecordDataset(path).label_size == 0  # max_label_size=0: labels not used.
    dset = dataset.TFRecordDataset(path, max_label_size=3, repeat=False, shuffle_mb=0)
    assert dset.label_size == 3
    np.testing.assert_array_equal(read_epoch(dset)[1], labels[:, :3])
    dset = dataset.TFRecordDataset(path, label_file='squares-rxx.labels', max_label_size='full', max_images=5,
                                   repeat=False, shuffle_mb=0)
    got, got_labels = read_epoch(dset, minibatch=4)
    np.testing.assert_array_equal(got, images[:5])
    np.testing.assert_array_equal(got_labels, labels[:5])
    random_labels = dset.get_random_labels_np(50)
    assert random_labels.shape == (50, 12) and set(random_labels.argmax(axis=1)) <= set(range(5))
    assert dataset.TFRecordDataset(path).get_random_labels_np(4).shape == (4, 0)


def test_lower_resolution_ignores_finer_files(squares):
    path, images, _ = squares
    dset = dataset.TFRecordDataset(path, resolution=8, repeat=False, shuffle_mb=0)
    assert dset.shape == [3, 8, 8]
    np.testing.assert_array_equal(dset.get_minibatch_np(12)[0], box_levels(images)[1])
    with pytest.raises(ValueError, match='no data for lod 2; available: \\[0, 1\\]'):
        dset.configure(4, lod=2)
    with pytest.raises(ValueError, match='resolution must be a power of two >= 4, got 12'):
        dataset.TFRecordDataset(path, resolution=12)


def test_bad_datasets_are_refused_with_the_reason(tmp_path):
    images = np.zeros([4, 3, 16, 16], np.uint8)
    write_dataset(str(tmp_path / 'a'), images, np.zeros([3, 2]))
    with pytest.raises(ValueError, match=r'a-rxx.labels: 3 labels for 4 images in .*; there must be one label row per image'):
        dataset.TFRecordDataset(str(tmp_path / 'a'), max_label_size='full')
    with open(tmp_path / 'a' / 'a-rxx.labels', 'wb') as f:
        np.save(f, np.zeros([4]))
    with pytest.raises(ValueError, match=r'labels must be a 2-D array \[N, label_size\], got shape \[4\]'):
        dataset.TFRecordDataset(str(tmp_path / 'a'), max_label_size='full')
    with pytest.raises(FileNotFoundError, match='Label file not found: other.labels'):
        dataset.TFRecordDataset(str(tmp_path / 'a'), label_file='other.labels', max_label_size='full')
    os.remove(tmp_path / 'a' / 'a-r03.tfrecords')
    with pytest.raises(ValueError, match='no file for resolution 8; every level from 16 down to 4 is needed'):
        dataset.TFRecordDataset(str(tmp_path / 'a'))
    write_dataset(str(tmp_path / 'b'), images)
    write_dataset(str(tmp_path / 'gray'), np.zeros([4, 1, 8, 8], np.uint8))
    os.replace(tmp_path / 'gray' / 'gray-r03.tfrecords', tmp_path / 'b' / 'b-r03.tfrecords')
    with pytest.raises(ValueError, match=r'b-r03.tfrecords: records of shape \[1, 8, 8\]; every file must hold'):
        dataset.TFRecordDataset(str(tmp_path / 'b'))
    with pytest.raises(FileNotFoundError, match='Dataset directory not found'):
        dataset.TFRecordDataset(str(tmp_path / 'nothing'))
    os.makedirs(tmp_path / 'empty')
    with pytest.raises(FileNotFoundError, match='holds no \\*.tfrecords files'):
        dataset.TFRecordDataset(str(tmp_path / 'empty'))
    with pytest.raises(ValueError, match="max_label_size must be 0, a positive int or 'full'"):
        dataset.TFRecordDataset(str(tmp_path / 'gray'), max_label_size='all')


def test_parts_and_splits_of_minibatches(squares):
    path, images, labels = squares
    dset = dataset.TFRecordDataset(path, max_label_size='full', shuffle_mb=0)
    # Minibatches of 8; keep images 4-7 of each, handed out as two pieces of 2.
    pieces = list(dset.as_tf_dataset(8, part=(4, 4), split=2).take(4))
    order = np.arange(2 * len(images)) % len(images)  # 12 images: the second minibatch runs into the second epoch.
    for piece, expected in zip(pieces, [order[4:6], order[6:8], order[12:14], order[14:16]]):
        np.testing.assert_array_equal(piece[0].numpy(), images[expected])
        np.testing.assert_array_equal(piece[1].numpy(), labels[expected])


DISTRIBUTE_SCRIPT = r'''
import sys, numpy as np, tensorflow as tf
sys.path.insert(0, sys.argv[2])
from training import dataset
cpu = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
dset = dataset.TFRecordDataset(sys.argv[1], max_label_size='full', shuffle_mb=0)
images, labels = next(iter(dset.distribute(strategy, 8, lod=1)))
images, labels = strategy.experimental_local_results(images), strategy.experimental_local_results(labels)
np.savez(sys.argv[3], images0=images[0].numpy(), images1=images[1].numpy(), labels0=labels[0].numpy(),
         labels1=labels[1].numpy())
'''


def test_distribute_gives_each_replica_its_part(squares, tmp_path):
    path, images, labels = squares
    out = str(tmp_path / 'replicas.npz')
    proc = subprocess.run([sys.executable, '-c', DISTRIBUTE_SCRIPT, path, REPO, out], capture_output=True, text=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = np.load(out)
    level = box_levels(images)[1]
    np.testing.assert_array_equal(got['images0'], level[0:4])  # Global batch of 8: 4 images per replica.
    np.testing.assert_array_equal(got['images1'], level[4:8])
    np.testing.assert_array_equal(got['labels0'], labels[0:4])
    np.testing.assert_array_equal(got['labels1'], labels[4:8])


def test_distribute_needs_a_divisible_minibatch(squares):
    class TwoReplicas:
        num_replicas_in_sync = 2

    with pytest.raises(ValueError, match='minibatch_size 7 is not a multiple of the 2 replicas'):
        dataset.TFRecordDataset(squares[0]).distribute(TwoReplicas(), 7)


def test_load_dataset_verbose(squares, capsys):
    path, _, _ = squares
    dset = dataset.load_dataset(tfrecord_dir=os.path.basename(path), data_dir=os.path.dirname(path), verbose=True)
    assert isinstance(dset, dataset.TFRecordDataset)
    text = capsys.readouterr().out
    assert 'Dataset shape = [3, 16, 16]' in text and 'Label size    = 0' in text
    with pytest.raises(ValueError, match='give tfrecord_dir'):
        dataset.load_dataset()
