from __future__ import annotations

import pytest
import torch

import genplug
from genplug._protocols import missing_members


class GoodGenerator:
    event_shape = (2,)
    log_prob_kinds = ()

    def sample(self, n, *, generator=None, **condition):
        return torch.zeros(n, 2)


class ClaimsLikelihood(GoodGenerator):
    log_prob_kinds = ("exact",)


class GoodEncoder:
    latent_shape = (3,)

    def encode(self, x, *, generator=None):
        return genplug.Latent(sample=x[:, :3], mean=x[:, :3])

    def decode(self, z):
        return z


def test_instances_and_classes_satisfy_protocols():
    assert isinstance(GoodGenerator(), genplug.Generator)
    assert isinstance(GoodEncoder(), genplug.Encoder)
    assert missing_members(GoodGenerator, genplug.Generator) == []
    genplug.check_protocol(GoodEncoder, "encoder", what="test encoder")


def test_missing_members_are_named():
    with pytest.raises(genplug.PluginError, match=r"my thing does not satisfy the Encoder protocol: missing decode"):
        genplug.check_protocol(GoodGenerator(), "encoder", what="my thing")
    assert missing_members(object(), genplug.Generator) == ["event_shape", "log_prob_kinds", "sample"]


def test_declared_likelihood_needs_log_prob():
    with pytest.raises(genplug.PluginError, match=r"log_prob \(declared log_prob_kinds \('exact',\)\)"):
        genplug.check_protocol(ClaimsLikelihood, "generator", what="x")


def test_model_base_class_satisfies_generator(toy):
    genplug.check_protocol(toy, "generator", what="toy")
    assert toy.event_shape == (2,)
    assert toy.log_prob_kinds == ("exact",)
    assert toy.log_prob(torch.zeros(5, 2)).shape == (5,)


def test_sampler_protocol():
    class S:
        name = "s"
        requires: dict = {}

        def check(self, model):
            pass

        def __call__(self, model, n, *, steps=None, generator=None):
            return torch.zeros(n)

    assert isinstance(S(), genplug.Sampler)
    assert missing_members(object(), genplug.Sampler) == ["__call__", "check", "name", "requires"]


def test_conformance_kit_on_the_toy_plugin():
    from genplug.testing import conformance_cases

    cases = conformance_cases("genplug-toy")
    assert [str(c) for c in cases] == [
        "architecture-toy-bigram-0",
        "architecture-toy-bigram-1",
        "architecture-toy-gaussian-0",
    ]
    for case in cases:
        case.run()


def test_conformance_kit_catches_broken_models(monkeypatch):
    from genplug_toy.model import ToyGaussian

    from genplug.testing import check_architecture, no_network

    def unseeded(self, n, *, generator=None, temperature=1.0):
        return self.mean + torch.randn(n, *self.event_shape)

    monkeypatch.setattr(ToyGaussian, "sample", unseeded)
    with pytest.raises(AssertionError, match="same generator, same samples"):
        check_architecture("toy-gaussian")
    monkeypatch.undo()

    monkeypatch.setattr(ToyGaussian, "loss", lambda self, batch, generator=None: -self.log_prob(batch).mean())
    with pytest.raises(AssertionError, match="no gradient reaches extra.weight, extra.bias"):
        check_architecture("toy-gaussian")

    import socket

    with no_network(), pytest.raises(AssertionError, match="network access"):
        socket.create_connection(("example.org", 80))


def test_draw_labels_is_a_balanced_shuffled_set_from_the_seed():
    label = genplug.Condition("class", classes=10)
    labels = label.draw_labels(1000, generator=torch.Generator().manual_seed(0))
    assert labels.dtype == torch.int64 and labels.shape == (1000,)
    assert torch.bincount(labels, minlength=10).tolist() == [100] * 10
    assert not torch.equal(labels, torch.arange(1000) % 10)  # shuffled, not in turn
    again = label.draw_labels(1000, generator=torch.Generator().manual_seed(0))
    other = label.draw_labels(1000, generator=torch.Generator().manual_seed(1))
    assert torch.equal(labels, again) and not torch.equal(labels, other)
    counts = torch.bincount(label.draw_labels(25, generator=torch.Generator().manual_seed(0)), minlength=10)
    assert sorted(counts.tolist()) == [2] * 5 + [3] * 5  # the remainder on five distinct classes
    picked = {int(label.draw_labels(1, generator=torch.Generator().manual_seed(s))) for s in range(40)}
    assert picked == set(range(10))  # one label: any class
    assert label.draw_labels(0).shape == (0,)


def test_draw_labels_needs_a_class_condition():
    with pytest.raises(genplug.GenplugError, match="class condition"):
        genplug.Condition("text").draw_labels(4)
    with pytest.raises(genplug.GenplugError, match="class condition"):
        genplug.Condition("class").draw_labels(4)
