"""Train ``vae-flow-prior`` on digits, or its baseline, the same VAE with the N(0, I) prior (seeded, CPU, one thread).

    python plugins/genplug-hybrid/scripts/train_vae_flow_prior.py --install     # the packaged weights
    python plugins/genplug-hybrid/scripts/train_vae_flow_prior.py --prior normal  # the baseline

``--prior flow`` (the default) trains a :class:`VAEFlowPrior`: the VAE of ``VAE_CONFIG``
and a spline flow of ``FLOW_CONFIG`` over its 8-d latents, jointly on the ELBO, for
``TRAIN``. ``--prior normal`` trains genplug-vae's plain ``vae`` of the same
``VAE_CONFIG`` with the same ``TRAIN``: the same seed gives it the same initial VAE weights
(the flow is built after the VAE) and the same batches, so the two differ in the prior
alone. Both go through ``genplug.train`` into ``--out`` (default
``runs/vae-flow-prior-<prior>``), whose ``training.json`` gets the process CPU time
(``cpu_seconds``) and the wall time of the whole script (``wall_seconds``) added.
``--install`` copies the flow-prior run's hybrid folder (``config.json``, ``encoder/``,
``prior/``) and its ``training.json`` into ``genplug_hybrid/packaged/vae-flow-prior/``.
Compare the two with ``genplug eval vae-flow-prior -n 1000 --seed 0`` and
``genplug eval vae --weights runs/vae-flow-prior-normal -n 1000 --seed 0``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from _install import install
from genplug_hybrid import VAEFlowPrior, VAEFlowPriorConfig

import genplug

HERE = Path(__file__).resolve().parent
PACKAGED = HERE.parent / "genplug_hybrid" / "packaged" / "vae-flow-prior"

# The VAE of both runs: genplug-vae's unconditional digits recipe (small conv networks, the
# discretized logistic likelihood over 17 grey levels, KL warm-up over 1000 steps).
VAE_CONFIG = {"data_shape": (1, 8, 8), "latent_dim": 8, "warmup_steps": 1000}
# The flow prior: four autoregressive rational-quadratic spline layers over the 8-d latent.
FLOW_CONFIG = {"transforms": 4, "hidden": 64, "depth": 2, "bins": 8}
# genplug-vae's recipe for its packaged weights, for both runs.
TRAIN = {"steps": 6000, "batch_size": 128, "lr": 1e-3, "seed": 0, "ema": 0.999, "threads": 1}


def build(prior: str) -> torch.nn.Module:
    """The untrained model of ``--prior``, its weights drawn from the run's seed."""
    torch.manual_seed(TRAIN["seed"])  # the initial weights, as `genplug train --seed` does; the VAE first
    if prior == "normal":
        return genplug.create("vae", **VAE_CONFIG)
    return VAEFlowPrior(VAEFlowPriorConfig(vae=dict(VAE_CONFIG), flow=dict(FLOW_CONFIG)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", choices=("flow", "normal"), default="flow", help="the flow prior, or N(0, I)")
    parser.add_argument("--out", help="run folder (default runs/vae-flow-prior-<prior>)")
    parser.add_argument("--steps", type=int, help=f"training steps (default {TRAIN['steps']})")
    parser.add_argument("--install", action="store_true", help=f"copy the flow-prior run into {PACKAGED}")
    args = parser.parse_args()
    if args.install and args.prior != "flow":
        parser.error("--install packages the flow-prior model; the baseline is not packaged")

    out = Path(args.out or f"runs/vae-flow-prior-{args.prior}")
    train = {**TRAIN, **({"steps": args.steps} if args.steps else {})}
    torch.set_num_threads(train["threads"])
    start, cpu_start = time.perf_counter(), time.process_time()
    model = build(args.prior)
    genplug.train(model, "digits", genplug.TrainConfig(**train), out=out, progress=False)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    record = json.loads((out / "training.json").read_text())
    record.update(
        script="plugins/genplug-hybrid/scripts/train_vae_flow_prior.py",
        prior=args.prior,
        vae_config=VAE_CONFIG,
        flow_config=FLOW_CONFIG if args.prior == "flow" else None,
        wall_seconds=round(wall, 1),
        cpu_seconds=round(cpu, 1),  # below the wall time when other work shares the cores
    )
    (out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    if args.install:
        install(out, "vae-flow-prior", ("config.json", "training.json", "encoder", "prior"))
    print(json.dumps({k: record[k] for k in ("prior", "steps", "threads", "wall_seconds", "cpu_seconds")}))


if __name__ == "__main__":
    main()
