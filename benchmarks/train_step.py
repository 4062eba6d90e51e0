"""The trainer's time per step against a hand-written loop over the same model and batches.

    OMP_NUM_THREADS=1 python benchmarks/train_step.py

For the VAE on digits (the plugin's default config) and the test plugin's toy-gaussian on
moons (a model so small that the trainer's own work per step shows), both on one thread:

- trainer: ``genplug.train(model, data, config, progress=False)``, nothing written;
- hand-written: the loop one writes without genplug — the same batches
  (``batch_indices``), ``zero_grad``, ``loss``, ``backward``, ``step``, and the loss read
  back as a float (for logging), in a plain ``for`` loop.

Each is timed on a fresh model with the same seed, alternating (which goes first changes
every round), after one warm-up round of each, ROUNDS times; the table gives the medians
of the process CPU time per step (on a machine other jobs share, CPU time is what the
loop itself costs) and of the wall time, and the trainer's overhead by each. Target
(issue 16): the trainer within 3% of the hand-written loop.
"""

from __future__ import annotations

import statistics
import time

import torch

import genplug
from genplug._training.batches import batch_indices

ROUNDS = 6


def fresh(architecture: str, shape: tuple[int, ...]) -> genplug.Model:
    torch.manual_seed(0)
    return genplug.create(architecture, data_shape=shape)


def trainer(model: genplug.Model, data: genplug.Data, steps: int, batch_size: int) -> None:
    config = genplug.TrainConfig(steps=steps, batch_size=batch_size, lr=1e-3, checkpoint_every=10**6)
    genplug.train(model, data, config, progress=False)


def hand_written(model: genplug.Model, data: genplug.Data, steps: int, batch_size: int) -> None:
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    for step in range(steps):
        batch = data.x[batch_indices(step, len(data.x), batch_size, 0)]
        optimizer.zero_grad(set_to_none=True)
        loss = model.loss(batch, generator=generator)
        loss = loss[0] if isinstance(loss, tuple) else loss
        loss.backward()
        optimizer.step()
        float(loss.detach())  # read back for the log, as the trainer does
    model.eval()


def timed(loop, architecture: str, shape: tuple[int, ...], data: genplug.Data, steps: int, batch: int):
    """(CPU seconds, wall seconds) per step of ``loop`` on a fresh model."""
    model = fresh(architecture, shape)
    cpu, wall = time.process_time(), time.perf_counter()
    loop(model, data, steps, batch)
    return (time.process_time() - cpu) / steps, (time.perf_counter() - wall) / steps


def main() -> None:
    torch.set_num_threads(1)
    cases = [("vae", "digits", (1, 8, 8), 100, 128), ("toy-gaussian", "moons", (2,), 1000, 128)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread, medians of {ROUNDS} alternating rounds")
    print("| model | data | steps | batch | hand-written CPU ms/step | trainer CPU ms/step | overhead (CPU) "
          "| hand-written wall ms | trainer wall ms | overhead (wall) |")  # fmt: skip
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for architecture, name, shape, steps, batch in cases:
        data = genplug.load_data(name)
        runs: dict[str, list[tuple[float, float]]] = {"hand": [], "trainer": []}
        loops = {"hand": hand_written, "trainer": trainer}
        for r in range(ROUNDS + 1):
            for which in ("hand", "trainer") if r % 2 else ("trainer", "hand"):
                result = timed(loops[which], architecture, shape, data, steps, batch)
                if r:  # round 0 warms up
                    runs[which].append(result)
        (hc, hw), (tc, tw) = ([statistics.median(c) for c in zip(*runs[k], strict=True)] for k in ("hand", "trainer"))
        print(f"| {architecture} | {name} | {steps} | {batch} | {hc * 1e3:.3f} | {tc * 1e3:.3f} | {tc / hc - 1:+.1%} "
              f"| {hw * 1e3:.3f} | {tw * 1e3:.3f} | {tw / hw - 1:+.1%} |")  # fmt: skip


if __name__ == "__main__":
    main()
