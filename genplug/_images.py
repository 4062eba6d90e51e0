"""Writing samples: a PNG grid (or scatter plot for 2-D points), ``.npy`` or ``.safetensors``."""

from __future__ import annotations

import io
import math
from pathlib import Path

import torch

from genplug._errors import GenplugError
from genplug._files import atomic_write_bytes, check_output_path, save_tensors

__all__ = ["image_grid", "png_bytes", "save_samples", "scatter"]


def image_grid(x: torch.Tensor, *, nrow: int | None = None, min_tile: int = 32, pad: int = 1) -> torch.Tensor:
    """Arrange ``(N, C, H, W)`` images in [0, 1] into one ``(C, H', W')`` grid.

    Small images are scaled up (nearest neighbour) so each tile is at least ``min_tile``
    pixels high; tiles are separated by ``pad`` pixels of black.

    Example:
        >>> import torch
        >>> image_grid(torch.rand(10, 1, 8, 8)).shape  # 4 x 3 tiles of 32 x 32, 1-pixel gaps
        torch.Size([1, 100, 133])
    """
    if x.ndim != 4:
        raise GenplugError(f"image_grid takes (N, C, H, W) images, got shape {tuple(x.shape)}")
    n, c, h, w = x.shape
    scale = max(1, math.ceil(min_tile / h))
    x = x.detach().float().cpu().clamp(0, 1)
    if scale > 1:
        x = x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
        h, w = h * scale, w * scale
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    grid = torch.zeros(c, rows * (h + pad) + pad, nrow * (w + pad) + pad)
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, top : top + h, left : left + w] = x[i]
    return grid


def png_bytes(grid: torch.Tensor) -> bytes:
    """Encode a ``(C, H, W)`` tensor in [0, 1] (C = 1 or 3) as PNG."""
    from PIL import Image

    array = (grid.clamp(0, 1) * 255).round().to(torch.uint8)
    c, h, w = array.shape
    mode = "L" if c == 1 else "RGB"
    data = array[0] if c == 1 else array.permute(1, 2, 0)
    img = Image.frombytes(mode, (w, h), data.contiguous().numpy().tobytes())
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def scatter(points: torch.Tensor, *, reference: torch.Tensor | None = None, size: int = 512) -> torch.Tensor:
    """A ``(3, size, size)`` scatter plot of 2-D points (blue) over ``reference`` (grey)."""
    everything = points if reference is None else torch.cat([points, reference])
    lo = everything.min(0).values
    hi = everything.max(0).values
    span = (hi - lo).max().clamp_min(1e-6) * 1.05
    center = (hi + lo) / 2
    canvas = torch.ones(3, size, size)

    def draw(p: torch.Tensor, color: tuple[float, float, float]) -> None:
        uv = ((p - center) / span + 0.5) * (size - 1)
        u = uv[:, 0].round().long().clamp(0, size - 1)
        v = (size - 1 - uv[:, 1].round().long()).clamp(0, size - 1)
        for channel, value in enumerate(color):
            canvas[channel, v, u] = value

    if reference is not None:
        draw(reference.float(), (0.75, 0.75, 0.75))
    draw(points.float(), (0.1, 0.3, 0.8))
    return canvas


def save_samples(x: torch.Tensor, path: str | Path, *, nrow: int | None = None) -> Path:
    """Write samples to ``path`` by its suffix, atomically.

    ``.png``: a grid for images ``(N, C, H, W)`` (``nrow`` per row; ``nrow=N`` gives a
    strip), a scatter plot for 2-D points ``(N, 2)``.
    ``.npy`` / ``.safetensors``: the raw samples (key ``samples``) as float32.
    """
    path = check_output_path(path)
    x = x.detach().cpu()
    suffix = path.suffix.lower()
    if suffix == ".png":
        if x.ndim == 4 and x.shape[1] in (1, 3):
            atomic_write_bytes(path, png_bytes(image_grid(x, nrow=nrow)))
        elif x.ndim == 2 and x.shape[1] == 2:
            atomic_write_bytes(path, png_bytes(scatter(x)))
        else:
            raise GenplugError(
                f"cannot draw samples of shape {tuple(x.shape[1:])} as a PNG (images (C, H, W) with C = 1 or 3, "
                "or 2-D points); write .npy or .safetensors instead"
            )
    elif suffix == ".npy":
        import numpy as np

        buf = io.BytesIO()
        np.save(buf, x.float().numpy() if x.is_floating_point() else x.numpy(), allow_pickle=False)
        atomic_write_bytes(path, buf.getvalue())
    else:
        save_tensors(path, {"samples": x.float() if x.is_floating_point() else x})
    return path
