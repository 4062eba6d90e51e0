"""Tokenizers: text to integer ids and back, saved as plain JSON beside a model.

Two kinds ship with the core:

- ``char``: one id per character (a Unicode code point) of a vocabulary read from a
  corpus, ids in the vocabulary's order (:meth:`CharTokenizer.from_text` sorts it).
  A character outside the vocabulary is refused with one line, unless the tokenizer has
  an ``unknown`` character (itself in the vocabulary) that stands for all of them. There
  is no padding id: genplug's text data are fixed-length windows, so nothing needs
  padding; a model that wants one reserves it itself.
- ``byte``: the 256 byte values of the UTF-8 encoding. Every text encodes; ``decode``
  turns a byte sequence that is not valid UTF-8 (a model's sample may cut a character in
  two) into U+FFFD replacement characters instead of failing.

A tokenizer is saved as ``tokenizer.json`` in a model folder: ``{"kind": "char",
"vocabulary": ["\\n", " ", "a", ...], "unknown": null}`` or ``{"kind": "byte"}``.
:func:`load_tokenizer` reads it strictly (a regular file, at most 1 MB, every field's
type checked, nothing else allowed) and never unpickles anything.

Example:
    >>> tok = CharTokenizer.from_text("hello world")
    >>> tok.vocab_size, tok.encode("hold")
    (8, [3, 5, 4, 1])
    >>> tok.decode([3, 2, 4, 4, 5])
    'hello'
    >>> ByteTokenizer().encode("é")
    [195, 169]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from genplug._errors import GenplugError, ModelFileError, shown
from genplug._files import atomic_write_json, read_json

__all__ = ["TOKENIZER_FILE", "TOKENIZERS", "ByteTokenizer", "CharTokenizer", "Tokenizer", "load_tokenizer"]

#: The file a tokenizer is saved as, in a model folder.
TOKENIZER_FILE = "tokenizer.json"


def _ids(ids: Iterable[int] | Any) -> list[int]:
    """``ids`` as a list of Python ints: a list, a tuple or a 1-D integer tensor or array."""
    if hasattr(ids, "tolist"):  # a tensor or a NumPy array
        if getattr(ids, "ndim", 1) != 1 or getattr(ids, "is_floating_point", lambda: False)():
            raise GenplugError(f"decode takes a 1-D sequence of integer ids, got shape {tuple(ids.shape)} {ids.dtype}")
        ids = ids.tolist()
    out = list(ids)
    bad = next((i for i in out if isinstance(i, bool) or not isinstance(i, int)), None)
    if bad is not None:
        raise GenplugError(f"decode takes integer ids; got {shown(bad)} ({type(bad).__name__})")
    return out


class Tokenizer:
    """What every tokenizer offers: ``encode``, ``decode``, ``vocab_size``, ``save``.

    Subclasses set ``kind`` (the name written in ``tokenizer.json``) and implement
    ``encode``, ``decode``, ``vocab_size`` and ``to_json``.
    """

    kind: ClassVar[str] = ""

    @property
    def vocab_size(self) -> int:
        """The number of ids, ``0 .. vocab_size-1``."""
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        """The ids of ``text``."""
        raise NotImplementedError

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids`` (a list, or a 1-D integer tensor)."""
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        """What ``tokenizer.json`` holds: ``kind`` and what rebuilds the tokenizer."""
        raise NotImplementedError

    def save(self, folder: str | Path) -> Path:
        """Write ``folder/tokenizer.json`` atomically and return its path."""
        path = Path(folder) / TOKENIZER_FILE
        atomic_write_json(path, self.to_json())
        return path

    def _check_ids(self, ids: list[int]) -> None:
        bad = next((i for i in ids if not 0 <= i < self.vocab_size), None)
        if bad is not None:
            raise GenplugError(
                f"id {bad} is outside this {self.kind} tokenizer's vocabulary of {self.vocab_size} "
                f"(ids 0..{self.vocab_size - 1}); was the model trained with another tokenizer?"
            )

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_json() == self.to_json()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(repr(self.to_json()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"


class CharTokenizer(Tokenizer):
    """One id per character of ``vocabulary``.

    Arguments:
        vocabulary: distinct single characters; id ``i`` is ``vocabulary[i]``.
        unknown: a character of ``vocabulary`` that encodes every character outside it;
            ``None`` (the default): such a character is refused with one line.
    """

    kind = "char"

    def __init__(self, vocabulary: Sequence[str], *, unknown: str | None = None) -> None:
        vocabulary = list(vocabulary)
        if not vocabulary:
            raise GenplugError("a char tokenizer's vocabulary is empty; it needs at least one character")
        seen: set[str] = set()
        for c in vocabulary:
            if not isinstance(c, str) or len(c) != 1 or 0xD800 <= ord(c) <= 0xDFFF:
                raise GenplugError(f"a char tokenizer's vocabulary holds single characters; got {shown(c, limit=40)}")
            if c in seen:
                raise GenplugError(f"a char tokenizer's vocabulary holds distinct characters; {c!r} repeats")
            seen.add(c)
        if unknown is not None and unknown not in vocabulary:
            raise GenplugError(f"unknown={shown(unknown)} must be a character of the vocabulary")
        self.vocabulary = tuple(vocabulary)
        self.unknown = unknown
        self._index = {c: i for i, c in enumerate(self.vocabulary)}

    @classmethod
    def from_text(cls, text: str, *, unknown: str | None = None) -> CharTokenizer:
        """The sorted set of characters of ``text`` (plus ``unknown``, when given)."""
        chars = set(text) | ({unknown} if unknown is not None else set())
        if not chars:
            raise GenplugError("cannot build a char tokenizer from an empty text")
        return cls(sorted(chars), unknown=unknown)

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    def encode(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise GenplugError(f"encode takes a str, got {type(text).__name__}")
        index = self._index
        if self.unknown is not None:
            fallback = index[self.unknown]
            return [index.get(c, fallback) for c in text]
        try:
            return [index[c] for c in text]
        except KeyError as exc:
            c = exc.args[0]
            raise GenplugError(
                f"character {c!r} (U+{ord(c):04X}) is not in this tokenizer's vocabulary of {self.vocab_size} "
                "characters; remove it from the text, or build the tokenizer with unknown=... for such characters"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        ids = _ids(ids)
        self._check_ids(ids)
        return "".join(self.vocabulary[i] for i in ids)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "vocabulary": list(self.vocabulary), "unknown": self.unknown}


class ByteTokenizer(Tokenizer):
    """The 256 byte values of the UTF-8 encoding; invalid UTF-8 decodes to U+FFFD."""

    kind = "byte"

    @property
    def vocab_size(self) -> int:
        return 256

    def encode(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise GenplugError(f"encode takes a str, got {type(text).__name__}")
        return list(text.encode("utf-8", errors="surrogatepass"))

    def decode(self, ids: Iterable[int]) -> str:
        ids = _ids(ids)
        self._check_ids(ids)
        return bytes(ids).decode("utf-8", errors="replace")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind}


#: The tokenizer kinds ``tokenizer.json`` may name.
TOKENIZERS: dict[str, type[Tokenizer]] = {"char": CharTokenizer, "byte": ByteTokenizer}

# the fields each kind's tokenizer.json holds: name -> (allowed types, required)
_FIELDS: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "char": {"kind": ((str,), True), "vocabulary": ((list,), True), "unknown": ((str, type(None)), False)},
    "byte": {"kind": ((str,), True)},
}


def load_tokenizer(folder: str | Path) -> Tokenizer:
    """The tokenizer saved in ``folder/tokenizer.json``; a crafted or corrupt file gets one line.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> _ = CharTokenizer.from_text("abc").save(folder)
        >>> load_tokenizer(folder).decode([2, 1, 0])
        'cba'
    """
    path = Path(folder) / TOKENIZER_FILE
    doc = read_json(path, what="tokenizer file")

    def refuse(why: str) -> ModelFileError:
        return ModelFileError(f"{path} is not a genplug tokenizer: {why}. Save the tokenizer again with genplug.")

    kind = doc.get("kind")
    if kind not in TOKENIZERS:
        raise refuse(f"kind is {shown(kind, limit=40)}; expected one of {', '.join(map(repr, TOKENIZERS))}")
    fields = _FIELDS[kind]
    extra = sorted(set(doc) - set(fields))
    if extra:
        raise refuse(f"unexpected field(s) {', '.join(shown(k, limit=40) for k in extra[:5])} for kind {kind!r}")
    for name, (types, required) in fields.items():
        if name not in doc:
            if required:
                raise refuse(f"field {name!r} is missing")
        elif not isinstance(doc[name], types):
            raise refuse(f"field {name!r} is a JSON {type(doc[name]).__name__}")
    if kind == "byte":
        return ByteTokenizer()
    try:
        return CharTokenizer(doc["vocabulary"], unknown=doc.get("unknown"))
    except GenplugError as exc:
        raise refuse(str(exc)) from None
