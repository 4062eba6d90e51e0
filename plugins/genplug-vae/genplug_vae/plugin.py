"""Registration only: importing this module imports no torch and no model code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import genplug

__all__ = ["GENPLUG_API", "register_architectures"]

GENPLUG_API = 1


@genplug.hookimpl
def register_architectures(register: Callable[[Any], None]) -> None:
    register(
        genplug.ArchitectureSpec(
            name="vae",
            family="vae",
            description="variational autoencoder: Gaussian posterior, conv/MLP networks, "
            "Bernoulli, Gaussian or discretized-logistic decoder; ELBO and IWAE bounds",
            model="genplug_vae.model:VAE",
            provides=("generator", "encoder"),
            default_weights="genplug_vae:weights",
        )
    )
    register(
        genplug.ArchitectureSpec(
            name="vq-vae",
            family="vae",
            description="vector-quantised VAE: a grid of discrete codes from an EMA codebook with dead-code "
            "restarts, straight-through gradients; an encoder (vq-transformer learns a prior over its codes)",
            model="genplug_vae.vq_vae:VQVAE",
            provides=("encoder",),  # its sample() decodes uniform codes: not a generator to compare
            default_weights="genplug_vae:vq_weights",  # digits, by scripts/train_vq_vae.py
        )
    )
