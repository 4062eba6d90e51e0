"""Registration only: the architecture and the samplers, by import path. Imports no torch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import genplug

__all__ = ["GENPLUG_API", "REQUIRES", "SAMPLERS", "register_architectures", "register_samplers"]

GENPLUG_API = 1

#: What every sampler here needs of a model: registered with each SamplerSpec, and the
#: samplers' own ``requires`` (``samplers.base`` imports it from here, which needs no torch).
REQUIRES: dict[str, tuple[Any, ...]] = {"prediction_type": ("epsilon", "v_prediction"), "time": ("discrete",)}

SAMPLERS = {
    # name: (class path, description)
    "ddpm": ("genplug_diffusion.samplers.ddpm:DDPM", "ancestral DDPM sampling (Ho et al. 2020); T steps by default"),
    "ddim": ("genplug_diffusion.samplers.ddim:DDIM", "DDIM (Song et al. 2021), deterministic at eta=0; 50 steps"),
    "dpm-solver++": (
        "genplug_diffusion.samplers.dpm_solver:DPMSolverPP",
        "DPM-Solver++(2M) multistep ODE solver (Lu et al. 2022); 20 steps",
    ),
    "unipc": (
        "genplug_diffusion.samplers.unipc:UniPC",
        "UniPC predictor-corrector multistep solver (Zhao et al. 2023); 20 steps",
    ),
}


@genplug.hookimpl
def register_architectures(register: Callable[[Any], None]) -> None:
    register(
        genplug.ArchitectureSpec(
            name="diffusion",
            family="diffusion",
            description="DDPM-style diffusion with eps/v prediction: a small UNet for images, an MLP for vectors",
            model="genplug_diffusion.model:DiffusionModel",
            provides=("generator",),
            default_weights="genplug_diffusion:weights",
        )
    )


@genplug.hookimpl
def register_samplers(register: Callable[[Any], None]) -> None:
    for name, (path, description) in SAMPLERS.items():
        register(
            genplug.SamplerSpec(name=name, family="diffusion", description=description, sampler=path, requires=REQUIRES)
        )
