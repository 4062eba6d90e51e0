"""How much the FD of 1000 samples moves with the mix of digits drawn, on real digits.

    OMP_NUM_THREADS=1 python benchmarks/label_mix.py --seeds 10

A class-conditional model given no label draws one itself. This script stands a perfect
conditional model in for it: for each label it picks a random *training* digit of that
class, so every FD / floor here would be about 1 if the mix of classes did not matter.
Rows, for each seed (a fresh ``torch.Generator`` per row and seed):

- independent: 1000 labels drawn independently and uniformly (``torch.randint``), what
  genplug's conditional models did before ``Condition.draw_labels``;
- balanced: ``Condition.draw_labels(1000)``, 100 of each digit in a shuffled order;
- data's mix: 1000 training digits drawn uniformly, whatever their labels.

Each is scored like ``genplug eval`` against the 300 held-out digits, as a ratio to the
floor (all 1497 training digits against them). One thread; about 10 s.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from genplug._data import digits
from genplug._metrics import classify, frechet_distance
from genplug._protocols import Condition


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0 .. SEEDS-1")
    parser.add_argument("-n", type=int, default=1000, help="digits per draw")
    args = parser.parse_args()
    torch.set_num_threads(1)
    train, test = digits("train"), digits("test")
    feats, ref = classify(train.x)[0], classify(test.x)[0]
    floor = frechet_distance(feats, ref)
    by_class = [torch.nonzero(train.y == c).flatten() for c in range(10)]

    def from_labels(labels: torch.Tensor, g: torch.Generator) -> float:
        pick = torch.stack([by_class[c][torch.randint(len(by_class[c]), (1,), generator=g)] for c in labels.tolist()])
        return frechet_distance(feats[pick.flatten()], ref) / floor

    rows: dict[str, list[float]] = {"independent": [], "balanced": [], "data's mix": []}
    label = Condition("class", classes=10)
    for seed in range(args.seeds):
        g = torch.Generator().manual_seed(seed)
        rows["independent"].append(from_labels(torch.randint(0, 10, (args.n,), generator=g), g))
        g = torch.Generator().manual_seed(seed)
        rows["balanced"].append(from_labels(label.draw_labels(args.n, generator=g), g))
        g = torch.Generator().manual_seed(seed)
        pick = torch.randint(len(feats), (args.n,), generator=g)
        rows["data's mix"].append(frechet_distance(feats[pick], ref) / floor)
    print(f"FD / floor of {args.n} training digits against the {len(test.x)} held-out ones (floor {floor:.2f})\n")
    print("| labels | " + " | ".join(f"seed {s}" for s in range(args.seeds)) + " | mean | worst |")
    print("| --- | " + " | ".join("---:" for _ in range(args.seeds)) + " | ---: | ---: |")
    for name, values in rows.items():
        cells = " | ".join(f"{v:.2f}" for v in values)
        print(f"| {name} | {cells} | {statistics.mean(values):.2f} | {max(values):.2f} |")


if __name__ == "__main__":
    main()
