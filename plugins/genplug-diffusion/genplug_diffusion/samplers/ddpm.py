"""DDPM: ancestral sampling from the learned reverse process.

Each step draws x_t' from the Gaussian posterior q(x_t' | x_t, x_0) with x_0 replaced by
the network's x̂_0 (Ho et al., eqs. 6-7)::

    μ = √ᾱ_t' β / (1 - ᾱ_t) · x̂_0  +  √α (1 - ᾱ_t') / (1 - ᾱ_t) · x_t,
    x_t' = μ + √v · z,

with α = ᾱ_t / ᾱ_t' and β = 1 - α the variance of the (possibly strided) step, and v the
posterior variance β̃ = (1 - ᾱ_t') / (1 - ᾱ_t) · β (``variance="small"``) or β itself
(``"large"``). With all T steps these are the paper's β_t; with fewer steps they are
the strided process of Nichol & Dhariwal, section 4. As in the paper's Algorithm 2, no
noise is added at t = 0. The constants of every step are computed before the loop, in
ᾱ's dtype and in the order diffusers' ``DDPMScheduler`` uses, and so is the update: for
the same network, noise and timesteps the two loops agree bit for bit in float32.

References:
    Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", 2020, arXiv:2006.11239.
    Nichol & Dhariwal, "Improved Denoising Diffusion Probabilistic Models", 2021,
    arXiv:2102.09672.

Example:
    >>> import genplug
    >>> model = genplug.create("diffusion", data_shape=(2,), hidden=16, mlp_blocks=1)
    >>> genplug.get_sampler("ddpm", model)(model, 3, steps=20).shape
    torch.Size([3, 2])
"""

from __future__ import annotations

from typing import Any

import torch

from genplug import GenplugError
from genplug_diffusion.samplers.base import DiffusionSampler, check_clip_sample, randn, split_prediction, steps_and_next
from genplug_diffusion.schedules import SPACINGS, spaced_timesteps

__all__ = ["DDPM", "VARIANCES"]

VARIANCES = ("small", "large")


class DDPM(DiffusionSampler):
    """The ancestral DDPM sampler (``ddpm``); all T training steps by default.

    Arguments:
        spacing: timestep spacing when sampling with fewer than T steps, ``"leading"``
            (diffusers' default), ``"trailing"`` or ``"linspace"``.
        clip_sample: clip x̂_0 to [-clip_sample, clip_sample] at every step; ``False``
            never clips; ``None`` uses the model's ``clip_sample`` (none if it has none).
        variance: ``"small"`` (the posterior variance β̃, diffusers' ``fixed_small``) or
            ``"large"`` (β, ``fixed_large``).
    """

    name = "ddpm"
    default_steps = None  # every training timestep

    def __init__(
        self, *, spacing: str = "leading", clip_sample: float | bool | None = None, variance: str = "small"
    ) -> None:
        if spacing not in SPACINGS:
            raise GenplugError(f"ddpm: spacing={spacing!r} is not known; use one of {', '.join(SPACINGS)}")
        check_clip_sample(clip_sample, "ddpm")
        if variance not in VARIANCES:
            raise GenplugError(f"ddpm: variance={variance!r} is not known; use one of {', '.join(VARIANCES)}")
        self.spacing = spacing
        self.clip_sample = clip_sample
        self.variance = variance

    def timesteps(self, num_train_timesteps: int, steps: int) -> list[int]:
        """The timesteps visited, from noisy to clean."""
        return spaced_timesteps(num_train_timesteps, steps, self.spacing)

    def _loop(
        self, model: Any, x: torch.Tensor, timesteps: list[int], generator: torch.Generator | None
    ) -> torch.Tensor:
        clip = self.clip_bound(model)
        alphas = model.alphas_cumprod.detach().cpu()
        plan = [self._constants(alphas, t, t_next) for t, t_next in steps_and_next(timesteps)]
        t_batch = torch.tensor(timesteps, device=x.device)

        for i, (t, (alpha, sigma, coef_x0, coef_xt, std)) in enumerate(zip(timesteps, plan, strict=True)):
            # 1. x̂_0 from the network's prediction, clipped if asked
            x0, _ = split_prediction(x, model.predict(x, t_batch[i]), alpha, sigma, model.prediction_type)
            if clip is not None:
                x0 = x0.clamp(-clip, clip)
            # 2. the posterior mean μ(x_t, x̂_0) (eq. 7), plus noise for t > 0 (Algorithm 2)
            x = coef_x0 * x0 + coef_xt * x
            if t > 0:
                x = x + std * randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return x

    def _constants(self, alphas: torch.Tensor, t: int, t_next: int) -> tuple[float, ...]:
        """√ᾱ_t, √(1 - ᾱ_t), μ's two coefficients and the noise scale, in ᾱ's dtype as diffusers computes them.

        In float64 they would be more exact, but not what diffusers computes: a step's β =
        1 - ᾱ_t/ᾱ_t' is a difference of two numbers near 1, and its rounding moves samples
        by 3e-5 over 1000 steps.
        """
        a_t = alphas[t]
        a_next = alphas[t_next] if t_next >= 0 else alphas.new_ones(())
        alpha = a_t / a_next  # the step's α and β
        beta = 1 - alpha
        coef_x0 = (a_next**0.5 * beta) / (1 - a_t)
        coef_xt = alpha**0.5 * (1 - a_next) / (1 - a_t)
        if self.variance == "small":
            std = ((1 - a_next) / (1 - a_t) * beta).clamp(min=1e-20) ** 0.5  # β̃
        else:
            std = beta**0.5
        return tuple(float(v) for v in (a_t**0.5, (1 - a_t) ** 0.5, coef_x0, coef_xt, std))
