"""Compare digits recipes for ``gan``: train one variant, scoring it at each milestone.

    OMP_NUM_THREADS=1 python plugins/genplug-gan/benchmarks/recipes.py NAME 'JSON'

JSON: ``{"config": {...GANConfig fields}, "train": {...TrainConfig fields, "options": {...}},
"milestones": [1500, 3000]}``. The run trains to the first milestone, scores the final
(EMA) generator, resumes to the next (``--resume`` is bit-identical to an uninterrupted
run), and so on; each milestone prints one JSON line: the FD ratio as the mean over
``genplug.evaluate(model, "digits", n=1000, seed=s)`` for s = 0, 1, 2, the three ratios,
the conditional accuracy at seed 0, and wall and process CPU seconds so far (one thread).
The README's table of recipes came from these runs, e.g. the packaged recipe (its
weights: the 6000-step milestone of this run):

    python plugins/genplug-gan/benchmarks/recipes.py v7long '{"config": {"spectral_norm": true,
        "batch_norm": false, "minibatch_std": true}, "train": {"lr": 2e-4, "options":
        {"loss": "hinge", "d_lr_ratio": 2}}, "milestones": [2000, 4000, 6000, 8000, 10000]}'
"""

from __future__ import annotations

import json
import sys
import time

import torch

import genplug


def main() -> None:
    torch.set_num_threads(1)
    name, spec = sys.argv[1], json.loads(sys.argv[2])
    config = {"data_shape": (1, 8, 8), "classes": 10, **spec.get("config", {})}
    base = {"batch_size": 64, "lr": 2e-4, "seed": 0, "ema": 0.999, "checkpoint_every": 250}
    train = {**base, **spec.get("train", {})}
    out = f"runs/sweep/{name}"
    start, cpu = time.perf_counter(), time.process_time()
    resume = False
    for steps in spec["milestones"]:
        torch.manual_seed(train["seed"])
        model = genplug.create("gan", **config)
        config_ = genplug.TrainConfig(**{**train, "steps": steps})
        genplug.train(model, "digits", config_, out=out, progress=False, resume=resume)
        resume = True
        wall, used = time.perf_counter() - start, time.process_time() - cpu
        model = genplug.load(out)
        figures = [genplug.evaluate(model, "digits", n=1000, seed=s) for s in (0, 1, 2)]
        ratios = [f["fd_ratio"] for f in figures]
        line = {
            "name": name,
            "steps": steps,
            "fd_ratio": round(sum(ratios) / 3, 3),
            "fds": [round(r, 3) for r in ratios],
            "acc": figures[0]["conditional_accuracy"],
            "wall": round(wall),
            "cpu": round(used),
        }
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
