"""Train the packaged default weights of ``diffusion`` on ``digits``, reproducibly.

    python plugins/genplug-diffusion/scripts/train_default.py --out runs/diffusion-digits --install

trains with a fixed seed on one CPU thread (``OMP_NUM_THREADS=1``; results then do not
depend on the machine's core count), writes the run to ``--out``, and with ``--install``
copies ``config.json`` and ``model.safetensors`` into ``genplug_diffusion/weights/``.
The wall time is printed at the end.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import torch

import genplug

#: The default model: the config fields and the training options.
#: They are also the defaults of DiffusionConfig and DiffusionModel.train_defaults, except
#: ``levels`` (the digits' 17 values; the default None is continuous data), so
#: ``OMP_NUM_THREADS=1 genplug train diffusion --data digits --seed 0 --config levels=17``
#: trains the same model. ``levels`` changes only ``log_prob``, not training or sampling.
CONFIG = {"data_shape": (1, 8, 8), "channels": 32, "res_blocks": 1, "schedule": "cosine", "levels": 17}
TRAIN = {"steps": 6000, "batch_size": 128, "lr": 1e-3, "ema": 0.999, "seed": 0, "checkpoint_every": 1000}

WEIGHTS = Path(__file__).resolve().parents[1] / "genplug_diffusion" / "weights"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/diffusion-digits", help="the run folder")
    parser.add_argument("--steps", type=int, default=TRAIN["steps"], help="optimisation steps")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--resume", action="store_true", help="continue a killed run")
    parser.add_argument("--install", action="store_true", help="copy the result into the package")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(TRAIN["seed"])  # the initial weights
    model = genplug.create("diffusion", **CONFIG)
    config = genplug.TrainConfig(**{**TRAIN, "steps": args.steps})
    start = time.perf_counter()
    genplug.train(model, "digits", config, out=args.out, resume=args.resume)
    minutes = (time.perf_counter() - start) / 60
    cpu = time.process_time() / 60
    print(
        f"trained {args.steps} steps in {minutes:.1f} min wall, {cpu:.1f} min CPU, on {args.threads} thread(s); "
        f"weights in {args.out}"
    )
    if args.install:
        WEIGHTS.mkdir(exist_ok=True)
        for name in ("config.json", "model.safetensors"):
            shutil.copyfile(Path(args.out) / name, WEIGHTS / name)
        print(f"installed into {WEIGHTS}")


if __name__ == "__main__":
    main()
