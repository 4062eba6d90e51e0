"""Names a package loads on first use: importing it then does not import torch.

A package that keeps its torch-backed names out of its import lists them with the module
that defines each, and takes the two module functions from here::

    _LAZY = {"VAE": "genplug_vae.model", "VAEConfig": "genplug_vae.model"}
    __getattr__, __dir__ = lazy_attributes(__name__, _LAZY)

``package.VAE`` then imports ``genplug_vae.model`` once, keeps the value in the package's
namespace (so later lookups are plain attribute reads) and returns it; an unknown name
raises the usual ``AttributeError``. A name that maps to ``package.name`` is that
submodule itself (``"schedules": "genplug_diffusion.schedules"``).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, lazy: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of the module ``package`` for the names in ``lazy``
    (``{name: defining module}``)."""

    def __getattr__(name: str) -> Any:
        if name in lazy:
            module = importlib.import_module(lazy[name])
            value = module if lazy[name] == f"{package}.{name}" else getattr(module, name)  # a submodule
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        namespace = vars(sys.modules[package])
        return sorted(set(namespace) | set(namespace.get("__all__", ())) | set(lazy))

    return __getattr__, __dir__
