"""dataset_tool.py writes NVIDIA's TFRecord layout; training.dataset reads it back."""

import glob
import os

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

import dataset_tool
from training import dataset


def write_pngs(folder, images):
    os.makedirs(folder, exist_ok=True)
    for i, img in enumerate(images):
        PIL.Image.fromarray(img.transpose(1, 2, 0) if img.shape[0] == 3 else img[0]).save(os.path.join(folder, 'img%03d.png' % i))


def read_records(path):
    """Parse with plain tf.io.parse_single_example and only NVIDIA's two feature keys."""
    out = []
    for record in tf.data.TFRecordDataset(path):
        ex = tf.io.parse_single_example(record, {'shape': tf.io.FixedLenFeature([3], tf.int64),
                                                 'data': tf.io.FixedLenFeature([], tf.string)})
        out.append(np.frombuffer(ex['data'].numpy(), np.uint8).reshape(ex['shape'].numpy()))
    return np.stack(out)


def box_levels(images):
    """Every lower level as the 2x2 box mean of the previous level's float values, rounded half to even."""
    levels, level = [], images.astype(np.float64)
    while level.shape[2] >= 4:
        levels.append(np.rint(level).clip(0, 255).astype(np.uint8))
        n, c, h, w = level.shape
        level = level.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))
    return levels


def test_create_from_images_round_trip(tmp_path):
    images = np.random.RandomState(0).randint(0, 256, size=[5, 3, 16, 16]).astype(np.uint8)
    write_pngs(str(tmp_path / 'pngs'), images)
    out = str(tmp_path / 'ds')
    dataset_tool.execute_cmdline(['dataset_tool.py', 'create_from_images', out, str(tmp_path / 'pngs'), '--shuffle', '0'])
    assert sorted(os.listdir(out)) == ['ds-r02.tfrecords', 'ds-r03.tfrecords', 'ds-r04.tfrecords']
    for level in box_levels(images):
        np.testing.assert_array_equal(read_records(os.path.join(out, 'ds-r%02d.tfrecords' % int(np.log2(level.shape[2])))), level)
    dset = dataset.load_dataset(tfrecord_dir='ds', data_dir=str(tmp_path), shuffle_mb=0)
    assert dset.shape == [3, 16, 16] and dset.label_size == 0
    reals, labels = dset.get_minibatch_np(5)
    np.testing.assert_array_equal(reals, images)
    assert labels.shape == (5, 0)
    low, _ = dset.get_minibatch_np(5, lod=2)  # 4x4 level.
    np.testing.assert_array_equal(low, box_levels(images)[2])


def test_shuffle_uses_nvidia_permutation(tmp_path):
    images = np.stack([np.full([1, 8, 8], i * 10, np.uint8) for i in range(7)])
    write_pngs(str(tmp_path / 'pngs'), images)
    out = str(tmp_path / 'ds')
    dataset_tool.execute_cmdline(['dataset_tool.py', 'create_from_images', out, str(tmp_path / 'pngs')])
    order = np.arange(7)
    np.random.RandomState(123).shuffle(order)
    np.testing.assert_array_equal(read_records(os.path.join(out, 'ds-r03.tfrecords'))[:, 0, 0, 0], order * 10)


def test_create_demo_and_info(tmp_path, capsys):
    out = str(tmp_path / 'demo')
    dataset_tool.execute_cmdline(['dataset_tool.py', 'create_demo', out, '--num_images', '12', '--resolution', '16'])
    records = read_records(os.path.join(out, 'demo-r04.tfrecords'))
    assert records.shape == (12, 3, 16, 16)
    assert all(len(np.unique(img.reshape(3, -1), axis=1)) >= 2 for img in records)  # A shape on a background.
    dataset_tool.execute_cmdline(['dataset_tool.py', 'info', out])
    text = capsys.readouterr().out
    assert 'Resolution:  16x16' in text and 'Images:      12' in text and 'demo-r02.tfrecords' in text


@pytest.mark.parametrize('make,message', [
    (lambda d: os.makedirs(d), 'No input images found in'),
    (lambda d: write_pngs(d, np.zeros([2, 3, 8, 16], np.uint8)), 'images must be square with a power-of-two size'),
    (lambda d: write_pngs(d, np.zeros([2, 3, 12, 12], np.uint8)), 'images must be square with a power-of-two size'),
    (lambda d: (write_pngs(d, np.zeros([1, 3, 8, 8], np.uint8)), PIL.Image.new('RGB', (16, 16)).save(os.path.join(d, 'z.png'))),
     r'z.png: shape \[3, 16, 16\], expected \[3, 8, 8\]'),
    (lambda d: (write_pngs(d, np.zeros([1, 3, 8, 8], np.uint8)), open(os.path.join(d, 'y.png'), 'w').write('not a png')),
     'y.png: cannot read the image'),
])
def test_bad_input_leaves_no_dataset(tmp_path, capsys, make, message):
    src = str(tmp_path / 'pngs')
    make(src)
    out = str(tmp_path / 'ds')
    with pytest.raises(SystemExit):
        dataset_tool.execute_cmdline(['dataset_tool.py', 'create_from_images', out, src])
    assert __import__('re').search(message, capsys.readouterr().out)
    assert not os.path.exists(out) and not glob.glob(str(tmp_path / '.tmp-*'))


def test_existing_dataset_is_not_overwritten(tmp_path, capsys):
    out = str(tmp_path / 'demo')
    dataset_tool.execute_cmdline(['dataset_tool.py', 'create_demo', out, '--num_images', '3', '--resolution', '8'])
    before = {f: os.path.getmtime(os.path.join(out, f)) for f in os.listdir(out)}
    with pytest.raises(SystemExit):
        dataset_tool.execute_cmdline(['dataset_tool.py', 'create_demo', out, '--num_images', '3', '--resolution', '8'])
    assert 'already holds a dataset' in capsys.readouterr().out
    assert {f: os.path.getmtime(os.path.join(out, f)) for f in os.listdir(out)} == before


def test_resize_and_center_crop_make_mixed_images_usable(tmp_path):
    src = tmp_path / 'mixed'
    src.mkdir()
    wide = np.zeros([20, 40, 3], np.uint8)
    wide[:, 10:30] = 200  # A bright central square in a wide image.
    PIL.Image.fromarray(wide).save(src / 'a.png')
    PIL.Image.fromarray(np.full([30, 30, 3], 90, np.uint8)).save(src / 'b.png')  # Square, not a power of two.
    out = str(tmp_path / 'ds')
    dataset_tool.execute_cmdline(['dataset_tool.py', 'create_from_images', out, str(src), '--shuffle', '0',
                                  '--resize', '8', '--center-crop'])
    records = read_records(os.path.join(out, 'ds-r03.tfrecords'))
    assert records.shape == (2, 3, 8, 8)
    np.testing.assert_array_equal(records[0], 200)  # The central 20x20 crop is all bright.
    np.testing.assert_array_equal(records[1], 90)
    padded = str(tmp_path / 'padded')
    dataset_tool.execute_cmdline(['dataset_tool.py', 'create_from_images', padded, str(src), '--shuffle', '0', '--resize', '8'])
    first = read_records(os.path.join(padded, 'padded-r03.tfrecords'))[0]
    assert first[:, 0].max() == 0 and first[:, 4, 4].min() > 150  # Black bars above and below, content in the middle.


def test_center_crop_without_resize_is_refused(tmp_path, capsys):
    write_pngs(str(tmp_path / 'pngs'), np.zeros([1, 3, 8, 8], np.uint8))
    with pytest.raises(SystemExit):
        dataset_tool.execute_cmdline(['dataset_tool.py', 'create_from_images', str(tmp_path / 'ds'), str(tmp_path / 'pngs'), '--center-crop'])
    assert '--center-crop needs --resize R' in capsys.readouterr().out


def test_labels_are_read_and_a_wrong_count_is_refused(tmp_path):
    out = str(tmp_path / 'demo')
    dataset_tool.execute_cmdline(['dataset_tool.py', 'create_demo', out, '--num_images', '6', '--resolution', '8'])
    labels = np.eye(3)[[0, 1, 2, 0, 1, 2]]
    with open(os.path.join(out, 'demo-rxx.labels'), 'wb') as f:
        np.save(f, labels.astype(np.float32))
    dset = dataset.TFRecordDataset(out, max_label_size='full', shuffle_mb=0)
    assert dset.label_size == 3
    _, got = dset.get_minibatch_np(6)
    np.testing.assert_array_equal(got, labels)
    assert np.load(os.path.join(out, 'demo-rxx.labels')).shape == (6, 3)
    with open(os.path.join(out, 'demo-rxx.labels'), 'wb') as f:
        np.save(f, labels[:4].astype(np.float32))
    with pytest.raises(ValueError, match='4 labels for 6 images'):
        dataset.TFRecordDataset(out, max_label_size='full')


def test_exporter_writes_labels_nvidia_style(tmp_path):
    out = str(tmp_path / 'lab')
    with dataset_tool.TFRecordExporter(out, 2, print_progress=False) as tfr:
        for value in (10, 20):
            tfr.add_image(np.full([1, 4, 4], value, np.uint8))
        with pytest.raises(ValueError, match='3 labels for 2 images'):
            tfr.add_labels(np.zeros([3, 5]))
        tfr.add_labels(np.eye(5)[[1, 3]])
    assert sorted(os.listdir(out)) == ['lab-r02.tfrecords', 'lab-rxx.labels']
    np.testing.assert_array_equal(np.load(os.path.join(out, 'lab-rxx.labels')), np.eye(5, dtype=np.float32)[[1, 3]])
