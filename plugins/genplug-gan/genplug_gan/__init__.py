"""genplug-gan: the generative adversarial network (``gan``) for genplug.

Importing this package does not import torch; the names below load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = [
    "GAN",
    "LOSSES",
    "GANConfig",
    "GANTrainOptions",
    "discriminator_loss",
    "generator_loss",
    "gradient_penalty",
    "interpolate",
    "invert",
    "minibatch_std",
    "mode_seeking_loss",
    "r1_penalty",
    "slerp",
    "truncated_normal",
]

_LAZY = {name: "genplug_gan.model" for name in __all__} | {
    name: "genplug_gan.latents" for name in ("interpolate", "invert", "slerp")
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genplug_gan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
