"""The packaged default weights load offline, draw digits and score held-out digits."""

from __future__ import annotations

import math
from pathlib import Path

import torch

import genplug


def test_the_packaged_weights_score_test_digits_under_two_bits_per_dim_and_draw_the_asked_label():
    model = genplug.load(Path(__file__).parents[1] / "genplug_autoregressive" / "weights")
    assert model.config.classes == 10 and model.config.levels == 17
    test = genplug.load_data("digits", "test")
    with torch.no_grad():
        bits = float(-model.log_prob(test.x[:100], label=test.y[:100]).mean()) / 64 / math.log(2)
    assert bits < 2.0, bits  # measured over the whole test split: 1.82 without labels (README)
    x = genplug.sample(model, 8, label=7, generator=torch.Generator().manual_seed(0))
    assert x.shape == (8, 1, 8, 8) and torch.equal(x * 16, (x * 16).round())
