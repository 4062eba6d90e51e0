"""Train the packaged weights of ``vq-transformer`` on digits (seeded, CPU, one thread).

    python plugins/genplug-hybrid/scripts/train_vq_transformer.py [--install]

Stage 1 is genplug-vae's packaged ``vq-vae`` (trained by
``plugins/genplug-vae/scripts/train_vq_vae.py``), frozen; ``--vq FOLDER`` takes another.
Stage 2, here: a class-conditional transformer prior (genplug-autoregressive's, the size of
its packaged digits model) over the VQ-VAE's 4x4 codes in raster order, trained through
``genplug.train`` on the codes of the digits' train split with their labels. The run goes
to ``runs/vq-transformer-digits/`` (checkpoints, metrics.jsonl, training.json);
``training.json`` gets the process CPU time (``cpu_seconds``), the thread count, the
encoder's SHA-256 and the held-out figures (code NLL and ELBO on the 300 test digits).
``--install`` copies the hybrid folder (``config.json``, ``encoder/``, ``prior/``,
``training.json``) into ``genplug_hybrid/packaged/vq-transformer/``. The same seed gives
the same weights on the same machine and torch build.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path

import torch
from _install import install
from genplug_hybrid import VQTransformer, VQTransformerConfig

import genplug

# The prior: genplug-autoregressive's packaged digits transformer (3 layers, 4 heads, width
# 64, dropout 0.2, a start token per digit), over 16 codes from a vocabulary of 64 instead of
# 64 pixels of 17 levels. Samples are draws x ~ p(x | z) from the VQ-VAE's decoder.
CONFIG = {
    "encoder": "vq-vae",
    "prior": {"n_layer": 3, "n_head": 4, "n_embd": 64, "dropout": 0.2, "classes": 10},
    "output": "draw",
}
TRAIN = {
    "steps": 3000,
    "batch_size": 64,
    "lr": 3e-3,
    "schedule": "cosine",
    "warmup_steps": 100,
    "ema": 0.999,
    "seed": 0,
    "checkpoint_every": 1000,
    "options": {"weight_decay": 0.1, "beta2": 0.99},
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@torch.no_grad()
def held_out(model: VQTransformer) -> dict[str, float]:
    """Code NLL (-log p(z*), no label: the mixture over digits) and ELBO on the test digits."""
    model.eval()
    x = genplug.load_data("digits", "test").x
    code_nll = float(model.code_nll(x).mean())
    elbo = float(model.log_prob(x).mean())
    tokens = math.prod(model.encoder.code_shape)
    return {
        "test_code_nll_nats": round(code_nll, 3),
        "test_code_bits_per_code": round(code_nll / tokens / math.log(2), 4),
        "test_elbo_nats": round(elbo, 3),
        "test_elbo_bits_per_dim": round(-elbo / math.prod(model.event_shape) / math.log(2), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/vq-transformer-digits", help="run folder")
    parser.add_argument("--vq", help="stage 1's VQ-VAE folder (default: the packaged vq-vae)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--steps", type=int, help="override the number of steps (a quick try)")
    parser.add_argument("--install", action="store_true", help="copy the result into genplug_hybrid/packaged/")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    train = {**TRAIN, **({"steps": args.steps} if args.steps else {})}
    encoder = genplug.load(args.vq or CONFIG["encoder"])
    torch.manual_seed(train["seed"])  # the prior's initial weights, as `genplug train --seed` does
    model = VQTransformer(VQTransformerConfig(**CONFIG), encoder=encoder)
    start, cpu_start = time.perf_counter(), time.process_time()
    model.fit("digits", out=out, progress=False, **train)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start

    final = genplug.load(out)  # the saved folder: EMA weights of the prior
    record = json.loads((out / "training.json").read_text())
    record.update(
        {
            "script": "plugins/genplug-hybrid/scripts/train_vq_transformer.py",
            "config": CONFIG,
            "stage1": args.vq or "the packaged vq-vae (plugins/genplug-vae/scripts/train_vq_vae.py)",
            "threads": args.threads,
            "wall_seconds": round(wall, 1),
            "cpu_seconds": round(cpu, 1),  # stage 2 only; below the wall time when other work shares the cores
            "encoder_sha256": sha256(out / "encoder" / "model.safetensors"),
            **held_out(final),
        }
    )
    (out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    if args.install:
        install(out, "vq-transformer", ("config.json", "training.json", "encoder", "prior"))
    print(json.dumps({k: v for k, v in record.items() if k.endswith(("seconds", "nats", "code", "dim"))}))


if __name__ == "__main__":
    main()
