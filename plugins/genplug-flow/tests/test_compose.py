"""Flows compose: a spline flow as the prior of a composite (over another plugin's encoder,
or over a glow's base space), and as a bijection code written for the protocol can wrap."""

from __future__ import annotations

import tempfile

import pytest
import torch

import genplug


def test_a_spline_flow_is_the_prior_of_a_vae_composite_that_trains_saves_and_loads():
    if "vae" not in genplug.registry().architectures:
        pytest.skip("genplug-vae is not installed")
    torch.manual_seed(0)
    vae = genplug.create("vae", data_shape=(1, 8, 8), latent_dim=4, hidden=4, mlp_hidden=16)
    prior = genplug.create("nsf", data_shape=vae.latent_shape, hidden=16, transforms=2)
    model = genplug.compose(encoder=vae, prior=prior)
    before = [p.clone() for p in prior.parameters()]
    model.fit("digits", steps=5, batch_size=32, progress=False)
    assert any(not torch.equal(a, b) for a, b in zip(before, prior.parameters(), strict=True))
    x = genplug.sample(model, 4, generator=torch.Generator().manual_seed(0))
    assert x.shape == (4, 1, 8, 8)
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        loaded = genplug.load(folder)
        assert loaded.prior.architecture == "nsf"
        same = genplug.sample(loaded, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(same, x)


def test_a_spline_flow_is_the_prior_in_a_glow_s_base_space():
    torch.manual_seed(0)
    glow = genplug.create("glow", data_shape=(1, 4, 4), scales=1, depth=1, hidden=4, checkerboard=0)
    prior = genplug.create("nsf", data_shape=(16,), hidden=16, transforms=1, depth=1)
    model = genplug.compose(encoder=glow, prior=prior, adapter="flatten")
    z = prior.sample(3, generator=torch.Generator().manual_seed(0))
    x = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(x, glow.decode(z.view(3, 1, 4, 4)))


def test_the_flows_are_bijections_that_generic_code_can_wrap():
    def log_prob_through(bijection, x):  # a density written against the protocol only
        z, log_det = bijection.forward_and_log_det(x)
        return torch.distributions.Normal(0.0, 1.0).log_prob(z).flatten(1).sum(1) + log_det

    torch.manual_seed(0)
    for model in (
        genplug.create("nsf", data_shape=(3,), hidden=8),
        genplug.create("glow", data_shape=(2, 4, 4), scales=1, depth=1, hidden=4),
    ):
        genplug.check_protocol(model, "bijection", what=model.architecture)
        x = torch.rand(5, *model.event_shape)
        assert torch.allclose(log_prob_through(model, x), model.log_prob(x), atol=1e-5)
