"""The training contract: a few ``training_step`` calls train every part of the model.

A model with several optimizers (a GAN's generator and discriminator) may step them in
turn and free gradients with ``zero_grad(set_to_none=True)``, so what a step reached is
recorded while it runs (a hook on every parameter's gradient, and the weights compared
before and after each step), never read from ``p.grad`` afterwards.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch

import genplug
from genplug.testing._common import class_conditions, g

__all__ = ["TRAINING_STEPS", "check_training", "make_optimizers"]

#: How many ``training_step`` calls the check runs: enough for alternating schedules
#: (generator / discriminator) to step every optimizer at least once.
TRAINING_STEPS = 4


def make_optimizers(model: Any) -> dict[str, torch.optim.Optimizer]:
    """``model.configure_optimizers`` called the way its signature asks: with a
    :class:`genplug.TrainConfig` when its one parameter is ``config`` or annotated
    ``TrainConfig``, else with the learning rate ``1e-3``."""
    params = list(inspect.signature(model.configure_optimizers).parameters.values())
    if len(params) == 1:
        annotation = params[0].annotation
        text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
        if params[0].name == "config" or str(text).endswith("TrainConfig"):
            return model.configure_optimizers(genplug.TrainConfig())
    return model.configure_optimizers(1e-3)


def _step(model: Any, batch: torch.Tensor, optimizers: dict[str, Any], step: int, total: int) -> Any:
    """One ``training_step`` with what its signature takes of the trainer's keywords: ``step``
    (0-based), ``total``, and labels ``0, 1, ...`` as each class condition (as the trainer
    passes a labelled batch's ``y``)."""
    params = inspect.signature(model.training_step).parameters
    anything = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs: dict[str, Any] = {"generator": g(5 + step)}
    for name, value in (("step", step), ("total", total)):
        if name in params:
            kwargs[name] = value
    for name, classes in class_conditions(model).items():
        if name in params or anything:
            kwargs[name] = torch.arange(len(batch), device=batch.device) % max(classes, 1)
    return model.training_step(batch, optimizers, **kwargs)


def check_training(model: Any, batch: torch.Tensor, *, label: str, steps: int = TRAINING_STEPS) -> None:
    """Run ``steps`` training steps on ``batch`` and check that they train the whole model.

    Each step must return a dict of finite figures; every optimizer must change its
    parameters in at least one step (an optimizer whose ``step()`` is never called fails);
    every trainable parameter must receive a gradient or change in at least one step
    (a layer cut off from the loss fails); and every trainable parameter must belong to
    one of the optimizers.
    """
    model.train()
    optimizers = make_optimizers(model)
    assert isinstance(optimizers, dict) and optimizers, (
        f"{label}: configure_optimizers must return a non-empty dict of optimizers by name, got {optimizers!r}"
    )
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    owned = {id(p) for opt in optimizers.values() for group in opt.param_groups for p in group["params"]}
    orphans = [name for name, p in trainable.items() if id(p) not in owned]
    assert not orphans, (
        f"{label}: no optimizer of configure_optimizers holds {', '.join(orphans)}; "
        "add them to an optimizer or set requires_grad=False"
    )

    reached: set[str] = set()
    changed: set[str] = set()
    handles = [
        p.register_hook(lambda grad, name=name: reached.add(name) if grad is not None else None)
        for name, p in trainable.items()
    ]
    try:
        for step in range(steps):
            before = {name: p.detach().clone() for name, p in trainable.items()}
            figures = _step(model, batch, optimizers, step, steps)
            assert isinstance(figures, dict) and figures, (
                f"{label}: training_step must return a non-empty dict of figures, got {figures!r}"
            )
            bad = {k: v for k, v in figures.items() if not (isinstance(v, (int, float)) and math.isfinite(v))}
            assert not bad, f"{label}: training_step step {step + 1} returned figures that are not finite floats: {bad}"
            changed |= {name for name, p in trainable.items() if not torch.equal(before[name], p.detach())}
    finally:
        for handle in handles:
            handle.remove()

    unreached = [name for name in trainable if name not in reached and name not in changed]
    assert not unreached, f"{label}: no gradient reaches {', '.join(unreached)} in {steps} training steps"
    names = {id(p): name for name, p in trainable.items()}
    for opt_name, optimizer in optimizers.items():
        mine = [names[id(p)] for group in optimizer.param_groups for p in group["params"] if id(p) in names]
        assert any(name in changed for name in mine), (
            f"{label}: optimizer {opt_name!r} changed none of its parameters in {steps} training steps; "
            "does training_step call its step()?"
        )
    model.eval()
