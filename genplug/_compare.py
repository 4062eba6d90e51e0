"""``genplug.compare``: every family side by side on the same data, as rows, a table and a picture.

Each model (an installed architecture's packaged weights, a folder or a Hub id) is
scored by :func:`genplug.evaluate` on the same data, seed and number of samples, timed
drawing batches of 64 in this one process (one warm-up, then the median of several
runs, so the speeds compare as ratios), and described by its parameter count and, when
its folder has one, its ``training.json`` (steps, and CPU or wall time; a two-stage
recipe adds ``stage1_steps`` and, when ``cpu_seconds`` covers the second stage alone,
``stage1_cpu_seconds``). A model that fails is a row with the reason; the others go on.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from genplug._api import load, resolve_reference, sample
from genplug._data import load_data
from genplug._errors import GenplugError, shown
from genplug._evaluate import evaluate
from genplug._files import atomic_write_bytes, atomic_write_json, read_json
from genplug._images import image_grid, scatter
from genplug._plugins import registry

__all__ = ["compare", "write_report"]

SPEED_BATCH = 64
SPEED_RUNS = 3
# columns of compare.md: (row key, header, format)
COLUMNS = (
    ("model", "model", "{}"),
    ("sampler", "sampler", "{}"),
    ("fd", "FD", "{:.2f}"),
    ("fd_ratio", "FD / floor", "{:.2f}"),
    ("confidence", "confidence", "{:.3f}"),
    ("coverage", "coverage", "{:.3f}"),
    ("conditional_accuracy", "cond. accuracy", "{:.3f}"),
    ("energy_ratio", "energy / floor", "{:.2f}"),
    ("nll", "NLL (nats)", "{}"),
    ("samples_per_second", "samples/s (batch 64)", "{:.1f}"),
    ("parameters", "parameters", "{:,}"),
    ("training", "training", "{}"),
)


def _name(ref: Any) -> str:
    return str(ref) if isinstance(ref, (str, Path)) else getattr(ref, "architecture", type(ref).__name__)


def _nll(figures: dict[str, Any]) -> str | None:
    """``"86.77 elbo, discrete"``: every NLL figure with its kind and space, never mixed unnamed."""
    parts = []
    for key, value in figures.items():
        if key.startswith("nll_") and key.endswith("_nats"):
            label = key[len("nll_") : -len("_nats")]
            parts.append(f"{value:.2f} {label}, {figures.get(f'nll_{label}_space', '?')}")
    return "; ".join(parts) or None


def _speed(model: Any, sampler: str | None, seed: int) -> float:
    """Samples per second drawing batches of 64: one warm-up, the median of the timed runs."""
    g = torch.Generator(getattr(model, "device", "cpu")).manual_seed(seed)
    sample(model, SPEED_BATCH, sampler=sampler, generator=g)  # warm-up
    times = []
    for _ in range(SPEED_RUNS):
        start = time.perf_counter()
        sample(model, SPEED_BATCH, sampler=sampler, generator=g)
        times.append(time.perf_counter() - start)
    return SPEED_BATCH / statistics.median(times)


def _training(ref: Any) -> str | None:
    if not isinstance(ref, (str, Path)):
        return None
    try:
        record = read_json(resolve_reference(ref) / "training.json", what="training record")
    except GenplugError:
        return None
    steps = record.get("steps")
    if steps is None:
        steps = (record.get("train_config") or {}).get("steps")
    text = f"{steps} steps" if isinstance(steps, int) else ""
    first, first_cpu = record.get("stage1_steps"), record.get("stage1_cpu_seconds")
    if isinstance(first, int) and text:  # a two-stage recipe: both stages' steps (and CPU time, when apart)
        text = f"{first} + {text}"
    cpu, seconds = record.get("cpu_seconds"), record.get("seconds")
    if isinstance(cpu, (int, float)):  # a training script's process CPU time: load does not inflate it
        text += f", {cpu + (first_cpu if isinstance(first_cpu, (int, float)) else 0):.0f} CPU s"
    elif isinstance(seconds, (int, float)):
        text += f", {seconds:.0f} s"
    return text or None


def _defaults(data: str) -> dict[str, Any]:
    """Every installed generator with packaged weights that draw samples shaped like
    ``data``'s (a text model is left out of a comparison on images, and so is a model that
    only encodes, such as a VQ-VAE), with the model loaded to see that (so it is not loaded
    twice), or its name alone when it fails to load: its row then says why."""
    shape = tuple(load_data(data, "test").x.shape[1:])
    specs = registry().architectures.items()
    names = sorted(name for name, spec in specs if spec.default_weights and "generator" in spec.provides)
    fits: dict[str, Any] = {}
    for name in names:
        try:
            model = load(name)
        except Exception:  # its row says why
            fits[name] = name
            continue
        if tuple(getattr(model, "event_shape", shape)) == shape:
            fits[name] = model
    return fits


def _row(
    ref: Any, model: Any, data: str, n: int, seed: int, sampler: str | None, metrics: Sequence[str] | None
) -> dict:
    """The figures of one model; ``model`` is ``ref`` itself until loaded here."""
    model = load(ref) if isinstance(model, (str, Path)) else model
    figures = evaluate(model, data, n=n, seed=seed, sampler=sampler, metrics=metrics)
    row: dict[str, Any] = {**figures, "model": _name(ref), "sampler": sampler or "default"}
    row["nll"] = _nll(figures)
    row["samples_per_second"] = _speed(model, sampler, seed)
    row["parameters"] = sum(p.numel() for p in model.parameters()) if hasattr(model, "parameters") else None
    row["training"] = _training(ref)
    g = torch.Generator(getattr(model, "device", "cpu")).manual_seed(seed)
    row["_samples"] = sample(model, 64 if len(getattr(model, "event_shape", ())) == 3 else 1000, sampler=sampler,
                             generator=g).detach().float().cpu()  # fmt: skip
    return row


def compare(
    models: Sequence[str | Path | Any] | None = None,
    data: str = "digits",
    n: int = 1000,
    *,
    seed: int = 0,
    samplers: dict[str, str] | None = None,
    metrics: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Score ``models`` side by side on ``data``; returns one row (a dict) per model.

    Arguments:
        models: references (architecture names, folders, Hub ids) or model objects;
            ``None``: every installed architecture whose default weights draw samples
            shaped like ``data``.
        data: the dataset every model is scored on.
        n: samples each sample-based metric draws.
        seed: the seed of every metric and of the speed runs.
        samplers: ``{architecture or reference: sampler name}``; others use their default.
        metrics: metric names (default: every one that applies to the data).
        progress: called with one line per model as it starts.

    A row holds the model's name, its sampler, every figure ``genplug.evaluate`` gives,
    ``nll`` (each NLL with its kind and space), ``samples_per_second``, ``parameters``,
    ``training`` (from its ``training.json``), or ``error`` when it failed.
    """
    loaded: dict[str, Any] = {}
    if models is None:
        loaded = _defaults(data)
        models = list(loaded)
    if not models:
        raise GenplugError("nothing to compare: give architectures, folders or Hub ids (none ship default weights)")
    samplers = dict(samplers or {})
    rows = []
    for i, ref in enumerate(models, 1):
        name = _name(ref)
        if progress is not None:
            progress(f"[{i}/{len(models)}] {name}")
        try:
            rows.append(_row(ref, loaded.get(name, ref), data, n, seed, samplers.get(name), metrics))
        except Exception as exc:  # a model that fails is reported in its row; the others go on
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            rows.append(
                {"model": name, "sampler": samplers.get(name) or "default", "error": shown(first, limit=300)[1:-1]}
            )
    return rows


def _cell(row: dict[str, Any], key: str, fmt: str) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return fmt.format(value).replace("|", "\\|")


def _table(rows: list[dict[str, Any]]) -> str:
    ok = sorted((r for r in rows if "error" not in r), key=lambda r: r.get("fd", math.inf))
    failed = [r for r in rows if "error" in r]
    columns = [c for c in COLUMNS if any(r.get(c[0]) is not None for r in ok) or c[0] == "model"]
    lines = ["| " + " | ".join(h for _, h, _ in columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    lines += ["| " + " | ".join(_cell(r, k, f) for k, _, f in columns) + " |" for r in ok]
    lines += [f"| {r['model']} | failed: {r['error'].replace('|', '/')} |" for r in failed]
    return "\n".join(lines) + "\n"


def _picture(rows: list[dict[str, Any]]) -> bytes:
    """Sample grids side by side with names and figures, then FD/floor against samples/s."""
    from PIL import Image, ImageDraw

    tiles = []
    for row in rows:
        x = row.get("_samples")
        if x is None:
            continue
        grid = image_grid(x.clamp(0, 1), min_tile=24) if x.ndim == 4 else scatter(x, size=256)
        array = (grid.clamp(0, 1) * 255).byte().permute(1, 2, 0).numpy()
        img = Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array).convert("RGB")
        label = Image.new("RGB", (img.width, 36), "white")
        draw = ImageDraw.Draw(label)
        draw.text((4, 2), row["model"], fill="black")
        fd = f"FD/floor {row['fd_ratio']:.2f}" if "fd_ratio" in row else ""
        draw.text((4, 18), f"{fd}  {row['samples_per_second']:.0f}/s".strip(), fill="black")
        tile = Image.new("RGB", (img.width, img.height + 36), "white")
        tile.paste(label, (0, 0))
        tile.paste(img, (0, 36))
        tiles.append(tile)
    plot = _scatter_plot([r for r in rows if "fd_ratio" in r and "samples_per_second" in r])
    width = max(sum(t.width + 8 for t in tiles), plot.width if plot else 0, 1)
    height = max((t.height for t in tiles), default=0) + (plot.height + 8 if plot else 0)
    canvas = Image.new("RGB", (width, max(height, 1)), "white")
    left = 0
    for tile in tiles:
        canvas.paste(tile, (left, 0))
        left += tile.width + 8
    if plot is not None:
        canvas.paste(plot, (0, max((t.height for t in tiles), default=0) + 8))
    import io

    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()


def _scatter_plot(rows: list[dict[str, Any]]) -> Any:
    """Quality (FD / floor, lower is better) against speed (samples/s, log scale)."""
    if not rows:
        return None
    from PIL import Image, ImageDraw

    w, h, pad = 520, 320, 50
    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)
    speeds = [math.log10(r["samples_per_second"]) for r in rows]
    ratios = [r["fd_ratio"] for r in rows]
    lo_s, hi_s = min(speeds) - 0.2, max(speeds) + 0.2
    lo_r, hi_r = 0.0, max(ratios) * 1.15
    draw.rectangle((pad, 10, w - 10, h - pad), outline="black")
    draw.text((pad, h - 20), "samples per second, log scale (right: faster); up: worse FD / floor", fill="black")
    draw.text((4, 10), "FD /\nfloor", fill="black")
    for r, s, q in zip(rows, speeds, ratios, strict=True):
        x = pad + (s - lo_s) / (hi_s - lo_s) * (w - 10 - pad)
        y = h - pad - (q - lo_r) / (hi_r - lo_r) * (h - pad - 10)
        draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=(30, 80, 200))
        text = f"{r['model']} ({q:.2f}, {r['samples_per_second']:.0f}/s)"
        width = draw.textlength(text)
        draw.text((x + 6 if x + 6 + width < w - 12 else x - 6 - width, y - 6), text, fill="black")
    return img


def write_report(rows: list[dict[str, Any]], out: str | Path) -> Path:
    """Write ``compare.md``, ``compare.json`` and ``compare.png`` into the folder ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    public = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    atomic_write_bytes(out / "compare.md", _table(rows).encode())
    atomic_write_json(out / "compare.json", public)
    atomic_write_bytes(out / "compare.png", _picture(rows))
    return out
