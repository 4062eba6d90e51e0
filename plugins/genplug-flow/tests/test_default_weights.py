"""The packaged default weights of ``glow``: they load and draw offline, and bound the test digits' NLL."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import genplug
from genplug.testing import run_genplug


@pytest.fixture(scope="module")
def default() -> genplug.Model:
    return genplug.load("glow")


def test_the_default_weights_are_packaged_and_model_digits_grey_levels(default):
    assert genplug.default_weights("glow").parent.name == "genplug_flow"
    assert default.config.data_shape == (1, 8, 8) and default.config.levels == 17
    assert default.log_prob_discrete and default.log_prob_kinds == ("elbo", "iwae")


def test_the_default_weights_bound_the_test_digits_nll(default):
    test = genplug.load_data("digits", "test").x[:100]
    with torch.no_grad():
        lp = default.log_prob(test, kind="elbo", generator=torch.Generator().manual_seed(0))
    bits = -float(lp.mean()) / (64 * math.log(2))
    assert bits < 2.1, bits  # 1.98 over the whole test split (README)


def test_genplug_run_draws_a_grid_offline(tmp_path: Path):
    result = run_genplug("run", "glow", "-n", "64", "--seed", "0", "-o", "grid.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "grid.png").stat().st_size > 0
