"""The trainer's time per step against a hand-written loop over the same model and batches.

    OMP_NUM_THREADS=1 python benchmarks/train_step.py

For the VAE on digits (the plugin's default config) and the test plugin's toy-gaussian on
moons (a model so small that the trainer's own work per step shows), both on one thread:

- trainer: ``genplug.train(model, data, config, progress=False)``, nothing written;
- hand-written: the loop one writes without genplug — the same batches
  (``batch_indices``), ``zero_grad``, ``loss``, ``backward``, ``step``, and the loss read
  back as a float (for logging), in a plain ``for`` loop.

Each is timed on a fresh model with the same seed, alternating, ROUNDS times; the table
gives the medians of the wall time per step and the trainer's overhead. Target (issue 16):
the trainer within 3% of the hand-written loop.
"""

from __future__ import annotations

import statistics
import time

import torch

import genplug
from genplug._training.batches import batch_indices

ROUNDS = 5


def fresh(architecture: str, shape: tuple[int, ...]) -> genplug.Model:
    torch.manual_seed(0)
    return genplug.create(architecture, data_shape=shape)


def trainer(model: genplug.Model, data: genplug.Data, steps: int, batch_size: int) -> float:
    config = genplug.TrainConfig(steps=steps, batch_size=batch_size, lr=1e-3, checkpoint_every=10**6)
    started = time.perf_counter()
    genplug.train(model, data, config, progress=False)
    return time.perf_counter() - started


def hand_written(model: genplug.Model, data: genplug.Data, steps: int, batch_size: int) -> float:
    started = time.perf_counter()
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
    return time.perf_counter() - started


def main() -> None:
    torch.set_num_threads(1)
    cases = [("vae", "digits", (1, 8, 8), 200, 128), ("toy-gaussian", "moons", (2,), 2000, 128)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread, medians of {ROUNDS} alternating rounds")
    print("| model | data | steps | batch | hand-written ms/step | trainer ms/step | trainer overhead |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for architecture, name, shape, steps, batch_size in cases:
        data = genplug.load_data(name)
        hand, ours = [], []
        for _ in range(ROUNDS):
            hand.append(hand_written(fresh(architecture, shape), data, steps, batch_size) / steps)
            ours.append(trainer(fresh(architecture, shape), data, steps, batch_size) / steps)
        h, t = statistics.median(hand), statistics.median(ours)
        row = f"| {architecture} | {name} | {steps} | {batch_size} | {h * 1e3:.3f} | {t * 1e3:.3f} | {t / h - 1:+.1%} |"
        print(row)


if __name__ == "__main__":
    main()
