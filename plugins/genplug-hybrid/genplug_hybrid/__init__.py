"""genplug-hybrid: models built from the parts of other plugins.

``latent-diffusion`` (:class:`LatentDiffusion`, configured by :class:`LatentDiffusionConfig`):
the VAE of genplug-vae, frozen, with a diffusion prior of genplug-diffusion on its latents.

``dit`` (:class:`DiT`, configured by :class:`DiTConfig`): genplug-diffusion's diffusion
model with a transformer denoiser over patches, built from genplug-autoregressive's blocks.

Importing this package does not import torch; the names below load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = ["DiT", "DiTConfig", "LatentDiffusion", "LatentDiffusionConfig"]

_LAZY = {
    "DiT": "genplug_hybrid.dit",
    "DiTConfig": "genplug_hybrid.dit",
    "LatentDiffusion": "genplug_hybrid.latent_diffusion",
    "LatentDiffusionConfig": "genplug_hybrid.latent_diffusion",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genplug_hybrid' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
