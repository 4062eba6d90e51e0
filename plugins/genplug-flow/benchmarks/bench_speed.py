"""log_prob and sample throughput of genplug's spline flow against zuko's NSF, side by side.

    OMP_NUM_THREADS=1 python plugins/genplug-flow/benchmarks/bench_speed.py

The same design and size as ``bench_nll_2d.py`` (parameter counts printed), untrained,
in eval mode without gradients, one thread. For each of D = 2 and D = 8 features, each
measurement is repeated ``--repeats`` times, alternating genplug and zuko, and the
median time is kept. The ratio is zuko's time over genplug's: above 1, genplug is faster.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import zuko

import genplug


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096, help="points per call")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, zuko {zuko.__version__}, 1 thread, batch {args.batch}, ", end="")
    print(f"medians of {args.repeats}")
    print()
    print("| D | parameters (genplug / zuko) | call | genplug ms | zuko ms | ratio zuko / genplug |")
    print("| ---: | --- | --- | ---: | ---: | ---: |")
    for features in (2, 8):
        torch.manual_seed(0)
        ours = genplug.create("nsf", data_shape=(features,), transforms=3, hidden=64, depth=2, bins=8).eval()
        theirs = zuko.flows.NSF(features=features, transforms=3, hidden_features=(64, 64), bins=8).eval()
        sizes = f"{sum(p.numel() for p in ours.parameters())} / {sum(p.numel() for p in theirs.parameters())}"
        x = torch.randn(args.batch, features, generator=torch.Generator().manual_seed(1))
        calls = {
            "log_prob": (lambda m=ours, x=x: m.log_prob(x), lambda m=theirs, x=x: m().log_prob(x)),
            "sample": (lambda m=ours: m.sample(args.batch), lambda m=theirs: m().sample((args.batch,))),
        }
        with torch.no_grad():
            for call, (mine, reference) in calls.items():
                mine(), reference()  # warm-up
                times = {"genplug": [], "zuko": []}
                for _ in range(args.repeats):
                    times["genplug"].append(timed(mine))
                    times["zuko"].append(timed(reference))
                a, b = statistics.median(times["genplug"]), statistics.median(times["zuko"])
                row = f"| {features} | {sizes} | `{call}` | {1000 * a:.1f} | {1000 * b:.1f} | {b / a:.2f} |"
                print(row, flush=True)


if __name__ == "__main__":
    main()
