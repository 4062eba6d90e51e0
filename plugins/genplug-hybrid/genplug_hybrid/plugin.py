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
            name="dit",
            family="hybrid",
            description="a diffusion model (genplug-diffusion) whose denoiser is a transformer over patches built "
            "from genplug-autoregressive's blocks, with adaLN-Zero; samplers ddpm, ddim, dpm-solver++, unipc",
            model="genplug_hybrid.dit:DiT",
            provides=("generator",),
            default_weights="genplug_hybrid:packaged/dit",
        )
    )
