"""Mode collapse, measured: how many of a mixture's modes a model's samples cover.

The measure of the unrolled-GAN paper (Metz et al. 2017, section 3.1) on genplug's
``8gaussians`` (eight Gaussians of standard deviation 0.35 on a circle of radius 2.8):
a sample is *near* a mode when it lies within 3 standard deviations of its centre, and
a mode is *covered* when at least 2% of the samples are near it. A collapsed generator
covers few modes; a blurry one covers all of them but puts few samples near any.

Example:
    >>> import genplug
    >>> modes, near = mode_coverage(genplug.load_data("8gaussians", "test").x)
    >>> modes, near > 0.98  # the data: 1 - exp(-4.5) = 98.9% within 3 std in 2-D
    (8, True)

References:
    Metz et al. Unrolled Generative Adversarial Networks. ICLR 2017. arXiv:1611.02163.
"""

from __future__ import annotations

import math

import torch

__all__ = ["EIGHT_GAUSSIANS", "mode_coverage"]

#: ``8gaussians``: the modes' centres ``(8, 2)`` and their standard deviation.
EIGHT_GAUSSIANS = (
    2.8 * torch.stack([torch.cos(torch.arange(8) * math.pi / 4), torch.sin(torch.arange(8) * math.pi / 4)], 1),
    0.35,
)


def mode_coverage(
    x: torch.Tensor, centers: torch.Tensor = EIGHT_GAUSSIANS[0], std: float = EIGHT_GAUSSIANS[1]
) -> tuple[int, float]:
    """The modes covered (of ``len(centers)``) and the fraction of samples ``x`` ``(N, 2)``
    within 3 ``std`` of a mode."""
    distance, mode = torch.cdist(x.float(), centers.to(x.device)).min(1)  # (N,) each
    near = distance < 3 * std
    counts = torch.bincount(mode[near], minlength=len(centers))
    return int((counts >= 0.02 * len(x)).sum()), float(near.float().mean())
