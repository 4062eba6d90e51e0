"""genplug-hybrid: models built from the parts of other plugins.

``latent-diffusion`` (:class:`LatentDiffusion`, configured by :class:`LatentDiffusionConfig`):
the VAE of genplug-vae, frozen, with a diffusion prior of genplug-diffusion on its latents.

``vae-gan`` (:class:`VAEGAN`, configured by :class:`VAEGANConfig`, trained with
:class:`VAEGANTrainOptions`): the VAE of genplug-vae whose decoder is also trained against
the discriminator of genplug-gan.

Importing this package does not import torch; the names below load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = ["LatentDiffusion", "LatentDiffusionConfig", "VAEGAN", "VAEGANConfig", "VAEGANTrainOptions"]

_LAZY = {
    "LatentDiffusion": "genplug_hybrid.latent_diffusion",
    "LatentDiffusionConfig": "genplug_hybrid.latent_diffusion",
    "VAEGAN": "genplug_hybrid.vae_gan",
    "VAEGANConfig": "genplug_hybrid.vae_gan",
    "VAEGANTrainOptions": "genplug_hybrid.vae_gan",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genplug_hybrid' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
