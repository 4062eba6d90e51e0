"""genplug-vae: the variational autoencoder (``vae``) for genplug.

Importing this package does not import torch; the names below load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genplug_vae' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
