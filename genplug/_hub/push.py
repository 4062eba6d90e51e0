"""Hub upload: one commit holding a model folder, its records and a generated model card.

:func:`push_folder` and :func:`push_model` upload through ``HfApi.create_commit`` the
model folder's ``config.json`` and weights (and a composite's component folders), a
generated ``README.md`` model card (:mod:`genplug._hub.card`), and, when present in the
folder, the records the card is made from:

==================  ===============================================================
``training.json``   written by ``genplug train``: ``{"command": "genplug train ...",
                    "data": ..., "train_config": {...}}``
``eval.json``       written by ``genplug eval --save``: the settings (``data``, ``n``,
                    ``seed``, ``sampler``, ``steps``) and the figures (every other
                    key with a number or a short string value)
``samples.png``     a sample grid; when absent, one is drawn at push time (64 images
                    or 2,000 2-D points, seed 0) if the model can be loaded here
``README.md``       a card of your own; when present it is uploaded instead of the
                    generated one
==================  ===============================================================

Every file is checked before anything is sent: weights must be whole safetensors files,
and nothing outside the folder is uploaded (symlinks that leave it are refused).
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from genplug import _folder
from genplug._api import load, sample
from genplug._errors import GenplugError, ModelFileError, shown
from genplug._files import read_json, safetensors_header
from genplug._folder import CONFIG_NAME
from genplug._hub.card import CARD_NAME, EVAL_NAME, SAMPLES_NAME, TRAINING_NAME, model_card
from genplug._hub.transport import (
    COMMIT,
    DEFAULT_REVISION,
    PICKLE_SUFFIXES,
    api,
    check_repo_id,
    first_line,
    hub_endpoint,
    network_errors,
    offline_mode,
    version,
)
from genplug._images import image_grid, png_bytes, scatter

__all__ = ["push_folder", "push_model"]

log = logging.getLogger("genplug")

# -- upload ---------------------------------------------------------------------------------


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
    token: str | None = None,
    card_info: Mapping[str, Any] | None = None,
    samples: bool = True,
) -> str:
    """Upload a model folder to ``repo_id`` as one commit, with a generated model card.

    The repository is created if needed (``private`` applies then), and so is the branch
    ``revision``. What is uploaded is the folder's ``config.json`` and weights (and a
    hybrid's component folders), ``training.json``, ``eval.json`` and ``samples.png`` when
    present, and ``README.md``: the folder's own, or a card made by :func:`model_card`.
    Other files in the folder (checkpoints, logs) stay local.

    Arguments:
        folder: a model folder, as written by ``save_pretrained`` or ``genplug train``.
        repo_id: ``"org/name"``.
        revision: the branch to commit to (default ``main``).
        private: create the repository private.
        commit_message: default ``"Upload <architecture> with genplug <version>"``.
        token: a token with write access (default: ``HF_TOKEN`` or the saved login).
        card_info: overrides for the card: ``license`` (a Hub licence id such as
            ``"bsd-3-clause"``), ``description`` (a paragraph), ``tags`` (extra tags),
            ``training`` and ``evaluation`` (dicts shaped like ``training.json`` and
            ``eval.json``), ``samples`` (how the folder's ``samples.png`` was made).
        samples: draw ``samples.png`` when the folder has none.

    Returns:
        The id of the new commit: load exactly this upload with ``f"{repo_id}@{commit}"``.
    """
    _check_can_upload(repo_id, revision)
    folder = Path(folder)
    card_info = dict(card_info or {})
    _check_license(card_info.get("license"))
    files = _upload_files(folder)
    doc = read_json(folder / CONFIG_NAME, what="config.json")
    extras: dict[str, bytes] = {}
    training = card_info.get("training") or _optional_json(folder / TRAINING_NAME)
    evaluation = card_info.get("evaluation") or _optional_json(folder / EVAL_NAME)
    for name in (TRAINING_NAME, EVAL_NAME, SAMPLES_NAME):
        if (folder / name).exists() or (folder / name).is_symlink():
            files[name] = _inside(folder, name)
    sample_note = card_info.get("samples", "from the uploaded folder") if SAMPLES_NAME in files else None
    if sample_note is None and samples:
        drawn = _draw_samples_from_folder(folder)
        if drawn is not None:
            extras[SAMPLES_NAME], sample_note = drawn
    if (folder / CARD_NAME).exists() or (folder / CARD_NAME).is_symlink():
        files[CARD_NAME] = _inside(folder, CARD_NAME)
        _check_card(files[CARD_NAME])
    else:
        card = model_card(
            doc,
            repo_id=repo_id,
            components=_component_docs(folder, doc),
            training=training,
            evaluation=evaluation,
            samples=sample_note,
            license=card_info.get("license"),
            description=card_info.get("description"),
            tags=card_info.get("tags", ()),
        )
        extras[CARD_NAME] = card.encode()
    message = commit_message or f"Upload {doc.get('architecture') or 'hybrid'} with genplug {version()}"
    return _commit(repo_id, files, extras, revision=revision, private=private, message=message, token=token)


def push_model(
    model: Any,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
    token: str | None = None,
    card_info: Mapping[str, Any] | None = None,
    samples: bool = True,
    seed: int = 0,
) -> str:
    """Save ``model`` to a temporary folder and upload it with :func:`push_folder`.

    The card's sample grid is drawn from ``model`` itself with a ``torch.Generator``
    seeded with ``seed``. How the model was trained and evaluated is not known from the
    object alone: pass ``card_info={"training": ..., "evaluation": ...}``, or push the
    training folder with ``genplug push`` instead. Returns the commit id.
    """
    _check_can_upload(repo_id, revision)
    with tempfile.TemporaryDirectory(prefix="genplug-push-") as tmp:
        folder = Path(tmp)
        _folder.save(model, folder)
        note = None
        if samples:
            drawn = _draw_samples(model, seed=seed)
            if drawn is not None:
                (folder / SAMPLES_NAME).write_bytes(drawn[0])
                note = drawn[1]
        info = dict(card_info or {})
        if note is not None:
            info.setdefault("samples", note)
        return push_folder(
            folder,
            repo_id,
            revision=revision,
            private=private,
            commit_message=commit_message,
            token=token,
            card_info=info,
            samples=False,
        )


def _check_can_upload(repo_id: str, revision: str | None) -> None:
    check_repo_id(repo_id, revision)
    if offline_mode():
        raise GenplugError(f"cannot upload {repo_id}: offline mode is on (HF_HUB_OFFLINE is set); unset it to push.")
    if revision is not None and COMMIT.fullmatch(revision):
        raise GenplugError(f"revision {revision!r} is a commit id; uploads go to a branch (main, dev, ...).")


_LICENSE = re.compile(r"[a-z0-9][a-z0-9.+-]{0,63}")


def _check_license(license: Any) -> None:
    if license is not None and (not isinstance(license, str) or not _LICENSE.fullmatch(license)):
        raise GenplugError(
            f"licence {shown(license)} is not a Hub licence id; use one such as mit, apache-2.0, bsd-3-clause, other"
        )


def _check_card(path: Path) -> None:
    """A model card of the folder's own must open with YAML front matter, as the Hub requires."""
    lines = path.read_text(errors="replace").splitlines()
    if not lines or lines[0].strip() != "---" or "---" not in (line.strip() for line in lines[1:]):
        raise ModelFileError(
            f"{path} has no YAML front matter: the Hub requires a model card to begin with a block between two "
            "'---' lines (e.g. ---, library_name: genplug, ---); add one, or delete README.md to get a generated card."
        )


def _inside(folder: Path, relative: str) -> Path:
    """``folder / relative`` as a regular file that lies inside ``folder`` (symlinks resolved)."""
    path = folder / relative
    real = path.resolve()
    if folder.resolve() not in real.parents:
        raise ModelFileError(
            f"{path} points outside the folder ({shown(str(real), limit=80)}); genplug uploads only files inside "
            "the model folder: copy the file in instead of linking it."
        )
    if not real.is_file():
        raise ModelFileError(f"{path} is not a regular file; remove it or replace it with one.")
    return path


def _upload_files(folder: Path) -> dict[str, Path]:
    """The model files of ``folder`` (path in repo -> local path), checked before anything is sent."""
    if not folder.is_dir():
        raise ModelFileError(
            f"{folder} is not a folder; push a model folder written by save_pretrained or genplug train."
        )
    if not (folder / CONFIG_NAME).is_file():
        raise ModelFileError(
            f"{folder} has no {CONFIG_NAME}: it is not a genplug model folder (save one with model.save_pretrained)."
        )
    files: dict[str, Path] = {}

    def need(relative: str) -> Path:
        path = folder / relative
        if not path.exists():
            here = path.parent
            pickles = sorted(p.name for p in here.iterdir() if p.suffix in PICKLE_SUFFIXES) if here.is_dir() else []
            why = (
                f"; it holds {', '.join(pickles)}, which genplug never uploads or reads (pickles can run code): "
                "save the model with save_pretrained to get safetensors"
                if pickles
                else ""
            )
            raise ModelFileError(f"{path} does not exist, so {folder} is not a complete model folder{why}.")
        _inside(folder, relative)
        if relative.endswith(".safetensors"):
            safetensors_header(path)  # the whole file: a truncated one is refused before anything is sent
        files[relative] = path
        return path

    _folder.walk(need)
    return files


def _optional_json(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        return read_json(path, what=path.name)
    except ModelFileError as exc:
        raise ModelFileError(f"{exc} Fix or delete it before pushing.") from None


def _component_docs(folder: Path, doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    parsed = _folder.parse(doc, source=str(folder / CONFIG_NAME))
    return {
        c.role: read_json(_folder.component_folder(folder, c) / CONFIG_NAME, what="config.json")
        for c in parsed.components
    }


def _commit(
    repo_id: str,
    files: Mapping[str, Path],
    extras: Mapping[str, bytes],
    *,
    revision: str | None,
    private: bool,
    message: str,
    token: str | None,
) -> str:
    # on use: huggingface_hub and torch only when uploading
    from huggingface_hub import CommitOperationAdd

    client = api(token)
    operations = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(local)) for p, local in files.items()]
    operations += [CommitOperationAdd(path_in_repo=p, path_or_fileobj=data) for p, data in extras.items()]
    with _upload_errors(repo_id):
        client.create_repo(repo_id, private=private, exist_ok=True)
        if revision not in (None, DEFAULT_REVISION):
            client.create_branch(repo_id, branch=revision, exist_ok=True)
        info = client.create_commit(repo_id, operations, commit_message=message, revision=revision)
    log.info("pushed %d files to %s/%s at commit %s", len(operations), hub_endpoint(), repo_id, info.oid)
    return info.oid


@contextmanager
def _upload_errors(repo_id: str) -> Iterator[None]:
    """Turn ``huggingface_hub``'s upload errors into one actionable line."""
    # on use: huggingface_hub and torch only when uploading
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, RepositoryNotFoundError

    endpoint = hub_endpoint()
    try:
        yield
    except HFValidationError as exc:
        raise GenplugError(f"{repo_id!r} is not a valid Hub repository id ({first_line(exc)}).") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if isinstance(exc, RepositoryNotFoundError) or status in (401, 403):
            raise GenplugError(
                f"cannot upload to {repo_id} at {endpoint}: not allowed ({first_line(exc)}); log in with "
                "`hf auth login` or set HF_TOKEN to a token with write access to that namespace."
            ) from None
        raise GenplugError(
            f"the Hub at {endpoint} refused the upload to {repo_id} (HTTP {status}: {first_line(exc)})."
        ) from None
    except network_errors() as exc:
        raise GenplugError(
            f"cannot reach the Hub at {endpoint} to upload {repo_id} ({first_line(exc)}); check your "
            "connection and HF_ENDPOINT."
        ) from None


# -- sample grid ----------------------------------------------------------------------------


def _draw_samples(model: Any, *, seed: int = 0) -> tuple[bytes, str] | None:
    """A PNG of samples (64 images, or 2,000 2-D points) and how it was drawn; ``None`` for other shapes."""
    # on use: huggingface_hub and torch only when uploading
    import torch

    shape = tuple(getattr(model, "event_shape", ()) or ())
    is_image = len(shape) == 3 and shape[0] in (1, 3)
    if not is_image and shape != (2,):
        return None
    n = 64 if is_image else 2000
    device = getattr(model, "device", torch.device("cpu"))
    generator = torch.Generator(device=device).manual_seed(seed)
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        x = sample(model, n, generator=generator).detach().float().cpu()
    finally:
        if was_training:
            model.train()
    picture = image_grid(x) if is_image else scatter(x)
    what = f"{n} images" if is_image else f"{n} points"
    return png_bytes(picture), f"{what} drawn when the model was pushed, with torch.Generator seed {seed}"


def _draw_samples_from_folder(folder: Path) -> tuple[bytes, str] | None:
    """Load the model in ``folder`` and draw its sample grid; ``None`` (logged) when that is not possible here."""
    try:
        return _draw_samples(load(folder))
    except Exception as exc:  # the grid only decorates the card: never let it block an upload
        log.warning("no sample grid for the model card: %s", first_line(exc))
        return None
