"""Decoding samplers: draw token sequences from any :class:`genplug.NextTokenModel`.

Each decodes one token at a time through ``next_token_logits`` and the cache it returns
(a KV cache for a transformer), and differs only in how it picks the next token from the
logits ``z`` (``(B, V)``):

| sampler | picks | options |
| --- | --- | --- |
| ``greedy`` | ``argmax z`` | none |
| ``ancestral`` | a draw from ``softmax(z / temperature)`` | ``temperature`` |
| ``top-k`` | a draw from the ``k`` most probable tokens | ``k``, ``temperature`` |
| ``top-p`` | a draw from the smallest set of tokens whose probability is at least ``p`` | ``p``, ``temperature`` |
| ``min-p`` | a draw from the tokens with probability at least ``p`` times the top one's | ``p``, ``temperature`` |

The temperature divides the logits before the truncation, as in Hugging Face's
``generate``. Options are constructor keywords:
``genplug run transformer -s top-p --sampler-option p=0.9``,
``genplug.sample(model, 16, sampler="top-k", sampler_options={"k": 5})``.

References:
    Fan et al., "Hierarchical Neural Story Generation" (top-k), ACL 2018, arXiv:1805.04833.
    Holtzman et al., "The Curious Case of Neural Text Degeneration" (top-p), ICLR 2020, arXiv:1904.09751.
    Nguyen et al., "Turning Up the Heat: Min-p Sampling for Creative and Coherent LLM Outputs", 2024,
    arXiv:2407.01082.
"""

from __future__ import annotations

from typing import Any

import torch

import genplug

__all__ = ["Ancestral", "Decoding", "Greedy", "MinP", "TopK", "TopP"]


def _positive(sampler: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
        raise genplug.ConfigError(
            f"sampler {sampler!r}: {name} must be a positive number, got {value!r}; "
            f"for the most probable token use the 'greedy' sampler"
        )
    return float(value)


def _probability(sampler: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise genplug.ConfigError(f"sampler {sampler!r}: {name} must be a number in (0, 1], got {value!r}")
    return float(value)


def _inverse_cdf(probs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One draw ``(B, 1)`` from each row of unnormalised probabilities ``(B, V)``: the first
    token whose cumulative probability exceeds a uniform ``u``. One uniform per token, so
    with the same seed two models (or two labels, or two temperatures) draw the same token
    wherever their distributions agree up to ``u``: differences show as differences."""
    cdf = probs.cumsum(-1)  # (B, V)
    u = torch.rand(len(probs), 1, generator=generator, device=probs.device, dtype=cdf.dtype) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True).clamp_max(probs.size(-1) - 1)  # tokens of zero mass never


class Decoding:
    """One token at a time with the model's cache; subclasses say how to pick a token."""

    name = "decoding"
    requires: dict[str, tuple[Any, ...]] = {}

    def check(self, model: Any) -> None:
        missing = [m for m in ("vocab_size", "sequence_length", "next_token_logits") if not hasattr(model, m)]
        if missing:
            what = getattr(model, "architecture", type(model).__name__)
            raise genplug.IncompatibleError(
                f"sampler {self.name!r} decodes next-token models; model {what!r} has no {', '.join(missing)} "
                "(see genplug.NextTokenModel)"
            )

    def pick(self, logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """The next token ``(B, 1)`` from the logits ``(B, V)``."""
        raise NotImplementedError

    def __call__(
        self,
        model: Any,
        n: int,
        *,
        generator: torch.Generator | None = None,
        prompt: torch.Tensor | None = None,
        **condition: Any,
    ) -> torch.Tensor:
        """``(n, *event_shape)`` int64 tokens, each sample starting with the ``(n, P)`` tokens
        of ``prompt`` when one is given. A class-conditional model given no label gets
        every class equally often in an order shuffled by ``generator``
        (``genplug.Condition.draw_labels``), as its own ``sample`` would."""
        self.check(model)
        device = getattr(model, "device", torch.device("cpu"))
        for name, c in dict(getattr(model, "conditions", None) or {}).items():
            if c.kind == "class" and condition.get(name) is None:
                condition[name] = c.draw_labels(n, generator=generator, device=device)
        T = int(model.sequence_length)
        tokens = torch.zeros(n, 0, dtype=torch.long, device=device) if prompt is None else prompt.long().to(device)
        if tokens.size(1) >= T:
            return tokens[:, :T].reshape(n, *getattr(model, "event_shape", (T,)))
        logits, cache = model.next_token_logits(tokens, cache=None, **condition)  # the prompt in one pass
        for t in range(tokens.size(1), T):
            new = self.pick(logits.float(), generator).to(device)  # (n, 1)
            tokens = torch.cat([tokens, new], 1)
            if t + 1 < T:  # no logits after the last token: the model has no position for them
                logits, cache = model.next_token_logits(new, cache=cache, **condition)
        return tokens.reshape(n, *getattr(model, "event_shape", (T,)))


class Greedy(Decoding):
    """The most probable token at every step: deterministic, and often repetitive."""

    name = "greedy"

    def pick(self, logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return logits.argmax(-1, keepdim=True)


class Ancestral(Decoding):
    """A draw from ``softmax(logits / temperature)``: at temperature 1, exactly the model's distribution."""

    name = "ancestral"

    def __init__(self, *, temperature: float = 1.0) -> None:
        self.temperature = _positive(self.name, "temperature", temperature)

    def keep(self, probs: torch.Tensor) -> torch.Tensor:
        """Which tokens may be drawn, ``(B, V)`` bool, from the tempered probabilities."""
        return torch.ones_like(probs, dtype=torch.bool)

    def pick(self, logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        probs = (logits / self.temperature).softmax(-1)  # (B, V)
        return _inverse_cdf(probs * self.keep(probs), generator)


class TopK(Ancestral):
    """A draw from the ``k`` most probable tokens (all of them when ``k >= vocab_size``)."""

    name = "top-k"

    def __init__(self, *, k: int = 10, temperature: float = 1.0) -> None:
        super().__init__(temperature=temperature)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise genplug.ConfigError(f"sampler 'top-k': k must be an integer >= 1, got {k!r}")
        self.k = k

    def keep(self, probs: torch.Tensor) -> torch.Tensor:
        kth = probs.topk(min(self.k, probs.size(-1)), dim=-1).values[:, -1:]  # (B, 1)
        return probs >= kth


class TopP(Ancestral):
    """Nucleus sampling: a draw from the smallest set of most probable tokens whose
    probability reaches ``p`` (the most probable token is always kept)."""

    name = "top-p"

    def __init__(self, *, p: float = 0.9, temperature: float = 1.0) -> None:
        super().__init__(temperature=temperature)
        self.p = _probability(self.name, "p", p)

    def keep(self, probs: torch.Tensor) -> torch.Tensor:
        sorted_probs, order = probs.sort(-1, descending=True)
        before = sorted_probs.cumsum(-1) - sorted_probs  # the mass of the more probable tokens
        return torch.zeros_like(probs, dtype=torch.bool).scatter(-1, order, before < self.p)


class MinP(Ancestral):
    """A draw from the tokens whose probability is at least ``p`` times the most probable one's."""

    name = "min-p"

    def __init__(self, *, p: float = 0.1, temperature: float = 1.0) -> None:
        super().__init__(temperature=temperature)
        self.p = _probability(self.name, "p", p)

    def keep(self, probs: torch.Tensor) -> torch.Tensor:
        return probs >= self.p * probs.max(-1, keepdim=True).values
