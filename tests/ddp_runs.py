"""Trainings run by tests/test_distributed.py under ``torchrun --nproc-per-node 2`` (gloo).

First ``genplug train`` (the command, as ``torchrun -m genplug train`` runs it) starts the
process group from torchrun's environment; then each training below runs in that group
(one started before it), every process checks that it holds rank 0's weights, and rank 0
writes ``report.json`` in OUT: the largest difference from rank 0's weights, by rank.

    torchrun --standalone --nproc-per-node 2 tests/ddp_runs.py OUT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

import genplug
from genplug._cli import cli


def _toy() -> genplug.Model:
    torch.manual_seed(0)
    return genplug.create("toy-gaussian", data_shape=(2,))


def _same_everywhere(model: torch.nn.Module) -> list[float]:
    """Each process's sum of |weights|, by rank; rank 0's exact weights broadcast to compare."""
    mismatch = 0.0
    for tensor in model.state_dict().values():
        theirs = tensor.clone()
        dist.broadcast(theirs, 0)
        mismatch = max(mismatch, float((theirs.double() - tensor.double()).abs().max()) if tensor.numel() else 0.0)
    every: list[float] = [0.0] * dist.get_world_size()
    dist.all_gather_object(every, mismatch)
    return every


def main(out: Path) -> None:
    # 0. the command: 20 steps of the toy model (tests/test_distributed.py: TOY)
    toy_options = ["--steps", "20", "--batch-size", "64", "--lr", "0.05", "--checkpoint-every", "10"]
    args = ["train", "toy-gaussian", "--data", "moons", *toy_options, "--out", str(out / "toy")]
    cli.main(args, standalone_mode=False)
    assert dist.is_initialized() and dist.get_backend() == "gloo"  # started by the command, left for the next

    toy = {"steps": 20, "batch_size": 64, "lr": 0.05, "checkpoint_every": 10}
    report: dict[str, object] = {"world": dist.get_world_size()}

    # 1. a resumed group run: 10 steps, then on to 20
    genplug.train(_toy(), "moons", {**toy, "steps": 10}, out=out / "toy-resumed", progress=False)
    model = genplug.train(_toy(), "moons", toy, out=out / "toy-resumed", resume=True, progress=False)
    report["toy-resumed"] = _same_everywhere(model)

    # 2. micro-batches over processes: 2 processes x 2 micro-batches
    model = genplug.train(_toy(), "moons", {**toy, "accumulate": 2}, out=out / "toy-accumulate", progress=False)
    report["toy-accumulate"] = _same_everywhere(model)

    # 3. a stochastic model: the VAE on moons
    torch.manual_seed(0)
    vae = genplug.create("vae", data_shape=(2,), latent_dim=2, mlp_hidden=32)
    vae_config = {"steps": 100, "batch_size": 128, "lr": 3e-3, "log_every": 10, "checkpoint_every": 100}
    model = genplug.train(vae, "moons", vae_config, out=out / "vae", progress=False)
    report["vae"] = _same_everywhere(model)

    # 4. two optimizers and two discriminator steps per generator step: the GAN
    torch.manual_seed(0)
    gan = genplug.create("gan", data_shape=(2,), mlp_hidden=16, mlp_depth=1, latent_dim=4)
    gan_config = {"steps": 5, "batch_size": 32, "lr": 1e-3, "checkpoint_every": 5, "options": {"d_steps": 2}}
    model = genplug.train(gan, "moons", gan_config, out=out / "gan", progress=False)
    report["gan"] = _same_everywhere(model)

    # 5. buffers trained outside the optimizer: the VQ-VAE's EMA codebook, with restarts
    torch.manual_seed(0)
    vq = genplug.create("vq-vae", hidden=4, embedding_dim=3, num_codes=8, restart_threshold=1.0)
    vq_config = {"steps": 6, "batch_size": 16, "lr": 1e-3, "checkpoint_every": 6}
    model = genplug.train(vq, "digits", vq_config, out=out / "vq-vae", progress=False)
    report["vq-vae"] = _same_everywhere(model)

    if dist.get_rank() == 0:
        (out / "report.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
