"""What a plugin registers: light records that point at code by import path.

A spec holds metadata (name, family, one-line description) and a ``"module:attr"``
string. The code behind it is imported only when a model is built or loaded, a sampler
is run or a dataset is read, which keeps ``genplug list`` from importing torch.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import attrs

from genplug._errors import IncompatibleError, PluginError
from genplug._protocols import PROTOCOLS, check_protocol, missing_members

__all__ = ["FAMILIES", "PROVIDES", "ArchitectureSpec", "DatasetSpec", "MetricSpec", "SamplerSpec", "resolve"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9._+-]*$")
_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_FOLDER = re.compile(r"^[A-Za-z_][\w.]*:\w[\w-]*(/\w[\w-]*)*$")  # package:relative/folder, no "..", no "/" first

#: Protocols an architecture may declare in ``provides``.
PROVIDES = ("generator", "encoder", "bijection", "next-token")

FAMILIES = ("diffusion", "vae", "gan", "flow", "autoregressive", "hybrid", "other")


def _check_name(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if not isinstance(value, str) or not _NAME.match(value):
        raise PluginError(
            f"{type(instance).__name__}.{attribute.name}={value!r} is not a valid name: use "
            "lower-case letters, digits and . _ + - (for example 'dpm-solver++')."
        )


def _check_target(instance: Any, attribute: attrs.Attribute, value: str | None) -> None:
    if attribute.name == "default_weights":
        if value is not None and (not isinstance(value, str) or not _FOLDER.match(value)):
            raise PluginError(
                f"{type(instance).__name__}.default_weights={value!r} must be a packaged folder "
                "'package:relative/folder', such as 'genplug_hybrid:packaged/dit'."
            )
        return
    if not isinstance(value, str) or not _TARGET.match(value):
        raise PluginError(
            f"{type(instance).__name__}.{attribute.name}={value!r} must be an import path "
            "'package.module:attribute' (the code is imported only when it is needed)."
        )


def resolve(target: str, *, what: str) -> Any:
    """Import ``"module:attr"`` and return the attribute; errors name ``what``."""
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:  # an import error inside a plugin is that plugin's bug
        raise PluginError(
            f"{what}: cannot import {target!r} ({type(exc).__name__}: {exc}). "
            "Reinstall the plugin that registered it, or run `genplug doctor`."
        ) from exc
    return obj


@attrs.frozen(kw_only=True)
class ArchitectureSpec:
    """A model architecture a plugin offers.

    Attributes:
        name: the name users type, e.g. ``"diffusion"``.
        family: one of ``FAMILIES``.
        description: one line for ``genplug list``.
        model: import path of the model class, a :class:`genplug.Model` subclass
            (or any class with ``config_class``, ``from_config`` and the protocols).
        provides: the protocols the model satisfies: ``"generator"``, ``"encoder"``,
            ``"bijection"``, ``"next-token"`` (see :data:`PROVIDES`).
        default_weights: ``"package:relative/folder"`` of packaged weights, or ``None``.
        plugin: the distribution that registered it; filled in by the core.
    """

    name: str = attrs.field(validator=_check_name)
    family: str = attrs.field(validator=attrs.validators.in_(FAMILIES))
    description: str
    model: str = attrs.field(validator=_check_target)
    provides: tuple[str, ...] = attrs.field(default=("generator",), converter=tuple)
    default_weights: str | None = attrs.field(default=None, validator=_check_target)
    plugin: str = ""

    @provides.validator
    def _check_provides(self, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
        unknown = [p for p in value if p not in PROVIDES]
        if unknown or not value:
            raise PluginError(
                f"ArchitectureSpec(name={self.name!r}).provides={value!r}: allowed values "
                f"are {', '.join(map(repr, PROVIDES))} (at least one)."
            )

    def load_class(self) -> type:
        """Import the model class and check it against the declared protocols."""

        cls = resolve(self.model, what=f"architecture {self.name!r} (plugin {self.plugin})")
        for protocol in self.provides:
            check_protocol(cls, protocol, what=f"architecture {self.name!r} of plugin {self.plugin} ({self.model})")
        return cls


@attrs.frozen(kw_only=True)
class SamplerSpec:
    """A sampling procedure, independent of any network.

    Attributes:
        name: e.g. ``"ddim"``.
        family: the family of models it serves, e.g. ``"diffusion"``.
        description: one line for ``genplug list``.
        sampler: import path of a class whose instances satisfy :class:`genplug.Sampler`;
            keyword options (``eta=0.5``) go to its constructor.
        requires: ``{model attribute: allowed values}``, checked before sampling and when
            composing, without importing the sampler's code.
        interface: a protocol the model must satisfy (``"next-token"``, ``"bijection"``,
            ...; see :data:`PROVIDES`), so a sampler serves any plugin's model that
            implements it; ``None``: no protocol beyond ``requires``.
        takes_steps: whether the sampler takes ``steps`` (diffusion samplers do, decoding
            samplers do not); ``genplug.sample`` and the kit pass ``steps`` only to those.
        plugin: the distribution that registered it; filled in by the core.
    """

    name: str = attrs.field(validator=_check_name)
    family: str = attrs.field(validator=attrs.validators.in_(FAMILIES))
    description: str
    sampler: str = attrs.field(validator=_check_target)
    requires: dict[str, tuple[Any, ...]] = attrs.field(factory=dict)
    interface: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_(PROVIDES))
    )
    takes_steps: bool = True
    plugin: str = ""

    def check(self, model: Any) -> None:
        """Raise :class:`genplug.IncompatibleError` if ``model`` lacks what this needs."""
        model_name = getattr(model, "architecture", None) or type(model).__name__
        if self.interface is not None:
            missing = missing_members(model, PROTOCOLS[self.interface])
            if missing:
                raise IncompatibleError(
                    f"sampler {self.name!r} needs a model with the {self.interface} interface "
                    f"({PROTOCOLS[self.interface].__name__}); model {model_name!r} lacks {', '.join(missing)}."
                )
        for attribute, allowed in self.requires.items():
            value = getattr(model, attribute, None)
            if value not in allowed:
                raise IncompatibleError(
                    f"sampler {self.name!r} needs a model with {attribute} in "
                    f"{', '.join(map(str, allowed))}; model {model_name!r} has "
                    f"{attribute}={value!r}. Pick a sampler listed for its family in `genplug list`."
                )

    def create(self, **options: Any) -> Any:
        """Import the sampler class and build one with ``options``."""

        cls = resolve(self.sampler, what=f"sampler {self.name!r} (plugin {self.plugin})")
        try:
            sampler = cls(**options)
        except TypeError as exc:
            raise PluginError(f"sampler {self.name!r} does not take these options: {exc}") from exc
        check_protocol(sampler, "sampler", what=f"sampler {self.name!r} of plugin {self.plugin}")
        return sampler


@attrs.frozen(kw_only=True)
class DatasetSpec:
    """A dataset, read only when training or evaluating.

    Attributes:
        name: e.g. ``"digits"``.
        kind: ``"image"`` (floats in [0, 1], shape ``(C, H, W)``), ``"points"`` (vectors)
            or ``"tokens"`` (integer sequences).
        shape: the shape of one example.
        description: one line for ``genplug list``.
        loader: import path of ``loader(split: str) -> genplug.Data`` with split
            ``"train"`` or ``"test"``.
        levels: for discrete data, the number of values each dimension takes (``digits``:
            17, the integers 0..16 scaled to [0, 1]); ``genplug train`` fills a model
            config field of the same name.
        vocab_size: for token and text data, the vocabulary size (filled the same way).
        classes: for labelled data, the number of classes.
        plugin: the distribution that registered it; filled in by the core.
    """

    name: str = attrs.field(validator=_check_name)
    kind: str = attrs.field(validator=attrs.validators.in_(("image", "points", "tokens", "text")))
    shape: tuple[int, ...] = attrs.field(converter=tuple)
    description: str
    loader: str = attrs.field(validator=_check_target)
    levels: int | None = None  # discrete data: values per dimension (digits: 17), else None
    vocab_size: int | None = None  # tokens and text: the vocabulary size, else None
    classes: int | None = None  # labelled data: the number of classes (digits: 10), else None
    plugin: str = ""


@attrs.frozen(kw_only=True)
class MetricSpec:
    """An evaluation metric for ``genplug eval``.

    Attributes:
        name: e.g. ``"fd"``.
        description: one line.
        metric: import path of ``metric(model, data, *, n, generator, **sampling) ->
            dict[str, float]``.
        applies_to: dataset kinds it can score.
        plugin: the distribution that registered it; filled in by the core.
    """

    name: str = attrs.field(validator=_check_name)
    description: str
    metric: str = attrs.field(validator=_check_target)
    applies_to: tuple[str, ...] = attrs.field(default=("image", "points", "tokens"), converter=tuple)
    plugin: str = ""
