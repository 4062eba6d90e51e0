"""The model folder: this module alone reads, checks and writes it, composites included.

``config.json``::

    {
      "format_version": 1,
      "architecture": "diffusion",
      "plugin": {"name": "genplug-diffusion", "version": "0.1.0"},
      "genplug_version": "0.1.0",
      "config": { ... the architecture's attrs config ... },
      "weights_id": "…"      (matches the id in model.safetensors' metadata)
    }

beside ``model.safetensors``. A composite's ``config.json`` has ``"components"``
instead of weights: for each role, the subfolder (inside the folder), architecture and
plugin of a model folder, and that folder's ``weights_id``::

    "components": {"encoder": {"path": "encoder", "architecture": "vae", "plugin": {...},
                               "weights_id": "…"}, "prior": {...}}

Writing is atomic file by file, and the ``weights_id`` pairs make it atomic as a whole:
``config.json`` is written last and names the weights it belongs to, so a save that was
killed half-way is refused on load ("save it again") instead of loading new weights
under an old config. Files written before ``weights_id`` existed load as before.

Everything in a folder is untrusted: :func:`parse` checks every field's type and gives
one line naming the field; names from the file are shown escaped and capped.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import attrs

from genplug._configs import config_to_dict
from genplug._errors import ModelFileError, shown
from genplug._files import atomic_write_json, load_tensors, read_json, safetensors_header, save_tensors
from genplug._plugins import registry
from genplug._version import __version__

if TYPE_CHECKING:
    import torch

__all__ = [
    "CONFIG_NAME",
    "FORMAT_VERSION",
    "TOKENIZER_NAME",
    "WEIGHTS_NAME",
    "Component",
    "Document",
    "check_weights_id",
    "component_folder",
    "document_for",
    "parse",
    "pip_line",
    "plugin_of",
    "read",
    "read_state",
    "save",
    "walk",
    "write",
]

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
TOKENIZER_NAME = "tokenizer.json"
MAX_NESTING = 4  # composites of composites of ...: deeper is refused
_NAME = re.compile(r"^[a-z0-9][a-z0-9._+-]{0,99}$")  # an architecture name, as specs allow
_DIST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$")  # a PyPI distribution name
_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+!-]{0,49}$")
_ROLE = re.compile(r"^[a-z][a-z0-9_]{0,49}$")


# -- reading ------------------------------------------------------------------------------


@attrs.frozen
class Component:
    """One part of a composite folder: its role, subfolder, architecture and plugin."""

    role: str
    path: str
    architecture: str
    plugin: dict[str, str | None]
    weights_id: str | None = None


@attrs.frozen
class Document:
    """A checked ``config.json``: every field of the right type."""

    source: str
    architecture: str
    plugin: dict[str, str | None]
    config: dict[str, Any]
    components: tuple[Component, ...] = ()
    weights_id: str | None = None
    tokenizer: bool = False  # the folder holds tokenizer.json (token models of text)
    modules: tuple[str, ...] | None = None  # inference-only folder: the submodules whose tensors it holds

    @property
    def is_composite(self) -> bool:
        return bool(self.components)


def _plugin(value: Any, source: str, where: str) -> dict[str, str | None]:
    if value is None:
        return {"name": None, "version": None}
    if not isinstance(value, dict):
        raise ModelFileError(f'{source}: {where} must be an object {{"name", "version"}}, got {shown(value)}')
    name, version = value.get("name"), value.get("version")
    for key, item in (("name", name), ("version", version)):
        if item is not None and not isinstance(item, str):
            raise ModelFileError(f"{source}: {where}.{key} must be a string, got {shown(item)}")
    return {"name": name, "version": version}


def _architecture(value: Any, source: str, where: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ModelFileError(
            f"{source}: {where} is {shown(value)}; an architecture is a name such as 'diffusion' (lower-case "
            "letters, digits and . _ + -). The file is not a genplug config.json, or it is damaged."
        )
    return value


def _weights_id(value: Any, source: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{32}", value)):
        raise ModelFileError(f"{source}: weights_id must be 32 hex digits, got {shown(value)}")
    return value


def _component(role: Any, entry: Any, source: str) -> Component:
    if not isinstance(role, str) or not _ROLE.match(role):
        raise ModelFileError(f"{source}: component role {shown(role)} is not a name such as 'encoder'")
    if not isinstance(entry, dict):
        raise ModelFileError(
            f"{source}: component {role!r} must be an object with path, architecture and plugin, got {shown(entry)}"
        )
    path = entry.get("path", role)
    parts = PurePosixPath(path).parts if isinstance(path, str) else ()
    if (
        not isinstance(path, str)
        or not parts
        or path.startswith("/")
        or any(p in ("..", ".") for p in parts)
        or any(ord(c) < 32 or c in "\\:\x7f" for c in path)
        or len(path) > 200
    ):
        raise ModelFileError(
            f"{source}: component {role!r} has path {shown(path)}; it must be a subfolder inside the model folder, "
            "such as 'encoder'."
        )
    return Component(
        role=role,
        path=str(PurePosixPath(path)),
        architecture=_architecture(entry.get("architecture"), source, f"components.{role}.architecture"),
        plugin=_plugin(entry.get("plugin"), source, f"components.{role}.plugin"),
        weights_id=_weights_id(entry.get("weights_id"), source),
    )


def _modules(value: Any, source: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(m, str) and _ROLE.match(m) for m in value):
        raise ModelFileError(f"{source}: 'modules' lists submodule names such as [\"generator\"], got {shown(value)}")
    return tuple(value)


def _tokenizer_entry(value: Any, source: str) -> bool:
    if value is None:
        return False
    if value != TOKENIZER_NAME:
        raise ModelFileError(f"{source}: 'tokenizer' names the file {TOKENIZER_NAME}, got {shown(value)}")
    return True


def parse(doc: Mapping[str, Any], *, source: str) -> Document:
    """Check a ``config.json`` object field by field; one line names the first bad field."""
    version = doc.get("format_version")
    if "architecture" not in doc:
        raise ModelFileError(f"{source} has no 'architecture' field: it is not a genplug config.json.")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{source} has format_version {shown(version)}; this genplug reads format {FORMAT_VERSION}. "
            "Upgrade genplug (pip install -U genplug)."
        )
    config = doc.get("config", {})
    if not isinstance(config, dict):
        raise ModelFileError(f"{source}: 'config' must be an object of config fields, got {shown(config)}")
    components = doc.get("components")
    parts: tuple[Component, ...] = ()
    if components is not None:
        if not isinstance(components, dict) or not components:
            raise ModelFileError(f"{source}: 'components' must map each role to its subfolder, got {shown(components)}")
        parts = tuple(_component(role, entry, source) for role, entry in components.items())
        paths = [c.path for c in parts]
        if len(set(paths)) != len(paths):
            raise ModelFileError(f"{source}: two components share one subfolder ({', '.join(paths)})")
    return Document(
        source=source,
        architecture=_architecture(doc["architecture"], source, "architecture"),
        plugin=_plugin(doc.get("plugin"), source, "plugin"),
        config=config,
        components=parts,
        weights_id=_weights_id(doc.get("weights_id"), source),
        tokenizer=_tokenizer_entry(doc.get("tokenizer"), source),
        modules=_modules(doc.get("modules"), source),
    )


def read(directory: Path) -> Document:
    """Read and check the ``config.json`` of the model folder ``directory``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelFileError(f"{directory} is not a folder; a model folder holds {CONFIG_NAME} and {WEIGHTS_NAME}.")
    path = directory / CONFIG_NAME
    if not path.exists() and not path.is_symlink():
        raise ModelFileError(
            f"{directory} has no {CONFIG_NAME}: it is not a genplug model folder "
            "(save one with model.save_pretrained(folder))."
        )
    return parse(read_json(path, what="config.json"), source=str(path))


def component_folder(directory: Path, component: Component) -> Path:
    """The subfolder of ``component``, which must lie inside ``directory`` (symlinks resolved)."""
    sub = (Path(directory) / component.path).resolve()
    if Path(directory).resolve() not in sub.parents:
        raise ModelFileError(
            f"{directory}: component {component.role!r} has path {shown(component.path)}, which leaves the model "
            "folder (through a symlink)."
        )
    return sub


def walk(need: Callable[[str], Path], prefix: str = "", *, depth: int = 0) -> list[Document]:
    """Call ``need(relative path)`` on every file that loading the folder requires, in order.

    ``need`` returns the local path of the file (downloading it first, for the Hub). The
    documents read on the way are returned, the top one first.
    """
    if depth > MAX_NESTING:
        raise ModelFileError(f"{prefix}{CONFIG_NAME}: composites nest more than {MAX_NESTING} deep")
    doc = parse(read_json(need(prefix + CONFIG_NAME), what="config.json"), source=prefix + CONFIG_NAME)
    found = [doc]
    if doc.is_composite:
        for component in doc.components:
            found += walk(need, f"{prefix}{component.path}/", depth=depth + 1)
    else:
        need(prefix + WEIGHTS_NAME)
    if doc.tokenizer:
        need(prefix + TOKENIZER_NAME)
    return found


def pip_line(plugin: Mapping[str, str | None]) -> str | None:
    """``pip install NAME==VERSION`` for a plugin named in a file, when the name is a valid
    distribution name (and the version a plain version); ``None`` otherwise."""
    name, version = plugin.get("name"), plugin.get("version")
    if not isinstance(name, str) or not _DIST.match(name):
        return None
    pin = f"=={version}" if isinstance(version, str) and _VERSION.match(version) else ""
    return f"pip install {name}{pin}"


# -- writing ---------------------------------------------------------------------------------


def plugin_of(architecture: str) -> dict[str, str | None]:
    """The distribution (name, version) that registered ``architecture``, if any."""
    reg = registry()
    spec = reg.architectures.get(architecture)
    if spec is None:
        return {"name": None, "version": None}
    info = reg.plugins.get(spec.plugin)
    return {"name": spec.plugin, "version": info.version if info else None}


def document_for(model: Any, **extra: Any) -> dict[str, Any]:
    """The ``config.json`` content for ``model``, plus ``extra`` top-level fields."""
    return {
        "format_version": FORMAT_VERSION,
        "architecture": model.architecture,
        "plugin": plugin_of(model.architecture),
        "genplug_version": __version__,
        "config": config_to_dict(model.config),
        **extra,
    }


def save(model: Any, directory: str | Path, *, modules: tuple[str, ...] | None = None) -> Path:
    """Save ``model`` as a model folder: its own ``save_pretrained`` when it has one, else
    :func:`write`; ``modules`` (inference-only submodules) always through :func:`write`."""
    if modules:
        return write(model, directory, modules=tuple(modules))
    method = getattr(model, "save_pretrained", None)
    if callable(method):
        method(directory)
        return Path(directory)
    return write(model, directory)


def _check_savable(model: Any, what: str) -> None:
    architecture = getattr(model, "architecture", None)
    if not isinstance(architecture, str) or not _NAME.match(architecture):
        raise ModelFileError(
            f"{what} {type(model).__name__!r} cannot be saved: its architecture is {shown(architecture)}; set it to "
            "the registered architecture name before saving."
        )
    if not hasattr(model, "state_dict") or not attrs.has(type(getattr(model, "config", None))):
        raise ModelFileError(
            f"{what} {architecture!r} cannot be saved: only models with an attrs config and a state_dict can be "
            "written to a model folder"
        )
    roles = getattr(model, "roles", None)
    if roles:
        for role in roles:
            _check_savable(getattr(model, role), f"the {role}")
    elif what != "the model" and architecture not in registry().architectures:
        raise ModelFileError(
            f"{what} {architecture!r} is not a registered architecture, so it could not be loaded back; register "
            "it through a plugin first"
        )


def write(model: Any, directory: str | Path, *, modules: tuple[str, ...] | None = None) -> Path:
    """Write ``model``'s folder: ``config.json`` and ``model.safetensors``, or for a
    composite (a model with ``roles``) one subfolder per role and an index.

    ``modules`` keeps only those submodules' tensors (an inference-only folder: the model's
    ``inference_modules``); ``config.json`` lists them, and loading checks those alone.
    Every part is checked before anything is written, so a refusal leaves nothing behind.
    """
    directory = Path(directory)
    _check_savable(model, "the model")
    directory.mkdir(parents=True, exist_ok=True)
    roles = getattr(model, "roles", None)
    if roles:
        components = {}
        for role in roles:
            part = getattr(model, role)
            save(part, directory / role)
            written = read(directory / role)
            components[role] = {
                "path": role,
                "architecture": written.architecture,
                "plugin": written.plugin,
                "weights_id": written.weights_id,
            }
        atomic_write_json(directory / CONFIG_NAME, document_for(model, components=components))
        return directory
    weights_id = uuid.uuid4().hex
    state = model.state_dict()
    extra: dict[str, Any] = {"weights_id": weights_id}
    if modules:  # an inference-only folder: a GAN's generator without its discriminator, say
        state = {k: v for k, v in state.items() if k.startswith(tuple(f"{m}." for m in modules))}
        extra["modules"] = list(modules)
    save_tensors(
        directory / WEIGHTS_NAME,
        state,
        metadata={"format": "pt", "genplug_architecture": model.architecture, "genplug_weights_id": weights_id},
    )
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is not None:
        tokenizer.save(directory)
        extra["tokenizer"] = TOKENIZER_NAME
    atomic_write_json(directory / CONFIG_NAME, document_for(model, **extra))
    return directory


# -- weights -------------------------------------------------------------------------------


def _interrupted(directory: Path) -> ModelFileError:
    return ModelFileError(
        f"{directory}: the weights and config.json come from two different saves (a save was interrupted "
        "half-way); save the model again, or restore the folder from a copy."
    )


def check_weights_id(directory: Path, doc: Document) -> None:
    """Refuse a folder whose weights were written by another save than its ``config.json``."""
    if doc.is_composite:
        for component in doc.components:
            if component.weights_id is not None:
                part = read(component_folder(directory, component))
                if part.weights_id != component.weights_id:
                    raise _interrupted(directory)
        return
    if doc.weights_id is not None:
        _, metadata = safetensors_header(Path(directory) / WEIGHTS_NAME)
        found = metadata.get("genplug_weights_id")
        if found is not None and found != doc.weights_id:  # None: the file was written by another tool
            raise _interrupted(directory)


def read_state(directory: Path, *, device: str | torch.device = "cpu", depth: int = 0) -> dict[str, torch.Tensor]:
    """Every tensor of the folder, as the model's ``state_dict`` names them (a composite's
    prefixed by role)."""
    if depth > MAX_NESTING:
        raise ModelFileError(f"{directory}: composites nest more than {MAX_NESTING} deep")
    doc = read(directory)
    check_weights_id(directory, doc)
    if not doc.is_composite:
        return load_tensors(Path(directory) / WEIGHTS_NAME, device=device)
    state = {}
    for component in doc.components:
        part = read_state(component_folder(directory, component), device=device, depth=depth + 1)
        state.update({f"{component.role}.{k}": v for k, v in part.items()})
    return state
