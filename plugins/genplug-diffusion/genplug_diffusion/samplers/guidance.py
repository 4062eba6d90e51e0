"""Classifier-free guidance: one wrapper around a class-conditional denoiser for every sampler.

A class-conditional denoiser trained with label dropout predicts both ε(x_t, y) (its
label given) and ε(x_t, ∅) (the null label). Guidance with scale s samples with

    ε̃ = ε(x_t, ∅) + s · (ε(x_t, y) - ε(x_t, ∅))                (Ho & Salimans, eq. 6, w = s - 1)

(for v-prediction the same combination of v̂: it is linear in the prediction). s = 1 is
the plain conditional model, s = 0 the unconditional one, s > 1 pushes the samples
towards what the classifier implicit in the two predictions calls the class: sharper
and more typical, less diverse. :class:`Guided` offers the denoiser interface of
:mod:`genplug_diffusion.samplers.base`, so ``ddpm``, ``ddim``, ``dpm-solver++`` and
``unipc`` run on it unchanged: its ``predict`` makes two network calls per step (the
label, then the null label) and mixes them; s = 1 and s = 0 make one.

s is a *scale* as in diffusers' ``guidance_scale``, but applied for every s: diffusers'
pipelines skip guidance for s <= 1 (treating them as 1); here s = 0.5 is halfway between
the unconditional and the conditional prediction.

References:
    Ho & Salimans, "Classifier-Free Diffusion Guidance", 2022, arXiv:2207.12598.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["Guided"]


class Guided:
    """The denoiser interface of ``model`` with every prediction conditioned on ``label``
    and guided with ``scale``.

    Arguments:
        model: a denoiser whose ``predict(x_t, t, label=...)`` takes class labels
            (``(batch,)`` int64) and ``label=None`` for the null label, such as a
            :class:`~genplug_diffusion.DiffusionModel` with ``classes`` set.
        label: the class of every sample, ``(batch,)``; the sampler's batch must match.
        scale: the guidance scale s; 1 (one network call per step) is no guidance.

    Example:
        >>> import genplug, torch
        >>> model = genplug.create("diffusion", data_shape=(2,), hidden=16, mlp_blocks=1, classes=3,
        ...                        label_dropout=0.1)
        >>> guided = Guided(model, torch.tensor([0, 1, 2]), scale=3.0)
        >>> sampler = genplug.get_sampler("ddim", model)
        >>> sampler(guided, 3, steps=5).shape
        torch.Size([3, 2])
    """

    def __init__(self, model: Any, label: torch.Tensor, scale: float) -> None:
        self.model = model
        self.label = label
        self.scale = float(scale)

    # the denoiser interface, the model's own
    @property
    def prediction_type(self) -> str:
        return self.model.prediction_type

    @property
    def time(self) -> str:
        return self.model.time

    @property
    def num_train_timesteps(self) -> int:
        return self.model.num_train_timesteps

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        return self.model.alphas_cumprod

    @property
    def event_shape(self) -> tuple[int, ...]:
        return tuple(self.model.event_shape)

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def clip_sample(self) -> float | None:
        return getattr(self.model, "clip_sample", None)

    @property
    def dtype(self) -> torch.dtype:
        return getattr(self.model, "dtype", torch.float32)

    def predict(self, x_t: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        """The guided prediction ε̃ (or ṽ) for ``x_t`` at timesteps ``t``."""
        if self.scale == 1.0:
            return self.model.predict(x_t, t, label=self.label)
        if self.scale == 0.0:
            return self.model.predict(x_t, t, label=None)
        cond = self.model.predict(x_t, t, label=self.label)
        uncond = self.model.predict(x_t, t, label=None)
        return uncond + self.scale * (cond - uncond)
