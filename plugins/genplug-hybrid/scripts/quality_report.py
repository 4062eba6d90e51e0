"""Measure what the README's quality tables report, through `genplug eval` only.

    python plugins/genplug-hybrid/scripts/quality_report.py [--weights REF] [--seeds 0,1,2]

Runs `genplug eval MODEL -n 1000 --seed S --json` (1000 samples against the 300 held-out
test digits) for the plain VAE, the plain diffusion model (when its packaged weights are
installed) and latent diffusion; then latent diffusion with each sampler, and with
decoder-mean instead of decoder-draw outputs (a copy of the weights with
``output="mean"`` in the index config); last, nearest-neighbour distances of samples to
the training digits beside those of the held-out digits (are samples copies?). Prints
Markdown tables. Takes a few minutes on one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import genplug

SAMPLERS = (("unipc", 20), ("dpm-solver++", 20), ("ddim", 50), ("ddpm", None))


def genplug_eval(architecture: str, seed: int, *options: str) -> dict:
    script = Path(sys.executable).with_name("genplug")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "genplug"]
    command += ["eval", architecture, "-n", "1000", "--seed", str(seed), "--json", *options]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(result.stdout)


def fds(architecture: str, seeds: list[int], *options: str) -> list[float]:
    return [genplug_eval(architecture, seed, *options)["fd"] for seed in seeds]


def row(name: str, command: str, values: list[float]) -> str:
    mean = sum(values) / len(values)
    return (
        f"| {name} | `{command}` | **{values[0]:.2f}** | "
        + ", ".join(f"{v:.2f}" for v in values[1:])
        + (f" | {mean:.2f} |")
    )


def memorisation(reference: str) -> None:
    """Are samples copies of training digits? Nearest-neighbour distances, against held-out data's."""
    import torch

    torch.set_num_threads(1)
    model = genplug.load(reference)
    train, test = genplug.load_data("digits", "train"), genplug.load_data("digits", "test")
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        u_train = model.encode(train.x, generator=g)  # standardised latents, one posterior draw each
        u_test = model.encode(test.x, generator=g)
        u_gen = model.sample_latents(1000, generator=torch.Generator().manual_seed(1))
        x_gen = model.sample(300, generator=torch.Generator().manual_seed(2))

    def nearest(a: torch.Tensor, b: torch.Tensor) -> str:
        d = torch.cdist(a.flatten(1), b.flatten(1)).min(1).values
        return f"{float(d.median()):.3f} | {float(d.quantile(0.1)):.3f}"

    print("| distance to the nearest training example | median | 10th percentile |\n| --- | ---: | ---: |")
    print(f"| latents of the 300 test digits (standardised) | {nearest(u_test, u_train)} |")
    print(f"| 1000 latents from the prior | {nearest(u_gen, u_train)} |")
    print(f"| the 300 test digits (pixels) | {nearest(test.x, train.x)} |")
    print(f"| 300 samples (pixels) | {nearest(x_gen, train.x)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="latent-diffusion weights (default: the packaged ones)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds; the first is the headline")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    weights = ["--weights", args.weights] if args.weights else []
    header = "| model | command | FD (seed {}) | seeds {} | mean |\n| --- | --- | ---: | ---: | ---: |".format(
        seeds[0], ", ".join(map(str, seeds[1:]))
    )

    print("Quality on digits (FD of 1000 samples against the 300 test digits; lower is better):\n")
    print(header)
    vae = fds("vae", seeds)
    print(row("vae", "genplug eval vae -n 1000", vae))
    try:
        genplug.default_weights("diffusion")
        print(
            row(
                "diffusion",
                "genplug eval diffusion -n 1000 -s ddim -k 50",
                fds("diffusion", seeds, "-s", "ddim", "-k", "50"),
            )
        )
    except genplug.GenplugError as exc:
        print(f"| diffusion | (no packaged weights: {exc}) | | | |")
    hybrid = fds("latent-diffusion", seeds, *weights)
    print(row("latent-diffusion", "genplug eval latent-diffusion -n 1000", hybrid))
    ratios = ", ".join(f"{h / v:.3f}" for h, v in zip(hybrid, vae, strict=True))
    print(f"\nlatent-diffusion FD / vae FD per seed: {ratios}\n")

    print("latent-diffusion by sampler:\n")
    print(header)
    for sampler, steps in SAMPLERS:
        options = ["-s", sampler] + (["-k", str(steps)] if steps else [])
        command = "genplug eval latent-diffusion -n 1000 " + " ".join(options)
        print(row(f"{sampler}, {steps or 'T'} steps", command, fds("latent-diffusion", seeds, *weights, *options)))

    print("\nlatent-diffusion decoding to the decoder mean E[x | z] instead of a draw x ~ p(x | z):\n")
    print(header)
    source = Path(args.weights) if args.weights else genplug.default_weights("latent-diffusion")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "mean"
        shutil.copytree(source, copy)
        index = json.loads((copy / "config.json").read_text())
        index["config"]["output"] = "mean"
        (copy / "config.json").write_text(json.dumps(index, indent=2))
        mean = fds("latent-diffusion", seeds, "--weights", str(copy))
    print(row("output=mean", "(a copy of the weights with output=mean)", mean))

    print("\nmemorisation check (Euclidean distances; seeds 0-2):\n")
    memorisation(args.weights or "latent-diffusion")


if __name__ == "__main__":
    main()
