"""What every check shares: building a model, test data, seeded generators, comparisons."""

from __future__ import annotations

from typing import Any

import torch

import genplug

__all__ = ["batch", "build", "class_conditions", "g", "same"]


def build(name: str, config: dict[str, Any]) -> Any:
    """``genplug.create(name, **config)`` with torch's global seed fixed, so every run builds the same weights."""
    torch.manual_seed(0)
    return genplug.create(name, **config)


def batch(model: Any, n: int, generator: torch.Generator) -> torch.Tensor:
    """Plausible data for ``model``.

    The model's own ``conformance_batch(n, *, generator)`` when it has one (a likelihood
    that only accepts quantised values, say); else integer tokens when it has
    ``vocab_size``; else uniform floats in [0, 1].
    """
    own = getattr(model, "conformance_batch", None)
    if callable(own):
        return own(n, generator=generator).to(model.device)
    shape = (n, *model.event_shape)
    vocab = getattr(model, "vocab_size", None)
    if vocab is not None:
        return torch.randint(0, vocab, shape, generator=generator).to(model.device)
    return torch.rand(shape, generator=generator).to(model.device)


def g(seed: int, device: Any = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed``."""
    return torch.Generator(device).manual_seed(seed)


def same(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    """Fail with ``what`` unless ``a`` and ``b`` are identical."""
    assert a.shape == b.shape and torch.equal(a, b), f"{what}: outputs differ"


def class_conditions(model: Any) -> dict[str, int]:
    """``{condition name: number of classes}`` for each class condition ``model`` declares."""
    found = {}
    for name, condition in dict(getattr(model, "conditions", None) or {}).items():
        if getattr(condition, "kind", None) == "class":
            found[name] = int(condition.classes or 0)
    return found
