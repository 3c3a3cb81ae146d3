"""dataset_tool.py: every command on tiny data made here, NVIDIA's record layout and order, and bad input that must
fail with a clear message and leave no output behind."""

import glob
import gzip
import io
import os
import pickle
import re
import signal
import sys
import types

import h5py
import numpy as np
import PIL.Image
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import dataset_tool
from tfrecords_for_tests import box_levels
from training import dataset


def run_tool(*args):
    dataset_tool.execute_cmdline(['dataset_tool.py'] + [str(a) for a in args])


def fail_tool(capsys, *args):
    """Run a command that must fail; its error message (stderr)."""
    with pytest.raises(SystemExit) as exc:
        run_tool(*args)
    assert exc.value.code == 1
    return capsys.readouterr().err


def write_pngs(folder, images, names=None):
    """uint8 [N, C, H, W] as PNG files img000.png, ... (or the given names)."""
    os.makedirs(folder, exist_ok=True)
    for i, img in enumerate(images):
        name = names[i] if names else 'img%03d.png' % i
        PIL.Image.fromarray(img.transpose(1, 2, 0) if img.shape[0] == 3 else img[0]).save(os.path.join(folder, name))


def read_records(path):
    """Parse with plain tf.io.parse_single_example and only NVIDIA's two feature keys (and no others are there)."""
    out = []
    for record in tf.data.TFRecordDataset(path):
        assert set(tf.train.Example.FromString(record.numpy()).features.feature) == {'shape', 'data'}
        ex = tf.io.parse_single_example(record, {'shape': tf.io.FixedLenFeature([3], tf.int64),
                                                 'data': tf.io.FixedLenFeature([], tf.string)})
        out.append(np.frombuffer(ex['data'].numpy(), np.uint8).reshape(ex['shape'].numpy()))
    return np.stack(out)


def read_level(out, resolution):
    return read_records(os.path.join(out, '%s-r%02d.tfrecords' % (os.path.basename(out), int(np.log2(resolution)))))


def nvidia_order(n):
    order = np.arange(n)
    np.random.RandomState(123).shuffle(order)
    return order


def assert_nothing_left(tmp_path, out):
    assert not os.path.exists(out)
    assert not glob.glob(str(tmp_path / '.tmp-*')), 'temporary folder left behind'


def assert_dataset(out, images, labels=None):
    """Every level of the dataset equals the independent box means of images; labels as given."""
    res_log2 = int(np.log2(images.shape[2]))
    expected_files = ['%s-r%02d.tfrecords' % (os.path.basename(out), r) for r in range(2, res_log2 + 1)]
    if labels is not None:
        expected_files.append('%s-rxx.labels' % os.path.basename(out))
    assert sorted(os.listdir(out)) == sorted(expected_files)
    for level in box_levels(images):
        np.testing.assert_array_equal(read_level(out, level.shape[2]), level)
    if labels is not None:
        got = np.load(os.path.join(out, '%s-rxx.labels' % os.path.basename(out)))
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, labels)


# ----------------------------------------------------------------------------
# create_from_images


def test_create_from_images_levels_and_order(tmp_path):
    rnd = np.random.RandomState(0)
    images = rnd.randint(0, 256, size=[7, 3, 16, 16]).astype(np.uint8)
    # Image 0: its 8x8 level has the values 0.5 0.5 / 0.5 1.5 in one 2x2 block; from those floats the 4x4 level is
    # rint(0.75) = 1, from their rounded bytes (0 0 / 0 2) it would be rint(0.5) = 0.
    images[0, :, :4, :4] = np.array([[0, 1, 0, 1], [0, 1, 0, 1], [0, 1, 1, 2], [0, 1, 1, 2]], np.uint8)
    # Image 1: 2x2 blocks with means 0.5, 1.5, 2.5, 3.5 -> half to even 0, 2, 2, 4 (half up would give 1, 2, 3, 4).
    images[1, :, 0:2, 0:8] = np.array([[0, 1, 1, 2, 2, 3, 3, 4]] * 2, np.uint8)
    write_pngs(str(tmp_path / 'pngs'), images)
    out = str(tmp_path / 'ds')
    run_tool('create_from_images', out, tmp_path / 'pngs')
    order = nvidia_order(7)
    assert_dataset(out, images[order])
    levels = box_levels(images)
    assert levels[2][0, 0, 0, 0] == 1
    np.testing.assert_array_equal(levels[1][1, 0, 0, :4], [0, 2, 2, 4])


def test_create_from_images_unshuffled_grayscale_and_progress(tmp_path, capsys):
    images = np.random.RandomState(1).randint(0, 256, size=[3, 1, 8, 8]).astype(np.uint8)
    write_pngs(str(tmp_path / 'pngs'), images)
    out = str(tmp_path / 'ds')
    run_tool('create_from_images', out, tmp_path / 'pngs', '--shuffle', 0)
    assert_dataset(out, images)
    text = capsys.readouterr().out
    assert '[##############################] 3 / 3  100%' in text and 'images/s  ETA 0s' in text
    assert 'Added 3 images in' in text


def test_palette_and_bilevel_images_are_expanded(tmp_path):
    rgb = np.random.RandomState(2).randint(0, 4, size=[8, 8, 3]).astype(np.uint8) * 80
    src = tmp_path / 'pngs'
    src.mkdir()
    PIL.Image.fromarray(rgb).quantize(colors=64).save(src / 'a.png')  # Mode P: stored as its RGB colors.
    expected = np.asarray(PIL.Image.open(src / 'a.png').convert('RGB')).transpose(2, 0, 1)
    out = str(tmp_path / 'ds')
    run_tool('create_from_images', out, src)
    np.testing.assert_array_equal(read_level(out, 8)[0], expected)


def test_resize_and_center_crop(tmp_path):
    src = tmp_path / 'mixed'
    src.mkdir()
    wide = np.zeros([20, 40, 3], np.uint8)
    wide[:, 10:30] = 200  # A bright central square in a wide image.
    PIL.Image.fromarray(wide).save(src / 'a.png')
    PIL.Image.fromarray(np.full([30, 30], 90, np.uint8)).save(src / 'b.png')  # Grayscale, square, not a power of two.
    out = str(tmp_path / 'ds')
    run_tool('create_from_images', out, src, '--shuffle', 0, '--resize', 8, '--center-crop')
    records = read_level(out, 8)
    assert records.shape == (2, 3, 8, 8)  # Mixed grayscale and color: all RGB.
    np.testing.assert_array_equal(records[0], 200)
    np.testing.assert_array_equal(records[1], 90)
    padded = str(tmp_path / 'padded')
    run_tool('create_from_images', padded, src, '--shuffle', 0, '--resize', 8)
    first = read_level(padded, 8)[0]
    # Black bars above and below (a little of the picture leaks into them through the filter), the picture between.
    assert first[:, 0].max() < 20 and first[:, -1].max() < 20 and first[:, 3:5, 3:5].min() > 150


def test_resize_keeps_grayscale_when_every_image_is(tmp_path):
    write_pngs(str(tmp_path / 'pngs'), np.full([2, 1, 12, 12], 77, np.uint8))
    out = str(tmp_path / 'ds')
    run_tool('create_from_images', out, tmp_path / 'pngs', '--resize', 4)
    np.testing.assert_array_equal(read_level(out, 4), np.full([2, 1, 4, 4], 77, np.uint8))


def test_output_into_existing_folders(tmp_path):
    images = np.random.RandomState(3).randint(0, 256, size=[2, 3, 4, 4]).astype(np.uint8)
    write_pngs(str(tmp_path / 'pngs'), images)
    empty = tmp_path / 'empty'
    empty.mkdir()
    run_tool('create_from_images', empty, tmp_path / 'pngs', '--shuffle', 0)
    assert_dataset(str(empty), images)
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'README.txt').write_text('notes')
    run_tool('create_from_images', other, tmp_path / 'pngs', '--shuffle', 0)
    assert sorted(os.listdir(other)) == ['README.txt', 'other-r02.tfrecords']
    assert not glob.glob(str(tmp_path / '.tmp-*'))


def test_parallel_map_keeps_order_and_bounds_the_work_in_flight():
    consumed = []

    def items():
        for i in range(50):
            consumed.append(i)
            yield i

    for i, result in enumerate(dataset_tool.parallel_map(lambda x: x * x, items(), num_threads=3)):
        assert result == i * i
        assert len(consumed) - i <= 6  # At most 2 * num_threads items taken ahead: memory does not grow with N.
    with pytest.raises(ZeroDivisionError):
        list(dataset_tool.parallel_map(lambda x: 1 // (x - 7), range(20), num_threads=2))


# ----------------------------------------------------------------------------
# Bad input: a clear message naming the file and the rule, and no output at all.


def truncated_png(path):
    buf = io.BytesIO()
    PIL.Image.fromarray(np.random.RandomState(0).randint(0, 256, size=[16, 16, 3]).astype(np.uint8)).save(buf, 'PNG')
    open(path, 'wb').write(buf.getvalue()[:len(buf.getvalue()) // 2])


BAD_FOLDERS = {
    'empty folder': (lambda d: os.makedirs(d), r'No input images found in .*pngs'),
    'not an image': (lambda d: (write_pngs(d, np.zeros([1, 3, 8, 8], np.uint8)), open(os.path.join(d, 'y.png'), 'w').write('text')),
                     r'y\.png: cannot read the image'),
    'corrupt image': (lambda d: (write_pngs(d, np.zeros([2, 3, 16, 16], np.uint8)), truncated_png(os.path.join(d, 'z.png'))),
                      r'z\.png: cannot read the image'),
    'non-square': (lambda d: write_pngs(d, np.zeros([2, 3, 8, 16], np.uint8)),
                   r'img000\.png: 16x8; images must be square with a power-of-two size >= 4\. --resize R'),
    'non-power-of-two': (lambda d: write_pngs(d, np.zeros([2, 3, 12, 12], np.uint8)),
                         r'img000\.png: 12x12; images must be square with a power-of-two size'),
    'mixed sizes': (lambda d: (write_pngs(d, np.zeros([1, 3, 8, 8], np.uint8)),
                               write_pngs(d, np.zeros([1, 3, 16, 16], np.uint8), ['z.png'])),
                    r'z\.png: 16x16, but .*img000\.png is 8x8; every image must have the same size\. --resize R'),
    'mixed channels': (lambda d: (write_pngs(d, np.zeros([1, 3, 8, 8], np.uint8)),
                                  write_pngs(d, np.zeros([1, 1, 8, 8], np.uint8), ['z.png'])),
                       r'z\.png: L \(L\), but .*img000\.png is RGB \(RGB\); every image must have the same channels'),
    'RGBA': (lambda d: (os.makedirs(d), PIL.Image.new('RGBA', (8, 8)).save(os.path.join(d, 'a.png'))),
             r'a\.png: RGBA images \(4 channels\) are not supported; images must be grayscale \(1 channel\) or RGB'),
    'gray+alpha': (lambda d: (os.makedirs(d), PIL.Image.new('LA', (8, 8)).save(os.path.join(d, 'a.png'))),
                   r'a\.png: LA images \(2 channels\) are not supported'),
}


@pytest.mark.parametrize('case', sorted(BAD_FOLDERS))
def test_bad_image_folder(tmp_path, capsys, case):
    make, message = BAD_FOLDERS[case]
    make(str(tmp_path / 'pngs'))
    out = str(tmp_path / 'ds')
    assert re.search(message, fail_tool(capsys, 'create_from_images', out, tmp_path / 'pngs', '--shuffle', 0))
    assert_nothing_left(tmp_path, out)


def test_bad_flags(tmp_path, capsys):
    write_pngs(str(tmp_path / 'pngs'), np.zeros([1, 3, 8, 8], np.uint8))
    out = str(tmp_path / 'ds')
    assert '--center-crop needs --resize R' in fail_tool(capsys, 'create_from_images', out, tmp_path / 'pngs', '--center-crop')
    assert '--resize must be a power of two >= 4, got 48' in fail_tool(capsys, 'create_from_images', out, tmp_path / 'pngs', '--resize', 48)
    assert 'Image folder not found: ' in fail_tool(capsys, 'create_from_images', out, tmp_path / 'nothing')
    assert_nothing_left(tmp_path, out)


def test_existing_dataset_is_not_touched(tmp_path, capsys):
    out = str(tmp_path / 'demo')
    run_tool('create_demo', out, '--num_images', 3, '--resolution', 8)
    before = {f: (os.path.getmtime(os.path.join(out, f)), os.path.getsize(os.path.join(out, f))) for f in os.listdir(out)}
    write_pngs(str(tmp_path / 'pngs'), np.zeros([1, 3, 8, 8], np.uint8))
    message = fail_tool(capsys, 'create_from_images', out, tmp_path / 'pngs')
    assert f'{out} already holds a dataset (*.tfrecords)' in message
    assert {f: (os.path.getmtime(os.path.join(out, f)), os.path.getsize(os.path.join(out, f))) for f in os.listdir(out)} == before
    assert not glob.glob(str(tmp_path / '.tmp-*'))


def test_interrupted_run_leaves_nothing(tmp_path, monkeypatch):
    write_pngs(str(tmp_path / 'pngs'), np.zeros([40, 3, 8, 8], np.uint8))
    real_load = dataset_tool.load_image

    def load_then_interrupt(path, *args):
        if path.endswith('img030.png'):
            raise KeyboardInterrupt
        return real_load(path, *args)

    monkeypatch.setattr(dataset_tool, 'load_image', load_then_interrupt)
    out = str(tmp_path / 'ds')
    with pytest.raises(KeyboardInterrupt):
        run_tool('create_from_images', out, tmp_path / 'pngs', '--shuffle', 0)
    assert_nothing_left(tmp_path, out)


def test_killed_run_leaves_nothing(tmp_path, monkeypatch):
    write_pngs(str(tmp_path / 'pngs'), np.zeros([40, 3, 8, 8], np.uint8))
    real_load = dataset_tool.load_image

    def load_then_kill(path, *args):
        if path.endswith('img030.png'):
            os.kill(os.getpid(), signal.SIGTERM)
        return real_load(path, *args)

    monkeypatch.setattr(dataset_tool, 'load_image', load_then_kill)
    previous = signal.getsignal(signal.SIGTERM)
    dataset_tool.exit_on_sigterm()
    try:
        with pytest.raises(SystemExit) as exc:
            run_tool('create_from_images', tmp_path / 'ds', tmp_path / 'pngs', '--shuffle', 0)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert exc.value.code == 128 + signal.SIGTERM
    assert_nothing_left(tmp_path, str(tmp_path / 'ds'))


def test_exporter_labels_must_match_the_images(tmp_path):
    out = str(tmp_path / 'lab')
    with pytest.raises(ValueError, match=r'\[3, 5\] labels for 2 images'):
        with dataset.TFRecordExporter(out, 2, print_progress=False) as tfr:
            for value in (10, 20):
                tfr.add_image(np.full([1, 4, 4], value, np.uint8))
            tfr.add_labels(np.zeros([3, 5]))
    assert_nothing_left(tmp_path, out)
    with dataset.TFRecordExporter(out, 2, print_progress=False) as tfr:
        for value in (10, 20):
            tfr.add_image(np.full([1, 4, 4], value, np.uint8))
        tfr.add_labels(np.eye(5)[[1, 3]])
    assert_dataset(out, np.array([[[[10] * 4] * 4], [[[20] * 4] * 4]], np.uint8), np.eye(5, dtype=np.float32)[[1, 3]])


def test_exporter_refuses_bad_shapes(tmp_path):
    with pytest.raises(ValueError, match=r'H = W a power of two >= 4, got \[4, 8, 8\]'):
        with dataset.TFRecordExporter(str(tmp_path / 'a'), 1, print_progress=False) as tfr:
            tfr.add_image(np.zeros([4, 8, 8], np.uint8))
    with pytest.raises(ValueError, match=r'Image 1 has shape \[3, 4, 4\]; every image must be \[3, 8, 8\]'):
        with dataset.TFRecordExporter(str(tmp_path / 'b'), 2, print_progress=False) as tfr:
            tfr.add_image(np.zeros([3, 8, 8], np.uint8))
            tfr.add_image(np.zeros([3, 4, 4], np.uint8))
    with pytest.raises(ValueError, match='No images were added'):
        with dataset.TFRecordExporter(str(tmp_path / 'c'), 0, print_progress=False):
            pass
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------
# The classic archives, in miniature.


def write_mnist(folder, images, labels):
    os.makedirs(folder, exist_ok=True)
    with gzip.open(os.path.join(folder, 'train-images-idx3-ubyte.gz'), 'wb') as f:
        f.write((2051).to_bytes(4, 'big') + len(images).to_bytes(4, 'big') + (28).to_bytes(4, 'big') * 2 + images.tobytes())
    with gzip.open(os.path.join(folder, 'train-labels-idx1-ubyte.gz'), 'wb') as f:
        f.write((2049).to_bytes(4, 'big') + len(labels).to_bytes(4, 'big') + labels.tobytes())


def test_create_mnist_and_mnistrgb(tmp_path):
    rnd = np.random.RandomState(4)
    digits = rnd.randint(0, 256, size=[9, 28, 28]).astype(np.uint8)
    labels = rnd.randint(0, 10, size=9).astype(np.uint8)
    write_mnist(str(tmp_path / 'mnist'), digits, labels)
    padded = np.zeros([9, 1, 32, 32], np.uint8)
    padded[:, 0, 2:30, 2:30] = digits
    order = nvidia_order(9)
    run_tool('create_mnist', tmp_path / 'mnist_ds', tmp_path / 'mnist')
    assert_dataset(str(tmp_path / 'mnist_ds'), padded[order], np.eye(10, dtype=np.float32)[labels[order]])
    run_tool('create_mnistrgb', tmp_path / 'rgb', tmp_path / 'mnist', '--num_images', 4, '--random_seed', 5)
    pick = np.random.RandomState(5)
    expected = np.stack([padded[pick.randint(9, size=3), 0] for _ in range(4)])
    assert_dataset(str(tmp_path / 'rgb'), expected)


def test_create_cifar10_cifar100_svhn(tmp_path):
    rnd = np.random.RandomState(6)
    images = rnd.randint(0, 256, size=[10, 3, 32, 32]).astype(np.uint8)
    labels = rnd.randint(0, 10, size=10)
    order = nvidia_order(10)
    cifar10 = tmp_path / 'cifar10'
    cifar10.mkdir()
    for i in range(5):  # Two images per batch, as the Python version's flat rows.
        pickle.dump({'data': images[2 * i:2 * i + 2].reshape(2, -1), 'labels': list(labels[2 * i:2 * i + 2])},
                    open(cifar10 / ('data_batch_%d' % (i + 1)), 'wb'))
    run_tool('create_cifar10', tmp_path / 'c10', cifar10)
    assert_dataset(str(tmp_path / 'c10'), images[order], np.eye(10, dtype=np.float32)[labels[order]])

    fine = rnd.randint(0, 100, size=10)
    cifar100 = tmp_path / 'cifar100'
    cifar100.mkdir()
    pickle.dump({'data': images.reshape(10, -1), 'fine_labels': list(fine)}, open(cifar100 / 'train', 'wb'))
    run_tool('create_cifar100', tmp_path / 'c100', cifar100)
    assert_dataset(str(tmp_path / 'c100'), images[order], np.eye(100, dtype=np.float32)[fine[order]])

    svhn = tmp_path / 'svhn'
    svhn.mkdir()
    for i, part in enumerate(np.split(np.arange(10), [3, 7])):
        pickle.dump((images[part], labels[part].astype(np.uint8)), open(svhn / ('train_%d.pkl' % (i + 1)), 'wb'))
    run_tool('create_svhn', tmp_path / 'svhn_ds', svhn)
    assert_dataset(str(tmp_path / 'svhn_ds'), images[order], np.eye(10, dtype=np.float32)[labels[order]])


def test_archive_errors(tmp_path, capsys):
    (tmp_path / 'mnist').mkdir()
    with gzip.open(tmp_path / 'mnist' / 'train-images-idx3-ubyte.gz', 'wb') as f:
        f.write(b'\0' * 32)
    assert 'not an MNIST idx3 image file' in fail_tool(capsys, 'create_mnist', tmp_path / 'a', tmp_path / 'mnist')
    assert 'cannot read the batch file' in fail_tool(capsys, 'create_cifar10', tmp_path / 'b', tmp_path / 'nothing')
    svhn = tmp_path / 'svhn'
    svhn.mkdir()
    for i in range(3):
        pickle.dump((np.zeros([1, 3, 32, 32], np.uint8), np.array([12], np.uint8)), open(svhn / ('train_%d.pkl' % (i + 1)), 'wb'))
    assert 'class labels must be in 0..9, got 12..12' in fail_tool(capsys, 'create_svhn', tmp_path / 'c', svhn)
    assert_nothing_left(tmp_path, str(tmp_path / 'c'))


def test_create_celeba(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(dataset_tool, 'CELEBA_IMAGES', 3)
    images = np.random.RandomState(7).randint(0, 256, size=[3, 3, 218, 178]).astype(np.uint8)
    write_pngs(str(tmp_path / 'celeba' / 'img_align_celeba_png'), images)
    run_tool('create_celeba', tmp_path / 'ds', tmp_path / 'celeba', '--cx', 80, '--cy', 100)
    assert_dataset(str(tmp_path / 'ds'), images[nvidia_order(3)][:, :, 100 - 64:100 + 64, 80 - 64:80 + 64])
    monkeypatch.setattr(dataset_tool, 'CELEBA_IMAGES', 4)
    assert 'Expected to find 4 images in' in fail_tool(capsys, 'create_celeba', tmp_path / 'ds2', tmp_path / 'celeba')


def test_create_from_hdf5(tmp_path, capsys):
    rnd = np.random.RandomState(8)
    images = rnd.randint(0, 256, size=[5, 3, 8, 8]).astype(np.uint8)
    with h5py.File(tmp_path / 'faces.h5', 'w') as f:
        f['data4x4'] = images[:, :, ::2, ::2]
        f['data8x8'] = images
    labels = np.eye(4, dtype=np.float32)[rnd.randint(0, 4, size=5)]
    np.save(tmp_path / 'faces-labels.npy', labels)
    run_tool('create_from_hdf5', tmp_path / 'ds', tmp_path / 'faces.h5')
    order = nvidia_order(5)
    assert_dataset(str(tmp_path / 'ds'), images[order], labels[order])
    np.save(tmp_path / 'faces-labels.npy', labels[:4])
    message = fail_tool(capsys, 'create_from_hdf5', tmp_path / 'ds2', tmp_path / 'faces.h5')
    assert 'faces-labels.npy: labels of shape [4, 4] for 5 images in' in message and 'expected [5, label_size]' in message
    assert_nothing_left(tmp_path, str(tmp_path / 'ds2'))


# ----------------------------------------------------------------------------
# LSUN through a stand-in for the lmdb package (same calls: open, begin, stat, cursor).


def fake_lmdb(entries):
    class Txn:
        def __enter__(self):
            return self

        def __exit__(self, *args):
            pass

        def stat(self):
            return {'entries': len(entries)}

        def cursor(self):
            return iter(entries)

    class Env:
        def begin(self, write):
            assert not write
            return Txn()

    module = types.ModuleType('lmdb')
    module.open = lambda path, readonly: Env()
    return module


def encoded(array, fmt='WEBP'):
    buf = io.BytesIO()
    PIL.Image.fromarray(array).save(buf, fmt, lossless=True) if fmt == 'WEBP' else PIL.Image.fromarray(array).save(buf, fmt)
    return buf.getvalue()


def test_create_lsun(tmp_path, capsys, monkeypatch):
    wide = np.zeros([16, 32, 3], np.uint8)
    wide[:, 8:24] = [200, 100, 50]  # Central square of a wide image.
    tall = np.full([24, 8, 3], 30, np.uint8)
    entries = [(b'a', encoded(wide)), (b'b', b'not an image'), (b'c', encoded(tall, 'PNG')), (b'd', encoded(wide))]
    monkeypatch.setitem(sys.modules, 'lmdb', fake_lmdb(entries))
    run_tool('create_lsun', tmp_path / 'ds', 'lmdb-dir', '--resolution', 8, '--max_images', 2)
    assert "Skipping entry b'b'" in capsys.readouterr().out
    records = read_level(str(tmp_path / 'ds'), 8)
    assert records.shape == (2, 3, 8, 8)  # Database order, the bad entry skipped, stopped at --max_images.
    np.testing.assert_array_equal(records[0], np.broadcast_to(np.array([200, 100, 50], np.uint8)[:, None, None], [3, 8, 8]))
    np.testing.assert_array_equal(records[1], 30)


def test_create_lsun_wide(tmp_path, capsys, monkeypatch):
    photo = np.zeros([24, 32, 3], np.uint8)
    photo[6:18] = 255  # The central band of rows that the crop keeps (ch = 16*24/32 = 12 rows).
    small = np.zeros([6, 8, 3], np.uint8)  # Narrower than --width: skipped.
    monkeypatch.setitem(sys.modules, 'lmdb', fake_lmdb([(b'a', encoded(photo)), (b'b', encoded(small))]))
    run_tool('create_lsun_wide', tmp_path / 'ds', 'lmdb-dir', '--width', 16, '--height', 8)
    records = read_level(str(tmp_path / 'ds'), 16)
    assert records.shape == (1, 3, 16, 16)
    np.testing.assert_array_equal(records[0, :, 4:12], 255)  # 16x8 picture centered on a black 16x16 square.
    assert records[0, :, :4].max() == 0 and records[0, :, 12:].max() == 0
    assert '--height must be between 1 and --width (16), got 32' in fail_tool(
        capsys, 'create_lsun_wide', tmp_path / 'x', 'lmdb-dir', '--width', 16, '--height', 32)


def test_missing_optional_packages_are_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, 'lmdb', None)  # Makes 'import lmdb' fail.
    assert 'create_lsun needs the lmdb package: pip install lmdb' in fail_tool(capsys, 'create_lsun', tmp_path / 'ds', 'x')
    monkeypatch.setitem(sys.modules, 'h5py', None)
    assert 'create_from_hdf5 needs the h5py package: pip install h5py' in fail_tool(capsys, 'create_from_hdf5', tmp_path / 'ds', 'x.h5')
    assert_nothing_left(tmp_path, str(tmp_path / 'ds'))


# ----------------------------------------------------------------------------
# create_demo (the dataset `make demo` trains on)


def test_create_demo_draws_a_shape_on_every_image(tmp_path, capsys):
    run_tool('create_demo', tmp_path / 'demo', '--num_images', 12, '--resolution', 16)
    top = read_level(str(tmp_path / 'demo'), 16)
    assert top.shape == (12, 3, 16, 16)
    assert_dataset(str(tmp_path / 'demo'), top)
    for img in top:
        colors, counts = np.unique(img.reshape(3, -1), axis=1, return_counts=True)
        assert len(colors) >= 2 and counts.max() < 16 * 16  # A filled shape on a background of another color.
    assert len({img.tobytes() for img in top}) == 12
    assert 'power of two >= 4, got 12' in fail_tool(capsys, 'create_demo', tmp_path / 'bad', '--resolution', 12)
    assert not os.path.exists(tmp_path / 'bad')


# ----------------------------------------------------------------------------
# tensorflow_datasets, offline with tfds.testing.mock_data.


def mock_tfds():
    return tfds.testing.mock_data(num_examples=6, policy=tfds.testing.MockPolicy.USE_CODE)


def tfds_examples(name):
    return list(tfds.as_numpy(tfds.builder(name).as_dataset(split='train', shuffle_files=False)))


def test_create_from_tfds_with_labels(tmp_path):
    with mock_tfds():
        run_tool('create_from_tfds', tmp_path / 'ds', 'cifar10', '--label-key', 'label', '--data-dir', tmp_path / 'tfds')
        examples = tfds_examples('cifar10')
    images = np.stack([ex['image'].transpose(2, 0, 1) for ex in examples])
    labels = np.eye(10, dtype=np.float32)[[ex['label'] for ex in examples]]
    assert_dataset(str(tmp_path / 'ds'), images, labels)


def test_create_from_tfds_crops_and_resizes(tmp_path):
    with mock_tfds():  # tf_flowers: images of varying sizes.
        run_tool('create_from_tfds', tmp_path / 'ds', 'tf_flowers', '--resolution', 8)
        examples = tfds_examples('tf_flowers')
    expected = []
    for ex in examples:
        h, w, _ = ex['image'].shape
        s = min(h, w)
        square = ex['image'][(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        expected.append(np.asarray(PIL.Image.fromarray(square).resize((8, 8), PIL.Image.LANCZOS)).transpose(2, 0, 1))
    assert_dataset(str(tmp_path / 'ds'), np.stack(expected))


def test_create_from_tfds_errors(tmp_path, capsys):
    out = tmp_path / 'ds'
    with mock_tfds():
        assert "tensorflow_datasets has no dataset named 'no_such_dataset'" in fail_tool(
            capsys, 'create_from_tfds', out, 'no_such_dataset')
        assert "mnist: --image-key 'picture' is not an image feature; image features: ['image']" in fail_tool(
            capsys, 'create_from_tfds', out, 'mnist', '--image-key', 'picture')
        assert "mnist: --label-key 'image' is not a class label feature; class label features: ['label']" in fail_tool(
            capsys, 'create_from_tfds', out, 'mnist', '--label-key', 'image')
        assert 'mnist: images of 28x28; images must be square with a power-of-two size >= 4. --resolution R' in fail_tool(
            capsys, 'create_from_tfds', out, 'mnist')
    assert_nothing_left(tmp_path, str(out))


# ----------------------------------------------------------------------------
# Reading commands and help.


def test_extract_compare_info(tmp_path, capsys):
    rnd = np.random.RandomState(9)
    images = rnd.randint(0, 256, size=[70, 3, 8, 8]).astype(np.uint8)  # More than one 64-image batch.
    write_pngs(str(tmp_path / 'pngs'), images)
    run_tool('create_from_images', tmp_path / 'a', tmp_path / 'pngs', '--shuffle', 0)
    run_tool('extract', tmp_path / 'a', tmp_path / 'out')
    names = sorted(os.listdir(tmp_path / 'out'))
    assert names == ['img%08d.png' % i for i in range(70)]
    np.testing.assert_array_equal(np.stack([np.asarray(PIL.Image.open(tmp_path / 'out' / n)).transpose(2, 0, 1) for n in names]), images)

    run_tool('create_from_images', tmp_path / 'b', tmp_path / 'out', '--shuffle', 0)
    capsys.readouterr()
    run_tool('compare', tmp_path / 'a', tmp_path / 'b')
    text = capsys.readouterr().out
    assert 'Identical images: 70 / 70' in text and 'Identical labels: 70 / 70' in text
    write_pngs(str(tmp_path / 'out'), images[:1] // 2, ['img00000065.png'])
    run_tool('create_from_images', tmp_path / 'c', tmp_path / 'out', '--shuffle', 0)
    capsys.readouterr()
    run_tool('compare', tmp_path / 'a', tmp_path / 'c', '--ignore_labels', 1)
    text = capsys.readouterr().out
    assert 'Image 65 is different' in text and 'Identical images: 69 / 70' in text and 'labels' not in text

    run_tool('info', tmp_path / 'a')
    text = capsys.readouterr().out
    assert 'Resolution:  8x8' in text and 'Channels:    3' in text and 'Images:      70' in text
    assert 'Label size:  0' in text and 'a-r02.tfrecords' in text and 'a-r03.tfrecords' in text
    assert f'{os.path.getsize(tmp_path / "a" / "a-r03.tfrecords"):,d} bytes' in text


def test_reading_commands_on_bad_folders(tmp_path, capsys):
    (tmp_path / 'empty').mkdir()
    assert 'holds no *.tfrecords files' in fail_tool(capsys, 'info', tmp_path / 'empty')
    assert 'Dataset directory not found' in fail_tool(capsys, 'extract', tmp_path / 'nothing', tmp_path / 'out')


def test_display_without_gui_says_why(tmp_path, capsys, monkeypatch):
    run_tool('create_demo', tmp_path / 'demo', '--num_images', 2, '--resolution', 4)
    monkeypatch.setitem(sys.modules, 'cv2', None)
    assert 'display needs the opencv-python package: pip install opencv-python' in fail_tool(capsys, 'display', tmp_path / 'demo')
    monkeypatch.setitem(sys.modules, 'cv2', types.ModuleType('cv2'))
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    monkeypatch.setattr(sys, 'platform', 'linux')
    message = fail_tool(capsys, 'display', tmp_path / 'demo')
    assert 'display needs a graphical display, but neither $DISPLAY nor $WAYLAND_DISPLAY is set' in message
    assert 'use "extract DIR OUTPUT_DIR"' in message


COMMANDS = ['create_from_images', 'create_from_hdf5', 'create_from_tfds', 'create_mnist', 'create_mnistrgb',
            'create_cifar10', 'create_cifar100', 'create_svhn', 'create_lsun', 'create_lsun_wide', 'create_celeba',
            'display', 'extract', 'compare', 'info', 'create_demo']


def test_help_describes_every_command_with_an_example(capsys):
    with pytest.raises(SystemExit):
        run_tool('--help')
    top = capsys.readouterr().out
    for command in COMMANDS:
        assert command in top
        with pytest.raises(SystemExit):
            run_tool(command, '--help')
        text = capsys.readouterr().out
        assert 'Example: dataset_tool.py %s ' % command in text, command
        assert 'tfrecord_dir' in text, command
