"""Each decoder likelihood: normalised, its mean and draws agree, its errors."""

from __future__ import annotations

import math

import pytest
import torch
from genplug_vae import Bernoulli, DiscretizedLogistic, Gaussian, make_likelihood

import genplug


def test_discretized_logistic_sums_to_one_over_its_levels() -> None:
    lik = DiscretizedLogistic(levels=17)
    g = torch.Generator().manual_seed(0)
    params = torch.cat([torch.rand(6, 1, generator=g) * 1.4 - 0.2, torch.randn(6, 1, generator=g) - 2], 1)  # (6, 2)
    levels = torch.arange(17) / 16
    probs = torch.stack([lik.log_prob(torch.full((6, 1), v.item()), params).exp() for v in levels])  # (17, 6)
    assert torch.allclose(probs.sum(0), torch.ones(6), atol=1e-5)
    # its mean is the expectation over the levels, and draws land on the grid with those frequencies
    assert torch.allclose(lik.mean(params)[:, 0], (probs * levels[:, None]).sum(0), atol=1e-5)
    draws = lik.sample(params.repeat(20000, 1), generator=g).view(20000, 6)
    assert torch.allclose(draws.mean(0), lik.mean(params)[:, 0], atol=0.01)
    assert bool(((draws * 16 - (draws * 16).round()).abs() < 1e-5).all())


def test_discretized_logistic_stays_finite_when_sharp_and_far() -> None:
    lik = DiscretizedLogistic(levels=17)
    x = torch.tensor([[0.0], [0.5], [1.0], [0.5]])
    params = torch.tensor([[5.0, -7.0], [-5.0, -7.0], [-5.0, -7.0], [0.5, -9.0]])  # far off, and a spike on target
    lp = lik.log_prob(x, params)
    assert bool(torch.isfinite(lp).all())
    assert float(lp[3]) == pytest.approx(0.0, abs=1e-4)  # all the mass on the observed level


def test_discretized_logistic_refuses_data_off_its_grid() -> None:
    lik = DiscretizedLogistic(levels=17)
    with pytest.raises(genplug.GenplugError, match=r"levels=256 for 8-bit images"):
        lik.log_prob(torch.full((1, 1), 0.51), torch.zeros(1, 2))
    with pytest.raises(genplug.GenplugError, match="k/16 in"):
        lik.log_prob(torch.full((1, 1), 1.0625), torch.zeros(1, 2))


def test_bernoulli_is_normalised_over_binary_data() -> None:
    lik = Bernoulli()
    logits = torch.tensor([[0.3, -1.2]])
    total = sum(lik.log_prob(torch.tensor([[a, b]]), logits).exp() for a in (0.0, 1.0) for b in (0.0, 1.0))
    assert float(total) == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(lik.mean(logits), torch.sigmoid(logits))
    draws = lik.sample(logits.repeat(20000, 1), generator=torch.Generator().manual_seed(0))
    assert set(draws.unique().tolist()) == {0.0, 1.0}
    assert torch.allclose(draws.mean(0), torch.sigmoid(logits[0]), atol=0.01)


def test_gaussian_density_integrates_to_one_with_a_floored_scale() -> None:
    lik = Gaussian(min_scale=0.1)
    params = torch.tensor([[0.5, -30.0]])  # softplus(-30) ~ 0: the scale sits on its floor
    mean, scale = lik.split(params)
    assert float(scale) == pytest.approx(0.1, rel=1e-6)
    grid = torch.linspace(-1.5, 2.5, 40001)[:, None]
    density = lik.log_prob(grid, params.expand(len(grid), 2)).exp()
    assert float(torch.trapezoid(density, grid[:, 0])) == pytest.approx(1.0, abs=1e-4)
    lp = lik.log_prob(torch.tensor([[0.5]]), params)
    assert float(lp) == pytest.approx(-math.log(0.1) - 0.5 * math.log(2 * math.pi), rel=1e-6)
    draws = lik.sample(params.repeat(20000, 1), generator=torch.Generator().manual_seed(0))
    assert float(draws.mean()) == pytest.approx(0.5, abs=0.005)
    assert float(draws.std()) == pytest.approx(0.1, rel=0.03)


def test_make_likelihood_names_the_choices() -> None:
    assert isinstance(make_likelihood("logistic", levels=256), DiscretizedLogistic)
    assert make_likelihood("logistic", levels=256).levels == 256
    with pytest.raises(genplug.GenplugError, match="bernoulli, gaussian, logistic"):
        make_likelihood("poisson")


def test_image_likelihoods_split_parameters_by_channel() -> None:
    # (B, n_params * C, H, W): the first C channels are one parameter, the next C the other
    lik = DiscretizedLogistic(levels=17)
    loc = torch.rand(2, 3, 4, 4)
    params = torch.cat([loc, torch.full_like(loc, -6.0)], 1)
    assert torch.allclose(lik.mean(params), loc, atol=1 / 32 + 1e-3)  # a sharp logistic: the nearest level


def test_docstring_examples_run() -> None:
    import doctest

    import genplug_vae.likelihoods
    import genplug_vae.model

    for module in (genplug_vae.likelihoods, genplug_vae.model):
        result = doctest.testmod(module, extraglobs={"torch": torch})
        assert result.attempted > 0 and result.failed == 0, module.__name__
