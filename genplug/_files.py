"""The model folder: ``config.json`` + ``model.safetensors``, written atomically.

``config.json``::

    {
      "format_version": 1,
      "architecture": "diffusion",
      "plugin": {"name": "genplug-diffusion", "version": "0.1.0"},
      "genplug_version": "0.1.0",
      "config": { ... the architecture's attrs config ... }
    }

Weights are read with safetensors only; nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from genplug._errors import ModelFileError

if TYPE_CHECKING:
    import torch

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old or the new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; weights are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def save_tensors(path: Path, tensors: Mapping[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Atomically write ``tensors`` as a safetensors file (copies to CPU, unshares storage)."""
    from safetensors.torch import save

    flat = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    atomic_write_bytes(Path(path), save(flat, metadata=metadata))


def load_tensors(path: Path, *, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Read a safetensors file; a missing, corrupt or truncated file gets a clear error."""
    from safetensors.torch import load

    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"{path} does not exist: the folder has no weights file {path.name}.") from None
    except IsADirectoryError:
        raise ModelFileError(f"{path} is a folder, expected a safetensors file.") from None
    try:
        tensors = load(data)
    except Exception as exc:
        raise ModelFileError(
            f"{path} is not a readable safetensors file ({str(exc).splitlines()[0]}): it is corrupt or "
            "truncated; download or save it again."
        ) from None
    return {k: v.to(device) for k, v in tensors.items()}


def config_to_dict(config: Any) -> dict[str, Any]:
    if attrs.has(type(config)):
        return attrs.asdict(config)
    raise TypeError(f"model config must be an attrs class, got {type(config).__name__}")


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def config_from_dict(cls: type, data: Mapping[str, Any], *, source: str = "config") -> Any:
    """Build the attrs config ``cls`` from JSON data; unknown or bad fields are named."""
    known = {f.name for f in attrs.fields(cls) if f.init}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ModelFileError(
            f"{source}: unknown field(s) {', '.join(unknown)} for {cls.__name__}; known fields: "
            f"{', '.join(sorted(known))}. The file may come from a newer plugin version: upgrade it."
        )
    try:
        return cls(**{k: _tuples(v) for k, v in data.items()})
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{source}: invalid {cls.__name__}: {exc}") from None


def read_config(directory: Path) -> dict[str, Any]:
    """Read and check a model folder's ``config.json``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelFileError(f"{directory} is not a folder; a model folder holds {CONFIG_NAME} and {WEIGHTS_NAME}.")
    path = directory / CONFIG_NAME
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelFileError(
            f"{directory} has no {CONFIG_NAME}: it is not a genplug model folder "
            "(save one with model.save_pretrained(folder))."
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path} is not valid JSON ({exc}); the file is corrupt.") from None
    if not isinstance(doc, dict) or "architecture" not in doc:
        raise ModelFileError(f"{path} has no 'architecture' field: it is not a genplug config.json.")
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has format_version {version!r}; this genplug reads format {FORMAT_VERSION}. "
            "Upgrade genplug (pip install -U genplug)."
        )
    return doc


def check_state(model: torch.nn.Module, tensors: Mapping[str, torch.Tensor], *, source: str) -> None:
    """Raise one error naming every missing, unexpected and mis-shaped tensor."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    shapes = [
        f"{k} (file {tuple(tensors[k].shape)}, model {tuple(v.shape)})"
        for k, v in expected.items()
        if k in tensors and tuple(tensors[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append("missing: " + ", ".join(missing))
    if unexpected:
        problems.append("unexpected: " + ", ".join(unexpected))
    if shapes:
        problems.append("wrong shape: " + ", ".join(shapes))
    if problems:
        raise ModelFileError(
            f"{source} does not fit the model built from its config.json; "
            + "; ".join(problems)
            + ". The weights and config.json come from different models: save the model again."
        )
