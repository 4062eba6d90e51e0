"""FD ratios of vae-gan against the plain VAE, at sample seeds 0, 1 and 2, one thread.

    OMP_NUM_THREADS=1 python plugins/genplug-hybrid/benchmarks/vae_gan_fd.py \\
        [--plain runs/vae-gan-plain] [--vae-gan FOLDER]

For each model, ``genplug.evaluate(model, "digits", n=1000, seed=s, metrics=["fd"])`` (what
``genplug eval ARCH -n 1000 --seed s`` prints as ``fd_ratio``) for s = 0, 1, 2, with both
decodings of a latent: the decoder mean E[x | z] (``output="mean"``) and a draw from
p(x | z) (``output="draw"``). The models:

- ``vae``: genplug-vae's packaged weights (its default output is ``draw``);
- ``plain``: ``--plain``, the run of ``scripts/train_vae_gan.py --adversarial-weight 0
  --feature-weight 0`` (the same recipe and steps without the discriminator), if given;
- ``vae-gan``: ``--vae-gan``, default the packaged weights.

It also prints the *label-matched floor* of each seed: both models are conditional VAEs
that draw their labels uniformly (after z, from the same generator), so each seed fixes
how many samples of each digit there are; the floor is the FD ratio of training digits
drawn (with replacement, four draws) in those same numbers per digit. A model cannot be
expected to beat it at that seed. The rows ``labels: balanced`` ask for 100 samples of
each digit (``label=torch.arange(1000) % 10``), which takes the draw of the labels out of
the score; their floor is the last line (``label_matched_floor: null``).
"""

from __future__ import annotations

import argparse
import json

import attrs
import torch

import genplug
from genplug._metrics import image_scores

SEEDS = (0, 1, 2)
N = 1000


def fd_ratios(model: genplug.Model, output: str, balanced: bool) -> list[float]:
    """``fd_ratio`` at each seed; ``balanced``: 100 samples asked of each digit instead of
    labels drawn at random (the draw of the labels is then no part of the score)."""
    model.config = attrs.evolve(model.config, output=output)
    condition = {"label": torch.arange(N) % 10} if balanced else {}
    return [genplug.evaluate(model, "digits", n=N, seed=s, metrics=["fd"], **condition)["fd_ratio"] for s in SEEDS]


def labels_of(seed: int, latent_dim: int = 8) -> torch.Tensor:
    """The labels ``genplug.evaluate`` gives a conditional VAE at ``seed`` (drawn 500 at a time, after z)."""
    g = torch.Generator().manual_seed(seed)
    labels = []
    for _ in range(N // 500):
        torch.randn((500, latent_dim), generator=g)
        labels.append(torch.randint(0, 10, (500,), generator=g))
    return torch.cat(labels)


def label_matched_floor(seed: int | None, repeats: int = 4) -> list[float]:
    """FD ratios of training digits drawn in the numbers per digit of ``seed``'s labels
    (``None``: 100 of each, as the balanced rows ask)."""
    train, test = genplug.load_data("digits", "train"), genplug.load_data("digits", "test")
    counts = torch.full((10,), N // 10) if seed is None else torch.bincount(labels_of(seed), minlength=10)
    ratios = []
    for r in range(repeats):
        g = torch.Generator().manual_seed(1000 + r)
        picks = []
        for digit in range(10):
            index = (train.y == digit).nonzero().flatten()
            picks.append(index[torch.randint(0, len(index), (int(counts[digit]),), generator=g)])
        ratios.append(image_scores(train.x[torch.cat(picks)], test, train)["fd_ratio"])
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plain", help="the folder of the same recipe without the discriminator")
    parser.add_argument("--vae-gan", default="vae-gan", help="the vae-gan to measure (default: packaged)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    models = {"vae": genplug.load("vae")}
    if args.plain:
        models["plain"] = genplug.load(args.plain)
    models["vae-gan"] = genplug.load(args.vae_gan)
    rows = []
    for name, model in models.items():
        for output in ("mean", "draw"):
            for balanced in (False, True):
                ratios = fd_ratios(model, output, balanced)
                mean = round(sum(ratios) / len(ratios), 3)
                labels = "balanced" if balanced else "random"
                ratio = [round(r, 3) for r in ratios]
                rows.append({"model": name, "output": output, "labels": labels, "fd_ratio": ratio, "mean": mean})
                print(json.dumps(rows[-1]), flush=True)
    for seed in (*SEEDS, None):
        floor = label_matched_floor(seed)
        print(json.dumps({"label_matched_floor": seed, "fd_ratio": [round(r, 3) for r in floor]}), flush=True)


if __name__ == "__main__":
    main()
