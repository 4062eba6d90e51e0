"""The GAN's latent space: walks between latents, and inversion of real examples.

A GAN has no encoder, so to move between two *real* digits one first finds latents
that the generator maps close to them (inversion, Zhu et al. 2016; Creswell & Bharath
2018) and then walks between those latents.

==============  ==============================================================
``z``           a latent, ``(B, latent_dim)``; the generator's prior is N(0, I)
``e``           a label's embedding, ``(B, latent_dim)``; G(z, y) = G(z, e(y))
``slerp``       spherical interpolation: in high dimensions N(0, I) draws lie near
                a sphere, and the straight line between two of them passes through
                atypically short latents; the great circle does not (White 2016)
==============  ==============================================================

Inversion minimises, over z, with Adam from ``restarts`` random starts per example,

    |G(z, e(y)) - x|^2 / size(x) + latent_weight * |z|^2 / latent_dim

(the second term keeps z where the prior puts its mass), and keeps each example's best
start. Every draw takes a ``torch.Generator``: the same seed gives the same latents.

Example:
    >>> import torch, genplug
    >>> model = genplug.create("gan", data_shape=(1, 8, 8), latent_dim=4, hidden=4)
    >>> x = model.sample(2, generator=torch.Generator().manual_seed(0))
    >>> z = invert(model, x, steps=5, generator=torch.Generator().manual_seed(0))
    >>> interpolate(model, z[0], z[1], 5).shape
    torch.Size([5, 1, 8, 8])

References:
    White. Sampling Generative Networks. 2016. arXiv:1609.04468 (slerp).
    Zhu et al. Generative Visual Manipulation on the Natural Image Manifold. ECCV 2016.
    arXiv:1609.03552 (projection onto the generator's manifold).
    Creswell, Bharath. Inverting the Generator of a Generative Adversarial Network. IEEE
    TNNLS 2018. arXiv:1611.05644.
"""

from __future__ import annotations

from typing import Any

import torch

from genplug import GenplugError
from genplug_gan.model import GAN

__all__ = ["interpolate", "invert", "slerp"]


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Points on the great circle from ``z0`` to ``z1`` ``(D,)`` at fractions ``t`` ``(T,)``,
    their norms interpolated linearly; ``(T, D)``. Falls back to a straight line when the
    two are (nearly) parallel."""
    t = t[:, None]  # (T, 1)
    n0, n1 = z0.norm(), z1.norm()
    cos = torch.dot(z0 / n0, z1 / n1).clamp(-1.0, 1.0)
    omega = torch.acos(cos)
    if omega.abs() < 1e-4:
        return (1 - t) * z0 + t * z1
    u0, u1 = z0 / n0, z1 / n1
    direction = (torch.sin((1 - t) * omega) * u0 + torch.sin(t * omega) * u1) / torch.sin(omega)  # (T, D), unit
    return direction * ((1 - t) * n0 + t * n1)


def _embeddings(model: GAN, label: Any, n: int) -> torch.Tensor | None:
    """The labels' embeddings ``(n, latent_dim)``, or ``None`` for an unconditional model."""
    if not model.config.classes:
        if label is not None:
            raise GenplugError("model 'gan' is unconditional; it takes no label (train it with classes=N)")
        return None
    if label is None:
        raise GenplugError("a class-conditional GAN inverts and interpolates with the examples' labels: give label=")
    return model.generator.embed(model._labels(label, n, None))


def invert(
    model: GAN,
    x: torch.Tensor,
    *,
    label: Any = None,
    steps: int = 300,
    lr: float = 0.05,
    restarts: int = 8,
    latent_weight: float = 1e-3,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Latents ``(B, latent_dim)`` whose samples reconstruct the examples ``x`` ``(B, *data_shape)``.

    Arguments:
        model: a trained :class:`~genplug_gan.GAN` (its generator is not changed).
        x: the examples, in data space (images in [0, 1]).
        label: their classes (an int or one per example) for a class-conditional model.
        steps: Adam steps on z.
        lr: Adam's learning rate.
        restarts: random starts per example; the best reconstruction is kept.
        latent_weight: the weight of the prior term |z|^2 / latent_dim.
        generator: seeds the starts.
    """
    if x.ndim < 2 or tuple(x.shape[1:]) != tuple(model.config.data_shape):
        raise GenplugError(
            f"invert takes examples of shape (B, {', '.join(map(str, model.config.data_shape))}), got {tuple(x.shape)}"
        )
    if steps < 1 or restarts < 1:
        raise GenplugError(f"invert needs steps >= 1 and restarts >= 1, got steps={steps}, restarts={restarts}")
    b, d = len(x), model.config.latent_dim
    x = x.to(model.device)
    embedding = _embeddings(model, label, b)
    with torch.no_grad():
        z0 = torch.randn(restarts, b, d, generator=generator, device=model.device)
    z = z0.reshape(restarts * b, d).clone().requires_grad_(True)  # start r of example i: row r * b + i
    target = x.repeat(restarts, *[1] * (x.ndim - 1))  # (R * B, *shape)
    e = None if embedding is None else embedding.detach().repeat(restarts, 1)
    optimizer = torch.optim.Adam([z], lr=lr)
    was_training, wanted = model.generator.training, [p.requires_grad for p in model.generator.parameters()]
    model.generator.eval().requires_grad_(False)
    try:
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            error = (model.generator.decode(z, e) - target).flatten(1).pow(2).mean(1)  # (R * B,)
            loss = error + latent_weight * z.pow(2).mean(1)
            loss.sum().backward()
            optimizer.step()
        with torch.no_grad():
            error = (model.generator.decode(z, e) - target).flatten(1).pow(2).mean(1).view(restarts, b)
            best = error.argmin(0)  # (B,)
            return z.detach().view(restarts, b, d)[best, torch.arange(b, device=model.device)]
    finally:
        model.generator.train(was_training)
        for p, on in zip(model.generator.parameters(), wanted, strict=True):
            p.requires_grad_(on)


@torch.no_grad()
def interpolate(
    model: GAN,
    z0: torch.Tensor,
    z1: torch.Tensor,
    n: int,
    *,
    label0: Any = None,
    label1: Any = None,
) -> torch.Tensor:
    """``n`` samples ``(n, *data_shape)`` from ``z0`` to ``z1`` ``(latent_dim,)`` along the great
    circle; a class-conditional model's label embedding moves linearly from ``label0``'s to
    ``label1``'s (``label1`` defaults to ``label0``)."""
    if n < 2:
        raise GenplugError(f"interpolate draws at least the two ends: n >= 2, got {n}")
    t = torch.linspace(0, 1, n, device=model.device)
    z = slerp(z0.to(model.device), z1.to(model.device), t)  # (n, latent_dim)
    embedding = None
    if model.config.classes:
        e0 = _embeddings(model, label0, 1)
        e1 = _embeddings(model, label0 if label1 is None else label1, 1)
        embedding = (1 - t[:, None]) * e0 + t[:, None] * e1  # (n, latent_dim)
    elif label0 is not None or label1 is not None:
        raise GenplugError("model 'gan' is unconditional; it takes no label (train it with classes=N)")
    was_training = model.generator.training
    model.generator.eval()
    try:
        return model.generator.decode(z, embedding)
    finally:
        model.generator.train(was_training)
