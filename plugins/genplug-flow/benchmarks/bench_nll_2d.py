"""Test NLL of genplug's spline flow (``nsf``) against zuko's NSF on 2-D densities.

    OMP_NUM_THREADS=1 python plugins/genplug-flow/benchmarks/bench_nll_2d.py [--steps 1000] [--data moons pinwheel]

Both models are the same design at its zuko defaults: 3 masked autoregressive layers of
8-bin rational-quadratic splines on [-5, 5], MADE conditioners with two hidden layers of
64 (parameter counts printed; they must agree within 10%). For each density and seed both
train in this one process on the same 10,000 training points, in the same seeded batch
order, with the same optimizer (Adam, lr 1e-3, batch 256) and number of steps, and are
scored by the mean NLL (nats per point) of the 2,000 held-out points. One thread.
Prints a markdown table of the means over the seeds and writes it with every run to
``--json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import zuko

import genplug

DENSITIES = ("8gaussians", "checkerboard", "moons", "pinwheel")
SEEDS = (0, 1, 2)


def build(seed: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(seed)
    ours = genplug.create("nsf", data_shape=(2,), transforms=3, hidden=64, depth=2, bins=8, bound=5.0)
    torch.manual_seed(seed)
    theirs = zuko.flows.NSF(features=2, transforms=3, hidden_features=(64, 64), bins=8)
    return ours, theirs


def nll(model: torch.nn.Module, x: torch.Tensor, zuko_flow: bool) -> torch.Tensor:
    return -(model().log_prob(x) if zuko_flow else model.log_prob(x)).mean()


def fit(model: torch.nn.Module, zuko_flow: bool, train: torch.Tensor, steps: int, batch: int, seed: int) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(0, len(train), (batch,), generator=g)
        optimizer.zero_grad(set_to_none=True)
        nll(model, train[idx], zuko_flow).backward()
        optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--data", nargs="+", default=list(DENSITIES), choices=DENSITIES, help="densities to run")
    parser.add_argument("--json", default=None, help="write every run's figures here")
    args = parser.parse_args()
    torch.set_num_threads(1)

    ours, theirs = build(0)
    counts = {"genplug": sum(p.numel() for p in ours.parameters()), "zuko": sum(p.numel() for p in theirs.parameters())}
    assert abs(counts["genplug"] - counts["zuko"]) <= 0.1 * counts["zuko"], counts
    print(f"parameters: genplug nsf {counts['genplug']}, zuko NSF {counts['zuko']}; ", end="")
    print(f"{args.steps} steps, batch {args.batch}, Adam lr 1e-3, 1 thread")
    runs = []
    for name in args.data:
        train, test = genplug.load_data(name, "train").x, genplug.load_data(name, "test").x
        for seed in SEEDS:
            ours, theirs = build(seed)
            run = {"data": name, "seed": seed}
            for label, model, is_zuko in (("genplug", ours, False), ("zuko", theirs, True)):
                run[f"{label}_seconds"] = fit(model, is_zuko, train, args.steps, args.batch, seed)
                with torch.no_grad():
                    run[f"{label}_nll"] = float(nll(model, test, is_zuko))
            runs.append(run)
            print(json.dumps(run), flush=True)
    print()
    print("| density | genplug nsf test NLL | zuko NSF test NLL | difference |")
    print("| --- | ---: | ---: | ---: |")
    for name in args.data:
        ours = statistics.mean(r["genplug_nll"] for r in runs if r["data"] == name)
        theirs = statistics.mean(r["zuko_nll"] for r in runs if r["data"] == name)
        print(f"| {name} | {ours:.3f} | {theirs:.3f} | {ours - theirs:+.3f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"parameters": counts, "steps": args.steps, "batch": args.batch, "runs": runs}, f, indent=2)


if __name__ == "__main__":
    main()
