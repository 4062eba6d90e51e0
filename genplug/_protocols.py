"""The protocols every generative model, encoder and sampler satisfies.

They are structural (``typing.Protocol``): any object with the right members fits,
whether or not it inherits from :class:`genplug.Model`. ``check_protocol`` is what the
core runs when a plugin registers or composes something; it names what is missing.

Nothing here imports torch, so that ``genplug list`` stays fast.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from genplug._errors import PluginError

if TYPE_CHECKING:
    import torch

__all__ = [
    "CONDITION_KINDS",
    "KNOWN_LOG_PROB_KINDS",
    "PROTOCOLS",
    "Bijection",
    "Condition",
    "Encoder",
    "Generator",
    "Latent",
    "NextTokenModel",
    "Sampler",
    "check_protocol",
    "missing_members",
]

#: Log-likelihood kinds a model may declare in ``log_prob_kinds``. ``exact`` is the exact
#: log-density (flows, autoregressive models); ``elbo`` and ``iwae`` are lower bounds
#: (VAEs, diffusion). A plugin may declare another named bound; an empty tuple means the
#: model has no likelihood (GANs).
KNOWN_LOG_PROB_KINDS = ("exact", "elbo", "iwae")

#: What a condition can be: a class label (an int in ``range(classes)``), a text prompt,
#: a token prefix, or any other value the model documents.
CONDITION_KINDS = ("class", "text", "tokens", "value")


@attrs.frozen
class Condition:
    """One condition a model takes: ``sample(n, label=3)``, ``genplug run ARCH --label 3``.

    A model lists its conditions in ``conditions`` (a mapping name -> Condition); the
    core refuses any other keyword with one line, checks class labels against
    ``classes``, and hands the trainer's batches' labels to ``loss``/``training_step``
    under the name of the model's ``class`` condition.

    Attributes:
        kind: one of :data:`CONDITION_KINDS`.
        classes: for ``kind="class"``, the number of classes (labels ``0 .. classes-1``).
        description: one line for ``genplug info``.
    """

    kind: str = attrs.field(validator=attrs.validators.in_(CONDITION_KINDS))
    classes: int | None = None
    description: str = ""

    def draw_labels(
        self, n: int, *, generator: torch.Generator | None = None, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """``n`` labels for a model given none: every class ``n // classes`` times, the
        remainder on distinct classes picked at random, in an order shuffled by ``generator``.

        A stratified draw from the uniform class prior. Drawing each label independently
        instead lets the mix of classes move with the seed, and the Fréchet distance of
        1000 samples moves with it: training digits themselves, drawn in the class counts of
        1000 independent uniform draws, score up to 1.4 times the floor
        (``benchmarks/label_mix.py``).

        Example:
            >>> import torch
            >>> labels = Condition("class", classes=10).draw_labels(25, generator=torch.Generator().manual_seed(0))
            >>> torch.bincount(labels).tolist()
            [2, 3, 2, 3, 3, 3, 2, 3, 2, 2]
        """
        import torch  # here, not at the top: importing genplug does not import torch

        if self.kind != "class" or not self.classes:
            raise PluginError(f"draw_labels needs a class condition with its number of classes, not {self!r}")
        where = generator.device if generator is not None else torch.device("cpu")
        rest = torch.randperm(self.classes, generator=generator, device=where)[: n % self.classes]
        labels = torch.cat([torch.arange(self.classes, device=where).repeat(n // self.classes), rest])
        labels = labels[torch.randperm(n, generator=generator, device=where)]
        return labels if device is None else labels.to(device)


@runtime_checkable
class Generator(Protocol):
    """Draws samples in data space.

    Members:
        event_shape: the shape of one sample, e.g. ``(1, 8, 8)`` or ``(2,)``.
        log_prob_kinds: the likelihood kinds ``log_prob`` can compute, the default
            first; ``()`` when the model has no likelihood.
        sample: ``sample(n, *, generator=None, **condition) -> Tensor`` of shape
            ``(n, *event_shape)``; the same seeded ``torch.Generator`` gives the same
            samples.

    Optional capability: ``log_prob(x, *, kind=None, generator=None, **options) ->
    Tensor`` of shape ``(batch,)`` in nats, present exactly when ``log_prob_kinds``
    is not empty. ``log_prob_discrete`` (default ``False``) says whether it is the log
    probability of discrete data (bits per dimension are then a code length, comparable
    across families) rather than a log density.

    Optional: ``conditions``, a mapping of condition name -> :class:`Condition`
    (``{}`` when unconditional); ``sample`` takes each as a keyword.
    """

    event_shape: tuple[int, ...]
    log_prob_kinds: tuple[str, ...]

    def sample(self, n: int, *, generator: torch.Generator | None = None, **condition: Any) -> torch.Tensor: ...


@attrs.frozen
class Latent:
    """What ``Encoder.encode`` returns.

    Attributes:
        sample: a latent drawn from the posterior (reparameterised, so gradients flow),
            or the deterministic code for encoders without a posterior.
        mean: the posterior mean; equals ``sample`` for deterministic encoders.
        scale: the posterior standard deviation, or ``None`` for deterministic encoders.
        codes: for discrete encoders (a VQ-VAE), the integer code indices ``(B, *code_shape)``
            whose embeddings ``sample`` and ``mean`` hold; ``None`` otherwise.
    """

    sample: Any
    mean: Any
    scale: Any = None
    codes: Any = None


@runtime_checkable
class Encoder(Protocol):
    """Maps data to a latent space and back.

    Members:
        latent_shape: the shape of one latent, e.g. ``(8,)`` or ``(4, 4, 4)``.
        encode: ``encode(x, *, generator=None) -> Latent``.
        decode: ``decode(z) -> Tensor`` in data space: the mean of p(x | z).

    Optional: ``decode_sample(z, *, generator=None) -> Tensor``, a draw from p(x | z),
    for encoders with a decoder distribution (a VAE); a hybrid uses it instead of
    reaching into the encoder's internals. ``code_shape``, ``num_codes`` and
    ``decode_codes(codes) -> Tensor`` for encoders whose latents are discrete codes (a
    VQ-VAE): a composite's ``"codes"`` adapter hands the codes to a token prior.
    """

    latent_shape: tuple[int, ...]

    def encode(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> Latent: ...

    def decode(self, z: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Bijection(Protocol):
    """An invertible map with tractable Jacobians: a normalizing flow, a flow layer.

    Members:
        event_shape: the shape of one input (and output).
        forward_and_log_det: ``forward_and_log_det(x) -> (y, log|det dy/dx|)``, the log
            determinant of shape ``(batch,)``.
        inverse_and_log_det: ``inverse_and_log_det(y) -> (x, log|det dx/dy|)``.

    ``inverse_and_log_det(forward_and_log_det(x)[0])`` gives back ``x``, and the two
    log-determinants sum to zero.
    """

    event_shape: tuple[int, ...]

    def forward_and_log_det(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    def inverse_and_log_det(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


@runtime_checkable
class NextTokenModel(Protocol):
    """A model of token sequences that predicts the next token: what decoding samplers
    (greedy, temperature, top-k, top-p, min-p) run on, whatever plugin it comes from.

    Members:
        vocab_size: the number of token values ``0 .. vocab_size-1``.
        sequence_length: the longest sequence the model scores or draws.
        logits: ``logits(tokens, **condition) -> (B, T, vocab_size)``: ``logits[:, t]``
            scores ``tokens[:, t]`` given ``tokens[:, :t]`` (and the condition), so a
            causal model's ``logits[:, t]`` never depends on ``tokens[:, t:]``.
        next_token_logits: ``next_token_logits(tokens, *, cache=None, **condition) ->
            (logits (B, vocab_size), cache)``: the scores of the token after ``tokens``.
            With ``cache=None``, ``tokens`` is the whole prefix (possibly of length 0);
            with the cache a previous call returned, ``tokens`` holds only the new tokens.
            Both ways give the same logits (a KV cache is an optimisation, not a change).
    """

    vocab_size: int
    sequence_length: int

    def logits(self, tokens: torch.Tensor, **condition: Any) -> torch.Tensor: ...

    def next_token_logits(
        self, tokens: torch.Tensor, *, cache: Any = None, **condition: Any
    ) -> tuple[torch.Tensor, Any]: ...


@runtime_checkable
class Sampler(Protocol):
    """A procedure that turns a model's predictions into samples, apart from the network.

    Members:
        name: the registered name, e.g. ``"ddim"``.
        requires: what the sampler needs of a model, as ``{attribute: allowed values}``,
            e.g. ``{"prediction_type": ("epsilon", "v_prediction")}``. ``check`` refuses a
            model whose attribute is missing or not allowed.
        check: ``check(model) -> None``; raises :class:`genplug.IncompatibleError`.
        __call__: ``sampler(model, n, *, steps=None, generator=None, **condition) ->
            Tensor``; a sampler whose spec says ``takes_steps=False`` is never given
            ``steps``. Its options (``eta``, ``temperature``, ``top_p``, guidance scale, ...)
            are its constructor's keywords.
    """

    name: str
    requires: dict[str, tuple[Any, ...]]

    def check(self, model: Any) -> None: ...

    def __call__(
        self,
        model: Any,
        n: int,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor: ...


PROTOCOLS: dict[str, type] = {
    "generator": Generator,
    "encoder": Encoder,
    "bijection": Bijection,
    "next-token": NextTokenModel,
    "sampler": Sampler,
}


def _protocol_members(protocol: type) -> list[str]:
    names = set(getattr(protocol, "__annotations__", {}))
    names |= {n for n, v in vars(protocol).items() if inspect.isfunction(v) and not n.startswith("_")}
    if "__call__" in vars(protocol):
        names.add("__call__")
    return sorted(names)


def missing_members(obj: Any, protocol: type) -> list[str]:
    """Names of ``protocol``'s members that ``obj`` (an instance or a class) lacks.

    For a class, annotated attributes count as present when the class declares them
    (as a class attribute, an annotation, or a property), since instances set them in
    ``__init__``.
    """
    missing = []
    for name in _protocol_members(protocol):
        if hasattr(obj, name):
            continue
        if inspect.isclass(obj) and any(name in getattr(k, "__annotations__", {}) for k in obj.__mro__):
            continue
        missing.append(name)
    if protocol is Generator and not missing:
        kinds = getattr(obj, "log_prob_kinds", ())
        if not isinstance(kinds, property) and kinds and not callable(getattr(obj, "log_prob", None)):
            missing.append("log_prob (declared log_prob_kinds " + repr(tuple(kinds)) + ")")
    return missing


def check_protocol(obj: Any, protocol: str | type, *, what: str) -> None:
    """Raise :class:`PluginError` naming ``what`` and each missing member of ``protocol``."""
    proto = PROTOCOLS[protocol] if isinstance(protocol, str) else protocol
    missing = missing_members(obj, proto)
    if missing:
        raise PluginError(
            f"{what} does not satisfy the {proto.__name__} protocol: missing "
            + ", ".join(missing)
            + f". Add {'it' if len(missing) == 1 else 'them'} (see genplug.{proto.__name__})."
        )
