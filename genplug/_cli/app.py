"""The ``genplug`` command line: a thin layer over the Python API.

Nothing heavy happens at import: ``genplug --help`` and ``genplug list`` import neither
torch nor any plugin's model code. Every user error is one line and a non-zero exit.
"""

from __future__ import annotations

import sys

import click

from genplug._cli.common import Group, reg
from genplug._cli.compare import compare
from genplug._cli.hub import download, push
from genplug._cli.inspect import doctor, info, list_, new_plugin
from genplug._cli.models import eval_, run, train
from genplug._cli.plot import plot
from genplug._errors import GenplugError

__all__ = ["cli", "main"]


@click.group(cls=Group)
@click.version_option(package_name="genplug")
def cli() -> None:
    """genplug: generative models as plugins.

    \\b
    genplug list                          what is installed
    genplug run diffusion -n 64 -o a.png  sample from packaged weights
    genplug train vae --data digits       train, with checkpoints and --resume
    genplug eval diffusion -n 1000        FD, NLL and friends
    """


for command in (list_, info, doctor, run, train, eval_, compare, plot, new_plugin, push, download):
    cli.add_command(command)

_plugin_commands_added = False


def add_plugin_commands(group: click.Group) -> None:
    """Every plugin's commands (a failing plugin is recorded, not fatal)."""
    reg().commands(group)


def main() -> None:
    """Entry point of the ``genplug`` script."""
    global _plugin_commands_added
    try:
        if not _plugin_commands_added:
            add_plugin_commands(cli)
            _plugin_commands_added = True
    except GenplugError as exc:  # GENPLUG_STRICT_PLUGINS turns a plugin failure into this
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    cli(prog_name="genplug")
