"""FD and conditional accuracy of a class-conditional ``diffusion`` model against the guidance scale.

    OMP_NUM_THREADS=1 python plugins/genplug-diffusion/benchmarks/bench_guidance.py --weights FOLDER \\
        --markdown plugins/genplug-diffusion/docs/guidance.md --figure docs/figures/diffusion-guidance.png

For each classifier-free guidance scale s in ``--scales`` (0, 1, 2, 3, 5) it draws ``-n``
(1000) samples asked for the digits 0, 1, ..., 9, 0, ... (100 of each), with ``ddim`` at 50
steps and seed 0 (the same initial noise for every s), and scores them with genplug's
metrics: FD to the 300 held-out digits (and its ratio to the floor, the training digits'
own FD), the shipped classifier's agreement with the asked digit (conditional accuracy) and
its confidence. A last row draws without a label (the null label: the unconditional
model), as ``genplug eval diffusion --metric fd`` does. s = 0 is the unconditional
prediction whatever the label, s = 1 the conditional one without guidance.

The figure has one row per digit: for each s in turn, the first four samples asked for that
digit. One thread (``torch.set_num_threads(1)``); the time of each row is printed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import genplug
from genplug._metrics import conditional_accuracy, image_scores

SCALES = (0.0, 1.0, 2.0, 3.0, 5.0)
PER_DIGIT = 4  # samples per digit and scale in the figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="diffusion", help="a class-conditional model (default: the packaged)")
    parser.add_argument("--scales", type=float, nargs="+", default=SCALES, help="guidance scales")
    parser.add_argument("-n", type=int, default=1000, help="samples per scale")
    parser.add_argument("--sampler", default="ddim")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    parser.add_argument("--figure", type=Path, help="write the per-digit figure here (.png)")
    args = parser.parse_args()

    torch.set_num_threads(1)
    model = genplug.load(args.weights)
    test, train = genplug.load_data("digits", "test"), genplug.load_data("digits", "train")
    labels = torch.arange(args.n) % 10
    default = model.config.guidance
    rows = [
        "| guidance scale | FD | FD / floor | conditional accuracy | confidence | seconds |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    columns = []
    for scale in [*args.scales, None]:
        start = time.perf_counter()
        g = torch.Generator().manual_seed(args.seed)
        condition = {} if scale is None else {"label": labels, "sampler_options": {"guidance": scale}}
        x = genplug.sample(model, args.n, sampler=args.sampler, steps=args.steps, generator=g, **condition)
        seconds = time.perf_counter() - start
        scores = image_scores(x, test, train)
        accuracy = "-" if scale is None else f"{conditional_accuracy(x, labels):.3f}"
        name = "no label (unconditional)" if scale is None else f"{scale:g}"
        name += " (default)" if scale == default else ""
        rows.append(
            f"| {name} | {scores['fd']:.2f} | {scores['fd_ratio']:.2f} | {accuracy} | "
            f"{scores['confidence']:.3f} | {seconds:.0f} |"
        )
        print(rows[-1], flush=True)
        if scale is not None:  # (10, PER_DIGIT, C, H, W): the first samples asked for each digit
            columns.append(torch.stack([x[labels == d][:PER_DIGIT] for d in range(10)]))
    scales = " ".join(f"{s:g}" for s in args.scales)
    command = (
        "OMP_NUM_THREADS=1 python plugins/genplug-diffusion/benchmarks/bench_guidance.py "
        f"--weights {args.weights} -n {args.n} --sampler {args.sampler} --steps {args.steps} --seed {args.seed} "
        f"--scales {scales}"
    )
    table = "\n".join([*rows, "", f"FD floor: {scores['fd_floor']:.2f}. Measured by `{command}` (one thread)."])
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")
    if args.figure:
        grid = torch.cat(columns, 1)  # (10 digits, scales * PER_DIGIT, C, H, W)
        genplug.save_samples(grid.flatten(0, 1), args.figure, nrow=grid.shape[1])
        print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
