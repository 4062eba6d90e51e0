"""Peak memory of training on a folder of images, or a .npy file, larger than the memory it may use.

    OMP_NUM_THREADS=1 python benchmarks/train_memory.py --gb 2 --kind png
    OMP_NUM_THREADS=1 python benchmarks/train_memory.py --gb 2 --kind npy

Writes GB gigabytes of random 8-bit RGB images into a temporary folder (PNG files of
3x256x256, or one uint8 .npy of shape (N, 3, 64, 64)), trains the test plugin's
``toy-gaussian`` (tests/toy_plugin, installed by scripts/dev_install.py) on it for one
epoch (every example read once) with the trainer's default DataLoader workers, and deletes
the data. The target (issue 16): the peak stays under 1 GB.

Memory is the proportional set size (PSS, from /proc/PID/smaps_rollup) of this process and
all its children (the DataLoader workers) summed, sampled every 50 ms: shared pages (torch's
libraries in forked workers, page cache of a mapped file) counted once, not per process. The
file's size on disk is printed beside it; in memory as float32 the images would take 4x it.
Linux only (it reads /proc).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

import genplug


def _kb(pid: int, field: str) -> int:
    """``field`` (``Pss:`` or ``Rss:``) of /proc/PID/smaps_rollup, in kB."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:  # the process ended between listing and reading
        pass
    return 0


def _tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            pids += _tree(int(child))
    return pids


class PeakMemory:
    """The largest summed PSS of this process tree seen while it runs."""

    def __init__(self) -> None:
        self.peak_kb = self.peak_rss_kb = self.processes = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self.stop.is_set():
            pids = _tree(os.getpid())
            self.processes = max(self.processes, len(pids))
            self.peak_kb = max(self.peak_kb, sum(_kb(p, "Pss:") for p in pids))
            self.peak_rss_kb = max(self.peak_rss_kb, sum(_kb(p, "Rss:") for p in pids))
            time.sleep(0.05)

    def __enter__(self) -> PeakMemory:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def make_png_folder(folder: Path, total_bytes: int) -> tuple[int, tuple[int, ...]]:
    from PIL import Image

    folder.mkdir()
    shape, g = (256, 256, 3), np.random.default_rng(0)
    count = max(2, total_bytes // int(np.prod(shape)))
    for i in range(count):
        Image.fromarray(g.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"{i:07d}.png", compress_level=1)
    return count, (3, 256, 256)


def make_npy(path: Path, total_bytes: int) -> tuple[int, tuple[int, ...]]:
    shape, g = (3, 64, 64), np.random.default_rng(0)
    count = max(2, total_bytes // int(np.prod(shape)))
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(count, *shape))
    for start in range(0, count, 4096):  # written a slice at a time: the generator never holds it all either
        array[start : start + 4096] = g.integers(0, 256, array[start : start + 4096].shape, dtype=np.uint8)
    array.flush()
    del array
    return count, shape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gb", type=float, default=2.0, help="size of the data on disk, in GB (1e9 bytes)")
    parser.add_argument("--kind", choices=["png", "npy"], default="png")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--dir", default=None, help="where to write the data (default: the system's temp folder)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    root = Path(tempfile.mkdtemp(prefix="genplug-memory-", dir=args.dir))
    try:
        started = time.perf_counter()
        if args.kind == "png":
            data = root / "images"
            count, shape = make_png_folder(data, int(args.gb * 1e9))
            size = sum(f.stat().st_size for f in data.iterdir())
        else:
            data = root / "images.npy"
            count, shape = make_npy(data, int(args.gb * 1e9))
            size = data.stat().st_size
        made = time.perf_counter() - started
        train = count - max(1, count // 10)
        steps = -(-train // args.batch_size)  # one epoch: every training example read once
        torch.manual_seed(0)
        model = genplug.create("toy-gaussian", data_shape=shape)
        config = genplug.TrainConfig(steps=steps, batch_size=args.batch_size, lr=0.01, checkpoint_every=10**6)
        cpu0 = time.process_time()
        started = time.perf_counter()
        with PeakMemory() as memory:
            genplug.train(model, data, config, progress=False)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
        print(f"data: {args.kind}, {count} images of {shape}, {size / 1e9:.2f} GB on disk (written in {made:.0f} s)")
        print(f"trained: {steps} steps of {args.batch_size} (one epoch), {wall:.1f} s wall, {cpu:.1f} s CPU (main)")
        print(f"peak memory (PSS, process + workers): {memory.peak_kb / 1e6:.2f} GB")
        print(f"peak of the RSS summed over the {memory.processes} processes (shared pages counted in each): "
              f"{memory.peak_rss_kb / 1e6:.2f} GB")  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
