"""Tokens per second of ``transformer`` decoding with its KV cache, side by side in one process
against (1) the same loop recomputing the whole prefix at every step and (2) nanoGPT's
``generate`` loop, re-implemented below at the same model size.

1. **cached vs uncached** (``--batch``, ``--length``): both loops are the ``ancestral``
   sampler's, on the same model, seed and batch; only the model's ``next_token_logits``
   differs. Cached: each step runs the new token alone through the network, attending to
   the keys and values kept from earlier steps. Uncached: each step runs the whole prefix
   through the network again. The two draw the same tokens, which is checked.
2. **vs nanoGPT** (``--gpt-batch``, ``--gpt-length``): ``NanoGPT`` is nanoGPT's ``model.py``
   (Karpathy, https://github.com/karpathy/nanoGPT) cut down to inference: the same blocks
   (pre-LN, fused QKV, ``scaled_dot_product_attention(is_causal=True)``, GELU MLP, tied
   embedding) and its ``generate`` loop, which feeds the whole sequence back each step
   and scores only the last position (``lm_head(x[:, [-1], :])``), drawing with
   ``torch.multinomial``. It has the transformer's size and its weights (copied), so the
   work per token is the same; nanoGPT is not a package, hence the copy here.

The model has the default weights' size (3 blocks of width 64, 4 heads) with fresh weights,
since speed does not depend on their values. The runs alternate, and each rate is the
fastest of ``--repeats`` runs (other load only slows a run down), with the median beside it.

    python plugins/genplug-autoregressive/benchmarks/bench_kv_cache.py --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn as nn
from torch.nn import functional as F

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


# -- nanoGPT's model.py, inference only ------------------------------------------------------


class NanoCausalSelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int) -> None:
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.n_head, self.n_embd = n_head, n_embd

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class NanoBlock(nn.Module):
    def __init__(self, n_embd: int, n_head: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = NanoCausalSelfAttention(n_embd, n_head)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class NanoGPT(nn.Module):
    def __init__(self, vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int) -> None:
        super().__init__()
        self.block_size = block_size
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(vocab_size, n_embd),
                wpe=nn.Embedding(block_size, n_embd),
                h=nn.ModuleList([NanoBlock(n_embd, n_head) for _ in range(n_layer)]),
                ln_f=nn.LayerNorm(n_embd),
            )
        )
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(0, idx.size(1), dtype=torch.long, device=idx.device)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        return self.lm_head(x[:, [-1], :])  # inference: only the last position's logits

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0) -> torch.Tensor:
        for _ in range(max_new_tokens):
            idx_cond = idx if idx.size(1) <= self.block_size else idx[:, -self.block_size :]
            logits = self(idx_cond)[:, -1, :] / temperature
            probs = F.softmax(logits, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1)
            idx = torch.cat((idx, idx_next), dim=1)
        return idx


def nanogpt_like(model) -> NanoGPT:
    """A NanoGPT of ``model``'s size holding its weights (its start token as token ``vocab``)."""
    c = model.config
    gpt = NanoGPT(model.vocab_size + 1, model.sequence_length, c.n_layer, c.n_head, c.n_embd)
    ours = model.state_dict()
    theirs = gpt.state_dict()
    with torch.no_grad():
        for name, tensor in theirs.items():
            if name in ("transformer.wte.weight", "lm_head.weight"):
                tensor.copy_(torch.cat([ours["transformer.wte.weight"], ours["transformer.wse.weight"][:1]]))
            elif name in ours and ours[name].shape == tensor.shape:
                tensor.copy_(ours[name])
            else:  # the MLP's names differ: c_fc -> 0, c_proj -> 2
                tensor.copy_(ours[name.replace("mlp.0", "mlp.c_fc").replace("mlp.2", "mlp.c_proj")])
    return gpt.eval()


# -- timing ---------------------------------------------------------------------------------


def race(runs: dict[str, Callable[[], torch.Tensor]], repeats: int) -> tuple[dict[str, list[float]], dict]:
    """Each run ``repeats`` times, alternating; the seconds of every run, and the last outputs."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    out = {}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            with torch.inference_mode():
                out[name] = run()
            times[name].append(time.perf_counter() - start)
    return times, out


def row(label: str, tokens: int, times: dict[str, list[float]], ours: str, theirs: str) -> str:
    best = {k: tokens / min(v) for k, v in times.items()}
    median = {k: tokens / statistics.median(v) for k, v in times.items()}
    return (
        f"| {label} | {best[ours]:,.0f} ({median[ours]:,.0f}) | {best[theirs]:,.0f} ({median[theirs]:,.0f}) "
        f"| {best[ours] / best[theirs]:.1f}x |"
    )


def build(length: int):
    torch.manual_seed(0)
    return genplug.create("transformer", data_shape=(length,), vocab_size=17, n_layer=3, n_head=4, n_embd=64).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64], help="samples per run, cached vs uncached")
    parser.add_argument("--length", type=int, default=64, help="tokens per sample, cached vs uncached")
    parser.add_argument("--gpt-batch", type=int, nargs="+", default=[1, 16], help="samples per run, vs nanoGPT")
    parser.add_argument("--gpt-length", type=int, default=256, help="tokens per sample, vs nanoGPT")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); tokens/s, best of {args.repeats} (median)")

    model = build(args.length)
    sampler = genplug.get_sampler("ancestral", model)
    print(f"\ncached vs uncached, {args.length} tokens per sample, 3 blocks of width 64")
    print("| batch | cached tokens/s | uncached tokens/s | speed-up |")
    print("| ---: | ---: | ---: | ---: |")
    for n in args.batch:
        times, out = race(
            {
                "cached": lambda n=n: sampler(model, n, generator=torch.Generator().manual_seed(0)),
                "uncached": lambda n=n: sampler(Uncached(model), n, generator=torch.Generator().manual_seed(0)),
            },
            args.repeats,
        )
        assert torch.equal(out["cached"], out["uncached"]), "cached and uncached decoding drew different tokens"
        print(row(str(n), n * args.length, times, "cached", "uncached"), flush=True)

    model = build(args.gpt_length)
    gpt = nanogpt_like(model)
    start = torch.tensor([[model.vocab_size]])  # nanoGPT's prompt: the start token, id vocab_size in its table
    with torch.no_grad():  # the same network: the first token's logits agree
        theirs = gpt(start)[:, -1]
        ours, _ = model.next_token_logits(torch.zeros(1, 0, dtype=torch.long))
    assert float((theirs[:, : model.vocab_size] - ours).abs().max()) < 1e-4, "the NanoGPT copy is not the same network"
    print(f"\ntransformer (KV cache) vs nanoGPT's generate, {args.gpt_length} tokens per sample, 3 blocks of width 64")
    print("| batch | transformer tokens/s | nanoGPT generate tokens/s | speed-up |")
    print("| ---: | ---: | ---: | ---: |")
    for n in args.gpt_batch:
        times, _ = race(
            {
                "transformer": lambda n=n: sampler(model, n, generator=torch.Generator().manual_seed(0)),
                "nanogpt": lambda n=n: gpt.generate(start.expand(n, 1), args.gpt_length - 1),
            },
            args.repeats,
        )
        print(row(str(n), n * args.gpt_length, times, "transformer", "nanogpt"), flush=True)


if __name__ == "__main__":
    main()
