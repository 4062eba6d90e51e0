"""genplug-hybrid: models built from the parts of other plugins.

``latent-diffusion`` (:class:`LatentDiffusion`, configured by :class:`LatentDiffusionConfig`):
the VAE of genplug-vae, frozen, with a diffusion prior of genplug-diffusion on its latents.

``vae-flow-prior`` (:class:`VAEFlowPrior`, configured by :class:`VAEFlowPriorConfig`): a VAE
of genplug-vae whose prior is a spline flow of genplug-flow, trained jointly on the ELBO.

``vq-transformer`` (:class:`VQTransformer`, configured by :class:`VQTransformerConfig`): the
VQ-VAE of genplug-vae, frozen, with a transformer prior of genplug-autoregressive over its codes.

Importing this package does not import torch; the names below load on first use.
"""

from __future__ import annotations

from genplug._lazy import lazy_attributes

__version__ = "0.1.0"

__all__ = [
    "LatentDiffusion",
    "LatentDiffusionConfig",
    "VAEFlowPrior",
    "VAEFlowPriorConfig",
    "VQTransformer",
    "VQTransformerConfig",
]

_LAZY = {
    "LatentDiffusion": "genplug_hybrid.latent_diffusion",
    "LatentDiffusionConfig": "genplug_hybrid.latent_diffusion",
    "VAEFlowPrior": "genplug_hybrid.vae_flow_prior",
    "VAEFlowPriorConfig": "genplug_hybrid.vae_flow_prior",
    "VQTransformer": "genplug_hybrid.vq_transformer",
    "VQTransformerConfig": "genplug_hybrid.vq_transformer",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
