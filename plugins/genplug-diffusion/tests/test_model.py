"""The diffusion model: config, denoiser choice, training loss, sampling, files, ELBO."""

from __future__ import annotations

import json
import math
import re
import time

import attrs
import pytest
import torch
from genplug_diffusion import (
    DiffusionConfig,
    DiffusionModel,
    MLPDenoiser,
    UNet,
    discretized_gaussian_log_prob,
    schedules,
)

import genplug

SAMPLERS = ("ddim", "ddpm", "dpm-solver++", "unipc")


def g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- config and denoiser --------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "denoiser", "net", "mults"),
    [
        ((1, 8, 8), "auto", UNet, (1, 2)),
        ((3, 16, 16), "auto", UNet, (1, 2, 2)),
        ((3, 32, 32), "auto", UNet, (1, 2, 2, 2)),
        ((2,), "auto", MLPDenoiser, None),
        ((1, 8, 8), "mlp", MLPDenoiser, None),
    ],
)
def test_data_shape_picks_the_denoiser_and_config_can_force_it(shape, denoiser, net, mults):
    torch.manual_seed(0)
    model = genplug.create("diffusion", data_shape=shape, denoiser=denoiser, channels=8, hidden=16)
    assert isinstance(model.net, net)
    if mults is not None:
        assert model.config.channel_mults == mults
    with torch.no_grad():
        x = model.sample(2, steps=2, generator=g(0))
    assert x.shape == (2, *shape)


def test_shape_dependent_defaults():
    config = DiffusionConfig(data_shape=(1, 8, 8))
    assert (config.data_center, config.data_scale, config.clip_sample) == (0.5, 0.5, 1.0)  # [0, 1] -> [-1, 1]
    assert config.schedule == "cosine"
    config = DiffusionConfig(data_shape=(2,))
    assert (config.data_center, config.data_scale, config.clip_sample) == (0.0, 1.0, None)
    assert config.schedule == "linear"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"prediction_type": "score"}, "prediction_type='score'; choose one of 'epsilon', 'v_prediction'"),
        ({"schedule": "sigmoid"}, "schedule='sigmoid'; choose one of 'linear', 'cosine'"),
        ({"denoiser": "unet", "data_shape": (2,)}, "denoiser='unet' needs images"),
        ({"data_shape": (1, 10, 10), "channel_mults": (1, 2, 2)}, "10x10 is not divisible by 4"),
        ({"attention_heads": 3}, "must divide the lowest level's width"),
        ({"num_train_timesteps": 1}, "num_train_timesteps must be an integer in [2, 100000], got 1"),
        ({"clip_sample": -1.0}, "clip_sample must be a positive number"),
    ],
)
def test_config_errors_name_the_field(fields, message):
    with pytest.raises(genplug.ConfigError, match=re.escape(message)):
        DiffusionConfig(**fields)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"num_train_timesteps": 10**9}, "num_train_timesteps"),
        ({"hidden": 10**6}, "hidden"),
        ({"channels": 10**6}, "channels"),
        ({"mlp_blocks": 10**4}, "mlp_blocks"),
        ({"res_blocks": 65}, "res_blocks"),
        ({"data_shape": (1, 10**5, 8)}, "data_shape"),
        ({"data_shape": (2**25,)}, "data_shape"),
        ({"channels": 4096, "channel_mults": (1, 32)}, "channel_mults"),
        ({"beta_end": 5.0}, "beta_end"),
        ({"data_scale": float("inf")}, "data_scale"),
        ({"hidden": "128"}, "hidden"),
        ({"num_train_timesteps": None}, "num_train_timesteps"),
        ({"data_shape": ("a", 2)}, "data_shape"),
        ({"dropout": "0.1"}, "dropout"),
    ],
)
def test_config_refuses_huge_sizes_and_wrong_types_naming_the_field(fields, field):
    with pytest.raises(genplug.ConfigError, match=rf"DiffusionConfig\.{field}\b"):
        DiffusionConfig(**fields)


@pytest.mark.parametrize(("field", "value"), [("num_train_timesteps", 10**9), ("hidden", 10**6)])
def test_a_crafted_config_json_is_refused_before_anything_is_built(tmp_path, field, value):
    genplug.create("diffusion", data_shape=(2,), hidden=8, mlp_blocks=1).save_pretrained(tmp_path)
    document = json.loads((tmp_path / "config.json").read_text())
    document["config"][field] = value
    (tmp_path / "config.json").write_text(json.dumps(document))
    start = time.perf_counter()
    with pytest.raises(genplug.ModelFileError, match=rf"DiffusionConfig\.{field} must be an integer in"):
        genplug.load(tmp_path)
    assert time.perf_counter() - start < 1.0


def test_schedules_match_their_definitions():
    linear = schedules.betas("linear", 1000)
    assert linear[0].item() == pytest.approx(1e-4) and linear[-1].item() == pytest.approx(0.02)
    cosine = schedules.alphas_cumprod(schedules.betas("cosine", 1000)).double()
    t = torch.arange(1, 1000, dtype=torch.float64)
    f = torch.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2
    expected = f / math.cos(0.008 / 1.008 * math.pi / 2) ** 2
    # ᾱ_t is f(t+1)/f(0) until the 0.999 cap on β bites at the very end
    assert torch.allclose(cosine[:-1][:990], expected[:990], rtol=1e-4)


def test_timestep_spacings():
    assert schedules.spaced_timesteps(1000, 4, "leading") == [750, 500, 250, 0]
    assert schedules.spaced_timesteps(1000, 4, "trailing") == [999, 749, 499, 249]
    assert schedules.spaced_timesteps(1000, 4, "linspace") == [999, 666, 333, 0]
    assert schedules.solver_timesteps(1000, 4, "linspace") == [999, 749, 500, 250]
    assert schedules.spaced_timesteps(1000, 1000, "leading") == list(range(999, -1, -1))
    with pytest.raises(genplug.GenplugError, match="steps=0"):
        schedules.spaced_timesteps(1000, 0)
    with pytest.raises(genplug.GenplugError, match="1 to 1000 steps"):
        schedules.spaced_timesteps(1000, 1001)
    with pytest.raises(genplug.GenplugError, match="repeat a timestep"):
        schedules.solver_timesteps(1000, 1000, "linspace")


# -- training ---------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["tiny_image", "tiny_points"])
def test_gradients_reach_every_parameter(fixture, request):
    model = request.getfixturevalue(fixture).train()
    batch = torch.rand(6, *model.event_shape, generator=g(0))
    model.loss(batch, generator=g(1)).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_loss_is_seeded_and_regresses_the_right_target(prediction_type):
    model = genplug.create("diffusion", data_shape=(2,), hidden=16, mlp_blocks=1, prediction_type=prediction_type)
    batch = torch.randn(64, 2, generator=g(0))
    assert model.loss(batch, generator=g(1)).item() == model.loss(batch, generator=g(1)).item()

    # a network that recovers the noise from x_t (knowing x_0) has zero loss
    def exact(x_t, t):
        a = model.alphas_cumprod[t][:, None]
        eps = (x_t - a.sqrt() * batch) / (1 - a).sqrt()
        return eps if prediction_type == "epsilon" else a.sqrt() * eps - (1 - a).sqrt() * batch

    model.predict = exact
    assert model.loss(batch, generator=g(1)).item() < 1e-6


def test_short_training_lowers_the_loss():
    torch.manual_seed(0)
    model = genplug.create("diffusion", data_shape=(2,), hidden=32, mlp_blocks=2)
    data = genplug.load_data("8gaussians")
    probe = data.x[:512]
    before = sum(model.loss(probe, generator=g(i)).item() for i in range(5))
    genplug.train(model, data, genplug.TrainConfig(steps=150, batch_size=128, lr=3e-3), progress=False)
    with torch.no_grad():
        after = sum(model.loss(probe, generator=g(i)).item() for i in range(5))
    assert after < 0.7 * before


# -- sampling -----------------------------------------------------------------------------


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_samples_have_the_shape_dtype_and_range_of_the_data(tiny_image, sampler):
    x = genplug.sample(tiny_image, 5, sampler=sampler, steps=6, generator=g(0))
    assert x.shape == (5, 1, 8, 8) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1
    assert x.std() > 0


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_same_seed_same_samples(tiny_points, sampler):
    a = tiny_points.sample(4, sampler=sampler, steps=7, generator=g(3))
    b = tiny_points.sample(4, sampler=sampler, steps=7, generator=g(3))
    c = tiny_points.sample(4, sampler=sampler, steps=7, generator=g(4))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_sample_passes_options_to_the_sampler(tiny_points):
    a = tiny_points.sample(4, sampler="ddim", steps=5, sampler_options={"eta": 1.0}, generator=g(0))
    b = tiny_points.sample(4, sampler="ddim", steps=5, sampler_options={"eta": 0.0}, generator=g(0))
    assert not torch.allclose(a, b)
    with pytest.raises(genplug.GenplugError, match="eta must be >= 0"):
        tiny_points.sample(2, sampler="ddim", sampler_options={"eta": -1.0})


def test_sample_keeps_the_training_mode(tiny_points):
    tiny_points.train()
    tiny_points.sample(2, steps=2)
    assert tiny_points.training


# -- files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["tiny_image", "tiny_points"])
def test_save_load_round_trip_gives_identical_outputs(fixture, request, tmp_path):
    model = request.getfixturevalue(fixture)
    model.save_pretrained(tmp_path)
    loaded = genplug.load(tmp_path)
    assert isinstance(loaded, DiffusionModel) and loaded.config == model.config
    assert "alphas_cumprod" not in loaded.state_dict()  # derived from the config, not saved
    assert torch.equal(loaded.alphas_cumprod, model.alphas_cumprod)
    x = torch.randn(3, *model.event_shape, generator=g(0))
    t = torch.tensor([0, 500, 999])
    assert torch.equal(loaded.predict(x, t), model.predict(x, t))
    for sampler in SAMPLERS:
        assert torch.equal(
            loaded.sample(3, sampler=sampler, steps=4, generator=g(1)),
            model.sample(3, sampler=sampler, steps=4, generator=g(1)),
        )


# -- likelihood -------------------------------------------------------------------------------


def _expected_gap(alphas_cumprod: torch.Tensor, s: float, dims: int) -> float:
    """E[log p(x) - ELBO(x)] in closed form for data N(0, s² I) and the exact denoiser.

    Given x_t, x_0 has variance v_t = s² σ_t² / (ᾱ_t s² + σ_t²) around x̂_0, so each KL term
    averages to coef_t² · dims · v_t / 2β̃_t and the decoder to dims · v_0 / 2β_0.
    """
    a = alphas_cumprod.double()
    a_prev = torch.cat([a.new_ones(1), a[:-1]])
    beta = 1 - a / a_prev
    v = s**2 * (1 - a) / (a * s**2 + 1 - a)
    coef, var = a_prev.sqrt() * beta / (1 - a), (1 - a_prev) / (1 - a) * beta
    kl = (coef[1:] ** 2 * dims * v[1:] / (2 * var[1:])).sum()
    kl_prior = 0.5 * dims * (a[-1] * s**2 + (1 - a[-1]) - 1 - torch.log(1 - a[-1]))
    decoder = dims / 2 * math.log(2 * math.pi * beta[0]) + dims * v[0] / (2 * beta[0])
    nll = dims / 2 * math.log(2 * math.pi * s**2) + dims / 2
    return float(kl_prior + kl + decoder - nll)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_elbo_of_an_exact_denoiser_matches_the_closed_form(gaussian, prediction_type):
    """With the exact denoiser of Gaussian data, the ELBO estimate has the bound's known gap."""
    scale = 0.5
    exact = gaussian(prediction_type=prediction_type, scale=scale)
    model = genplug.create(
        "diffusion", data_shape=(2,), hidden=8, mlp_blocks=1, data_scale=2.0, prediction_type=prediction_type
    )
    model.predict = exact.predict
    # the model diffuses x / 2, which is N(0, s²) when the data x is N(0, (2 s)²)
    x = torch.randn(4000, 2, generator=g(0)) * 2 * scale
    elbo = model.log_prob(x, generator=g(1)).double()
    true = torch.distributions.Normal(0.0, 2 * scale).log_prob(x.double()).sum(1)
    gap = (true - elbo).mean().item()
    expected = _expected_gap(model.alphas_cumprod, scale, 2)  # 0.91 nats: fixed variances β̃_t
    assert elbo.shape == (4000,) and torch.isfinite(elbo).all()
    assert gap > 0
    assert gap == pytest.approx(expected, abs=0.05), f"true log p - ELBO = {gap:.4f}, expected {expected:.4f}"


def test_log_prob_is_seeded_and_refuses_other_kinds(tiny_points):
    x = torch.randn(5, 2, generator=g(0))
    assert torch.equal(tiny_points.log_prob(x, generator=g(1)), tiny_points.log_prob(x, generator=g(1)))
    assert tiny_points.log_prob_kinds == ("elbo",)
    with pytest.raises(genplug.GenplugError, match="kind 'elbo' only"):
        tiny_points.log_prob(x, kind="exact")


# -- the discretised decoder (levels set) ------------------------------------------------------

LEVEL_CASES = [(17, 0.0, 0.006), (17, 0.3, 0.05), (17, -1.4, 0.5), (3, 0.9, 1.0), (2, 0.0, 1e-3), (256, 0.51, 0.02)]


def _grid(levels: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Every level of [-1, 1] (diffusion space), its index and half a bin."""
    index = torch.arange(levels)
    return -1 + 2 * index.double() / (levels - 1), index, 1 / (levels - 1)


@pytest.mark.parametrize(("levels", "mean", "std"), LEVEL_CASES)
def test_discretised_decoder_probabilities_of_all_levels_sum_to_one(levels, mean, std):
    x, index, h = _grid(levels)
    lp = discretized_gaussian_log_prob(x, torch.tensor(mean).double(), std, index=index, levels=levels, half_width=h)
    assert (lp <= 0).all()
    assert lp.exp().sum().item() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(("levels", "mean", "std"), LEVEL_CASES)
def test_discretised_decoder_matches_normal_cdf_differences(levels, mean, std):
    x, index, h = _grid(levels)
    lp = discretized_gaussian_log_prob(x, torch.tensor(mean).double(), std, index=index, levels=levels, half_width=h)
    normal = torch.distributions.Normal(torch.tensor(mean).double(), torch.tensor(std).double())
    upper = torch.where(index == levels - 1, torch.ones_like(x), normal.cdf(x + h))
    lower = torch.where(index == 0, torch.zeros_like(x), normal.cdf(x - h))
    mass = upper - lower
    stable = mass > 1e-8  # where the difference of CDFs has not cancelled to nothing
    assert stable.any()
    assert torch.allclose(lp[stable], mass[stable].log(), rtol=0, atol=1e-6)


def test_discretised_decoder_stays_finite_far_in_the_tails():
    x, index, h = _grid(17)
    lp = discretized_gaussian_log_prob(x, torch.tensor(-1.0).double(), 1e-3, index=index, levels=17, half_width=h)
    assert torch.isfinite(lp).all()
    # the level next to the mean's, 62.5 standard deviations away: log Φ(-62.5) ≈ -62.5²/2 - log(62.5 √2π)
    assert lp[1].item() == pytest.approx(-(62.5**2) / 2 - math.log(62.5 * math.sqrt(2 * math.pi)), rel=1e-3)
    assert lp[0].item() == pytest.approx(0.0, abs=1e-12)


class ThreePointDenoiser:
    """The exact ε-predictor for data uniform on {-1, 0, 1}: E[x_0 | x_t] over the three points."""

    def __init__(self, alphas_cumprod: torch.Tensor) -> None:
        self.alphas_cumprod = alphas_cumprod

    def predict(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.alphas_cumprod[t].double()[:, None]
        x = x_t.double()
        points = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
        logits = -((x - a.sqrt() * points) ** 2) / (2 * (1 - a))  # (B, 3)
        x0 = (logits.softmax(1) * points).sum(1, keepdim=True)
        return ((x - a.sqrt() * x0) / (1 - a).sqrt()).to(x_t.dtype)


def test_discrete_bound_over_every_value_of_a_three_level_space_sums_to_at_most_one():
    model = genplug.create(
        "diffusion", data_shape=(1,), hidden=8, mlp_blocks=1, levels=3, data_center=0.5, data_scale=0.5
    )
    assert model.log_prob_discrete
    values = torch.tensor([[0.0], [0.5], [1.0]])  # every point of the space, -1, 0, 1 in diffusion space
    untrained = model.log_prob(values.repeat(20, 1), generator=g(0)).double()
    assert (untrained <= 0).all()
    assert untrained.view(20, 3).exp().sum(1).max() <= 1

    model.predict = ThreePointDenoiser(model.alphas_cumprod).predict
    exact = model.log_prob(values.repeat(1000, 1), generator=g(1)).double().view(1000, 3)
    assert (exact <= 0).all()
    # exp of each point's bound (the mean of 1000 estimates, each with standard deviation about 0.2):
    # 0.98 of the total probability 1, the fixed variances' loss; the mean's noise is 0.004
    total = exact.mean(0).exp().sum().item()
    assert 0.9 < total <= 1, f"the bounds' probabilities sum to {total}"


def test_levels_switch_log_prob_to_the_discrete_bound_without_the_jacobian(tiny_image):
    x = torch.randint(0, 17, (3, 1, 8, 8), generator=g(0)).float() / 16
    discrete = genplug.create("diffusion", **{**attrs.asdict(tiny_image.config), "levels": 17})
    discrete.load_state_dict(tiny_image.state_dict())
    assert not tiny_image.log_prob_discrete and discrete.log_prob_discrete
    assert discrete.log_prob_kinds == ("elbo",)
    continuous, bound = tiny_image.log_prob(x, generator=g(1)), discrete.eval().log_prob(x, generator=g(1))
    assert (bound <= 0).all() and torch.isfinite(continuous).all()
    assert not torch.allclose(bound, continuous)


def test_discrete_log_prob_refuses_data_off_the_grid():
    model = genplug.create("diffusion", data_shape=(2,), hidden=8, mlp_blocks=1, levels=17)
    with pytest.raises(genplug.GenplugError, match=r"levels=17 needs data whose values are k/16"):
        model.log_prob(torch.tensor([[0.5, 0.51]]))
    with pytest.raises(genplug.GenplugError, match=r"levels=17"):
        model.log_prob(torch.tensor([[0.5, 1.0625]]))
    with pytest.raises(genplug.ConfigError, match=r"DiffusionConfig\.levels must be an integer in \[2, "):
        DiffusionConfig(levels=1)
