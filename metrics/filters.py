"""numpy filtering shared by ProGAN's metrics (SWD's Laplacian pyramid, MS-SSIM's windows)."""

import numpy as np


def correlate_valid(images, taps, axis):
    """'valid' correlation of an array with 1-D taps along one axis (the output is len(taps) - 1 shorter there), in the
    array's dtype; a separable 2-D filter is one call per axis."""
    size = images.shape[axis] - len(taps) + 1
    window = [slice(None)] * images.ndim
    out = np.zeros(images.shape[:axis] + (size,) + images.shape[axis + 1:], images.dtype)
    for offset, tap in enumerate(taps):
        window[axis] = slice(offset, offset + size)
        out += tap * images[tuple(window)]
    return out
