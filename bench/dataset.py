"""Dataset speed: create_from_images on RGB PNGs (images/s, peak memory) and reading minibatches (images/s).

    python bench/dataset.py                      # 600 PNGs of 256x256, minibatch 32
    python bench/dataset.py --images 2000 --threads 1,2

The PNGs are smooth color fields with shapes and noise, which compress (about 150 KB each at 256x256) and decode
about as slowly as photographs. create_from_images runs as a child process, as a user runs it, so that its peak
resident memory can be read; running it on 1x and 4x the images shows whether memory grows with the dataset.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import PIL.Image
import PIL.ImageDraw

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def write_pngs(folder, count, resolution, seed=0):
    """Photo-like PNGs: a gradient, a few shapes, mild noise."""
    os.makedirs(folder, exist_ok=True)
    rnd = np.random.RandomState(seed)
    y, x = np.mgrid[0:resolution, 0:resolution] / resolution
    for i in range(count):
        base = np.stack([x * rnd.uniform(0, 255) + y * rnd.uniform(0, 255) for _ in range(3)], axis=2) * 0.5
        image = PIL.Image.fromarray(base.astype(np.uint8))
        draw = PIL.ImageDraw.Draw(image)
        for _ in range(4):
            box = sorted(rnd.randint(0, resolution, size=2)), sorted(rnd.randint(0, resolution, size=2))
            draw.ellipse([box[0][0], box[1][0], box[0][1], box[1][1]], fill=tuple(int(c) for c in rnd.randint(0, 256, 3)))
        noisy = np.asarray(image).astype(np.int16) + rnd.randint(-6, 7, size=[resolution, resolution, 3])
        PIL.Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(os.path.join(folder, 'img%06d.png' % i))


def time_create(image_dir, out_dir, threads):
    """(images/s, peak RSS in MiB) of `dataset_tool.py create_from_images` in a child process."""
    code = ('import resource, sys; sys.argv = sys.argv[1:]; import dataset_tool; dataset_tool.NUM_THREADS = %d; '
            'dataset_tool.execute_cmdline(sys.argv); print("PEAK_KIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)'
            % threads)
    cmd = [sys.executable, '-c', code, 'dataset_tool.py', 'create_from_images', out_dir, image_dir]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    # The tool's own summary line: "Added N images in T (R images/s)." (without TensorFlow's start-up time).
    rate = float(proc.stdout.rsplit('(', 1)[1].split(' images/s')[0])
    return rate, int(proc.stdout.rsplit('PEAK_KIB', 1)[1]) / 1024


def time_reading(tfrecord_dir, minibatch, seconds):
    """images/s of get_minibatch_np() and of iterating as_tf_dataset() (default shuffle and prefetch windows),
    and of a per-record parse as the original does it, for comparison."""
    import tensorflow as tf
    from training import dataset
    results = {}
    dset = dataset.TFRecordDataset(tfrecord_dir)

    def rate(next_batch):
        next_batch()  # Fill the shuffle buffer and warm up outside the timing.
        start, count = time.time(), 0
        while time.time() - start < seconds:
            count += int(next_batch()[0].shape[0])
        return count / (time.time() - start)

    results['get_minibatch_np (uint8 NCHW to numpy)'] = rate(lambda: dset.get_minibatch_np(minibatch))
    it = iter(dset.as_tf_dataset(minibatch))
    results['as_tf_dataset (uint8 tensors, what training reads)'] = rate(lambda: next(it))
    path = dset._lod_files[0][0]
    per_record = (tf.data.TFRecordDataset(path).map(dataset.parse_tfrecord_tf, num_parallel_calls=2)
                  .shuffle(1000).repeat().batch(minibatch).prefetch(4))
    it2 = iter(per_record)
    results['per-record parse then batch (the original\'s order)'] = rate(lambda: next(it2))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--images', type=int, default=600)
    parser.add_argument('--resolution', type=int, default=256)
    parser.add_argument('--threads', default='1,%d' % min(os.cpu_count() or 1, 16), help='decoding threads to compare')
    parser.add_argument('--minibatch', type=int, default=32)
    parser.add_argument('--seconds', type=float, default=10.0, help='duration of each reading measurement')
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix='bench-dataset-')
    try:
        print('Writing %d PNGs of %dx%d...' % (4 * args.images, args.resolution, args.resolution), flush=True)
        write_pngs(os.path.join(work, 'small'), args.images, args.resolution)
        write_pngs(os.path.join(work, 'large'), 4 * args.images, args.resolution, seed=1)
        png_kb = np.mean([os.path.getsize(os.path.join(work, 'small', f)) for f in os.listdir(os.path.join(work, 'small'))]) / 1024
        print('Mean PNG size: %.0f KB; %d CPUs' % (png_kb, os.cpu_count()))
        print('\ncreate_from_images, %dx%d RGB PNGs' % (args.resolution, args.resolution))
        print('| images | threads | images/s | peak RSS (MiB) |')
        print('|---|---|---|---|')
        for threads in [int(t) for t in args.threads.split(',')]:
            rate, peak = time_create(os.path.join(work, 'small'), os.path.join(work, 'ds-%d' % threads), threads)
            print('| %d | %d | %.1f | %.0f |' % (args.images, threads, rate, peak), flush=True)
        rate, peak = time_create(os.path.join(work, 'large'), os.path.join(work, 'ds-large'), threads)
        print('| %d | %d | %.1f | %.0f |' % (4 * args.images, threads, rate, peak), flush=True)

        print('\nReading minibatches of %d at %dx%d (%d images in the dataset)' % (
            args.minibatch, args.resolution, args.resolution, 4 * args.images))
        print('| pipeline | images/s |')
        print('|---|---|')
        for name, rate in time_reading(os.path.join(work, 'ds-large'), args.minibatch, args.seconds).items():
            print('| %s | %.0f |' % (name, rate), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
