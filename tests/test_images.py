"""Sample grids: tiles framed by grey gutters that show between black digits and white ones."""

from __future__ import annotations

import numpy
import pytest
import torch
from PIL import Image

import genplug
from genplug._errors import GenplugError
from genplug._images import GUTTER, image_grid


def test_gutters_are_grey_between_black_and_between_white_tiles():
    for value in (0.0, 1.0):  # digits on black, and on white
        grid = image_grid(torch.full((4, 1, 8, 8), value), nrow=2, min_tile=8)  # 2 x 2 tiles of 8, 2-pixel gutters
        assert grid.shape == (1, 2 + 2 * (8 + 2), 2 + 2 * (8 + 2))
        tile = torch.zeros_like(grid, dtype=torch.bool)
        for top in (2, 12):
            for left in (2, 12):
                tile[:, top : top + 8, left : left + 8] = True
        assert torch.all(grid[tile] == value)
        assert torch.all(grid[~tile] == GUTTER)  # the frame and the lines between tiles
        assert abs(GUTTER - value) >= 0.4  # far from both black and white


def test_save_samples_draws_the_gutters_into_the_png(tmp_path):
    path = genplug.save_samples(torch.zeros(9, 1, 8, 8), tmp_path / "black.png")
    with Image.open(path) as img:
        pixels = torch.from_numpy(numpy.asarray(img, dtype=numpy.float32))
    assert img.size == (3 * (32 + 2) + 2, 3 * (32 + 2) + 2)
    assert pixels[0].eq(round(GUTTER * 255)).all() and pixels[34:36].eq(round(GUTTER * 255)).all()
    assert pixels[2:34, 2:34].eq(0).all()


def test_rgb_tiles_get_grey_gutters_in_every_channel():
    grid = image_grid(torch.zeros(2, 3, 4, 4), nrow=2, min_tile=4, pad=1)
    assert grid.shape == (3, 6, 11) and torch.all(grid[:, 0] == GUTTER) and torch.all(grid[:, :, 5] == GUTTER)


def test_a_gutter_outside_the_unit_range_is_refused():
    with pytest.raises(GenplugError, match="gutter is a grey in"):
        image_grid(torch.zeros(1, 1, 4, 4), gutter=2.0)
