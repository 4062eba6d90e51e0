"""Train the packaged default weights of ``vae`` on digits (seeded, CPU, one thread).

    python plugins/genplug-vae/scripts/train_default.py

writes the run to ``runs/vae-digits-default/`` (checkpoints, metrics.jsonl) and copies the
model folder (``config.json``, ``model.safetensors``) into ``genplug_vae/weights/``. The
wall time is printed at the end; the README records it. The same seed gives the same
weights on the same machine and torch build.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

import genplug

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE.parent / "genplug_vae" / "weights"

# The default model: every other field keeps VAEConfig's default (small conv networks,
# the discretized logistic likelihood over digits' 17 grey levels, decoder-mean samples).
# Conditional (`label`, the digit, into encoder and decoder); a tenth of the training labels
# are the null label, so encode(x) and decode(z) also work without a label (a hybrid's encoder).
CONFIG = {"data_shape": (1, 8, 8), "latent_dim": 8, "warmup_steps": 1000, "classes": 10, "label_dropout": 0.1}
# 6000 steps: the test ELBO of this model is lowest around 6000-8000 steps on 1497
# training digits, and rises after as the decoder overfits (README, "How it was chosen").
TRAIN = {"steps": 6000, "batch_size": 128, "lr": 1e-3, "seed": 0, "ema": 0.999}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/vae-digits-default", help="run folder")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--no-copy", action="store_true", help="do not copy the result into genplug_vae/weights")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(TRAIN["seed"])  # the initial weights, as `genplug train --seed` does
    model = genplug.create("vae", **CONFIG)
    start, cpu_start = time.perf_counter(), time.process_time()
    genplug.train(model, "digits", genplug.TrainConfig(**TRAIN), out=args.out, progress=False)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    record = {
        "config": CONFIG,
        "train": TRAIN,
        "threads": args.threads,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),  # below the wall time when other work shares the cores
    }
    (Path(args.out) / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    if not args.no_copy:
        WEIGHTS.mkdir(exist_ok=True)
        for name in ("config.json", "model.safetensors"):
            shutil.copyfile(Path(args.out) / name, WEIGHTS / name)
    print(json.dumps(record))


if __name__ == "__main__":
    main()
