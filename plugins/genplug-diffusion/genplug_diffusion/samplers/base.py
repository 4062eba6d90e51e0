"""What every sampler of this plugin shares: the denoiser interface, its check, the noise,
and the conversion of a prediction to x̂_0 and ε̂ (:func:`split_prediction`).

A *denoiser* is any object with these members (a :class:`~genplug_diffusion.DiffusionModel`
is one; the hybrid plugin builds another on a VAE's latent space):

==========================  ============================================================
member                      meaning
==========================  ============================================================
``prediction_type``         ``"epsilon"`` or ``"v_prediction"``: what ``predict`` returns
``time``                    ``"discrete"``: ``predict`` takes integer timesteps 0 … T-1
``num_train_timesteps``     T
``alphas_cumprod``          ᾱ_t, a float tensor of shape ``(T,)``
``event_shape``             the shape of one sample, e.g. ``(1, 8, 8)`` or ``(2,)``
``device``                  where ``predict`` runs; samples are made there
``predict(x_t, t)``         the prediction for a batch ``x_t`` at timestep ``t`` (an int
                            tensor of shape ``()`` or ``(batch,)``)
``clip_sample`` (optional)  a bound c: samplers clip x̂_0 to [-c, c] unless told otherwise;
                            absent or ``None``: no clipping
``dtype`` (optional)        the floating dtype of x_T; float32 when absent
==========================  ============================================================

Samplers start from x_T ~ N(0, I) in the denoiser's space and return x_0 in that space;
mapping to data space (for images, [-1, 1] to [0, 1]) is the model's job.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from genplug import GenplugError, IncompatibleError
from genplug_diffusion.plugin import REQUIRES  # declared there, where registration needs it without torch
from genplug_diffusion.schedules import PREDICTION_TYPES, check_steps

__all__ = ["DiffusionSampler", "check_clip_sample", "randn", "split_prediction", "steps_and_next"]

_MEMBERS = ("num_train_timesteps", "alphas_cumprod", "event_shape", "device", "predict")


class DiffusionSampler:
    """Base of the samplers in this plugin: checks a denoiser, draws x_T, runs ``denoise``.

    Subclasses set ``name`` and ``default_steps`` and implement :meth:`timesteps` and
    ``_loop`` (the reverse process over those timesteps).
    """

    name: ClassVar[str] = ""
    default_steps: ClassVar[int | None] = 50  # None: as many as the model's training timesteps
    requires: dict[str, tuple[Any, ...]] = REQUIRES
    clip_sample: float | bool | None = None

    def check(self, model: Any) -> None:
        """Raise :class:`genplug.IncompatibleError` unless ``model`` is a denoiser this can run.

        :func:`genplug.get_sampler` calls it, the one place a sampler is checked against a model.
        """
        label = getattr(model, "architecture", None) or type(model).__name__
        for attribute, allowed in self.requires.items():
            value = getattr(model, attribute, None)
            if value not in allowed:
                raise IncompatibleError(
                    f"sampler {self.name!r} needs a model with {attribute} in {', '.join(map(repr, allowed))}; "
                    f"model {label!r} has {attribute}={value!r}. Pick a sampler that supports it "
                    "(see `genplug list`), or train the model with a supported prediction_type."
                )
        missing = [m for m in _MEMBERS if not hasattr(model, m)]
        if missing:
            raise IncompatibleError(
                f"sampler {self.name!r} needs the denoiser interface; model {label!r} lacks "
                f"{', '.join(missing)} (see the genplug-diffusion README, 'The denoiser interface')."
            )
        alphas = model.alphas_cumprod
        if not torch.is_tensor(alphas) or tuple(alphas.shape) != (model.num_train_timesteps,):
            raise IncompatibleError(
                f"sampler {self.name!r}: model {label!r} has alphas_cumprod of shape "
                f"{tuple(getattr(alphas, 'shape', ()))}, expected ({model.num_train_timesteps},) "
                "(one value per training timestep)."
            )

    def __call__(
        self,
        model: Any,
        n: int,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``n`` samples ``(n, *model.event_shape)`` in the denoiser's space.

        x_T is drawn first from ``generator``, then any noise the sampler adds, so one
        seed gives the same samples every time. ``model`` is not checked here: get the
        sampler with ``genplug.get_sampler(sampler, model)``, which runs :meth:`check` once.
        """
        dtype = getattr(model, "dtype", torch.float32)
        x = randn((n, *model.event_shape), generator=generator, device=model.device, dtype=dtype)
        return self.denoise(model, x, steps=steps, generator=generator)

    def denoise(
        self,
        model: Any,
        x: torch.Tensor,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Run the reverse process from the noise ``x`` (x_T) and return x_0.

        The loop runs under ``torch.inference_mode`` (no autograd bookkeeping at all);
        the result is cloned outside it, so it is an ordinary tensor that later code
        may use in autograd. Like ``__call__``, it trusts ``genplug.get_sampler`` to have
        checked ``model``.
        """
        timesteps = self.timesteps(model.num_train_timesteps, self._steps(model, steps))
        with torch.inference_mode():
            x0 = self._loop(model, x, timesteps, generator)
        return x0.clone()

    def timesteps(self, num_train_timesteps: int, steps: int) -> list[int]:
        """The timesteps where the network is evaluated, from noisy to clean."""
        raise NotImplementedError

    def _loop(
        self, model: Any, x: torch.Tensor, timesteps: list[int], generator: torch.Generator | None
    ) -> torch.Tensor:
        """The sampler itself: from x_T over ``timesteps`` to x_0."""
        raise NotImplementedError

    def clip_bound(self, model: Any) -> float | None:
        """The bound to clip x̂_0 to: this sampler's ``clip_sample``, else the model's."""
        if self.clip_sample is False:
            return None
        if self.clip_sample is None:
            return getattr(model, "clip_sample", None)
        return float(self.clip_sample)

    def _steps(self, model: Any, steps: int | None) -> int:
        """``steps``, or the default (``None`` as default means all T steps), checked."""
        if steps is None:
            steps = self.default_steps or model.num_train_timesteps
        check_steps(steps, model.num_train_timesteps)
        return steps

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({options})"


def check_clip_sample(value: Any, sampler: str) -> None:
    """Raise unless ``value`` is ``None``, ``False`` or a positive number."""
    if value is None or value is False:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise GenplugError(
            f"{sampler}: clip_sample={value!r}; give a positive bound such as 1.0, False for no clipping, "
            "or None for the model's default"
        )


def randn(
    shape: tuple[int, ...],
    *,
    generator: torch.Generator | None,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Standard normal noise on ``device``, drawn on the generator's device.

    A CPU generator therefore gives the same noise whether the model runs on CPU or
    CUDA (as diffusers' ``randn_tensor`` does).
    """
    source = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=source, dtype=dtype).to(device)


def split_prediction(
    x_t: torch.Tensor, pred: torch.Tensor, alpha: float, sigma: float, prediction_type: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x̂_0, ε̂)`` from the network's prediction ``pred`` at a point x_t = α x_0 + σ ε.

    Every sampler here makes this conversion before its update, with α = √ᾱ_t and
    σ = √(1 - ᾱ_t) at the current timestep:

    - ``"epsilon"``: ε̂ = ``pred`` and x̂_0 = (x_t - σ ε̂) / α (Ho et al., eq. 15);
    - ``"v_prediction"``: with v = α ε - σ x_0, x̂_0 = α x_t - σ v̂ and ε̂ = α v̂ + σ x_t
      (Salimans & Ho, section 4).

    The operations are those of diffusers' DDPM, DDIM, DPM-Solver++ and UniPC schedulers,
    which all convert in this same order, so with the same α and σ the results agree bit
    for bit. An algebraically equal form (say x_t/α - (σ/α) ε̂) rounds differently in the
    last bits, and a trained network magnifies that over the steps.
    """
    if prediction_type == "epsilon":
        return (x_t - sigma * pred) / alpha, pred
    if prediction_type == "v_prediction":
        return alpha * x_t - sigma * pred, alpha * pred + sigma * x_t
    raise GenplugError(f"prediction_type={prediction_type!r} is not known; use one of {', '.join(PREDICTION_TYPES)}")


def steps_and_next(timesteps: list[int]) -> list[tuple[int, int]]:
    """``(t, t')`` for each visited timestep and the next one; t' = -1 (ᾱ = 1) after the last."""
    return list(zip(timesteps, [*timesteps[1:], -1], strict=True))
