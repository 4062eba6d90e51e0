"""Registration only: importing this module imports no torch and no model code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import genplug

__all__ = ["GENPLUG_API", "register_architectures", "register_samplers"]

GENPLUG_API = 1

# name -> (class in samplers.py, description for `genplug list`)
_SAMPLERS = {
    "greedy": ("Greedy", "the most probable token at every step; no options"),
    "ancestral": ("Ancestral", "a draw from softmax(logits / temperature); option temperature"),
    "top-k": ("TopK", "a draw from the k most probable tokens; options k, temperature"),
    "top-p": ("TopP", "nucleus: a draw from the most probable tokens of total probability p; options p, temperature"),
    "min-p": ("MinP", "a draw from tokens at least p times as probable as the top one; options p, temperature"),
}


@genplug.hookimpl
def register_architectures(register: Callable[[Any], None]) -> None:
    register(
        genplug.ArchitectureSpec(
            name="transformer",
            family="autoregressive",
            description="GPT-style decoder-only transformer over images in raster order or text; "
            "exact likelihood, KV cache, class-label start token",
            model="genplug_autoregressive.model:Transformer",
            provides=("generator", "next-token"),
            default_weights="genplug_autoregressive:weights",  # digits, by scripts/train_default.py
        )
    )
    register(
        genplug.ArchitectureSpec(
            name="transformer-text",
            family="autoregressive",
            description="the transformer, with a character model of the bundled tinytext stories as its default "
            "weights; --prompt",
            model="genplug_autoregressive.text:TextTransformer",
            provides=("generator", "next-token"),
            default_weights="genplug_autoregressive:weights_text",  # tinytext, by scripts/train_text.py
        )
    )


@genplug.hookimpl
def register_samplers(register: Callable[[Any], None]) -> None:
    for name, (cls, description) in _SAMPLERS.items():
        register(
            genplug.SamplerSpec(
                name=name,
                family="autoregressive",
                description=description,
                sampler=f"genplug_autoregressive.samplers:{cls}",
                interface="next-token",  # any plugin's genplug.NextTokenModel
                takes_steps=False,
            )
        )
