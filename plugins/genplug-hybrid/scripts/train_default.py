"""Train the packaged default weights of ``latent-diffusion`` on digits (seeded, CPU, one thread).

    python plugins/genplug-hybrid/scripts/train_default.py

in two stages:

1. the first release's unconditional hybrid (into ``OUT/stage1``): an unconditional ``vae``
   by the recipe of genplug-vae's first packaged weights (``VAE_CONFIG``, ``VAE_TRAIN``;
   that VAE is class-conditional now, and a latent prior wants an encoder that needs no
   label), frozen, and a diffusion prior on its standardised 8-d latents (``STAGE1``,
   30000 steps; the latent statistics measured on the digits train split);
2. the class-conditional prior (``CONFIG``): the stage-1 hybrid with a label embedding
   added to its prior (the null label starts at zero, so the unconditional prior starts as
   it was), trained ``TRAIN`` (3000 steps) on the digits' latents with their labels, a
   fifth of them dropped to the null label (for classifier-free guidance). The encoder and
   the latent statistics stay stage 1's.

``--init FOLDER`` skips stage 1 and starts stage 2 from a hybrid folder holding its result
(the first release's ``genplug_hybrid/weights``, as ``git show`` gives them). The run goes
to ``runs/latent-diffusion-digits/`` (checkpoints, metrics.jsonl, training.json) and the
hybrid folder (``config.json``, ``encoder/``, ``prior/``) is copied into
``genplug_hybrid/weights/``. training.json records the wall and CPU times and the encoder's
SHA-256. The same seed gives the same weights on the same machine and torch build.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import time
from pathlib import Path

import attrs
import torch
from genplug_hybrid import LatentDiffusion, LatentDiffusionConfig
from safetensors.torch import load_file

import genplug

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE.parent / "genplug_hybrid" / "weights"

# Stage 1's encoder: genplug-vae's first default recipe (unconditional).
VAE_CONFIG = {"data_shape": (1, 8, 8), "latent_dim": 8, "warmup_steps": 1000}
VAE_TRAIN = {"steps": 6000, "batch_size": 128, "lr": 1e-3, "seed": 0, "ema": 0.999}

# Stage 1's hybrid, spelled out (LatentDiffusionConfig's defaults): the VAE above, frozen; a
# fresh posterior draw of each digit per batch, standardised per dimension; a residual-MLP
# diffusion prior with v-prediction on the cosine schedule; samples drawn from the VAE's
# p(x | z) at latents from 20 UniPC steps.
PRIOR = {"hidden": 256, "mlp_blocks": 4, "prediction_type": "v_prediction", "schedule": "cosine"}
STAGE1_CONFIG = {
    "encoder": "vae",
    "prior": PRIOR,
    "latent": "sample",
    "standardize": True,
    "output": "draw",
    "sampler": "unipc",
    "steps": 20,
}
STAGE1 = {"steps": 30000, "batch_size": 128, "lr": 1e-3, "seed": 0, "ema": 0.999, "checkpoint_every": 2000}

# Stage 2: the same hybrid, its prior conditioned on the digit.
CONFIG = {
    **STAGE1_CONFIG,
    "prior": {**PRIOR, "classes": 10, "label_dropout": 0.3, "guidance": 2.0},
}
TRAIN = {"steps": 10000, "batch_size": 128, "lr": 1e-3, "seed": 0, "ema": 0.999, "checkpoint_every": 1000}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stage1(out: Path) -> Path:
    """The first release's unconditional hybrid, trained from scratch; returns its folder."""
    torch.manual_seed(VAE_TRAIN["seed"])  # the encoder's initial weights
    vae = genplug.create("vae", **VAE_CONFIG)
    genplug.train(vae, "digits", genplug.TrainConfig(**VAE_TRAIN), out=out / "vae", progress=False)
    torch.manual_seed(STAGE1["seed"])  # the prior's initial weights, as `genplug train --seed` does
    model = LatentDiffusion(LatentDiffusionConfig(**STAGE1_CONFIG), encoder=genplug.load(out / "vae"))
    model.fit("digits", out=out, progress=False, **STAGE1)
    return out


def conditional_from(folder: Path) -> LatentDiffusion:
    """The stage-2 hybrid: stage 1's encoder and latent statistics, and a conditional prior
    holding every weight of stage 1's prior."""
    first = genplug.load(folder)
    torch.manual_seed(TRAIN["seed"])  # the label embedding's initial weights
    prior = genplug.create("diffusion", data_shape=tuple(first.encoder.latent_shape), **CONFIG["prior"])
    missing, unexpected = prior.load_state_dict(load_file(folder / "prior" / "model.safetensors"), strict=False)
    if set(missing) != {"net.label_embed.table.weight"} or unexpected:
        raise SystemExit(f"{folder} is not a stage-1 hybrid: missing {missing}, unexpected {unexpected}")
    stats = {"latent_mean": first.config.latent_mean, "latent_std": first.config.latent_std}
    config = attrs.evolve(LatentDiffusionConfig(**CONFIG), **stats)
    return LatentDiffusion(config, encoder=first.encoder, prior=prior)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/latent-diffusion-digits", help="run folder")
    parser.add_argument("--init", type=Path, help="a hybrid folder with stage 1's result: skip stage 1")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--resume", action="store_true", help="continue a killed stage-2 run from its checkpoint")
    parser.add_argument("--no-copy", action="store_true", help="do not copy the result into genplug_hybrid/weights")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    start, cpu_start = time.perf_counter(), time.process_time()
    first = args.init if args.init is not None else stage1(out / "stage1")
    model = conditional_from(first)
    model.fit("digits", out=out, resume=args.resume, progress=False, **TRAIN)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    record = {
        "config": CONFIG,
        "train": TRAIN,
        "stage1": "trained" if args.init is None else f"from {args.init}",
        "threads": args.threads,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),  # below the wall time when other work shares the cores
        "latent_mean": model.config.latent_mean,
        "latent_std": model.config.latent_std,
        "encoder_sha256": sha256(out / "encoder" / "model.safetensors"),
    }
    (out / "training-default.json").write_text(json.dumps(record, indent=2) + "\n")
    if not args.no_copy:
        shutil.rmtree(WEIGHTS, ignore_errors=True)
        WEIGHTS.mkdir(parents=True)
        shutil.copyfile(out / "config.json", WEIGHTS / "config.json")
        for part in ("encoder", "prior"):
            shutil.copytree(out / part, WEIGHTS / part)
        # genplug.train's record of stage 2 with this script's CPU time: `genplug compare` reads it
        trained = json.loads((out / "training.json").read_text())
        extra = {k: record[k] for k in ("stage1", "wall_seconds", "cpu_seconds")}
        (WEIGHTS / "training.json").write_text(json.dumps({**trained, **extra}, indent=2) + "\n")
    print(json.dumps({k: record[k] for k in ("threads", "wall_seconds", "cpu_seconds", "encoder_sha256")}))


if __name__ == "__main__":
    main()
