"""``genplug list``, ``info``, ``doctor`` and ``new-plugin``: what is installed, and a new plugin.

None of these import torch, except ``info`` and ``doctor``, which import the model code
they describe.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import click

from genplug._api import default_weights
from genplug._cli.common import reg as _registry
from genplug._errors import GenplugError, shown
from genplug._template import new_plugin as write

__all__ = ["doctor", "info", "list_", "new_plugin"]


def _listing() -> dict[str, list[dict[str, Any]]]:
    reg = _registry()
    return {
        "plugins": [
            {"name": p.name, "version": p.version, "status": p.status, "error": p.error} for p in reg.plugins.values()
        ],
        "architectures": [
            {
                "name": a.name,
                "family": a.family,
                "plugin": a.plugin,
                "provides": list(a.provides),
                "description": a.description,
            }
            for a in sorted(reg.architectures.values(), key=lambda a: a.name)
        ],
        "samplers": [
            {
                "name": s.name,
                "family": s.family,
                "plugin": s.plugin,
                "requires": {k: list(v) for k, v in s.requires.items()},
                "description": s.description,
            }
            for s in sorted(reg.samplers.values(), key=lambda s: s.name)
        ],
        "datasets": [
            {"name": d.name, "kind": d.kind, "shape": list(d.shape), "plugin": d.plugin, "description": d.description}
            for d in sorted(reg.datasets.values(), key=lambda d: d.name)
        ],
        "metrics": [
            {"name": m.name, "plugin": m.plugin, "description": m.description}
            for m in sorted(reg.metrics.values(), key=lambda m: m.name)
        ],
    }


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=False)) + "  " + r[-1] for r in rows
    )


@click.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: plugins, architectures, samplers, datasets.")
@click.option("--verbose", "-v", is_flag=True, help="Show the traceback of every plugin that failed.")
def list_(as_json: bool, verbose: bool) -> None:
    """List plugins, architectures, samplers and datasets."""
    listing = _listing()
    if as_json:
        click.echo(json.dumps(listing, indent=2))
        return
    sections = [
        ("Plugins", [[p["name"], p["version"], p["status"], p["error"]] for p in listing["plugins"]]),
        ("Architectures", [[a["name"], a["family"], a["plugin"], a["description"]] for a in listing["architectures"]]),
        ("Samplers", [[s["name"], s["family"], s["plugin"], s["description"]] for s in listing["samplers"]]),
        ("Datasets", [[d["name"], d["kind"], d["plugin"], d["description"]] for d in listing["datasets"]]),
        ("Metrics", [[m["name"], m["plugin"], m["description"]] for m in listing["metrics"]]),
    ]
    for title, rows in sections:
        click.echo(f"{title}:")
        click.echo(_table(rows) if rows else "  (none)")
    if verbose:
        for info in _registry().plugins.values():
            if info.traceback:
                click.echo(f"\n{info.name} {info.status}:\n{info.traceback}", err=True)
    elif any(p["status"] == "failed" for p in listing["plugins"]):
        click.echo("\nSome plugins failed to load: `genplug list --verbose` or `genplug doctor` shows why.", err=True)


@click.command()
@click.argument("name")
def info(name: str) -> None:
    """Describe an architecture, sampler, dataset, metric or plugin."""
    reg = _registry()
    found = False
    if name in reg.architectures:
        found = True
        spec = reg.architectures[name]
        click.echo(f"architecture {spec.name} ({spec.family}) from {spec.plugin}\n  {spec.description}")
        click.echo(f"  provides: {', '.join(spec.provides)}")
        cls = spec.load_class()
        click.echo(f"  model: {spec.model}")
        click.echo(f"  likelihood: {', '.join(getattr(cls, 'log_prob_kinds', ())) or 'none'}")
        click.echo(f"  default weights: {spec.default_weights or 'none'}")
        click.echo("  config fields (--config KEY=VALUE):")
        _fields(cls.config_class)
        options = getattr(cls, "train_options_class", None)
        if attrs.has(options):  # a property (a composite's: its prior's options) says nothing on the class
            click.echo("  training options (--train-option KEY=VALUE):")
            _fields(options)
        defaults = getattr(cls, "train_defaults", None)
        if isinstance(defaults, dict) and defaults:
            click.echo(f"  training defaults: {', '.join(f'{k}={v}' for k, v in defaults.items())}")
        compatible = []
        for s in reg.samplers.values():
            try:
                s.check(_ClassView(cls))
                compatible.append(s.name)
            except GenplugError:
                pass
        if compatible:
            click.echo(f"  samplers that may fit (per model config): {', '.join(sorted(compatible))}")
    for kind, table in (("sampler", reg.samplers), ("dataset", reg.datasets), ("metric", reg.metrics)):
        if name in table:
            found = True
            spec = table[name]
            click.echo(f"{kind} {spec.name} from {spec.plugin}\n  {spec.description}")
            if kind == "sampler" and spec.requires:
                reqs = "; ".join(f"{k} in {', '.join(map(str, v))}" for k, v in spec.requires.items())
                click.echo(f"  requires: {reqs}")
            if kind == "dataset":
                click.echo(f"  kind: {spec.kind}, shape: {spec.shape}")
    if name in reg.plugins:
        found = True
        p = reg.plugins[name]
        click.echo(f"plugin {p.name} {p.version}: {p.status}{' - ' + p.error if p.error else ''}")
        for kind, table in (("architecture", reg.architectures), ("sampler", reg.samplers), ("dataset", reg.datasets)):
            names = sorted(s.name for s in table.values() if s.plugin == name)
            if names:
                click.echo(f"  {kind}s: {', '.join(names)}")
    if not found:
        import difflib

        names = [*reg.architectures, *reg.samplers, *reg.datasets, *reg.metrics, *reg.plugins]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise click.ClickException(
            f"nothing named {shown(name, limit=60)}{hint}; `genplug list` shows what is installed"
        )


def _fields(cls: type) -> None:
    for field in attrs.fields(cls):
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            text = "(computed from the other fields)" if default.takes_self else repr(default.factory())
        else:
            text = repr(default)
        click.echo(f"    {field.name} = {text}")


class _ClassView:
    """Lets a sampler's requirements be checked against a model class's defaults."""

    def __init__(self, cls: type) -> None:
        self._cls = cls
        self._defaults = {f.name: f.default for f in attrs.fields(cls.config_class)}

    def __getattr__(self, name: str) -> Any:
        if name in self._defaults:
            return self._defaults[name]
        value = getattr(self._cls, name, None)
        return None if isinstance(value, property) else value


@click.command()
def doctor() -> None:
    """Check every plugin: import its code, check its protocols, find its weights."""
    reg = _registry()
    problems = 0
    for p in reg.plugins.values():
        click.echo(f"{p.name} {p.version}: {p.status}")
        if p.traceback:
            click.echo(p.traceback)
        if p.status in ("failed", "incompatible"):
            problems += 1
            if p.error and not p.traceback:
                click.echo(f"  {p.error}")
    for spec in reg.architectures.values():
        try:
            spec.load_class()
            where = default_weights(spec.name) if spec.default_weights else "no default weights"
            click.echo(f"  architecture {spec.name}: ok ({where})")
        except GenplugError as exc:
            problems += 1
            click.echo(f"  architecture {spec.name}: {exc}")
    for s in reg.samplers.values():
        try:
            s.create()
            click.echo(f"  sampler {s.name}: ok")
        except GenplugError as exc:
            problems += 1
            click.echo(f"  sampler {s.name}: {exc}")
    if problems:
        raise click.ClickException(f"{problems} problem(s) found")
    click.echo("all plugins ok")


@click.command(name="new-plugin")
@click.argument("name")
@click.option("--dir", "parent", type=click.Path(file_okay=False), default=".", show_default=True)
def new_plugin(name: str, parent: str) -> None:
    """Write a complete plugin package genplug-NAME that passes its tests after pip install -e."""
    from pathlib import Path

    root = write(name, Path(parent))
    click.echo(f"wrote {root}; next: pip install -e {root} && pytest {root}")
