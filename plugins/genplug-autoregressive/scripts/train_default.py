"""Train the packaged default weights of ``transformer`` on digits (seeded, CPU, one thread).

    python plugins/genplug-autoregressive/scripts/train_default.py

writes the run to ``runs/transformer-digits-default/`` (checkpoints, metrics.jsonl) and
copies the model folder (``config.json``, ``model.safetensors``) into
``genplug_autoregressive/weights/``. The wall time is printed at the end; the README
records it. The same seed gives the same weights on the same machine and torch build.
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
WEIGHTS = HERE.parent / "genplug_autoregressive" / "weights"

# 156k parameters: 3 blocks of width 64, a start token per digit so `--label 7` draws sevens.
CONFIG = {"data_shape": (1, 8, 8), "levels": 17, "classes": 10, "n_layer": 3, "n_head": 4, "n_embd": 64, "dropout": 0.1}
# 1000 steps of 64 digits (43 epochs of the 1497 training digits): about 5 minutes on one thread.
TRAIN = {"steps": 1000, "batch_size": 64, "lr": 3e-3, "schedule": "cosine", "warmup_steps": 100, "seed": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/transformer-digits-default", help="run folder")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--no-copy", action="store_true", help="do not copy the result into the package's weights/")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(TRAIN["seed"])  # the initial weights, as `genplug train --seed` does
    model = genplug.create("transformer", **CONFIG)
    start = time.perf_counter()
    genplug.train(model, "digits", genplug.TrainConfig(**TRAIN), out=args.out, progress=False)
    wall = time.perf_counter() - start
    record = {"config": CONFIG, "train": TRAIN, "threads": args.threads, "wall_seconds": round(wall, 1)}
    (Path(args.out) / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    if not args.no_copy:
        WEIGHTS.mkdir(exist_ok=True)
        for name in ("config.json", "model.safetensors"):
            shutil.copyfile(Path(args.out) / name, WEIGHTS / name)
    print(json.dumps(record))


if __name__ == "__main__":
    main()
