"""MP4 videos: an H.264 writer fed frame by frame, frame helpers (grids of images, zoom), and the frames of ProGAN's
training video (a run's fakes*.png over its log's wall-clock time, warped)."""

import bisect
import os
import re
import time

import numpy as np
import PIL.Image
import PIL.ImageDraw
import PIL.ImageFont

from training.images import create_image_grid, load_image


def find_encoder():
    """The ffmpeg executable that imageio-ffmpeg ships (or $IMAGEIO_FFMPEG_EXE); RuntimeError naming what to install."""
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as err:
        raise RuntimeError(f'no MP4 encoder: {err}. Install the pinned imageio-ffmpeg '
                           f'(pip install -r requirements.txt), or point IMAGEIO_FFMPEG_EXE at an ffmpeg binary.') from None


class VideoWriter:
    """An H.264 MP4 written one frame at a time (never holding the video in memory), with a progress line.

    The file appears under its name only when close() finishes; until then it is a hidden partial file beside it.
    seconds_encoding counts the time spent in the encoder, for the encoder's share of a video's time.
    """

    def __init__(self, path, fps, num_frames, bitrate='16M'):
        import imageio  # Imported here: only the video commands need it.
        self.path, self.num_frames = path, num_frames
        self._partial = os.path.join(os.path.dirname(path), '.partial-' + os.path.basename(path))
        # macro_block_size=2: frames keep their size (the default 16 would rescale e.g. 8x8 frames); H.264 with
        # 4:2:0 chroma needs even sizes, which grids of power-of-two images always have.
        self._writer = imageio.get_writer(self._partial, format='FFMPEG', mode='I', fps=fps, codec='libx264',
                                          bitrate=bitrate, macro_block_size=2, ffmpeg_log_level='error')
        self.frames_written = 0
        self.seconds_encoding = 0.0
        self._start = time.time()

    def append(self, frame):
        """One HWC uint8 frame (RGB, or 1 channel for grayscale)."""
        if frame.shape[2] == 1:
            frame = frame.repeat(3, axis=2)
        begin = time.time()
        self._writer.append_data(np.ascontiguousarray(frame))
        self.seconds_encoding += time.time() - begin
        self.frames_written += 1
        elapsed = time.time() - self._start
        print('\rframe %d / %d  %.1f frames/s' % (self.frames_written, self.num_frames, self.frames_written / max(elapsed, 1e-9)),
              end='', flush=True)

    def close(self):
        self._writer.close()
        os.replace(self._partial, self.path)
        elapsed = time.time() - self._start
        print('\rWrote %s: %d frames in %.1f s (%.1f frames/s, %.0f%% of the time in the encoder)' % (
            self.path, self.frames_written, elapsed, self.frames_written / max(elapsed, 1e-9),
            100 * self.seconds_encoding / max(elapsed, 1e-9)))

    def abandon(self):
        """Stop after a failure: the partial file is removed, nothing is left under the video's name."""
        try:
            self._writer.close()
        finally:
            if os.path.exists(self._partial):
                os.remove(self._partial)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, _exc, _tb):
        if exc_type is None:
            self.close()
        else:
            self.abandon()


def grid_frame(images_nhwc, grid_size, zoom=1):
    """uint8 NHWC images tiled row-major into a grid_w x grid_h HWC frame, each pixel repeated zoom x zoom times."""
    frame = create_image_grid(images_nhwc.transpose(0, 3, 1, 2), grid_size).transpose(1, 2, 0)
    return frame.repeat(zoom, axis=0).repeat(zoom, axis=1) if zoom > 1 else frame


# A tick line of log.txt: 'tick 3     kimg 140.3    lod 7.00  minibatch 128  time 1h 02m 05s  sec/tick ...'.
_TICK_RE = re.compile(r'kimg ([\d.]+) .*lod ([\d.]+) .*time (\d+d)? *(\d+h)? *(\d+m)? *(\d+s)? ')


def training_snapshots(run_dir):
    """[(seconds, kimg, lod, png)] for each tick of the run's log.txt whose fakes%06d.png (by whole kimg) exists."""
    snapshots = []
    with open(os.path.join(run_dir, 'log.txt'), encoding='utf-8', errors='replace') as log:
        for line in log:
            match = _TICK_RE.search(line)
            if match is None:
                continue
            days, hours, minutes, seconds = [int(g[:-1]) if g else 0 for g in match.groups()[2:]]
            kimg = float(match.group(1))
            png = os.path.join(run_dir, 'fakes%06d.png' % int(np.floor(kimg)))
            if os.path.isfile(png):
                snapshots.append((((days * 24 + hours) * 60 + minutes) * 60 + seconds, kimg, float(match.group(2)), png))
    return snapshots


def time_warped_snapshot_index(frame_idx, fps, duration_sec, time_warp, snapshot_seconds):
    """Which snapshot a training-video frame shows: the last one taken by wall-clock ((t / duration) ** time_warp)
    of the run's length, so the early, fast-changing part of training gets more of the video."""
    wallclock = ((frame_idx / fps) / duration_sec) ** time_warp * snapshot_seconds[-1]
    return max(bisect.bisect(snapshot_seconds, wallclock) - 1, 0), wallclock


def _draw_label(draw, text, x, y, anchor):
    draw.text((x, y), text, fill='white', anchor=anchor, font=PIL.ImageFont.load_default(size=28), stroke_width=2,
              stroke_fill='black')


def training_video_frame(png, kimg, lod, wallclock_text, max_size=(1920, 1080)):
    """A fakes PNG halved until it fits max_size, with lod, wall-clock time and kimg written along its bottom."""
    image = load_image(png, 'RGB').transpose(1, 2, 0)
    while image.shape[1] > max_size[0] or image.shape[0] > max_size[1]:
        h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
        image = np.rint(image[:h, :w].astype(np.float32).reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))).astype(np.uint8)
    canvas = PIL.Image.fromarray(image)
    draw = PIL.ImageDraw.Draw(canvas)
    h, w = image.shape[:2]
    _draw_label(draw, 'lod %.2f' % lod, 16, h - 4, 'ld')
    _draw_label(draw, wallclock_text, w // 2, h - 4, 'md')
    _draw_label(draw, '%.0f kimg' % kimg, w - 16, h - 4, 'rd')
    return np.asarray(canvas)
