"""How many greedy samples of the packaged digits weights bf16 autocast leaves unchanged.

    python plugins/genplug-autoregressive/benchmarks/bf16_greedy.py

draws 20 greedy samples (two per label) in float32 and under bf16 autocast on the CPU and
prints how many are identical and, for each that is not, float32's margin between its two
best logits at the first token that differs (tests/test_default_weights.py asserts the
same property: at least half identical, every difference at a margin under 0.05).
"""

from __future__ import annotations

import torch

import genplug


def main() -> None:
    digits = genplug.load("transformer")
    labels = torch.arange(10).repeat(2)
    full = genplug.sample(digits, 20, sampler="greedy", label=labels).flatten(1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = genplug.sample(digits, 20, sampler="greedy", label=labels).flatten(1)
    same = (full == low).all(1)
    with torch.no_grad():
        logits = digits.logits(digits.to_tokens(full), label=labels)  # float32, on the float32 prefixes
    margins = []
    for i in (~same).nonzero().flatten().tolist():
        t = int((full[i] != low[i]).nonzero()[0])
        top2 = logits[i, t].topk(2).values
        margins.append(round(float(top2[0] - top2[1]), 4))
    print(f"{int(same.sum())} of 20 greedy samples identical under bf16; float32 margins where not: {margins}")


if __name__ == "__main__":
    main()
