"""Train the packaged weights of ``vq-vae`` on digits (seeded, CPU, one thread).

    python plugins/genplug-vae/scripts/train_vq_vae.py [--install]

trains through ``genplug.train`` into ``runs/vq-vae-digits/`` (checkpoints, metrics.jsonl
with each step's codebook perplexity, training.json) and adds to ``training.json`` the
process CPU time (``cpu_seconds``) beside the trainer's wall time, the thread count, and
the codebook usage on the digits' train and test splits. ``--install`` copies the model
folder (``config.json``, ``model.safetensors``, ``training.json``) into
``genplug_vae/vq_weights/``. The same seed gives the same weights on the same machine and
torch build.
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
WEIGHTS = HERE.parent / "genplug_vae" / "vq_weights"

# A 4x4 grid of codes from a codebook of 64 entries of dimension 16 (VQVAEConfig's
# defaults, written out): 16 tokens of 6 bits per digit for genplug-hybrid's vq-transformer.
CONFIG = {
    "data_shape": (1, 8, 8),
    "hidden": 32,
    "downsamples": 1,
    "res_blocks": 1,
    "embedding_dim": 16,
    "num_codes": 64,
    "commitment": 0.25,
    "ema_decay": 0.99,
    "restart_threshold": 1.0,
}
# No EMA of the weights: the codebook is itself an EMA of the encoder's outputs, and
# averaging the encoder alone would pair it with a codebook that tracked another encoder.
TRAIN = {"steps": 5000, "batch_size": 128, "lr": 1e-3, "seed": 0, "schedule": "cosine", "checkpoint_every": 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/vq-vae-digits", help="run folder")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--steps", type=int, help="override the number of steps (a quick try)")
    parser.add_argument("--install", action="store_true", help="copy the result into genplug_vae/vq_weights")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    train = {**TRAIN, **({"steps": args.steps} if args.steps else {})}
    torch.manual_seed(train["seed"])  # the initial weights, as `genplug train --seed` does
    model = genplug.create("vq-vae", **CONFIG)
    start, cpu_start = time.perf_counter(), time.process_time()
    genplug.train(model, "digits", genplug.TrainConfig(**train), out=out, progress=False)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start

    model.eval()
    usage = {split: model.usage(genplug.load_data("digits", split).x) for split in ("train", "test")}
    record = json.loads((out / "training.json").read_text())
    record.update(
        {
            "script": "plugins/genplug-vae/scripts/train_vq_vae.py",
            "config": CONFIG,
            "threads": args.threads,
            "wall_seconds": round(wall, 1),
            "cpu_seconds": round(cpu, 1),  # below the wall time when other work shares the cores
            "codebook_usage": usage,
        }
    )
    (out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    if args.install:
        shutil.rmtree(WEIGHTS, ignore_errors=True)
        WEIGHTS.mkdir(parents=True)
        for name in ("config.json", "model.safetensors", "training.json"):
            shutil.copyfile(out / name, WEIGHTS / name)
    print(json.dumps({k: record[k] for k in ("threads", "wall_seconds", "cpu_seconds", "codebook_usage")}))


if __name__ == "__main__":
    main()
