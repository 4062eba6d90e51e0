"""The samplers of genplug-diffusion, one module each: ddpm, ddim, dpm_solver, unipc.

They share :mod:`genplug_diffusion.samplers.base`, which documents the denoiser
interface they run on.
"""
