"""The quality figures of the README: ``genplug eval`` FD of the default weights per sampler.

    python plugins/genplug-diffusion/scripts/eval_quality.py [--weights REF] [-n 1000]

runs, for each sampler and step count below, exactly::

    genplug eval diffusion --weights REF --sampler S --steps K -n 1000 --seed 0 --metric fd --json

and prints a Markdown table of FD, FD / floor (the held-out-vs-train FD), classifier
confidence and class coverage, then the two targets: ddim at 50 steps within 2.5x the
floor, and dpm-solver++ at 20 steps within 15 % of ddpm at 1000 steps.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

RUNS = (("ddim", 50), ("dpm-solver++", 20), ("unipc", 20), ("ddpm", 1000))


def genplug_eval(weights: str, sampler: str, steps: int, n: int) -> dict:
    script = Path(sys.executable).with_name("genplug")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "genplug"]
    command += ["eval", "diffusion", "--weights", weights, "--sampler", sampler, "--steps", str(steps)]
    command += ["-n", str(n), "--seed", "0", "--metric", "fd", "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="diffusion", help="model reference (default: packaged weights)")
    parser.add_argument("-n", type=int, default=1000, help="samples per sampler")
    args = parser.parse_args()

    rows = {}
    print("| sampler | steps | FD | FD / floor | confidence | coverage |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for sampler, steps in RUNS:
        fig = genplug_eval(args.weights, sampler, steps, args.n)
        rows[sampler] = fig
        print(
            f"| {sampler} | {steps} | {fig['fd']:.2f} | {fig['fd_ratio']:.2f} | "
            f"{fig['confidence']:.3f} | {fig['coverage']:.3f} |",
            flush=True,
        )
    floor = rows["ddim"]["fd_floor"]
    print(f"\nFD floor (held-out vs train digits): {floor:.2f}")
    ddim = rows["ddim"]["fd_ratio"]
    print(f"ddim 50 steps: FD {ddim:.2f}x the floor (target <= 2.5x): {'met' if ddim <= 2.5 else 'NOT met'}")
    rel = rows["dpm-solver++"]["fd"] / rows["ddpm"]["fd"] - 1
    verdict = "met" if rel <= 0.15 else "NOT met"
    print(f"dpm-solver++ 20 steps vs ddpm 1000 steps: FD {rel:+.1%} (target <= +15%): {verdict}")


if __name__ == "__main__":
    main()
