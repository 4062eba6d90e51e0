"""The latent space: walks between random latents, slerp, inversion of real examples and
interpolation between them."""

from __future__ import annotations

import math

import pytest
import torch
from genplug_gan import GAN, GANConfig
from genplug_gan.latents import interpolate, invert, slerp

import genplug

SMALL = {"data_shape": (1, 8, 8), "latent_dim": 6, "hidden": 4}


def g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_slerp_keeps_the_ends_and_walks_on_the_great_circle():
    z0, z1 = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 1.0])
    path = slerp(z0, z1, torch.linspace(0, 1, 5))
    assert torch.allclose(path[0], z0) and torch.allclose(path[-1], z1, atol=1e-6)
    assert torch.allclose(path.norm(dim=1), torch.linspace(3, 1, 5))  # norms move linearly
    assert torch.allclose(path[2] / path[2].norm(), torch.tensor([1.0, 1.0]) / math.sqrt(2))  # the angle halves
    assert torch.allclose(slerp(z0, 2 * z0, torch.tensor([0.5]))[0], 1.5 * z0)  # parallel: a straight line


def test_a_walk_runs_between_two_seeded_random_latents_with_one_label():
    torch.manual_seed(0)
    model = GAN(GANConfig(**SMALL, classes=3)).eval()
    x = genplug.sample(model, 7, sampler_options={"walk": True}, label=2, generator=g(0))
    ends = torch.randn(2, 6, generator=g(0))  # what the walk draws first
    assert torch.allclose(x[0], model.generator(ends[:1], torch.tensor([2]))[0], atol=1e-6)
    assert torch.allclose(x[-1], model.generator(ends[1:], torch.tensor([2]))[0], atol=1e-6)
    steps = (x[1:] - x[:-1]).flatten(1).norm(dim=1)
    assert steps.max() < (x[-1] - x[0]).norm()  # neighbours are closer than the ends
    assert torch.equal(x, genplug.sample(model, 7, sampler_options={"walk": True}, label=2, generator=g(0)))
    drawn = genplug.sample(model, 7, sampler_options={"walk": True}, generator=g(1))  # one random label for all
    label = [lab for lab in range(3) if torch.allclose(drawn[0], interpolate(model, *_ends(1), 2, label0=lab)[0])]
    assert len(label) == 1
    assert torch.allclose(drawn, interpolate(model, *_ends(1), 7, label0=label[0]), atol=1e-6)
    with pytest.raises(genplug.GenplugError, match="walk is true or false"):
        genplug.sample(model, 3, sampler_options={"walk": "yes"})


def _ends(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    ends = torch.randn(2, 6, generator=g(seed))
    return ends[0], ends[1]


def test_inversion_recovers_a_sample_of_the_generator_and_is_seeded():
    torch.manual_seed(0)
    model = GAN(GANConfig(data_shape=(5,), latent_dim=3, mlp_hidden=16, mlp_depth=2, classes=3)).eval()
    z_true = torch.randn(4, 3, generator=g(5))
    labels = torch.tensor([0, 1, 2, 0])
    with torch.no_grad():
        x = model.generator(z_true, labels)
        before = (model.generator(torch.randn(4, 3, generator=g(9)), labels) - x).pow(2).mean()
    z = invert(model, x, label=labels, steps=200, restarts=2, latent_weight=0.0, generator=g(1))
    with torch.no_grad():
        after = (model.generator(z, labels) - x).pow(2).mean()
    assert after < 0.01 * before, (float(before), float(after))
    assert torch.equal(z, invert(model, x, label=labels, steps=200, restarts=2, latent_weight=0.0, generator=g(1)))
    assert all(p.requires_grad for p in model.generator.parameters())  # given back as they were
    assert all(p.grad is None for p in model.parameters())  # the generator is not trained
    with pytest.raises(genplug.GenplugError, match="give label="):
        invert(model, x, steps=1)
    with pytest.raises(genplug.GenplugError, match=r"shape \(B, 5\)"):
        invert(model, x[:, :2], label=labels, steps=1)


def test_interpolation_moves_from_one_latent_and_label_to_the_other():
    torch.manual_seed(0)
    model = GAN(GANConfig(**SMALL, classes=3)).eval()
    z0, z1 = _ends(3)
    x = interpolate(model, z0, z1, 5, label0=0, label1=2)
    with torch.no_grad():
        assert torch.allclose(x[0], model.generator(z0[None], torch.tensor([0]))[0], atol=1e-6)
        assert torch.allclose(x[-1], model.generator(z1[None], torch.tensor([2]))[0], atol=1e-6)
    with pytest.raises(genplug.GenplugError, match="n >= 2"):
        interpolate(model, z0, z1, 1, label0=0)
    unconditional = GAN(GANConfig(**SMALL))
    assert interpolate(unconditional, z0, z1, 3).shape == (3, 1, 8, 8)
    with pytest.raises(genplug.GenplugError, match="unconditional"):
        interpolate(unconditional, z0, z1, 3, label0=1)
