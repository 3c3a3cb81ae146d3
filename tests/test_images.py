"""training/images.py: dynamic range, PIL conversion, image grids and image files, against direct numpy."""

import numpy as np
import PIL.Image
import pytest

from training import images


def test_adjust_dynamic_range_is_the_linear_map():
    x = np.float32([-1, 0, 0.5, 1])
    np.testing.assert_allclose(images.adjust_dynamic_range(x, [-1, 1], [0, 255]), (x + 1) * 127.5, rtol=1e-6)
    assert images.adjust_dynamic_range(x, [0, 1], [0, 1]) is x


def test_convert_to_pil_image_rounds_and_saturates():
    chw = np.float32([[[-1.2, -1.0, 0.0, 1.0, 1.5]]]).repeat(3, axis=0)  # [3, 1, 5] in [-1, 1], beyond at the ends.
    pil = images.convert_to_pil_image(chw, drange=[-1, 1])
    assert pil.mode == 'RGB' and pil.size == (5, 1)
    np.testing.assert_array_equal(np.asarray(pil)[0, :, 0], [0, 0, 128, 255, 255])  # rint(127.5) = 128.
    assert images.convert_to_pil_image(np.zeros([1, 2, 2], np.uint8)).mode == 'L'


def test_image_grid_is_row_major_with_empty_cells_black():
    batch = np.arange(5 * 1 * 2 * 3).reshape(5, 1, 2, 3) + 1
    grid = images.create_image_grid(batch, grid_size=(3, 2))
    assert grid.shape == (1, 4, 9)
    for idx in range(5):
        y, x = (idx // 3) * 2, (idx % 3) * 3
        np.testing.assert_array_equal(grid[:, y:y + 2, x:x + 3], batch[idx])
    assert not grid[:, 2:4, 6:9].any()
    assert images.create_image_grid(batch).shape == (1, 4, 9)  # Default: ceil(sqrt(5)) = 3 columns.


@pytest.mark.parametrize('center_crop', [True, False])
def test_load_image_crops_or_pads_to_a_square(tmp_path, center_crop):
    pixels = np.zeros([8, 16, 3], np.uint8)  # 16 wide, 8 high: a left half of 50s and a right half of 200s.
    pixels[:, :8], pixels[:, 8:] = 50, 200
    path = str(tmp_path / 'wide.png')
    PIL.Image.fromarray(pixels).save(path)
    resolution = 8 if center_crop else 16  # The square's own size: no resampling, so exact values.
    got = images.load_image(path, 'RGB', resolution=resolution, center_crop=center_crop)
    assert got.shape == (3, resolution, resolution) and got.dtype == np.uint8
    if center_crop:  # The central 8x8 square, columns 4-11.
        np.testing.assert_array_equal(got.transpose(1, 2, 0), pixels[:, 4:12])
    else:  # The whole picture on a 16x16 black square, rows 4-11.
        assert not got[:, :4].any() and not got[:, 12:].any()
        np.testing.assert_array_equal(got[:, 4:12].transpose(1, 2, 0), pixels)
    assert images.load_image(path, 'L', resolution=4, center_crop=True).shape == (1, 4, 4)
    (tmp_path / 'bad.png').write_bytes(b'not a png')
    with pytest.raises(ValueError, match='cannot read the image'):
        images.load_image(str(tmp_path / 'bad.png'), 'RGB')
