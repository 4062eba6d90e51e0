"""The run's folder: its lock, what a killed run leaves behind, ``metrics.jsonl`` on
resume, and previews. Only the process of rank 0 touches it."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from genplug._api import sample
from genplug._data import load_data
from genplug._errors import GenplugError
from genplug._files import atomic_write_bytes
from genplug._images import save_samples
from genplug._metrics import image_scores

__all__ = ["LOCK_NAME", "clean_leftovers", "locked", "preview", "rewind_metrics"]

LOCK_NAME = ".genplug-train.lock"


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold ``out``'s lock for the run; a second run on the same folder is refused at once."""
    try:
        import fcntl
    except ImportError:  # not on this platform: no lock
        yield
        return
    path = out / LOCK_NAME
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GenplugError(
                f"another training run is writing to {out}; wait for it to end, or give this one another --out"
            ) from None
        yield
    finally:
        handle.close()
        path.unlink(missing_ok=True)


def clean_leftovers(out: Path) -> None:
    """Remove what a killed run may have left: a half-written checkpoint and atomic-write temporaries."""
    shutil.rmtree(out / "checkpoint.tmp", ignore_errors=True)
    for tmp in out.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def rewind_metrics(path: Path, step: int) -> None:
    """Keep the lines of ``metrics.jsonl`` up to ``step``, so a resumed run writes no duplicates."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except (ValueError, AttributeError):
            continue  # a line cut by the kill
    atomic_write_bytes(path, "".join(f"{line}\n" for line in kept).encode())


def preview(model: Any, out: Path, step: int, seed: int) -> dict[str, float]:
    """A sample grid in ``out/previews`` and, for digit-shaped models, FD: figures for metrics.jsonl."""
    shape = tuple(getattr(model, "event_shape", ()) or ())
    is_image, is_points = len(shape) == 3 and shape[0] in (1, 3), shape == (2,)
    if not (is_image or is_points):
        return {}
    rng = torch.get_rng_state()  # the preview must not change the training's random draws
    try:
        g = torch.Generator(getattr(model, "device", "cpu")).manual_seed(seed)
        x = sample(model, 64 if is_image else 1000, generator=g).float().cpu()
    finally:
        torch.set_rng_state(rng)
    folder = out / "previews"
    folder.mkdir(exist_ok=True)
    if x.is_floating_point():  # a preview: images clamped to [0, 1] for display (genplug run refuses instead)
        save_samples(x.clamp(0, 1) if is_image else x, folder / f"step-{step:07d}.png")
    figures: dict[str, float] = {}
    if shape == (1, 8, 8) and x.is_floating_point():
        scores = image_scores(x.clamp(0, 1), load_data("digits", "test"))
        figures = {"preview_fd": scores["fd"], "preview_coverage": scores["coverage"]}
    return figures
