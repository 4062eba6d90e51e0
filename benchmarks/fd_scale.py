"""The scale genplug's digit FD reads on: the floor and two baselines.

    python benchmarks/fd_scale.py

Every row is scored against the 300 held-out test digits, like `genplug eval`:
- held-out vs train: the 1497 training digits themselves (the floor a perfect model reaches);
- per-pixel Gaussian: 1000 samples with each pixel drawn from the training pixel's mean
  and standard deviation, clipped to [0, 1] (a model that knows no structure);
- uniform noise: 1000 images of uniform pixels.
"""

from __future__ import annotations

import torch

from genplug._data import digits
from genplug._metrics import image_scores


def main() -> None:
    train, test = digits("train"), digits("test")
    g = torch.Generator().manual_seed(0)
    rows = {
        "held-out vs train (floor)": train.x,
        "per-pixel Gaussian": (train.x.mean(0) + train.x.std(0) * torch.randn((1000, 1, 8, 8), generator=g)).clamp(
            0, 1
        ),
        "uniform noise": torch.rand((1000, 1, 8, 8), generator=g),
    }
    print("| samples | FD | FD / floor | confidence | coverage |")
    print("| --- | ---: | ---: | ---: | ---: |")
    floor = None
    for name, x in rows.items():
        s = image_scores(x, test)
        floor = floor or s["fd"]
        print(f"| {name} | {s['fd']:.1f} | {s['fd'] / floor:.1f} | {s['confidence']:.3f} | {s['coverage']:.3f} |")


if __name__ == "__main__":
    main()
