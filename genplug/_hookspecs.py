"""The hooks a plugin implements. Each receives a ``register`` callback.

A plugin module (the target of its ``genplug`` entry point) looks like::

    import genplug

    GENPLUG_API = 1  # the core API version this plugin was written for

    @genplug.hookimpl
    def register_architectures(register):
        register(genplug.ArchitectureSpec(name="myarch", family="other", ...))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

__all__ = [
    "hookimpl",
    "hookspec",
    "register_architectures",
    "register_commands",
    "register_datasets",
    "register_metrics",
    "register_samplers",
]

hookspec = pluggy.HookspecMarker("genplug")
hookimpl = pluggy.HookimplMarker("genplug")


@hookspec
def register_architectures(register: Callable[[Any], None]) -> None:
    """Register model architectures: ``register(ArchitectureSpec(...))``."""


@hookspec
def register_samplers(register: Callable[[Any], None]) -> None:
    """Register samplers: ``register(SamplerSpec(...))``."""


@hookspec
def register_datasets(register: Callable[[Any], None]) -> None:
    """Register datasets: ``register(DatasetSpec(...))``."""


@hookspec
def register_metrics(register: Callable[[Any], None]) -> None:
    """Register evaluation metrics: ``register(MetricSpec(...))``."""


@hookspec
def register_commands(cli: Any) -> None:
    """Add click commands to the ``genplug`` group: ``@cli.command()``."""
