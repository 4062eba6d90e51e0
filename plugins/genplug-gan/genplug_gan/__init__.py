"""genplug-gan: the generative adversarial network (``gan``) for genplug.

Importing this package does not import torch; the names below load on first use.
"""

from __future__ import annotations

from genplug._lazy import lazy_attributes

__version__ = "0.1.0"

__all__ = [
    "GAN",
    "LOSSES",
    "GANConfig",
    "GANTrainOptions",
    "discriminator_loss",
    "generator_loss",
    "gradient_penalty",
    "interpolate",
    "invert",
    "minibatch_std",
    "mode_seeking_loss",
    "r1_penalty",
    "slerp",
    "truncated_normal",
]

_LAZY = {name: "genplug_gan.model" for name in __all__} | {
    name: "genplug_gan.latents" for name in ("interpolate", "invert", "slerp")
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
