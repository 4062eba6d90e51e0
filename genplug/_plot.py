"""Training curves: the figures of one or more runs' ``metrics.jsonl``, one panel per figure.

``genplug train --out RUN`` writes ``RUN/metrics.jsonl``, one JSON line per ``log_every``
steps: ``{"step": 30, "loss": 136.5, "kl": 0.07, ...}``. :func:`read_metrics` reads it,
:func:`plot_curves` draws every numeric figure against the step, each run a line in the
same colour in every panel, for comparing runs by eye. Drawing needs matplotlib, the
optional extra ``genplug[plot]``; it is imported only here, when a plot is drawn.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genplug._errors import GenplugError, shown
from genplug._files import atomic_write_bytes, check_output_path

__all__ = ["PLOT_SUFFIXES", "plot_curves", "read_metrics"]

#: What ``plot_curves`` writes, by the output's suffix.
PLOT_SUFFIXES = (".png", ".svg", ".pdf")
#: The most lines one ``metrics.jsonl`` may hold (a million steps at ``log_every=1``).
MAX_LINES = 1_000_000


def read_metrics(run: str | Path) -> dict[str, list[tuple[int, float]]]:
    """``{figure: [(step, value), ...]}`` from a run folder's ``metrics.jsonl`` (or that file).

    Numbers only (booleans and text are left out); every line must be a JSON object with
    an integer ``step``.
    """
    path = Path(run)
    file = path / "metrics.jsonl" if path.is_dir() else path
    if not file.is_file():
        what = "has no metrics.jsonl" if path.is_dir() else "is neither a run folder nor a metrics.jsonl file"
        raise GenplugError(f"{shown(str(run))} {what}; give a folder written by `genplug train --out FOLDER`")
    curves: dict[str, list[tuple[int, float]]] = {}
    with file.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if number > MAX_LINES:
                raise GenplugError(f"{shown(str(file))} has more than {MAX_LINES:,} lines; is it a metrics.jsonl?")
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                text = shown(line.strip(), limit=60)
                raise GenplugError(f"{shown(str(file))}, line {number}: not JSON ({text})") from None
            step = record.get("step") if isinstance(record, dict) else None
            if isinstance(step, bool) or not isinstance(step, int):
                raise GenplugError(f"{shown(str(file))}, line {number}: a JSON object with an integer 'step' expected")
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                    curves.setdefault(key, []).append((step, float(value)))
    if not curves:
        raise GenplugError(f"{shown(str(file))} holds no figures yet; train for at least log_every steps")
    return curves


def _matplotlib_figure() -> Any:
    """matplotlib's ``Figure`` class, imported on use; one line naming the extra when it is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise GenplugError("plotting needs matplotlib: pip install 'genplug[plot]'") from None
    return Figure


def plot_curves(
    runs: Sequence[str | Path], out: str | Path, *, figures: Sequence[str] | None = None, log_y: bool = False
) -> Path:
    """Draw the training curves of ``runs`` into ``out`` (``.png``, ``.svg`` or ``.pdf``).

    Arguments:
        runs: run folders (or their ``metrics.jsonl`` files); each is one line per panel,
            labelled with the path as given.
        out: the picture to write.
        figures: the figures to draw, one panel each (default: every one the runs logged,
            in the order they first appear).
        log_y: a logarithmic value axis (only panels whose values are all positive).
    """
    if not runs:
        raise GenplugError("give at least one run folder to plot")
    out = check_output_path(out, suffixes=PLOT_SUFFIXES)
    Figure = _matplotlib_figure()
    curves = {str(run): read_metrics(run) for run in runs}
    logged = list(dict.fromkeys(key for run in curves.values() for key in run))
    if figures:
        unknown = [f for f in figures if f not in logged]
        if unknown:
            raise GenplugError(f"no run logged {', '.join(map(shown, unknown))}; they logged: {', '.join(logged)}")
    chosen = list(figures or logged)
    columns = min(3, len(chosen))
    rows = math.ceil(len(chosen) / columns)
    fig = Figure(figsize=(4.2 * columns, 3.0 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    colours = [f"C{i % 10}" for i in range(len(curves))]
    for ax, key in zip(axes, chosen, strict=False):
        for (name, run), colour in zip(curves.items(), colours, strict=True):
            points = run.get(key)
            if points:
                steps, values = zip(*points, strict=True)
                ax.plot(steps, values, color=colour, label=name, linewidth=1.2)
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        values = [v for run in curves.values() for _, v in run.get(key, [])]
        if log_y and values and min(values) > 0:
            ax.set_yscale("log")
    for ax in axes[len(chosen) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize="small")
    buf = io.BytesIO()
    fig.savefig(buf, format=out.suffix.lower().lstrip("."), dpi=110)
    atomic_write_bytes(out, buf.getvalue())
    return out
