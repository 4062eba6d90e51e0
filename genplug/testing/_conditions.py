"""The condition contract: models whose ``conditions`` include a class label.

With the same seed, the same label gives the same samples and another label other
samples; a label outside ``range(classes)`` raises a :class:`genplug.GenplugError`.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import torch

import genplug
from genplug.testing._common import class_conditions, g, same

__all__ = ["check_conditions"]


def _draw(model: Any, n: int, seed: int, **condition: Any) -> torch.Tensor:
    """``n`` samples with ``condition``: through ``genplug.sample`` once it takes conditions
    (so the core's label check counts), else through ``model.sample``."""
    params = inspect.signature(genplug.sample).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()) or set(condition) <= set(params):
        return genplug.sample(model, n, generator=g(seed, model.device), **condition)
    with torch.no_grad():
        return model.sample(n, generator=g(seed, model.device), **condition)


def _redrawn(model: Any) -> Any:
    """A copy of ``model`` whose floating parameters are redrawn from N(0, 1), seeded."""
    wide = copy.deepcopy(model)
    rng = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in wide.parameters():
            if p.is_floating_point():
                p.copy_(torch.randn(p.shape, generator=rng, dtype=p.dtype).to(p.device))
    return wide.eval()


def check_conditions(model: Any, *, label: str, n: int = 3) -> None:
    """Run the class-condition checks on every class condition ``model`` declares."""
    model.eval()
    for name, classes in class_conditions(model).items():
        assert classes >= 1, f"{label}: condition {name!r} of kind 'class' must declare classes >= 1, got {classes}"
        a = _draw(model, n, 60, **{name: 0})
        same(a, _draw(model, n, 60, **{name: 0}), f"{label}: same seed and {name}=0, same samples")
        if classes >= 2 and torch.equal(a, _draw(model, n, 60, **{name: 1})):
            # A freshly initialised model may draw nearly the same distribution for every label
            # (discrete samples then coincide); a label that reaches the model shows once the
            # weights are redrawn wider. One that never reaches it gives equal samples for any weights.
            wide, many = _redrawn(model), max(n, 64)  # and more samples: discrete ones coincide by chance
            assert not torch.equal(_draw(wide, many, 60, **{name: 0}), _draw(wide, many, 60, **{name: 1})), (
                f"{label}: {name}=0 and {name}=1 gave identical samples with the same seed: "
                f"does sample() use its {name!r} condition?"
            )
        for bad in (classes, -1):  # the model's own sample(), called directly: the core checks its own path
            try:
                model.sample(n, generator=g(60, model.device), **{name: torch.full((n,), bad, device=model.device)})
            except genplug.GenplugError:
                continue
            except (IndexError, RuntimeError) as exc:
                raise AssertionError(
                    f"{label}: {name}={bad} is outside range({classes}); sample() crashed with "
                    f"{type(exc).__name__} instead of raising a genplug.GenplugError"
                ) from None
            raise AssertionError(
                f"{label}: {name}={bad} is outside range({classes}) but sample() raised no genplug.GenplugError"
            )
