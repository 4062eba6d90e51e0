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
            name="gan",
            family="gan",
            description="generative adversarial network: DCGAN conv or MLP networks; non-saturating, hinge or "
            "WGAN-GP loss, spectral norm, lazy R1, class-conditional (projection discriminator)",
            model="genplug_gan.model:GAN",
            default_weights="genplug_gan:weights",
        )
    )
