"""Datasets that ship offline, and the user's own files.

Built in: ``digits`` (scikit-learn's 8x8 handwritten digits, 1797 images, scaled to
[0, 1], a fixed 1497/300 train/test split), six 2-D densities (``moons``,
``circles``, ``8gaussians``, ``checkerboard``, ``swissroll``, ``pinwheel``), drawn from a
fixed seed per split, and ``tinytext`` (short stories from a seeded grammar, built by
``scripts/make_corpus.py``). ``load_data`` also reads a folder of images, a ``.npy`` file
or a UTF-8 ``.txt`` file.

Text becomes fixed-length windows of :data:`TEXT_WINDOW` characters, tokenized one id
per character with the vocabulary of the whole file (:class:`genplug._tokenizer.CharTokenizer`,
carried as ``Data.tokenizer``). The windows do not overlap; the first 90% of them are the
train split and the last 10% the test split, two contiguous stretches of the text (as
nanoGPT splits Shakespeare), so no test text is ever seen in training. The characters
after the last whole window are dropped.
"""

from __future__ import annotations

import csv
import gzip
import math
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import attrs
import torch

from genplug._errors import GenplugError, shown
from genplug._files import regular_file
from genplug._plugins import registry
from genplug._specs import resolve
from genplug._tokenizer import CharTokenizer, Tokenizer

__all__ = [
    "DIGITS_TEST",
    "Data",
    "IMAGE_SUFFIXES",
    "POINTS",
    "SPLITS",
    "TEXT_WINDOW",
    "TINYTEXT_ASSET",
    "checkerboard",
    "circles",
    "density",
    "digits",
    "eight_gaussians",
    "from_path",
    "image_files",
    "load_data",
    "moons",
    "pinwheel",
    "read_image",
    "split_indices",
    "swissroll",
    "text_data",
    "tinytext",
]

SPLITS = ("train", "test")
DIGITS_TEST = 300
POINTS = {"train": 10_000, "test": 2_000}
_SEEDS = {"train": 0, "test": 1}
#: Characters per example of text data.
TEXT_WINDOW = 64
TINYTEXT_ASSET = "_assets/tinytext.txt.gz"
#: The largest text file ``load_data`` reads (its ids take 8 bytes per character in memory).
MAX_TEXT_BYTES = 256 << 20


@attrs.frozen
class Data:
    """A dataset in memory.

    Attributes:
        name: where it came from.
        kind: ``"image"`` (floats in [0, 1], ``(N, C, H, W)``), ``"points"``, ``"tokens"``
            (integer ids ``(N, T)``) or ``"text"`` (token ids of text, ``(N, T)``).
        x: the examples, ``(N, *shape)``.
        y: integer labels ``(N,)`` when the dataset has them.
        levels: for discrete data, the values each dimension takes (digits: 17, 8-bit
            images: 256).
        vocab_size: for tokens and text, the vocabulary size (ids ``0 .. vocab_size-1``).
        classes: with labels, the number of classes (digits: 10).
        tokenizer: for text, the tokenizer that made ``x`` (and decodes samples).
    """

    name: str
    kind: str
    x: torch.Tensor
    y: torch.Tensor | None = None
    levels: int | None = None
    vocab_size: int | None = None
    classes: int | None = None
    tokenizer: Tokenizer | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one example."""
        return tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return self.x.shape[0]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise GenplugError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")


# -- digits ------------------------------------------------------------------------


def digits(split: str = "train") -> Data:
    """scikit-learn's 8x8 digits as ``(N, 1, 8, 8)`` floats in [0, 1] with labels."""
    _check_split(split)
    raw = resources.files("genplug").joinpath("_assets/digits.csv.gz").read_bytes()
    rows = list(csv.reader(gzip.decompress(raw).decode().splitlines()))
    table = torch.tensor([[int(v) for v in row] for row in rows], dtype=torch.float32)
    x = (table[:, :64] / 16.0).reshape(-1, 1, 8, 8)
    y = table[:, 64].long()
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    idx = order[DIGITS_TEST:] if split == "train" else order[:DIGITS_TEST]
    return Data("digits", "image", x[idx].contiguous(), y[idx].contiguous(), levels=17, classes=10)


# -- 2-D densities -------------------------------------------------------------------
# Each takes (n, generator) and returns (n, 2) points, roughly within [-4, 4].


def _moons(n: int, g: torch.Generator) -> torch.Tensor:
    k = n // 2
    t = torch.rand(n, generator=g) * math.pi
    upper = torch.stack([torch.cos(t[:k]), torch.sin(t[:k])], 1)
    lower = torch.stack([1 - torch.cos(t[k:]), 0.5 - torch.sin(t[k:])], 1)
    x = torch.cat([upper, lower]) + 0.08 * torch.randn(n, 2, generator=g)
    return (x - torch.tensor([0.5, 0.25])) * 2.0


def _circles(n: int, g: torch.Generator) -> torch.Tensor:
    t = torch.rand(n, generator=g) * 2 * math.pi
    radius = torch.where(torch.arange(n) % 2 == 0, 1.0, 0.5) * 3.0
    x = torch.stack([torch.cos(t), torch.sin(t)], 1) * radius[:, None]
    return x + 0.08 * torch.randn(n, 2, generator=g)


def _eight_gaussians(n: int, g: torch.Generator) -> torch.Tensor:
    angles = torch.arange(8) * (math.pi / 4)
    centers = torch.stack([torch.cos(angles), torch.sin(angles)], 1) * 2.8
    which = torch.randint(0, 8, (n,), generator=g)
    return centers[which] + 0.35 * torch.randn(n, 2, generator=g)


def _checkerboard(n: int, g: torch.Generator) -> torch.Tensor:
    x1 = torch.rand(n, generator=g) * 4 - 2
    x2 = torch.rand(n, generator=g) - torch.randint(0, 2, (n,), generator=g).float() * 2
    x2 = x2 + torch.floor(x1) % 2
    return torch.stack([x1, x2], 1) * 2


def _swissroll(n: int, g: torch.Generator) -> torch.Tensor:
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=g))
    x = torch.stack([t * torch.cos(t), t * torch.sin(t)], 1) / 5
    return x + 0.1 * torch.randn(n, 2, generator=g)


def _pinwheel(n: int, g: torch.Generator) -> torch.Tensor:
    classes, radial, tangential, rate = 5, 0.3, 0.1, 0.25
    which = torch.randint(0, classes, (n,), generator=g)
    feats = torch.randn(n, 2, generator=g) * torch.tensor([radial, tangential])
    feats[:, 0] += 1.0
    angles = which.float() * (2 * math.pi / classes) + rate * torch.exp(feats[:, 0])
    rot = torch.stack([torch.cos(angles), -torch.sin(angles), torch.sin(angles), torch.cos(angles)], 1)
    return torch.einsum("ni,nij->nj", feats, rot.view(n, 2, 2)) * 2


DENSITIES: dict[str, Callable[[int, torch.Generator], torch.Tensor]] = {
    "moons": _moons,
    "circles": _circles,
    "8gaussians": _eight_gaussians,
    "checkerboard": _checkerboard,
    "swissroll": _swissroll,
    "pinwheel": _pinwheel,
}


def density(name: str, split: str = "train") -> Data:
    """``POINTS[split]`` points of the 2-D density ``name`` from a fixed seed."""
    _check_split(split)
    g = torch.Generator().manual_seed(1000 * _SEEDS[split] + sorted(DENSITIES).index(name))
    return Data(name, "points", DENSITIES[name](POINTS[split], g).float())


def _density_loader(name: str) -> Callable[[str], Data]:
    def load(split: str = "train") -> Data:
        return density(name, split)

    load.__name__ = name.replace("8", "eight_")
    return load


moons = _density_loader("moons")
circles = _density_loader("circles")
eight_gaussians = _density_loader("8gaussians")
checkerboard = _density_loader("checkerboard")
swissroll = _density_loader("swissroll")
pinwheel = _density_loader("pinwheel")


# -- text ----------------------------------------------------------------------------


def _windows(text: str, name: str, split: str, length: int) -> Data:
    """Non-overlapping ``length``-character windows of ``text``: the first 90% train, the last 10% test."""
    import numpy as np

    count = len(text) // length
    if count < 2:
        raise GenplugError(
            f"{name} holds {len(text)} characters; text data needs at least two windows of {length} "
            f"characters ({2 * length}), one to train on and one to test."
        )
    # CharTokenizer.from_text(text).encode(text), vectorised: the sorted distinct code points
    # are the vocabulary, and each character's id is its rank among them
    points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    vocabulary = np.flatnonzero(np.bincount(points))
    rank = np.zeros(int(vocabulary[-1]) + 1, dtype=np.int64)
    rank[vocabulary] = np.arange(len(vocabulary))
    tokenizer = CharTokenizer([chr(c) for c in vocabulary.tolist()])
    ids = torch.from_numpy(rank[points[: count * length]]).view(count, length)
    n_test = max(1, count // 10)
    x = ids[: count - n_test] if split == "train" else ids[count - n_test :]
    return Data(name, "text", x.contiguous(), vocab_size=tokenizer.vocab_size, tokenizer=tokenizer)


def text_data(path: str | Path, split: str = "train", *, length: int = TEXT_WINDOW) -> Data:
    """A UTF-8 text file as ``(N, length)`` character ids; see the module's notes on the split.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "abc.txt"
        >>> _ = path.write_text("abcd" * 50)
        >>> data = text_data(path, "test", length=8)
        >>> data.kind, data.x.shape, data.vocab_size, data.tokenizer.decode(data.x[0])
        ('text', torch.Size([2, 8]), 4, 'abcdabcd')
    """
    _check_split(split)
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise GenplugError(f"length must be a positive number of characters, got {shown(length)}")
    path = Path(path)
    size = regular_file(path, what="text file")  # a FIFO or a device is refused before reading
    if size > MAX_TEXT_BYTES:
        raise GenplugError(f"{path} is {size} bytes; genplug reads text files of at most {MAX_TEXT_BYTES >> 20} MB.")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GenplugError(
            f"{path} is not UTF-8 text (byte {exc.start}: {shown(str(exc.reason), limit=60)}); save it as UTF-8."
        ) from None
    return _windows(text, str(path), split, length)


def tinytext(split: str = "train") -> Data:
    """The shipped ``tinytext`` corpus (``scripts/make_corpus.py``) as 64-character windows."""
    _check_split(split)
    raw = resources.files("genplug").joinpath(TINYTEXT_ASSET).read_bytes()
    data = _windows(gzip.decompress(raw).decode("utf-8"), "tinytext", split, TEXT_WINDOW)
    return attrs.evolve(data, name="tinytext")


# -- the user's files -------------------------------------------------------------

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def split_indices(n: int, split: str) -> torch.Tensor:
    """The examples of ``split`` among ``n``: a fixed 90/10 split of a user's file by a
    seeded permutation (the streaming readers of :mod:`genplug._streams` take the same)."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    n_test = max(1, n // 10)
    return order[n_test:] if split == "train" else order[:n_test]


def _split(x: torch.Tensor, split: str) -> torch.Tensor:
    return x[split_indices(len(x), split)]


def image_files(path: Path) -> list[Path]:
    """The images of a folder, sorted by name; at least two."""
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) < 2:
        raise GenplugError(f"{path} holds {len(files)} image(s) ({', '.join(IMAGE_SUFFIXES)}); need at least 2.")
    return files


def read_image(file: Path) -> torch.Tensor:
    """One image file as ``(C, H, W)`` uint8: grey (C=1) or RGB (C=3)."""
    from PIL import Image  # only when a folder of images is read

    try:
        with Image.open(file) as img:
            img = img.convert("L" if img.mode in ("1", "L", "I", "I;16", "P") else "RGB")
            t = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
            return t.view(img.height, img.width, -1).permute(2, 0, 1)
    except (OSError, Image.DecompressionBombError) as exc:
        raise GenplugError(f"cannot read image {file}: {shown(str(exc), limit=160)}") from None


def from_path(path: Path, split: str = "train") -> Data:
    """A folder of images (grey or RGB, one size, 256 levels), a ``.npy`` array of examples
    (floats: points or images; uint8 ``(N, C, H, W)``: 8-bit images; integers ``(N, T)``:
    tokens with ``vocab_size`` the largest id + 1) or a UTF-8 ``.txt`` file (text windows)."""
    _check_split(split)
    if path.is_dir():
        arrays = [read_image(file) for file in image_files(path)]
        shapes = {tuple(a.shape) for a in arrays}
        if len(shapes) > 1:
            raise GenplugError(
                f"images in {path} differ in size or channels ({sorted(shapes)}); resize them to one size."
            )
        x = torch.stack(arrays).float() / 255.0
        return Data(str(path), "image", _split(x, split), levels=256)
    if path.suffix == ".npy":
        import numpy as np

        try:  # memory-mapped first: a header that claims more than the file holds is refused here
            array = np.load(path, allow_pickle=False, mmap_mode="r")
        except (ValueError, OSError, MemoryError) as exc:
            raise GenplugError(f"cannot read {path} as a numeric .npy array: {shown(str(exc), limit=160)}") from None
        if array.ndim < 2 or array.dtype.kind not in "fiub":
            raise GenplugError(
                f"{path} holds a {array.dtype} array of shape {array.shape}; expected numbers shaped (N, ...)."
            )
        x = torch.from_numpy(np.array(array))  # a copy in memory, now that its size is known to be real
        if array.dtype.kind == "f":
            return Data(str(path), "image" if x.ndim == 4 else "points", _split(x.float(), split))
        if x.ndim == 4:
            if array.dtype != np.uint8:
                raise GenplugError(
                    f"{path} holds {array.dtype} images; save 8-bit images as uint8 (0..255) or floats in [0, 1]."
                )
            return Data(str(path), "image", _split(x.float() / 255.0, split), levels=256)
        if x.ndim != 2:
            raise GenplugError(
                f"{path} holds integers of shape {array.shape}; token data is (N, T), images (N, C, H, W) uint8."
            )
        x = x.long()
        if x.numel() == 0 or int(x.min()) < 0:
            raise GenplugError(f"{path} holds negative or no token ids; tokens are integers 0..V-1 shaped (N, T).")
        return Data(str(path), "tokens", _split(x, split), vocab_size=int(x.max()) + 1)
    if path.suffix.lower() == ".txt":
        return text_data(path, split)
    raise GenplugError(f"{path}: expected a folder of images, a .npy file or a UTF-8 .txt file.")


def load_data(name: str | Path, split: str = "train") -> Data:
    """A registered dataset by name, or the user's folder of images, ``.npy`` or ``.txt`` file.

    Example:
        >>> import genplug
        >>> digits = genplug.load_data("digits", "test")
        >>> digits.kind, digits.shape, len(digits), float(digits.x.max())
        ('image', (1, 8, 8), 300, 1.0)
        >>> genplug.load_data("8gaussians").x.shape
        torch.Size([10000, 2])
    """
    _check_split(split)
    reg = registry()
    text = str(name)
    if text in reg.datasets:
        spec = reg.datasets[text]
        data = resolve(spec.loader, what=f"dataset {text!r} (plugin {spec.plugin})")(split)
        if not isinstance(data, Data):
            raise GenplugError(f"dataset {text!r} of plugin {spec.plugin} returned {type(data).__name__}, not Data")
        return data
    path = Path(text).expanduser()
    if path.exists():
        return from_path(path, split)
    raise GenplugError(
        f"unknown dataset {text!r}: not a registered dataset ({', '.join(sorted(reg.datasets))}) "
        "and not an existing folder of images, .npy or .txt file."
    )
