"""The Python API over the registry: build, load, and sample with a named sampler.

A *reference* (``genplug.load(ref)``, ``--weights REF``) is resolved in this order:

1. ``hub:org/name[@revision]``: always the Hugging Face Hub.
2. The bare name of an installed architecture (``diffusion``): its packaged default
   weights, even when a folder of that name exists here (a warning says so; write
   ``./diffusion`` for the folder).
3. A path that exists on disk: that local folder. When it could also be read as a Hub id
   (``org/name``), a warning says the local folder was used; write ``hub:org/name``
   to get the Hub one.
4. ``org/name`` or ``org/name@revision``: the Hub (branch, tag or commit).

Anything else, the empty string included, is an error that lists what was tried.
Loading reads only the folder (or the one Hub revision) it was given: a composite's
components are subfolders inside it, and nothing a config names is followed elsewhere.
"""

from __future__ import annotations

import difflib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genplug import _folder
from genplug._configs import config_from_dict
from genplug._errors import GenplugError, IncompatibleError, ModelFileError, PluginError, shown
from genplug._files import load_tensors
from genplug._hub.transport import parse_hub_id, snapshot
from genplug._plugins import registry
from genplug._state import check_header, check_state, only
from genplug._tokenizer import load_tokenizer

if TYPE_CHECKING:
    import torch

__all__ = [
    "architecture_class",
    "check_conditions",
    "construct",
    "create",
    "default_weights",
    "get_sampler",
    "load",
    "resolve_device",
    "resolve_reference",
    "sample",
]

log = logging.getLogger("genplug")


def resolve_reference(ref: str | Path, *, local_files_only: bool | None = None) -> Path:
    """Turn a reference into a local folder, downloading from the Hub if needed."""
    if not isinstance(ref, (str, Path)):
        raise ModelFileError(f"a model reference is a folder, a Hub id or an architecture name, got {shown(ref)}")
    text = str(ref)
    if not text.strip() or any(ord(c) < 32 for c in text):
        raise ModelFileError(
            f"{shown(text)} is not a model reference: give a folder, a Hub id org/name[@revision] or an installed "
            "architecture name."
        )
    if text.startswith("hub:"):
        return _from_hub(text, local_files_only)
    reg = registry()
    path = Path(text).expanduser()
    if text in reg.architectures and not isinstance(ref, Path):
        if _exists(path):
            log.warning(
                "%s is an installed architecture: using its packaged weights; write ./%s for the folder", text, text
            )
        return default_weights(text)
    if _exists(path):
        if not isinstance(ref, Path) and parse_hub_id(text) and not text.startswith((".", "/", "~")):
            log.warning("using the local folder %s; write hub:%s for the Hub repository", path, text)
        return path
    if parse_hub_id(text):
        return _from_hub(text, local_files_only)
    close = difflib.get_close_matches(text, list(reg.architectures), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ModelFileError(
        f"cannot resolve {shown(text)}: it is not an existing folder, not an installed architecture "
        f"({', '.join(sorted(reg.architectures)) or 'none installed'}), and not a Hub id 'org/name[@revision]'.{hint}"
    )


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long for the file system, say: not a folder here
        return False


def _from_hub(ref: str, local_files_only: bool | None) -> Path:
    parsed = parse_hub_id(ref)
    if parsed is None:
        raise ModelFileError(
            f"{shown(ref)} is not a valid Hub id; write it as org/name or org/name@revision (no '..', no spaces)."
        )
    repo_id, revision = parsed
    return snapshot(repo_id, revision=revision, local_files_only=local_files_only)


def default_weights(architecture: str) -> Path:
    """The folder of ``architecture``'s packaged default weights."""
    spec = registry().architecture(architecture)
    if spec.default_weights is None:
        raise ModelFileError(
            f"architecture {architecture!r} ({spec.plugin}) ships no default weights; "
            f"train some with `genplug train {architecture} --data digits` and pass --weights."
        )
    from importlib import resources

    package, _, relative = spec.default_weights.partition(":")
    try:
        folder = Path(str(resources.files(package).joinpath(relative)))
    except ModuleNotFoundError:
        raise ModelFileError(f"default weights of {architecture!r}: package {package} is not importable") from None
    if not (folder / _folder.CONFIG_NAME).exists():
        raise ModelFileError(
            f"the default weights of {architecture!r} are missing from {folder}; reinstall {spec.plugin}."
        )
    return folder


def architecture_class(name: str, *, plugin: dict[str, Any] | None = None) -> type:
    """The model class of an installed architecture, or an error with the pip line."""
    reg = registry()
    if name not in reg.architectures:
        dist = (plugin or {}).get("name")
        if dist:
            info = reg.plugins.get(dist)
            if info is not None and info.status != "ok":
                raise PluginError(
                    f"architecture {name!r} comes from {dist}, which is installed but {info.status}: "
                    f"{info.error}. See `genplug doctor`."
                )
            fix = _folder.pip_line(plugin or {})
            if fix is None:
                raise ModelFileError(
                    f"architecture {shown(name, limit=60)} is not installed, and the plugin its config.json names "
                    "is not a valid package name: the file is damaged or crafted; do not install anything it says."
                )
            raise ModelFileError(
                f"architecture {shown(name, limit=60)} is not installed; it comes from the plugin {dist}. Fix: {fix}"
            )
        reg.architecture(name)  # raises the "unknown architecture" error with the known names
    return reg.architectures[name].load_class()


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The torch device for ``device`` (default cpu), or one line when it is not available here."""
    import torch  # imported on use: this module is part of `import genplug`, which stays light

    if isinstance(device, torch.device):
        device = str(device)
    if device is None:
        device = "cpu"
    if not isinstance(device, str) or not device.strip():
        raise GenplugError(f"device {shown(device)} is empty; use cpu, cuda or cuda:N")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise GenplugError(f"unknown device {shown(device)}; use cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        raise GenplugError(f"device {shown(device)} is not supported; use cpu, cuda or cuda:N")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise GenplugError(f"device {device!r} was asked for, but this torch sees no CUDA GPU; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise GenplugError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return dev


def create(architecture: str, **config: Any) -> Any:
    """Build an untrained model of an installed architecture from config fields.

    Example:
        >>> import genplug
        >>> vae = genplug.create("vae", data_shape=(2,), latent_dim=2)
        >>> vae.event_shape, vae.latent_shape, vae.log_prob_kinds
        ((2,), (2,), ('elbo', 'iwae'))
        >>> genplug.create("vae", colour="red")
        Traceback (most recent call last):
        ...
        genplug._errors.ModelFileError: genplug.create('vae'): unknown field 'colour' for VAEConfig; ...
    """
    cls = architecture_class(architecture)
    source = f"genplug.create({architecture!r})"
    return construct(cls, config_from_dict(cls.config_class, config, source=source, from_file=False), source=source)


def construct(cls: type, config: Any, *, source: str, **parts: Any) -> Any:
    """``cls(config, **parts)``, with what the constructor raises on a config its validators
    let through (a negative size, an allocation too large) turned into one line."""
    try:
        return cls(config, **parts)
    except GenplugError:
        raise
    except (RuntimeError, ValueError, TypeError, OverflowError, MemoryError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(
            f"{source}: cannot build {cls.__name__} from this config ({type(exc).__name__}: "
            f"{shown(first, limit=160)}); check the config's sizes"
        ) from None


def _expected_state(cls: type, config: Any) -> dict[str, Any] | None:
    """The state dict ``cls(config)`` would have, built on the meta device (no memory), or
    ``None`` when the class cannot be built there."""
    # on use: `import genplug` imports this module and must not import torch
    import torch

    try:
        with torch.device("meta"):
            return cls(config).state_dict()
    except Exception:  # a model whose __init__ computes with real values: checked after building instead
        return None


def _load_folder(directory: Path, device: torch.device | None, depth: int) -> Any:
    if depth > _folder.MAX_NESTING:
        raise ModelFileError(f"{directory}: composites nest more than {_folder.MAX_NESTING} deep")
    doc = _folder.read(directory)
    cls = architecture_class(doc.architecture, plugin=doc.plugin)
    config = config_from_dict(cls.config_class, doc.config, source=doc.source)
    roles = getattr(cls, "roles", None)
    if doc.is_composite:
        if not roles:
            raise ModelFileError(
                f"{doc.source}: architecture {doc.architecture!r} is not a composite, but the folder has components"
            )
        if set(roles) != {c.role for c in doc.components}:
            raise ModelFileError(
                f"{doc.source}: {doc.architecture!r} has the roles {', '.join(roles)}, the folder's components are "
                f"{', '.join(c.role for c in doc.components)}"
            )
        _folder.check_weights_id(directory, doc)
        parts = {}
        for component in doc.components:
            architecture_class(component.architecture, plugin=component.plugin)  # the pip line when missing
            part = _load_folder(_folder.component_folder(directory, component), device, depth + 1)
            if part.architecture != component.architecture:
                raise ModelFileError(
                    f"{doc.source}: component {component.role!r} is listed as {component.architecture!r}, but its "
                    f"folder holds a {shown(part.architecture)} model; save the composite again"
                )
            parts[component.role] = part
        model = construct(cls, config, source=doc.source, **parts)
    else:
        if roles:
            raise ModelFileError(f"{doc.source}: {doc.architecture!r} is a composite, but the folder has no components")
        weights = directory / _folder.WEIGHTS_NAME
        _folder.check_weights_id(directory, doc)
        expected = _expected_state(cls, config)
        if expected is not None:  # refuse a config that does not fit the file before allocating its tensors
            check_header(only(expected, doc.modules), weights)
        model = construct(cls, config, source=doc.source)
        tensors = load_tensors(weights)  # config.json and the weights id were checked above
        check_state(model, tensors, source=str(weights), modules=doc.modules)
        model.load_state_dict(tensors, strict=doc.modules is None)  # an inference-only folder: its modules alone
        if doc.tokenizer:
            model.tokenizer = load_tokenizer(directory)
    model.eval()
    if device is not None:
        model.to(device)
    return model


def load(
    ref: str | Path,
    *,
    device: str | torch.device | None = None,
    local_files_only: bool | None = None,
) -> Any:
    """Load a model from a folder, a Hub id or an architecture's packaged default.

    See this module's docstring for how ``ref`` is resolved. Loading is strict: every
    missing, unexpected or mis-shaped tensor is named.
    """
    dev = resolve_device(device) if device is not None else None
    directory = resolve_reference(ref, local_files_only=local_files_only)
    return _load_folder(directory, dev, 0)


def get_sampler(sampler: str | Any, model: Any | None = None, **options: Any) -> Any:
    """The sampler ``sampler`` (a registered name or a Sampler object), checked against ``model``.

    This is the one place where a sampler is checked against a model: its declared
    ``requires`` (the spec's, without importing its code), then the sampler's own
    ``check``. It raises :class:`genplug.IncompatibleError` before anything is computed.
    ``options`` go to the sampler's constructor (``eta=0.5``).
    """
    if isinstance(sampler, str):
        spec = registry().sampler(sampler)
        if model is not None:
            spec.check(model)
        instance = spec.create(**options)
    else:
        if options:
            raise GenplugError(f"sampler options {sorted(options)} only apply to a sampler given by name")
        instance = sampler
    if model is not None:
        try:
            instance.check(model)
        except IncompatibleError:
            raise
        except GenplugError as exc:
            raise IncompatibleError(str(exc)) from None
    return instance


def _max_samples(n: int, model: Any) -> None:
    """Refuse ``n`` when the samples alone would take more than a quarter of this machine's memory."""
    import math
    import os

    shape = tuple(getattr(model, "event_shape", ()) or ())
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not on this platform: no bound
        return
    need = n * max(1, math.prod(shape)) * 4
    if need > memory // 4:
        raise GenplugError(
            f"n={n} samples of shape {shape} need {need / 2**30:.1f} GiB, more than a quarter of this machine's "
            f"{memory / 2**30:.0f} GiB; draw fewer (in several runs with other seeds)."
        )


def check_conditions(model: Any, n: int, condition: dict[str, Any]) -> dict[str, Any]:
    """The model's conditions from ``condition``, checked: a name the model does not take is
    refused, and a class label (one int for all samples, or one per sample) becomes a
    ``(n,)`` int64 tensor on the model's device, each label in ``range(classes)``."""
    import torch  # on use: `import genplug` imports this module and must not import torch

    declared = dict(getattr(model, "conditions", None) or {})
    name = getattr(model, "architecture", None) or type(model).__name__
    checked: dict[str, Any] = {}
    for key, value in condition.items():
        if key not in declared:
            takes = ", ".join(declared) or "none: it is unconditional"
            raise GenplugError(f"model {name!r} takes no condition {shown(key, limit=40)}; its conditions: {takes}")
        spec = declared[key]
        if getattr(spec, "kind", None) != "class":
            checked[key] = value
            continue
        try:
            labels = torch.as_tensor(value, dtype=torch.long).flatten()
        except (TypeError, ValueError, RuntimeError, OverflowError):
            raise GenplugError(
                f"{key}={shown(value, limit=60)}: a class label is an int (or one int per sample)"
            ) from None
        if labels.numel() == 1:
            labels = labels.expand(n)
        if labels.numel() != n:
            raise GenplugError(f"{key}: {labels.numel()} labels for {n} samples; give one label, or one per sample")
        classes = spec.classes
        bad = labels[(labels < 0) | (labels >= classes)] if classes is not None else labels[labels < 0]
        if bad.numel():
            raise GenplugError(
                f"{key}={int(bad[0])} is out of range: model {name!r} takes labels 0 to {(classes or 1) - 1}"
            )
        checked[key] = labels.to(getattr(model, "device", "cpu"))
    return checked


def sample(
    model: Any,
    n: int,
    *,
    sampler: str | Any | None = None,
    steps: int | None = None,
    sampler_options: dict[str, Any] | None = None,
    generator: torch.Generator | None = None,
    **condition: Any,
) -> torch.Tensor:
    """Draw ``n`` samples without gradients, in eval mode, with the model's default or a named sampler.

    Arguments:
        model: any :class:`genplug.Generator`.
        n: how many samples.
        sampler: a registered sampler name (or object) for models that offer samplers.
        steps: sampler steps, for samplers that take them (``takes_steps``).
        sampler_options: the sampler's options, e.g. ``{"eta": 0.5}`` or
            ``{"temperature": 0.8, "top_p": 0.9}``.
        generator: a seeded ``torch.Generator``: the same seed gives the same samples.
        condition: the model's conditions, e.g. ``label=3`` (for all samples) or
            ``label=[0, 1, 2, ...]`` (one per sample).

    The keywords ``sampler``, ``steps`` and ``sampler_options`` are passed to the model's
    ``sample`` only when given. The model is put in eval mode (dropout off, batch-norm
    statistics fixed) while sampling and restored afterwards. Samples that are not
    finite are refused.

    Example:
        >>> import torch, genplug
        >>> model = genplug.create("vae", data_shape=(2,), latent_dim=2)
        >>> a = genplug.sample(model, 4, generator=torch.Generator().manual_seed(0))
        >>> b = genplug.sample(model, 4, generator=torch.Generator().manual_seed(0))
        >>> a.shape, torch.equal(a, b)
        (torch.Size([4, 2]), True)
        >>> genplug.sample(model, 0)
        Traceback (most recent call last):
        ...
        genplug._errors.GenplugError: n must be a positive integer, got 0
        >>> genplug.sample(model, 2, label=3)
        Traceback (most recent call last):
        ...
        genplug._errors.GenplugError: model 'vae' takes no condition 'label'; its conditions: none: it is unconditional
    """
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise GenplugError(f"n must be a positive integer, got {shown(n)}")
    _max_samples(n, model)
    import inspect

    import torch  # on use, as above

    name = getattr(model, "architecture", type(model).__name__)
    kwargs: dict[str, Any] = {}
    if sampler is not None:
        kwargs["sampler"] = sampler
        spec = registry().samplers.get(sampler) if isinstance(sampler, str) else None
        if spec is not None and steps is not None and not spec.takes_steps:
            raise GenplugError(f"sampler {sampler!r} takes no steps; leave --steps out")
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
            raise GenplugError(f"steps must be a positive integer, got {shown(steps)}")
        kwargs["steps"] = steps
    if sampler_options:
        if not isinstance(sampler_options, dict):
            raise GenplugError(f"sampler_options is a dict such as {{'eta': 0.5}}, got {shown(sampler_options)}")
        kwargs["sampler_options"] = dict(sampler_options)
    params = inspect.signature(model.sample).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    refused = [k for k in kwargs if k not in params and not takes_any]
    if refused:
        words = " or ".join(k.replace("_", " ") for k in refused)
        raise GenplugError(f"model {name!r} has a single sampling procedure; it takes no {words}")
    kwargs.update(check_conditions(model, n, condition))
    was_training = bool(getattr(model, "training", False))
    if hasattr(model, "eval"):
        model.eval()
    try:
        with torch.no_grad():
            x = model.sample(n, generator=generator, **kwargs)
    finally:
        if was_training:
            model.train()
    if torch.is_tensor(x) and x.is_floating_point() and not torch.isfinite(x).all():
        raise GenplugError(
            f"model {name!r} drew samples that are not finite (NaN or inf): its weights or config are broken "
            "(check config values such as the noise schedule), or it diverged in training."
        )
    return x
