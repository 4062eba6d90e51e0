"""A bigram model of token sequences: the smallest :class:`genplug.NextTokenModel`.

Each token's logits are a row of a learned table, picked by the previous token (or by a
start row for the first). It has an exact probability of discrete data, a "KV cache" (the
last token), optionally a class-label start row, and trains on text through the core's
tokenizer: ``genplug train toy-bigram --data corpus.txt``.
"""

from __future__ import annotations

import attrs
import torch

import genplug
from genplug import validators as v

__all__ = ["BigramConfig", "ToyBigram"]


@attrs.frozen
class BigramConfig:
    data_shape: tuple[int, ...] = attrs.field(default=(16,), converter=tuple, validator=v.shape)  # (sequence length,)
    vocab_size: int = attrs.field(default=16, validator=v.in_range(2, 65_536, integer=True))  # token values
    classes: int = attrs.field(default=0, validator=v.in_range(0, 1000, integer=True))  # > 0: a start row per class


class ToyBigram(genplug.Model):
    architecture = "toy-bigram"
    config_class = BigramConfig
    log_prob_kinds = ("exact",)
    log_prob_discrete = True
    train_defaults = {"lr": 0.1, "batch_size": 64, "steps": 200}
    conformance_configs = ({"data_shape": (3,), "vocab_size": 3}, {"data_shape": (2,), "vocab_size": 3, "classes": 2})

    def __init__(self, config: BigramConfig) -> None:
        super().__init__(config)
        if len(config.data_shape) != 1:
            raise genplug.ConfigError(f"BigramConfig.data_shape is (sequence length,), got {config.data_shape}")
        starts = max(1, config.classes)
        self.table = torch.nn.Parameter(2.0 * torch.randn(config.vocab_size + starts, config.vocab_size))
        self.tokenizer = None  # set by the trainer from text data, saved in the model folder

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    @property
    def sequence_length(self) -> int:
        return self.config.data_shape[0]

    @property
    def conditions(self):
        if not self.config.classes:
            return {}
        return {"label": genplug.Condition("class", classes=self.config.classes, description="the start row")}

    def _start(self, batch: int, label) -> torch.Tensor:
        start = torch.full((batch,), self.vocab_size, device=self.device, dtype=torch.long)
        if not self.config.classes:
            return start
        label = torch.as_tensor(0 if label is None else label, device=self.device).long()
        if ((label < 0) | (label >= self.config.classes)).any():
            raise genplug.GenplugError(f"label must be in 0..{self.config.classes - 1}, got {label.tolist()}")
        return start + label

    def logits(self, tokens: torch.Tensor, label=None) -> torch.Tensor:
        prev = torch.cat([self._start(len(tokens), label)[:, None], tokens[:, :-1]], 1)  # (B, T)
        return self.table[prev]  # (B, T, V)

    def next_token_logits(self, tokens: torch.Tensor, *, cache=None, label=None):
        if tokens.shape[1]:
            last = tokens[:, -1]
        elif cache is not None:
            last = cache
        else:
            last = self._start(len(tokens), label)
        return self.table[last], last

    def log_prob(self, x, *, kind=None, generator=None, label=None):
        if self.config.classes and label is None:  # the mixture with equal weights over the classes
            every = torch.stack([self.log_prob(x, label=torch.full((len(x),), k)) for k in range(self.config.classes)])
            return every.logsumexp(0) - torch.log(torch.tensor(float(self.config.classes)))
        logp = self.logits(x.long(), label=label).log_softmax(-1)
        return logp.gather(-1, x.long()[..., None]).squeeze(-1).sum(1)

    def sample(self, n, *, generator=None, label=None):
        if self.config.classes and label is None:
            label = self.conditions["label"].draw_labels(n, generator=generator, device=self.device)
        tokens = torch.zeros(n, 0, dtype=torch.long, device=self.device)
        logits, cache = self.next_token_logits(tokens, label=label)
        for _ in range(self.sequence_length):
            probs = logits.float().softmax(-1)
            nxt = torch.multinomial(probs, 1, generator=generator)
            tokens = torch.cat([tokens, nxt], 1)
            logits, cache = self.next_token_logits(nxt, cache=cache, label=label)
        return tokens

    def loss(self, batch, *, generator=None, label=None):
        nll = -self.log_prob(batch, label=label).mean()
        return nll, {"bits_per_token": float(nll.detach()) / self.sequence_length / 0.6931471805599453}
