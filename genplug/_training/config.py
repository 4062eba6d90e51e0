"""How to train: :class:`TrainConfig`, filled from a model's ``train_defaults`` and the user's options."""

from __future__ import annotations

import difflib
import math
from typing import Any

import attrs

from genplug._configs import config_from_dict
from genplug._errors import ConfigError, GenplugError, shown
from genplug.validators import at_least, one_of, positive

__all__ = ["PRECISIONS", "RUN_FIELDS", "SCHEDULES", "TrainConfig", "config_for"]

#: Learning-rate schedules after the warm-up: constant, or cosine decay to 0 at the last step.
SCHEDULES = ("constant", "cosine")
#: Arithmetic of the forward passes: fp32, or autocast to bfloat16 / float16 (fp16 with loss scaling).
PRECISIONS = ("fp32", "bf16", "fp16")
#: Fields that say how a run executes, not what it computes: a resumed run may change them.
RUN_FIELDS = ("steps", "device", "compile", "workers", "threads")


def _off(value: Any) -> Any:
    """``"none"``/``"off"`` (from the command line) -> ``None``."""
    return None if isinstance(value, str) and value.strip().lower() in ("none", "off") else value


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


def _workers(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 256):
        raise ConfigError(f"TrainConfig.workers must be an integer in [0, 256] or None (automatic), got {shown(value)}")


def _flag(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"TrainConfig.{attribute.name} is true or false, got {shown(value)}")


@attrs.frozen(kw_only=True)
class TrainConfig:
    """How to train. A model class may set ``train_defaults`` (a dict) to change these, and
    declare its own options (``train_options_class``, an attrs class) set through ``options``."""

    steps: int = attrs.field(default=2000, validator=_count)  # optimisation steps in all
    batch_size: int = attrs.field(default=128, validator=_count)  # examples per step, over all processes
    lr: float = attrs.field(default=1e-3, validator=positive)  # learning rate of every optimizer
    seed: int = attrs.field(default=0, validator=_seed)  # seeds initialisation, batch order and the training noise
    ema: float | None = attrs.field(default=None, converter=_off, validator=_decay)  # EMA decay; None or "none": off
    ema_warmup: bool = True  # decay min(ema, (1 + t) / (10 + t)) at step t: early steps are not averaged away
    schedule: str = attrs.field(default="constant", validator=one_of(*SCHEDULES))  # learning-rate schedule
    warmup_steps: int = attrs.field(default=0, validator=at_least(0))  # linear warm-up of the learning rate
    clip_grad: float | None = attrs.field(  # clip each optimizer's gradient norm to this before it steps
        default=None, converter=_off, validator=attrs.validators.optional(positive)
    )
    preview_every: int | None = attrs.field(  # steps between previews (a sample grid and FD); None: none
        default=None, converter=_off, validator=attrs.validators.optional(_count)
    )
    checkpoint_every: int = attrs.field(default=500, validator=_count)  # steps between checkpoints
    log_every: int = attrs.field(default=50, validator=_count)  # steps between metrics.jsonl lines
    device: str = attrs.field(default="cpu", validator=_device)  # "cpu", "cuda" or "cuda:N"
    # the forward passes in float32, or under autocast to bfloat16 or float16 (fp16: with loss scaling)
    precision: str = attrs.field(default="fp32", validator=one_of(*PRECISIONS))
    accumulate: int = attrs.field(default=1, validator=_count)  # micro-batches per step; batch_size is their sum
    compile: bool = attrs.field(default=False, validator=_flag)  # torch.compile the model's submodules
    # processes reading data from disk (folders, .npy) for each training process; None: automatic
    workers: int | None = attrs.field(default=None, converter=_off, validator=_workers)
    threads: int | None = attrs.field(  # torch threads of each training process; None: cores / local processes
        default=None, converter=_off, validator=attrs.validators.optional(_count)
    )
    options: dict[str, Any] = attrs.field(factory=dict)  # the model's own training options (train_options_class)

    def lr_factor(self, step: int) -> float:
        """The learning rate at ``step`` (0-based) as a fraction of ``lr``: a pure function of
        the step, so a resumed run follows the same schedule."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.schedule == "cosine":
            done = (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, done)))
        return 1.0

    def model_options(self, model: Any) -> Any:
        """The model's training options: its ``train_options_class`` built from ``options``
        (each field named in one line when wrong); ``None`` when the model declares none."""
        cls = getattr(model, "train_options_class", None)
        if cls is None:
            if self.options:
                name = getattr(model, "architecture", type(model).__name__)
                raise GenplugError(
                    f"model {name!r} declares no training options, but {', '.join(sorted(self.options))} were given"
                )
            return None
        return config_from_dict(cls, self.options, source="--train-option", from_file=False)


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
