"""DDIM: denoising diffusion implicit models, deterministic at η = 0.

Each step predicts x̂_0 and ε̂ from x_t and moves to the next (less noisy) timestep t'
along the non-Markovian process of Song et al., eq. 12::

    x_t' = √ᾱ_t' · x̂_0  +  √(1 - ᾱ_t' - σ²) · ε̂  +  σ z,
    σ = η · √((1 - ᾱ_t') / (1 - ᾱ_t)) · √(1 - ᾱ_t / ᾱ_t')          (eq. 16)

η = 0 gives the deterministic DDIM ODE sampler, η = 1 the DDPM posterior variance.
Each step's constants are computed once, before the loop, in ᾱ's dtype and in the order
diffusers' ``DDIMScheduler`` uses; the element-wise update follows the same order too.
So for the same network, noise and timesteps the two loops agree bit for bit in float32,
however strongly a trained network amplifies a last-bit difference over 50 steps. A step
costs one network call and five element-wise operations; the loop runs under
``torch.inference_mode``.

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

from typing import Any

import torch

from genplug import GenplugError
from genplug_diffusion.samplers.base import DiffusionSampler, check_clip_sample, randn, split_prediction, steps_and_next
from genplug_diffusion.schedules import SPACINGS, spaced_timesteps

__all__ = ["DDIM"]


class DDIM(DiffusionSampler):
    """The DDIM sampler (``ddim``); 50 steps by default.

    Arguments:
        eta: the noise scale η ≥ 0; 0 is deterministic.
        spacing: timestep spacing, ``"leading"`` (diffusers' default), ``"trailing"`` or
            ``"linspace"``.
        clip_sample: clip x̂_0 to [-clip_sample, clip_sample] at every step; ``False``
            never clips; ``None`` uses the model's ``clip_sample`` (none if it has none).
        clipped_eps: after clipping, derive ε̂ again from the clipped x̂_0,
            ε̂ = (x_t - √ᾱ_t x̂_0) / √(1 - ᾱ_t), so the step moves along one consistent
            pair (diffusers' ``use_clipped_model_output=True``, GLIDE's choice; the other
            three samplers step from x̂_0 alone, so they are consistent already).
            ``False`` keeps the network's ε̂, as diffusers' default does: with a clipped
            x̂_0 and classifier-free guidance that lost the label (the genplug-diffusion
            README, "Default weights", has the figures).
    """

    name = "ddim"
    default_steps = 50

    def __init__(
        self,
        *,
        eta: float = 0.0,
        spacing: str = "leading",
        clip_sample: float | bool | None = None,
        clipped_eps: bool = True,
    ) -> None:
        if not eta >= 0.0:
            raise GenplugError(f"ddim: eta must be >= 0 (0 is deterministic, 1 is DDPM-like), got {eta!r}")
        if spacing not in SPACINGS:
            raise GenplugError(f"ddim: spacing={spacing!r} is not known; use one of {', '.join(SPACINGS)}")
        check_clip_sample(clip_sample, "ddim")
        self.eta = float(eta)
        self.spacing = spacing
        self.clip_sample = clip_sample
        self.clipped_eps = bool(clipped_eps)

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

        for i, (alpha, sigma, alpha_next, direction, noise_scale) in enumerate(plan):
            # 1. x̂_0 and ε̂ from the network's prediction, x̂_0 clipped if asked
            x0, eps = split_prediction(x, model.predict(x, t_batch[i]), alpha, sigma, model.prediction_type)
            if clip is not None:
                x0 = x0.clamp(-clip, clip)
                if self.clipped_eps:
                    eps = (x - alpha * x0) / sigma
            # 2. x_t' = √ᾱ_t' x̂_0 + √(1 - ᾱ_t' - σ_t²) ε̂ + σ_t z   (eq. 12)
            x = alpha_next * x0 + direction * eps
            if self.eta > 0:
                x = x + noise_scale * randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return x

    def _constants(self, alphas: torch.Tensor, t: int, t_next: int) -> tuple[float, ...]:
        """√ᾱ_t, √(1 - ᾱ_t), √ᾱ_t', √(1 - ᾱ_t' - σ_t²) and σ_t, in ᾱ's dtype as diffusers computes them."""
        a_t = alphas[t]
        a_next = alphas[t_next] if t_next >= 0 else alphas.new_ones(())
        variance = ((1 - a_next) / (1 - a_t)) * (1 - a_t / a_next)  # σ_t² at η = 1 (eq. 16)
        noise_scale = self.eta * variance**0.5
        values = (a_t**0.5, (1 - a_t) ** 0.5, a_next**0.5, (1 - a_next - noise_scale**2) ** 0.5, noise_scale)
        return tuple(float(v) for v in values)
