"""Measure what the README's vq-transformer section reports, through `genplug eval`.

    python plugins/genplug-hybrid/scripts/vq_transformer_report.py [--weights REF]

Runs `genplug eval MODEL -n 1000 --seed 0 --json` (1000 samples against the 300 held-out
test digits, a balanced set of labels) for the plain pixel transformer (genplug-autoregressive's
packaged weights) and for vq-transformer with its default sampler and with each decoding
sampler below; then, in this process, vq-transformer decoding to the VQ-VAE's decoder mean
instead of a draw (``output="mean"``, same seed) and its held-out code NLL and ELBO. Prints
Markdown tables. A few minutes on one thread.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import attrs
import torch

import genplug

SAMPLERS: tuple[tuple[str, ...], ...] = (
    (),
    ("--sampler", "top-p", "--sampler-option", "p=0.9"),
    ("--sampler", "top-k", "--sampler-option", "k=10"),
    ("--sampler", "ancestral", "--sampler-option", "temperature=0.8"),
    ("--sampler", "min-p", "--sampler-option", "p=0.1"),
)


def genplug_eval(architecture: str, *options: str) -> dict:
    script = Path(sys.executable).with_name("genplug")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "genplug"]
    command += ["eval", architecture, "-n", "1000", "--seed", "0", "--json", *options]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(result.stdout)


def row(name: str, command: str, figures: dict) -> str:
    accuracy = figures.get("conditional_accuracy")
    shown = "" if accuracy is None else f"{accuracy:.3f}"
    return f"| {name} | `{command}` | {figures['fd']:.2f} | **{figures['fd_ratio']:.2f}** | {shown} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="vq-transformer weights (default: the packaged ones)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    weights = ("--weights", args.weights) if args.weights else ()

    print("| model | command | FD | FD / floor | conditional accuracy |\n| --- | --- | ---: | ---: | ---: |")
    plain = genplug_eval("transformer")
    print(row("transformer (pixels)", "genplug eval transformer -n 1000 --seed 0", plain))
    for options in SAMPLERS:
        figures = genplug_eval("vq-transformer", *weights, *options)
        command = " ".join(("genplug eval vq-transformer -n 1000 --seed 0", *options))
        print(row("vq-transformer", command, figures))

    model = genplug.load(args.weights or "vq-transformer")
    model.config = attrs.evolve(model.config, output="mean")
    mean = genplug.evaluate(model, "digits", n=1000, seed=0, metrics=["fd"])
    print(
        f"| vq-transformer, output='mean' | `genplug.evaluate(model, 'digits', n=1000, seed=0)` | "
        f"{mean['fd']:.2f} | **{mean['fd_ratio']:.2f}** | |"
    )

    model = genplug.load(args.weights or "vq-transformer").eval()
    x = genplug.load_data("digits", "test").x
    with torch.no_grad():
        code_nll = float(model.code_nll(x).mean())
        elbo = float(model.log_prob(x).mean())
    tokens, pixels = math.prod(model.encoder.code_shape), math.prod(model.event_shape)
    print("\n| held-out figure (300 test digits, labels not given) | nats | bits |\n| --- | ---: | ---: |")
    bits = code_nll / tokens / math.log(2)
    print(f"| code NLL -log p(z*) (per digit; bits per code) | {code_nll:.2f} | {bits:.3f} |")
    print(
        f"| ELBO log p(z*) + log p(x \\| z*) (per digit; bits per pixel as an NLL) | {elbo:.2f} | "
        f"{-elbo / pixels / math.log(2):.3f} |"
    )


if __name__ == "__main__":
    main()
