"""Measure what the README reports beyond ``genplug eval``: the ELBO and IWAE-k bounds on
the digits test split for several k, and the per-dimension statistics of the latents.

    python plugins/genplug-vae/scripts/latent_report.py [--weights REF]

Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import math

import torch
from genplug_vae import latent_stats

import genplug


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="vae", help="model reference (default: the packaged weights)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ks", default="1,10,100,1000", help="comma-separated numbers of importance samples")
    args = parser.parse_args()
    torch.set_num_threads(1)

    model = genplug.load(args.weights)
    test = genplug.load_data("digits", "test")
    dims = test.x[0].numel()
    print(f"test NLL bounds on digits ({len(test)} examples, {dims} dims; nats per example, bits per dim):\n")
    print("| bound | k | NLL (nats) | bits/dim |\n| --- | ---: | ---: | ---: |")
    rows = []
    for k in (int(v) for v in args.ks.split(",")):
        g = torch.Generator().manual_seed(args.seed)
        with torch.no_grad():
            bounds = model.bounds(test.x, k=k, generator=g, chunk=16384)
        rows.append((f"IWAE-{k}", k, bounds["iwae"]))
    # The ELBO's value does not depend on k (k only averages its reconstruction term over
    # more samples); report it from the largest k, where its Monte Carlo error is smallest.
    rows.insert(0, ("ELBO", k, bounds["elbo"]))
    for name, k, value in rows:
        nll = -float(value.double().mean())
        print(f"| {name} | {k} | {nll:.2f} | {nll / (dims * math.log(2)):.4f} |")

    stats = latent_stats(model, "digits", split="train")
    print("\nlatents of the digits train split (posterior means; scale = mean posterior std):\n")
    print("| dim | mean | std | scale | aggregate std |\n| ---: | ---: | ---: | ---: | ---: |")
    for i, row in enumerate(zip(stats["mean"], stats["std"], stats["scale"], stats["aggregate_std"], strict=True)):
        print(f"| {i} | " + " | ".join(f"{v:.3f}" for v in row) + " |")


if __name__ == "__main__":
    main()
