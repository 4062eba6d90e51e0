"""Train the packaged default weights of ``transformer`` on digits (seeded, CPU, one thread).

    python plugins/genplug-autoregressive/scripts/train_default.py

writes the run to ``runs/transformer-digits-default/`` (checkpoints, metrics.jsonl) and
copies the model folder (``config.json``, ``model.safetensors``) into
``genplug_autoregressive/weights/``. The wall time, the process CPU time and the test
bits/dim are printed at the end; the README records them. The same seed gives the same
weights on the same machine and torch build.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path

import torch

import genplug

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE.parent / "genplug_autoregressive" / "weights"

# 452k parameters: 4 blocks of width 96, a start token per digit so `--label 7` draws sevens,
# and positions as a row vector plus a column vector (positions="axes"). Dropout 0.3: at 0.2
# this model overfitted the training digits (see the README's "Default weights: digits").
CONFIG = {
    "data_shape": (1, 8, 8),
    "levels": 17,
    "classes": 10,
    "n_layer": 4,
    "n_head": 4,
    "n_embd": 96,
    "dropout": 0.3,
    "positions": "axes",
}
# 1500 steps of 64 digits (64 epochs of the 1497 training digits); AdamW with weight decay 0.1
# on the weight matrices (the model's configure_optimizers) and an EMA of the weights.
# Dropout on the residual branches only: dropout on the attention weights would take
# scaled_dot_product_attention off its fused kernel, at 1.7x the time per step.
TRAIN = {
    "steps": 3000,
    "batch_size": 64,
    "lr": 3e-3,
    "schedule": "cosine",
    "warmup_steps": 100,
    "ema": 0.999,
    "seed": 0,
    "options": {"weight_decay": 0.1, "beta2": 0.99},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/transformer-digits-default", help="run folder")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--steps", type=int, default=TRAIN["steps"], help="training steps (the cosine spans them)")
    parser.add_argument("--no-copy", action="store_true", help="do not copy the result into the package's weights/")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(TRAIN["seed"])  # the initial weights, as `genplug train --seed` does
    model = genplug.create("transformer", **CONFIG)
    start, cpu = time.perf_counter(), time.process_time()
    train = {**TRAIN, "steps": args.steps}
    genplug.train(model, "digits", genplug.TrainConfig(**train), out=args.out, progress=False)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    test = genplug.load_data("digits", "test")
    with torch.no_grad():  # exact: log p(x) = log mean_k p(x | k), no label needed
        bits = float(-model.log_prob(test.x).mean()) / 64 / math.log(2)
    record = {
        "config": CONFIG,
        "train": train,
        "threads": args.threads,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "test_bits_per_dim": round(bits, 4),
    }
    path = Path(args.out) / "training.json"  # the trainer's record, with these figures added
    path.write_text(json.dumps({**json.loads(path.read_text()), **record}, indent=2) + "\n")
    if not args.no_copy:
        WEIGHTS.mkdir(exist_ok=True)
        for name in ("config.json", "model.safetensors", "training.json"):  # `genplug compare` reads training.json
            shutil.copyfile(Path(args.out) / name, WEIGHTS / name)
    print(json.dumps(record))


if __name__ == "__main__":
    main()
