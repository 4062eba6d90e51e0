"""The conditional VAE: the label into encoder and decoder, label dropout, the marginal
when no label is given, and one-line errors for bad labels."""

from __future__ import annotations

import math

import pytest
import torch
from click.testing import CliRunner

import genplug
from genplug._cli import cli


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def tiny(**config) -> genplug.Model:
    torch.manual_seed(0)
    return genplug.create("vae", **{"latent_dim": 4, "hidden": 4, "mlp_hidden": 16, **config}).eval()


@pytest.fixture(scope="module")
def cvae():
    return tiny(classes=3, label_dropout=0.2)


def test_a_conditional_vae_declares_its_label_and_feeds_it_to_both_networks(cvae):
    assert cvae.conditions["label"].classes == 3 and tiny().conditions == {}
    x = cvae.conformance_batch(4, generator=g())
    zero, one = cvae.posterior(x, 0), cvae.posterior(x, 1)
    assert not torch.allclose(zero[0], one[0])  # the encoder sees the label
    z = torch.randn(4, 4, generator=g())
    assert not torch.allclose(cvae.decode(z, label=0), cvae.decode(z, label=1))  # so does the decoder
    assert torch.equal(cvae.decode(z), cvae.decode(z))  # no label: the null label, deterministic


@pytest.mark.parametrize("network", ["conv", "mlp"])
def test_unconditional_weights_keep_their_names(network):
    names = set(tiny(network=network).state_dict())
    assert names == set(tiny(network=network, classes=3).state_dict())  # the same tensors, some wider


def test_sampling_without_a_label_draws_every_class_equally_often(cvae):
    seen = []
    decode_sample = cvae.decode_sample

    def spy(z, *, generator=None, label=None):
        seen.append(label)
        return decode_sample(z, generator=generator, label=label)

    cvae.decode_sample = spy
    try:
        cvae.sample(3000, generator=g())
        cvae.sample(5, generator=g(), label=2)
    finally:
        del cvae.decode_sample
    assert torch.bincount(seen[0], minlength=3).tolist() == [1000] * 3  # Condition.draw_labels
    assert not torch.equal(seen[0], torch.arange(3000) % 3)  # in a shuffled order
    assert torch.equal(seen[1], torch.full((5,), 2))


def test_log_prob_without_a_label_bounds_the_mixture_over_the_classes(cvae):
    x = cvae.conformance_batch(5, generator=g())
    shared = g(1)  # the classes' bounds draw from one generator, one after another
    per_class = torch.stack([cvae.log_prob(x, label=y, generator=shared) for y in range(3)])
    expected = torch.logsumexp(per_class, 0) - math.log(3)
    assert torch.allclose(cvae.log_prob(x, generator=g(1)), expected)
    assert bool((cvae.log_prob(x, generator=g(1)) >= per_class.min(0).values - 1e-4).all())


def test_label_dropout_turns_that_fraction_of_labels_into_the_null_label(cvae):
    seen = []
    forward = cvae.decoder.forward

    def spy(z, cond=None):
        seen.append(cond)
        return forward(z, cond)

    cvae.decoder.forward = spy
    try:
        x, y = cvae.conformance_batch(2000, generator=g()), torch.randint(0, 3, (2000,), generator=g())
        cvae.loss(x, label=y, generator=g(2))
    finally:
        del cvae.decoder.forward
    (cond,) = seen
    null = cond.sum(1) == 0
    assert 0.17 < null.float().mean() < 0.23
    assert torch.equal(cond[~null].argmax(1), y[~null])


def test_training_on_digits_feeds_the_labels():
    model = tiny(classes=10)
    seen = []
    loss = model.loss

    def spy(batch, *, generator=None, step=None, label=None):
        seen.append(label)
        return loss(batch, generator=generator, step=step, label=label)

    model.loss = spy
    genplug.train(model, "digits", genplug.TrainConfig(steps=2, batch_size=8, seed=0), progress=False)
    assert len(seen) == 2 and all(s is not None and s.shape == (8,) for s in seen)


@pytest.mark.parametrize(
    ("config", "label", "message"),
    [
        ({"classes": 3}, 3, "label=3 is out of range: model 'vae' takes labels 0 to 2"),
        ({"classes": 3}, -2, "label=-2 is out of range"),
        ({}, 1, "unconditional"),
    ],
)
def test_bad_labels_are_refused_in_one_line(config, label, message):
    model = tiny(**config)
    for draw in (model.sample, lambda n, **kw: genplug.sample(model, n, **kw)):
        with pytest.raises(genplug.GenplugError, match=message) as info:
            draw(2, label=label)
        assert "\n" not in str(info.value)


def test_config_refuses_label_dropout_without_classes():
    with pytest.raises(genplug.GenplugError, match="label_dropout=0.1 needs a conditional VAE"):
        genplug.create("vae", label_dropout=0.1)


def test_genplug_run_vae_label_draws_that_class(tmp_path):
    folder = tmp_path / "model"
    tiny(classes=3).save_pretrained(folder)
    out = tmp_path / "x.npy"
    result = CliRunner().invoke(
        cli, ["run", "vae", "--weights", str(folder), "--label", "2", "-n", "3", "--seed", "4", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    import numpy as np

    expected = genplug.load(folder).sample(3, generator=g(4), label=2)
    assert torch.allclose(torch.from_numpy(np.load(out)), expected, atol=1e-6)
    bad = CliRunner().invoke(cli, ["run", "vae", "--weights", str(folder), "--label", "5", "-o", str(out)])
    assert bad.exit_code == 1 and "label=5 is out of range" in bad.output
