"""The family page's completion figure: held-out digits completed from their first rows.

    python plugins/genplug-autoregressive/scripts/make_completion_figure.py

Each column is one of the first 10 held-out digits. The top row is the digit; the second
shows the rows the model is given (the rest grey); the rows below are completions drawn
by the packaged ``transformer`` (ancestral decoding, seed 0) from those rows and the
digit's label. The same in Python::

    x = genplug.sample(model, 10, prompt=test.x[:10, :, :ROWS], label=test.y[:10], generator=g)

Writes ``docs/figures/autoregressive-completion.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import genplug

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "docs" / "figures" / "autoregressive-completion.png"
ROWS = 3  # rows of each digit given as the prompt
DRAWS = 4  # completions per digit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="transformer", help="a digits transformer (default: the packaged one)")
    parser.add_argument("-o", "--output", default=str(OUT))
    args = parser.parse_args()

    torch.set_num_threads(1)
    model = genplug.load(args.weights)
    test = genplug.load_data("digits", "test")
    x, y = test.x[:10], test.y[:10]
    shown = x.clone()
    shown[:, :, ROWS:] = 0.5  # what the model is given
    g = torch.Generator().manual_seed(0)
    rows = [x, shown]
    for _ in range(DRAWS):
        rows.append(genplug.sample(model, 10, prompt=x[:, :, :ROWS], label=y, generator=g))
    path = genplug.save_samples(torch.cat(rows), args.output, nrow=10)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
