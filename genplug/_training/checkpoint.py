"""Checkpoints: everything a killed run needs to end exactly as an uninterrupted one.

``out/checkpoint/`` is a model folder (the raw weights) plus::

    ema.safetensors          EMA weights (when EMA is on)
    optimizers.safetensors   every optimizer's state (tensors; the rest as JSON metadata)
    trainer_state.json       step, train config, the trainer's generator and torch's
                             global random states, CPU and CUDA (dropout draws from
                             them), those of every process of a distributed run
                             (``rank_states``), the fp16 loss scale, recent figures

It is written to ``checkpoint.tmp`` and swapped in by two renames; a kill between them
leaves ``checkpoint.old``, which :func:`find_checkpoint` also accepts. Nothing here is
pickled: optimizer state is flattened into tensors and JSON.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import attrs
import torch

from genplug import _folder
from genplug._errors import GenplugError
from genplug._files import atomic_write_json, load_tensors, read_json, safetensors_header, save_tensors
from genplug._state import check_state
from genplug._training.config import TrainConfig
from genplug._training.distributed import rank_seed

__all__ = ["EMA", "find_checkpoint", "random_states", "restore", "save_checkpoint"]

STATE_NAME = "trainer_state.json"
log = logging.getLogger("genplug.train")


class EMA:
    """An exponential moving average of a model's parameters, or of the named modules'
    parameters only (a GAN averages its generator, never its discriminator).

    Buffers (batch-norm statistics, spectral-norm vectors) are copied, not averaged: an
    average of unit vectors is not a unit vector. With ``warmup``, the decay at update t
    is ``min(decay, (1 + t) / (10 + t))``, so a short run is not dominated by its
    initial weights.
    """

    def __init__(
        self, model: torch.nn.Module, decay: float, *, modules: tuple[str, ...] | None = None, warmup: bool = True
    ) -> None:
        self.decay, self.warmup, self.updates = decay, warmup, 0
        prefixes = tuple(f"{m}." for m in modules) if modules else None
        averaged = {k for k, _ in model.named_parameters()}
        self.keys = [k for k in model.state_dict() if prefixes is None or k.startswith(prefixes)]
        self.averaged = {k for k in self.keys if k in averaged}
        state = model.state_dict()
        self.state = {k: state[k].detach().clone() for k in self.keys}

    def current_decay(self) -> float:
        if not self.warmup:
            return self.decay
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        decay = self.current_decay()
        state = model.state_dict()
        for k in self.keys:
            if k in self.averaged and state[k].is_floating_point():
                self.state[k].lerp_(state[k], 1.0 - decay)
            else:
                self.state[k].copy_(state[k])
        self.updates += 1

    def apply(self, model: torch.nn.Module) -> None:
        """Load the averaged tensors into ``model`` (the rest of it is left as it is)."""
        model.load_state_dict(self.state, strict=False)


def _optimizer_tensors(optimizers: dict[str, torch.optim.Optimizer]) -> tuple[dict[str, torch.Tensor], str]:
    """Flatten optimizer state dicts into tensors plus JSON for safetensors (no pickle)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for name, opt in optimizers.items():
        sd = opt.state_dict()
        for pid, state in sd["state"].items():
            for key, value in state.items():
                if torch.is_tensor(value):
                    tensors[f"{name}/{pid}/{key}"] = value
                else:
                    scalars[f"{name}/{pid}/{key}"] = value
        scalars[f"{name}/param_groups"] = sd["param_groups"]
    return tensors, json.dumps(scalars)


def _restore_optimizers(
    optimizers: dict[str, torch.optim.Optimizer], tensors: dict[str, torch.Tensor], meta: str
) -> None:
    scalars = json.loads(meta)
    for name, opt in optimizers.items():
        if f"{name}/param_groups" not in scalars:
            raise GenplugError(f"the checkpoint has no state for optimizer {name!r}; it comes from another model")
        state: dict[int, dict[str, Any]] = {}
        for key, value in [*tensors.items(), *scalars.items()]:
            opt_name, _, rest = key.partition("/")
            pid, _, field = rest.partition("/")
            if opt_name == name and pid != "param_groups":
                state.setdefault(int(pid), {})[field] = value
        opt.load_state_dict({"state": state, "param_groups": scalars[f"{name}/param_groups"]})


def random_states(generator: torch.Generator) -> dict[str, Any]:
    """This process's random states: the trainer's generator, torch's CPU and CUDA generators."""
    return {
        "generator_state": generator.get_state().tolist(),
        "torch_rng_state": torch.get_rng_state().tolist(),
        "cuda_rng_states": [t.tolist() for t in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
    }


def _set_random_states(generator: torch.Generator, states: dict[str, Any]) -> None:
    generator.set_state(torch.tensor(states["generator_state"], dtype=torch.uint8))
    if "torch_rng_state" in states:  # older checkpoints did not keep it
        torch.set_rng_state(torch.tensor(states["torch_rng_state"], dtype=torch.uint8))
    cuda = states.get("cuda_rng_states") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():  # dropout on GPUs
        torch.cuda.set_rng_state_all([torch.tensor(t, dtype=torch.uint8) for t in cuda])


def save_checkpoint(
    folder: Path,
    model: Any,
    optimizers: dict[str, torch.optim.Optimizer],
    ema: EMA | None,
    generator: torch.Generator,
    step: int,
    config: TrainConfig,
    figures: dict[str, float],
    *,
    rank_states: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write the checkpoint to a fresh folder, then swap it in, so a kill never leaves half of one.

    ``rank_states``: the :func:`random_states` of every process of a distributed run, by
    rank; ``extra``: more trainer state (the fp16 loss scale)."""
    tmp = folder.with_name(folder.name + ".tmp")
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    _folder.save(model, tmp)
    if ema is not None:
        save_tensors(tmp / "ema.safetensors", ema.state)
    tensors, meta = _optimizer_tensors(optimizers)
    save_tensors(tmp / "optimizers.safetensors", tensors, metadata={"scalars": meta})
    state = {
        "step": step,
        "ema_updates": ema.updates if ema is not None else 0,
        "train_config": attrs.asdict(config),
        **random_states(generator),  # rank 0's
        "figures": figures,
        **({"rank_states": rank_states} if rank_states and len(rank_states) > 1 else {}),
        **(extra or {}),
    }
    atomic_write_json(tmp / STATE_NAME, state)
    if folder.exists():
        shutil.rmtree(old, ignore_errors=True)
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def find_checkpoint(out: Path) -> Path | None:
    """The last complete checkpoint in ``out``, or ``None``."""
    for name in ("checkpoint", "checkpoint.old"):  # .old survives a kill between the two renames
        folder = out / name
        if (folder / STATE_NAME).exists():
            return folder
    return None


def read_state(checkpoint: Path) -> dict[str, Any]:
    """The checkpoint's ``trainer_state.json``."""
    return read_json(checkpoint / STATE_NAME, what="trainer state")


def restore(
    checkpoint: Path,
    model: Any,
    optimizers: dict[str, torch.optim.Optimizer],
    ema: EMA | None,
    generator: torch.Generator,
    device: torch.device,
    *,
    rank: int = 0,
    world: int = 1,
) -> tuple[int, dict[str, float]]:
    """Load everything :func:`save_checkpoint` wrote into the live objects; returns (step, figures).

    Each process of a distributed run takes its own random states back. A run resumed with
    another number of processes reads the same batches at the same steps, but the
    processes the checkpoint did not have draw their training noise afresh."""
    state = read_state(checkpoint)
    tensors = _folder.read_state(checkpoint, device=device)
    check_state(model, tensors, source=str(checkpoint))
    model.load_state_dict(tensors)
    if ema is not None:
        saved = load_tensors(checkpoint / "ema.safetensors", device=device)
        if set(saved) != set(ema.keys):
            raise GenplugError(f"{checkpoint}: its EMA averages other tensors than this model's; resume the same model")
        ema.state, ema.updates = saved, int(state.get("ema_updates", 0))
    opt_path = checkpoint / "optimizers.safetensors"
    _, metadata = safetensors_header(opt_path)
    _restore_optimizers(optimizers, load_tensors(opt_path, device=device), metadata["scalars"])
    ranks = state.get("rank_states") or [state]
    if len(ranks) != world and rank == 0:
        log.warning(
            "the checkpoint was written by %d process(es), this run has %d: the batches are the same, the training "
            "noise of the added processes is drawn afresh",
            len(ranks),
            world,
        )
    if rank < len(ranks):
        _set_random_states(generator, ranks[rank])
    else:
        seed = rank_seed(int(state["train_config"]["seed"]), rank) ^ int(state["step"])
        generator.manual_seed(seed)
        torch.manual_seed(seed)
    return int(state["step"]), dict(state.get("figures", {}))
