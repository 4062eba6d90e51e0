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
call per step. The first-order update is DDIM. The constants of every step are computed
before the loop, in ᾱ's dtype and in the order diffusers' ``DPMSolverMultistepScheduler``
uses, and so is the update: for the same network, noise and timesteps the two loops
agree bit for bit in float32.

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

from typing import Any

import torch

from genplug import GenplugError
from genplug_diffusion.samplers.base import DiffusionSampler, check_clip_sample, split_prediction
from genplug_diffusion.schedules import SPACINGS, solver_timesteps

__all__ = ["DPMSolverPP"]


class DPMSolverPP(DiffusionSampler):
    """The multistep DPM-Solver++ sampler (``dpm-solver++``); 20 steps by default.

    Arguments:
        order: 2 (DPM-Solver++(2M), the default) or 1 (which is DDIM).
        spacing: timestep spacing, ``"linspace"`` (diffusers' default), ``"leading"`` or
            ``"trailing"``.
        clip_sample: clip x̂_0 to [-clip_sample, clip_sample] at every step (for a bound
            of 1, diffusers' ``thresholding=True, sample_max_value=1.0``); ``False``
            never clips; ``None`` uses the model's ``clip_sample`` (none if it has none).
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

    def _loop(
        self, model: Any, x: torch.Tensor, timesteps: list[int], generator: torch.Generator | None
    ) -> torch.Tensor:
        clip = self.clip_bound(model)
        plan = self._constants(model.alphas_cumprod.detach().cpu(), timesteps)
        t_batch = torch.tensor(timesteps, device=x.device)
        x0_prev = None

        for i, (alpha_s, sigma_s, ratio, c0, c1, inv_r) in enumerate(plan):
            # 1. the data prediction D_0 = x̂_0(s), clipped if asked
            x0, _ = split_prediction(x, model.predict(x, t_batch[i]), alpha_s, sigma_s, model.prediction_type)
            if clip is not None:
                x0 = x0.clamp(-clip, clip)
            # 2. first order on the first and last steps, else second order (eq. 9)
            if x0_prev is None or i == len(plan) - 1 or self.order == 1:
                x = ratio * x - c0 * x0
            else:
                x = ratio * x - c0 * x0 - c1 * (inv_r * (x0 - x0_prev))
            x0_prev = x0
        return x

    def _constants(self, alphas: torch.Tensor, timesteps: list[int]) -> list[tuple[float, ...]]:
        """Per step: α_s and σ_s, σ_t/σ_s, α_t (e^-h - 1), ½ α_t (e^-h - 1) and 1/r.

        Computed as diffusers' ``DPMSolverMultistepScheduler`` does: from σ̃ = σ/α per
        timestep (σ̃ = 0 past the last), in ᾱ's dtype, one step at a time.
        """
        sigma_tilde = ((1 - alphas) / alphas) ** 0.5
        sigmas = [sigma_tilde[t] for t in timesteps] + [alphas.new_zeros(())]
        alpha, sigma = zip(*(_alpha_sigma(s) for s in sigmas), strict=True)
        lam = [torch.log(a) - torch.log(s) for a, s in zip(alpha, sigma, strict=True)]  # λ = log(α/σ)
        plan = []
        for i in range(len(timesteps)):
            h = lam[i + 1] - lam[i]
            c0 = alpha[i + 1] * (torch.exp(-h) - 1.0)
            inv_r = 1.0 / ((lam[i] - lam[i - 1]) / h) if i > 0 else torch.ones(())
            values = (alpha[i], sigma[i], sigma[i + 1] / sigma[i], c0, 0.5 * c0, inv_r)
            plan.append(tuple(float(v) for v in values))
        return plan


def _alpha_sigma(sigma_tilde: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """α = 1/√(σ̃² + 1) and σ = σ̃ α from σ̃ = σ/α (the VP parameterisation)."""
    alpha = 1 / ((sigma_tilde**2 + 1) ** 0.5)
    return alpha, sigma_tilde * alpha
