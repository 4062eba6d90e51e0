"""``no_network``: the conformance kit runs with network access blocked."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import pytest

__all__ = ["genplug_no_network", "no_network"]


@contextlib.contextmanager
def no_network() -> Iterator[None]:
    """Inside the block, any attempt to open a network connection raises ``AssertionError``."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network access during a conformance check: {args[1:] or kwargs}")

    patches = [
        (socket.socket, "connect", refuse),
        (socket.socket, "connect_ex", refuse),
        (socket, "create_connection", refuse),
        (socket, "getaddrinfo", refuse),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    try:
        for owner, name, fn in patches:
            setattr(owner, name, fn)
        yield
    finally:
        for owner, name, fn in saved:
            setattr(owner, name, fn)


@pytest.fixture
def genplug_no_network() -> Iterator[None]:
    """A pytest fixture: the test runs with network access blocked."""
    with no_network():
        yield
