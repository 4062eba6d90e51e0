"""``no_network``: the conformance kit runs with network access blocked; ``run_genplug``: the CLI
in a fresh process, offline."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["genplug_no_network", "no_network", "run_genplug"]


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


#: The child process: the genplug CLI with every socket call refused.
_OFFLINE_CLI = """
import sys
from genplug.testing import no_network
from genplug._cli import main
sys.argv = ["genplug", *sys.argv[1:]]
with no_network():
    main()
"""


def run_genplug(*args: str, cwd: str | Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """``genplug ARGS...`` in a fresh process in ``cwd``, offline: every socket call refused,
    the Hub client told it is offline, one torch thread. Returns the finished process, with
    ``stdout`` and ``stderr`` as text; it does not raise on a non-zero exit.

    Example (in a plugin's tests)::

        result = run_genplug("run", "vae", "-n", "4", "-o", "x.png", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    """
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-c", _OFFLINE_CLI, *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
