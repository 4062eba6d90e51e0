"""The packaged default weights, and ``genplug run diffusion`` with no network."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import genplug
from genplug.testing import run_genplug

WEIGHTS = Path(__file__).resolve().parents[1] / "genplug_diffusion" / "weights"


@pytest.fixture(scope="module")
def default():
    return genplug.load("diffusion")


def test_the_package_ships_small_weights_made_by_the_training_script():
    assert genplug.default_weights("diffusion") == WEIGHTS
    size = (WEIGHTS / "model.safetensors").stat().st_size
    assert size < 5 * 2**20, f"model.safetensors is {size / 2**20:.1f} MiB"
    doc = json.loads((WEIGHTS / "config.json").read_text())
    assert doc["architecture"] == "diffusion" and doc["plugin"]["name"] == "genplug-diffusion"

    sys.path.insert(0, str(WEIGHTS.parents[1] / "scripts"))
    try:
        from train_default import CONFIG
    finally:
        sys.path.pop(0)
    for key, value in CONFIG.items():
        assert doc["config"][key] == (list(value) if isinstance(value, tuple) else value), key


def test_default_weights_sample_digits(default):
    assert default.config.data_shape == (1, 8, 8) and not default.training
    for sampler in ("ddim", "ddpm", "dpm-solver++", "unipc"):
        x = genplug.sample(default, 8, sampler=sampler, steps=10, generator=torch.Generator().manual_seed(0))
        assert x.shape == (8, 1, 8, 8) and 0 <= x.min() and x.max() <= 1
        # digits are mostly dark background with bright strokes, not noise around 0.5
        assert (x < 0.2).float().mean() > 0.3 and (x > 0.6).float().mean() > 0.1, sampler


def test_default_weights_bound_the_probability_of_the_discrete_digits(default):
    assert default.config.levels == 17 and default.log_prob_discrete
    x = genplug.load_data("digits", "test").x[:2]
    lp = default.log_prob(x, generator=torch.Generator().manual_seed(0))
    assert lp.shape == (2,) and torch.isfinite(lp).all() and (lp < 0).all()


def test_genplug_run_writes_a_grid_with_no_network(tmp_path):
    result = run_genplug("run", "diffusion", "-n", "4", "-o", "grid.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    from PIL import Image

    with Image.open(tmp_path / "grid.png") as image:
        assert image.width > 16 and image.height > 8


def test_genplug_run_takes_sampler_steps_and_seed(tmp_path, default):
    args = ("run", "diffusion", "-n", "3", "--sampler", "dpm-solver++", "--steps", "8", "--seed", "5")
    result = run_genplug(*args, "-o", "x.npy", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    samples = torch.from_numpy(np.load(tmp_path / "x.npy"))
    expected = genplug.sample(default, 3, sampler="dpm-solver++", steps=8, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(samples, expected, atol=1e-6)
