"""Which examples each step trains on, and how this process gets them.

The examples of step ``t`` are a pure function of ``(seed, t)`` (:func:`batch_indices`): a
seeded permutation per epoch, cut into batches of ``batch_size``. With several processes,
each takes its own contiguous slice of that batch (:func:`shard`), so the processes
together see exactly the batch one process would, whatever their number, and a resumed
run (any number of processes) picks up the same batches at the same step.

Data in memory (:class:`genplug.Data`) is indexed directly; a :class:`genplug._streams.Stream`
is read through a ``torch.utils.data.DataLoader`` whose batch sampler yields this process's
slice of each step, from the first step of the run on, and whose workers read ahead.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import torch

from genplug._data import Data
from genplug._errors import GenplugError
from genplug._streams import as_batch

__all__ = ["batch_indices", "batches", "batches_per_epoch", "cores", "shard", "step_size"]


def batches_per_epoch(n: int, batch_size: int) -> int:
    return max(1, n // batch_size)


def batch_indices(step: int, n: int, batch_size: int, seed: int) -> torch.Tensor:
    """The example indices of ``step``: a seeded permutation per epoch, cut in batches.

    A pure function of its arguments, so a resumed run sees the same batches.
    """
    per_epoch = batches_per_epoch(n, batch_size)
    epoch, k = divmod(step, per_epoch)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    if batch_size >= n:
        return order
    return order[k * batch_size : (k + 1) * batch_size]


def step_size(n: int, batch_size: int) -> int:
    """The examples in each step's batch, over all processes."""
    return min(n, batch_size)


def shard(index: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """Process ``rank``'s contiguous slice of a step's examples (sizes differ by at most one)."""
    return index.tensor_split(world)[rank] if world > 1 else index


def cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on this platform
        return os.cpu_count() or 1


class _StepSampler:
    """The DataLoader's batch sampler: this process's slice of each step, ``start`` on."""

    def __init__(self, n: int, batch_size: int, seed: int, start: int, steps: int, rank: int, world: int) -> None:
        self.n, self.batch_size, self.seed, self.start, self.steps = n, batch_size, seed, start, steps
        self.rank, self.world = rank, world

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start, self.steps):
            yield shard(batch_indices(step, self.n, self.batch_size, self.seed), self.rank, self.world).tolist()

    def __len__(self) -> int:
        return self.steps - self.start


def batches(
    data: Any,
    *,
    labels: bool,
    batch_size: int,
    seed: int,
    start: int,
    steps: int,
    rank: int,
    world: int,
    workers: int,
    device: torch.device,
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """This process's examples (and labels, when ``labels``) of each step, ``start`` to ``steps``."""
    if isinstance(data, Data):
        x = data.x.to(device)
        y = data.y.to(device) if labels else None
        for step in range(start, steps):
            index = shard(batch_indices(step, len(x), batch_size, seed), rank, world).to(device)
            yield x[index], (y[index] if y is not None else None)
        return
    from torch.utils.data import DataLoader  # only for data read from disk

    sampler = _StepSampler(len(data), batch_size, seed, start, steps, rank, world)
    loader = DataLoader(
        data,
        batch_sampler=sampler,
        num_workers=workers,
        collate_fn=as_batch,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if workers else None,
    )
    try:
        for x in loader:
            yield x.to(device, non_blocking=True), None
    except GenplugError as exc:  # raised in a worker: the DataLoader wraps it in the worker's traceback
        raise type(exc)(_worker_message(str(exc))) from None


def _worker_message(text: str) -> str:
    """The message of an error a DataLoader worker raised, without the traceback around it."""
    if "Traceback" not in text:
        return text
    found = re.search(r"\n[\w.]*(?:Error|Exception): (.*)\Z", text, re.DOTALL)
    return found.group(1).strip() if found else text
