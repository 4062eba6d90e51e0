"""Behaviour of the ``transformer`` architecture beyond the conformance kit: the KV cache,
class labels, data <-> tokens, and training."""

from __future__ import annotations

import math

import pytest
import torch
from genplug_autoregressive import Transformer

import genplug
from genplug.testing import check_conditions, check_next_token, check_training

IMAGE = dict(data_shape=(1, 8, 8), levels=17, n_layer=2, n_head=2, n_embd=32)
TOKENS = dict(data_shape=(3,), vocab_size=3, n_layer=2, n_head=2, n_embd=8)
SAMPLERS = {
    "ancestral": {"temperature": 0.8},
    "greedy": {},
    "top-k": {"k": 5},
    "top-p": {"p": 0.9},
    "min-p": {"p": 0.1},
}


def make(**config) -> Transformer:
    torch.manual_seed(0)
    return genplug.create("transformer", **config).eval()


def redrawn(model: Transformer, seed: int = 0) -> Transformer:
    """The model with every weight drawn from N(0, 1): far from uniform, so labels and
    samplers make visible differences (the kit does the same for its sampling check)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return model


class Uncached:
    """``model`` without its KV cache: every step recomputes the whole prefix from scratch
    (the "cache" it hands back is the prefix itself), as nanoGPT's ``generate`` does."""

    def __init__(self, model: Transformer) -> None:
        self.model = model

    def __getattr__(self, name: str):
        return getattr(self.model, name)

    def next_token_logits(self, tokens, *, cache=None, **condition):
        prefix = tokens if cache is None else torch.cat([cache, tokens], 1)
        logits, _ = self.model.next_token_logits(prefix, cache=None, **condition)
        return logits, prefix


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_cached_decoding_draws_the_tokens_of_full_recomputation(name):
    model = redrawn(make(**IMAGE, classes=2))
    sampler = genplug.get_sampler(name, model, **SAMPLERS[name])
    with torch.no_grad():
        cached = sampler(model, 8, generator=torch.Generator().manual_seed(3), label=1)
        full = sampler(Uncached(model), 8, generator=torch.Generator().manual_seed(3), label=1)
    assert cached.dtype == torch.int64 and cached.shape == (8, 1, 8, 8)
    assert torch.equal(cached, full)


def test_a_cache_takes_several_new_tokens_at_once():
    model = make(**IMAGE)
    x = torch.randint(0, 17, (2, 64), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = model.logits(x)
        _, cache = model.next_token_logits(x[:, :5])
        logits, cache = model.next_token_logits(x[:, 5:20], cache=cache)  # 15 new tokens: a causal mask
        logits_next, _ = model.next_token_logits(x[:, 20:21], cache=cache)
    torch.testing.assert_close(logits, full[:, 20], rtol=0, atol=1e-5)
    torch.testing.assert_close(logits_next, full[:, 21], rtol=0, atol=1e-5)


def test_decoding_past_the_last_position_is_refused():
    model = make(**TOKENS)
    with pytest.raises(genplug.GenplugError, match="scores at most 3 tokens"):
        model.next_token_logits(torch.zeros(1, 3, dtype=torch.long))


def test_axes_positions_are_a_row_and_a_column_vector_summed():
    model = make(**IMAGE, positions="axes")
    assert model.transformer.wpe.num_embeddings == 1 + 8 + 8  # channel, rows, columns
    wpe = model.transformer.wpe.weight
    for t in (0, 9, 63):  # position t: channel 0, row t // 8, column t % 8
        torch.testing.assert_close(
            model.transformer.wpe(model.position_index[t]).sum(0), wpe[0] + wpe[1 + t // 8] + wpe[9 + t % 8]
        )
    learned = make(**IMAGE)
    assert learned.transformer.wpe.num_embeddings == 64 and torch.equal(learned.position_index[:, 0], torch.arange(64))
    assert "position_index" not in model.state_dict()  # derived from the config, not saved
    with pytest.raises(genplug.GenplugError, match="positions"):
        genplug.create("transformer", **TOKENS, positions="rotary")


def test_axes_positions_keep_the_cache_exact_and_the_model_causal():
    model = redrawn(make(**IMAGE, positions="axes", classes=2))
    sampler = genplug.get_sampler("ancestral", model)
    with torch.no_grad():
        cached = sampler(model, 8, generator=torch.Generator().manual_seed(3), label=1)
        full = sampler(Uncached(model), 8, generator=torch.Generator().manual_seed(3), label=1)
    assert torch.equal(cached, full)
    tiny = redrawn(make(data_shape=(2, 2), vocab_size=3, n_layer=1, n_head=2, n_embd=8, positions="axes"))
    check_next_token(tiny, label="axes")  # probabilities sum to 1 over the 81 sequences; cache; causality


def trained_on_labels(steps: int = 60) -> Transformer:
    """A class-conditional model trained until label 0 means mostly 0s and label 1 mostly 2s."""
    model = make(**TOKENS, classes=2).train()
    g = torch.Generator().manual_seed(0)
    label = torch.randint(0, 2, (256,), generator=g)
    noise = torch.randint(0, 3, (256, 3), generator=g)
    x = torch.where(torch.rand(256, 3, generator=g) < 0.8, 2 * label[:, None], noise)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        loss, _ = model.loss(x, label=label)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_the_kit_passes_a_class_conditional_model_once_its_labels_mean_something():
    model = trained_on_labels()
    check_next_token(model, label="conditional")  # probabilities sum to 1 per label; cache; causality
    check_conditions(model, label="conditional")  # labels change samples; out of range refused
    batch = torch.randint(0, 3, (4, 3), generator=torch.Generator().manual_seed(0))
    check_training(model.train(), batch, label="conditional")  # the start token of every label trains


def test_the_label_reaches_the_samples_and_no_label_is_the_mixture_of_classes():
    model = trained_on_labels()
    x = genplug.sample(model, 200, label=[0] * 100 + [1] * 100, generator=torch.Generator().manual_seed(0))
    assert (x[:100] == 0).float().mean() > 0.7 and (x[100:] == 2).float().mean() > 0.7
    with torch.no_grad():
        both = torch.stack([model.log_prob(x, label=k) for k in (0, 1)])
        torch.testing.assert_close(model.log_prob(x), both.logsumexp(0) - math.log(2))
    with pytest.raises(genplug.GenplugError, match=r"label must be in 0..1, got \[2"):
        model.sample(2, label=torch.tensor([2, 2]))


def test_images_are_floats_on_the_grey_levels_and_tokens_are_int64():
    image = make(**IMAGE)
    x = genplug.sample(image, 4, generator=torch.Generator().manual_seed(0))
    assert x.dtype == torch.float32 and x.shape == (4, 1, 8, 8)
    assert torch.equal(x * 16, (x * 16).round()) and 0 <= x.min() and x.max() <= 1
    torch.testing.assert_close(image.log_prob(x), image.log_prob(image.to_tokens(x)))  # floats or tokens
    tokens = make(**TOKENS)
    assert genplug.sample(tokens, 4).dtype == torch.int64
    with pytest.raises(genplug.GenplugError, match="takes integer tokens"):
        tokens.log_prob(torch.rand(2, 3))


def test_a_config_needs_exactly_one_of_levels_and_vocab_size():
    with pytest.raises(genplug.GenplugError, match="exactly one of levels .* and vocab_size"):
        genplug.create("transformer", data_shape=(4,))
    with pytest.raises(genplug.GenplugError, match="exactly one of levels"):
        genplug.create("transformer", data_shape=(4,), levels=3, vocab_size=3)
    with pytest.raises(genplug.GenplugError, match="n_embd=30 must be a multiple of n_head=4"):
        genplug.create("transformer", data_shape=(4,), vocab_size=3, n_embd=30)
    with pytest.raises(genplug.GenplugError, match=r"TransformerConfig.n_layer must be an integer in \[1, 64\]"):
        genplug.create("transformer", data_shape=(4,), vocab_size=3, n_layer=0)


def test_a_short_training_run_on_digits_lowers_the_test_nll():
    torch.set_num_threads(1)
    model = make(**IMAGE, dropout=0.1)
    test = genplug.load_data("digits", "test").x[:200]

    def bits_per_dim() -> float:
        model.eval()
        with torch.no_grad():
            return float(-model.log_prob(test).mean()) / 64 / math.log(2)

    before = bits_per_dim()
    genplug.train(model, "digits", {"steps": 40, "batch_size": 32, "lr": 3e-3, "seed": 0}, progress=False)
    after = bits_per_dim()
    assert before > 3.8 and after < before - 0.8, (before, after)  # log2(17) = 4.09 bits: uniform tokens


def test_training_on_text_fills_the_vocabulary_and_sets_the_tokenizer():
    model = genplug.train(
        "transformer",
        "tinytext",
        {"steps": 2, "batch_size": 8},
        progress=False,
        model_config={"n_layer": 1, "n_head": 2, "n_embd": 16},
    )
    assert model.config.data_shape == (64,) and model.vocab_size == model.tokenizer.vocab_size == 42
    text = model.tokenizer.decode(genplug.sample(model, 1, generator=torch.Generator().manual_seed(0))[0].tolist())
    assert len(text) == 64


def test_weight_decay_applies_to_weight_matrices_and_embeddings_only():
    model = make(**IMAGE, classes=2)
    config = genplug.TrainConfig(lr=1e-3, options={"weight_decay": 0.3, "beta2": 0.95})
    (optimizer,) = model.configure_optimizers(config).values()
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.3 and plain["weight_decay"] == 0.0 and decayed["betas"] == (0.9, 0.95)
    assert {p.dim() for p in decayed["params"]} == {2} and {p.dim() for p in plain["params"]} == {1}
    assert len(decayed["params"]) + len(plain["params"]) == len(list(model.parameters()))
    with pytest.raises(genplug.GenplugError, match="weight_decay must be a number in"):
        model.configure_optimizers(genplug.TrainConfig(options={"weight_decay": -1}))


def test_logits_stay_float32_under_bf16_autocast():
    model = make(**IMAGE)
    x = torch.randint(0, 17, (2, 64), generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model.logits(x)
        first, _ = model.next_token_logits(x[:, :0])
    assert logits.dtype == first.dtype == torch.float32
    torch.testing.assert_close(logits, model.logits(x), rtol=0, atol=0.05)  # bf16 inside, close to float32


def test_the_kit_fails_this_transformer_once_its_attention_may_look_ahead(monkeypatch):
    model = redrawn(make(**TOKENS))
    check_next_token(model, label="causal")  # passes as it is
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def look_ahead(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False):
        return sdpa(q, k, v, dropout_p=dropout_p)  # no mask: every position reads every other

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", look_ahead)
    with pytest.raises(AssertionError, match="changes by .* when tokens\\[:, 0:\\] change"):
        check_next_token(model, label="leaky")
