"""The samplers on their own: refusal, options, and correctness on an exact denoiser."""

from __future__ import annotations

import re

import pytest
import torch
from genplug_diffusion import DDIM, DDPM, DiffusionSampler, DPMSolverPP, UniPC

import genplug

SAMPLERS = ("ddim", "ddpm", "dpm-solver++", "unipc")


def g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- refusal ----------------------------------------------------------------------------


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("prediction_type", "sample", "needs a model with prediction_type in 'epsilon', 'v_prediction'"),
        ("prediction_type", "score", "has prediction_type='score'"),
        ("time", "continuous", "needs a model with time in 'discrete'"),
    ],
)
def test_samplers_refuse_a_model_they_cannot_use(gaussian, sampler, attribute, value, message):
    model = gaussian()
    setattr(model, attribute, value)
    spec = genplug.registry().sampler(sampler)
    with pytest.raises(genplug.IncompatibleError, match=attribute):
        spec.check(model)  # the core, from the registered requirements, without importing the sampler
    with pytest.raises(genplug.IncompatibleError, match=message):
        spec.create().check(model)  # the sampler's own check, which genplug.get_sampler runs
    with pytest.raises(genplug.IncompatibleError):
        genplug.get_sampler(sampler, model)


def test_a_model_with_an_unsupported_prediction_type_refuses_every_sampler(tiny_points, monkeypatch):
    monkeypatch.setattr(type(tiny_points), "prediction_type", property(lambda self: "sample"))
    for sampler in SAMPLERS:
        with pytest.raises(
            genplug.IncompatibleError, match=re.escape(f"sampler '{sampler}' needs a model with prediction_type in")
        ):
            tiny_points.sample(2, sampler=sampler)


def test_samplers_refuse_a_model_without_the_denoiser_interface(gaussian):
    model = gaussian()
    bare = type("Bare", (), {"prediction_type": "epsilon", "time": "discrete", "num_train_timesteps": 10})()
    with pytest.raises(genplug.IncompatibleError, match="lacks alphas_cumprod, event_shape, device, predict"):
        DDIM().check(bare)
    model.alphas_cumprod = model.alphas_cumprod[:10]
    with pytest.raises(genplug.IncompatibleError, match=r"alphas_cumprod of shape \(10,\), expected \(1000,\)"):
        DDIM().check(model)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: DDIM(eta=-0.5), "eta must be >= 0"),
        (lambda: DDIM(spacing="uniform"), "spacing='uniform' is not known"),
        (lambda: DDPM(variance="learned"), "variance='learned' is not known"),
        (lambda: DPMSolverPP(order=3), "order must be 1 or 2"),
        (lambda: UniPC(order=4), "order must be 1, 2 or 3"),
        (lambda: UniPC(clip_sample=True), "clip_sample=True; give a positive bound"),
        (lambda: DDPM(clip_sample=0), "clip_sample=0"),
    ],
)
def test_sampler_options_are_checked(build, message):
    with pytest.raises(genplug.GenplugError, match=message):
        build()


def test_unknown_sampler_option_is_an_error(tiny_points):
    with pytest.raises(genplug.PluginError, match="does not take these options"):
        tiny_points.sample(2, sampler="ddpm", sampler_options={"eta": 0.5})


def test_steps_are_checked(gaussian):
    with pytest.raises(genplug.GenplugError, match="1 to 1000 steps"):
        DDIM()(gaussian(), 2, steps=1001)


# -- correctness on the exact denoiser of Gaussian data -----------------------------------


def _exact_flow(model, x_T: torch.Tensor) -> torch.Tensor:
    """Where the probability-flow ODE takes x_T for data N(0, s²): it only rescales."""
    a = model.alphas_cumprod[-1].double().item()
    return x_T * model.scale / (a * model.scale**2 + 1 - a) ** 0.5


@pytest.mark.parametrize(("sampler", "steps"), [(DDPM(), 1000), (DDIM(eta=1.0), 1000)], ids=repr)
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_stochastic_samplers_recover_gaussian_data(gaussian, sampler, steps, prediction_type):
    """On the exact denoiser of N(0, s²) data, ancestral sampling returns N(0, s²)."""
    model = gaussian(prediction_type=prediction_type, scale=0.5, shape=(4,))
    x = sampler(model, 2000, steps=steps, generator=g(0))
    assert x.shape == (2000, 4)
    assert x.mean().abs().item() < 0.03
    assert x.std().item() == pytest.approx(0.5, rel=0.03)


@pytest.mark.parametrize(
    ("sampler", "steps", "tolerance"),
    [(DDIM(), 1000, 5e-3), (DPMSolverPP(), 50, 2e-3), (UniPC(), 50, 1e-2), (UniPC(order=3), 50, 1e-2)],
    ids=repr,
)
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_ode_solvers_follow_the_exact_flow(gaussian, sampler, steps, tolerance, prediction_type):
    model = gaussian(prediction_type=prediction_type, scale=0.5, shape=(3,))
    x = sampler(model, 64, steps=steps, generator=g(1))
    exact = _exact_flow(model, torch.randn(64, 3, generator=g(1)))
    assert ((x - exact).abs().max() / exact.abs().max()).item() < tolerance


def test_multistep_solvers_beat_ddim_at_equal_steps(gaussian):
    """Second order pays: at 20 steps on the same timesteps, a third of DDIM's error or less."""
    model = gaussian(scale=0.5, shape=(3,))
    exact = _exact_flow(model, torch.randn(64, 3, generator=g(1)))
    errors = {
        repr(s): (s(model, 64, steps=20, generator=g(1)) - exact).abs().max().item()
        for s in (DDIM(spacing="trailing"), DPMSolverPP(spacing="trailing"), UniPC(spacing="trailing"))
    }
    ddim, dpm, unipc = errors.values()
    assert dpm < ddim / 3 and unipc < ddim / 3, errors


def test_first_order_dpm_solver_is_ddim(gaussian):
    model = gaussian(prediction_type="v_prediction", shape=(3,))
    ddim = DDIM(spacing="trailing")(model, 16, steps=12, generator=g(2))
    dpm = DPMSolverPP(order=1, spacing="trailing")(model, 16, steps=12, generator=g(2))
    assert torch.allclose(ddim, dpm, atol=1e-5)


@pytest.mark.parametrize("sampler", [*SAMPLERS, DDIM(eta=0.5)], ids=repr)
def test_one_sample_checks_the_sampler_against_the_model_once(tiny_points, sampler, monkeypatch):
    checked = []
    check = DiffusionSampler.check
    monkeypatch.setattr(DiffusionSampler, "check", lambda self, model: (checked.append(model), check(self, model)))
    tiny_points.sample(2, sampler=sampler, steps=3, generator=g(0))
    assert checked == [tiny_points]  # by genplug.get_sampler; neither __call__ nor denoise checks again


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_samples_are_ordinary_tensors_usable_in_autograd(tiny_points, sampler):
    x = genplug.get_sampler(sampler, tiny_points)(tiny_points, 3, steps=4, generator=g(0))
    assert not x.is_inference() and not x.requires_grad
    weight = torch.ones(2, requires_grad=True)
    (x * weight).sum().backward()  # inference tensors would refuse this
    assert torch.allclose(weight.grad, x.sum(0))


def test_clip_sample_defaults_to_the_model_and_can_be_turned_off(tiny_image):
    assert tiny_image.clip_sample == 1.0
    sampler = DDIM()
    assert sampler.clip_bound(tiny_image) == 1.0
    assert DDIM(clip_sample=False).clip_bound(tiny_image) is None
    assert DDIM(clip_sample=2).clip_bound(tiny_image) == 2.0
    clipped = sampler(tiny_image, 4, steps=5, generator=g(0))
    unclipped = DDIM(clip_sample=False)(tiny_image, 4, steps=5, generator=g(0))
    assert clipped.abs().max() <= 1.0 + 1e-6 < unclipped.abs().max()


def test_timesteps_follow_the_spacing():
    assert DDIM().timesteps(1000, 5) == [800, 600, 400, 200, 0]
    assert DDPM().timesteps(1000, 1000)[:3] == [999, 998, 997]
    assert DPMSolverPP().timesteps(1000, 5) == [999, 799, 599, 400, 200]
    assert UniPC(spacing="trailing").timesteps(1000, 4) == [999, 749, 499, 249]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_samplers_run_on_cuda(tiny_image, sampler):
    model = tiny_image.to("cuda")
    x = genplug.sample(model, 4, sampler=sampler, steps=5, generator=torch.Generator("cuda").manual_seed(0))
    assert x.device.type == "cuda" and x.shape == (4, 1, 8, 8)
    # a CPU generator gives the same initial noise on either device
    cpu = genplug.sample(tiny_image.to("cpu"), 4, sampler=sampler, steps=5, generator=g(0))
    again = genplug.sample(model.to("cuda"), 4, sampler=sampler, steps=5, generator=g(0))
    assert torch.allclose(cpu, again.cpu(), atol=1e-4)
