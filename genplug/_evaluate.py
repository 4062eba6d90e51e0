"""``genplug.evaluate``: score a model with every registered metric that applies to the data.

What ``genplug eval`` runs, as a Python function: the data's test split is checked
against the model's ``event_shape``, the metrics that apply to the data's kind are chosen
(or the ones named), and each draws its samples with one seeded generator.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from genplug._api import resolve_device
from genplug._data import load_data
from genplug._errors import GenplugError, IncompatibleError, shown
from genplug._plugins import registry
from genplug._specs import resolve

__all__ = ["evaluate"]


def evaluate(
    model: Any,
    data: str | Path,
    *,
    n: int = 1000,
    metrics: list[str] | tuple[str, ...] | None = None,
    seed: int = 0,
    sampler: str | None = None,
    steps: int | None = None,
    sampler_options: dict[str, Any] | None = None,
    device: str | torch.device | None = None,
    progress: Callable[[str], None] | None = None,
    **condition: Any,
) -> dict[str, Any]:
    """Score ``model`` against ``data`` and return the figures.

    Arguments:
        model: a generative model (``sample``, ``event_shape``; ``log_prob`` optional).
        data: a registered dataset name, or a folder of images, ``.npy`` or ``.txt`` file.
        n: the number of samples each sample-based metric draws.
        metrics: metric names from ``genplug list``; ``None``: every registered metric
            whose ``applies_to`` holds the data's kind.
        seed: seeds the generator every metric draws with (the same seed, the same figures).
        sampler: a sampler name, passed to ``genplug.sample``; ``None``: the model's own.
        steps: sampler steps, passed the same way.
        sampler_options: the sampler's options (``{"eta": 0.5}``), passed the same way.
        device: where to draw; the model is moved there. ``None``: where the model is.
        progress: called with ``"fd (1/3)"``, the metric and its place, as each starts.
        condition: the model's conditions for every sample drawn (``label=3``); the
            ``accuracy`` metric asks for every class in turn instead.

    Returns:
        ``{"data", "n", "sampler", "steps", "seed"}`` followed by each metric's figures
        (see ``docs/evaluation.md``).

    Example:
        >>> import genplug
        >>> from genplug._evaluate import evaluate
        >>> model = genplug.create("vae", data_shape=(2,), latent_dim=2)
        >>> figures = evaluate(model, "8gaussians", n=200, metrics=["nll"])
        >>> figures["data"], figures["nll_elbo_space"], figures["nll_elbo_bits_per_dim"] > 0
        ('8gaussians', 'continuous', True)
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise GenplugError(f"n must be a positive number of samples, got {shown(n)}")
    name = str(data)
    if not name.strip():
        raise GenplugError("give a dataset name, a folder of images, or a .npy or .txt file to evaluate on")
    reg = registry()
    if sampler is not None:
        reg.sampler(sampler)  # an unknown sampler fails before anything is loaded
    if isinstance(metrics, str):
        metrics = (metrics,)
    chosen = [reg.metric(m) for m in metrics] if metrics is not None else None
    if device is not None:
        dev = resolve_device(device)
        model = model.to(dev) if callable(getattr(model, "to", None)) else model
    else:
        dev = torch.device(getattr(model, "device", "cpu"))
    test = load_data(name, "test")
    event_shape = tuple(getattr(model, "event_shape", ()) or ())
    if tuple(test.shape) != event_shape:
        model_name = getattr(model, "architecture", None) or type(model).__name__
        raise IncompatibleError(
            f"data {shown(name)} has examples of shape {test.shape}, but model {model_name!r} draws "
            f"{event_shape}; evaluate it on data of its shape"
        )
    kind = reg.datasets[name].kind if name in reg.datasets else test.kind
    if chosen is None:
        chosen = [m for m in reg.metrics.values() if kind in m.applies_to]
    else:
        for spec in chosen:
            if kind not in spec.applies_to:
                raise GenplugError(
                    f"metric {spec.name!r} scores {', '.join(spec.applies_to)} data; {shown(name)} is {kind} data"
                )
    figures: dict[str, Any] = {"data": name, "n": n, "sampler": sampler, "steps": steps, "seed": seed}
    extra: dict[str, Any] = {}  # passed to metrics only when given, so a metric written without them still runs
    if sampler_options:
        figures["sampler_options"] = extra["sampler_options"] = dict(sampler_options)
    if condition:
        extra["condition"] = dict(condition)
        figures["condition"] = {k: v if isinstance(v, (int, float, str)) else str(v) for k, v in condition.items()}
    for i, spec in enumerate(chosen, 1):
        if progress is not None:
            progress(f"{spec.name} ({i}/{len(chosen)})")
        metric = resolve(spec.metric, what=f"metric {spec.name!r} (plugin {spec.plugin})")
        generator = torch.Generator(dev).manual_seed(seed)  # each metric from the seed: figures do not depend on order
        figures.update(metric(model, name, n=n, generator=generator, sampler=sampler, steps=steps, **extra))
    return figures
