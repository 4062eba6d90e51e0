"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for a GAN's discriminator.

With little data the discriminator memorises the training set: its real scores run away
from its fake scores, and the generator's samples stop improving or get worse with more
steps. DiffAugment shows the discriminator only augmented images, real and fake alike,
and lets the generator's gradient flow back through the same augmentation. Because the
fakes are augmented as well, the generator is not taught to produce augmented images
(unlike augmenting the data set itself): it only loses the discriminator's easy win.

The policies, for images in [0, 1] (genplug's convention), each drawn per example:

=================  ==========================================================================
``translation``    shift by up to ``ceil(side / 8)`` pixels along each axis; the pixels shifted
                   in are 0 (the digits' background)
``brightness``     add a value uniform in [-0.25, 0.25] (DiffAugment's ±0.5 on [-1, 1] data)
``contrast``       scale the distance from the image's mean by a factor uniform in [0.5, 1.5]
``cutout``         set a square of half the side, centred anywhere, to 0
=================  ==========================================================================

``color`` stands for ``brightness,contrast`` (DiffAugment's saturation has nothing to act
on in one channel and is left out). ``genplug train gan -t augment=translation,color``.
A training step takes :func:`view` of its option once and passes every image the
discriminator judges through it (genplug-gan's GAN, genplug-hybrid's VAE-GAN).

Reference:
    Zhao, Liu, Lin, Zhu, Han. Differentiable Augmentation for Data-Efficient GAN Training.
    NeurIPS 2020. arXiv:2006.10738.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from genplug import ConfigError, GenplugError

__all__ = ["POLICIES", "augment", "check_policy", "parse_policy", "view"]

POLICIES = ("translation", "brightness", "contrast", "cutout")
ALIASES = {"color": ("brightness", "contrast")}


def parse_policy(text: str) -> tuple[str, ...]:
    """``"translation,color"`` -> ``("translation", "brightness", "contrast")``; ``""`` -> ``()``."""
    names: list[str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        for name in ALIASES.get(part, (part,)):
            if name not in POLICIES:
                known = ", ".join((*POLICIES, *ALIASES))
                raise ConfigError(f"unknown augmentation {part!r} in augment={text!r}; choose from {known}")
            if name not in names:
                names.append(name)
    return tuple(names)


def check_policy(_: Any, attribute: Any, text: str) -> None:
    """An attrs validator for an ``augment`` option: :func:`parse_policy` must read it."""
    parse_policy(text)


def view(text: str, batch: torch.Tensor, generator: torch.Generator | None = None) -> Callable[..., torch.Tensor]:
    """What a discriminator sees of an image under the policy ``text``, for one training step
    on ``batch``: ``x`` augmented, or ``x`` itself when ``text`` is ``""``.

    Raises:
        GenplugError: a policy for a batch of vectors (the augmentations act on images).
    """
    policy = parse_policy(text)
    if policy and batch.dim() != 4:
        raise GenplugError(f"augment={text!r} works on images (B, C, H, W); this data is {tuple(batch.shape[1:])}")
    return (lambda x: augment(x, policy, generator)) if policy else (lambda x: x)


def augment(x: torch.Tensor, policy: tuple[str, ...], generator: torch.Generator | None = None) -> torch.Tensor:
    """``x`` (B, C, H, W) with each of ``policy``'s augmentations applied, in order; differentiable in ``x``."""
    for name in policy:
        x = _AUGMENTATIONS[name](x, generator)
    return x


def _uniform(x: torch.Tensor, generator: torch.Generator | None, low: float, high: float) -> torch.Tensor:
    u = torch.rand(len(x), 1, 1, 1, generator=generator, device=x.device, dtype=x.dtype)
    return low + (high - low) * u


def _brightness(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return x + _uniform(x, generator, -0.25, 0.25)


def _contrast(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(x, generator, 0.5, 1.5) + mean


def _translation(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    b, _, h, w = x.shape
    sy, sx = math.ceil(h / 8), math.ceil(w / 8)
    dy = torch.randint(-sy, sy + 1, (b, 1), generator=generator, device=x.device)
    dx = torch.randint(-sx, sx + 1, (b, 1), generator=generator, device=x.device)
    rows = torch.arange(h, device=x.device) + sy - dy  # (B, H): the padded row each output row reads
    cols = torch.arange(w, device=x.device) + sx - dx  # (B, W)
    padded = F.pad(x, (sx, sx, sy, sy))
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = (h + 1) // 2, (w + 1) // 2
    top = torch.randint(0, h + 1, (b, 1, 1), generator=generator, device=x.device) - ch // 2  # the centre: any row
    left = torch.randint(0, w + 1, (b, 1, 1), generator=generator, device=x.device) - cw // 2
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    hole = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)  # (B, H, W); clipped at the edges
    return x * (~hole)[:, None].to(x.dtype)


_AUGMENTATIONS = {
    "translation": _translation,
    "brightness": _brightness,
    "contrast": _contrast,
    "cutout": _cutout,
}
