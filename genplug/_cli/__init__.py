"""The ``genplug`` command line, one module per group of commands.

- :mod:`~genplug._cli.app`: the click group and the ``genplug`` entry point;
- :mod:`~genplug._cli.inspect`: ``list``, ``info``, ``doctor``, ``new-plugin``;
- :mod:`~genplug._cli.models`: ``run``, ``train``, ``eval``;
- :mod:`~genplug._cli.hub`: ``push``, ``download``;
- :mod:`~genplug._cli.common`: what they share.
"""

from genplug._cli.app import cli, main

__all__ = ["cli", "main"]
