"""Write a small dataset in NVIDIA's TFRecord layout, independently of dataset_tool.py."""

import os

import numpy as np
import tensorflow as tf


def box_levels(images):
    """Every level down to 4x4: 2x2 box means of the level above's float values (float64), rounded half to even,
    as NVIDIA's dataset_tool computes them."""
    levels, level = [], images.astype(np.float64)
    while level.shape[2] >= 4:
        levels.append(np.rint(level).clip(0, 255).astype(np.uint8))
        n, c, h, w = level.shape
        level = level.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))
    return levels


def write_dataset(tfrecord_dir, images, labels=None):
    """images: uint8 [N, C, H, W]; writes <dir>/<name>-rNN.tfrecords for every level down to 4x4 (+ labels)."""
    os.makedirs(tfrecord_dir, exist_ok=True)
    name = os.path.basename(tfrecord_dir.rstrip('/'))
    res_log2 = int(np.log2(images.shape[2]))
    for lod, level in enumerate(box_levels(images)):
        path = os.path.join(tfrecord_dir, '%s-r%02d.tfrecords' % (name, res_log2 - lod))
        with tf.io.TFRecordWriter(path) as writer:
            for img in level:
                feature = {'shape': tf.train.Feature(int64_list=tf.train.Int64List(value=img.shape)),
                           'data': tf.train.Feature(bytes_list=tf.train.BytesList(value=[img.tobytes()]))}
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    if labels is not None:
        with open(os.path.join(tfrecord_dir, '%s-rxx.labels' % name), 'wb') as f:
            np.save(f, labels.astype(np.float32))


def color_squares(num, res, seed=0):
    """Images of a random-colored square on a dark background."""
    rnd = np.random.RandomState(seed)
    images = np.full([num, 3, res, res], 20, np.uint8)
    for img in images:
        size = rnd.randint(res // 4, res // 2 + 1)
        y, x = rnd.randint(0, res - size + 1, size=2)
        img[:, y:y + size, x:x + size] = rnd.randint(80, 256, size=3)[:, np.newaxis, np.newaxis]
    return images
