"""Train the packaged default weights of ``latent-diffusion`` on digits (seeded, CPU, one thread).

    python plugins/genplug-hybrid/scripts/train_default.py

builds ``genplug.create("latent-diffusion", **CONFIG)`` (the packaged ``vae``, frozen, and
a fresh diffusion prior on its 8-d latents), measures the latent statistics on the digits
train split, trains the prior, writes the run to ``runs/latent-diffusion-digits/``
(checkpoints, metrics.jsonl, training.json) and copies the hybrid folder (``config.json``,
``encoder/``, ``prior/``) into ``genplug_hybrid/weights/``. The encoder folder is a copy of
the packaged VAE's weights; training.json records their SHA-256 so a retrained VAE is
noticed. The wall and CPU times are printed at the end; the README records them. The same seed gives
the same weights on the same machine and torch build.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import time
from pathlib import Path

import torch

import genplug

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE.parent / "genplug_hybrid" / "weights"

# The default model, spelled out (these are LatentDiffusionConfig's defaults): the packaged
# VAE, frozen; a fresh posterior draw of each digit per batch, standardised per dimension;
# a residual-MLP diffusion prior with v-prediction on the cosine schedule; samples drawn
# from the VAE's p(x | z) at latents from 20 UniPC steps.
CONFIG = {
    "encoder": "vae",
    "prior": {"hidden": 256, "mlp_blocks": 4, "prediction_type": "v_prediction", "schedule": "cosine"},
    "latent": "sample",
    "standardize": True,
    "output": "draw",
    "sampler": "unipc",
    "steps": 20,
}
TRAIN = {"steps": 30000, "batch_size": 128, "lr": 1e-3, "seed": 0, "ema": 0.999, "checkpoint_every": 2000}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/latent-diffusion-digits", help="run folder")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--resume", action="store_true", help="continue a killed run from its checkpoint")
    parser.add_argument("--no-copy", action="store_true", help="do not copy the result into genplug_hybrid/weights")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(TRAIN["seed"])  # the prior's initial weights, as `genplug train --seed` does
    model = genplug.create("latent-diffusion", **CONFIG)
    start, cpu_start = time.perf_counter(), time.process_time()
    model.fit("digits", out=args.out, resume=args.resume, progress=False, **TRAIN)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    out = Path(args.out)
    record = {
        "config": CONFIG,
        "train": TRAIN,
        "threads": args.threads,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),  # below the wall time when other work shares the cores
        "latent_mean": model.config.latent_mean,
        "latent_std": model.config.latent_std,
        "encoder_sha256": sha256(out / "encoder" / "model.safetensors"),
        "vae_weights": str(genplug.default_weights("vae")),
    }
    (out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    if not args.no_copy:
        shutil.rmtree(WEIGHTS, ignore_errors=True)
        WEIGHTS.mkdir(parents=True)
        shutil.copyfile(out / "config.json", WEIGHTS / "config.json")
        for part in ("encoder", "prior"):
            shutil.copytree(out / part, WEIGHTS / part)
    print(json.dumps({k: record[k] for k in ("threads", "wall_seconds", "cpu_seconds", "encoder_sha256")}))


if __name__ == "__main__":
    main()
