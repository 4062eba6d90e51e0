"""genplug-autoregressive: a GPT-style transformer (``transformer``) and decoding samplers.

Importing this package does not import torch; the names below load on first use.
"""

from __future__ import annotations

from genplug._lazy import lazy_attributes

__version__ = "0.1.0"

__all__ = [
    "Ancestral",
    "Greedy",
    "MinP",
    "TextTransformer",
    "TopK",
    "TopP",
    "Transformer",
    "TransformerConfig",
    "TransformerTrainOptions",
]

_LAZY = {
    "Transformer": "genplug_autoregressive.model",
    "TransformerConfig": "genplug_autoregressive.model",
    "TransformerTrainOptions": "genplug_autoregressive.model",
    "TextTransformer": "genplug_autoregressive.text",
    "Ancestral": "genplug_autoregressive.samplers",
    "Greedy": "genplug_autoregressive.samplers",
    "MinP": "genplug_autoregressive.samplers",
    "TopK": "genplug_autoregressive.samplers",
    "TopP": "genplug_autoregressive.samplers",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
