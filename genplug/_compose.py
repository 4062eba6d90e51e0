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

On disk a composite is a folder with an index ``config.json`` (its architecture, its own
config, and ``components``: for each part, the subfolder, architecture and plugin) and one
model folder per component::

    config.json        {"architecture": "composite", "config": {...},
                        "components": {"encoder": {"path": "encoder", "architecture": "vae",
                                                   "plugin": {"name": "genplug-vae", ...}},
                                       "prior": {...}}}
    encoder/           config.json + model.safetensors
    prior/             config.json + model.safetensors
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import torch

from genplug import _files
from genplug._errors import IncompatibleError, ModelFileError
from genplug._model import Model, model_config_document, plugin_of
from genplug._protocols import Encoder, Generator, missing_members

COMPONENTS = ("encoder", "prior")


@attrs.frozen(kw_only=True)
class CompositeConfig:
    """How a composite uses its parts."""

    latent: str = attrs.field(default="mean", validator=attrs.validators.in_(("mean", "sample")))
    # which latent the prior learns: the posterior mean, or a fresh posterior sample per batch
    train_encoder: bool = False  # False: the encoder is frozen while the prior trains
    sampler: str | None = None  # the prior's default sampler (None: the prior's own default)
    steps: int | None = None  # the default number of sampler steps


def _name(obj: Any) -> str:
    return getattr(obj, "architecture", None) or type(obj).__name__


def check_composition(encoder: Any, prior: Any, sampler: str | None = None) -> None:
    """Raise :class:`IncompatibleError` naming both sides when the parts do not fit."""
    for role, obj, protocol in (("encoder", encoder, "an Encoder"), ("prior", prior, "a Generator")):
        missing = missing_members(obj, Encoder if role == "encoder" else Generator)
        if missing:
            raise IncompatibleError(f"the {role} {_name(obj)!r} is not {protocol}: it lacks {', '.join(missing)}")
    latent = tuple(encoder.latent_shape)
    event = tuple(prior.event_shape)
    if latent != event:
        raise IncompatibleError(
            f"the prior {_name(prior)!r} draws samples of shape {event}, but the encoder {_name(encoder)!r} "
            f"has latents of shape {latent}; build the prior with data_shape={latent}"
        )
    if sampler is not None:
        from genplug._plugins import registry

        try:
            registry().sampler(sampler).check(prior)
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

    def __init__(self, config: CompositeConfig, *, encoder: Any, prior: Any) -> None:
        super().__init__(config)
        check_composition(encoder, prior, config.sampler)
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

    # -- sampling ---------------------------------------------------------------------

    def sample_latents(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        sampler: str | Any | None = None,
        steps: int | None = None,
    ) -> torch.Tensor:
        """``n`` latents from the prior, ``(n, *latent_shape)``, with ``sampler`` if given."""
        sampler = sampler if sampler is not None else self.config.sampler
        steps = steps if steps is not None else self.config.steps
        options: dict[str, Any] = {}
        if sampler is not None:
            if isinstance(sampler, str):
                from genplug._plugins import registry

                try:
                    registry().sampler(sampler).check(self.prior)
                except IncompatibleError as exc:
                    raise IncompatibleError(
                        f"sampler {sampler!r} cannot run the prior {_name(self.prior)!r}: {exc}"
                    ) from None
            options["sampler"] = sampler
        if steps is not None:
            options["steps"] = steps
        return self.prior.sample(n, generator=generator, **options)

    def decode(self, z: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Latents to data space: the encoder's ``decode``. Subclasses may draw instead."""
        return self.encoder.decode(z)

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        sampler: str | Any | None = None,
        steps: int | None = None,
    ) -> torch.Tensor:
        """Draw ``n`` latents from the prior (with ``sampler`` if given) and decode them."""
        return self.decode(
            self.sample_latents(n, generator=generator, sampler=sampler, steps=steps), generator=generator
        )

    def encode(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """The latent the prior is trained on: the posterior mean, or a posterior sample."""
        latent = self.encoder.encode(x, generator=generator)
        return latent.mean if self.config.latent == "mean" else latent.sample

    # -- training ---------------------------------------------------------------------

    def configure_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        params = list(self.prior.parameters())
        if self.config.train_encoder:
            params += list(self.encoder.parameters())
        return {"model": torch.optim.AdamW(params, lr=lr)}

    def loss(self, batch: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """The prior's loss on encoded data, plus the encoder's own loss when it trains too."""
        if self.config.train_encoder:
            z = self.encode(batch, generator=generator)
            loss = self.prior.loss(z, generator=generator)
            if callable(getattr(self.encoder, "loss", None)):
                loss = loss + self.encoder.loss(batch, generator=generator)
            return loss
        with torch.no_grad():
            self.encoder.eval()
            z = self.encode(batch, generator=generator)
        return self.prior.loss(z, generator=generator)

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
        from genplug._trainer import config_for, train

        train(self, data, config_for(self, steps=steps, **options), out=out, resume=resume, progress=progress)
        return self

    # -- files ------------------------------------------------------------------------

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write the index and one model folder per component (each atomically)."""
        directory = Path(directory)
        for role in COMPONENTS:  # check every part before writing any, so a refusal leaves nothing behind
            part = getattr(self, role)
            if not hasattr(part, "state_dict") or not getattr(part, "architecture", None):
                raise ModelFileError(
                    f"the {role} {_name(part)!r} cannot be saved: only registered architectures "
                    "(with architecture, config and state_dict) can be written to a model folder"
                )
            if part.architecture not in _registered():
                raise ModelFileError(
                    f"the {role} {part.architecture!r} is not a registered architecture, so it could not be "
                    "loaded back; register it through a plugin first"
                )
        components = {}
        for role in COMPONENTS:
            part = getattr(self, role)
            save = getattr(part, "save_pretrained", None)
            if callable(save):
                save(directory / role)
            else:
                from genplug._model import save_model

                save_model(part, directory / role)
            components[role] = {"path": role, "architecture": part.architecture, "plugin": plugin_of(part.architecture)}
        doc = model_config_document(self)
        doc["components"] = components
        _files.atomic_write_json(directory / _files.CONFIG_NAME, doc)
        return directory


def _registered() -> dict[str, Any]:
    from genplug._plugins import registry

    return registry().architectures


def compose(
    *,
    encoder: Any,
    prior: Any,
    latent: str = "mean",
    train_encoder: bool = False,
    sampler: str | None = None,
    steps: int | None = None,
) -> Composite:
    """Compose ``encoder`` (an :class:`Encoder`) with ``prior`` (a :class:`Generator` on its latents).

    Arguments:
        encoder: maps data to latents and back; frozen unless ``train_encoder``.
        prior: a generator whose ``event_shape`` equals ``encoder.latent_shape``.
        latent: train the prior on the posterior ``"mean"`` or on a posterior ``"sample"``.
        train_encoder: train the encoder together with the prior.
        sampler, steps: the prior's default sampler and steps, checked now.
    """
    config = CompositeConfig(latent=latent, train_encoder=train_encoder, sampler=sampler, steps=steps)
    return Composite(config, encoder=encoder, prior=prior)


def load_composite(
    directory: Path, doc: dict[str, Any], *, device: Any = None, local_files_only: bool | None = None
) -> Composite:
    """Rebuild a composite from its index and component folders."""
    from genplug._api import architecture_class, load

    components = doc.get("components")
    if not isinstance(components, dict) or set(components) != set(COMPONENTS):
        raise ModelFileError(
            f"{directory / _files.CONFIG_NAME}: 'components' must name {', '.join(COMPONENTS)}; got {components!r}"
        )
    parts = {}
    for role, entry in components.items():
        architecture_class(entry.get("architecture", ""), plugin=entry.get("plugin"))  # pip line if missing
        sub = (directory / entry.get("path", role)).resolve()
        if directory.resolve() not in sub.parents:
            raise ModelFileError(f"{directory}: component path {entry.get('path')!r} leaves the model folder")
        parts[role] = load(sub, device=device, local_files_only=local_files_only)
    architecture = doc["architecture"]
    cls = Composite if architecture == "composite" else architecture_class(architecture, plugin=doc.get("plugin"))
    if not (isinstance(cls, type) and issubclass(cls, Composite)):
        raise ModelFileError(
            f"{directory}: architecture {architecture!r} is not a composite but the folder has components"
        )
    config = _files.config_from_dict(
        cls.config_class, doc.get("config", {}), source=str(directory / _files.CONFIG_NAME)
    )
    model = cls(config, **parts)
    model.eval()
    if device is not None:
        model.to(device)
    return model
