"""genplug-vae: the variational autoencoder (``vae``) for genplug.

Importing this package does not import torch; the names below load on first use.
"""

from __future__ import annotations

from genplug._lazy import lazy_attributes

__version__ = "0.1.0"

__all__ = [
    "VAE",
    "Bernoulli",
    "DiscretizedLogistic",
    "Gaussian",
    "VAEConfig",
    "VQVAE",
    "VQVAEConfig",
    "encode_dataset",
    "interpolate",
    "latent_stats",
    "make_likelihood",
    "reconstruct",
]

_LAZY = {
    "VAE": "genplug_vae.model",
    "VAEConfig": "genplug_vae.model",
    "VQVAE": "genplug_vae.vq_vae",
    "VQVAEConfig": "genplug_vae.vq_vae",
    "Bernoulli": "genplug_vae.likelihoods",
    "DiscretizedLogistic": "genplug_vae.likelihoods",
    "Gaussian": "genplug_vae.likelihoods",
    "make_likelihood": "genplug_vae.likelihoods",
    "encode_dataset": "genplug_vae.latent",
    "interpolate": "genplug_vae.latent",
    "latent_stats": "genplug_vae.latent",
    "reconstruct": "genplug_vae.latent",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
