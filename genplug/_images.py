"""Writing samples: a PNG grid (or scatter plot for 2-D points), ``.npy``, ``.safetensors``
or ``.txt`` (token samples, one per line).

A PNG shows images in [0, 1]; integer samples (tokens) and floats outside [0, 1] are
refused with one line rather than clamped into a picture that means nothing.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from genplug._errors import GenplugError
from genplug._files import OUTPUT_SUFFIXES, atomic_write_bytes, check_output_path, save_tensors

if TYPE_CHECKING:
    from genplug._tokenizer import Tokenizer

__all__ = [
    "GUTTER",
    "RANGE_TOLERANCE",
    "SAMPLE_SUFFIXES",
    "check_unit_range",
    "image_grid",
    "png_bytes",
    "save_samples",
    "scatter",
    "text_lines",
]

#: How far outside [0, 1] an image value may stray (float rounding) before it is refused.
RANGE_TOLERANCE = 1e-6
#: The suffixes ``save_samples`` writes.
SAMPLE_SUFFIXES = tuple(dict.fromkeys((*OUTPUT_SUFFIXES, ".txt")))
#: The grey of the gutters between tiles: mid-grey shows on black digits and on white ones.
GUTTER = 0.5


def check_unit_range(x: torch.Tensor, *, what: str = "images") -> None:
    """Refuse integer ``x`` and values outside [0, 1] (by more than :data:`RANGE_TOLERANCE`), in one line.

    Example:
        >>> check_unit_range(torch.tensor([0.0, 1.5]))
        Traceback (most recent call last):
        ...
        genplug._errors.GenplugError: images must be floats in [0, 1]; these hold values from 0 to 1.5. ...
    """
    if not (x.is_floating_point() or x.dtype == torch.bool):
        raise GenplugError(
            f"{what} must be floats in [0, 1]; these are {str(x.dtype).removeprefix('torch.')} (token ids?). "
            "Write integer samples to .txt or .npy, or map them to [0, 1] (e.g. x / (levels - 1)) first"
        )
    if x.numel() == 0:
        return
    lo, hi = float(x.min()), float(x.max())
    if not (lo >= -RANGE_TOLERANCE and hi <= 1 + RANGE_TOLERANCE):  # also catches NaN
        raise GenplugError(
            f"{what} must be floats in [0, 1]; these hold values from {lo:.4g} to {hi:.4g}. Map them to [0, 1] "
            "first (e.g. (x - x.min()) / (x.max() - x.min())), or write the raw samples to .npy"
        )


def image_grid(
    x: torch.Tensor, *, nrow: int | None = None, min_tile: int = 32, pad: int = 2, gutter: float = GUTTER
) -> torch.Tensor:
    """Arrange ``(N, C, H, W)`` images in [0, 1] into one ``(C, H', W')`` grid.

    Small images are scaled up (nearest neighbour) so each tile is at least ``min_tile``
    pixels high; tiles are separated, and framed, by ``pad`` pixels of the grey ``gutter``
    (mid-grey by default, so the gaps show between digits drawn on black as well as on
    white). Values are clamped to [0, 1] here (a preview); :func:`save_samples` refuses
    out-of-range images before.

    Example:
        >>> import torch
        >>> image_grid(torch.rand(10, 1, 8, 8)).shape  # 4 x 3 tiles of 32 x 32, 2-pixel gutters
        torch.Size([1, 104, 138])
    """
    if x.ndim != 4:
        raise GenplugError(f"image_grid takes (N, C, H, W) images, got shape {tuple(x.shape)}")
    if not 0.0 <= gutter <= 1.0 or pad < 0:
        raise GenplugError(f"image_grid: gutter is a grey in [0, 1] and pad >= 0; got gutter={gutter}, pad={pad}")
    n, c, h, w = x.shape
    scale = max(1, math.ceil(min_tile / h))
    x = x.detach().float().cpu().clamp(0, 1)
    if scale > 1:
        x = x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
        h, w = h * scale, w * scale
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    grid = torch.full((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), float(gutter))
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, top : top + h, left : left + w] = x[i]
    return grid


def png_bytes(grid: torch.Tensor) -> bytes:
    """Encode a ``(C, H, W)`` tensor in [0, 1] (C = 1 or 3) as PNG."""
    from PIL import Image

    check_unit_range(grid)
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


_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def text_lines(x: torch.Tensor, tokenizer: Tokenizer | None = None) -> str:
    r"""Token samples ``(N, T)`` as text, one sample per line.

    With a tokenizer each sample is decoded, and backslash, newline, carriage return and
    tab are written as ``\\``, ``\n``, ``\r`` and ``\t`` so that one line stays one sample.
    Without one, each line holds the sample's ids separated by spaces.

    Example:
        >>> from genplug._tokenizer import CharTokenizer
        >>> print(text_lines(torch.tensor([[0, 1, 2], [2, 2, 0]]), CharTokenizer(["a", "b", "\n"])), end="")
        ab\n
        \n\na
        >>> print(text_lines(torch.tensor([[0, 1, 2], [2, 2, 0]])), end="")
        0 1 2
        2 2 0
    """
    if x.is_floating_point() or x.dtype == torch.bool or x.is_complex():
        raise GenplugError(
            f".txt holds token samples (integers); these are {str(x.dtype).removeprefix('torch.')}. "
            "Write .png, .npy or .safetensors instead"
        )
    if x.ndim != 2:
        raise GenplugError(f".txt holds token sequences shaped (N, T); got samples of shape {tuple(x.shape)}")
    rows = x.tolist()
    if tokenizer is None:
        return "".join(" ".join(map(str, row)) + "\n" for row in rows)
    return "".join(tokenizer.decode(row).translate(_ESCAPES) + "\n" for row in rows)


def save_samples(
    x: torch.Tensor, path: str | Path, *, nrow: int | None = None, tokenizer: Tokenizer | None = None
) -> Path:
    """Write samples to ``path`` by its suffix, atomically.

    ``.png``: a grid for images ``(N, C, H, W)`` in [0, 1] (``nrow`` per row; ``nrow=N``
    gives a strip), a scatter plot for 2-D points ``(N, 2)``; integer samples and images
    outside [0, 1] are refused.
    ``.npy`` / ``.safetensors``: the raw samples (key ``samples``), floats as float32.
    ``.txt``: token samples ``(N, T)``, one per line, decoded with ``tokenizer`` when given
    (see :func:`text_lines`), else as space-separated ids.
    """
    path = check_output_path(path, suffixes=SAMPLE_SUFFIXES)
    x = x.detach().cpu()
    suffix = path.suffix.lower()
    if suffix == ".png":
        if not (x.is_floating_point() or x.dtype == torch.bool):
            raise GenplugError(
                f"cannot draw {str(x.dtype).removeprefix('torch.')} samples (token ids?) as a PNG; "
                "write .txt (decoded text), .npy or .safetensors instead"
            )
        if x.ndim == 4 and x.shape[1] in (1, 3):
            check_unit_range(x)  # before the grid, which clamps
            atomic_write_bytes(path, png_bytes(image_grid(x, nrow=nrow)))
        elif x.ndim == 2 and x.shape[1] == 2:
            atomic_write_bytes(path, png_bytes(scatter(x)))
        else:
            raise GenplugError(
                f"cannot draw samples of shape {tuple(x.shape[1:])} as a PNG (images (C, H, W) with C = 1 or 3, "
                "or 2-D points); write .npy or .safetensors instead"
            )
    elif suffix == ".txt":
        atomic_write_bytes(path, text_lines(x, tokenizer).encode("utf-8"))
    elif suffix == ".npy":
        import numpy as np

        buf = io.BytesIO()
        np.save(buf, x.float().numpy() if x.is_floating_point() else x.numpy(), allow_pickle=False)
        atomic_write_bytes(path, buf.getvalue())
    else:
        save_tensors(path, {"samples": x.float() if x.is_floating_point() else x})
    return path
