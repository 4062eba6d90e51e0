"""``genplug.Model``: the base class first-party architectures build on.

It adds what every model shares to ``torch.nn.Module``: a frozen attrs config, the
model-folder format (``save_pretrained`` / ``from_pretrained``), Hub upload, and the
training contract the shared trainer calls. Subclassing it is a convenience, not a
requirement: the protocols are what composition and sampling check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from genplug import _folder
from genplug._api import load
from genplug._errors import ModelFileError
from genplug._hub.push import push_model
from genplug._protocols import Condition

__all__ = ["Model", "split_loss"]


class Model(torch.nn.Module):
    """Base class of genplug models.

    Subclasses set ``architecture`` (the registered name) and ``config_class`` (a frozen
    attrs class), take the config as the only argument of ``__init__``, and implement
    ``sample`` and ``loss``. A model with two optimizers (a GAN) overrides
    ``configure_optimizers`` and ``training_step``.

    Class attributes (each optional):
        architecture: the name it is registered under.
        config_class: its frozen attrs config class (the inference config).
        log_prob_kinds: the likelihood kinds ``log_prob`` computes, default first
            (``"exact"``, ``"elbo"``, ``"iwae"``); ``()`` when it has none.
        log_prob_discrete: ``True`` when ``log_prob`` is the probability of discrete data.
        train_defaults: ``TrainConfig`` fields this model trains best with.
        train_options_class: an attrs class of the model's own training options
            (discriminator steps, Adam betas, loss type); set with ``--train-option K=V``,
            recorded in the checkpoint, read with ``config.model_options(self)``.
        ema_modules: the submodules EMA averages (a GAN's ``("generator",)``); ``None``:
            the whole model.
        inference_modules: the submodules the final model folder keeps (a GAN's
            ``("generator",)``); ``None``: everything. Checkpoints always keep everything.
    """

    architecture: ClassVar[str] = ""
    config_class: ClassVar[type]
    log_prob_kinds: ClassVar[tuple[str, ...]] = ()
    log_prob_discrete: ClassVar[bool] = False
    train_options_class: ClassVar[type | None] = None
    ema_modules: ClassVar[tuple[str, ...] | None] = None
    inference_modules: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, config: Any) -> None:
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} takes a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config

    # -- shape, place and conditions ---------------------------------------------------

    @property
    def event_shape(self) -> tuple[int, ...]:
        """The shape of one sample; by default the config's ``data_shape``."""
        return tuple(self.config.data_shape)

    @property
    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        for tensor in self.buffers():
            return tensor.device
        return torch.device("cpu")

    @property
    def conditions(self) -> dict[str, Condition]:
        """The conditions ``sample`` (and ``loss``) take, by name; ``{}``: unconditional."""
        return {}

    # -- generation ----------------------------------------------------------------

    def sample(self, n: int, *, generator: torch.Generator | None = None, **condition: Any) -> torch.Tensor:
        """``n`` samples of shape ``(n, *event_shape)`` in data space."""
        raise NotImplementedError(f"{type(self).__name__} does not implement sample()")

    # -- training contract ---------------------------------------------------------

    def prepare(self, data: Any) -> None:
        """Called once by the trainer on a fresh run (not on resume), before the first
        step, with the whole training :class:`genplug.Data`: measure statistics here."""

    def loss(
        self, batch: torch.Tensor, *, generator: torch.Generator | None = None, **condition: Any
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, float]]:
        """The scalar training loss on one batch (used by the default ``training_step``).

        It may return ``(loss, figures)``: the figures (floats, such as the terms of the
        loss) are shown by the trainer beside ``loss``, so nothing is computed twice.
        The batch's labels arrive as the model's class condition (``label=...``).
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement loss()")

    def configure_optimizers(self, config: Any) -> dict[str, torch.optim.Optimizer]:
        """The optimizers by name, from the :class:`genplug.TrainConfig`; the default is one
        AdamW over every parameter at ``config.lr``. (A float is taken as the learning rate.)"""
        lr = config if isinstance(config, (int, float)) else config.lr
        return {"model": torch.optim.AdamW(self.parameters(), lr=lr)}

    def training_step(
        self,
        batch: torch.Tensor,
        optimizers: dict[str, torch.optim.Optimizer],
        *,
        generator: torch.Generator | None = None,
        step: int = 0,
        total: int = 1,
        **condition: Any,
    ) -> dict[str, float]:
        """One optimisation step; returns the figures the progress bar and ``metrics.jsonl`` show.

        ``step`` (0-based) and ``total`` are the trainer's; the batch's labels come as
        the model's class condition. Override it for several optimizers (a GAN's
        generator and discriminator, alternating).
        """
        (optimizer,) = optimizers.values()
        optimizer.zero_grad(set_to_none=True)
        loss, figures = split_loss(self.loss(batch, generator=generator, **condition))
        loss.backward()
        optimizer.step()
        return {"loss": float(loss.detach()), **figures}

    # -- files -----------------------------------------------------------------------

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write the model folder (``config.json`` and ``model.safetensors``, or a
        composite's components) to ``directory``; see :mod:`genplug._folder`."""
        return _folder.write(self, directory)

    @classmethod
    def from_pretrained(cls, ref: str | Path, *, device: str | torch.device | None = None) -> Model:
        """Load a model folder, Hub id or packaged default (see :func:`genplug.load`)."""
        model = load(ref, device=device)
        if not isinstance(model, cls):
            raise ModelFileError(
                f"{ref} holds a {type(model).__name__} ({model.architecture!r}), not a {cls.__name__}; "
                "load it with genplug.load instead."
            )
        return model

    def push_to_hub(self, repo_id: str, **options: Any) -> str:
        """Upload this model to the Hub with a generated model card; returns the commit."""
        return push_model(self, repo_id, **options)

    def extra_repr(self) -> str:
        return f"architecture={self.architecture!r}"


def split_loss(value: torch.Tensor | tuple[torch.Tensor, dict[str, float]]) -> tuple[torch.Tensor, dict[str, float]]:
    """``(loss, figures)`` from what a ``loss`` method returned: a scalar, or a scalar and its figures."""
    if isinstance(value, tuple):
        loss, figures = value
        return loss, {k: float(v) for k, v in figures.items()}
    return value, {}
