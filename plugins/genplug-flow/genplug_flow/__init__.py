"""genplug-flow: normalizing flows (``glow`` for images, ``nsf`` for vectors) for genplug.

Importing this package does not import torch; the names below load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = ["NSF", "Glow", "GlowConfig", "NSFConfig", "rqs_forward", "rqs_inverse"]

_LAZY = {
    "Glow": "genplug_flow.glow",
    "GlowConfig": "genplug_flow.glow",
    "NSF": "genplug_flow.nsf",
    "NSFConfig": "genplug_flow.nsf",
    "rqs_forward": "genplug_flow.splines",
    "rqs_inverse": "genplug_flow.splines",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genplug_flow' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
