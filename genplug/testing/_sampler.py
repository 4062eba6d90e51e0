"""The sampler contract: a registered sampler refuses what it cannot serve and samples
deterministically; a decoding sampler (``interface="next-token"``) follows the model."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import genplug
from genplug.testing._common import build, g, same
from genplug.testing._tokens import check_decoding_sampler

__all__ = ["check_sampler"]


class _Bare:
    """An object with none of the attributes a sampler may require."""

    architecture = "bare"


def check_sampler(name: str, architecture: str, config: dict[str, Any] | None = None, *, steps: int = 4) -> None:
    """Run the sampler contract for ``name`` on a model of ``architecture``.

    ``steps`` reaches the sampler only when its spec says ``takes_steps=True``.
    """
    spec = genplug.registry().sampler(name)
    sampler = spec.create()
    assert sampler.name == name, f"sampler {name!r} calls itself {sampler.name!r}"
    if spec.requires or spec.interface:
        with pytest.raises(genplug.IncompatibleError):
            spec.check(_Bare())
        with pytest.raises(genplug.IncompatibleError):
            sampler.check(_Bare())
    model = build(architecture, config or {}).eval()
    spec.check(model)
    sampler.check(model)
    options = {"steps": steps} if spec.takes_steps else {}

    def call(s: Any, m: Any, seed: int = 1) -> torch.Tensor:
        with torch.no_grad():
            return s(m, 3, generator=g(seed), **options)

    a, b = call(sampler, model), call(sampler, model)
    assert tuple(a.shape) == (3, *model.event_shape), f"sampler {name}: shape {tuple(a.shape)}"
    assert not a.is_floating_point() or torch.isfinite(a).all(), f"sampler {name}: samples are not finite"
    same(a, b, f"sampler {name}: same generator, same samples")
    if spec.interface == "next-token":
        check_decoding_sampler(sampler, name, model, call=call)
