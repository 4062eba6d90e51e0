"""The next-token contract: models that provide ``"next-token"``, and decoding samplers.

On a config small enough to enumerate every sequence (``vocab_size ** sequence_length``
at most :data:`ENUMERABLE`), the probabilities of all sequences sum to one. On any config:
``logits[:, t]`` does not depend on ``tokens[:, t:]`` (causality), ``next_token_logits``
gives the full forward pass's logits with and without its cache, and the model's own
``sample`` draws from the distribution its logits define.
"""

from __future__ import annotations

import copy
import itertools
import math
from typing import Any

import torch

from genplug.testing._common import class_conditions, g

__all__ = ["ENUMERABLE", "Peaked", "check_decoding_sampler", "check_next_token", "enumerable"]

#: The most sequences the kit enumerates to check that probabilities sum to one.
ENUMERABLE = 4096
_ATOL = 1e-4


def enumerable(model: Any) -> bool:
    """Whether the kit can enumerate every sequence ``model`` scores."""
    return int(model.vocab_size) ** int(model.sequence_length) <= ENUMERABLE


def _labels(model: Any) -> list[dict[str, int]]:
    """One condition dict per label of the model's first class condition (``[{}]`` when it has none)."""
    conditions = class_conditions(model)
    if not conditions:
        return [{}]
    name, classes = next(iter(conditions.items()))
    return [{name: c} for c in range(classes)]


def _chain_log_prob(model: Any, tokens: torch.Tensor, **condition: Any) -> torch.Tensor:
    """``sum_t log softmax(logits[:, t])[tokens[:, t]]``: the log probability the logits define."""
    logp = model.logits(tokens, **condition).log_softmax(-1)  # (B, T, V)
    return logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1).sum(-1)  # (B,)


def _tokens(model: Any, n: int, seed: int) -> torch.Tensor:
    shape = (n, int(model.sequence_length))
    return torch.randint(0, int(model.vocab_size), shape, generator=g(seed)).to(model.device)


def check_next_token(model: Any, *, label: str) -> None:
    """Run every next-token check on ``model`` (in eval mode, without gradients)."""
    model.eval()
    with torch.no_grad():
        _check_shapes_and_causality(model, label)
        _check_cache(model, label)
        if enumerable(model):
            _check_sums_to_one(model, label)
            _check_own_sampling(model, label)


def _check_shapes_and_causality(model: Any, label: str) -> None:
    V, T = int(model.vocab_size), int(model.sequence_length)
    x = _tokens(model, 2, 20)
    for condition in _labels(model)[:2]:
        full = model.logits(x, **condition)
        assert tuple(full.shape) == (2, T, V), (
            f"{label}: logits(tokens) has shape {tuple(full.shape)}, not (2, {T}, {V})"
        )
        for t in range(T):
            other = x.clone()
            other[:, t:] = (x[:, t:] + torch.randint(1, V, x[:, t:].shape, generator=g(21 + t)).to(x.device)) % V
            moved = (model.logits(other, **condition)[:, : t + 1] - full[:, : t + 1]).abs().max()
            assert moved <= _ATOL, (
                f"{label}: logits[:, {t}] changes by {float(moved):.3g} when tokens[:, {t}:] change: "
                f"logits[:, t] must score tokens[:, t] from tokens[:, :t] alone (is the attention mask causal, "
                "and are the inputs shifted right by one?)"
            )


def _check_cache(model: Any, label: str) -> None:
    T = int(model.sequence_length)
    x = _tokens(model, 2, 30)
    for condition in _labels(model)[:2]:
        full = model.logits(x, **condition)
        for t in range(T):
            logits, _ = model.next_token_logits(x[:, :t], cache=None, **condition)
            assert tuple(logits.shape) == tuple(full[:, t].shape), (
                f"{label}: next_token_logits gives shape {tuple(logits.shape)}, not {tuple(full[:, t].shape)}"
            )
            gap = (logits - full[:, t]).abs().max()
            assert gap <= _ATOL, (
                f"{label}: next_token_logits(tokens[:, :{t}], cache=None) differs from logits(tokens)[:, {t}] "
                f"by {float(gap):.3g}"
            )
        cache = None
        for t in range(T):
            new = x[:, :0] if t == 0 else x[:, t - 1 : t]
            logits, cache = model.next_token_logits(new, cache=cache, **condition)
            gap = (logits - full[:, t]).abs().max()
            assert gap <= _ATOL, (
                f"{label}: decoding with the cache differs from logits(tokens)[:, {t}] by {float(gap):.3g} "
                f"after {t} tokens: is the cache written (and read) at every step?"
            )


def _all_sequences(model: Any) -> torch.Tensor:
    V, T = int(model.vocab_size), int(model.sequence_length)
    return torch.tensor(list(itertools.product(range(V), repeat=T)), dtype=torch.long).reshape(-1, T).to(model.device)


def _check_sums_to_one(model: Any, label: str) -> None:
    seqs = _all_sequences(model)  # (V**T, T)
    event_shape = tuple(model.event_shape)
    exact = "exact" in tuple(getattr(model, "log_prob_kinds", ()) or ())
    for condition in _labels(model):
        chain = _chain_log_prob(model, seqs, **condition).double()
        total = float(chain.logsumexp(0).exp())
        assert abs(total - 1) <= _ATOL, (
            f"{label}: the probabilities the logits give to all {len(seqs)} sequences sum to {total:.6f}, not 1"
            + (f" for {condition}" if condition else "")
        )
        if exact and math.prod(event_shape) == seqs.shape[1]:
            lp = model.log_prob(seqs.reshape(-1, *event_shape), kind="exact", **condition).double()
            total = float(lp.logsumexp(0).exp())
            assert abs(total - 1) <= _ATOL, (
                f"{label}: exp(log_prob(kind='exact')) summed over all {len(seqs)} sequences is {total:.6f}, not 1"
                + (f" for {condition}" if condition else "")
            )
            gap = float((lp - chain).abs().max())
            assert gap <= 10 * _ATOL, (
                f"{label}: log_prob(kind='exact') differs from the logits' log probability by {gap:.3g}"
            )


def _check_own_sampling(model: Any, label: str, n: int = 2000) -> None:
    """``model.sample`` draws from the distribution of its logits: on a copy whose weights are
    redrawn larger (so the distribution is far from uniform), the frequencies of ``n`` samples
    are within a total variation distance of 0.1 of the exact probabilities."""
    sharp = copy.deepcopy(model)
    generator = g(40, model.device)
    for p in sharp.parameters():
        p.copy_(torch.randn(p.shape, generator=generator, device=p.device, dtype=p.dtype))
    seqs = _all_sequences(sharp)
    V, T = int(sharp.vocab_size), int(sharp.sequence_length)
    condition = _labels(sharp)[-1]
    probs = _chain_log_prob(sharp, seqs, **condition).double().exp()
    uniform = torch.full_like(probs, 1 / len(probs))
    if 0.5 * float((probs - uniform).abs().sum()) < 0.3:
        return  # too close to uniform to tell a sampler that ignores the model from one that does not
    x = sharp.sample(n, generator=g(41, model.device), **condition).reshape(n, T).long()
    index = (x * (V ** torch.arange(T - 1, -1, -1, device=x.device))).sum(-1)  # row of each sample in seqs
    freq = torch.bincount(index, minlength=len(probs)).double() / n
    tv = 0.5 * float((freq - probs).abs().sum())
    assert tv <= 0.1, (
        f"{label}: sample() does not draw from the model's own logits: over {n} samples the frequencies "
        f"are {tv:.2f} (total variation) from the probabilities the logits give"
    )


class Peaked:
    """A stand-in next-token model whose logits put all mass on token ``(peak + t) % vocab``
    at position ``t``; every other attribute is ``model``'s. A decoding sampler must draw
    exactly that sequence from it."""

    def __init__(self, model: Any, peak: int) -> None:
        self._model, self._peak = model, peak
        self.vocab_size, self.sequence_length = int(model.vocab_size), int(model.sequence_length)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def _at(self, positions: torch.Tensor) -> torch.Tensor:
        hot = torch.nn.functional.one_hot((self._peak + positions) % self.vocab_size, self.vocab_size)
        return (hot.float() - 1) * 1e4  # 0 at the peak, -1e4 elsewhere

    def expected(self, n: int) -> torch.Tensor:
        return ((self._peak + torch.arange(self.sequence_length)) % self.vocab_size).expand(n, -1)

    def logits(self, tokens: torch.Tensor, **condition: Any) -> torch.Tensor:
        t = torch.arange(tokens.shape[1], device=tokens.device)
        return self._at(t).to(tokens.device).expand(tokens.shape[0], -1, -1)

    def next_token_logits(self, tokens: torch.Tensor, *, cache: Any = None, **condition: Any) -> tuple[Any, Any]:
        length = (cache or 0) + tokens.shape[1]
        position = torch.full((tokens.shape[0],), length, device=tokens.device)
        return self._at(position), length


def check_decoding_sampler(sampler: Any, name: str, model: Any, *, call: Any) -> None:
    """A decoding sampler's samples follow the model: from a model whose logits peak on one
    token per position it draws exactly those tokens, and another peak gives other samples."""
    for peak in (0, 1):
        stand_in = Peaked(model, peak)
        x = call(sampler, stand_in)
        want = stand_in.expected(x.shape[0]).to(x.device)
        assert torch.equal(x.reshape(want.shape).long(), want), (
            f"sampler {name}: from a model whose logits put all mass on {want[0].tolist()} it drew "
            f"{x.reshape(want.shape)[0].tolist()}: the samples must follow the model's logits"
        )
