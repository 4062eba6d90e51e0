"""The decoding samplers: their options, what each keeps of a distribution, and that they
serve any plugin's next-token model (the test plugin's ``toy-bigram``)."""

from __future__ import annotations

import pytest
import torch
from genplug_autoregressive.samplers import MinP, TopK, TopP

import genplug
from genplug.testing import check_sampler

PROBS = torch.tensor([[0.4, 0.3, 0.2, 0.1]])
NAMES = ("ancestral", "greedy", "min-p", "top-k", "top-p")


@pytest.mark.parametrize(
    ("sampler", "kept"),
    [
        (TopK(k=2), [True, True, False, False]),
        (TopK(k=10), [True, True, True, True]),  # k beyond the vocabulary keeps everything
        (TopP(p=0.5), [True, True, False, False]),  # 0.4 < 0.5, so 0.3 joins; then 0.7 >= 0.5
        (TopP(p=0.3), [True, False, False, False]),  # the most probable token alone reaches 0.3
        (TopP(p=1.0), [True, True, True, True]),
        (MinP(p=0.5), [True, True, True, False]),  # at least 0.5 * 0.4
        (MinP(p=1.0), [True, False, False, False]),
    ],
    ids=str,
)
def test_each_truncation_keeps_the_tokens_its_rule_names(sampler, kept):
    assert sampler.keep(PROBS).tolist() == [kept]


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("ancestral", {"temperature": 0}, "temperature must be a positive number, got 0; for the most probable"),
        ("ancestral", {"temperature": -1.0}, "temperature must be a positive number"),
        ("ancestral", {"temperature": "hot"}, "temperature must be a positive number, got 'hot'"),
        ("top-k", {"k": 0}, "k must be an integer >= 1, got 0"),
        ("top-k", {"k": 2.5}, "k must be an integer >= 1, got 2.5"),
        ("top-p", {"p": 0.0}, r"p must be a number in \(0, 1\], got 0.0"),
        ("min-p", {"p": 1.5}, r"p must be a number in \(0, 1\], got 1.5"),
    ],
)
def test_bad_options_are_refused_naming_the_sampler_and_the_option(name, options, message):
    model = genplug.create("transformer", data_shape=(3,), vocab_size=3, n_layer=1, n_embd=8)
    with pytest.raises(genplug.ConfigError, match=f"sampler {name!r}: {message}"):
        genplug.sample(model, 2, sampler=name, sampler_options=options)


def test_an_unknown_option_and_steps_are_refused():
    model = genplug.create("transformer", data_shape=(3,), vocab_size=3, n_layer=1, n_embd=8)
    with pytest.raises(genplug.PluginError, match="top-k"):
        genplug.sample(model, 2, sampler="top-k", sampler_options={"p": 0.5})
    with pytest.raises(genplug.GenplugError, match="takes no steps"):
        genplug.sample(model, 2, sampler="top-k", steps=10)


def _far_from_uniform(**config):
    torch.manual_seed(0)
    model = genplug.create("transformer", **config).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return model


def _draw(model, sampler, **options):
    generator = torch.Generator().manual_seed(5)
    return genplug.sample(model, 16, sampler=sampler, sampler_options=options, generator=generator)


def test_the_limits_of_each_option_give_greedy_or_ancestral_decoding():
    model = _far_from_uniform(data_shape=(12,), vocab_size=7, n_layer=1, n_head=2, n_embd=16)
    greedy, ancestral = _draw(model, "greedy"), _draw(model, "ancestral")
    assert not torch.equal(greedy, ancestral)
    for sampler, options in [
        ("top-k", {"k": 1}),
        ("top-p", {"p": 1e-6}),
        ("min-p", {"p": 1.0}),
        ("ancestral", {"temperature": 1e-4}),
    ]:
        assert torch.equal(_draw(model, sampler, **options), greedy), sampler
    for sampler, options in [("top-k", {"k": 7}), ("top-p", {"p": 1.0}), ("min-p", {"p": 1e-9})]:
        assert torch.equal(_draw(model, sampler, **options), ancestral), sampler


def test_a_lower_temperature_draws_more_probable_sequences():
    model = _far_from_uniform(data_shape=(12,), vocab_size=7, n_layer=1, n_head=2, n_embd=16)
    logp = {t: float(model.log_prob(_draw(model, "ancestral", temperature=t)).mean().detach()) for t in (0.5, 1.0, 2.0)}
    assert logp[0.5] > logp[1.0] > logp[2.0], logp


@pytest.fixture
def bigram():
    if "toy-bigram" not in genplug.registry().architectures:
        pytest.skip("the test plugin genplug-toy is not installed")
    torch.manual_seed(0)
    return genplug.create("toy-bigram", data_shape=(3,), vocab_size=3)


@pytest.mark.parametrize("name", NAMES)
def test_every_sampler_passes_the_kit_on_another_plugins_next_token_model(bigram, name):
    check_sampler(name, "toy-bigram", {"data_shape": (3,), "vocab_size": 3, "classes": 2})


def test_ancestral_decoding_of_the_bigram_draws_its_distribution(bigram):
    sampler = genplug.get_sampler("ancestral", bigram)
    x = sampler(bigram, 4000, generator=torch.Generator().manual_seed(0))
    seqs = torch.tensor([[a, b, c] for a in range(3) for b in range(3) for c in range(3)])
    probs = bigram.log_prob(seqs).exp().detach()
    freq = torch.bincount((x * torch.tensor([9, 3, 1])).sum(1), minlength=27).float() / len(x)
    assert 0.5 * float((freq - probs).abs().sum()) < 0.05


@pytest.mark.parametrize("name", NAMES)
def test_without_a_label_every_class_is_asked_equally_often(name):
    if "toy-bigram" not in genplug.registry().architectures:
        pytest.skip("the test plugin genplug-toy is not installed")
    model = genplug.create("toy-bigram", data_shape=(3,), vocab_size=3, classes=2)
    asked = []
    logits = model.next_token_logits

    def spy(tokens, *, cache=None, label=None):
        asked.append(label)
        return logits(tokens, cache=cache, label=label)

    model.next_token_logits = spy
    genplug.get_sampler(name, model)(model, 40, generator=torch.Generator().manual_seed(0))
    assert torch.bincount(asked[0], minlength=2).tolist() == [20, 20]  # Condition.draw_labels
    assert not torch.equal(asked[0], torch.arange(40) % 2)
