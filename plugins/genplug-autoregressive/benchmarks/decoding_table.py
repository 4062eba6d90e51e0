"""How decoding changes what a model draws: FD, conditional accuracy and bits/dim of the
packaged digits transformer under each decoding sampler and option, for the family page.

For each setting it reports

- ``FD`` and ``FD / floor``, and the conditional accuracy, from ``genplug eval``'s own
  metrics (``n`` samples, labels drawn uniformly for FD and asked 0..9 in turn for the
  accuracy, seed 0);
- **test bits/dim** of the *decoding distribution*: the 300 held-out digits scored by the
  distribution the sampler really draws from (tempered, truncated and renormalised at every
  position), as the exact mixture over the ten labels. At temperature 1 without truncation
  this is the model's test NLL; a truncation that cuts a held-out token gives infinity, and
  the table says how many held-out tokens were cut (with their true labels);
- **sample bits/dim**: the model's own NLL (temperature 1) of the samples: lower means the
  samples are more typical of the model, not of the data.

    python plugins/genplug-autoregressive/benchmarks/decoding_table.py --threads 1
"""

from __future__ import annotations

import argparse
import math
import time

import torch

import genplug
from genplug._evaluate import evaluate

SETTINGS: list[tuple[str, dict]] = [
    ("ancestral", {"temperature": 1.0}),
    ("ancestral", {"temperature": 0.8}),
    ("ancestral", {"temperature": 0.6}),
    ("ancestral", {"temperature": 1.2}),
    ("top-p", {"p": 0.95}),
    ("top-p", {"p": 0.9}),
    ("top-p", {"p": 0.8}),
    ("top-k", {"k": 5}),
    ("min-p", {"p": 0.1}),
    ("greedy", {}),
]


def decoding_log_probs(model, sampler, tokens: torch.Tensor, label: int | torch.Tensor) -> tuple[torch.Tensor, float]:
    """Per-sequence log probability ``(B,)`` of ``tokens`` under the distribution ``sampler``
    draws from, and the fraction of tokens it cannot draw at all."""
    logits = model.logits(tokens, label=label).float()  # (B, T, V)
    B, T, V = logits.shape
    flat = logits.reshape(B * T, V)
    if sampler.name == "greedy":
        kept = flat == flat.max(-1, keepdim=True).values
        probs = kept.float()
    else:
        probs = (flat / sampler.temperature).softmax(-1)
        kept = sampler.keep(probs)
        probs = probs * kept
    probs = probs / probs.sum(-1, keepdim=True)
    chosen = probs.gather(-1, tokens.reshape(-1, 1)).reshape(B, T)
    cut = float((~kept.gather(-1, tokens.reshape(-1, 1))).float().mean())
    return chosen.log().sum(1), cut


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="transformer", help="a digits transformer (default: the packaged one)")
    parser.add_argument("-n", type=int, default=1000, help="samples per setting")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model = genplug.load(args.weights)
    test = genplug.load_data("digits", "test")
    tokens = model.to_tokens(test.x)
    per_dim = 64 * math.log(2)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); {args.weights}, n={args.n}, seed 0")
    print(
        "| sampler | options | FD | FD / floor | conditional accuracy | test bits/dim (decoding) "
        "| held-out tokens cut | sample bits/dim (model) |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, options in SETTINGS:
        start = time.perf_counter()
        sampler = genplug.get_sampler(name, model, **options)
        figures = evaluate(
            model, "digits", n=args.n, metrics=["fd", "accuracy"], sampler=name, sampler_options=options or None
        )
        with torch.no_grad():
            every = [decoding_log_probs(model, sampler, tokens, k)[0] for k in range(10)]
            mixture = torch.stack(every).logsumexp(0) - math.log(10)
            test_bits = float(-mixture.mean()) / per_dim
            _, cut = decoding_log_probs(model, sampler, tokens, test.y)
            x = genplug.sample(
                model, 300, sampler=name, sampler_options=options, generator=torch.Generator().manual_seed(1)
            )
            sample_bits = float(-model.log_prob(x).mean()) / per_dim
        shown = ", ".join(f"{k}={v}" for k, v in options.items()) or "-"
        test_text = f"{test_bits:.3f}" if math.isfinite(test_bits) else "inf"
        print(
            f"| {name} | {shown} | {figures['fd']:.1f} | {figures['fd_ratio']:.2f} | "
            f"{figures['conditional_accuracy']:.3f} | {test_text} | {100 * cut:.1f}% | {sample_bits:.3f} |",
            flush=True,
        )
        print(f"<!-- {name} {shown}: {time.perf_counter() - start:.0f} s -->", flush=True)


if __name__ == "__main__":
    main()
