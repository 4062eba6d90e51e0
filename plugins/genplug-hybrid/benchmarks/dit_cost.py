"""What a DiT costs next to the UNet diffusion model: parameters, a training step, sampling.

    OMP_NUM_THREADS=1 python plugins/genplug-hybrid/benchmarks/dit_cost.py

builds the two networks of the packaged recipes (genplug-diffusion's
``scripts/train_default.py`` UNet, made class-conditional as ``train_conditional.py`` does,
and ``scripts/train_dit.py``'s DiT) and measures, side by side in this one process on one
thread, alternating the two so that a change in the machine's load hits both:

- parameters;
- the process CPU time of one training step (``training_step``: loss, backward, AdamW) on
  a batch of 128 digits with their labels, the median of ``--rounds`` rounds of ``--steps``
  steps each;
- samples per second of ``genplug.sample`` with DDIM, 50 steps (the default), 100 samples.

It prints one JSON object; the ratios are DiT / UNet. ``--variant patch_size=1`` adds a
DiT with that change to its config (repeatable), measured in the same rounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

import genplug

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
UNET = {
    "data_shape": (1, 8, 8),
    "channels": 32,
    "res_blocks": 1,
    "schedule": "cosine",
    "levels": 17,
    "classes": 10,
    "label_dropout": 0.2,
}


def dit_config() -> dict:
    sys.path.insert(0, str(SCRIPTS))
    try:
        from train_dit import CONFIG
    finally:
        sys.path.pop(0)
    return dict(CONFIG)


def step_seconds(model: genplug.Model, steps: int, data: torch.Tensor, labels: torch.Tensor) -> float:
    """Process CPU seconds per training step, over ``steps`` steps after one warm-up step."""
    optimizers = model.configure_optimizers(genplug.TrainConfig())
    g = torch.Generator().manual_seed(0)
    model.train()
    model.training_step(data, optimizers, generator=g, label=labels)
    start = time.process_time()
    for _ in range(steps):
        model.training_step(data, optimizers, generator=g, label=labels)
    return (time.process_time() - start) / steps


def samples_per_second(model: genplug.Model, n: int) -> float:
    model.eval()
    start = time.process_time()
    genplug.sample(model, n, sampler="ddim", steps=50, generator=torch.Generator().manual_seed(0))
    return n / (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="training steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, alternating the models")
    parser.add_argument("--samples", type=int, default=100, help="samples per sampling round")
    parser.add_argument("--variant", action="append", default=[], metavar="KEY=VALUE", help="another DiT")
    args = parser.parse_args()
    torch.set_num_threads(1)

    digits = genplug.load_data("digits", "train")
    data, labels = digits.x[:128], digits.y[:128]
    torch.manual_seed(0)
    models = {"unet": genplug.create("diffusion", **UNET), "dit": genplug.create("dit", **dit_config())}
    for variant in args.variant:
        key, _, value = variant.partition("=")
        models[f"dit[{variant}]"] = genplug.create("dit", **{**dit_config(), key: json.loads(value)})
    train: dict[str, list[float]] = {name: [] for name in models}
    sample: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            train[name].append(step_seconds(model, args.steps, data, labels))
            sample[name].append(samples_per_second(model, args.samples))
    result = {
        "threads": torch.get_num_threads(),
        "parameters": {name: sum(p.numel() for p in m.parameters()) for name, m in models.items()},
        "train_step_cpu_seconds": {name: round(statistics.median(v), 4) for name, v in train.items()},
        "samples_per_cpu_second_ddim50": {name: round(statistics.median(v), 1) for name, v in sample.items()},
    }
    result["ratios_dit_over_unet"] = {
        key: round(result[key]["dit"] / result[key]["unet"], 3)
        for key in ("parameters", "train_step_cpu_seconds", "samples_per_cpu_second_ddim50")
    }
    for name in list(models)[2:]:
        result[f"ratios_{name}_over_unet"] = {
            key: round(result[key][name] / result[key]["unet"], 3)
            for key in ("parameters", "train_step_cpu_seconds", "samples_per_cpu_second_ddim50")
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
