"""Prompts: text every sample starts with, and images completed from their first rows."""

from __future__ import annotations

import pytest
import torch
from genplug_autoregressive import Transformer

import genplug
from genplug._tokenizer import CharTokenizer


def redrawn(model: Transformer) -> Transformer:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return model.eval()


@pytest.fixture
def text_model() -> Transformer:
    torch.manual_seed(0)
    model = genplug.create("transformer-text", data_shape=(12,), vocab_size=8, n_layer=1, n_head=2, n_embd=16)
    model.tokenizer = CharTokenizer.from_text("hello world")  # 8 characters
    return redrawn(model)


@pytest.fixture
def image_model() -> Transformer:
    torch.manual_seed(0)
    return redrawn(genplug.create("transformer", data_shape=(1, 8, 8), levels=17, classes=10, n_layer=1, n_embd=16))


def test_every_text_sample_starts_with_the_prompt_and_the_rest_is_drawn(text_model):
    assert text_model.conditions["prompt"].kind == "text"
    x = genplug.sample(text_model, 6, prompt="hell", generator=torch.Generator().manual_seed(0))
    texts = [text_model.tokenizer.decode(row) for row in x]
    assert all(len(t) == 12 and t.startswith("hell") for t in texts), texts
    assert len({t[4:] for t in texts}) > 1  # the continuations are drawn, not fixed


class Uncached:
    """``model`` without its cache: every step rescores the whole prefix from scratch."""

    def __init__(self, model: Transformer) -> None:
        self.model = model

    def __getattr__(self, name: str):
        return getattr(self.model, name)

    def next_token_logits(self, tokens, *, cache=None, **condition):
        prefix = tokens if cache is None else torch.cat([cache, tokens], 1)
        return self.model.next_token_logits(prefix, **condition)[0], prefix


@pytest.mark.parametrize("name", ["ancestral", "greedy", "top-k", "top-p", "min-p"])
def test_a_prompt_decoded_with_the_cache_draws_the_tokens_of_full_recomputation(text_model, name):
    prompt = text_model.prompt_tokens("hel", 4)
    sampler = genplug.get_sampler(name, text_model)
    with torch.no_grad():
        cached = sampler(text_model, 4, prompt=prompt, generator=torch.Generator().manual_seed(1))
        full = sampler(Uncached(text_model), 4, prompt=prompt, generator=torch.Generator().manual_seed(1))
    assert torch.equal(cached[:, :3], prompt) and torch.equal(cached, full)


def test_bad_prompts_are_refused_saying_why(text_model, image_model):
    with pytest.raises(genplug.GenplugError, match="character 'z'.* is not in this tokenizer's vocabulary"):
        genplug.sample(text_model, 1, prompt="zebra")
    with pytest.raises(genplug.GenplugError, match="prompt: 13 tokens; a sample of this model holds 12"):
        genplug.sample(text_model, 1, prompt="hello world!!"[:11] + "ll")
    with pytest.raises(
        genplug.GenplugError, match="prompt: 0 tokens; a sample of this model holds 12, so give 1 to 12"
    ):
        genplug.sample(text_model, 1, prompt="")
    with pytest.raises(genplug.GenplugError, match="has no tokenizer, so it takes no text"):
        genplug.sample(image_model, 1, prompt="seven")
    with pytest.raises(genplug.GenplugError, match="3 prompts for 2 samples"):
        genplug.sample(image_model, 2, prompt=torch.zeros(3, 1, 2, 8))


def test_an_image_is_completed_from_its_first_rows(image_model):
    digits = genplug.load_data("digits", "test").x[:4]  # (4, 1, 8, 8)
    assert image_model.conditions["prompt"].kind == "tokens"
    x = genplug.sample(image_model, 4, prompt=digits[:, :, :3], label=3, generator=torch.Generator().manual_seed(0))
    assert x.shape == (4, 1, 8, 8)
    torch.testing.assert_close(x[:, :, :3], (digits[:, :, :3] * 16).round() / 16)  # kept, on the grey levels
    assert not torch.equal(x[:, :, 3:], (digits[:, :, 3:] * 16).round() / 16)  # the rest is drawn
    one = genplug.sample(image_model, 2, prompt=digits[0, :, :2], generator=torch.Generator().manual_seed(0))
    assert torch.equal(one[0, :, :2], one[1, :, :2])  # one prompt for every sample
    again = genplug.sample(image_model, 4, prompt=digits[:, :, :3], label=3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, again)


def test_the_cli_takes_a_prompt_only_for_a_model_with_a_text_condition(tmp_path):
    from click.testing import CliRunner

    from genplug._cli import cli

    torch.manual_seed(0)
    model = genplug.create("transformer", data_shape=(1, 8, 8), levels=17, n_layer=1, n_embd=16)
    model.save_pretrained(tmp_path / "digits")
    result = CliRunner().invoke(
        cli, ["run", "transformer", "-w", str(tmp_path / "digits"), "--prompt", "x", "-o", str(tmp_path / "x.png")]
    )
    assert result.exit_code != 0 and "--prompt: model 'transformer' takes no text" in result.output
