"""The packaged default weights: offline CLI use with and without a label, the generator alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from genplug_gan import GAN

import genplug
from genplug.testing import run_genplug


@pytest.fixture(scope="module")
def default() -> GAN:
    return genplug.load("gan")


def test_the_default_weights_are_a_class_conditional_digits_generator(default: GAN) -> None:
    assert genplug.default_weights("gan").parent.name == "genplug_gan"
    assert default.config.data_shape == (1, 8, 8) and default.config.classes == 10
    assert set(default.conditions) == {"label"}
    x = default.sample(20, label=3, generator=torch.Generator().manual_seed(0))
    assert x.shape == (20, 1, 8, 8) and 0 <= x.min() and x.max() <= 1


def test_genplug_run_draws_a_grid_and_a_label_offline(tmp_path: Path) -> None:
    grid = run_genplug("run", "gan", "-n", "64", "-o", "grid.png", cwd=tmp_path)
    assert grid.returncode == 0, grid.stderr
    assert (tmp_path / "grid.png").stat().st_size > 0
    threes = run_genplug("run", "gan", "--label", "3", "-n", "8", "--seed", "1", "-o", "threes.npy", cwd=tmp_path)
    assert threes.returncode == 0, threes.stderr
    expected = genplug.load("gan").sample(8, label=3, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(torch.from_numpy(np.load(tmp_path / "threes.npy")), expected, atol=1e-6)
