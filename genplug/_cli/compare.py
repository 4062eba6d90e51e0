"""``genplug compare``: every family side by side, as a table, JSON and a picture."""

from __future__ import annotations

from pathlib import Path

import click

from genplug._cli.common import parse_pairs, reg

__all__ = ["compare"]


@click.command()
@click.argument("refs", nargs=-1, metavar="[ARCH|REF]...")
@click.option("--data", default="digits", show_default=True, help="The dataset every model is scored on.")
@click.option("-n", "n", type=click.IntRange(min=2, max=100_000), default=1000, show_default=True,
              help="Samples each metric draws.")  # fmt: skip
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True)
@click.option("--sampler", "sampler_pairs", multiple=True, metavar="ARCH=NAME", help="A model's sampler.")
@click.option("--metric", "metrics", multiple=True, help="Metric names (default: every one that applies).")
@click.option("--output", "-o", default="report", show_default=True, type=click.Path(file_okay=False),
              help="Folder for compare.md, compare.json and compare.png.")  # fmt: skip
def compare(
    refs: tuple[str, ...],
    data: str,
    n: int,
    seed: int,
    sampler_pairs: tuple[str, ...],
    metrics: tuple[str, ...],
    output: str,
) -> None:
    """Score models side by side on the same data: FD and its floor, confidence, coverage,
    conditional accuracy, NLL with its kind, samples per second, parameters and training.

    With no REFs, every installed architecture's packaged weights. A model that fails is
    reported in its row with the reason; the others go on.
    """
    registry = reg()
    for name in metrics:
        registry.metric(name)  # an unknown metric fails before anything loads
    samplers = {k: str(v) for k, v in parse_pairs(sampler_pairs, "--sampler").items()}
    for name in samplers.values():
        registry.sampler(name)
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise click.BadParameter(f"{output} is a file; give a folder", param_hint="--output")
    from genplug._compare import compare as run_compare  # torch-backed: on use
    from genplug._compare import write_report

    rows = run_compare(
        list(refs) or None,
        data,
        n,
        seed=seed,
        samplers=samplers,
        metrics=list(metrics) or None,
        progress=lambda line: click.echo(line, err=True),
    )
    write_report(rows, out)
    click.echo((out / "compare.md").read_text(), nl=False)
    failed = [r["model"] for r in rows if "error" in r]
    click.echo(
        f"wrote {out / 'compare.md'}, compare.json and compare.png"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
