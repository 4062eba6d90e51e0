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

Both are conditional VAEs; given no label they draw a balanced, shuffled set of labels
(``genplug.Condition.draw_labels``), so the mix of digits is not what the seed moves
(``benchmarks/label_mix.py`` at the repository's root measures how much it would).
"""

from __future__ import annotations

import argparse
import json

import attrs
import torch

import genplug

SEEDS = (0, 1, 2)
N = 1000


def fd_ratios(model: genplug.Model, output: str) -> list[float]:
    """``fd_ratio`` at each seed, the model decoding to ``output``."""
    model.config = attrs.evolve(model.config, output=output)
    return [genplug.evaluate(model, "digits", n=N, seed=s, metrics=["fd"])["fd_ratio"] for s in SEEDS]


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
    for name, model in models.items():
        for output in ("mean", "draw"):
            ratios = fd_ratios(model, output)
            row = {"model": name, "output": output, "fd_ratio": [round(r, 3) for r in ratios]}
            print(json.dumps({**row, "mean": round(sum(ratios) / len(ratios), 3)}), flush=True)


if __name__ == "__main__":
    main()
