"""Tools over a VAE's latent space: encode a dataset, reconstruct, interpolate, latent statistics.

They work with any :class:`genplug.Encoder` (``encode`` / ``decode`` / ``latent_shape``),
not only this plugin's VAE, and run without gradients.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

import genplug
from genplug import GenplugError

__all__ = ["INTERPOLATIONS", "encode_dataset", "interpolate", "latent_stats", "reconstruct"]

INTERPOLATIONS = ("linear", "slerp")


def _examples(data: genplug.Data | torch.Tensor | str | Path, split: str) -> torch.Tensor:
    if isinstance(data, torch.Tensor):
        return data
    if not isinstance(data, genplug.Data):
        data = genplug.load_data(data, split)
    return data.x


def _device(model: Any) -> torch.device:
    return getattr(model, "device", torch.device("cpu"))


@torch.no_grad()
def encode_dataset(
    model: Any,
    data: genplug.Data | torch.Tensor | str | Path,
    *,
    split: str = "train",
    batch_size: int = 512,
    generator: torch.Generator | None = None,
) -> genplug.Latent:
    """Encode every example of ``data`` (a dataset name, :class:`genplug.Data` or a tensor).

    Returns:
        a :class:`genplug.Latent` whose ``sample``, ``mean`` and ``scale`` hold one row per
        example, on the CPU.
    """
    x = _examples(data, split)
    samples, means, scales = [], [], []
    for chunk in x.split(batch_size):
        latent = model.encode(chunk.to(_device(model)), generator=generator)
        samples.append(latent.sample.cpu())
        means.append(latent.mean.cpu())
        scales.append(latent.scale.cpu() if latent.scale is not None else None)
    scale = None if any(s is None for s in scales) else torch.cat(scales)
    return genplug.Latent(sample=torch.cat(samples), mean=torch.cat(means), scale=scale)


@torch.no_grad()
def reconstruct(
    model: Any, x: torch.Tensor, *, use_mean: bool = True, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``decode(encode(x))``: from the posterior mean, or from a posterior draw if not ``use_mean``."""
    latent = model.encode(x, generator=generator)
    return model.decode(latent.mean if use_mean else latent.sample)


def _slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation, which keeps the norm typical of Gaussian latents along the path."""
    cos = (z0 * z1).sum(-1, keepdim=True) / (z0.norm(dim=-1, keepdim=True) * z1.norm(dim=-1, keepdim=True))
    omega = torch.arccos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


@torch.no_grad()
def interpolate(
    model: Any,
    x0: torch.Tensor,
    x1: torch.Tensor,
    steps: int,
    *,
    method: str = "linear",
    use_mean: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Decode ``steps`` evenly spaced latents between the codes of ``x0`` and ``x1``.

    Arguments:
        model: an encoder (``encode``, ``decode``).
        x0, x1: one example each, shaped ``event_shape`` or ``(1, *event_shape)``.
        steps: the number of points, both ends included (at least 2).
        method: ``"linear"`` or ``"slerp"`` (spherical) interpolation.
        use_mean: start and end at the posterior means (deterministic); otherwise at
            posterior draws seeded by ``generator``.

    Returns:
        ``(steps, *event_shape)``: the first row is the reconstruction of ``x0``, the last
        that of ``x1``.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise GenplugError(f"interpolate needs steps >= 2 (both ends included), got {steps!r}")
    if method not in INTERPOLATIONS:
        raise GenplugError(f"interpolation method {method!r}; choose one of {', '.join(INTERPOLATIONS)}")
    ends = []
    for x in (x0, x1):
        x = x.unsqueeze(0) if x.ndim == len(model.event_shape) else x
        if x.shape[0] != 1:
            raise GenplugError(f"interpolate takes one example per end, got a batch of shape {tuple(x.shape)}")
        latent = model.encode(x.to(_device(model)), generator=generator)
        ends.append(latent.mean if use_mean else latent.sample)
    z0, z1 = ends  # (1, L) each
    t = torch.linspace(0, 1, steps, device=z0.device).view(steps, *([1] * (z0.ndim - 1)))
    z = z0 + t * (z1 - z0) if method == "linear" else _slerp(z0, z1, t)  # (steps, L)
    return model.decode(z)


@torch.no_grad()
def latent_stats(
    model: Any, data: genplug.Data | torch.Tensor | str | Path = "digits", *, split: str = "train"
) -> dict[str, list[float]]:
    """Per-dimension statistics of the encoded ``data``, to check the latents are well scaled.

    Returns:
        ``mean`` and ``std`` of the posterior means over the dataset, the average posterior
        ``scale``, and ``aggregate_std``: the standard deviation of posterior draws
        (sqrt(var(mean) + E[scale^2])), which is 1 for a perfectly matched N(0, I) prior.
    """
    latent = encode_dataset(model, data, split=split)
    mean, scale = latent.mean.double(), latent.scale
    stats = {"mean": mean.mean(0).tolist(), "std": mean.std(0).tolist()}
    if scale is not None:
        scale = scale.double()
        stats["scale"] = scale.mean(0).tolist()
        stats["aggregate_std"] = (mean.var(0) + (scale**2).mean(0)).sqrt().tolist()
    return stats
