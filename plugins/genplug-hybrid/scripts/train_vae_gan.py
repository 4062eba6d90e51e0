"""Train the packaged weights of ``vae-gan`` on digits (seeded, CPU, one thread).

    OMP_NUM_THREADS=1 python plugins/genplug-hybrid/scripts/train_vae_gan.py --install

starts from genplug-vae's packaged VAE (the conditional VAE of its own recipe, 6000 steps on
the ELBO; its KL warm-up is over, so this run keeps the KL weight at beta = 1:
``warmup_steps=0``) and a fresh discriminator of genplug-gan (``DEFAULT_GAN``),
and trains both for ``TRAIN["steps"]`` steps through ``genplug.train``: each step one
discriminator update and one VAE update on its ELBO plus the adversarial terms
(``OPTIONS``). The run goes to ``--out`` (checkpoints, metrics.jsonl, training.json, to
which this script adds ``cpu_seconds``, the process CPU time, and ``wall_seconds``), and
``--install`` copies the folder (config.json, vae/, gan/, training.json) into
``genplug_hybrid/packaged/vae-gan/``.

``--adversarial-weight 0 --feature-weight 0`` trains the same recipe without the
discriminator: the plain VAE the README compares with (do not install that one). The same
seed gives the same weights on the same machine and torch build; ``--resume`` continues a
killed run to the same weights.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import attrs
import torch
from _install import install
from genplug_hybrid.vae_gan import DEFAULT_GAN, VAEGAN, VAEGANConfig

import genplug

#: The composite (with the packaged VAE, below): genplug-gan's discriminator, samples decoded to E[x | z].
CONFIG = {"gan": DEFAULT_GAN, "output": "mean"}
#: VAEGANTrainOptions: the decoder's adversarial loss (hinge) and feature matching.
OPTIONS = {
    "adversarial_weight": 10.0,
    "feature_weight": 0.0,
    "loss": "hinge",
    "d_lr_ratio": 2.0,
    "beta1": 0.5,
    "augment": "",  # DiffAugment on what the discriminator sees (genplug-gan's policies); "": off
}
TRAIN = {"steps": 6000, "batch_size": 64, "lr": 2e-4, "ema": 0.999, "seed": 0, "checkpoint_every": 500}


def packaged_vae() -> genplug.Model:
    """genplug-vae's packaged VAE, its KL warm-up (done in its own 6000 steps) switched off."""
    packaged = genplug.load("vae")
    vae = genplug.create("vae", **{**attrs.asdict(packaged.config), "warmup_steps": 0})
    vae.load_state_dict(packaged.state_dict())
    return vae


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/vae-gan-digits", help="the run folder")
    parser.add_argument("--steps", type=int, default=TRAIN["steps"], help="training steps")
    parser.add_argument("--adversarial-weight", type=float, default=OPTIONS["adversarial_weight"])
    parser.add_argument("--feature-weight", type=float, default=OPTIONS["feature_weight"])
    parser.add_argument("--augment", default=OPTIONS["augment"], help='DiffAugment for D, e.g. "translation,color"')
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--resume", action="store_true", help="continue a killed run from its checkpoint")
    parser.add_argument("--install", action="store_true", help="copy the result into genplug_hybrid/packaged/vae-gan")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    weights = {"adversarial_weight": args.adversarial_weight, "feature_weight": args.feature_weight}
    options = {**OPTIONS, **weights, "augment": args.augment}
    before = json.loads((out / "training.json").read_text()) if args.resume and (out / "training.json").exists() else {}
    start, cpu_start = time.perf_counter(), time.process_time()
    torch.manual_seed(TRAIN["seed"])  # the discriminator's initial weights, as `genplug train --seed` does
    model = VAEGAN(VAEGANConfig(**CONFIG), vae=packaged_vae())
    config = genplug.TrainConfig(**{**TRAIN, "steps": args.steps, "options": options})
    command = " ".join(["python", "plugins/genplug-hybrid/scripts/train_vae_gan.py", *sys.argv[1:]])
    genplug.train(model, "digits", config, out=out, resume=args.resume, progress=False, command=command)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    record = json.loads((out / "training.json").read_text())
    record["cpu_seconds"] = round(cpu + before.get("cpu_seconds", 0.0), 1)  # a resumed run adds the first part's
    record["wall_seconds"] = round(wall + before.get("wall_seconds", 0.0), 1)
    record["init"] = "genplug-vae's packaged weights (genplug.load('vae')), warmup_steps=0"
    (out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps({k: record[k] for k in ("steps", "threads", "wall_seconds", "cpu_seconds")}))
    if args.install:
        install(out, "vae-gan", ("config.json", "training.json", "vae", "gan"))


if __name__ == "__main__":
    main()
