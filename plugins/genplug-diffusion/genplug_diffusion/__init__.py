"""genplug-diffusion: denoising diffusion models and their samplers for genplug.

The ``diffusion`` architecture (:class:`DiffusionModel`, configured by
:class:`DiffusionConfig`) and four samplers that run on any *denoiser* (see
:mod:`genplug_diffusion.samplers.base`): :class:`DDPM`, :class:`DDIM`,
:class:`DPMSolverPP` and :class:`UniPC`; :class:`Guided` runs any of them with
classifier-free guidance on a class-conditional model.

Importing the package does not import torch; the names load on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = [
    "DDIM",
    "DDPM",
    "DPMSolverPP",
    "DiffusionConfig",
    "DiffusionModel",
    "DiffusionSampler",
    "Guided",
    "MLPDenoiser",
    "UNet",
    "UniPC",
    "discretized_gaussian_log_prob",
    "schedules",
]

_LAZY = {
    "DiffusionConfig": "genplug_diffusion.model",
    "DiffusionModel": "genplug_diffusion.model",
    "discretized_gaussian_log_prob": "genplug_diffusion.model",
    "UNet": "genplug_diffusion.unet",
    "MLPDenoiser": "genplug_diffusion.mlp",
    "DiffusionSampler": "genplug_diffusion.samplers.base",
    "Guided": "genplug_diffusion.samplers.guidance",
    "DDPM": "genplug_diffusion.samplers.ddpm",
    "DDIM": "genplug_diffusion.samplers.ddim",
    "DPMSolverPP": "genplug_diffusion.samplers.dpm_solver",
    "UniPC": "genplug_diffusion.samplers.unipc",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name == "schedules":
        return importlib.import_module("genplug_diffusion.schedules")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genplug_diffusion' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
