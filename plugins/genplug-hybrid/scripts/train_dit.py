"""Train the packaged weights of ``dit`` on digits (seeded, CPU, one thread).

    OMP_NUM_THREADS=1 python plugins/genplug-hybrid/scripts/train_dit.py --out runs/dit-digits --install

trains the class-conditional DiT of ``CONFIG`` with ``TRAIN``: the budget of the packaged
UNet diffusion model (genplug-diffusion's ``scripts/train_default.py``: 6000 steps of 128
digits, EMA 0.999), its labels with a fifth of them dropped to the null label (for
classifier-free guidance, as genplug-diffusion's ``train_conditional.py``), and a warm-up
and cosine decay of the learning rate, which the transformer needs at 1e-3. The run goes
to ``--out`` through :func:`genplug.train` (checkpoints, ``metrics.jsonl``,
``training.json``); this script adds ``cpu_seconds`` (the process's CPU time) and
``wall_seconds`` to ``training.json``. ``--install`` copies ``config.json``,
``model.safetensors`` and ``training.json`` into ``genplug_hybrid/packaged/dit/``. The same
seed gives the same weights on the same machine and torch build.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

import genplug

PACKAGED = Path(__file__).resolve().parents[1] / "genplug_hybrid" / "packaged" / "dit"

#: The model: 8x8 digits in 2x2 patches (16 tokens), 6 blocks of width 80 (DiTConfig's defaults):
#: 729,124 parameters; the UNet of train_default.py has 651,041 (652,449 class-conditional).
CONFIG = {
    "data_shape": (1, 8, 8),
    "patch_size": 2,
    "n_layer": 6,
    "n_head": 4,
    "n_embd": 80,
    "schedule": "cosine",  # the UNet's schedule and ε-prediction
    "levels": 17,  # the digits' 17 values (log_prob only)
    "classes": 10,  # `label`, the digit
    "label_dropout": 0.2,  # a fifth of the labels become the null label: the unconditional model
    "guidance": 2.0,  # the default guidance scale with a label (sampling only)
}
TRAIN = {
    "steps": 6000,
    "batch_size": 128,
    "lr": 1e-3,
    "ema": 0.999,
    "schedule": "cosine",
    "warmup_steps": 200,
    "seed": 0,
    "checkpoint_every": 1000,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/dit-digits", help="the run folder")
    parser.add_argument("--steps", type=int, default=TRAIN["steps"], help="optimisation steps")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--resume", action="store_true", help="continue a killed run")
    parser.add_argument("--install", action="store_true", help="copy the result into genplug_hybrid/packaged/dit")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    torch.manual_seed(TRAIN["seed"])  # the initial weights, as `genplug train --seed` does
    model = genplug.create("dit", **CONFIG)
    start, cpu_start = time.perf_counter(), time.process_time()
    genplug.train(model, "digits", genplug.TrainConfig(**{**TRAIN, "steps": args.steps}), out=out, resume=args.resume)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    record = json.loads((out / "training.json").read_text())
    record["command"] = f"python plugins/genplug-hybrid/scripts/train_dit.py --steps {args.steps}"
    record["wall_seconds"] = round(wall, 1)  # this process, resumed runs not summed
    record["cpu_seconds"] = round(cpu, 1)  # below the wall time when other work shares the cores
    record["parameters"] = sum(p.numel() for p in model.parameters())
    (out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    if args.install:
        shutil.rmtree(PACKAGED, ignore_errors=True)
        PACKAGED.mkdir(parents=True)
        for name in ("config.json", "model.safetensors", "training.json"):
            shutil.copyfile(out / name, PACKAGED / name)
        print(f"installed into {PACKAGED}")
    print(json.dumps({k: record[k] for k in ("steps", "threads", "wall_seconds", "cpu_seconds", "parameters")}))


if __name__ == "__main__":
    main()
