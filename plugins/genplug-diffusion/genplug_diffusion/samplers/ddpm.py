"""DDPM: ancestral sampling from the learned reverse process.

Each step draws x_t' from the Gaussian posterior q(x_t' | x_t, x_0) with x_0 replaced by
the network's x̂_0 (Ho et al., eqs. 6-7)::

    μ = √ᾱ_t' β / (1 - ᾱ_t) · x̂_0  +  √α (1 - ᾱ_t') / (1 - ᾱ_t) · x_t,
    x_t' = μ + √v · z,

with α = ᾱ_t / ᾱ_t' and β = 1 - α the variance of the (possibly strided) step, and v the
posterior variance β̃ = (1 - ᾱ_t') / (1 - ᾱ_t) · β (``variance="small"``) or β itself
(``"large"``). With all T steps these are the paper's β_t; with fewer steps they are
the strided process of Nichol & Dhariwal, section 4. As in the paper's Algorithm 2, no
noise is added at t = 0.

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
from genplug_diffusion.samplers.base import DiffusionSampler, check_clip_sample, randn
from genplug_diffusion.schedules import SPACINGS, prediction_coefficients, spaced_timesteps

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
        alphas = model.alphas_cumprod.detach().cpu()
        one = alphas.new_ones(())
        clip = self.clip_bound(model)
        t_batch = torch.tensor(timesteps, device=x.device)

        for i, (t, t_next) in enumerate(zip(timesteps, timesteps[1:] + [-1], strict=True)):
            # 1. the step's constants, in the dtype of ᾱ as diffusers computes them: β of a
            # step is 1 - ᾱ_t/ᾱ_t', a difference of two numbers near 1, so the rounding of
            # that division matters at 1e-5 over 1000 steps
            a_t = alphas[t]
            a_next = alphas[t_next] if t_next >= 0 else one
            alpha = a_t / a_next
            beta = 1 - alpha
            coef_x0 = (a_next**0.5 * beta / (1 - a_t)).item()  # eq. 7
            coef_xt = (alpha**0.5 * (1 - a_next) / (1 - a_t)).item()
            if self.variance == "small":
                std = (((1 - a_next) / (1 - a_t) * beta).clamp(min=1e-20) ** 0.5).item()
            else:
                std = (beta**0.5).item()
            x0_x, x0_pred, _, _ = prediction_coefficients(a_t.item(), model.prediction_type)

            # 2. the posterior mean μ(x_t, x̂_0)
            pred = model.predict(x, t_batch[i])
            if clip is None:
                x = torch.add(x * (coef_x0 * x0_x + coef_xt), pred, alpha=coef_x0 * x0_pred)
            else:
                x0 = torch.add(x * x0_x, pred, alpha=x0_pred).clamp_(-clip, clip)
                x = torch.add(x0 * coef_x0, x, alpha=coef_xt)

            # 3. add the posterior noise for t > 0 (Algorithm 2: z = 0 at the paper's t = 1)
            if t > 0:
                x = x.add_(randn(x.shape, generator=generator, device=x.device, dtype=x.dtype), alpha=std)
        return x
