"""Images for the networks and the scripts: dynamic range, PIL conversion, grids of images, and image files read
as uint8 CHW arrays (cropped and resized to a network's resolution)."""

import numpy as np
import PIL.Image

import dnnlib


def adjust_dynamic_range(data, drange_in, drange_out):
    """Linearly map values from drange_in to drange_out."""
    if drange_in != drange_out:
        scale = (np.float32(drange_out[1]) - np.float32(drange_out[0])) / (np.float32(drange_in[1]) - np.float32(drange_in[0]))
        bias = np.float32(drange_out[0]) - np.float32(drange_in[0]) * scale
        data = data * scale + bias
    return data


def convert_to_pil_image(image, drange=(0, 255)):
    """A CHW or HW image (float in drange, or uint8) as a PIL image: RGB for 3 channels, L for 1."""
    assert image.ndim == 2 or image.ndim == 3
    if image.ndim == 3:
        image = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
    image = adjust_dynamic_range(image, drange, [0, 255])
    image = np.rint(image).clip(0, 255).astype(np.uint8)
    return PIL.Image.fromarray(image, 'RGB' if image.ndim == 3 else 'L')


def create_image_grid(images, grid_size=None):
    """Tile N CHW images row-major into one CHW image of gw x gh cells."""
    num, channels, img_h, img_w = images.shape
    if grid_size is not None:
        grid_w, grid_h = tuple(grid_size)
    else:
        grid_w = max(int(np.ceil(np.sqrt(num))), 1)
        grid_h = max((num - 1) // grid_w + 1, 1)
    grid = np.zeros([channels, grid_h * img_h, grid_w * img_w], dtype=images.dtype)
    for idx in range(min(num, grid_w * grid_h)):
        x = (idx % grid_w) * img_w
        y = (idx // grid_w) * img_h
        grid[:, y: y + img_h, x: x + img_w] = images[idx]
    return grid


def save_image_grid(images, filename, drange=(0, 255), grid_size=None):
    """Write N CHW images as one PNG grid, atomically."""
    image = convert_to_pil_image(create_image_grid(images, grid_size), drange)
    with dnnlib.util.atomic_write(filename) as file:
        image.save(file, format='PNG')


def setup_snapshot_image_grid(training_set, size='1080p', layout='random'):
    """Grid size for the display size, and the first gw * gh reals and labels of the training stream."""
    screens = {'1080p': (1920, 1080, 3, 2), '4k': (3840, 2160, 7, 4), '8k': (7680, 4320, 7, 4)}
    if size not in screens:
        raise ValueError(f'grid size must be one of {", ".join(screens)}, got {size!r}.')
    if layout != 'random':
        raise ValueError(f"grid layout {layout!r} is not supported; use 'random'.")
    width, height, min_w, min_h = screens[size]
    grid_w = int(np.clip(width // training_set.shape[2], min_w, 32))
    grid_h = int(np.clip(height // training_set.shape[1], min_h, 32))
    reals, labels = training_set.get_minibatch_np(grid_w * grid_h)
    return (grid_w, grid_h), reals, labels


def crop_and_resize(image, resolution, center_crop):
    """A PIL image made resolution x resolution: its central square (center_crop) or the whole picture padded with
    black bars to a square, then resized with a Lanczos filter (not at all when it already has that size)."""
    w, h = image.size
    if w != h:
        side = min(w, h) if center_crop else max(w, h)
        if center_crop:
            image = image.crop(((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side))
        else:
            canvas = PIL.Image.new(image.mode, (side, side))
            canvas.paste(image, ((side - w) // 2, (side - h) // 2))
            image = canvas
    if image.size != (resolution, resolution):
        image = image.resize((resolution, resolution), PIL.Image.LANCZOS)
    return image


def to_chw(image):
    """PIL image or HWC/HW array -> uint8 [C, H, W]."""
    img = np.asarray(image)
    return img[np.newaxis] if img.ndim == 2 else img.transpose(2, 0, 1)


def load_image(path, mode, resolution=None, center_crop=False):
    """An image file as uint8 [C, H, W] in the given PIL mode ('L' or 'RGB'), optionally cropped/resized."""
    try:
        with PIL.Image.open(path) as image:
            image.load()
            if image.mode != mode:
                image = image.convert(mode)
    except (OSError, ValueError, PIL.Image.DecompressionBombError) as err:
        raise ValueError(f'{path}: cannot read the image ({err}).') from None
    if resolution is not None:
        image = crop_and_resize(image, resolution, center_crop)
    return to_chw(image)
