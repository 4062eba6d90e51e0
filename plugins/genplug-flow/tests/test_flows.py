"""The flows themselves: invertible with the right log-determinants at random weights (not
only at the identity they start from), exact likelihoods that integrate to one, and
dequantisation bounds that bound."""

from __future__ import annotations

import math

import pytest
import torch

import genplug
from genplug.testing import check_bijection


def g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("glow", {"data_shape": (1, 8, 8), "levels": 17, "depth": 2, "hidden": 8}),
        ("glow", {"data_shape": (3, 4, 4), "scales": 2, "depth": 1, "hidden": 8, "checkerboard": 2}),
        ("nsf", {"data_shape": (3,), "hidden": 16, "transforms": 3}),
    ],
    ids=["glow-digits", "glow-continuous", "nsf"],
)
def test_random_weights_invert_within_tolerance_and_log_dets_equal_autograds(name, config, randomize):
    torch.manual_seed(0)
    model = randomize(genplug.create(name, **config))
    check_bijection(model, label=f"{name} at random weights")  # float32 1e-5, float64 1e-10, autograd log|det|


def test_a_broken_inverse_convolution_is_caught_by_the_bijection_check(randomize):
    torch.manual_seed(0)
    model = randomize(genplug.create("glow", data_shape=(1, 4, 4), scales=1, depth=1, hidden=4, checkerboard=0))
    conv = model.blocks[0][1]
    conv.inverse = lambda h: (h, torch.zeros(h.shape[0], dtype=h.dtype))  # forgets to invert W
    with pytest.raises(AssertionError, match="not the forward map's inverse"):
        check_bijection(model, label="broken")


def test_glow_samples_grey_levels_and_decode_inverts_encode(randomize):
    torch.manual_seed(0)
    model = randomize(genplug.create("glow", data_shape=(1, 8, 8), levels=17, depth=1, hidden=8), std=0.05)
    x = model.sample(16, generator=g(0))
    assert torch.equal(x * 16, (x * 16).round()) and x.min() >= 0 and x.max() <= 1
    latent = model.encode(x, generator=g(1))
    assert torch.equal(model.decode(latent.mean), x)  # the cell centre comes back to its grey level
    assert torch.equal(model.decode(latent.sample), x)  # and so does any dequantised point of the cell


def test_glow_refuses_data_off_its_grid():
    model = genplug.create("glow", data_shape=(1, 8, 8), levels=17, depth=1, hidden=4)
    with pytest.raises(genplug.GenplugError, match=r"levels=17: give values k / 16"):
        model.log_prob(torch.full((2, 1, 8, 8), 0.3))


@pytest.mark.parametrize("dequantization", ["uniform", "variational"])
def test_the_dequantised_bounds_bound_the_probability_of_the_images_the_model_samples(dequantization, randomize):
    # A 2x2 binary image: 16 possible images. P(k), the mass of the flow's density in the
    # cell of k, is how often sample() draws k: the bounds must lie below log P(k), and the
    # importance-weighted one (uniform proposal) must reach it as k grows.
    torch.manual_seed(0)
    model = genplug.create(
        "glow", data_shape=(1, 2, 2), levels=2, alpha=1e-3, scales=1, depth=2, hidden=8, dequantization=dequantization
    )  # alpha small: the edge cells' mass beyond [0, 1] (see glow.py) is negligible
    model = randomize(model, std=0.05).double()
    n = 100_000
    with torch.no_grad():
        drawn = model.sample(n, generator=g(0)).flatten(1).long() @ torch.tensor([8, 4, 2, 1])
        prob = torch.bincount(drawn, minlength=16).double() / n
        images = torch.tensor([[(i >> b) & 1 for b in (3, 2, 1, 0)] for i in range(16)], dtype=torch.float64)
        images = images.view(16, 1, 2, 2)
        elbo = model.log_prob(images, kind="elbo", k=1000, generator=g(1))
        iwae = model.log_prob(images, kind="iwae", k=1000, generator=g(2))
    common = prob > 0.02  # images drawn often enough for their frequency to be precise (to about 2%)
    assert common.sum() >= 4
    log_p = prob[common].log()
    assert (elbo[common] <= log_p + 0.05).all(), (elbo[common], log_p)
    if dequantization == "uniform":
        assert (iwae[common] - log_p).abs().max() < 0.05, (iwae[common], log_p)
        assert (iwae >= elbo - 1e-3).all()
    # (an untrained variational q has heavy-tailed importance weights: its iwae estimate
    # scatters around log P(k) by about 0.1 even at k = 20000, so only its elbo is checked)


def test_eval_names_the_dequantisation_and_the_discrete_space():
    torch.manual_seed(0)
    model = genplug.create("glow", data_shape=(1, 8, 8), levels=17, depth=1, hidden=4, dequantization="variational")
    figures = genplug.evaluate(model, "digits", n=10, metrics=["nll"])
    assert figures["nll_elbo-variational-dequantization_space"] == "discrete"
    assert figures["nll_iwae-16-variational-dequantization_space"] == "discrete"
    # an untrained identity-like flow on the logit scale: a few bits per dimension, never below 0
    assert 0 < figures["nll_elbo-variational-dequantization_bits_per_dim"] < 20
    nsf = genplug.create("nsf", data_shape=(2,), hidden=8)
    figures = genplug.evaluate(nsf, "moons", n=10, metrics=["nll"])
    assert figures["nll_exact_space"] == "continuous"


def test_nsf_density_integrates_to_one_on_a_grid(randomize):
    torch.manual_seed(0)
    model = randomize(genplug.create("nsf", data_shape=(2,), hidden=16, bins=6, bound=3.0), std=0.1).double()
    side = torch.linspace(-9, 9, 301, dtype=torch.float64)
    points = torch.cartesian_prod(side, side)
    with torch.no_grad():
        mass = model.log_prob(points).exp().sum() * (side[1] - side[0]) ** 2
    assert abs(float(mass) - 1) < 1e-3


def test_nsf_trains_on_moons():
    torch.manual_seed(0)
    model = genplug.create("nsf", data_shape=(2,), hidden=32, transforms=2)
    before = -float(model.log_prob(genplug.load_data("moons", "test").x).mean())
    genplug.train(model, "moons", genplug.TrainConfig(steps=150, batch_size=256, lr=3e-3), progress=False)
    after = -float(model.log_prob(genplug.load_data("moons", "test").x).mean())
    assert after < before - 0.5 and math.isfinite(after), (before, after)


def seeded_nsf(init: str) -> genplug.Model:
    torch.manual_seed(0)
    return genplug.create("nsf", data_shape=(3,), hidden=16, init=init)


def test_nsf_init_identity_starts_at_the_identity_and_init_random_does_not():
    x = torch.randn(64, 3, generator=g(0)) * 3  # inside and outside the splines' [-5, 5]
    z, log_det = seeded_nsf("identity").forward_and_log_det(x)
    assert torch.allclose(z, x, atol=1e-5) and log_det.abs().max() < 1e-5
    z, log_det = seeded_nsf("random").forward_and_log_det(x)
    assert (z - x).abs().max() > 1e-2 and log_det.abs().max() > 1e-2
    identity, random = (seeded_nsf(init) for init in ("identity", "random"))
    for a, b in zip(identity.layers, random.layers, strict=True):  # only the last layers start differently
        hidden = [
            (p, q)
            for m, n in zip(list(a)[:-1], list(b)[:-1], strict=True)
            for p, q in zip(m.parameters(), n.parameters(), strict=True)
        ]
        assert hidden and all(torch.equal(p, q) for p, q in hidden)
        assert not torch.equal(a[-1].weight, b[-1].weight) and not a[-1].weight.any()


def test_glow_dropout_acts_only_in_training_and_keeps_the_weights_names(randomize):
    config = {"data_shape": (1, 8, 8), "levels": 17, "depth": 1, "hidden": 8}
    torch.manual_seed(0)
    model = randomize(genplug.create("glow", **config, dropout=0.5))
    assert model.state_dict().keys() == genplug.create("glow", **config).state_dict().keys()
    x = model.sample(4, generator=g(0))
    model.train()
    torch.manual_seed(1)
    a = model.log_prob(x, generator=g(2))
    assert not torch.equal(a, model.log_prob(x, generator=g(2)))  # dropout draws differ
    model.eval()
    assert torch.equal(model.log_prob(x, generator=g(2)), model.log_prob(x, generator=g(2)))
    check_bijection(model, label="glow with dropout, eval mode")
