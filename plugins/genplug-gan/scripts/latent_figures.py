"""Figures of the latent space of the packaged ``gan`` weights, for the docs and the README.

    OMP_NUM_THREADS=1 python plugins/genplug-gan/scripts/latent_figures.py

writes ``docs/figures/gan-walk.png`` (rows: a walk between two random latents for each
digit, ``--sampler-option walk=true``) and ``docs/figures/gan-inversion.png`` (rows: two
test digits, their inversions at the ends, 8 steps between them), and prints the mean
squared error of the inversions.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from genplug_gan import interpolate, invert

import genplug
from genplug._images import image_grid, png_bytes

ROOT = Path(__file__).resolve().parents[3]
FIGURES = ROOT / "docs" / "figures"
PAIRS = 6  # rows of the inversion figure
STEPS = 8  # images per walk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="gan", help="a model folder (default: the packaged weights)")
    parser.add_argument("--figures", type=Path, default=FIGURES, help="where the PNGs go")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = genplug.load(args.weights)
    rows = [
        genplug.sample(
            model, STEPS, sampler_options={"walk": True}, label=digit, generator=torch.Generator().manual_seed(digit)
        )
        for digit in range(10)
    ]
    (args.figures / "gan-walk.png").write_bytes(png_bytes(image_grid(torch.cat(rows), nrow=STEPS)))

    test = genplug.load_data("digits", "test")
    x, y = test.x[: 2 * PAIRS], test.y[: 2 * PAIRS]
    z = invert(model, x, label=y, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        error = (model.generator(z, y) - x).pow(2).flatten(1).mean(1)
    strips = []
    for i in range(PAIRS):
        a, b = 2 * i, 2 * i + 1
        path = interpolate(model, z[a], z[b], STEPS, label0=int(y[a]), label1=int(y[b]))
        strips.append(torch.cat([x[a : a + 1], path, x[b : b + 1]]))
    (args.figures / "gan-inversion.png").write_bytes(png_bytes(image_grid(torch.cat(strips), nrow=STEPS + 2)))
    print(json.dumps({"inversion_mse_mean": round(float(error.mean()), 4), "pairs": PAIRS, "steps": STEPS}))


if __name__ == "__main__":
    main()
