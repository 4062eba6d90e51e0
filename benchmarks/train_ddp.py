"""Training throughput of 2 processes (torchrun, DDP over gloo) against 1 process, on this machine's CPUs.

    python benchmarks/train_ddp.py                    # the VAE on digits, 100 steps of 256
    python benchmarks/train_ddp.py --arch diffusion --steps 50

Runs the same ``genplug train`` command three ways, alternating, ROUNDS times each:

- 1 process, 1 thread (``--threads 1``);
- 1 process, 2 threads (``--threads 2``): the same two cores as below, used by one process;
- 2 processes under ``torchrun --standalone --nproc-per-node 2``, 1 thread each (the
  trainer's default: the cores shared among the processes on the machine), each on half
  of every batch (``--batch-size`` is the batch of both together).

Throughput is examples per second over the training loop (``training.json``'s
``seconds``: from the first step to the written folder; start-up excluded); CPU is the
user + system time of the whole command (start-up included), from ``getrusage``. The table
gives medians. Every run is seeded the same; the 2-process run gives the same batches.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(command: list[str], out: Path) -> tuple[float, float, float]:
    """(loop seconds, command wall seconds, CPU seconds of the command and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads((out / "training.json").read_text())["seconds"], wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="vae")
    parser.add_argument("--data", default="digits")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    train = ["-m", "genplug", "train", args.arch, "--data", args.data, "--steps", str(args.steps)]
    train += ["--batch-size", str(args.batch_size), "--ema", "none", "--checkpoint-every", str(args.steps)]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    ways = {
        "1 process, 1 thread": ([sys.executable, *train, "--threads", "1"]),
        "1 process, 2 threads": ([sys.executable, *train, "--threads", "2"]),
        "2 processes (torchrun, gloo), 1 thread each": ([*torchrun, *train]),
    }
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in ways}
    with tempfile.TemporaryDirectory(prefix="genplug-ddp-") as tmp:
        for r in range(args.rounds):
            for i, (name, command) in enumerate(ways.items()):
                out = Path(tmp) / f"{r}-{i}"
                results[name].append(run([*command, "--out", str(out)], out))
    examples = args.steps * args.batch_size
    print(f"{args.arch} on {args.data}: {args.steps} steps of {args.batch_size}; {os.cpu_count()} CPUs; "
          f"medians of {args.rounds} alternating rounds")  # fmt: skip
    print("| how | examples/s (loop) | vs 1 process, 1 thread | loop s | command wall s | command CPU s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    base = None
    for name, rows in results.items():
        loop, wall, cpu = (statistics.median(column) for column in zip(*rows, strict=True))
        speed = examples / loop
        base = base or speed
        print(f"| {name} | {speed:.0f} | {speed / base:.2f}x | {loop:.1f} | {wall:.1f} | {cpu:.1f} |")


if __name__ == "__main__":
    main()
