"""What the CLI's commands share: the error-to-one-line group, option types, parsing, loading."""

from __future__ import annotations

from typing import Any

import click

from genplug._api import load
from genplug._configs import parse_pairs as _parse_pairs
from genplug._errors import ConfigError, GenplugError, shown
from genplug._plugins import Registry, registry

__all__ = ["SEED", "Group", "generator", "load_for", "parse_pairs"]

#: Seeds torch accepts.
SEED = click.IntRange(-(2**63), 2**64 - 1)


class Group(click.Group):
    """Turns genplug's own errors into one-line click errors (no traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GenplugError as exc:
            raise click.ClickException(_one_line(str(exc))) from None
        except OSError as exc:
            raise click.ClickException(_one_line(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))) from None


def _one_line(text: str, limit: int = 2000) -> str:
    text = " ".join(text.split("\n"))
    return text if len(text) <= limit else text[: limit - 30] + f"... ({len(text)} chars)"


def reg() -> Registry:
    return registry()


def parse_pairs(pairs: tuple[str, ...], option: str) -> dict[str, Any]:
    """``("hidden=128", "name=x")`` -> ``{"hidden": 128, "name": "x"}``: :func:`genplug.parse_pairs`, click's error."""
    try:
        return _parse_pairs(pairs, option)
    except ConfigError as exc:
        raise click.BadParameter(str(exc).removeprefix(f"{option} "), param_hint=option) from None


def load_for(architecture: str, weights: str | None, device: str) -> Any:
    """Load ``weights`` (default: the packaged ones) and check they are ``architecture``."""
    reg().architecture(architecture)  # unknown names fail here, with the known ones listed
    model = load(architecture if weights is None else weights, device=device)
    got = getattr(model, "architecture", None)
    if got != architecture:
        raise click.ClickException(
            f"--weights {shown(weights)} holds a {shown(got)} model, not {architecture!r}; "
            f"use `genplug run {got} --weights {weights}`"
        )
    return model


def generator(seed: int, device: Any) -> Any:
    import torch  # on use: importing the CLI must not import torch, so `genplug list` stays fast

    return torch.Generator(torch.device(device)).manual_seed(seed)
