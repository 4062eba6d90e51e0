"""Train the packaged default weights of ``transformer-text`` on ``tinytext`` (seeded, CPU).

    python plugins/genplug-autoregressive/scripts/train_text.py

writes the run to ``runs/transformer-text-default/`` (checkpoints, metrics.jsonl) and
copies the model folder (``config.json``, ``model.safetensors``, ``tokenizer.json``) into
``genplug_autoregressive/weights_text/``. It prints the wall time, the process CPU time and
the held-out bits per character; the README records them. The same seed gives the same
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
WEIGHTS = HERE.parent / "genplug_autoregressive" / "weights_text"

# A character model of 64-character windows: 2 blocks of width 64 (the vocabulary, 42, comes from the data).
CONFIG = {"n_layer": 2, "n_head": 4, "n_embd": 64, "dropout": 0.0}
TRAIN = {"steps": 2000, "batch_size": 32, "lr": 3e-3, "schedule": "cosine", "warmup_steps": 100, "seed": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/transformer-text-default", help="run folder")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--no-copy", action="store_true", help="do not copy the result into the package's weights_text/"
    )
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    start, cpu = time.perf_counter(), time.process_time()
    model = genplug.train(
        "transformer-text", "tinytext", genplug.TrainConfig(**TRAIN), out=args.out, model_config=CONFIG, progress=False
    )
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    test = genplug.load_data("tinytext", "test")
    with torch.no_grad():
        bits = float(-model.log_prob(test.x).mean()) / test.x.shape[1] / math.log(2)
    record = {
        "config": CONFIG,
        "train": TRAIN,
        "threads": args.threads,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "test_bits_per_char": round(bits, 4),
    }
    path = Path(args.out) / "training.json"  # the trainer's record, with these figures added
    path.write_text(json.dumps({**json.loads(path.read_text()), **record}, indent=2) + "\n")
    if not args.no_copy:
        WEIGHTS.mkdir(exist_ok=True)
        for name in ("config.json", "model.safetensors", "tokenizer.json"):
            shutil.copyfile(Path(args.out) / name, WEIGHTS / name)
    print(json.dumps(record))


if __name__ == "__main__":
    main()
