"""The ``vq-transformer`` architecture: a transformer prior over the discrete codes of a VQ-VAE.

A VQ-VAE (genplug-vae's ``vq-vae``) maps an 8x8 digit x to a grid of codes, integers in
``0 .. K-1``, and decodes the grid back; its own prior over the grid is uniform, so its
samples are noise. This hybrid keeps the VQ-VAE, frozen, and learns the prior: a GPT-style
transformer (genplug-autoregressive's ``transformer``) over the grid read in raster order as
a sequence of ``T = h w`` tokens from a vocabulary of K. Sampling draws the tokens one by
one with any of that plugin's decoding samplers (``ancestral``, ``top-k``, ``top-p``,
``min-p``, ``greedy``; options such as ``p=0.9`` or ``temperature=0.8``) through the core's
next-token interface, then decodes them with the VQ-VAE:

==============  ============================================================================
``x``           an example in data space, ``(B, *event_shape)``
``codes``       its grid of codes from the VQ-VAE's encoder, ``(B, h, w)`` int64
``tokens``      the codes in raster order, ``(B, T)``: what the prior models
``prior``       a ``transformer`` with ``data_shape=(T,)`` and ``vocab_size=K``
==============  ============================================================================

This is the two-stage recipe of VQ-VAE (a PixelCNN prior), VQ-VAE-2 and VQGAN (a
transformer prior): stage 1 trains the VQ-VAE, stage 2 the prior on the codes of the
training data (``genplug.compose(encoder=vq, prior=transformer, adapter="codes")``, under
its own architecture name, so ``genplug run vq-transformer`` finds packaged weights).

Likelihood: the posterior of a VQ-VAE is a point mass at the encoder's codes z*(x), whose
entropy is 0, so the ELBO is log p(z*) + log p(x | z*): the prior's exact log-probability
of the codes plus the VQ-VAE decoder's log-probability of x. It is a lower bound on
log p(x) = log sum_z p(z) p(x | z) (one term of the sum), of the model whose samples are
draws from p(x | z) (``output="draw"``), and a bound on the probability of discrete data
with the discretized logistic decoder. ``log_prob(kind="elbo")`` computes it;
:meth:`VQTransformer.code_nll` the code NLL -log p(z*) alone, which is not a likelihood of x.

References:
    van den Oord, Vinyals, Kavukcuoglu. Neural Discrete Representation Learning. NeurIPS
    2017. arXiv:1711.00937.
    Razavi, van den Oord, Vinyals. Generating Diverse High-Fidelity Images with VQ-VAE-2.
    NeurIPS 2019. arXiv:1906.00446.
    Esser, Rombach, Ommer. Taming Transformers for High-Resolution Image Synthesis (VQGAN).
    CVPR 2021. arXiv:2012.09841.
    Ramesh et al. Zero-Shot Text-to-Image Generation (DALL-E). ICML 2021. arXiv:2102.12092.

Example:
    >>> import genplug, torch
    >>> vq = genplug.create("vq-vae", hidden=4, embedding_dim=2, num_codes=8)
    >>> model = VQTransformer(VQTransformerConfig(prior={"n_layer": 1, "n_head": 2, "n_embd": 8}), encoder=vq)
    >>> model.prior.vocab_size, model.prior.sequence_length
    (8, 16)
    >>> model.sample(2, generator=torch.Generator().manual_seed(0), sampler="top-p", sampler_options={"p": 0.9}).shape
    torch.Size([2, 1, 8, 8])
"""

from __future__ import annotations

import math
import reprlib
from typing import Any, ClassVar

import attrs
import torch

import genplug
from genplug import ConfigError, GenplugError, IncompatibleError
from genplug import validators as v

__all__ = ["DEFAULT_PRIOR", "OUTPUTS", "VQTransformer", "VQTransformerConfig"]

OUTPUTS = ("draw", "mean")
#: The prior built when none is given: the size of genplug-autoregressive's packaged digits
#: transformer, over 16 codes instead of 64 pixels.
DEFAULT_PRIOR: dict[str, Any] = {"n_layer": 3, "n_head": 4, "n_embd": 64, "dropout": 0.2}
#: Fields the hybrid sets on the prior itself, from the encoder.
_FROM_ENCODER = ("data_shape", "vocab_size", "levels")


def _prior_fields(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """A dict of transformer config fields without those the encoder fixes; the prior's own config checks the values."""
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ConfigError(
            f"VQTransformerConfig.prior must be a dict of transformer config fields, got {reprlib.repr(value)}"
        )
    fixed = [k for k in _FROM_ENCODER if k in value]
    if fixed:
        raise ConfigError(
            f"VQTransformerConfig.prior must not set {', '.join(fixed)}: the prior models the encoder's codes "
            "(data_shape = (number of codes per example,), vocab_size = the codebook's size); remove them"
        )


@attrs.frozen(kw_only=True)
class VQTransformerConfig(genplug.CompositeConfig):
    """The configuration of a :class:`VQTransformer` (the composite's fields, and these)."""

    encoder: str = "vq-vae"  # the encoder loaded when none is passed: a reference for genplug.load ("vq-vae": packaged)
    prior: dict[str, Any] = attrs.field(  # transformer config fields of the prior built when none is passed
        factory=lambda: dict(DEFAULT_PRIOR), validator=_prior_fields
    )
    adapter: str = attrs.field(default="codes", validator=v.one_of("codes"))  # the prior models the codes as tokens
    output: str = attrs.field(default="draw", validator=v.one_of(*OUTPUTS))  # decode to x ~ p(x | z), or E[x | z]
    sampler: str | None = None  # the prior's default decoding sampler (None: ancestral at temperature 1)
    steps: int | None = attrs.field(default=None, validator=v.one_of(None))  # decoding samplers take no steps


class VQTransformer(genplug.Composite):
    """A frozen VQ-VAE and a transformer prior over its codes in raster order.

    Arguments:
        config: a :class:`VQTransformerConfig`.
        encoder: an :class:`genplug.Encoder` with discrete codes (``code_shape``,
            ``num_codes``, ``decode_codes``; for ``output="draw"`` also ``embed_codes`` and
            ``decode_sample``); default ``genplug.load(config.encoder)``, the packaged ``vq-vae``.
        prior: a :class:`genplug.NextTokenModel` and :class:`genplug.Generator` over
            ``prod(code_shape)`` tokens with ``vocab_size == num_codes``; default a fresh
            ``genplug.create("transformer", data_shape=(T,), vocab_size=K, **config.prior)``.

    Raises:
        genplug.IncompatibleError: naming both parts, when the encoder has no discrete
            codes, or the prior's sequence length or vocabulary does not match them, or the
            prior is not a next-token model.
    """

    architecture = "vq-transformer"
    config_class = VQTransformerConfig
    #: The recipe of the packaged weights (scripts/train_vq_transformer.py), for `genplug train`.
    train_defaults: ClassVar[dict[str, Any]] = {
        "lr": 1e-3,
        "batch_size": 128,
        "steps": 4000,
        "schedule": "cosine",
        "warmup_steps": 100,
    }
    #: Small configs for genplug's conformance kit: a tiny VQ-VAE is built when the packaged one is absent.
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        {"prior": {"n_layer": 1, "n_head": 2, "n_embd": 16}},
        {"prior": {"n_layer": 1, "n_head": 2, "n_embd": 16}, "output": "mean", "sampler": "top-k"},
    )

    def __init__(self, config: VQTransformerConfig, *, encoder: Any = None, prior: Any = None) -> None:
        if encoder is None:
            encoder = genplug.load(config.encoder)
        lacks = [m for m in _CODES if not hasattr(encoder, m)]
        if lacks:
            raise IncompatibleError(
                f"vq-transformer's prior models discrete codes; the encoder {_name(encoder)!r} has none (it lacks "
                f"{', '.join(lacks)}). Use a VQ-VAE (genplug-vae's vq-vae), or latent-diffusion for a VAE"
            )
        if prior is None:
            prior = genplug.create(
                "transformer",
                data_shape=(math.prod(encoder.code_shape),),
                vocab_size=encoder.num_codes,
                **config.prior,
            )
        lacks = [m for m in _NEXT_TOKEN if not hasattr(prior, m)]
        if lacks:
            raise IncompatibleError(
                f"the prior {_name(prior)!r} of vq-transformer must be a next-token model (genplug.NextTokenModel) "
                f"to model the codes of the encoder {_name(encoder)!r} and run decoding samplers; it lacks "
                f"{', '.join(lacks)}"
            )
        super().__init__(config, encoder=encoder, prior=prior)  # checks the shapes and vocabulary, naming both
        if config.output == "draw" and not all(callable(getattr(encoder, m, None)) for m in _DRAW):
            raise IncompatibleError(
                f"output='draw' draws x ~ p(x | z) with the encoder's embed_codes and decode_sample, as "
                f"genplug-vae's vq-vae has them; the encoder {_name(encoder)!r} has not. Use output='mean' "
                "(its decode_codes)."
            )

    @property
    def log_prob_kinds(self) -> tuple[str, ...]:  # type: ignore[override]
        """``("elbo",)`` when the encoder gives log p(x | codes) (``log_likelihood``) and the prior ``log_prob``."""
        ok = callable(getattr(self.encoder, "log_likelihood", None)) and callable(getattr(self.prior, "log_prob", None))
        return ("elbo",) if ok else ()

    @property
    def log_prob_discrete(self) -> bool:  # type: ignore[override]
        """The encoder's: ``True`` with the discretized logistic decoder."""
        return bool(getattr(self.encoder, "log_prob_discrete", False))

    def conformance_batch(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Test data for genplug.testing: the encoder's own (values its decoder's likelihood accepts)."""
        own = getattr(self.encoder, "conformance_batch", None)
        if callable(own):
            return own(n, generator=generator)
        return torch.rand((n, *self.event_shape), generator=generator)

    # -- codes <-> data --------------------------------------------------------------------

    def decode(
        self, tokens: torch.Tensor, *, generator: torch.Generator | None = None, output: str | None = None
    ) -> torch.Tensor:
        """Data from tokens ``(B, T)`` (codes in raster order): a draw x ~ p(x | z_q)
        (``output="draw"``) or its mean (``"mean"``); default ``config.output``."""
        output = output or self.config.output
        if output not in OUTPUTS:
            raise GenplugError(f"output={output!r}; choose 'draw' (x ~ p(x | z)) or 'mean' (E[x | z])")
        codes = tokens.long().view(-1, *self.encoder.code_shape)  # (B, h, w)
        if output == "mean":
            return self.encoder.decode_codes(codes)
        return self.encoder.decode_sample(self.encoder.embed_codes(codes), generator=generator)

    # -- sampling --------------------------------------------------------------------------

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        sampler: str | Any | None = None,
        steps: int | None = None,
        sampler_options: dict[str, Any] | None = None,
        output: str | None = None,
        **condition: Any,
    ) -> torch.Tensor:
        """Draw ``n`` code sequences from the prior and decode them to ``(n, *event_shape)``.

        Arguments:
            n: the number of samples.
            generator: seeds the decoding sampler, then the draw from p(x | z).
            sampler: a decoding sampler by name (``ancestral``, ``top-k``, ``top-p``,
                ``min-p``, ``greedy``) or object; default ``config.sampler`` (None: ancestral).
            steps: refused: decoding samplers draw one token per code.
            sampler_options: the sampler's options, e.g. ``{"p": 0.9}`` or ``{"temperature": 0.8}``.
            output: ``"draw"`` or ``"mean"``; default ``config.output`` (see :meth:`decode`).
            condition: the prior's conditions (``label=3`` for a class-conditional prior).
        """
        if steps is not None:
            raise GenplugError("vq-transformer's decoding samplers draw one token per code and take no steps")
        tokens = self.sample_latents(
            n, generator=generator, sampler=sampler, sampler_options=sampler_options, **condition
        )
        return self.decode(tokens, generator=generator, output=output)

    # -- likelihood ------------------------------------------------------------------------

    def code_nll(self, x: torch.Tensor, **condition: Any) -> torch.Tensor:
        """-log p(z*) in nats, ``(B,)``: the prior's exact NLL of the codes z* of ``x``. A
        code length of the codes, not a likelihood of x."""
        return -self.prior.log_prob(self.encode(x), **condition)

    def log_prob(
        self, x: torch.Tensor, *, kind: str | None = None, generator: torch.Generator | None = None, **condition: Any
    ) -> torch.Tensor:
        """The ELBO log p(z*) + log p(x | z*) at the encoder's codes z* of ``x``, ``(B,)`` nats:
        a lower bound on log p(x) (see the module's docstring)."""
        if kind not in (None, "elbo") or not self.log_prob_kinds:
            raise GenplugError(
                f"vq-transformer computes log_prob kinds {self.log_prob_kinds or 'none'} here; got kind={kind!r}"
            )
        codes = self.encoder.encode(x).codes  # (B, h, w)
        log_pz = self.prior.log_prob(codes.flatten(1).long(), **condition)
        return log_pz + self.encoder.log_likelihood(x, codes)


_CODES = ("code_shape", "num_codes", "decode_codes")  # what an encoder with discrete codes has
_NEXT_TOKEN = ("vocab_size", "sequence_length", "logits", "next_token_logits")  # genplug.NextTokenModel's members
_DRAW = ("embed_codes", "decode_sample")  # what output="draw" needs of the encoder


def _name(obj: Any) -> str:
    return getattr(obj, "architecture", None) or type(obj).__name__
