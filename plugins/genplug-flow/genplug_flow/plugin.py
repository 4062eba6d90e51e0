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
            name="glow",
            family="flow",
            description="Glow/RealNVP-style image flow: checkerboard and channel affine couplings, actnorm, "
            "invertible 1x1 convolutions, squeeze, multi-scale; exact likelihood, dequantised on discrete data",
            model="genplug_flow.glow:Glow",
            provides=("generator", "encoder", "bijection"),
            default_weights="genplug_flow:weights",  # digits; scripts/train_default.py
        )
    )
    register(
        genplug.ArchitectureSpec(
            name="nsf",
            family="flow",
            description="neural spline flow for vectors and 2-D data: rational-quadratic splines, "
            "MADE autoregressive conditioners; exact likelihood",
            model="genplug_flow.nsf:NSF",
            provides=("generator", "encoder", "bijection"),
        )
    )
