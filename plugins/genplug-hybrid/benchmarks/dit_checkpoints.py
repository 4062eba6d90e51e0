"""FD of a ``dit`` training run's checkpoints, as it trains (one thread).

    OMP_NUM_THREADS=1 python plugins/genplug-hybrid/benchmarks/dit_checkpoints.py runs/dit-digits/stage1 --n 500

watches ``RUN/checkpoint`` (``genplug.train`` rewrites it every ``checkpoint_every`` steps),
and each time it holds a new step, scores its EMA weights (and with ``--raw`` its raw
weights too): FD of ``--n`` samples (null label, DDIM 50 steps, ``--seed``) against the
test digits, as ``genplug eval ARCH -n N --seed S --metric fd`` does, divided by the floor.
One JSON line per checkpoint goes to stdout. It stops when the run's ``training.json``
appears (the run ended) after scoring the final model too, or with ``--once`` after one
look at the checkpoint.
The recipe of the packaged weights was chosen from these lines (the README's dit section).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

import genplug
from genplug._evaluate import evaluate


def score(model: genplug.Model, n: int, seed: int) -> float:
    figures = evaluate(model, "digits", n=n, metrics=["fd"], seed=seed, sampler="ddim", steps=50)
    return round(figures["fd"] / figures["fd_floor"], 3)


def look(run: Path, n: int, seed: int, raw: bool) -> dict | None:
    """Score the checkpoint now in ``run``; ``None`` when there is none (or it is being swapped)."""
    checkpoint = run / "checkpoint"
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text())
        model = genplug.load(checkpoint)
        ema = load_file(checkpoint / "ema.safetensors")
    except (OSError, genplug.GenplugError, json.JSONDecodeError):
        return None
    line = {"step": state["step"]}
    if raw:
        line["raw"] = score(model.eval(), n, seed)
    model.load_state_dict(ema, strict=False)
    line["ema"] = score(model.eval(), n, seed)
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="the run folder (genplug.train's out)")
    parser.add_argument("--n", type=int, default=500, help="samples per FD")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--raw", action="store_true", help="score the raw weights too")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between looks")
    parser.add_argument("--once", action="store_true", help="one look, then stop")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seen = -1
    while True:
        ended = (args.run / "training.json").exists()
        state = args.run / "checkpoint" / "trainer_state.json"
        step = json.loads(state.read_text())["step"] if state.exists() else -1
        if step > seen:
            line = look(args.run, args.n, args.seed, args.raw)
            if line is not None:
                seen = line["step"]
                print(json.dumps(line), flush=True)
        if ended or args.once:
            if ended and not args.once:  # the final model: the last checkpoint's EMA weights, unless they differ
                final = genplug.load(args.run)
                print(json.dumps({"final": score(final.eval(), args.n, args.seed)}), flush=True)
            return
        time.sleep(args.every)


if __name__ == "__main__":
    main()
