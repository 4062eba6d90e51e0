"""Train the packaged default weights of ``glow`` on digits (seeded, CPU, one thread).

    python plugins/genplug-flow/scripts/train_default.py

writes the run to ``runs/glow-digits-default/`` (checkpoints, metrics.jsonl) and copies the
model folder (``config.json``, ``model.safetensors``) into ``genplug_flow/weights/``. It
prints the wall and CPU time and the test bits per dimension (the uniform-dequantisation
ELBO and the IWAE-16 bound, upper bounds on the discrete NLL); the README records them.
FD comes from ``genplug eval glow -n 1000``. The same seed gives the same weights on the
same machine and torch build. The options change the recipe for an experiment (use
``--no-copy --out runs/NAME`` with them); without options it is the recipe of the
packaged weights.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path

import attrs
import torch

import genplug

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE.parent / "genplug_flow" / "weights"

# levels=17: digits' grey levels, uniformly dequantised; two checkerboard couplings at 8x8,
# then 4x4x4 and 8x2x2 scales of eight Glow steps each (hidden 48), dropout 0.2 in the
# coupling networks. (The first packaged weights: depth 4, hidden 64, no dropout, 2000 steps.)
CONFIG = {
    "data_shape": (1, 8, 8),
    "levels": 17,
    "checkerboard": 2,
    "scales": 2,
    "depth": 8,
    "hidden": 48,
    "dropout": 0.2,
}
TRAIN = {"steps": 3000, "batch_size": 64, "lr": 1e-3, "seed": 0, "ema": 0.999, "schedule": "cosine", "clip_grad": 50.0}


def test_bits(model: genplug.Model, test: torch.Tensor | None = None) -> dict[str, float]:
    """Bits per dimension of each bound on ``test`` (default: the test digits), with a fixed
    seed for the dequantisation noise."""
    test = genplug.load_data("digits", "test").x if test is None else test
    figures = {}
    with torch.no_grad():
        for kind in model.log_prob_kinds:
            lp = model.log_prob(test, kind=kind, generator=torch.Generator().manual_seed(0))
            figures[model.log_prob_label(kind)] = -float(lp.double().mean()) / (64 * math.log(2))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/glow-digits-default", help="run folder")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--steps", type=int, default=TRAIN["steps"], help="training steps")
    parser.add_argument("--hidden", type=int, default=CONFIG["hidden"], help="coupling networks' channels")
    parser.add_argument("--depth", type=int, default=CONFIG["depth"], help="Glow steps per scale")
    parser.add_argument("--dequantization", default="uniform", choices=("uniform", "variational"), help="q(u | x)")
    parser.add_argument("--warmup-steps", type=int, default=0, help="linear learning-rate warm-up")
    parser.add_argument("--lr", type=float, default=TRAIN["lr"], help="peak learning rate")
    parser.add_argument("--dropout", type=float, default=CONFIG["dropout"], help="dropout in the coupling networks")
    parser.add_argument(
        "--validation",
        type=int,
        default=0,
        help="hold out this many training digits (a seeded draw) and report their bits per dimension",
    )
    parser.add_argument("--no-copy", action="store_true", help="do not copy the result into genplug_flow/weights")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    config = {**CONFIG, "hidden": args.hidden, "depth": args.depth, "dropout": args.dropout}
    config["dequantization"] = args.dequantization
    train = {**TRAIN, "steps": args.steps, "warmup_steps": args.warmup_steps, "lr": args.lr}
    data, held_out = genplug.load_data("digits", "train"), None
    if args.validation:  # model selection on training digits, never on the test digits
        order = torch.randperm(len(data.x), generator=torch.Generator().manual_seed(1234))
        held_out = data.x[order[: args.validation]]
        data = attrs.evolve(data, x=data.x[order[args.validation :]], y=data.y[order[args.validation :]])
    torch.manual_seed(train["seed"])  # the initial weights, as `genplug train --seed` does
    model = genplug.create("glow", **config)
    wall, cpu = time.perf_counter(), time.process_time()
    genplug.train(model, data, genplug.TrainConfig(**train), out=args.out, progress=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    model = genplug.load(args.out)  # the final (EMA) weights, as they ship
    record = {
        "config": config,
        "train": train,
        "threads": args.threads,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        "test_bits_per_dim": {k: round(v, 4) for k, v in test_bits(model).items()},
    }
    if held_out is not None:
        record["validation"] = len(held_out)
        record["validation_bits_per_dim"] = {k: round(v, 4) for k, v in test_bits(model, held_out).items()}
    (Path(args.out) / "train_default.json").write_text(json.dumps(record, indent=2) + "\n")
    if not args.no_copy:
        WEIGHTS.mkdir(exist_ok=True)
        for name in ("config.json", "model.safetensors"):
            shutil.copyfile(Path(args.out) / name, WEIGHTS / name)
    print(json.dumps(record))


if __name__ == "__main__":
    main()
