"""Parity with diffusers: the same network, initial noise, timesteps and generator give
the same samples as the loops of diffusers' schedulers: to 1e-5 (the requirement), and in
fact bit for bit, since the samplers compute in diffusers' order.

diffusers is a test-only dependency: without it these tests are skipped. Run them with
``tox -e parity`` (or ``pytest plugins/genplug-diffusion/tests/test_parity.py`` in an
environment with diffusers installed).
"""

from __future__ import annotations

import inspect

import pytest
import torch

import genplug

diffusers = pytest.importorskip("diffusers")

SHAPE = (1, 8, 8)
N = 4

SCHEDULES = {"linear": "linear", "cosine": "squaredcos_cap_v2"}


class Denoiser:
    """A denoiser whose network is the exact predictor for Gaussian data N(0, 0.5²) plus a
    small random UNet: cheap, any prediction type and schedule, and samples of order 1 like
    a trained network's (a random network alone drives unclipped samples to hundreds)."""

    time = "discrete"
    scale = 0.5

    def __init__(self, prediction_type: str, schedule: str) -> None:
        torch.manual_seed(0)
        self.model = genplug.create(
            "diffusion",
            data_shape=SHAPE,
            channels=8,
            res_blocks=1,
            attention_heads=2,
            prediction_type=prediction_type,
            schedule=schedule,
        ).eval()
        self.config = self.model.config
        self.prediction_type = prediction_type
        self.num_train_timesteps = self.model.num_train_timesteps
        self.alphas_cumprod = self.model.alphas_cumprod
        self.event_shape = SHAPE
        self.device = torch.device("cpu")

    def predict(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.alphas_cumprod[t]
        alpha, sigma = a.sqrt(), (1 - a).sqrt()
        x0 = alpha * self.scale**2 * x / (a * self.scale**2 + sigma**2)  # E[x_0 | x_t]
        eps = (x - alpha * x0) / sigma
        exact = eps if self.prediction_type == "epsilon" else alpha * eps - sigma * x0
        return exact + 0.1 * self.model.predict(x, t)


def _model(prediction_type: str, schedule: str) -> Denoiser:
    return Denoiser(prediction_type, schedule)


def _diffusers_loop(model, scheduler, steps: int, *, seed: int, **step_options) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn((N, *SHAPE), generator=generator)  # the same first draw as the genplug sampler
    if "generator" in inspect.signature(scheduler.step).parameters:
        step_options["generator"] = generator  # the same later draws too
    scheduler.set_timesteps(steps)
    with torch.no_grad():
        for t in scheduler.timesteps:
            x = scheduler.step(model.predict(x, t), t, x, **step_options).prev_sample
    return x


def _genplug(model, name: str, steps: int, *, seed: int, **options) -> tuple[torch.Tensor, list[int]]:
    sampler = genplug.get_sampler(name, model, **options)
    out = sampler(model, N, steps=steps, generator=torch.Generator().manual_seed(seed))
    return out, sampler.timesteps(model.num_train_timesteps, steps)


def _scheduler(cls, model, **config):
    return cls(
        num_train_timesteps=model.num_train_timesteps,
        beta_schedule=SCHEDULES[model.config.schedule],
        prediction_type=model.prediction_type,
        **config,
    )


def _close(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    assert torch.isfinite(ours).all()
    error = (ours - theirs).abs().max().item()
    print(f"max |genplug - diffusers| = {error:.3g}")
    assert error < 1e-5, f"max |genplug - diffusers| = {error:.3g} (sample scale {theirs.abs().max().item():.3g})"


DDIM_CASES = [
    # (prediction, schedule, steps, genplug options, DDIMScheduler options, step options)
    ("epsilon", "linear", 50, {"clip_sample": False}, {"clip_sample": False}, {}),
    # clipping: ε̂ derived again from the clipped x̂_0 by default (use_clipped_model_output), or not
    ("epsilon", "linear", 50, {"clip_sample": 1.0}, {"clip_sample": True}, {"use_clipped_model_output": True}),
    ("epsilon", "linear", 50, {"clip_sample": 1.0, "clipped_eps": False}, {"clip_sample": True}, {}),
    (
        "v_prediction",
        "cosine",
        25,
        {"clip_sample": False, "spacing": "trailing"},
        {"clip_sample": False, "timestep_spacing": "trailing"},
        {},
    ),
    (
        "epsilon",
        "linear",
        20,
        {"eta": 1.0, "clip_sample": 1.0},
        {"clip_sample": True},
        {"eta": 1.0, "use_clipped_model_output": True},
    ),
    ("v_prediction", "cosine", 10, {"eta": 0.5, "clip_sample": False}, {"clip_sample": False}, {"eta": 0.5}),
]


@pytest.mark.parametrize(("prediction", "schedule", "steps", "ours", "theirs", "step_options"), DDIM_CASES)
def test_ddim_matches_diffusers(prediction, schedule, steps, ours, theirs, step_options):
    # (not linspace spacing: diffusers' DDIM steps back by T // steps whatever the spacing,
    # which skips past the next visited timestep when they differ)
    model = _model(prediction, schedule)
    scheduler = _scheduler(diffusers.DDIMScheduler, model, **theirs)
    sample, timesteps = _genplug(model, "ddim", steps, seed=1, **ours)
    reference = _diffusers_loop(model, scheduler, steps, seed=1, **step_options)
    assert timesteps == scheduler.timesteps.tolist()
    _close(sample, reference)


DDPM_CASES = [
    ("epsilon", "linear", 1000, {"clip_sample": 1.0}, {"clip_sample": True}),
    ("v_prediction", "cosine", 50, {"clip_sample": False}, {"clip_sample": False}),
    (
        "epsilon",
        "linear",
        40,
        {"clip_sample": False, "spacing": "trailing", "variance": "large"},
        {"clip_sample": False, "timestep_spacing": "trailing", "variance_type": "fixed_large"},
    ),
]


@pytest.mark.parametrize(("prediction", "schedule", "steps", "ours", "theirs"), DDPM_CASES)
def test_ddpm_matches_diffusers(prediction, schedule, steps, ours, theirs):
    model = _model(prediction, schedule)
    scheduler = _scheduler(diffusers.DDPMScheduler, model, **theirs)
    sample, timesteps = _genplug(model, "ddpm", steps, seed=2, **ours)
    reference = _diffusers_loop(model, scheduler, steps, seed=2)
    assert timesteps == scheduler.timesteps.tolist()
    _close(sample, reference)
    # and bit for bit: the 1000-step case is the exact 1000-step check (the packaged network's is short)
    assert torch.equal(sample, reference)


DPM_CASES = [
    ("epsilon", "linear", 20, {"clip_sample": False}, {}),
    ("epsilon", "linear", 10, {"clip_sample": 1.0}, {"thresholding": True, "sample_max_value": 1.0}),
    ("v_prediction", "cosine", 15, {"clip_sample": False, "spacing": "trailing"}, {"timestep_spacing": "trailing"}),
    (
        "epsilon",
        "cosine",
        12,
        {"clip_sample": False, "spacing": "leading", "order": 1},
        {"timestep_spacing": "leading", "solver_order": 1},
    ),
]


@pytest.mark.parametrize(("prediction", "schedule", "steps", "ours", "theirs"), DPM_CASES)
def test_dpm_solver_matches_diffusers(prediction, schedule, steps, ours, theirs):
    model = _model(prediction, schedule)
    scheduler = _scheduler(diffusers.DPMSolverMultistepScheduler, model, **theirs)
    sample, timesteps = _genplug(model, "dpm-solver++", steps, seed=3, **ours)
    reference = _diffusers_loop(model, scheduler, steps, seed=3)
    assert timesteps == scheduler.timesteps.tolist()
    _close(sample, reference)


UNIPC_CASES = [
    ("epsilon", "linear", 20, {"clip_sample": False}, {}),
    (
        "v_prediction",
        "cosine",
        10,
        {"clip_sample": False, "order": 3, "spacing": "trailing"},
        {"solver_order": 3, "timestep_spacing": "trailing"},
    ),
    (
        "epsilon",
        "linear",
        8,
        {"clip_sample": 1.0, "order": 1},
        {"thresholding": True, "sample_max_value": 1.0, "solver_order": 1},
    ),
]


@pytest.mark.parametrize(("prediction", "schedule", "steps", "ours", "theirs"), UNIPC_CASES)
def test_unipc_matches_diffusers(prediction, schedule, steps, ours, theirs):
    model = _model(prediction, schedule)
    scheduler = _scheduler(diffusers.UniPCMultistepScheduler, model, **theirs)
    sample, timesteps = _genplug(model, "unipc", steps, seed=4, **ours)
    reference = _diffusers_loop(model, scheduler, steps, seed=4)
    assert timesteps == scheduler.timesteps.tolist()
    _close(sample, reference)


PACKAGED_CASES = [
    ("ddim", 50, {}, "DDIMScheduler", {"clip_sample": True}, {"use_clipped_model_output": True}),
    ("ddim", 50, {"eta": 1.0}, "DDIMScheduler", {"clip_sample": True}, {"eta": 1.0, "use_clipped_model_output": True}),
    ("ddim", 50, {"clipped_eps": False}, "DDIMScheduler", {"clip_sample": True}, {}),
    # 100 strided steps, not all 1000: the trained UNet makes 1000 steps the slowest case of
    # all; the full 1000-step loop is checked on the small network (DDPM_CASES).
    ("ddpm", 100, {}, "DDPMScheduler", {"clip_sample": True}, {}),
    ("dpm-solver++", 20, {}, "DPMSolverMultistepScheduler", {"thresholding": True, "sample_max_value": 1.0}, {}),
    ("unipc", 20, {}, "UniPCMultistepScheduler", {"thresholding": True, "sample_max_value": 1.0}, {}),
]


@pytest.mark.parametrize(("sampler", "steps", "ours", "scheduler", "theirs", "step_options"), PACKAGED_CASES)
def test_bit_for_bit_with_the_packaged_network(sampler, steps, ours, scheduler, theirs, step_options):
    """A trained network magnifies any last-bit difference (to ~1e-4 over 1000 DDPM steps),
    so this checks that the loops agree exactly, with each sampler's defaults (DDPM with
    100 of the 1000 steps, to keep the case short)."""
    model = genplug.load("diffusion")
    assert model.config.schedule == "cosine" and model.clip_sample == 1.0
    reference = _diffusers_loop(
        model, _scheduler(getattr(diffusers, scheduler), model, **theirs), steps, seed=5, **step_options
    )
    sample, _ = _genplug(model, sampler, steps, seed=5, **ours)
    assert torch.equal(sample, reference), (sample - reference).abs().max().item()
