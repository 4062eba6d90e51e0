"""``genplug plot``: the training curves of one or more runs, from their ``metrics.jsonl``."""

from __future__ import annotations

import click

from genplug._plot import plot_curves  # matplotlib itself is imported only when drawing

__all__ = ["plot"]


@click.command()
@click.argument("runs", nargs=-1, required=True, metavar="RUN_DIR...")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help=".png, .svg or .pdf.")
@click.option("--figure", "-f", "figures", multiple=True, help="A figure to draw, e.g. loss (default: every one).")
@click.option("--log-y", is_flag=True, help="Logarithmic value axes (panels whose values are all positive).")
def plot(runs: tuple[str, ...], output: str, figures: tuple[str, ...], log_y: bool) -> None:
    """Draw the training curves of runs (folders written by `genplug train --out`): one panel
    per figure of their metrics.jsonl (loss and the model's own), one line per run.

    Needs matplotlib: pip install 'genplug[plot]'.
    """
    path = plot_curves(runs, output, figures=list(figures) or None, log_y=log_y)
    click.echo(f"wrote {path}")
