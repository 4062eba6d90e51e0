"""How to train: :class:`TrainConfig`, filled from a model's ``train_defaults`` and the user's options."""

from __future__ import annotations

import difflib
from typing import Any

import attrs

from genplug._errors import ConfigError, GenplugError, shown
from genplug._validators import positive

__all__ = ["TrainConfig", "config_for"]


def _decay(instance: Any, attribute: attrs.Attribute, value: float | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0):
        raise ConfigError(f"TrainConfig.ema is a decay in (0, 1) such as 0.999, got {shown(value)}")


def _seed(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ConfigError(f"TrainConfig.seed must be an integer in [0, 2**63), got {shown(value)}")


def _device(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"TrainConfig.device must be a device name such as cpu or cuda, got {shown(value)}")


def _count(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 10**9:
        raise ConfigError(f"TrainConfig.{attribute.name} must be an integer in [1, 10**9], got {shown(value)}")


@attrs.frozen(kw_only=True)
class TrainConfig:
    """How to train. A model class may set ``train_defaults`` (a dict) to change these."""

    steps: int = attrs.field(default=2000, validator=_count)  # optimisation steps in all
    batch_size: int = attrs.field(default=128, validator=_count)  # examples per step
    lr: float = attrs.field(default=1e-3, validator=positive)  # learning rate of every optimizer
    seed: int = attrs.field(default=0, validator=_seed)  # seeds initialisation, batch order and the training noise
    ema: float | None = attrs.field(default=None, validator=_decay)  # EMA decay, or None for no EMA
    checkpoint_every: int = attrs.field(default=500, validator=_count)  # steps between checkpoints
    log_every: int = attrs.field(default=50, validator=_count)  # steps between metrics.jsonl lines
    device: str = attrs.field(default="cpu", validator=_device)  # "cpu", "cuda" or "cuda:N"


def config_for(model: Any, **overrides: Any) -> TrainConfig:
    """``TrainConfig`` from the model's ``train_defaults`` and the given overrides (None skipped)."""
    fields = {f.name for f in attrs.fields(TrainConfig)}
    values = dict(getattr(model, "train_defaults", {}) or {})
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(values) - fields)
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(fields), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise GenplugError(f"unknown training option(s) {', '.join(unknown)}{hint}; known: {', '.join(sorted(fields))}")
    return TrainConfig(**values)
