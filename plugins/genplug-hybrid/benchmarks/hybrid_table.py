"""Every hybrid next to its parts, in one table, measured in one process.

    OMP_NUM_THREADS=1 python plugins/genplug-hybrid/benchmarks/hybrid_table.py

runs :func:`genplug.compare` once over the packaged weights of every hybrid in
``HYBRIDS`` and of every part that is a generator on its own (1000 samples, seed 0, the
metrics ``fd``, ``accuracy`` and ``nll``), so FD ratios, bounds and sampling speeds are
measured side by side on one machine in one run, and speeds compare as ratios. A part
that is not a generator (the VQ-VAE is an encoder: it has no prior to sample from) gets a
row with what it has: its parameter count and its training record.

It writes ``docs/figures/hybrids/``: ``table.md`` (the table below; the hybrid plugin's
README and the hybrid docs page show it), ``compare.json`` (every figure) and
``compare.png`` (the sample grids side by side, and FD against speed).

Columns: FD / floor (1000 samples against the 300 held-out digits, divided by the FD of
the training digits themselves); conditional accuracy (models with a label); the NLL or
the bound, in nats per digit, with its kind (``elbo``: a bound; ``exact``: a likelihood;
``discrete``: of the 17-level data, comparable across families; ``dequantized``: a bound
on it too); samples per second drawing batches of 64; parameters; training (steps and
seconds, from ``training.json`` in the packaged folder, which ``genplug train`` writes,
or for parts that predate it, the figure their plugin's README records, marked ``*``).

The diffusion models' bound costs T = 1000 network calls per digit (about 5 CPU-minutes
each), so it is measured only with ``--diffusion-nll``; without it those cells say so.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

import genplug
from genplug._compare import write_report  # what `genplug compare -o` writes

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "docs" / "figures" / "hybrids"
N = 1000
SEED = 0

#: Each hybrid and the architectures it is made of (their packaged weights).
HYBRIDS: dict[str, tuple[str, ...]] = {
    "latent-diffusion": ("vae", "diffusion"),
    "vq-transformer": ("vq-vae", "transformer"),
    "vae-gan": ("vae", "gan"),
    "dit": ("diffusion",),
    "vae-flow-prior": ("vae",),
}
#: Models whose bound is T network calls per example (measured with --diffusion-nll only).
EXPENSIVE_NLL = ("diffusion", "dit")
NOT_MEASURED = "not measured (--diffusion-nll)"

#: Training of packaged weights that ship without a training.json, as their plugin's README
#: records it (the training script and its measured time); shown with a "*".
RECORDED: dict[str, str] = {
    "diffusion": "6000 steps, 738 s*",  # plugins/genplug-diffusion/README.md, "Default weights": 12.3 min
}


def _training(name: str) -> str:
    """Steps and time of the packaged weights: their training.json, else the README's figure."""
    try:
        folder = genplug.default_weights(name)
    except genplug.GenplugError:
        return "–"
    record_file = folder / "training.json"
    if record_file.exists():
        record = json.loads(record_file.read_text())
        steps = record.get("steps")
        seconds = record.get("cpu_seconds", record.get("seconds"))
        kind = "CPU s" if "cpu_seconds" in record else "s"
        return f"{steps} steps, {seconds:.0f} {kind}" if isinstance(seconds, (int, float)) else f"{steps} steps"
    return RECORDED.get(name, "–")


def _is_generator(name: str) -> bool:
    return "generator" in genplug.registry().architecture(name).provides


def measure(diffusion_nll: bool) -> list[dict[str, Any]]:
    """One compare run over every installed hybrid and every part; one row per model."""
    installed = genplug.registry().architectures
    names: list[str] = []
    for hybrid, parts in HYBRIDS.items():
        for name in (hybrid, *parts):
            if name in installed and name not in names:
                names.append(name)
    generators = [n for n in names if _is_generator(n)]
    cheap = [n for n in generators if diffusion_nll or n not in EXPENSIVE_NLL]
    expensive = [n for n in generators if n not in cheap]
    rows = genplug.compare(cheap, "digits", N, seed=SEED, metrics=["fd", "accuracy", "nll"], progress=print)
    if expensive:
        rows += genplug.compare(expensive, "digits", N, seed=SEED, metrics=["fd", "accuracy"], progress=print)
        for row in rows[-len(expensive) :]:
            row["nll"] = NOT_MEASURED
    for name in names:
        if name not in generators:
            model = genplug.load(name)
            rows.append({"model": name, "parameters": sum(p.numel() for p in model.parameters()), "encoder_only": True})
    for row in rows:
        row["training"] = _training(row["model"])
    return rows


def _cell(row: dict[str, Any], key: str, fmt: str) -> str:
    value = row.get(key)
    if value is None:
        return "–"
    return fmt.format(value).replace("|", "\\|")


def render(rows: list[dict[str, Any]]) -> str:
    """The Markdown table: each hybrid's row in bold, then its parts' rows."""
    by_name = {row["model"]: row for row in rows}
    header = "| model | made of | FD / floor | cond. accuracy | NLL or bound, nats (kind) | samples/s | parameters "
    header += "| training |"
    lines = [header, "| --- | --- | ---: | ---: | --- | ---: | ---: | --- |"]
    for hybrid, parts in HYBRIDS.items():
        if hybrid not in by_name:
            continue
        for name in (hybrid, *parts):
            row = by_name.get(name)
            if row is None:
                continue
            shown = f"**{name}**" if name == hybrid else f"└ {name}"
            made_of = " + ".join(parts) if name == hybrid else "part"
            if "error" in row:
                lines.append(f"| {shown} | {made_of} | failed: {row['error']} | | | | | |")
                continue
            speed = "encoder only" if row.get("encoder_only") else _cell(row, "samples_per_second", "{:.0f}")
            cells = [
                shown,
                made_of,
                _cell(row, "fd_ratio", "{:.2f}"),
                _cell(row, "conditional_accuracy", "{:.3f}"),
                _cell(row, "nll", "{}"),
                speed,
                _cell(row, "parameters", "{:,}"),
                _cell(row, "training", "{}"),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--diffusion-nll", action="store_true", help="also the diffusion models' bounds (slow)")
    parser.add_argument("--render-only", action="store_true", help="the table again from the saved compare.json")
    args = parser.parse_args()
    if args.render_only:
        rows = json.loads((OUT / "compare.json").read_text())
    else:
        start = time.perf_counter()
        rows = measure(args.diffusion_nll)
        write_report(rows, OUT)
        print(f"measured in {time.perf_counter() - start:.0f} s on {torch.get_num_threads()} thread(s)")
    command = "OMP_NUM_THREADS=1 python plugins/genplug-hybrid/benchmarks/hybrid_table.py"
    if not any(r.get("nll") == NOT_MEASURED for r in rows):
        command += " --diffusion-nll"
    table = render(rows)
    (OUT / "table.md").write_text(table + f"\nMeasured by `{command}` ({N} samples, seed {SEED}, one thread).\n")
    print(table)


if __name__ == "__main__":
    main()
