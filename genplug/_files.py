"""Bytes on disk: atomic writes, regular files only, size-capped JSON, safetensors.

The bottom of the model-folder format (:mod:`genplug._folder` builds on it). Files
someone else wrote are untrusted: a reader here refuses anything that is not a regular
file (a symlink to ``/dev/zero``, a FIFO), JSON over :data:`MAX_JSON_BYTES` or nested
too deep, and a safetensors file whose header does not describe exactly the bytes that
follow it. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genplug._errors import ModelFileError, shown

if TYPE_CHECKING:
    import torch

__all__ = [
    "MAX_JSON_BYTES",
    "OUTPUT_SUFFIXES",
    "check_output_path",
    "TensorInfo",
    "atomic_write_bytes",
    "atomic_write_json",
    "load_tensors",
    "read_json",
    "regular_file",
    "safetensors_header",
    "save_tensors",
]

MAX_JSON_BYTES = 1 << 20  # a config.json of a real model is a few kB
MAX_HEADER_BYTES = 100 << 20  # safetensors' own limit on the JSON header
# bytes per element of each safetensors dtype
DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip


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


def regular_file(path: Path, *, what: str = "file") -> int:
    """The size of ``path``; a clear error unless it is an existing regular file.

    Symlinks are followed, so a link to ``/dev/zero`` or a FIFO is refused by what it
    points to.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ModelFileError(f"{path} does not exist: the folder has no {what} {Path(path).name}.") from None
    except OSError as exc:
        raise ModelFileError(f"cannot read {path}: {exc.strerror or exc}.") from None
    if stat.S_ISDIR(info.st_mode):
        raise ModelFileError(f"{path} is a folder, expected a {what}.")
    if not stat.S_ISREG(info.st_mode):
        raise ModelFileError(f"{path} is not a regular file (a device, a FIFO or a socket); expected a {what}.")
    return info.st_size


def read_json(path: Path, *, what: str = "JSON file") -> dict[str, Any]:
    """A JSON object from ``path``: a regular file of at most :data:`MAX_JSON_BYTES`, any nesting it parses."""
    size = regular_file(path, what=what)
    if size > MAX_JSON_BYTES:
        raise ModelFileError(
            f"{path} is {size} bytes; a {what} is at most {MAX_JSON_BYTES} bytes. It is not a genplug file."
        )
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read(MAX_JSON_BYTES + 1))
    except RecursionError:
        raise ModelFileError(f"{path} nests JSON too deeply to be a {what}.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path} is not valid JSON ({shown(str(exc), limit=80)}); the file is corrupt.") from None
    if not isinstance(doc, dict):
        raise ModelFileError(f"{path} holds a JSON {type(doc).__name__}, not an object: it is not a {what}.")
    return doc


def save_tensors(path: Path, tensors: Mapping[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Atomically write ``tensors`` as a safetensors file (copies to CPU, unshares storage)."""
    from safetensors.torch import save  # torch-backed: imported on use, so `genplug list` stays light

    flat = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    atomic_write_bytes(Path(path), save(flat, metadata=metadata))


class TensorInfo:
    """One entry of a safetensors header: ``dtype`` (``"F32"``…) and ``shape``."""

    __slots__ = ("dtype", "shape")

    def __init__(self, dtype: str, shape: tuple[int, ...]) -> None:
        self.dtype, self.shape = dtype, shape


def safetensors_header(path: Path) -> tuple[dict[str, TensorInfo], dict[str, str]]:
    """The tensors (name -> dtype and shape) and metadata of a safetensors file, read from
    its header alone, after checking that the header describes exactly the bytes of the file.

    A truncated, padded or foreign file is refused here, before any tensor is read.
    """
    size = regular_file(path, what="weights file")

    def corrupt(why: str) -> ModelFileError:
        return ModelFileError(
            f"{path} is not a readable safetensors file ({why}): it is corrupt or truncated; download or save it again."
        )

    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise corrupt("shorter than its 8-byte header length")
        length = int.from_bytes(head, "little")
        if not 2 <= length <= min(MAX_HEADER_BYTES, size - 8):
            raise corrupt(f"header length {length} does not fit a file of {size} bytes")
        try:
            header = json.loads(f.read(length))
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise corrupt("its header is not JSON") from None
    if not isinstance(header, dict):
        raise corrupt("its header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise corrupt("its metadata is not a map of strings")
    tensors: dict[str, TensorInfo] = {}
    spans = []
    for name, entry in header.items():
        ok = isinstance(entry, dict) and entry.get("dtype") in DTYPE_BYTES
        shape, offsets = (entry.get("shape"), entry.get("data_offsets")) if ok else (None, None)
        ok = ok and isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)
        ok = ok and isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
        if not ok or not 0 <= offsets[0] <= offsets[1]:
            raise corrupt(f"the entry of tensor {shown(name, limit=60)} is malformed")
        if offsets[1] - offsets[0] != math.prod(shape) * DTYPE_BYTES[entry["dtype"]]:
            raise corrupt(f"tensor {shown(name, limit=60)} has a byte span that does not match its shape")
        spans.append(tuple(offsets))
        tensors[name] = TensorInfo(entry["dtype"], tuple(shape))
    end = 0
    for start, stop in sorted(spans):
        if start != end:
            raise corrupt("its tensors overlap or leave gaps")
        end = stop
    if 8 + length + end != size:
        raise corrupt(f"the header describes {8 + length + end} bytes, the file has {size}")
    return tensors, metadata


def load_tensors(path: Path, *, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Read a safetensors file; a missing, corrupt or truncated file gets a clear error."""
    from safetensors.torch import load  # torch-backed: imported on use

    path = Path(path)
    safetensors_header(path)  # refuses anything but a whole safetensors file, before reading it all
    try:
        tensors = load(path.read_bytes())
    except Exception as exc:
        raise ModelFileError(
            f"{path} is not a readable safetensors file ({shown(str(exc).splitlines()[0], limit=100)}): it is "
            "corrupt or truncated; download or save it again."
        ) from None
    return {k: v.to(device) for k, v in tensors.items()}


OUTPUT_SUFFIXES = (".png", ".npy", ".safetensors", ".txt")


def check_output_path(path: str | Path, *, suffixes: tuple[str, ...] = OUTPUT_SUFFIXES) -> Path:
    """Fail early, before anything is computed (or torch imported), when ``path`` cannot be written."""
    path = Path(path)
    if not str(path).strip():
        raise ModelFileError("the output path is empty; give a file name such as samples.png")
    if path.suffix.lower() not in suffixes:
        raise ModelFileError(
            f"output {shown(str(path))} has suffix {path.suffix or '(none)'!r}; use "
            + " or ".join(suffixes)
            + (
                " (.png for a grid image, .npy or .safetensors for the raw samples)"
                if suffixes == OUTPUT_SUFFIXES
                else ""
            )
        )
    if path.is_dir():
        raise ModelFileError(f"output {path} is a folder; give a file name such as {path / ('samples' + suffixes[0])}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ModelFileError(f"cannot write {path}: the folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise ModelFileError(f"cannot write {path}: the folder {parent} is not writable")
    return path
