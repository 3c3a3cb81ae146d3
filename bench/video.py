"""Benchmark: run_generator.py interpolation-video, frames/s and the H.264 encoder's share of the time.

Usage: python bench/video.py [--setups demo,256-config-f] [--seconds 4]

Each setup builds a generator with random weights (the demo's: 32x32 config-e, fmap_max 32, a 4x2 grid zoomed 4x
as `make demo` writes it; 256x256 config-f at full widths, one image per frame), saves it as a pickle and runs the
command as a user would. Frames/s counts the whole command after loading (tracing included), and again without the
first minibatch of frames (the steady rate of a long video).
"""

import argparse
import contextlib
import io
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import dnnlib.tflib as tflib  # noqa: E402
import run_generator  # noqa: E402
from training import misc, video  # noqa: E402

SETUPS = {
    'demo': (dict(resolution=32, fmap_max=32, fmap_base=8192, architecture='skip', fused_modconv=True),
             ['--grid-size', '4x2', '--image-zoom', '4']),
    '256-config-f': (dict(resolution=256, fmap_base=16384, fmap_max=512), []),
}


class FrameClock(video.VideoWriter):
    """A VideoWriter that also notes when each frame arrived."""
    arrivals = []

    def append(self, frame):
        FrameClock.arrivals.append(time.time())
        super().append(frame)


def bench(setup, seconds, fps):
    g_kwargs, flags = SETUPS[setup]
    G = tflib.Network('G', func_name='training.networks_stylegan2.G_main', num_channels=3, label_size=0, **g_kwargs)
    D = tflib.Network('D', func_name='training.networks_stylegan2.D_stylegan2', num_channels=3, label_size=0,
                      resolution=g_kwargs['resolution'], fmap_base=g_kwargs['fmap_base'], fmap_max=g_kwargs['fmap_max'])
    with tempfile.TemporaryDirectory() as tmp:
        pkl = os.path.join(tmp, f'{setup}.pkl')
        misc.save_pkl((G, D, G.clone('Gs')), pkl)
        FrameClock.arrivals = []
        out = io.StringIO()
        video.VideoWriter, original = FrameClock, video.VideoWriter
        try:
            with contextlib.redirect_stdout(out):
                run_generator.main(['interpolation-video', '--network', pkl, '--duration-sec', str(seconds), '--fps', str(fps),
                                    '--truncation-psi', '1.0', '--result-dir', os.path.join(tmp, 'results')] + flags)
        finally:
            video.VideoWriter = original
    summary = re.search(r'(\d+) frames in ([\d.]+) s \(([\d.]+) frames/s, (\d+)% of the time in the encoder\)', out.getvalue())
    frames, total, rate, encoder = int(summary[1]), float(summary[2]), float(summary[3]), int(summary[4])
    first_batch = 1 if flags else 8  # Frames of the first minibatch (8 images): the demo's grid has 8 per frame.
    steady = (frames - first_batch) / (FrameClock.arrivals[-1] - FrameClock.arrivals[first_batch - 1])
    print(f'{setup:14s} {frames:4d} frames  {total:6.1f} s  {rate:6.2f} frames/s  steady {steady:6.2f} frames/s  '
          f'encoder {encoder:3d}% of the time')


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--setups', default='demo,256-config-f')
    parser.add_argument('--seconds', type=float, default=4.0, help='Video length (default: %(default)s)')
    parser.add_argument('--fps', type=float, default=30, help='Frames per second of the video (default: %(default)s)')
    args = parser.parse_args()
    for setup in args.setups.split(','):
        bench(setup, args.seconds, args.fps)


if __name__ == '__main__':
    main()
