"""Model configs to and from JSON: attrs classes in, checked values out.

A config in ``config.json`` (or from ``--config KEY=VALUE``, or ``genplug.create``) is
untrusted: :func:`config_from_dict` names an unknown field (with a "did you mean"), a
value of the wrong type for the field's annotation, and a value the config's own
validators refuse, each in one line.
"""

from __future__ import annotations

import difflib
import json
import math
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from genplug._errors import ConfigError, ModelFileError, shown

__all__ = ["as_tuples", "config_from_dict", "config_to_dict", "parse_pairs"]

_LISTED = 8  # unknown names listed in one message


def parse_pairs(pairs: Iterable[str], option: str = "--config") -> dict[str, Any]:
    """``KEY=VALUE`` strings as a dict, each value read as JSON when it can be, else kept as a string.

    What the CLI's ``--config``, ``--train-option`` and ``--sampler-option`` read, for
    scripts to read theirs the same way; ``option`` names the flag in the error.

    Example:
        >>> parse_pairs(["n_embd=64", "long_skips=true", "schedule=cosine", "shape=[1, 8, 8]"])
        {'n_embd': 64, 'long_skips': True, 'schedule': 'cosine', 'shape': [1, 8, 8]}

    Raises:
        ConfigError: a string without ``=``, or with nothing before it.
    """
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} {shown(pair)}: write KEY=VALUE, e.g. {option} hidden=128")
        try:
            values[key.strip()] = json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            values[key.strip()] = value
    return values


def config_to_dict(config: Any) -> dict[str, Any]:
    if attrs.has(type(config)):
        return attrs.asdict(config)
    raise TypeError(f"model config must be an attrs class, got {type(config).__name__}")


def as_tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(as_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: as_tuples(v) for k, v in value.items()}
    return value


def _expected(value: Any, kind: Any) -> str | None:
    """What ``value`` should have been for the annotation ``kind``; ``None`` when it fits (or cannot be told)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        misses = [_expected(value, a) for a in args]
        return None if any(m is None for m in misses) else " or ".join(m for m in misses if m)
    if kind is type(None):
        return None if value is None else "null"
    if kind is bool:
        return None if isinstance(value, bool) else "true or false"
    if kind is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok else "a finite number"
    if kind is str:
        return None if isinstance(value, str) else "a string"
    if origin is tuple:
        if not isinstance(value, tuple):
            return "a list"
        items = args[:1] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
        if len(items) != len(value):
            return f"a list of {len(items)} values"
        inner = [_expected(v, a) for v, a in zip(value, items, strict=True)]
        bad = next((m for m in inner if m), None)
        return None if bad is None else f"a list of {bad.removeprefix('an ').removeprefix('a ')}s"
    return None  # Any, dicts, classes: left to the config's own validators


def config_from_dict(cls: type, data: Mapping[str, Any], *, source: str = "config", from_file: bool = True) -> Any:
    """Build the attrs config ``cls`` from JSON data; an unknown field, a value of the wrong
    type or one its validators refuse gets one line naming the field.

    Example:
        >>> import attrs
        >>> @attrs.frozen
        ... class C:
        ...     hidden: int = 8
        >>> config_from_dict(C, {"hiden": 4}, source="--config", from_file=False)
        Traceback (most recent call last):
        ...
        genplug._errors.ModelFileError: --config: unknown field 'hiden' for C (did you mean 'hidden'?); ...
        >>> config_from_dict(C, {"hidden": 1.5}, source="--config", from_file=False)
        Traceback (most recent call last):
        ...
        genplug._errors.ModelFileError: --config: C.hidden must be an integer, got 1.5
    """
    fields = {f.name: f for f in attrs.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields), key=str)
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), list(fields), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        tail = " The file may come from a newer plugin version: upgrade it." if from_file else ""
        raise ModelFileError(
            f"{source}: unknown field{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(shown(u, limit=40) for u in unknown[:_LISTED])} for {cls.__name__}{hint}; known fields: "
            f"{', '.join(fields)}.{tail}"
        )
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # annotations that name what only a type checker sees: check values by validators alone
        hints = {}
    values = {k: as_tuples(v) for k, v in data.items()}
    for name, value in values.items():
        expected = _expected(value, hints[name]) if name in hints else None
        if expected is not None:
            raise ModelFileError(f"{source}: {cls.__name__}.{name} must be {expected}, got {shown(value, limit=60)}")
    try:
        return cls(**values)
    except (TypeError, ValueError, OverflowError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"{source}: invalid {cls.__name__}: {shown(first, limit=300)[1:-1]}") from None
