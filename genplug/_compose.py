"""Hybrids: compose an encoder from one plugin with a prior from another.

::

    vae = genplug.load("vae")
    prior = genplug.create("diffusion", data_shape=vae.latent_shape)
    model = genplug.compose(encoder=vae, prior=prior)
    model.fit("digits", steps=2000)                  # trains the prior on encoded digits
    x = model.sample(16, sampler="dpm-solver++", steps=20)

Any objects that satisfy the protocols compose, registered or not: the encoder must be an
:class:`genplug.Encoder`, the prior a :class:`genplug.Generator` whose ``event_shape``
equals the encoder's ``latent_shape``. Mismatches are caught by ``compose``, with both
sides named.

A composite declares its ``roles`` (role -> the protocol the part must satisfy); the
model-folder format (:mod:`genplug._folder`) saves one subfolder per role, and
:func:`genplug.load` rebuilds the parts and calls ``cls(config, **parts)``. On disk a
composite is a folder with an index ``config.json`` (its architecture, its own config,
and ``components``: for each role, the subfolder, architecture and plugin) and one model
folder per component::

    config.json        {"architecture": "composite", "config": {...},
                        "components": {"encoder": {"path": "encoder", "architecture": "vae",
                                                   "plugin": {"name": "genplug-vae", ...}},
                                       "prior": {...}}}
    encoder/           config.json + model.safetensors
    prior/             config.json + model.safetensors
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any, ClassVar

import attrs
import torch

from genplug._api import get_sampler
from genplug._errors import IncompatibleError
from genplug._model import Model, split_loss
from genplug._protocols import PROTOCOLS, missing_members
from genplug._training.config import TrainConfig, config_for
from genplug._training.loop import configure_optimizers, train

__all__ = ["Composite", "CompositeConfig", "check_composition", "compose", "prior_shape"]


@attrs.frozen(kw_only=True)
class CompositeConfig:
    """How a composite uses its parts."""

    latent: str = attrs.field(default="mean", validator=attrs.validators.in_(("mean", "sample")))
    # which latent the prior learns: the posterior mean, or a fresh posterior sample per batch
    train_encoder: bool = False  # False: the encoder is frozen while the prior trains
    sampler: str | None = None  # the prior's default sampler (None: the prior's own default)
    steps: int | None = None  # the default number of sampler steps
    adapter: str = attrs.field(default="identity", validator=attrs.validators.in_(("identity", "flatten", "codes")))
    # what the prior models: the latent as it is, flattened to a vector, or an encoder's discrete codes as tokens


def prior_shape(encoder: Any, adapter: str) -> tuple[int, ...]:
    """The ``event_shape`` a prior needs for ``encoder``'s latents under ``adapter``.

    - ``identity``: the latent itself, ``encoder.latent_shape``;
    - ``flatten``: the latent as one vector, ``(prod(latent_shape),)`` (an MLP prior on a
      convolutional encoder's grid);
    - ``codes``: a discrete encoder's codes (``Latent.codes``, ``code_shape``) in raster
      order as ``prod(code_shape)`` tokens: a 4x4 grid of codes feeds a prior over 16
      tokens, which must have ``vocab_size == encoder.num_codes``.
    """
    if adapter == "codes":
        for member in ("code_shape", "num_codes", "decode_codes"):
            if not hasattr(encoder, member):
                raise IncompatibleError(
                    f"adapter 'codes' needs an encoder with discrete codes; {_name(encoder)!r} has no {member}"
                )
        return (math.prod(encoder.code_shape),)
    shape = tuple(encoder.latent_shape)
    return (math.prod(shape),) if adapter == "flatten" else shape


def _name(obj: Any) -> str:
    return getattr(obj, "architecture", None) or type(obj).__name__


def _takes(method: Any, keyword: str) -> bool:
    params = inspect.signature(method).parameters
    return keyword in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _progress(method: Any, step: int, total: int) -> dict[str, int]:
    """The trainer's ``step`` and ``total`` for ``method``, each only if its signature takes it."""
    params = inspect.signature(method).parameters
    return {k: v for k, v in (("step", step), ("total", total)) if k in params}


def _article(noun: str) -> str:
    return f"{'an' if noun[0] in 'AEIOU' else 'a'} {noun}"


def check_roles(roles: dict[str, str], parts: dict[str, Any]) -> None:
    """Raise :class:`IncompatibleError` unless each part satisfies its role's protocol."""
    for role, protocol in roles.items():
        missing = missing_members(parts[role], PROTOCOLS[protocol])
        if missing:
            raise IncompatibleError(
                f"the {role} {_name(parts[role])!r} is not {_article(PROTOCOLS[protocol].__name__)}: it lacks "
                f"{', '.join(missing)}"
            )


def check_composition(encoder: Any, prior: Any, sampler: str | None = None, adapter: str = "identity") -> None:
    """Raise :class:`IncompatibleError` naming both sides when the parts do not fit."""
    check_roles(Composite.roles, {"encoder": encoder, "prior": prior})
    latent = prior_shape(encoder, adapter)
    event = tuple(prior.event_shape)
    if latent != event:
        hint = ""
        if adapter == "identity" and math.prod(encoder.latent_shape) == math.prod(event):
            hint = ", or compose with adapter='flatten'"
        gives = f"has latents of shape {latent}" if adapter == "identity" else f"gives {latent} (adapter {adapter!r})"
        raise IncompatibleError(
            f"the prior {_name(prior)!r} draws samples of shape {event}, but the encoder {_name(encoder)!r} "
            f"{gives}; build the prior with data_shape={latent}{hint}"
        )
    if adapter == "codes" and getattr(prior, "vocab_size", encoder.num_codes) != encoder.num_codes:
        raise IncompatibleError(
            f"the prior {_name(prior)!r} has vocab_size {prior.vocab_size}, but the encoder {_name(encoder)!r} has "
            f"{encoder.num_codes} codes; build the prior with vocab_size={encoder.num_codes}"
        )
    if sampler is not None:
        try:
            get_sampler(sampler, prior)
        except IncompatibleError as exc:
            raise IncompatibleError(
                f"cannot compose the prior {_name(prior)!r} with sampler {sampler!r}: {exc}"
            ) from None


class Composite(Model):
    """A generator that samples a prior in an encoder's latent space and decodes.

    Build one with :func:`genplug.compose`. A plugin can register a subclass under its own
    architecture name (``latent-diffusion``); it keeps this constructor.
    """

    architecture = "composite"
    config_class = CompositeConfig
    #: role -> the protocol its part satisfies; each role is an attribute, a constructor
    #: keyword and a subfolder of the saved folder.
    roles: ClassVar[dict[str, str]] = {"encoder": "encoder", "prior": "generator"}

    def __init__(self, config: CompositeConfig, *, encoder: Any, prior: Any) -> None:
        super().__init__(config)
        check_composition(encoder, prior, config.sampler, config.adapter)
        self.encoder = encoder
        self.prior = prior
        self._event_shape: tuple[int, ...] | None = None
        if not config.train_encoder and isinstance(encoder, torch.nn.Module):
            encoder.requires_grad_(False)

    @property
    def event_shape(self) -> tuple[int, ...]:
        """The data shape: the encoder's ``event_shape``, or that of one decoded latent."""
        if self._event_shape is None:
            shape = getattr(self.encoder, "event_shape", None)
            if shape is None:
                with torch.no_grad():
                    z = torch.zeros((1, *self.encoder.latent_shape), device=self.device)
                    shape = tuple(self.encoder.decode(z).shape[1:])
            self._event_shape = tuple(shape)
        return self._event_shape

    @property
    def train_defaults(self) -> dict[str, Any]:  # type: ignore[override]
        return dict(getattr(self.prior, "train_defaults", {}) or {})

    @property
    def train_options_class(self) -> type | None:  # type: ignore[override]
        """The prior's own training options (``--train-option``), which its steps read."""
        return getattr(self.prior, "train_options_class", None)

    @property
    def ema_modules(self) -> tuple[str, ...] | None:  # type: ignore[override]
        """The prior's ``ema_modules`` within the composite (a GAN prior's ``prior.generator``)."""
        modules = getattr(self.prior, "ema_modules", None)
        return None if modules is None else tuple(f"prior.{m}" for m in modules)

    @property
    def conditions(self) -> dict[str, Any]:
        """The prior's conditions (a class-conditional prior makes a class-conditional composite)."""
        return dict(getattr(self.prior, "conditions", None) or {})

    # -- sampling ---------------------------------------------------------------------

    def sample_latents(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        sampler: str | Any | None = None,
        steps: int | None = None,
        sampler_options: dict[str, Any] | None = None,
        **condition: Any,
    ) -> torch.Tensor:
        """``n`` latents from the prior, ``(n, *latent_shape)``, with ``sampler`` (and its
        options) if given, and the prior's conditions (``label=3``)."""
        sampler = sampler if sampler is not None else self.config.sampler
        steps = steps if steps is not None else self.config.steps
        options: dict[str, Any] = {}
        if sampler is not None:
            if not _takes(self.prior.sample, "sampler"):
                raise IncompatibleError(
                    f"sampler {sampler!r} cannot run the prior {_name(self.prior)!r}: it has one sampling procedure"
                )
            options["sampler"] = sampler
        if steps is not None:
            options["steps"] = steps
        if sampler_options:
            options["sampler_options"] = sampler_options
        try:  # the prior checks the sampler (genplug.get_sampler), once
            return self.prior.sample(n, generator=generator, **options, **condition)
        except IncompatibleError as exc:
            raise IncompatibleError(f"sampler {sampler!r} cannot run the prior {_name(self.prior)!r}: {exc}") from None

    def decode(self, z: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Latents to data space: the encoder's ``decode``. Subclasses may draw instead."""
        adapter = self.config.adapter
        if adapter == "codes":
            return self.encoder.decode_codes(z.long().view(-1, *self.encoder.code_shape))
        if adapter == "flatten":
            z = z.view(-1, *self.encoder.latent_shape)
        return self.encoder.decode(z)

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        sampler: str | Any | None = None,
        steps: int | None = None,
        sampler_options: dict[str, Any] | None = None,
        **condition: Any,
    ) -> torch.Tensor:
        """Draw ``n`` latents from the prior (with ``sampler`` if given, and its conditions) and decode them."""
        z = self.sample_latents(
            n, generator=generator, sampler=sampler, steps=steps, sampler_options=sampler_options, **condition
        )
        return self.decode(z, generator=generator)

    def encode(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """The latent the prior is trained on: the posterior mean, or a posterior sample."""
        latent = self.encoder.encode(x, generator=generator)
        adapter = self.config.adapter
        if adapter == "codes":
            return latent.codes.flatten(1).long()
        z = latent.mean if self.config.latent == "mean" else latent.sample
        return z.flatten(1) if adapter == "flatten" else z

    # -- training ---------------------------------------------------------------------

    def configure_optimizers(self, config: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        """The prior's own optimizers, under its names, from the :class:`genplug.TrainConfig`
        (a float is taken as the learning rate); with ``train_encoder``, one AdamW over the
        prior and the encoder, which :meth:`loss` trains jointly."""
        if isinstance(config, (int, float)):  # the first contract's learning rate
            config = TrainConfig(lr=float(config))
        if self._trains_itself():
            return configure_optimizers(self.prior, config)  # a prior written for configure_optimizers(lr) too
        params = [*self.prior.parameters(), *(self.encoder.parameters() if self.config.train_encoder else ())]
        return {"model": torch.optim.AdamW(params, lr=config.lr)}

    def training_step(
        self,
        batch: torch.Tensor,
        optimizers: dict[str, torch.optim.Optimizer],
        *,
        generator: torch.Generator | None = None,
        step: int = 0,
        total: int = 1,
        **condition: Any,
    ) -> dict[str, float]:
        """The prior's own ``training_step`` on the encoded batch (the encoder frozen, in eval
        mode), with the optimizers its ``configure_optimizers`` made, so that any family (a
        GAN with two optimizers) trains as a prior. With ``train_encoder``, or a prior that
        has only a ``loss``: one step on :meth:`loss`."""
        if not self._trains_itself():
            (optimizer,) = optimizers.values()
            optimizer.zero_grad(set_to_none=True)
            loss, figures = self.loss(batch, generator=generator, step=step, total=total, **condition)
            loss.backward()
            optimizer.step()
            return {"loss": float(loss.detach()), **figures}
        with torch.no_grad():
            self.encoder.eval()
            z = self.encode(batch, generator=generator)
        extra = {k: v for k, v in (("step", step), ("total", total)) if _takes(self.prior.training_step, k)}
        return self.prior.training_step(z, optimizers, generator=generator, **extra, **condition)

    def _trains_itself(self) -> bool:
        """Whether the prior trains through its own optimizers and steps (a frozen encoder and
        a prior with ``configure_optimizers`` and ``training_step``, as every genplug.Model)."""
        return (
            not self.config.train_encoder
            and callable(getattr(self.prior, "configure_optimizers", None))
            and callable(getattr(self.prior, "training_step", None))
        )

    def loss(
        self,
        batch: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        step: int = 0,
        total: int = 1,
        **condition: Any,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The prior's loss on encoded data, plus the encoder's own loss when it trains too;
        each ``loss`` that takes the trainer's ``step`` and ``total`` gets them (a VAE's KL
        warm-up then follows the run)."""
        if self.config.train_encoder:
            z = self.encode(batch, generator=generator)
        else:
            with torch.no_grad():
                self.encoder.eval()
                z = self.encode(batch, generator=generator)
        progress = _progress(self.prior.loss, step, total)
        loss, figures = split_loss(self.prior.loss(z, generator=generator, **progress, **condition))
        if self.config.train_encoder and callable(getattr(self.encoder, "loss", None)):
            progress = _progress(self.encoder.loss, step, total)
            encoder_loss, encoder_figures = split_loss(self.encoder.loss(batch, generator=generator, **progress))
            figures = {**figures, **{f"encoder_{k}": v for k, v in encoder_figures.items()}}
            figures["prior_loss"] = float(loss.detach())
            loss = loss + encoder_loss
        return loss, figures

    def fit(
        self,
        data: Any,
        *,
        steps: int | None = None,
        out: str | Path | None = None,
        resume: bool = False,
        progress: bool = True,
        **options: Any,
    ) -> Composite:
        """Train with :func:`genplug.train` (options: ``lr``, ``batch_size``, ``seed``, ``ema``, ...)."""
        train(self, data, config_for(self, steps=steps, **options), out=out, resume=resume, progress=progress)
        return self


def compose(
    *,
    encoder: Any,
    prior: Any,
    latent: str = "mean",
    train_encoder: bool = False,
    sampler: str | None = None,
    steps: int | None = None,
    adapter: str = "identity",
) -> Composite:
    """Compose ``encoder`` (an :class:`Encoder`) with ``prior`` (a :class:`Generator` on its latents).

    Arguments:
        encoder: maps data to latents and back; frozen unless ``train_encoder``.
        prior: a generator whose ``event_shape`` is what ``adapter`` makes of the encoder's
            latents (:func:`prior_shape`): ``encoder.latent_shape`` by default.
        latent: train the prior on the posterior ``"mean"`` or on a posterior ``"sample"``.
        train_encoder: train the encoder together with the prior.
        sampler, steps: the prior's default sampler and steps, checked now.
        adapter: ``"identity"``, ``"flatten"`` or ``"codes"`` (see :func:`prior_shape`).
    """
    config = CompositeConfig(latent=latent, train_encoder=train_encoder, sampler=sampler, steps=steps, adapter=adapter)
    return Composite(config, encoder=encoder, prior=prior)
