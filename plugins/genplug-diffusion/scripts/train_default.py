"""Train the packaged default weights of ``diffusion`` on ``digits``, reproducibly.

    python plugins/genplug-diffusion/scripts/train_default.py --out runs/diffusion-digits --install

trains with a fixed seed on one CPU thread (``OMP_NUM_THREADS=1``; results then do not
depend on the machine's core count), in two stages:

1. the unconditional model (``STAGE1_CONFIG``, ``STAGE1``: 6000 steps, into ``OUT/stage1``;
   the first release's packaged weights, and the defaults of ``DiffusionConfig`` and
   ``DiffusionModel.train_defaults`` but for ``levels``);
2. the class-conditional model (``CONFIG``) starts from those weights (a label embedding
   added to the time embedding; its null label starts at zero, so the unconditional
   prediction starts as it was) and trains ``TRAIN`` (2500 steps) on the digits with their
   labels, a fifth of them dropped to the null label (for classifier-free guidance).

``--init FOLDER`` skips stage 1 and starts stage 2 from a model folder holding its result
(such as the first release's ``genplug_diffusion/weights``, ``git show 7c5ffb4:...``). With
``--install``, ``config.json``, ``model.safetensors`` and ``training.json`` (genplug's
record of stage 2 plus this script's wall and CPU seconds) are copied into
``genplug_diffusion/weights/``. Wall and CPU times are printed at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

import genplug

#: Stage 1: the unconditional UNet and its recipe. ``levels`` (the digits' 17 values) changes
#: only ``log_prob``, so ``OMP_NUM_THREADS=1 genplug train diffusion --data digits --seed 0
#: --config levels=17`` trains the same model.
STAGE1_CONFIG = {"data_shape": (1, 8, 8), "channels": 32, "res_blocks": 1, "schedule": "cosine", "levels": 17}
STAGE1 = {"steps": 6000, "batch_size": 128, "lr": 1e-3, "ema": 0.999, "seed": 0, "checkpoint_every": 1000}

#: Stage 2, the packaged model: the same network, class-conditional.
CONFIG = {
    **STAGE1_CONFIG,
    "classes": 10,  # `label`, the digit
    "label_dropout": 0.2,  # a fifth of the labels become the null label: the unconditional model, for guidance
    "guidance": 2.0,  # the default guidance scale with a label (read by sampling only)
}
TRAIN = {"steps": 2500, "batch_size": 128, "lr": 1e-3, "ema": 0.999, "seed": 0, "checkpoint_every": 500}

WEIGHTS = Path(__file__).resolve().parents[1] / "genplug_diffusion" / "weights"


def stage1(out: Path) -> Path:
    """The unconditional model, trained from scratch; returns its folder."""
    torch.manual_seed(STAGE1["seed"])  # the initial weights
    model = genplug.create("diffusion", **STAGE1_CONFIG)
    genplug.train(model, "digits", genplug.TrainConfig(**STAGE1), out=out)
    return out


def conditional_from(folder: Path) -> genplug.Model:
    """The conditional model with every weight of the unconditional one in ``folder``."""
    torch.manual_seed(TRAIN["seed"])  # the label embedding's initial weights
    model = genplug.create("diffusion", **CONFIG)
    missing, unexpected = model.load_state_dict(load_file(folder / "model.safetensors"), strict=False)
    if set(missing) != {"net.label_embed.table.weight"} or unexpected:
        raise SystemExit(f"{folder} is not the stage-1 model: missing {missing}, unexpected {unexpected}")
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/diffusion-digits", help="the run folder")
    parser.add_argument("--init", type=Path, help="a folder with stage 1's result: skip stage 1")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--resume", action="store_true", help="continue a killed stage-2 run")
    parser.add_argument("--install", action="store_true", help="copy the result into the package")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    start, cpu_start = time.perf_counter(), time.process_time()
    first = args.init if args.init is not None else stage1(out / "stage1")
    model = conditional_from(first)
    genplug.train(model, "digits", genplug.TrainConfig(**TRAIN), out=out, resume=args.resume)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    record = {
        "stage1": "trained" if args.init is None else f"from {args.init}",
        "stage1_steps": STAGE1["steps"],  # `genplug compare` shows both stages' steps
        "threads": args.threads,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),  # both stages' (stage 2's with --init); below the wall time under load
    }
    (out / "training-default.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record))
    if args.install:
        WEIGHTS.mkdir(exist_ok=True)
        for name in ("config.json", "model.safetensors"):
            shutil.copyfile(out / name, WEIGHTS / name)
        trained = json.loads((out / "training.json").read_text())  # `genplug compare` reads it
        (WEIGHTS / "training.json").write_text(json.dumps({**trained, **record}, indent=2) + "\n")
        print(f"installed into {WEIGHTS}")


if __name__ == "__main__":
    main()
