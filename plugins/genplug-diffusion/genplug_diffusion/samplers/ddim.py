"""DDIM: denoising diffusion implicit models, deterministic at η = 0.

Each step predicts x̂_0 and ε̂ from x_t and moves to the next (less noisy) timestep t'
along the non-Markovian process of Song et al., eq. 12::

    x_t' = √ᾱ_t' · x̂_0  +  √(1 - ᾱ_t' - σ²) · ε̂  +  σ z,
    σ = η · √((1 - ᾱ_t') / (1 - ᾱ_t)) · √(1 - ᾱ_t / ᾱ_t')          (eq. 16)

η = 0 gives the deterministic DDIM ODE sampler, η = 1 the DDPM posterior variance.
The coefficients are Python floats computed from ᾱ in float64, so a step costs one
network call and two element-wise operations (four with clipping).

References:
    Song, Meng & Ermon, "Denoising Diffusion Implicit Models", 2021, arXiv:2010.02502.

Example:
    >>> import genplug
    >>> model = genplug.create("diffusion", data_shape=(2,), hidden=16, mlp_blocks=1)
    >>> sampler = genplug.get_sampler("ddim", model, eta=0.0)
    >>> sampler(model, 4, steps=10, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([4, 2])
"""

from __future__ import annotations

import math
from typing import Any

import torch

from genplug import GenplugError
from genplug_diffusion.samplers.base import DiffusionSampler, alphas_of, check_clip_sample, randn
from genplug_diffusion.schedules import SPACINGS, prediction_coefficients, spaced_timesteps


class DDIM(DiffusionSampler):
    """The DDIM sampler (``ddim``); 50 steps by default.

    Arguments:
        eta: the noise scale η ≥ 0; 0 is deterministic.
        spacing: timestep spacing, ``"leading"`` (diffusers' default), ``"trailing"`` or
            ``"linspace"``.
        clip_sample: clip x̂_0 to [-clip_sample, clip_sample] at every step; ``False``
            never clips; ``None`` uses the model's ``clip_sample`` (none if it has none).
    """

    name = "ddim"
    default_steps = 50

    def __init__(self, *, eta: float = 0.0, spacing: str = "leading", clip_sample: float | bool | None = None) -> None:
        if not eta >= 0.0:
            raise GenplugError(f"ddim: eta must be >= 0 (0 is deterministic, 1 is DDPM-like), got {eta!r}")
        if spacing not in SPACINGS:
            raise GenplugError(f"ddim: spacing={spacing!r} is not known; use one of {', '.join(SPACINGS)}")
        check_clip_sample(clip_sample, "ddim")
        self.eta = float(eta)
        self.spacing = spacing
        self.clip_sample = clip_sample

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
        alphas = alphas_of(model)
        clip = self.clip_bound(model)
        t_batch = torch.tensor(timesteps, device=x.device)

        for i, (t, t_next) in enumerate(zip(timesteps, timesteps[1:] + [-1], strict=True)):
            # 1. the step's constants: ᾱ_t, ᾱ_t' (1 past the last step), σ, the direction weight
            a_t = alphas[t]
            a_next = alphas[t_next] if t_next >= 0 else 1.0
            sigma = self.eta * math.sqrt((1 - a_next) / (1 - a_t) * (1 - a_t / a_next))
            direction = math.sqrt(max(1 - a_next - sigma**2, 0.0))
            x0_x, x0_pred, eps_x, eps_pred = prediction_coefficients(a_t, model.prediction_type)

            # 2. predict, then x_t' = √ᾱ_t' x̂_0 + √(1 - ᾱ_t' - σ²) ε̂   (eq. 12)
            pred = model.predict(x, t_batch[i])
            if clip is None:
                # x̂_0 and ε̂ are linear in (x_t, pred): fold them into two weights.
                x = torch.add(
                    x * (math.sqrt(a_next) * x0_x + direction * eps_x),
                    pred,
                    alpha=math.sqrt(a_next) * x0_pred + direction * eps_pred,
                )
            else:
                x0 = torch.add(x * x0_x, pred, alpha=x0_pred).clamp_(-clip, clip)
                eps = torch.add(x * eps_x, pred, alpha=eps_pred)
                x = torch.add(x0 * math.sqrt(a_next), eps, alpha=direction)

            # 3. the η-scaled fresh noise σ z
            if self.eta > 0:
                x = x.add_(randn(x.shape, generator=generator, device=x.device, dtype=x.dtype), alpha=sigma)
        return x
