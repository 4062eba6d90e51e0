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
            name="latent-diffusion",
            family="hybrid",
            description="a diffusion prior (genplug-diffusion) in the latent space of a VAE (genplug-vae); "
            "samplers ddpm, ddim, dpm-solver++, unipc",
            model="genplug_hybrid.latent_diffusion:LatentDiffusion",
            provides=("generator",),
            default_weights="genplug_hybrid:weights",
        )
    )
    register(
        genplug.ArchitectureSpec(
            name="vae-flow-prior",
            family="hybrid",
            description="a VAE (genplug-vae) whose prior p(z) is a neural spline flow (genplug-flow), trained "
            "jointly on the ELBO; ELBO and IWAE bounds",
            model="genplug_hybrid.vae_flow_prior:VAEFlowPrior",
            provides=("generator", "encoder"),
            default_weights="genplug_hybrid:packaged/vae-flow-prior",
        )
    )
    register(
        genplug.ArchitectureSpec(
            name="vq-transformer",
            family="hybrid",
            description="a transformer prior (genplug-autoregressive) over the codes of a VQ-VAE (genplug-vae); "
            "samplers ancestral, top-k, top-p, min-p, greedy",
            model="genplug_hybrid.vq_transformer:VQTransformer",
            provides=("generator",),
            default_weights="genplug_hybrid:packaged/vq-transformer",  # digits, by scripts/train_vq_transformer.py
        )
    )
