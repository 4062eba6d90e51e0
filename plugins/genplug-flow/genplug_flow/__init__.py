"""genplug-flow: normalizing flows (``glow`` for images, ``nsf`` for vectors) for genplug.

Importing this package does not import torch; the names below load on first use.
"""

from __future__ import annotations

from genplug._lazy import lazy_attributes

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


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
