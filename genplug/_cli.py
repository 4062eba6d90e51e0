"""The ``genplug`` command line: a thin layer over the Python API.

Nothing heavy happens at import: ``genplug --help`` and ``genplug list`` import neither
torch nor any plugin's model code. Every user error is one line and a non-zero exit.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from genplug._errors import GenplugError


class _Group(click.Group):
    """Turns genplug's own errors into one-line click errors (no traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GenplugError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise click.ClickException(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None


@click.group(cls=_Group)
@click.version_option(package_name="genplug")
def cli() -> None:
    """genplug: generative models as plugins.

    \b
    genplug list                          what is installed
    genplug run diffusion -n 64 -o a.png  sample from packaged weights
    genplug train vae --data digits       train, with checkpoints and --resume
    genplug eval diffusion -n 1000        FD, NLL and friends
    """


def _registry() -> Any:
    from genplug._plugins import registry

    return registry()


# -- list, info, doctor -----------------------------------------------------------


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


@cli.command(name="list")
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


@cli.command()
@click.argument("name")
def info(name: str) -> None:
    """Describe an architecture, sampler, dataset, metric or plugin."""
    import attrs

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
        click.echo("  config fields:")
        for field in attrs.fields(cls.config_class):
            default = field.default
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                shown = "(computed from the other fields)" if default.takes_self else repr(default.factory())
            else:
                shown = repr(default)
            click.echo(f"    {field.name} = {shown}")
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
        raise click.ClickException(f"nothing named {name!r}; `genplug list` shows what is installed")


class _ClassView:
    """Lets a sampler's requirements be checked against a model class's defaults."""

    def __init__(self, cls: type) -> None:
        import attrs

        self._cls = cls
        self._defaults = {f.name: f.default for f in attrs.fields(cls.config_class)}

    def __getattr__(self, name: str) -> Any:
        if name in self._defaults:
            return self._defaults[name]
        value = getattr(self._cls, name, None)
        return None if isinstance(value, property) else value


@cli.command()
def doctor() -> None:
    """Check every plugin: import its code, check its protocols, find its weights."""
    from genplug._api import default_weights

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


# -- run, train, eval --------------------------------------------------------------


def _load_for(architecture: str, weights: str | None, device: str) -> Any:
    """Load ``weights`` (default: the packaged ones) and check they are ``architecture``."""
    from genplug._api import load
    from genplug._trainer import check_device

    reg = _registry()
    reg.architecture(architecture)  # unknown names fail here, with the known ones listed
    dev = check_device(device)
    model = load(weights or architecture, device=dev)
    got = getattr(model, "architecture", None)
    if got != architecture:
        raise click.ClickException(
            f"--weights {weights} holds a {got!r} model, not {architecture!r}; "
            f"use `genplug run {got} --weights {weights}`"
        )
    return model


def _generator(seed: int, device: str) -> Any:
    import torch

    return torch.Generator(torch.device(device)).manual_seed(seed)


@cli.command()
@click.argument("architecture")
@click.option("--weights", "-w", metavar="REF", help="Folder, Hub id (org/name[@rev]); default: packaged weights.")
@click.option("--sampler", "-s", help="A sampler from `genplug list` (default: the model's own).")
@click.option("--steps", "-k", type=click.IntRange(min=1), help="Sampler steps.")
@click.option("-n", "n", type=click.IntRange(min=1), default=64, show_default=True, help="Number of samples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same samples.")
@click.option("--device", "-d", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--interpolate", is_flag=True, help="Encoders: a strip of n images between two test examples.")
@click.option("--data", default="digits", show_default=True, help="Dataset for --interpolate.")
@click.option("--output", "-o", required=True, type=click.Path(), help=".png grid, or .npy/.safetensors raw samples.")
def run(
    architecture: str,
    weights: str | None,
    sampler: str | None,
    steps: int | None,
    n: int,
    seed: int,
    device: str,
    interpolate: bool,
    data: str,
    output: str,
) -> None:
    """Sample from a model and write a grid image or the raw samples."""
    from genplug._api import sample
    from genplug._images import check_output_path, save_samples

    check_output_path(output)
    if sampler is not None:
        _registry().sampler(sampler)  # an unknown sampler fails before anything loads
    model = _load_for(architecture, weights, device)
    g = _generator(seed, device)
    if interpolate:
        if not callable(getattr(model, "interpolate", None)):
            raise click.ClickException(
                f"{architecture!r} has no latent space to interpolate in (no interpolate method)"
            )
        from genplug._data import load_data

        test = load_data(data, "test")
        pick = __import__("torch").randperm(len(test), generator=_generator(seed, "cpu"))[:2]
        x0, x1 = (test.x[i : i + 1].to(model.device) for i in pick)
        with __import__("torch").no_grad():
            x = model.interpolate(x0, x1, n, generator=g)
    else:
        x = sample(model, n, sampler=sampler, steps=steps, generator=g)
    path = save_samples(x, output, nrow=len(x) if interpolate else None)
    click.echo(f"wrote {len(x)} samples to {path}")


def _parse_config(pairs: tuple[str, ...]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r}: write key=value, e.g. --config hidden=128", param_hint="--config")
        try:
            config[key] = json.loads(value)
        except json.JSONDecodeError:
            config[key] = value
    return config


@cli.command()
@click.argument("architecture")
@click.option("--data", required=True, help="A dataset from `genplug list`, a folder of images or a .npy file.")
@click.option("--steps", type=click.IntRange(min=1), help="Optimisation steps (default: the model's).")
@click.option("--batch-size", type=click.IntRange(min=1))
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), help="Learning rate.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--ema", type=click.FloatRange(0, 1, min_open=True, max_open=True), help="EMA decay, e.g. 0.999.")
@click.option("--checkpoint-every", type=click.IntRange(min=1))
@click.option("--out", type=click.Path(), help="Output folder (default: runs/ARCH-DATA).")
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.")
@click.option("--device", "-d", default="cpu", show_default=True)
@click.option("--config", "-c", "config_pairs", multiple=True, metavar="KEY=VALUE", help="Model config field.")
def train(
    architecture: str,
    data: str,
    steps: int | None,
    batch_size: int | None,
    lr: float | None,
    seed: int,
    ema: float | None,
    checkpoint_every: int | None,
    out: str | None,
    resume: bool,
    device: str,
    config_pairs: tuple[str, ...],
) -> None:
    """Train an architecture on a dataset; checkpoints go to OUT, --resume continues."""
    from pathlib import Path

    import attrs
    import torch

    from genplug import _files
    from genplug._api import architecture_class
    from genplug._data import load_data
    from genplug._trainer import check_device, config_for, find_checkpoint
    from genplug._trainer import train as run_training

    cls = architecture_class(architecture)
    check_device(device)
    dataset = load_data(data, "train")
    out_dir = Path(out or f"runs/{architecture}-{Path(data).stem}")
    overrides = _parse_config(config_pairs)
    if resume:
        checkpoint = find_checkpoint(out_dir)
        if checkpoint is None:
            raise click.ClickException(f"--resume: no checkpoint in {out_dir}; start the run without --resume")
        saved = _files.read_config(checkpoint).get("config", {})
        clash = {k: v for k, v in overrides.items() if saved.get(k) != v}
        if clash:
            raise click.ClickException(f"--resume: {clash} differs from the checkpoint's config {saved}")
        config = _files.config_from_dict(cls.config_class, saved, source=str(checkpoint))
    else:
        if "data_shape" in attrs.fields_dict(cls.config_class) and "data_shape" not in overrides:
            overrides["data_shape"] = list(dataset.shape)
        config = _files.config_from_dict(cls.config_class, overrides, source="--config")
    torch.manual_seed(seed)  # initial weights
    model = cls(config)
    train_config = config_for(
        model,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        ema=ema,
        checkpoint_every=checkpoint_every,
        device=device,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    run_training(model, dataset, train_config, out=out_dir, resume=resume)
    record = {
        "command": "genplug train " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["train"] else None,
        "architecture": architecture,
        "data": data,
        "train_config": attrs.asdict(train_config),
    }
    _files.atomic_write_json(out_dir / "training.json", record)
    click.echo(f"saved {architecture} to {out_dir}")


@cli.command(name="eval")
@click.argument("architecture")
@click.option("--weights", "-w", metavar="REF", help="Folder or Hub id; default: packaged weights.")
@click.option("--data", help="Dataset to compare with (default: digits for 8x8 image models).")
@click.option("-n", "n", type=click.IntRange(min=2), default=1000, show_default=True, help="Samples to draw.")
@click.option("--sampler", "-s")
@click.option("--steps", "-k", type=click.IntRange(min=1))
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", "-d", default="cpu", show_default=True)
@click.option("--metric", "metrics", multiple=True, help="Metric names (default: every one that applies).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--save", type=click.Path(), help="Also write the figures as JSON to this file.")
def eval_(
    architecture: str,
    weights: str | None,
    data: str | None,
    n: int,
    sampler: str | None,
    steps: int | None,
    seed: int,
    device: str,
    metrics: tuple[str, ...],
    as_json: bool,
    save: str | None,
) -> None:
    """Score a model: FD, confidence and coverage for digits; NLL with its kind."""
    from pathlib import Path

    from genplug._files import atomic_write_json
    from genplug._specs import resolve

    reg = _registry()
    if sampler is not None:
        reg.sampler(sampler)
    model = _load_for(architecture, weights, device)
    if data is None:
        if tuple(getattr(model, "event_shape", ())) != (1, 8, 8):
            raise click.ClickException(f"say which dataset to compare {architecture!r} with: --data NAME")
        data = "digits"
    kind = reg.datasets[data].kind if data in reg.datasets else None
    chosen = [reg.metric(m) for m in metrics] or [
        m for m in reg.metrics.values() if kind in m.applies_to or (kind is None and m.name == "nll")
    ]
    figures: dict[str, Any] = {
        "architecture": architecture,
        "weights": weights or f"{architecture} (packaged)",
        "data": data,
        "n": n,
        "sampler": sampler,
        "steps": steps,
        "seed": seed,
    }
    for spec in chosen:
        fn = resolve(spec.metric, what=f"metric {spec.name!r} (plugin {spec.plugin})")
        figures.update(fn(model, data, n=n, generator=_generator(seed, device), sampler=sampler, steps=steps))
    if save:
        atomic_write_json(Path(save), figures)
    if as_json:
        click.echo(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        if value is None:
            continue
        click.echo(f"{key:>28}: {value:.4f}" if isinstance(value, float) else f"{key:>28}: {value}")


@cli.command(name="new-plugin")
@click.argument("name")
@click.option("--dir", "parent", type=click.Path(file_okay=False), default=".", show_default=True)
def new_plugin(name: str, parent: str) -> None:
    """Write a complete plugin package genplug-NAME that passes its tests after pip install -e."""
    from pathlib import Path

    from genplug._template import new_plugin as write

    root = write(name, Path(parent))
    click.echo(f"wrote {root}; next: pip install -e {root} && pytest {root}")


def _add_optional_commands(group: click.Group) -> None:
    """The Hub commands and every plugin's commands (a failing plugin is recorded, not fatal)."""
    try:
        from genplug._hub_cli import download, push
    except ImportError:  # pragma: no cover - the Hub commands ship with the core
        pass
    else:
        group.add_command(push)
        group.add_command(download)
    _registry().commands(group)


_commands_added = False


def main() -> None:
    """Entry point of the ``genplug`` script."""
    global _commands_added
    try:
        if not _commands_added:
            _add_optional_commands(cli)
            _commands_added = True
    except GenplugError as exc:  # GENPLUG_STRICT_PLUGINS turns a plugin failure into this
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    cli(prog_name="genplug")
