"""One training step around the model's own ``training_step``: micro-batches
(``accumulate``), autocast (``precision``), loss scaling (fp16), the gradient sum over
processes and gradient clipping.

A model's ``training_step`` zeroes its gradients, backpropagates and steps its optimizers
itself, once or several times (a GAN's discriminator and generator). The trainer changes
nothing in it: it acts in a pre-hook on each optimizer, right before the optimizer
updates the weights, in this order:

1. the gradient of this micro-batch is weighted by its share of the whole step's batch
   (``len(micro) / len(batch)``: the losses are means) and the kept sum of the earlier
   micro-batches added; before the last micro-batch the sum is kept aside and the
   parameters left without gradients, so the optimizer skips them and nothing changes;
2. the gradients are summed over the processes (:func:`~genplug._training.distributed.all_reduce_grads`),
   which makes them the gradient of the whole batch, as one process would have it;
3. fp16: divided by the loss scale; a step with a gradient that is not finite is skipped
   (no gradients: the optimizer changes nothing) and the scale halved after the step;
4. clipped to ``clip_grad``.

In one process, without micro-batches or fp16, only step 4 runs: the step is exactly the
model's own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch

from genplug._errors import GenplugError
from genplug._training.distributed import Group, all_reduce_grads

__all__ = ["LossScale", "Stepper"]

AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


class LossScale:
    """Dynamic loss scaling for float16, as ``torch.amp.GradScaler`` does it, for models that
    call ``loss.backward()`` themselves: every backward pass inside :meth:`scaled` starts
    from ``scale`` instead of 1, so small gradients do not flush to zero in float16.

    The scale is halved after a step with a gradient that is not finite (that step is
    skipped), and doubled after ``interval`` good steps in a row.
    """

    def __init__(self, scale: float = 2.0**16, interval: int = 2000) -> None:
        self.scale, self.interval, self.good, self.overflow = scale, interval, 0, False

    @contextlib.contextmanager
    def scaled(self) -> Iterator[None]:
        """Scale the gradients every ``backward`` starts from (``Tensor.backward`` calls
        ``torch.autograd.backward``, which is wrapped while this lasts)."""
        original = torch.autograd.backward

        def backward(tensors: Any, grad_tensors: Any = None, *args: Any, **kwargs: Any) -> Any:
            roots = [tensors] if isinstance(tensors, torch.Tensor) else list(tensors)
            if grad_tensors is None:
                grads = [torch.full_like(t, self.scale) if t.numel() == 1 else None for t in roots]
            else:
                given = [grad_tensors] if isinstance(grad_tensors, torch.Tensor) else list(grad_tensors)
                grads = [g * self.scale if g is not None else None for g in given]
            return original(roots, grads, *args, **kwargs)

        torch.autograd.backward = backward
        try:
            yield
        finally:
            torch.autograd.backward = original

    @torch.no_grad()
    def unscale(self, params: list[torch.Tensor]) -> bool:
        """Divide the gradients by the scale; ``False`` (and no gradients) if one is not finite."""
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return True
        for g in grads:
            g.mul_(1.0 / self.scale)
        if bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()):
            return True
        for p in params:
            p.grad = None
        self.overflow = True
        return False

    def update(self) -> None:
        """After the whole step: halve the scale on an overflow, grow it after ``interval`` good steps."""
        if self.overflow:
            self.scale, self.good = self.scale / 2, 0
        else:
            self.good += 1
            if self.good >= self.interval:
                self.scale, self.good = self.scale * 2, 0
        self.overflow = False

    def state(self) -> dict[str, float]:
        return {"scale": self.scale, "good": self.good}

    def load(self, state: dict[str, float]) -> None:
        self.scale, self.good = float(state["scale"]), int(state["good"])


class Stepper:
    """Runs a training step on this process's batch, with the hooks described above on
    every optimizer."""

    def __init__(
        self,
        optimizers: dict[str, torch.optim.Optimizer],
        *,
        group: Group,
        accumulate: int,
        precision: str,
        clip_grad: float | None,
        device: torch.device,
    ) -> None:
        self.group, self.accumulate, self.clip_grad, self.device = group, accumulate, clip_grad, device
        self.autocast = AUTOCAST.get(precision)
        self.loss_scale = LossScale() if precision == "fp16" else None
        self.weighted = group.world > 1 or accumulate > 1
        self.weight, self.last = 1.0, True
        self.kept: dict[int, torch.Tensor] = {}  # the summed gradients of earlier micro-batches, by id(parameter)
        self.stepped: dict[str, int] = {}  # optimizer steps in this micro-batch, by name
        if self.weighted or self.loss_scale is not None or clip_grad is not None:  # else: nothing to do
            for name, optimizer in optimizers.items():
                optimizer.register_step_pre_hook(self._hook(name))

    def run(
        self, step: Callable[[torch.Tensor, torch.Tensor | None], dict[str, float]], x: torch.Tensor,
        y: torch.Tensor | None, total: int,
    ) -> dict[str, float]:  # fmt: skip
        """``step(x, y)`` on each micro-batch of this process's ``x`` (labels ``y``); ``total``:
        the examples of the whole step over all processes. Returns the figures, averaged
        over the micro-batches."""
        if self.accumulate == 1 and self.autocast is None and self.loss_scale is None:
            self.weight, self.last = len(x) / total, True
            self.stepped.clear()
            return step(x, y)  # the model's own step, nothing around it
        xs = x.tensor_split(self.accumulate) if self.accumulate > 1 else (x,)
        ys = y.tensor_split(self.accumulate) if y is not None and self.accumulate > 1 else (y,) * len(xs)
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        figures: dict[str, float] = {}
        for i, (xm, ym) in enumerate(zip(xs, ys, strict=True)):
            self.weight, self.last = len(xm) / total, i == len(xs) - 1
            self.stepped.clear()
            with self._context():
                figures = step(xm, ym)
            for key, value in figures.items():
                sums[key] = sums.get(key, 0.0) + value * len(xm)
                counts[key] = counts.get(key, 0) + len(xm)
        if self.loss_scale is not None:
            self.loss_scale.update()
        if len(xs) == 1:
            return figures
        return {key: sums[key] / counts[key] for key in sums}

    @contextlib.contextmanager
    def _context(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            if self.autocast is not None:
                stack.enter_context(torch.autocast(self.device.type, dtype=self.autocast))
            if self.loss_scale is not None:
                stack.enter_context(self.loss_scale.scaled())
            yield

    def _hook(self, name: str) -> Callable[..., None]:
        def before_step(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
            params = [p for group in optimizer.param_groups for p in group["params"]]
            if self.weighted and not self._gather(name, params):
                return
            if self.loss_scale is not None and not self.loss_scale.unscale(params):
                return
            if self.clip_grad is not None:
                torch.nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], self.clip_grad)

        return before_step

    @torch.no_grad()
    def _gather(self, name: str, params: list[torch.Tensor]) -> bool:
        """Steps 1 and 2; ``False`` before the last micro-batch (nothing to step yet)."""
        self.stepped[name] = self.stepped.get(name, 0) + 1
        if self.accumulate > 1 and self.stepped[name] > 1:
            raise GenplugError(
                f"--accumulate {self.accumulate}: the model steps its optimizer {name!r} more than once per "
                "training_step (as a GAN's d_steps does), which micro-batches cannot split; train it with "
                "--accumulate 1"
            )
        for p in params:
            kept = self.kept.pop(id(p), None)
            if p.grad is not None:
                p.grad.mul_(self.weight)
                if kept is not None:
                    p.grad.add_(kept)
            elif kept is not None:
                p.grad = kept
        if not self.last:
            for p in params:
                if p.grad is not None:
                    self.kept[id(p)] = p.grad
                    p.grad = None  # the optimizer skips parameters without a gradient
            return False
        all_reduce_grads(params, self.group)
        return True
