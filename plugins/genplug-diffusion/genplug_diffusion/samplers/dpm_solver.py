"""DPM-Solver++(2M): a second-order multistep solver of the diffusion ODE in data space.

Written in the half-log-SNR λ = log(α/σ), the probability-flow ODE has an exactly
integrable linear part; DPM-Solver++ integrates it exactly and approximates the data
prediction x̂_0(λ) by a polynomial through the latest predictions. From timestep s to t
with h = λ_t - λ_s (Lu et al. 2022b, eqs. 9 and Algorithm 2)::

    first order:   x_t = (σ_t/σ_s) x_s - α_t (e^-h - 1) D_0
    second order:  x_t = (σ_t/σ_s) x_s - α_t (e^-h - 1) (D_0 + ½ D_1),
                   D_0 = x̂_0(s),  D_1 = (x̂_0(s) - x̂_0(s_prev)) / r,  r = (λ_s - λ_s_prev) / h

The first step has no earlier prediction and is first order; the last step goes to
σ = 0 and is first order too (it returns x̂_0), as in diffusers' defaults. One network
call per step. The first-order update is DDIM.

References:
    Lu et al., "DPM-Solver: A Fast ODE Solver for Diffusion Probabilistic Model Sampling
    in Around 10 Steps", 2022, arXiv:2206.00927.
    Lu et al., "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic
    Models", 2022, arXiv:2211.01095.

Example:
    >>> import genplug
    >>> model = genplug.create("diffusion", data_shape=(2,), hidden=16, mlp_blocks=1)
    >>> genplug.get_sampler("dpm-solver++", model)(model, 3, steps=10).shape
    torch.Size([3, 2])
"""

from __future__ import annotations

import math
from typing import Any

import torch

from genplug import GenplugError
from genplug_diffusion.samplers.base import DiffusionSampler, alphas_of, check_clip_sample
from genplug_diffusion.schedules import SPACINGS, prediction_coefficients, solver_timesteps


class DPMSolverPP(DiffusionSampler):
    """The multistep DPM-Solver++ sampler (``dpm-solver++``); 20 steps by default.

    Arguments:
        order: 2 (DPM-Solver++(2M), the default) or 1 (which is DDIM).
        spacing: timestep spacing, ``"linspace"`` (diffusers' default), ``"leading"`` or
            ``"trailing"``.
        clip_sample: clip x̂_0 to [-clip_sample, clip_sample] at every step (diffusers'
            ``thresholding=True, sample_max_value=clip_sample``); ``False`` never clips;
            ``None`` uses the model's ``clip_sample`` (none if it has none).
    """

    name = "dpm-solver++"
    default_steps = 20

    def __init__(self, *, order: int = 2, spacing: str = "linspace", clip_sample: float | bool | None = None) -> None:
        if order not in (1, 2):
            raise GenplugError(f"dpm-solver++: order must be 1 or 2 (2M multistep), got {order!r}")
        if spacing not in SPACINGS:
            raise GenplugError(f"dpm-solver++: spacing={spacing!r} is not known; use one of {', '.join(SPACINGS)}")
        check_clip_sample(clip_sample, "dpm-solver++")
        self.order = order
        self.spacing = spacing
        self.clip_sample = clip_sample

    def timesteps(self, num_train_timesteps: int, steps: int) -> list[int]:
        """The timesteps where the network is evaluated; the solver then steps to σ = 0."""
        return solver_timesteps(num_train_timesteps, steps, self.spacing)

    @torch.no_grad()
    def denoise(
        self,
        model: Any,
        x: torch.Tensor,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        self.check(model)
        timesteps = self.timesteps(model.num_train_timesteps, self._steps(model, steps))
        alphas = alphas_of(model)
        clip = self.clip_bound(model)
        t_batch = torch.tensor(timesteps, device=x.device)
        x0_prev: torch.Tensor | None = None

        for i, s in enumerate(timesteps):
            last = i == len(timesteps) - 1
            # 1. the data prediction D_0 = x̂_0(s)
            x0_x, x0_pred, _, _ = prediction_coefficients(alphas[s], model.prediction_type)
            x0 = torch.add(x * x0_x, model.predict(x, t_batch[i]), alpha=x0_pred)
            if clip is not None:
                x0 = x0.clamp_(-clip, clip)

            # 2. the step's constants: α, σ at s and t (α_t = 1, σ_t = 0 past the last step)
            alpha_s, sigma_s = math.sqrt(alphas[s]), math.sqrt(1 - alphas[s])
            a_t = 1.0 if last else alphas[timesteps[i + 1]]
            alpha_t, sigma_t = math.sqrt(a_t), math.sqrt(1 - a_t)
            phi = (sigma_t / alpha_t) / (sigma_s / alpha_s) - 1.0  # e^-h - 1

            # 3. first order on the first and last steps, else second order (eq. 9)
            x = x * (sigma_t / sigma_s)
            if x0_prev is None or last or self.order == 1:
                x = x.add_(x0, alpha=-alpha_t * phi)
            else:
                s_prev = timesteps[i - 1]
                r = (_lambda(alphas[s]) - _lambda(alphas[s_prev])) / (_lambda(a_t) - _lambda(alphas[s]))
                x = x.add_(x0, alpha=-alpha_t * phi * (1 + 0.5 / r)).add_(x0_prev, alpha=alpha_t * phi * 0.5 / r)
            x0_prev = x0
        return x


def _lambda(alpha_bar: float) -> float:
    """λ = log(α/σ) = ½ log(ᾱ / (1 - ᾱ))."""
    return 0.5 * math.log(alpha_bar / (1 - alpha_bar))
