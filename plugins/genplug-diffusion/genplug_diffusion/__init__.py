"""genplug-diffusion: denoising diffusion models and their samplers for genplug.

The ``diffusion`` architecture (:class:`DiffusionModel`, configured by
:class:`DiffusionConfig`) and four samplers that run on any *denoiser* (see
:mod:`genplug_diffusion.samplers.base`): :class:`DDPM`, :class:`DDIM`,
:class:`DPMSolverPP` and :class:`UniPC`; :class:`Guided` runs any of them with
classifier-free guidance on a class-conditional model.

Importing the package does not import torch; the names load on first use.
"""

from __future__ import annotations

from genplug._lazy import lazy_attributes

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
    "schedules": "genplug_diffusion.schedules",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
