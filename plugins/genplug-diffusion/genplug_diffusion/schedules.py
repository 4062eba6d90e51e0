"""Noise schedules, timestep spacings and the training target.

A discrete-time variance-preserving diffusion adds Gaussian noise to data ``x_0`` over
``T`` steps. Everything a sampler needs follows from the cumulative products
``alphas_cumprod`` (ᾱ_t), which is why that tensor is part of the denoiser interface.

Notation (indices are 0-based as in diffusers: code step ``t`` is the paper's ``t + 1``):

============================  ===========  ==================================================
code                          paper        meaning
============================  ===========  ==================================================
``betas[t]``                  β_t          variance added at step t
``alphas_cumprod[t]``         ᾱ_t          ∏_{s≤t} (1 - β_s); ``x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε``
``alpha``, ``sigma``          α_t, σ_t     √ᾱ_t and √(1-ᾱ_t) (DPM-Solver's notation)
``lambda_``                   λ_t          log(α_t / σ_t), half the log signal-to-noise ratio
``x0`` / ``eps`` / ``v``      x̂_0, ε̂, v̂   the predicted data, noise, and velocity α_t ε - σ_t x_0
``alpha_prev``                ᾱ_{t'}       ᾱ at the next (less noisy) sampled step; 1 after the last
============================  ===========  ==================================================

Timestep spacings (``leading``, ``trailing``, ``linspace``) follow Table 2 of Lin et al.
and reproduce diffusers' ``set_timesteps`` exactly, so that a genplug sampler and a
diffusers scheduler visit the same steps.

References:
    Ho et al., "Denoising Diffusion Probabilistic Models", 2020, arXiv:2006.11239.
    Nichol & Dhariwal, "Improved Denoising Diffusion Probabilistic Models", 2021,
    arXiv:2102.09672 (the cosine schedule).
    Salimans & Ho, "Progressive Distillation for Fast Sampling of Diffusion Models",
    2022, arXiv:2202.00512 (v-prediction).
    Lin et al., "Common Diffusion Noise Schedules and Sample Steps are Flawed", 2023,
    arXiv:2305.08891 (timestep spacings).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from genplug import GenplugError

__all__ = [
    "PREDICTION_TYPES",
    "SCHEDULES",
    "SPACINGS",
    "alphas_cumprod",
    "append_dims",
    "betas",
    "check_steps",
    "solver_timesteps",
    "spaced_timesteps",
    "training_target",
]

SCHEDULES = ("linear", "cosine")
PREDICTION_TYPES = ("epsilon", "v_prediction")
SPACINGS = ("leading", "trailing", "linspace")


def betas(schedule: str, num_train_timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """The per-step variances β_t as float32, bit-for-bit as diffusers computes them.

    Arguments:
        schedule: ``"linear"`` (β from ``beta_start`` to ``beta_end``, Ho et al.) or
            ``"cosine"`` (ᾱ_t = cos²((t/T + s)/(1 + s) · π/2) with s = 0.008, β capped at
            0.999, Nichol & Dhariwal; diffusers' ``squaredcos_cap_v2``).
        num_train_timesteps: T.
        beta_start: β_0 of the linear schedule.
        beta_end: β_{T-1} of the linear schedule.
    """
    if schedule == "linear":
        return torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float32)
    if schedule == "cosine":

        def alpha_bar(u: float) -> float:
            return math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2

        values = [
            min(1 - alpha_bar((i + 1) / num_train_timesteps) / alpha_bar(i / num_train_timesteps), 0.999)
            for i in range(num_train_timesteps)
        ]
        return torch.tensor(values, dtype=torch.float32)
    raise GenplugError(f"schedule={schedule!r} is not known; use one of {', '.join(SCHEDULES)}")


def alphas_cumprod(betas: torch.Tensor) -> torch.Tensor:
    """ᾱ_t = ∏_{s≤t} (1 - β_s), in the dtype of ``betas``."""
    return torch.cumprod(1.0 - betas, dim=0)


# -- timesteps -----------------------------------------------------------------------


def spaced_timesteps(num_train_timesteps: int, steps: int, spacing: str = "leading") -> list[int]:
    """The ``steps`` timesteps a DDPM/DDIM-style sampler visits, from noisy to clean.

    The step after the last one lands on ᾱ = 1 (clean data). numpy does the arithmetic,
    as in diffusers, so that the rounding (half to even) and float steps agree exactly.

    Arguments:
        num_train_timesteps: T, the number of training steps.
        steps: how many steps to sample with (1 to T).
        spacing: ``"leading"`` (0, k, 2k, ... with k = T // steps; diffusers' default for
            DDPM and DDIM), ``"trailing"`` (counting down from T - 1 in strides of T/steps)
            or ``"linspace"`` (``steps`` points evenly over [0, T - 1], rounded).
    """
    check_steps(steps, num_train_timesteps)
    T = num_train_timesteps
    if spacing == "leading":
        timesteps = np.arange(0, steps) * (T // steps)
    elif spacing == "trailing":
        # The first ``steps`` points of diffusers' np.arange(T, 0, -T/steps), computed as
        # numpy does (start + i·delta); that arange sometimes has a (steps + 1)-th point at
        # ~0 (t = -1) by float error, which is left out here.
        delta = (T - T / steps) - T
        timesteps = np.round(T + np.arange(steps) * delta)[::-1] - 1
    elif spacing == "linspace":
        timesteps = np.linspace(0, T - 1, steps).round()
    else:
        raise GenplugError(f"timestep spacing {spacing!r} is not known; use one of {', '.join(SPACINGS)}")
    return _distinct([int(t) for t in timesteps[::-1]], spacing)


def solver_timesteps(num_train_timesteps: int, steps: int, spacing: str = "linspace") -> list[int]:
    """The timesteps of a multistep ODE solver (DPM-Solver++, UniPC), as diffusers spaces them.

    These solvers jump from their last timestep straight to σ = 0, so ``leading`` and
    ``linspace`` lay out ``steps + 1`` points and drop the final 0; ``trailing`` is as
    in :func:`spaced_timesteps`.
    """
    check_steps(steps, num_train_timesteps)
    T = num_train_timesteps
    if spacing == "trailing":
        return spaced_timesteps(T, steps, "trailing")
    if spacing == "linspace":
        timesteps = np.linspace(0, T - 1, steps + 1).round()
    elif spacing == "leading":
        timesteps = np.arange(0, steps + 1) * (T // (steps + 1))
    else:
        raise GenplugError(f"timestep spacing {spacing!r} is not known; use one of {', '.join(SPACINGS)}")
    return _distinct([int(t) for t in timesteps[::-1][:-1]], spacing)


def check_steps(steps: int, num_train_timesteps: int) -> None:
    """Raise :class:`genplug.GenplugError` unless 1 <= ``steps`` <= T."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= num_train_timesteps:
        raise GenplugError(
            f"steps={steps!r}: a model trained with {num_train_timesteps} timesteps can be sampled "
            f"with 1 to {num_train_timesteps} steps"
        )


def _distinct(timesteps: list[int], spacing: str) -> list[int]:
    if len(set(timesteps)) != len(timesteps):
        raise GenplugError(
            f"{len(timesteps)} steps with {spacing} spacing repeat a timestep (... {timesteps[-4:]}); "
            "sample with fewer steps or another spacing"
        )
    return timesteps


# -- predictions -----------------------------------------------------------------------


def training_target(
    prediction_type: str, x0: torch.Tensor, noise: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor
) -> torch.Tensor:
    """What the network learns to predict: ε, or v = α ε - σ x_0."""
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "v_prediction":
        return alpha * noise - sigma * x0
    raise GenplugError(f"prediction_type={prediction_type!r} is not known; use one of {', '.join(PREDICTION_TYPES)}")


def append_dims(values: torch.Tensor, ndim: int) -> torch.Tensor:
    """``(B,)`` -> ``(B, 1, ..., 1)`` with ``ndim`` dimensions in all, for broadcasting."""
    return values.reshape(values.shape + (1,) * (ndim - values.ndim))
