"""genplug-hybrid: models built from the parts of other plugins.

``latent-diffusion`` (:class:`LatentDiffusion`, configured by :class:`LatentDiffusionConfig`):
the VAE of genplug-vae, frozen, with a diffusion prior of genplug-diffusion on its latents.

``vq-transformer`` (:class:`VQTransformer`, configured by :class:`VQTransformerConfig`):
the VQ-VAE of genplug-vae, frozen, with genplug-autoregressive's transformer over its codes.

Importing this package does not import torch; the names below load on first use.
"""

from __future__ import annotations

from genplug._lazy import lazy_attributes

__version__ = "0.1.0"

__all__ = ["LatentDiffusion", "LatentDiffusionConfig", "VQTransformer", "VQTransformerConfig"]

_LAZY = {
    "LatentDiffusion": "genplug_hybrid.latent_diffusion",
    "LatentDiffusionConfig": "genplug_hybrid.latent_diffusion",
    "VQTransformer": "genplug_hybrid.vq_transformer",
    "VQTransformerConfig": "genplug_hybrid.vq_transformer",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
