"""The Python API over the registry: build, load, and sample with a named sampler.

A *reference* (``genplug.load(ref)``, ``--weights REF``) is resolved in this order:

1. ``hub:org/name[@revision]``: always the Hugging Face Hub.
2. A path that exists on disk: that local folder. When it could also be read as a Hub id
   (``org/name``), a warning says the local folder was used; write ``hub:org/name``
   to get the Hub one.
3. The name of an installed architecture (``diffusion``): its packaged default weights.
4. ``org/name`` or ``org/name@revision``: the Hub (branch, tag or commit).

Anything else is an error that lists what was tried.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genplug._errors import GenplugError, ModelFileError, PluginError

if TYPE_CHECKING:
    import torch

log = logging.getLogger("genplug")

HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?P<revision>[\w./-]+))?$")


def parse_hub_id(ref: str) -> tuple[str, str | None] | None:
    """``"org/name@rev"`` -> ``("org/name", "rev")``; ``None`` when it is not a Hub id.

    Example:
        >>> parse_hub_id("genplug/diffusion-digits@v1")
        ('genplug/diffusion-digits', 'v1')
        >>> parse_hub_id("hub:genplug/vae") == ("genplug/vae", None)
        True
        >>> parse_hub_id("diffusion") is None
        True
    """
    match = HUB_ID.match(ref.removeprefix("hub:"))
    if not match:
        return None
    return match["repo"], match["revision"]


def resolve_reference(ref: str | Path, *, local_files_only: bool | None = None) -> Path:
    """Turn a reference into a local folder, downloading from the Hub if needed."""
    from genplug._plugins import registry

    text = str(ref)
    if text.startswith("hub:"):
        return _from_hub(text, local_files_only)
    path = Path(text).expanduser()
    if path.exists():
        if parse_hub_id(text) and not text.startswith((".", "/", "~")):
            log.warning("using the local folder %s; write hub:%s for the Hub repository", path, text)
        return path
    reg = registry()
    if text in reg.architectures:
        return default_weights(text)
    if parse_hub_id(text):
        return _from_hub(text, local_files_only)
    raise ModelFileError(
        f"cannot resolve {text!r}: it is not an existing folder, not an installed architecture "
        f"({', '.join(sorted(reg.architectures)) or 'none installed'}), and not a Hub id 'org/name[@revision]'."
    )


def _from_hub(ref: str, local_files_only: bool | None) -> Path:
    parsed = parse_hub_id(ref)
    if parsed is None:
        raise ModelFileError(f"{ref!r} is not a Hub id; write it as org/name or org/name@revision.")
    from genplug._hub import snapshot

    repo_id, revision = parsed
    return snapshot(repo_id, revision=revision, local_files_only=local_files_only)


def default_weights(architecture: str) -> Path:
    """The folder of ``architecture``'s packaged default weights."""
    from genplug._plugins import registry

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
    if not (folder / "config.json").exists():
        raise ModelFileError(
            f"the default weights of {architecture!r} are missing from {folder}; reinstall {spec.plugin}."
        )
    return folder


def architecture_class(name: str, *, plugin: dict[str, Any] | None = None) -> type:
    """The model class of an installed architecture, or an error with the pip line."""
    from genplug._plugins import registry

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
            version = (plugin or {}).get("version")
            pin = f"=={version}" if version else ""
            raise ModelFileError(
                f"architecture {name!r} is not installed; it comes from the plugin {dist}. Fix: pip install {dist}{pin}"
            )
        reg.architecture(name)  # raises the "unknown architecture" error with the known names
    return reg.architectures[name].load_class()


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
        genplug._errors.ModelFileError: genplug.create('vae'): unknown field(s) colour for VAEConfig; ...
    """
    from genplug._files import config_from_dict

    cls = architecture_class(architecture)
    return cls(config_from_dict(cls.config_class, config, source=f"genplug.create({architecture!r})"))


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
    from genplug import _files

    directory = resolve_reference(ref, local_files_only=local_files_only)
    doc = _files.read_config(directory)
    if "components" in doc:
        from genplug._compose import load_composite

        model = load_composite(directory, doc, device=device, local_files_only=local_files_only)
        return model
    cls = architecture_class(doc["architecture"], plugin=doc.get("plugin"))
    config = _files.config_from_dict(
        cls.config_class, doc.get("config", {}), source=str(directory / _files.CONFIG_NAME)
    )
    model = cls(config)
    tensors = _files.load_tensors(directory / _files.WEIGHTS_NAME)
    _files.check_state(model, tensors, source=str(directory / _files.WEIGHTS_NAME))
    model.load_state_dict(tensors, strict=True)
    model.eval()
    if device is not None:
        model.to(device)
    return model


def get_sampler(sampler: str | Any, model: Any | None = None, **options: Any) -> Any:
    """The sampler ``sampler`` (a registered name or a Sampler object), checked against ``model``.

    Raises :class:`genplug.IncompatibleError` when the sampler cannot run the model, before
    anything is computed. ``options`` go to the sampler's constructor (``eta=0.5``).
    """
    from genplug._plugins import registry

    if isinstance(sampler, str):
        spec = registry().sampler(sampler)
        if model is not None:
            spec.check(model)
        return spec.create(**options)
    if options:
        raise GenplugError(f"sampler options {sorted(options)} only apply to a sampler given by name")
    if model is not None:
        sampler.check(model)
    return sampler


def sample(
    model: Any,
    n: int,
    *,
    sampler: str | Any | None = None,
    steps: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw ``n`` samples without gradients, with the model's default or a named sampler.

    A model that offers samplers takes ``sampler=`` and ``steps=`` in its ``sample``
    method; those keywords are passed only when given.

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
    """
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise GenplugError(f"n must be a positive integer, got {n!r}")
    import inspect

    import torch

    kwargs: dict[str, Any] = {}
    if sampler is not None:
        kwargs["sampler"] = sampler
    if steps is not None:
        if steps <= 0:
            raise GenplugError(f"steps must be a positive integer, got {steps!r}")
        kwargs["steps"] = steps
    params = inspect.signature(model.sample).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    refused = [k for k in kwargs if k not in params and not takes_any]
    if refused:
        name = getattr(model, "architecture", type(model).__name__)
        raise GenplugError(f"model {name!r} has a single sampling procedure; it takes no {' or '.join(refused)}")
    with torch.no_grad():
        return model.sample(n, generator=generator, **kwargs)
