"""A GPT-style decoder-only transformer over token sequences: text, or images in raster order.

Read it top to bottom like nanoGPT's ``model.py``: the config, the blocks (causal
self-attention with a KV cache, the MLP), then the model. An example is a sequence of
``T = prod(data_shape)`` tokens; the model factorises its probability as

    p(x) = prod_t p(x_t | x_<t, label)

and scores position ``t`` from a start token (one per class for a class-conditional
model) followed by ``x_0 .. x_{t-1}``. Images with ``levels`` grey levels are the
integers ``round(x * (levels - 1))`` in raster order; token data are used as they are.

References:
    Radford et al., "Language Models are Unsupervised Multitask Learners" (GPT-2), 2019.
    Chen et al., "Generative Pretraining from Pixels" (ImageGPT), ICML 2020.
    Karpathy, nanoGPT, https://github.com/karpathy/nanoGPT (model.py).
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import torch
import torch.nn as nn
from torch.nn import functional as F

import genplug
from genplug.validators import fraction, in_range, one_of, shape
from genplug_autoregressive.samplers import Ancestral

__all__ = ["Block", "KVCache", "Transformer", "TransformerConfig", "TransformerTrainOptions"]

#: One ``(keys, values)`` pair per layer, each ``(B, nh, L, hs)`` for the ``L`` positions seen.
KVCache = list[tuple[torch.Tensor, torch.Tensor]]

_optional_count = attrs.validators.optional(in_range(2, 65_536, integer=True))


@attrs.frozen(kw_only=True)
class TransformerConfig:
    data_shape: tuple[int, ...] = attrs.field(default=(1, 8, 8), converter=tuple, validator=shape)  # one example
    levels: int | None = attrs.field(default=None, validator=_optional_count)  # image data: grey levels (digits: 17)
    vocab_size: int | None = attrs.field(default=None, validator=_optional_count)  # token data: ids 0..vocab_size-1
    classes: int = attrs.field(default=0, validator=in_range(0, 1000, integer=True))  # > 0: a start token per class
    n_layer: int = attrs.field(default=4, validator=in_range(1, 64, integer=True))  # transformer blocks
    n_head: int = attrs.field(default=4, validator=in_range(1, 64, integer=True))  # attention heads per block
    n_embd: int = attrs.field(default=64, validator=in_range(1, 4096, integer=True))  # width of the residual stream
    dropout: float = attrs.field(default=0.0, validator=fraction)  # on the embeddings and residual branches
    attn_dropout: float = attrs.field(default=0.0, validator=fraction)  # on attention weights (slower: no fused kernel)
    bias: bool = True  # biases in the linear layers and LayerNorms
    # "learned": a vector per position (nanoGPT); "axes": a vector per index along each axis of
    # data_shape, summed (an image's row + column + channel), so neighbouring rows share columns
    positions: str = attrs.field(default="learned", validator=one_of("learned", "axes"))

    def __attrs_post_init__(self) -> None:
        if (self.levels is None) == (self.vocab_size is None):
            raise genplug.ConfigError(
                f"TransformerConfig needs exactly one of levels (image data, e.g. levels=17 for digits) and "
                f"vocab_size (token data), got levels={self.levels}, vocab_size={self.vocab_size}; "
                "genplug train fills the one its data has"
            )
        if self.n_embd % self.n_head:
            raise genplug.ConfigError(
                f"TransformerConfig.n_embd={self.n_embd} must be a multiple of n_head={self.n_head}"
            )
        if math.prod(self.data_shape) > 4096:
            raise genplug.ConfigError(
                f"TransformerConfig.data_shape={self.data_shape} holds {math.prod(self.data_shape)} tokens; "
                "at most 4096 fit the learned positions"
            )


@attrs.frozen(kw_only=True)
class TransformerTrainOptions:
    """The training options of a :class:`Transformer`: ``genplug train transformer -t weight_decay=0.1``."""

    weight_decay: float = attrs.field(default=0.1, validator=in_range(0.0, 10.0))  # AdamW's, on weight matrices only
    beta2: float = attrs.field(default=0.99, validator=in_range(0.0, 1.0, open_high=True))  # AdamW's second beta


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention; ``causal=False`` lets every position see every other (a
    DiT's patches, genplug-hybrid's ``dit``)."""

    def __init__(
        self, n_embd: int, n_head: int, dropout: float, attn_dropout: float, bias: bool, causal: bool = True
    ) -> None:
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)  # key, query, value for all heads at once
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.resid_dropout = nn.Dropout(dropout)
        self.n_head, self.attn_dropout, self.causal = n_head, attn_dropout, causal

    def forward(
        self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        B, T, C = x.size()  # T new positions, after the L positions held in ``past``
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        if past is not None:
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)  # (B, nh, L + T, hs)
        L = k.size(2) - T
        if not self.causal:
            mask, causal = None, False  # every query sees every key
        elif L == 0:
            mask, causal = None, True
        elif T == 1:
            mask, causal = None, False  # one new query may see every position
        else:  # new query i sits at position L + i and sees keys 0 .. L + i (is_causal aligns top-left)
            mask, causal = torch.ones(T, L + T, dtype=torch.bool, device=x.device).tril(L), False
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.attn_dropout if self.training else 0.0, is_causal=causal
        )  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble the heads side by side
        return self.resid_dropout(self.c_proj(y)), (k, v)


class MLP(nn.Module):
    def __init__(self, n_embd: int, dropout: float, bias: bool) -> None:
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-LayerNorm: x + attn(ln(x)), then x + mlp(ln(x)).

    ``causal=False`` makes the attention bidirectional. ``modulation`` (``(B, 6, C)``, one
    row each of shift, scale and gate for the attention, then for the MLP) is DiT's adaptive
    LayerNorm: x + gate_1 * attn(ln(x) * (1 + scale_1) + shift_1), and the same for the MLP
    with the other three (Peebles & Xie, "Scalable Diffusion Models with Transformers",
    2023, arXiv:2212.09748). Modulation rows that are zero leave the LayerNorms as they are
    and gate both branches off.
    """

    def __init__(
        self, n_embd: int, n_head: int, dropout: float, attn_dropout: float, bias: bool, causal: bool = True
    ) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, bias=bias)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout, attn_dropout, bias, causal)
        self.ln_2 = nn.LayerNorm(n_embd, bias=bias)
        self.mlp = MLP(n_embd, dropout, bias)

    def forward(
        self,
        x: torch.Tensor,
        past: tuple[torch.Tensor, torch.Tensor] | None = None,
        modulation: torch.Tensor | None = None,
    ):
        if modulation is None:
            a, present = self.attn(self.ln_1(x), past)
            x = x + a
            return x + self.mlp(self.ln_2(x)), present
        shift_1, scale_1, gate_1, shift_2, scale_2, gate_2 = modulation[:, :, None].unbind(1)  # each (B, 1, C)
        a, present = self.attn(self.ln_1(x) * (1 + scale_1) + shift_1, past)
        x = x + gate_1 * a
        return x + gate_2 * self.mlp(self.ln_2(x) * (1 + scale_2) + shift_2), present


class Transformer(genplug.Model):
    """A decoder-only transformer: ``genplug train transformer --data digits``.

    Arguments:
        config: a :class:`TransformerConfig`; ``genplug train`` fills ``data_shape`` and
            ``levels`` or ``vocab_size`` from the data.

    Example:
        >>> import torch, genplug
        >>> model = genplug.create("transformer", data_shape=(6,), vocab_size=5, n_layer=1, n_embd=16)
        >>> x = genplug.sample(model, 2, generator=torch.Generator().manual_seed(0))
        >>> x.shape, x.dtype, model.log_prob(x).shape
        (torch.Size([2, 6]), torch.int64, torch.Size([2]))
    """

    architecture = "transformer"
    config_class = TransformerConfig
    log_prob_kinds = ("exact",)
    log_prob_discrete = True
    train_options_class = TransformerTrainOptions
    train_defaults = {"lr": 1e-3, "batch_size": 64, "steps": 5000, "schedule": "cosine", "warmup_steps": 100}
    conformance_configs = (
        {"data_shape": (3,), "vocab_size": 3, "n_layer": 1, "n_head": 2, "n_embd": 8},  # 27 sequences
        {"data_shape": (1, 8, 8), "levels": 17, "n_layer": 2, "n_head": 2, "n_embd": 16},  # digits' shape
        # Class-conditional configs are checked in tests/test_transformer.py instead: at
        # GPT-2's N(0, 0.02) initialisation the logits are nearly uniform, so the kit's
        # "labels 0 and 1 draw different samples" cannot tell a label that is used from one
        # that is not; the test runs the kit's checks on weights redrawn from N(0, 1).
    )

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__(config)
        C = config.n_embd
        # position_index[t]: the rows of wpe summed into the embedding of position t (t scores
        # token t): t itself ("learned"), or t's index along each axis, offset into wpe ("axes").
        T = self.sequence_length
        if config.positions == "learned":
            index = torch.arange(T)[:, None]
        else:
            axes = torch.stack(torch.unravel_index(torch.arange(T), config.data_shape), 1)  # (T, len(data_shape))
            index = axes + torch.tensor([0, *config.data_shape[:-1]]).cumsum(0)
        self.register_buffer("position_index", index, persistent=False)
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(self.vocab_size, C),  # token embeddings, tied to lm_head
                wse=nn.Embedding(max(1, config.classes), C),  # the start token: one per class, or one
                wpe=nn.Embedding(int(index.max()) + 1, C),  # learned positions (see position_index)
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList(
                    [
                        Block(C, config.n_head, config.dropout, config.attn_dropout, config.bias)
                        for _ in range(config.n_layer)
                    ]
                ),
                ln_f=nn.LayerNorm(C, bias=config.bias),
            )
        )
        self.lm_head = nn.Linear(C, self.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying (Press & Wolf 2017)
        # All initialisation in one place, as GPT-2: N(0, 0.02), and residual projections
        # scaled by 1/sqrt(2 * n_layer) so the residual stream's variance does not grow with depth.
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))
        self.tokenizer = None  # text data: set by the trainer, saved in the model folder

    # -- the next-token interface -------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return self.config.levels or self.config.vocab_size

    @property
    def sequence_length(self) -> int:
        return math.prod(self.config.data_shape)

    @property
    def conditions(self) -> dict[str, genplug.Condition]:
        """``label`` (a class-conditional model) and ``prompt``: text every sample starts
        with (a model with a tokenizer), or the first tokens of every sample (for a
        one-channel image, its first rows: ``prompt=x[:, :, :3]``)."""
        found = {}
        if self.config.classes:
            found["label"] = genplug.Condition("class", classes=self.config.classes, description="the start token")
        if self.tokenizer is not None:
            found["prompt"] = genplug.Condition("text", description="the text every sample starts with")
        else:
            found["prompt"] = genplug.Condition(
                "tokens", description="the first tokens of every sample; an image's first rows (x[:, :, :rows])"
            )
        return found

    def prompt_tokens(self, prompt: Any, n: int) -> torch.Tensor:
        """``(n, P)`` int64 tokens every sample starts with, from ``prompt``: a text (through
        the model's tokenizer), or a tensor of the first ``P`` tokens of one sample or of
        each of ``n`` (images: the first rows, in [0, 1], turned into grey levels)."""
        if isinstance(prompt, str):
            if self.tokenizer is None:
                raise genplug.GenplugError(
                    "prompt: this model has no tokenizer, so it takes no text; give the first tokens as a tensor "
                    "(for an image, its first rows: prompt=x[:, :, :rows])"
                )
            tokens = torch.tensor([self.tokenizer.encode(prompt)], dtype=torch.long)
        else:
            tokens = torch.as_tensor(prompt)
            if tokens.dim() < 2:
                tokens = tokens[None]  # one prompt for every sample
            if tokens.is_floating_point() and not self.config.levels:
                raise genplug.GenplugError("prompt: this model takes integer tokens; got floating-point values")
            tokens = self.to_tokens(tokens)
        P = tokens.size(1)
        if len(tokens) not in (1, n):
            raise genplug.GenplugError(f"prompt: {len(tokens)} prompts for {n} samples; give one, or one per sample")
        if not 1 <= P <= self.sequence_length:
            raise genplug.GenplugError(
                f"prompt: {P} tokens; a sample of this model holds {self.sequence_length}, so give 1 to "
                f"{self.sequence_length}"
            )
        if ((tokens < 0) | (tokens >= self.vocab_size)).any():
            raise genplug.GenplugError(f"prompt: tokens must be in 0..{self.vocab_size - 1}")
        return tokens.expand(n, P).to(self.device)

    def _start(self, batch: int, label: Any) -> torch.Tensor:
        """The start token's index in ``wse`` for each example: its label, or 0."""
        if not self.config.classes or label is None:
            return torch.zeros(batch, dtype=torch.long, device=self.device)
        label = torch.as_tensor(label, device=self.device).long().expand(batch)
        if ((label < 0) | (label >= self.config.classes)).any():
            raise genplug.GenplugError(f"label must be in 0..{self.config.classes - 1}, got {label.tolist()}")
        return label

    def forward(
        self, tokens: torch.Tensor, *, label: Any = None, cache: KVCache | None = None
    ) -> tuple[torch.Tensor, KVCache]:
        """Logits ``(B, S, vocab)`` after each input position and the cache that includes them.

        Without a cache the inputs are the start token then ``tokens`` (``S = len + 1``);
        with one, ``tokens`` alone, at the positions after those it holds (``S = len``).
        """
        past = cache or [None] * len(self.transformer.h)
        L = 0 if cache is None else cache[0][0].size(2)
        x = self.transformer.wte(tokens)  # (B, S, C)
        if cache is None:
            x = torch.cat([self.transformer.wse(self._start(len(tokens), label))[:, None], x], 1)
        S = x.size(1)
        if L + S > self.sequence_length:
            raise genplug.GenplugError(
                f"the model scores at most {self.sequence_length} tokens; asked for position {L + S - 1}"
            )
        x = self.transformer.drop(x + self.transformer.wpe(self.position_index[L : L + S]).sum(1))
        present = []
        for block, kv in zip(self.transformer.h, past, strict=True):
            x, kv = block(x, kv)
            present.append(kv)
        x = self.transformer.ln_f(x)
        # The logits in float32 even under bf16/fp16 autocast: rounded to 8 bits of mantissa,
        # two close logits can swap, and greedy decoding would pick another token.
        with torch.autocast(x.device.type, enabled=False):
            return F.linear(x.float(), self.lm_head.weight.float()), present

    def logits(self, tokens: torch.Tensor, label: Any = None) -> torch.Tensor:
        """``(B, T, vocab)``: position ``t`` scores ``tokens[:, t]`` from the start token and ``tokens[:, :t]``."""
        return self(tokens[:, :-1], label=label)[0]

    def next_token_logits(
        self, tokens: torch.Tensor, *, cache: KVCache | None = None, label: Any = None
    ) -> tuple[torch.Tensor, KVCache]:
        """The scores ``(B, vocab)`` of the token after ``tokens`` (the whole prefix, or with
        ``cache`` only the new tokens), and the cache for the next call."""
        logits, cache = self(tokens, label=label, cache=cache)
        return logits[:, -1], cache

    # -- data <-> tokens ----------------------------------------------------------------

    def to_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, *data_shape)`` data to ``(B, T)`` tokens: integers as they are, images
        in [0, 1] as ``round(x * (levels - 1))``."""
        if x.is_floating_point():
            if not self.config.levels:
                raise genplug.GenplugError("this model takes integer tokens; got floating-point data")
            x = (x * (self.config.levels - 1)).round()
        return x.reshape(len(x), -1).long()

    def from_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` tokens to data: images as floats ``k / (levels - 1)``, token data as int64."""
        tokens = tokens.reshape(len(tokens), *self.config.data_shape)
        if not self.config.levels:
            return tokens.long()
        return tokens.to(self.transformer.wpe.weight.dtype) / (self.config.levels - 1)

    def conformance_batch(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        tokens = torch.randint(0, self.vocab_size, (n, self.sequence_length), generator=generator)
        return self.from_tokens(tokens.to(self.device))

    # -- the generator interface --------------------------------------------------------

    def log_prob(
        self, x: torch.Tensor, *, kind: str | None = None, generator: torch.Generator | None = None, label: Any = None
    ) -> torch.Tensor:
        """``log p(x)`` in nats, ``(B,)``, exact; without a label, a class-conditional
        model gives the mixture of its classes with equal weights."""
        if kind not in (None, "exact"):
            raise genplug.GenplugError(f"transformer computes log_prob kind 'exact' only, got {kind!r}")
        tokens = self.to_tokens(x)
        if self.config.classes and label is None:
            every = torch.stack([self.log_prob(tokens, label=k) for k in range(self.config.classes)])  # (K, B)
            return every.logsumexp(0) - math.log(self.config.classes)
        logp = self.logits(tokens, label=label).float().log_softmax(-1)  # (B, T, V)
        return logp.gather(-1, tokens[..., None]).squeeze(-1).sum(1)

    def configure_optimizers(self, config: genplug.TrainConfig) -> dict[str, torch.optim.Optimizer]:
        """AdamW as nanoGPT: weight decay on the weight matrices and embeddings, none on
        biases and LayerNorm gains (``-t weight_decay=0.1``, ``-t beta2=0.99``)."""
        options = config.model_options(self)
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": options.weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        return {"model": torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, options.beta2))}

    def loss(self, batch: torch.Tensor, *, generator: torch.Generator | None = None, label: Any = None):
        tokens = self.to_tokens(batch)
        logits = self.logits(tokens, label=label)
        nll = F.cross_entropy(logits.reshape(-1, self.vocab_size).float(), tokens.reshape(-1))  # nats per token
        return nll, {"bits_per_token": float(nll.detach()) / math.log(2)}

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        label: Any = None,
        prompt: Any = None,
        sampler: str | None = None,
        sampler_options: dict[str, Any] | None = None,
    ) -> torch.Tensor:
        """``n`` samples: ancestral decoding at temperature 1 with the KV cache, or the
        named decoding sampler (``greedy``, ``top-k``, ``top-p``, ``min-p``, ...); each
        sample starts with ``prompt`` when one is given (see :meth:`prompt_tokens`)."""
        if sampler is None:
            chosen = Ancestral(**(sampler_options or {}))
        else:
            chosen = genplug.get_sampler(sampler, self, **(sampler_options or {}))
        self._start(n, label)  # refuse a label out of range before decoding
        start = None if prompt is None else self.prompt_tokens(prompt, n)
        tokens = chosen(self, n, generator=generator, prompt=start, **({} if label is None else {"label": label}))
        return self.from_tokens(tokens)
