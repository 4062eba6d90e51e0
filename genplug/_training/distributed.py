"""Training in several processes: the process group ``torchrun`` describes, and the few
collective operations the trainer needs.

``torchrun --nproc-per-node N -m genplug train ...`` starts N copies of the command with
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address in their environment;
:func:`join` starts the process group from them (gloo on CPU, NCCL on CUDA, where each
process takes the GPU of its ``LOCAL_RANK``) and leaves it running until the process
exits, so that a script can train again in the same group (a process group started a
second time from torchrun's environment waits forever). A process group the caller
started itself is used as it is. Without either, :func:`join` returns the group of one
process, and nothing here communicates.

Gradients are averaged in :func:`all_reduce_grads`, called by the trainer right before each
optimizer steps (see :mod:`genplug._training.steps`), not by ``DistributedDataParallel``:
DDP reduces gradients in its ``forward``, which a model's ``training_step`` (a GAN's
alternating steps, a composite's prior) never calls.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
from typing import Any

import attrs
import torch

from genplug._api import resolve_device
from genplug._errors import GenplugError

__all__ = ["Group", "all_reduce_grads", "broadcast_module", "gather", "join", "mean_figures", "rank_seed"]

log = logging.getLogger("genplug.train")


@attrs.frozen
class Group:
    """The training processes, as this process sees them."""

    rank: int = 0  # this process among all of them; rank 0 writes the files
    world: int = 1  # processes in all
    local_rank: int = 0  # this process among those of its machine (its GPU)
    local_world: int = 1  # processes on this machine

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()


def _env(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return int(value) if value is not None else default
    except ValueError:
        raise GenplugError(f"the environment variable {name}={value!r} is not an integer; use torchrun") from None


def join(device_name: str) -> tuple[Group, torch.device]:
    """This process's group and device: a process group started already, or the one
    ``torchrun``'s environment describes (started here), or a single process."""
    device = resolve_device(device_name)
    dist = torch.distributed
    started = dist.is_available() and dist.is_initialized()
    if not started and _env("WORLD_SIZE", 1) <= 1:
        return Group(), device
    if not dist.is_available():
        raise GenplugError("this torch was built without torch.distributed; train in one process")
    local_rank, local_world = _env("LOCAL_RANK", 0), _env("LOCAL_WORLD_SIZE", 1)
    if device.type == "cuda":
        if device.index is not None and local_world > 1:
            raise GenplugError(
                f"--device {device_name}: with {local_world} processes on this machine, give --device cuda; "
                "each process takes the GPU of its LOCAL_RANK"
            )
        if device.index is None:  # a process that sees one GPU (a scheduler's binding) takes that one
            device = resolve_device(f"cuda:{local_rank % torch.cuda.device_count()}")
        torch.cuda.set_device(device)
    if not started:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(dist.destroy_process_group)
    group = Group(dist.get_rank(), dist.get_world_size(), local_rank, local_world)
    if group.main:
        log.info("training in %d processes (%s)", group.world, dist.get_backend())
    return group, device


def rank_seed(seed: int, rank: int) -> int:
    """The seed of the training noise of ``rank``: the run's own for rank 0, so one process
    draws what it always drew; a distinct one for each other rank."""
    return seed if rank == 0 else (seed + rank * 0x9E3779B97F4A7C15) % 2**63


@torch.no_grad()
def broadcast_module(module: torch.nn.Module, group: Group) -> None:
    """Give every process rank 0's parameters and buffers."""
    if group.world > 1:
        for tensor in module.state_dict().values():
            torch.distributed.broadcast(tensor, 0)


@torch.no_grad()
def all_reduce_grads(params: list[torch.Tensor], group: Group) -> None:
    """Sum the gradients of ``params`` over the processes (each process has already weighted
    its own by its share of the batch, so the sum is the gradient of the whole batch).

    A parameter that no process gave a gradient keeps ``None``, so its optimizer skips it
    as it would in one process. One flat buffer per dtype; the first carries the mask of
    which processes had a gradient.
    """
    if group.world <= 1 or not params:
        return
    present = [p.grad is not None for p in params]
    by_dtype: dict[torch.dtype, list[int]] = {}
    for i, p in enumerate(params):
        by_dtype.setdefault(p.dtype, []).append(i)
    reported: list[bool] | None = None
    for dtype, members in by_dtype.items():
        pieces = [(params[i].grad if present[i] else torch.zeros_like(params[i])).reshape(-1) for i in members]
        if reported is None:  # the mask rides along with the first buffer
            pieces.append(torch.tensor(present, dtype=dtype, device=params[members[0]].device))
        flat = torch.cat(pieces)
        torch.distributed.all_reduce(flat)
        if reported is None:
            reported, flat = (flat[-len(params) :] > 0).tolist(), flat[: -len(params)]
        offset = 0
        for i in members:
            p, n = params[i], params[i].numel()
            p.grad = flat[offset : offset + n].view_as(p).clone() if reported[i] else None
            offset += n


def gather(obj: Any, group: Group) -> list[Any]:
    """``obj`` of every process, by rank. JSON-like values only: they travel as JSON text in
    byte tensors, not through ``all_gather_object``, which pickles (nothing is unpickled here)."""
    if group.world <= 1:
        return [obj]
    dist = torch.distributed
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    payload = torch.tensor(list(json.dumps(obj).encode()), dtype=torch.uint8, device=device)
    sizes = [torch.zeros(1, dtype=torch.int64, device=device) for _ in range(group.world)]
    dist.all_gather(sizes, torch.tensor([payload.numel()], dtype=torch.int64, device=device))
    longest = int(max(size.item() for size in sizes))
    padded = torch.zeros(longest, dtype=torch.uint8, device=device)
    padded[: payload.numel()] = payload
    every = [torch.empty(longest, dtype=torch.uint8, device=device) for _ in range(group.world)]
    dist.all_gather(every, padded)
    return [json.loads(bytes(t[: int(n.item())].tolist()).decode()) for t, n in zip(every, sizes, strict=True)]


def mean_figures(figures: dict[str, float], group: Group) -> dict[str, float]:
    """Each figure averaged over the processes that reported it."""
    if group.world <= 1:
        return figures
    every = gather(figures, group)
    keys = dict.fromkeys(k for f in every for k in f)
    return {k: sum(f[k] for f in every if k in f) / sum(k in f for f in every) for k in keys}
