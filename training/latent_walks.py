"""Latent vectors for the frames of a video: ProGAN's smoothed random walk, and looping walks through key vectors
(seeds' z by spherical interpolation, dlatents by linear interpolation)."""

import numpy as np
import scipy.ndimage


def num_video_frames(duration_sec, fps):
    """Frames of a video of duration_sec at fps, rounded as ProGAN's util_scripts round it."""
    return int(np.rint(duration_sec * fps))


def smoothed_random_walk(num_frames, num_walks, latent_shape, smoothing_frames, seed):
    """ProGAN's interpolation video latents: [frame, walk, *latent_shape].

    White noise per frame, blurred along time with a Gaussian of std smoothing_frames that wraps around (so the last
    frame leads back into the first and the video loops), then scaled to an overall RMS of 1 like a draw from N(0, I).
    """
    latents = np.random.RandomState(seed).randn(num_frames, num_walks, *latent_shape).astype(np.float32)
    sigma = [smoothing_frames] + [0] * (1 + len(latent_shape))
    latents = scipy.ndimage.gaussian_filter(latents, sigma, mode='wrap')
    return latents / np.sqrt(np.mean(np.square(latents)))


def slerp(a, b, t):
    """Spherical interpolation between the directions of a and b (at t=0 a, at t=1 b, lengths interpolated linearly),
    as the StyleGAN2 paper's perceptual path length walks in Z."""
    a_len, b_len = np.linalg.norm(a, axis=-1, keepdims=True), np.linalg.norm(b, axis=-1, keepdims=True)
    a_dir, b_dir = a / a_len, b / b_len
    angle = np.arccos(np.clip(np.sum(a_dir * b_dir, axis=-1, keepdims=True), -1, 1))
    sin = np.sin(angle)
    # Nearly parallel directions: the linear blend is the limit of the formula and avoids 0 / 0.
    safe = np.where(sin > 1e-6, sin, 1)
    weights_a = np.where(sin > 1e-6, np.sin((1 - t) * angle) / safe, 1 - t)
    weights_b = np.where(sin > 1e-6, np.sin(t * angle) / safe, t)
    direction = weights_a * a_dir + weights_b * b_dir
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    return direction * (a_len + (b_len - a_len) * t)


def lerp(a, b, t):
    return a + (b - a) * t


def keyframe_positions(num_frames, num_keys):
    """Where each frame of a loop through num_keys keys (back to the first, equal time per key) sits: the key
    before it, the key after it and the fraction t of the way between them. Frame 0 is the first key exactly."""
    positions = np.arange(num_frames) * num_keys / num_frames
    index = np.floor(positions).astype(int)
    return index, (index + 1) % num_keys, positions - index


def keyframe_walk(keys, num_frames, interpolate):
    """Frames of a loop through keys[0], keys[1], ..., back to keys[0]: [frame, *key_shape]. interpolate(a, b, t)
    blends two keys (lerp or slerp) on their last axis."""
    keys = np.asarray(keys, np.float64)
    before, after, t = keyframe_positions(num_frames, len(keys))
    return interpolate(keys[before], keys[after], t.reshape([-1] + [1] * (keys.ndim - 1))).astype(np.float32)
