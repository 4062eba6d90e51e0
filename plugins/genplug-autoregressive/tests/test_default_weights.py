"""The packaged default weights load offline: the digits ``transformer`` draws the asked digit
and keeps its greedy tokens under bf16 autocast (but at near-ties); ``transformer-text`` continues a prompt,
from Python and from ``genplug run`` with no network."""

from __future__ import annotations

import math

import pytest
import torch

import genplug
from genplug.testing import run_genplug


@pytest.fixture(scope="module")
def digits():
    return genplug.load("transformer")


@pytest.fixture(scope="module")
def text():
    return genplug.load("transformer-text")


def test_the_digits_weights_score_test_digits_under_two_bits_per_dim_and_draw_the_asked_label(digits):
    assert digits.config.classes == 10 and digits.config.levels == 17
    test = genplug.load_data("digits", "test")
    with torch.no_grad():
        bits = float(-digits.log_prob(test.x[:100], label=test.y[:100]).mean()) / 64 / math.log(2)
    assert bits < 2.0, bits  # the README's figure is over the whole test split, without labels
    x = genplug.sample(digits, 8, label=7, generator=torch.Generator().manual_seed(0))
    assert x.shape == (8, 1, 8, 8) and torch.equal(x * 16, (x * 16).round())


def test_bf16_autocast_keeps_every_greedy_token_that_is_not_a_near_tie(digits):
    """Under bf16 autocast greedy decoding draws the float32 model's tokens, except where
    the float32 model's two best logits are closer than bf16 can tell apart: there (and only
    there) a sample may take the other branch."""
    labels = torch.arange(10).repeat(2)
    full = genplug.sample(digits, 20, sampler="greedy", label=labels).flatten(1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = genplug.sample(digits, 20, sampler="greedy", label=labels).flatten(1)
    same = (full == low).all(1)
    assert same.float().mean() >= 0.5, f"only {int(same.sum())} of 20 greedy samples are unchanged under bf16"
    tokens = digits.to_tokens(full)
    with torch.no_grad():
        logits = digits.logits(tokens, label=labels)  # float32, on the float32 samples' prefixes
    for i in (~same).nonzero().flatten().tolist():
        t = int((full[i] != low[i]).nonzero()[0])  # the first token that differs: the prefixes agree before it
        top2 = logits[i, t].topk(2).values
        margin = float(top2[0] - top2[1])
        assert margin < 0.05, f"sample {i}: bf16 changed token {t}, where float32's margin is {margin:.3f}"


def test_the_text_weights_continue_a_prompt_and_score_held_out_text_under_two_bits_per_char(text):
    assert text.architecture == "transformer-text" and text.tokenizer.vocab_size == text.vocab_size
    test = genplug.load_data("tinytext", "test")
    with torch.no_grad():
        bits = float(-text.log_prob(test.x[:50]).mean()) / 64 / math.log(2)
    assert bits < 2.0, bits  # uniform over 42 characters: 5.4 bits
    x = genplug.sample(text, 2, prompt="Zoe had a", generator=torch.Generator().manual_seed(0))
    assert all(text.tokenizer.decode(row).startswith("Zoe had a") for row in x)


def test_genplug_run_writes_text_from_a_prompt_with_no_network(tmp_path):
    result = run_genplug("run", "transformer-text", "-n", "3", "--prompt", "Mia said", "-o", "out.txt", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "out.txt").read_text().splitlines()
    assert len(lines) == 3 and all(line.startswith("Mia said") and len(line) >= 64 for line in lines), lines
