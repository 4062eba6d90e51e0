"""``genplug push`` and ``genplug download``: the Hub commands, thin layers over :mod:`genplug._hub`.

Importing this module imports neither torch nor ``huggingface_hub``; the upload code
(which imports torch to draw the card's samples) is imported when ``push`` runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from genplug import _folder
from genplug._errors import GenplugError, shown
from genplug._hub.transport import hub_cache, hub_endpoint, offline_mode, parse_hub_id, snapshot
from genplug._plugins import registry

__all__ = ["download", "push"]


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("repo_id")
@click.option("--revision", "-r", metavar="BRANCH", help="Branch to commit to, created if needed  [default: main]")
@click.option("--private", is_flag=True, help="Create the repository private (an existing one keeps its visibility).")
@click.option("--message", "-m", help="Commit message.")
@click.option("--license", "license_", metavar="ID", help="Licence id for the card, e.g. bsd-3-clause, mit.")
@click.option("--no-samples", is_flag=True, help="Do not draw samples.png when the folder has none.")
def push(
    folder: Path,
    repo_id: str,
    revision: str | None,
    private: bool,
    message: str | None,
    license_: str | None,
    no_samples: bool,
) -> None:
    """Upload the model folder FOLDER to the Hub repository REPO_ID (org/name).

    One commit holds config.json, the weights, a generated README.md model card (from
    training.json and eval.json when the folder has them) and samples.png. The repository
    and the branch are created if needed. Prints the commit id, which pins this upload.
    """
    from genplug._hub.push import push_folder  # imports torch: only when pushing

    card_info = {"license": license_} if license_ else None
    try:
        commit = push_folder(
            folder,
            repo_id,
            revision=revision,
            private=private,
            commit_message=message,
            card_info=card_info,
            samples=not no_samples,
        )
    except GenplugError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"pushed {folder} to {hub_endpoint()}/{repo_id} at commit {commit}")
    click.echo(f"load it with genplug.load({repo_id!r}) or, pinned, genplug.load('{repo_id}@{commit}')")


@click.command()
@click.argument("ref", metavar="REF")
def download(ref: str) -> None:
    """Fetch the Hub model REF (org/name[@revision]) into the Hugging Face cache.

    A hybrid's components come with it. Afterwards the model loads with no network, e.g.
    with HF_HUB_OFFLINE=1. A local folder or an architecture's packaged weights need no
    download; write hub:REF when a local folder has the same name as the Hub id.
    """
    if not ref.startswith("hub:"):
        if Path(ref).expanduser().exists():
            hint = f"; write hub:{ref} to download the Hub repository" if parse_hub_id(ref) else ""
            raise click.ClickException(f"{ref} is a local folder: there is nothing to download{hint}.")
        if ref in registry().architectures:
            raise click.ClickException(
                f"{ref} is an installed architecture: its packaged weights are already on disk, nothing to download."
            )
    parsed = parse_hub_id(ref)
    if parsed is None:
        raise click.ClickException(
            f"{shown(ref)} is not a valid Hub id; write it as org/name or org/name@revision (no '..', no spaces)."
        )
    if offline_mode():
        raise click.ClickException("offline mode is on (HF_HUB_OFFLINE is set): unset it to download.")
    repo_id, revision = parsed
    try:
        folder = snapshot(repo_id, revision=revision, local_files_only=False)
    except GenplugError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{repo_id} at commit {folder.name} is in the cache {hub_cache()}")
    for line in _missing_plugins(folder):
        click.echo(f"note: {line}")
    click.echo(f"load it offline with HF_HUB_OFFLINE=1 and genplug.load({ref.removeprefix('hub:')!r})")


def _missing_plugins(folder: Path) -> list[str]:
    """One line per architecture in ``folder`` (components included) that is not installed here."""
    installed = registry().architectures
    lines = []
    for doc in _folder.walk(lambda relative: folder / relative):
        if doc.is_composite or doc.architecture in installed:
            continue
        fix = _folder.pip_line(doc.plugin)
        lines.append(
            f"architecture {doc.architecture!r} is not installed"
            + (f"; to load the model: {fix}" if fix else "; its config.json names no valid plugin to install")
        )
    return lines
