"""The scale genplug's energy distance reads on, for each 2-D density: the floor and two baselines.

    OMP_NUM_THREADS=1 python benchmarks/energy_scale.py

Every row scores 1000 points against the 2000 held-out test points, like `genplug eval -n 1000`:
- floor: 1000 training points, a seeded random subset as in `genplug eval` (what a perfect
  model scores with 1000 samples);
- Gaussian fit: 1000 draws from a Gaussian with the training points' mean and covariance
  (a model that knows the first two moments and nothing else);
- uniform box: 1000 points uniform in the training points' bounding box.
Runs on one thread (set above); about a second per density.
"""

from __future__ import annotations

import torch

from genplug._data import DENSITIES, density
from genplug._metrics import energy_distance


def main() -> None:
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    print("| density | floor | Gaussian fit | uniform box |")
    print("| --- | ---: | ---: | ---: |")
    for name in DENSITIES:
        train, test = density(name, "train").x.double(), density(name, "test").x.double()
        mean, cov = train.mean(0), torch.cov(train.T)
        gaussian = mean + torch.randn(1000, 2, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(cov).T
        lo, hi = train.min(0).values, train.max(0).values
        box = lo + (hi - lo) * torch.rand(1000, 2, generator=g, dtype=torch.float64)
        pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:1000]
        scores = [energy_distance(x, test) for x in (train[pick], gaussian, box)]
        print(f"| {name} | " + " | ".join(f"{s:.4f}" for s in scores) + " |")


if __name__ == "__main__":
    main()
