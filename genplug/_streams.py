"""Data read from disk as training asks for it: a folder of images, a ``.npy`` file.

:func:`open_data` is what the trainer reads. A registered dataset or a text file comes
back as :class:`genplug.Data`, in memory; a folder of images or a ``.npy`` file as a
:class:`Stream`, which holds only the list of its examples and reads a batch when the
trainer's ``DataLoader`` asks for it (its workers decode images in parallel). A ``.npy``
file is memory-mapped for each batch and unmapped after it, so the pages one batch read
are not held while the next is read: a 2 GB file trains in a few hundred MB.

A stream takes the same fixed 90/10 split as :func:`genplug.load_data` (which reads the
same files into memory) and gives the same values, so training on either gives the same
weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from genplug._data import Data, image_files, load_data, read_image, split_indices
from genplug._errors import GenplugError, shown
from genplug._plugins import registry

__all__ = ["PREPARE_BYTES", "PREPARE_EXAMPLES", "Stream", "as_batch", "open_data", "open_folder", "open_npy"]

#: The most examples of a stream a model's ``prepare`` sees (a random sample: the split is a permutation) ...
PREPARE_EXAMPLES = 10_000
#: ... and the most memory they take as float32.
PREPARE_BYTES = 256 << 20
#: Rows of a token ``.npy`` scanned at once for its largest id.
_SCAN_ROWS = 1 << 16


class Stream:
    """Examples on disk, read by index; the attributes :class:`genplug.Data` has but ``x``.

    A map-style dataset for ``torch.utils.data.DataLoader``: ``stream[i]`` is one example,
    ``stream.__getitems__(indices)`` a batch ``(B, *shape)`` read in one go.

    Attributes:
        name: the path it reads.
        kind: ``"image"``, ``"points"`` or ``"tokens"``.
        shape: the shape of one example.
        levels: 256 for 8-bit images.
        vocab_size: for tokens, the largest id + 1.
        rows: the file's example of each of this split's examples.
    """

    y = None  # files carry no labels
    classes = None
    tokenizer = None

    def __init__(
        self,
        name: str,
        kind: str,
        shape: tuple[int, ...],
        rows: torch.Tensor,
        read: Any,
        *,
        levels: int | None = None,
        vocab_size: int | None = None,
    ) -> None:
        self.name, self.kind, self.shape, self.rows, self.read = name, kind, tuple(shape), rows, read
        self.levels, self.vocab_size = levels, vocab_size

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.__getitems__([i])[0]

    def __getitems__(self, indices: list[int]) -> torch.Tensor:
        """The examples at ``indices`` of this split as one batch ``(B, *shape)``."""
        return self.read(self.rows[torch.as_tensor(indices, dtype=torch.long)].tolist())

    def load(self, limit: int | None = None) -> Data:
        """The first ``limit`` examples (all when ``None``) in memory; the split is a seeded
        permutation, so they are a random sample of the file."""
        count = len(self) if limit is None else min(limit, len(self))
        return self._load(count)

    def sample(self) -> Data:
        """What a model's ``prepare`` sees: up to :data:`PREPARE_EXAMPLES` examples, and
        :data:`PREPARE_BYTES` of memory, in memory."""
        size = 4 * max(1, int(torch.Size(self.shape).numel()))
        return self._load(max(1, min(len(self), PREPARE_EXAMPLES, PREPARE_BYTES // size)))

    def _load(self, count: int) -> Data:
        x = torch.cat([self.__getitems__(list(range(i, min(i + 512, count)))) for i in range(0, count, 512)])
        return Data(self.name, self.kind, x, levels=self.levels, vocab_size=self.vocab_size)

    def __repr__(self) -> str:
        return f"Stream({self.name!r}, {self.kind}, {len(self)} examples of shape {self.shape})"


def as_batch(batch: torch.Tensor) -> torch.Tensor:
    """The ``DataLoader``'s ``collate_fn``: :meth:`Stream.__getitems__` already made the batch."""
    return batch


# -- a folder of images -----------------------------------------------------------


class _ImageReader:
    """Reads files of a folder by row, as ``(B, C, H, W)`` floats in [0, 1]."""

    def __init__(self, folder: Path, files: list[Path], shape: tuple[int, ...]) -> None:
        self.folder, self.files, self.shape = folder, files, shape

    def __call__(self, rows: list[int]) -> torch.Tensor:
        images = []
        for row in rows:
            image = read_image(self.files[row])
            if tuple(image.shape) != self.shape:
                raise GenplugError(
                    f"{self.files[row]} is {tuple(image.shape)} (channels, height, width), but the images in "
                    f"{self.folder} are {self.shape}; resize them to one size."
                )
            images.append(image)
        return torch.stack(images).float() / 255.0  # as load_data: the same values


def open_folder(path: Path, split: str = "train") -> Stream:
    """A folder of images (grey or RGB, one size: its first image's) as a stream."""
    files = image_files(path)
    shape = tuple(read_image(files[0]).shape)
    return Stream(
        str(path), "image", shape, split_indices(len(files), split), _ImageReader(path, files, shape), levels=256
    )


# -- a .npy file ------------------------------------------------------------------


class _NpyReader:
    """Maps the ``.npy`` file for each batch and copies its rows out as torch tensors."""

    def __init__(self, path: Path, array: np.memmap, kind: str) -> None:
        self.path, self.kind = path, kind
        self.dtype, self.shape, self.offset = array.dtype, array.shape, array.offset
        self.order = "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"

    def map(self) -> np.memmap:
        return np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.offset, shape=self.shape, order=self.order)

    def __call__(self, rows: list[int]) -> torch.Tensor:
        array = self.map()
        try:
            x = torch.from_numpy(np.ascontiguousarray(array[rows]))  # a copy: the map closes below
        finally:
            del array
        if self.kind == "tokens":
            return x.long()
        if self.dtype == np.uint8 and x.ndim == 4:
            return x.float() / 255.0  # as load_data: the same values
        return x.float()


def open_npy(path: Path, split: str = "train") -> Stream:
    """A ``.npy`` array ``(N, ...)`` as a stream, with the rules of :func:`genplug.load_data`:
    floats are points or images, uint8 ``(N, C, H, W)`` 8-bit images, integers ``(N, T)`` tokens."""
    try:  # memory-mapped: a header that claims more than the file holds is refused here
        array = np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError, MemoryError) as exc:
        raise GenplugError(f"cannot read {path} as a numeric .npy array: {shown(str(exc), limit=160)}") from None
    if not isinstance(array, np.memmap) or array.ndim < 2 or array.dtype.kind not in "fiub" or len(array) == 0:
        raise GenplugError(
            f"{path} holds a {array.dtype} array of shape {array.shape}; expected numbers shaped (N, ...)."
        )
    levels = vocab_size = None
    if array.dtype.kind == "f":
        kind = "image" if array.ndim == 4 else "points"
    elif array.ndim == 4:
        if array.dtype != np.uint8:
            raise GenplugError(
                f"{path} holds {array.dtype} images; save 8-bit images as uint8 (0..255) or floats in [0, 1]."
            )
        kind, levels = "image", 256
    elif array.ndim != 2:
        raise GenplugError(
            f"{path} holds integers of shape {array.shape}; token data is (N, T), images (N, C, H, W) uint8."
        )
    else:
        kind = "tokens"
        low, high = 0, 0
        for start in range(0, len(array), _SCAN_ROWS):  # the whole file is read once, a slice at a time
            chunk = np.asarray(array[start : start + _SCAN_ROWS])
            low, high = min(low, int(chunk.min())), max(high, int(chunk.max()))
        if low < 0 or array.shape[1] == 0:
            raise GenplugError(f"{path} holds negative or no token ids; tokens are integers 0..V-1 shaped (N, T).")
        vocab_size = high + 1
    reader = _NpyReader(path, array, kind)
    shape = tuple(array.shape[1:])
    del array
    rows = split_indices(reader.shape[0], split)
    return Stream(str(path), kind, shape, rows, reader, levels=levels, vocab_size=vocab_size)


def open_data(name: str | Path | Data | Stream, split: str = "train") -> Data | Stream:
    """What the trainer reads: a folder of images or a ``.npy`` file as a :class:`Stream`;
    a registered dataset or a text file in memory (:func:`genplug.load_data`)."""
    if isinstance(name, (Data, Stream)):
        return name
    path = Path(str(name)).expanduser()
    if str(name) not in registry().datasets and path.exists():
        if path.is_dir():
            return open_folder(path, split)
        if path.suffix == ".npy":
            return open_npy(path, split)
    return load_data(name, split)
