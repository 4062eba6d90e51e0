"""Train the default weights of ``gan`` on digits (seeded, CPU, one thread).

    python plugins/genplug-gan/scripts/train_default.py --copy

writes the run to ``runs/gan-digits-default/`` (checkpoints, metrics.jsonl, training.json,
the final generator-only folder) and, with ``--copy``, copies ``config.json`` and
``model.safetensors`` into ``genplug_gan/weights/``, the packaged default weights.
``benchmarks/stability.py digits`` imports :func:`train` to retrain the recipe with other
seeds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import torch

import genplug

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE.parent / "genplug_gan" / "weights"

# class-conditional DCGAN for 8x8 digits: 32 channels at 8x8, 64 at 4x4; latent 32; hinge
# loss, spectral norm and minibatch std in the discriminator, no batch norm in the generator;
# the discriminator sees every image through DiffAugment's translation and colour
# (genplug_gan/augment.py): without it FD stopped improving after 6000 steps
CONFIG: dict[str, Any] = {
    "data_shape": (1, 8, 8),
    "classes": 10,
    "spectral_norm": True,
    "batch_norm": False,
    "minibatch_std": True,
}
TRAIN: dict[str, Any] = {
    "steps": 10000,  # FD ratio at 2000-10000 steps: 2.27, 1.87, 1.51, 1.24, 1.23 (README)
    "batch_size": 64,
    "lr": 2e-4,
    "seed": 0,
    "ema": 0.999,
    "options": {"loss": "hinge", "d_lr_ratio": 2.0, "augment": "translation,color"},
}


def train(out: str | Path, *, seed: int = TRAIN["seed"], steps: int = TRAIN["steps"]) -> Any:
    """Train the recipe with ``seed`` into ``out``; returns the model (its generator EMA-averaged)."""
    train = {**TRAIN, "seed": seed, "steps": steps}
    torch.manual_seed(seed)  # the initial weights, as `genplug train --seed` does
    model = genplug.create("gan", **CONFIG)
    start, cpu = time.perf_counter(), time.process_time()
    genplug.train(model, "digits", genplug.TrainConfig(**train), out=out, progress=False)
    record = {
        "config": CONFIG,
        "train": train,
        "threads": torch.get_num_threads(),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),
    }
    (Path(out) / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/gan-digits-default", help="run folder")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--steps", type=int, default=TRAIN["steps"], help="generator steps (a smoke test: 10)")
    parser.add_argument("--copy", action="store_true", help="copy the result into genplug_gan/weights")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    train(args.out, steps=args.steps)
    if args.copy:
        WEIGHTS.mkdir(exist_ok=True)
        for name in ("config.json", "model.safetensors"):
            shutil.copyfile(Path(args.out) / name, WEIGHTS / name)
    print((Path(args.out) / "training.json").read_text())


if __name__ == "__main__":
    main()
