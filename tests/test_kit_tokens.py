"""The kit's next-token checks: a small correct causal model and decoding sampler pass;
a non-causal model, a KV cache never written, sampling that ignores the model and
probabilities that do not sum to 1 each fail with a message naming the fault."""

from __future__ import annotations

import types

import attrs
import pytest
import torch

import genplug
from genplug.testing import check_architecture, check_sampler, conformance_cases


@attrs.frozen
class LMConfig:
    vocab_size: int = 3  # token values 0 .. vocab_size-1
    sequence_length: int = 3  # tokens per sequence
    hidden: int = 8  # width of the embeddings


class TinyLM(genplug.Model):
    """Logits at position t from the running mean of the embeddings of BOS, tokens[:, :t]."""

    architecture = "kit-lm"
    config_class = LMConfig
    log_prob_kinds = ("exact",)
    conformance_configs = ({"vocab_size": 3, "sequence_length": 3},)

    def __init__(self, config: LMConfig) -> None:
        super().__init__(config)
        self.embed = torch.nn.Embedding(config.vocab_size + 1, config.hidden)  # the last row is BOS
        self.position = torch.nn.Parameter(torch.randn(config.sequence_length, config.hidden))
        self.head = torch.nn.Linear(config.hidden, config.vocab_size)

    vocab_size = property(lambda self: self.config.vocab_size)
    sequence_length = property(lambda self: self.config.sequence_length)
    event_shape = property(lambda self: (self.config.sequence_length,))

    def _inputs(self, tokens, start):  # (B, L) -> (B, L, H): token embeddings at positions start..
        return self.embed(tokens) + self.position[start : start + tokens.shape[1]]

    def _bos(self, n):
        return self._inputs(torch.full((n, 1), self.config.vocab_size, device=self.device), 0)  # (B, 1, H)

    def _mix(self, h):  # (B, L, H), causal: position t sees inputs 0..t
        return h.cumsum(1) / torch.arange(1, h.shape[1] + 1, device=h.device).unsqueeze(-1)

    def logits(self, tokens):
        h = torch.cat([self._bos(len(tokens)), self._inputs(tokens[:, :-1], 1)], 1)  # inputs shifted right
        return self.head(torch.tanh(self._mix(h)))  # (B, T, V)

    def next_token_logits(self, tokens, *, cache=None):
        if cache is None:
            total, count = self._bos(len(tokens)).sum(1), 1
        else:
            total, count = cache
        total = total + self._inputs(tokens, count).sum(1)
        count += tokens.shape[1]
        return self.head(torch.tanh(total / count)), (total, count)

    def sample(self, n, *, generator=None):
        tokens, new, cache = torch.zeros(n, 0, dtype=torch.long, device=self.device), None, None
        for _ in range(self.config.sequence_length):
            logits, cache = self.next_token_logits(tokens[:, -1:] if cache else tokens, cache=cache)
            new = torch.multinomial(logits.float().softmax(-1), 1, generator=generator)
            tokens = torch.cat([tokens, new], 1)
        return tokens

    def log_prob(self, x, *, kind="exact", generator=None):
        logp = self.logits(x).log_softmax(-1)
        return logp.gather(-1, x.unsqueeze(-1)).squeeze(-1).sum(-1)

    def loss(self, batch, *, generator=None):
        return -self.log_prob(batch).mean()


class NonCausal(TinyLM):
    architecture = "kit-lm-non-causal"

    def _mix(self, h):  # the bug: every position attends to every other
        return h.mean(1, keepdim=True).expand_as(h)


class CacheNeverWritten(TinyLM):
    architecture = "kit-lm-no-cache"

    def next_token_logits(self, tokens, *, cache=None):
        logits, fresh = super().next_token_logits(tokens, cache=None if cache is None else cache)
        return logits, cache if cache is not None else fresh  # the bug: the cache returned is the one given


class CacheIgnoresPast(TinyLM):
    architecture = "kit-lm-no-past"

    def next_token_logits(self, tokens, *, cache=None):
        if cache is not None:  # the bug: the new tokens are scored as if nothing came before
            return super().next_token_logits(tokens[:, -1:])
        return super().next_token_logits(tokens)


class SamplesUniformly(TinyLM):
    architecture = "kit-lm-uniform"

    def sample(self, n, *, generator=None):  # the bug: the model is never asked
        return torch.randint(0, self.config.vocab_size, (n, self.config.sequence_length), generator=generator)


class Unnormalised(TinyLM):
    architecture = "kit-lm-unnormalised"

    def log_prob(self, x, *, kind="exact", generator=None):  # the bug: raw logits, no log-softmax
        return self.logits(x).gather(-1, x.unsqueeze(-1)).squeeze(-1).sum(-1)


class Big(TinyLM):
    architecture = "kit-lm-big"
    conformance_configs = ({"vocab_size": 50, "sequence_length": 4},)


class Temperature:
    """Temperature decoding through ``next_token_logits`` and its cache."""

    name = "kit-temperature"
    requires: dict = {}

    def __init__(self, temperature: float = 1.0) -> None:
        self.temperature = temperature

    def check(self, model):
        if not callable(getattr(model, "next_token_logits", None)):
            raise genplug.IncompatibleError(f"{self.name} needs next_token_logits")

    def __call__(self, model, n, *, generator=None):  # takes no steps: the spec says takes_steps=False
        tokens, cache = torch.zeros(n, 0, dtype=torch.long), None
        for _ in range(model.sequence_length):
            logits, cache = model.next_token_logits(tokens[:, -1:] if cache else tokens, cache=cache)
            new = torch.multinomial((logits.float() / self.temperature).softmax(-1), 1, generator=generator)
            tokens = torch.cat([tokens, new.to(tokens.device)], 1)
        return tokens.reshape(n, *model.event_shape)


class IgnoresModel(Temperature):
    name = "kit-ignores-model"

    def __call__(self, model, n, *, generator=None):  # the bug: uniform tokens whatever the model says
        shape = (n, *model.event_shape)
        return torch.randint(0, model.vocab_size, shape, generator=generator)


MODELS = (TinyLM, NonCausal, CacheNeverWritten, CacheIgnoresPast, SamplesUniformly, Unnormalised)


def _plugin(models, samplers):
    plugin = types.ModuleType("kit_tokens_plugin")

    @genplug.hookimpl
    def register_architectures(register):
        for cls in models:
            register(
                genplug.ArchitectureSpec(
                    name=cls.architecture,
                    family="autoregressive",
                    description="test",
                    model=f"{__name__}:{cls.__name__}",
                    provides=("generator", "next-token"),
                )
            )

    @genplug.hookimpl
    def register_samplers(register):
        for cls in samplers:
            register(
                genplug.SamplerSpec(
                    name=cls.name,
                    family="autoregressive",
                    description="test",
                    sampler=f"{__name__}:{cls.__name__}",
                    interface="next-token",
                    takes_steps=False,
                )
            )

    plugin.register_architectures = register_architectures
    plugin.register_samplers = register_samplers
    return plugin


@pytest.fixture
def kit_registry():
    reg = genplug.Registry()
    reg.add_plugin(_plugin(MODELS, (Temperature, IgnoresModel)), name="genplug-kit-tokens")
    reg.add_plugin(_plugin((Big,), ()), name="genplug-kit-big")
    with genplug.use_registry(reg):
        yield reg


def test_a_correct_causal_model_passes(kit_registry):
    check_architecture("kit-lm")


def test_non_causal_attention_fails(kit_registry):
    with pytest.raises(AssertionError, match=r"logits\[:, 0\] changes by .* when tokens\[:, 0:\] change"):
        check_architecture("kit-lm-non-causal")


def test_a_kv_cache_never_written_fails(kit_registry):
    with pytest.raises(AssertionError, match="decoding with the cache differs .* is the cache written"):
        check_architecture("kit-lm-no-cache")


def test_a_cache_path_that_ignores_the_past_fails(kit_registry):
    with pytest.raises(AssertionError, match="decoding with the cache differs from logits"):
        check_architecture("kit-lm-no-past")


def test_sampling_that_ignores_the_model_fails(kit_registry):
    with pytest.raises(AssertionError, match=r"sample\(\) does not draw from the model's own logits"):
        check_architecture("kit-lm-uniform")


def test_probabilities_that_do_not_sum_to_one_fail(kit_registry):
    with pytest.raises(AssertionError, match=r"exp\(log_prob\(kind='exact'\)\) summed over all 27 sequences is"):
        check_architecture("kit-lm-unnormalised")


def test_a_decoding_sampler_passes_without_being_given_steps(kit_registry):
    check_sampler("kit-temperature", "kit-lm")


def test_a_decoding_sampler_that_ignores_the_model_fails(kit_registry):
    with pytest.raises(AssertionError, match="sampler kit-ignores-model: from a model whose logits put all mass on"):
        check_sampler("kit-ignores-model", "kit-lm")


def test_a_token_model_without_an_enumerable_config_is_refused(kit_registry):
    with pytest.raises(AssertionError, match="none of its conformance_configs is small enough to enumerate"):
        conformance_cases("genplug-kit-big")


def test_conformance_cases_list_the_token_checks(kit_registry):
    ids = [str(c) for c in conformance_cases("genplug-kit-tokens")]
    assert "architecture-kit-lm-0" in ids and "sampler-kit-temperature-on-kit-lm" in ids
