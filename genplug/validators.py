"""Validators for the frozen attrs configs of every plugin, all raising :class:`ConfigError`.

They are attrs validators (``attrs.field(validator=positive)``); each message names the
class and field, the value given, and what is allowed::

    from genplug.validators import one_of, positive

    @attrs.frozen(kw_only=True)
    class MyConfig:
        hidden: int = attrs.field(default=64, validator=positive)  # width of the hidden layers
        loss: str = attrs.field(default="hinge", validator=one_of("hinge", "wgan-gp"))

Example:
    >>> import attrs
    >>> @attrs.frozen
    ... class C:
    ...     hidden: int = attrs.field(default=8, validator=positive)
    >>> C(hidden=0)
    Traceback (most recent call last):
    ...
    genplug._errors.ConfigError: C.hidden must be a positive number, got 0
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs

from genplug._errors import ConfigError, shown

__all__ = ["at_least", "finite", "fraction", "in_range", "one_of", "positive", "shape", "unit_interval"]

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def _where(instance: Any, attribute: attrs.Attribute) -> str:
    return f"{type(instance).__name__}.{attribute.name}"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    """A number that is not NaN or infinite (any int is, however large)."""
    return _number(value) and (isinstance(value, int) or math.isfinite(value))


def positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """A finite number > 0."""
    if not _finite(value) or value <= 0:
        raise ConfigError(f"{_where(instance, attribute)} must be a positive number, got {shown(value)}")


def finite(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """A finite number (not NaN, not infinite)."""
    if not _finite(value):
        raise ConfigError(f"{_where(instance, attribute)} must be a finite number, got {shown(value)}")


def fraction(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """A probability in [0, 1), such as a dropout rate."""
    if not _number(value) or not 0.0 <= value < 1.0:
        raise ConfigError(f"{_where(instance, attribute)} is a probability in [0, 1), got {shown(value)}")


def unit_interval(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """A number in [0, 1]."""
    if not _number(value) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"{_where(instance, attribute)} must be in [0, 1], got {shown(value)}")


def at_least(minimum: float, *, integer: bool = False) -> Validator:
    """A number >= ``minimum``; with ``integer``, an int (``at_least(0, integer=True)`` for counts)."""
    what = "an integer" if integer else "a number"

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if not _finite(value) or value < minimum or (integer and not isinstance(value, int)):
            raise ConfigError(f"{_where(instance, attribute)} must be {what} >= {minimum}, got {shown(value)}")

    return check


def in_range(
    low: float, high: float, *, open_low: bool = False, open_high: bool = False, integer: bool = False
) -> Validator:
    """A number between ``low`` and ``high`` (inclusive unless ``open_low``/``open_high``);
    with ``integer``, an int."""
    bounds = f"{'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
    interval = f"{'an integer' if integer else 'a number'} in {bounds}"

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        ok = _finite(value) and (not integer or isinstance(value, int))
        ok = ok and (value > low if open_low else value >= low) and (value < high if open_high else value <= high)
        if not ok:
            raise ConfigError(f"{_where(instance, attribute)} must be {interval}, got {shown(value)}")

    return check


def one_of(*allowed: Any) -> Validator:
    """One of the ``allowed`` values."""

    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value not in allowed:
            raise ConfigError(
                f"{_where(instance, attribute)}={shown(value)}; choose one of {', '.join(map(repr, allowed))}"
            )

    return check


def shape(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """A non-empty tuple of positive ints, such as ``(1, 8, 8)`` or ``(2,)``."""
    if (
        not isinstance(value, tuple)
        or not value
        or any(isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in value)
    ):
        raise ConfigError(
            f"{_where(instance, attribute)} must be positive ints such as (1, 8, 8) or (2,), got {shown(value)}"
        )
