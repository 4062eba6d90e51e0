"""Stability of the gan plugin, measured: the default digits recipe over several seeds, and
mode coverage on 8gaussians per loss.

    # the default recipe (scripts/train_default.py) trained with seeds 0-4; FD ratio each
    python plugins/genplug-gan/benchmarks/stability.py digits --seeds 0 1 2 3 4

    # 8gaussians: modes covered (of 8) and samples within 3 std, per loss, and the figure
    python plugins/genplug-gan/benchmarks/stability.py gaussians --seeds 0 1 2 3 4 \\
        --figure docs/figures/gan-8gaussians.png --markdown runs/gan-8gaussians.md --jobs 3

Runs on one CPU thread (``--threads``). Each digits run is a full training of the default
recipe; seeds can run in separate processes (``--seeds 3``) and the printed lines be
gathered. Every line printed is one JSON object; ``--out`` also writes them to a file.

digits: FD ratio = FD / floor from ``genplug.evaluate(model, "digits", n=1000, seed=s)``,
the mean over sample seeds s = 0, 1, 2 (what ``genplug eval`` prints for one seed), and the
conditional accuracy at seed 0. The issue's target: the worst of five seeds within 1.5.

gaussians: the measure of ``genplug_gan.coverage`` (the unrolled-GAN paper's) on 2000
samples, and the energy distance of ``genplug.evaluate(..., metrics=["energy"])`` on 1000.
The recipes are the README's (an MLP of 2 x 64, latent 8, lr 1e-3, no EMA, 3000 generator
steps, ``--steps``: at 1000 the non-saturating and hinge losses cover every mode but leave
up to a third of their samples between the modes); WGAN-GP
is run both as its paper trains it (5 critic steps, Adam betas (0, 0.9)) and with one
critic step, to show what the extra critic steps buy.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import multiprocessing
import time
from pathlib import Path
from typing import Any

import torch
from genplug_gan.coverage import mode_coverage

import genplug

HERE = Path(__file__).resolve().parent

POINTS = {"data_shape": (2,), "latent_dim": 8, "mlp_hidden": 64, "mlp_depth": 2}
GAUSSIAN_STEPS = 3000  # generator steps of every 8gaussians recipe (the README's command)
GAUSSIAN_RECIPES: dict[str, dict[str, Any]] = {
    # name: TrainConfig fields (the model is POINTS)
    "non-saturating": {"batch_size": 128, "options": {"loss": "non-saturating"}},
    "hinge": {"batch_size": 128, "options": {"loss": "hinge"}},
    "wgan-gp": {"batch_size": 640, "options": {"loss": "wgan-gp", "d_steps": 5, "beta1": 0.0, "beta2": 0.9}},
    "wgan-gp, 1 critic step": {"batch_size": 128, "options": {"loss": "wgan-gp"}},
}


def _recipe() -> Any:
    """scripts/train_default.py, imported by path (scripts are not a package)."""
    spec = importlib.util.spec_from_file_location("train_default", HERE.parent / "scripts" / "train_default.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def digits(seed: int, out: Path) -> dict[str, Any]:
    recipe = _recipe()
    start, cpu = time.perf_counter(), time.process_time()
    model = recipe.train(out / f"digits-seed{seed}", seed=seed)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    figures = [genplug.evaluate(model, "digits", n=1000, seed=s) for s in (0, 1, 2)]
    ratios = [f["fd_ratio"] for f in figures]
    return {
        "benchmark": "digits",
        "seed": seed,
        "fd_ratio": round(sum(ratios) / 3, 3),
        "fd_ratios_by_sample_seed": [round(r, 3) for r in ratios],
        "conditional_accuracy": figures[0]["conditional_accuracy"],
        "steps": recipe.TRAIN["steps"],
        "wall_seconds": round(wall),
        "cpu_seconds": round(cpu),
    }


def gaussians(name: str, seed: int, steps: int = GAUSSIAN_STEPS) -> tuple[dict[str, Any], torch.Tensor]:
    recipe = GAUSSIAN_RECIPES[name]
    torch.manual_seed(seed)
    model = genplug.create("gan", **POINTS)
    config = genplug.TrainConfig(steps=steps, lr=1e-3, seed=seed, ema=None, **recipe)
    genplug.train(model, "8gaussians", config, progress=False)
    x = genplug.sample(model, 2000, generator=torch.Generator().manual_seed(0))
    modes, near = mode_coverage(x)
    energy = genplug.evaluate(model, "8gaussians", n=1000, metrics=["energy"])["energy"]
    line = {"benchmark": "8gaussians", "loss": name, "seed": seed, "modes": modes, "near": round(near, 3)}
    return {**line, "energy": round(energy, 4)}, x


def figure(samples: dict[str, torch.Tensor], path: Path) -> None:
    """One scatter panel per loss (seed 0's samples, blue, over the test data, grey), side by side."""
    from genplug._images import png_bytes, scatter

    reference = genplug.load_data("8gaussians", "test").x[:2000]
    box = torch.tensor([[-4.5, -4.5], [4.5, 4.5]])
    reference = torch.cat([reference, box])  # two grey corner dots: the same axes in every panel
    panels = [scatter(x.clamp(-4.5, 4.5), reference=reference, size=320) for x in samples.values()]
    gap = torch.zeros(3, 320, 4)
    grid = torch.cat([p for panel in panels for p in (panel, gap)][:-1], 2)
    path.write_bytes(png_bytes(grid))


def _one_thread(threads: int) -> None:
    torch.set_num_threads(threads)


def _gaussians(run: tuple[str, int, int]) -> tuple[dict[str, Any], torch.Tensor]:
    return gaussians(*run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=("digits", "gaussians"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--losses", nargs="+", default=list(GAUSSIAN_RECIPES), choices=list(GAUSSIAN_RECIPES))
    parser.add_argument("--steps", type=int, default=GAUSSIAN_STEPS, help="gaussians: generator steps")
    parser.add_argument("--jobs", type=int, default=1, help="gaussians: runs at once, one process each")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--runs", default="runs/gan-stability", help="digits: where the runs go")
    parser.add_argument("--figure", type=Path, help="gaussians: write the scatter panels (seed 0) here")
    parser.add_argument("--out", type=Path, help="also append the lines to this file")
    parser.add_argument("--markdown", type=Path, help="gaussians: write the table (and the figure's link) here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    def emit(line: dict[str, Any]) -> None:
        text = json.dumps({**line, "threads": args.threads})
        print(text, flush=True)
        if args.out is not None:
            with args.out.open("a") as f:
                f.write(text + "\n")

    if args.which == "digits":
        lines = [digits(seed, Path(args.runs)) for seed in args.seeds]
        for line in lines:
            emit(line)
        ratios = [line["fd_ratio"] for line in lines]
        emit({"benchmark": "digits", "fd_ratios": ratios, "worst": max(ratios), "target_worst": 1.5})
        return
    runs = [(name, seed, args.steps) for name in args.losses for seed in args.seeds]
    shown: dict[str, torch.Tensor] = {}
    lines: list[dict[str, Any]] = []
    # --jobs N: N processes of --threads threads each; the lines still come in the table's order
    pool = multiprocessing.get_context("spawn").Pool(args.jobs, _one_thread, (args.threads,)) if args.jobs > 1 else None
    with pool or contextlib.nullcontext():
        results = pool.imap(_gaussians, runs) if pool else map(_gaussians, runs)
        for (name, seed, _), (line, x) in zip(runs, results, strict=True):
            emit(line)
            lines.append(line)
            if seed == args.seeds[0]:
                shown[name] = x
    if args.figure is not None:
        figure(shown, args.figure)
    if args.markdown is not None:
        args.markdown.write_text(markdown(lines, args))


def markdown(lines: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """The table of the docs page: one row per loss, one value per seed."""
    command = (
        f"OMP_NUM_THREADS=1 python plugins/genplug-gan/benchmarks/stability.py gaussians --seeds "
        f"{' '.join(map(str, args.seeds))}"
        + (f" --steps {args.steps}" if args.steps != GAUSSIAN_STEPS else "")
        + (f" --figure {args.figure}" if args.figure else "")
        + f" --markdown {args.markdown}"
    )
    out = [
        "<!-- Generated by plugins/genplug-gan/benchmarks/stability.py; do not edit. -->",
        "",
        f"| loss (MLP 2×64, latent 8, {args.steps} steps) "
        f"| modes covered (of 8), seeds {', '.join(map(str, args.seeds))} "
        "| samples within 3 std | energy distance |",
        "| --- | --- | --- | --- |",
    ]
    for name in dict.fromkeys(line["loss"] for line in lines):
        rows = [line for line in lines if line["loss"] == name]
        recipe = GAUSSIAN_RECIPES[name]
        out.append(
            f"| `{name}` (batch {recipe['batch_size']}, options {recipe['options']}) "
            f"| {', '.join(str(r['modes']) for r in rows)} "
            f"| {', '.join(format(r['near'], '.2f') for r in rows)} "
            f"| {', '.join(format(r['energy'], '.3f') for r in rows)} |"
        )
    out += [
        "",
        f"2000 samples per run for coverage, 1000 for the energy distance (`genplug.evaluate(..., "
        f'metrics=["energy"])`; lower is better). Measured with `{command}` (one thread).',
    ]
    if args.figure is not None:
        out += [
            "",
            f"![8gaussians, seed {args.seeds[0]}: one panel per loss, in the order of the table; samples in blue "
            f"over the data in grey](../figures/{args.figure.name})",
        ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
