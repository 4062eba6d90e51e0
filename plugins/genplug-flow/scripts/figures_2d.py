"""Train ``nsf`` on four 2-D densities and draw the docs figure: data, samples, learned density.

    OMP_NUM_THREADS=1 python plugins/genplug-flow/scripts/figures_2d.py

For each of ``8gaussians``, ``checkerboard``, ``moons`` and ``pinwheel`` this trains the
spline flow (the benchmark's size: 3 layers, 8 bins, MADE 64x64; seeded, one thread)
with ``genplug.train``, then writes one row of ``docs/figures/flow-2d.png``: 2,000
held-out points, 2,000 samples of the flow, and the learned density exp(log p(x)) on a
200x200 grid over [-5, 5]^2 (brighter is denser, each panel scaled to its own maximum).
It prints, and writes to ``docs/figures/flow-2d.json``, each density's test NLL in nats
per point.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

import genplug

ROOT = Path(__file__).resolve().parents[3]
FIGURE = ROOT / "docs" / "figures" / "flow-2d.png"
DENSITIES = ("8gaussians", "checkerboard", "moons", "pinwheel")
CONFIG = {"data_shape": (2,), "transforms": 3, "hidden": 64, "depth": 2, "bins": 8, "init": "random"}  # zuko's NSF
TRAIN = {"steps": 2000, "batch_size": 256, "lr": 1e-3, "seed": 0}
SIZE, LIMIT = 200, 5.0  # pixels per panel side; the panels show [-LIMIT, LIMIT]^2


def to_pixels(points: torch.Tensor) -> torch.Tensor:
    return ((points + LIMIT) / (2 * LIMIT) * SIZE).round()


def scatter(points: torch.Tensor, colour: tuple[int, int, int]) -> Image.Image:
    panel = Image.new("RGB", (SIZE, SIZE), "white")
    draw = ImageDraw.Draw(panel)
    for x, y in to_pixels(points).tolist():
        draw.point((x, SIZE - 1 - y), fill=colour)
    return panel


def heat_map(model: genplug.Model) -> Image.Image:
    """exp(log p) on the pixel centres, scaled to [0, 255] by its maximum, through a dark-to-yellow ramp."""
    side = (torch.arange(SIZE) + 0.5) / SIZE * 2 * LIMIT - LIMIT
    grid = torch.stack(torch.meshgrid(side, side.flip(0), indexing="xy"), -1).view(-1, 2)  # row 0 is the top
    with torch.no_grad():
        density = model.log_prob(grid).exp().view(SIZE, SIZE)
    t = (density / density.max()).clamp(0, 1)
    rgb = torch.stack([t.sqrt(), t, 0.35 * (1 - t) + 0.1 * t], -1)  # dark blue -> yellow
    return Image.fromarray((rgb * 255).round().byte().numpy(), "RGB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=TRAIN["steps"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    figure = Image.new("RGB", (3 * SIZE + 40, len(DENSITIES) * (SIZE + 10) + 20), "white")
    draw = ImageDraw.Draw(figure)
    for i, title in enumerate(("data", "samples", "density")):
        draw.text((10 + i * (SIZE + 10), 4), title, fill="black")
    results = {}
    for row, name in enumerate(DENSITIES):
        torch.manual_seed(TRAIN["seed"])
        model = genplug.create("nsf", **CONFIG)
        start = time.perf_counter()
        genplug.train(model, name, genplug.TrainConfig(**{**TRAIN, "steps": args.steps}), progress=False)
        model.eval()
        test = genplug.load_data(name, "test").x
        with torch.no_grad():
            nll = -float(model.log_prob(test).mean())
            samples = model.sample(2000, generator=torch.Generator().manual_seed(0))
        results[name] = {"test_nll_nats": round(nll, 4), "train_seconds": round(time.perf_counter() - start, 1)}
        print(name, results[name], flush=True)
        top = 20 + row * (SIZE + 10)
        for col, panel in enumerate((scatter(test, (90, 90, 90)), scatter(samples, (30, 80, 200)), heat_map(model))):
            figure.paste(panel, (10 + col * (SIZE + 10), top))
        draw.text((14, top + 4), name, fill="black")
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    figure.save(FIGURE)
    record = {"config": CONFIG, "train": {**TRAIN, "steps": args.steps}, "threads": 1, "densities": results}
    FIGURE.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {FIGURE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
