"""Tokens per second of ``transformer`` decoding with its KV cache against full recomputation.

Both loops are the ``ancestral`` sampler's, on the same model, seed and batch; only the
model's ``next_token_logits`` differs. Cached: each step runs the new token alone through
the network, attending to the keys and values kept from earlier steps. Uncached: each step
runs the whole prefix through the network again, as nanoGPT's ``generate`` does. The
model is the default weights' size (3 blocks of width 64, 156k parameters) with fresh
weights, since speed does not depend on their values; ``--length`` sets the tokens per
sample. The runs alternate, and each rate is the fastest of ``--repeats`` runs (other load
only slows a run down), with the median beside it. The two loops also draw the same
tokens, which is checked.

    python plugins/genplug-autoregressive/benchmarks/bench_kv_cache.py --batch 64 --length 64 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import genplug


class Uncached:
    """The model without its KV cache: every step recomputes the whole prefix."""

    def __init__(self, model) -> None:
        self.model = model

    def __getattr__(self, name: str):
        return getattr(self.model, name)

    def next_token_logits(self, tokens, *, cache=None, **condition):
        prefix = tokens if cache is None else torch.cat([cache, tokens], 1)
        logits, _ = self.model.next_token_logits(prefix, cache=None, **condition)
        return logits, prefix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64], help="samples per run")
    parser.add_argument("--length", type=int, default=64, help="tokens per sample")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = genplug.create(
        "transformer", data_shape=(args.length,), vocab_size=17, n_layer=3, n_head=4, n_embd=64
    ).eval()
    sampler = genplug.get_sampler("ancestral", model)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.length} tokens per sample")
    print("| batch | cached tokens/s (median) | uncached tokens/s (median) | speed-up |")
    print("| ---: | ---: | ---: | ---: |")
    for n in args.batch:
        times: dict[str, list[float]] = {"cached": [], "uncached": []}
        out = {}
        for _ in range(args.repeats):
            for name, m in (("cached", model), ("uncached", Uncached(model))):
                start = time.perf_counter()
                with torch.inference_mode():
                    out[name] = sampler(m, n, generator=torch.Generator().manual_seed(0))
                times[name].append(time.perf_counter() - start)
        assert torch.equal(out["cached"], out["uncached"]), "cached and uncached decoding drew different tokens"
        rate = {k: n * args.length / min(v) for k, v in times.items()}
        median = {k: n * args.length / statistics.median(v) for k, v in times.items()}
        print(
            f"| {n} | {rate['cached']:,.0f} ({median['cached']:,.0f}) | {rate['uncached']:,.0f} "
            f"({median['uncached']:,.0f}) | {rate['cached'] / rate['uncached']:.1f}x |"
        )


if __name__ == "__main__":
    main()
