"""The Hugging Face Hub: model folders downloaded into the user's cache and uploaded with a card.

Everything goes through ``huggingface_hub``. What it reads from the environment is read
when a function is called, not when a module is imported, so a program (or a test) may
set it late:

==========================  ==========================================================
``HF_ENDPOINT``             the Hub to talk to (default ``https://huggingface.co``)
``HF_HUB_CACHE``            the cache folder (else ``HF_HOME/hub``, else
                            ``~/.cache/huggingface/hub``), shared with every HF library
``HF_HUB_OFFLINE=1``        no network at all: models come from the cache only
``HF_TOKEN``                the access token (or the one saved by ``hf auth login``)
==========================  ==========================================================

**Download** (:func:`snapshot`). A Hub model is a model folder in a repository:
``config.json`` + ``model.safetensors``, or a hybrid's ``config.json`` whose
``"components"`` name subfolders, each a model folder. Only those files are fetched, at
one commit, with ``hf_hub_download``; the result is the cache's snapshot folder for that
commit. A revision that is a full commit id and is already cached is served without any
network call. Only safetensors are read: a repository whose weights are ``.bin``, ``.pt``
or ``.ckpt`` files (pickles, which can run code when loaded) is refused with that reason.

**Upload** (:func:`push_folder`, :func:`push_model`). One commit through
``HfApi.create_commit`` holding the model folder's ``config.json`` and weights (and a
hybrid's component folders), a generated ``README.md`` model card, and, when present in
the folder, the records the card is made from:

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

Every error is a :class:`genplug.ModelFileError` or :class:`genplug.GenplugError` with
one line that says what to do.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from genplug._errors import GenplugError, ModelFileError
from genplug._files import CONFIG_NAME, WEIGHTS_NAME

if TYPE_CHECKING:
    from huggingface_hub import HfApi

log = logging.getLogger("genplug")

DEFAULT_ENDPOINT = "https://huggingface.co"
DEFAULT_REVISION = "main"
CARD_NAME = "README.md"
TRAINING_NAME = "training.json"
EVAL_NAME = "eval.json"
SAMPLES_NAME = "samples.png"
# Weight formats genplug never reads: they are pickles, and unpickling can run code.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_TRUE = ("1", "true", "yes", "on")
# eval.json keys that are settings of the run rather than figures.
_EVAL_SETTINGS = ("architecture", "weights", "data", "n", "sampler", "steps", "seed", "device", "metrics", "command")


# -- environment, read at call time ---------------------------------------------------


def hub_endpoint() -> str:
    """The Hub URL: ``HF_ENDPOINT`` or ``https://huggingface.co``."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hub_cache() -> Path:
    """The Hugging Face cache folder, found as ``huggingface_hub`` documents it."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(os.path.expandvars(explicit)).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "huggingface"
    )
    return Path(os.path.expandvars(home)).expanduser() / "hub"


def offline_mode() -> bool:
    """Whether ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set to a true value."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().lower() in _TRUE


def _api(token: str | None = None) -> HfApi:
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub_endpoint(), token=token, library_name="genplug", library_version=_version())


def _version() -> str:
    from genplug import __version__

    return __version__


def _label(repo_id: str, revision: str | None) -> str:
    return f"{repo_id}@{revision}" if revision else repo_id


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _network_errors() -> tuple[type[BaseException], ...]:
    """Exceptions meaning "the Hub could not be reached" for whichever HTTP stack is in use."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]  # OfflineModeIsEnabled is a ConnectionError
    for name in ("httpx2", "httpx"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "TransportError"):
            errors.append(module.TransportError)
    requests = sys.modules.get("requests")
    if requests is not None:
        errors += [requests.ConnectionError, requests.Timeout]
    return tuple(errors)


# -- download -----------------------------------------------------------------------------


def snapshot(
    repo_id: str,
    *,
    revision: str | None = None,
    local_files_only: bool | None = None,
    token: str | None = None,
) -> Path:
    """A local folder holding the model ``repo_id`` at ``revision``, downloaded if needed.

    Arguments:
        repo_id: ``"org/name"``.
        revision: a branch, a tag or a full commit id; ``None`` is ``main``.
        local_files_only: ``True``: use the cache only; ``None``: only when
            ``HF_HUB_OFFLINE`` is set.
        token: an access token for private repositories (default: ``HF_TOKEN`` or the
            saved login).

    Returns:
        The cache's snapshot folder of the resolved commit, holding ``config.json`` and
        ``model.safetensors`` (for a hybrid: each component's subfolder).
    """
    offline = offline_mode() if local_files_only is None else local_files_only
    label = _label(repo_id, revision)
    cache = hub_cache()
    if offline:
        folder = _cached_snapshot(repo_id, revision, cache)
        if folder is None:
            raise ModelFileError(
                f"{label} is not in the Hugging Face cache {cache} and offline mode is on "
                "(HF_HUB_OFFLINE=1 or local_files_only=True): fetch it once while online with "
                f"`genplug download {label}`, or unset HF_HUB_OFFLINE."
            )
        return folder
    if revision is not None and _COMMIT.match(revision):
        folder = _cached_snapshot(repo_id, revision, cache)
        if folder is not None:  # a commit never changes: no need to ask the Hub
            return folder
    try:
        return _download(repo_id, revision, cache, token)
    except _network_errors() as exc:
        folder = _cached_snapshot(repo_id, revision, cache)
        if folder is None:
            raise ModelFileError(
                f"cannot reach the Hub at {hub_endpoint()} to fetch {label} ({_first_line(exc)}) and it is not in "
                f"the cache {cache}: check your connection, or work offline (HF_HUB_OFFLINE=1) with models "
                "fetched before by `genplug download`."
            ) from None
        log.warning(
            "cannot reach the Hub at %s (%s); using the cached copy of %s from commit %s",
            hub_endpoint(),
            _first_line(exc),
            label,
            folder.name,
        )
        return folder


def _download(repo_id: str, revision: str | None, cache: Path, token: str | None) -> Path:
    from huggingface_hub import hf_hub_download

    label = _label(repo_id, revision)
    api = _api(token)
    wanted = revision or DEFAULT_REVISION
    with _download_errors(repo_id, revision):
        info = api.model_info(repo_id, revision=wanted)
    listing = {s.rfilename for s in info.siblings or ()}
    _require(CONFIG_NAME, listing, label, info.sha)

    def fetch(filename: str, at: str) -> Path:
        with _download_errors(repo_id, revision):
            path = hf_hub_download(
                repo_id,
                filename,
                revision=at,
                cache_dir=cache,
                endpoint=hub_endpoint(),
                token=token,
                library_name="genplug",
                library_version=_version(),
            )
        return Path(path)

    # The first file is asked for by the revision's own name, which records the name ->
    # commit link in the cache (refs/); everything else at that exact commit.
    config = fetch(CONFIG_NAME, wanted)
    commit = config.parent.name
    if commit != info.sha:  # the branch moved between the two calls: list the new commit
        with _download_errors(repo_id, revision):
            info = api.model_info(repo_id, revision=commit)
        listing = {s.rfilename for s in info.siblings or ()}

    def need(relative: str) -> Path:
        if relative == CONFIG_NAME:
            return config
        _require(relative, listing, label, commit)
        return fetch(relative, commit)

    _walk(need)
    return config.parent


def _cached_snapshot(repo_id: str, revision: str | None, cache: Path) -> Path | None:
    """The cached snapshot of ``repo_id`` at ``revision`` if it is complete, without any network call."""
    from huggingface_hub import try_to_load_from_cache

    try:
        config = try_to_load_from_cache(repo_id, CONFIG_NAME, cache_dir=cache, revision=revision or DEFAULT_REVISION)
    except ValueError:  # an invalid repo id or file name
        return None
    if not isinstance(config, str):
        return None
    folder = Path(config).parent

    def need(relative: str) -> Path:
        path = folder / relative
        if not path.is_file():
            raise _Incomplete(relative)
        return path

    try:
        _walk(need)
    except _Incomplete:
        return None
    return folder


class _Incomplete(Exception):
    pass


def _walk(need: Callable[[str], Path], prefix: str = "") -> None:
    """Call ``need`` on every file loading the model folder at ``prefix`` requires, hybrids included."""
    doc = read_index(need(prefix + CONFIG_NAME))
    if "components" in doc:
        for sub in component_paths(doc, source=prefix + CONFIG_NAME):
            _walk(need, f"{prefix}{sub}/")
    else:
        need(prefix + WEIGHTS_NAME)


def read_index(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{path} is not a readable JSON file ({_first_line(exc)}).") from None
    if not isinstance(doc, dict) or not ("architecture" in doc or "components" in doc):
        raise ModelFileError(
            f"{path} names neither an 'architecture' nor 'components': it is not a genplug config.json."
        )
    return doc


def component_paths(doc: Mapping[str, Any], *, source: str) -> list[str]:
    """The subfolders a hybrid's ``config.json`` names under ``"components"``."""
    components = doc["components"]
    if not isinstance(components, Mapping) or not components:
        raise ModelFileError(f"{source}: 'components' must map each component's name to its subfolder.")
    paths = []
    for name, entry in components.items():
        sub = entry.get("path", name) if isinstance(entry, Mapping) else entry
        parts = PurePosixPath(str(sub)).parts
        if not isinstance(sub, str) or not parts or sub.startswith("/") or ".." in parts:
            raise ModelFileError(
                f"{source}: component {name!r} has path {sub!r}; it must be a subfolder inside the model folder."
            )
        paths.append(str(PurePosixPath(sub)))
    return paths


def _require(filename: str, listing: set[str], label: str, commit: str | None) -> None:
    """Raise the "file missing" error (or the pickle refusal) unless ``filename`` is in ``listing``."""
    if filename in listing:
        return
    at = f" at commit {commit[:7]}" if commit else ""
    folder = str(PurePosixPath(filename).parent)
    folder = "" if folder == "." else folder + "/"
    beside = sorted(f for f in listing if f.startswith(folder) and "/" not in f[len(folder) :])
    pickles = [f for f in beside if f.endswith(PICKLE_SUFFIXES)]
    if pickles and not any(f.endswith(".safetensors") for f in beside):
        raise ModelFileError(
            f"{label}{at} offers its weights only as {', '.join(pickles)}; genplug reads safetensors only, because "
            "loading .bin/.pt/.ckpt files unpickles them and can run arbitrary code. Ask the owner for a "
            "model.safetensors (or convert a copy you trust with safetensors.torch.save_file and push it)."
        )
    if filename.endswith(CONFIG_NAME) and not folder:
        raise ModelFileError(
            f"{label}{at} has no {CONFIG_NAME}, so it is not a genplug model repository (it holds "
            f"{', '.join(sorted(listing)[:8]) or 'no files'}); check the id, or push a model folder with "
            f"`genplug push DIR {label.split('@')[0]}`."
        )
    raise ModelFileError(
        f"{label}{at} has no {filename}: the repository holds an incomplete genplug model folder; push the "
        f"whole folder again with `genplug push DIR {label.split('@')[0]}`."
    )


@contextmanager
def _download_errors(repo_id: str, revision: str | None) -> Iterator[None]:
    """Turn ``huggingface_hub``'s download errors into one actionable line (network errors pass through)."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    label = _label(repo_id, revision)
    endpoint = hub_endpoint()
    try:
        yield
    except OfflineModeIsEnabled:
        raise  # a network error: snapshot falls back to the cache
    except GatedRepoError:
        raise ModelFileError(
            f"{repo_id} is gated at {endpoint}: accept its conditions on its Hub page, then log in with "
            "`hf auth login` or set HF_TOKEN."
        ) from None
    except RepositoryNotFoundError:
        raise ModelFileError(
            f"Hub repository {repo_id!r} was not found at {endpoint}: check the id (org/name); if it is "
            "private, log in with `hf auth login` or set HF_TOKEN."
        ) from None
    except RevisionNotFoundError:
        raise ModelFileError(
            f"revision {revision!r} was not found in {repo_id}: give an existing branch, tag or full "
            f"commit id after '@', or write {repo_id} alone for the main branch."
        ) from None
    except LocalEntryNotFoundError as exc:  # hf_hub_download could not reach the Hub
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, _network_errors()):
            raise cause from None
        raise ModelFileError(
            f"{label}: the Hub at {endpoint} could not be used ({_first_line(exc)}); check HF_ENDPOINT and "
            "your connection, or work offline (HF_HUB_OFFLINE=1) with models fetched before."
        ) from None
    except EntryNotFoundError as exc:
        raise ModelFileError(
            f"{label}: a file of the model is missing in the repository ({_first_line(exc)}); push the whole "
            f"model folder again with `genplug push DIR {repo_id}`."
        ) from None
    except HFValidationError as exc:
        raise ModelFileError(f"{repo_id!r} is not a valid Hub repository id ({_first_line(exc)}).") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        hint = (
            "log in with `hf auth login` or set HF_TOKEN"
            if status in (401, 403)
            else "try again later, or work offline (HF_HUB_OFFLINE=1) with models fetched before"
        )
        raise ModelFileError(
            f"the Hub at {endpoint} refused {label} (HTTP {status}: {_first_line(exc)}); {hint}."
        ) from None


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
    files = _upload_files(folder)
    doc = read_index(folder / CONFIG_NAME)
    extras: dict[str, bytes] = {}
    training = card_info.get("training") or _optional_json(folder / TRAINING_NAME)
    evaluation = card_info.get("evaluation") or _optional_json(folder / EVAL_NAME)
    for name in (TRAINING_NAME, EVAL_NAME, SAMPLES_NAME):
        if (folder / name).is_file():
            files[name] = folder / name
    sample_note = card_info.get("samples", "from the uploaded folder") if SAMPLES_NAME in files else None
    if sample_note is None and samples:
        drawn = _draw_samples_from_folder(folder)
        if drawn is not None:
            extras[SAMPLES_NAME], sample_note = drawn
    if (folder / CARD_NAME).is_file():
        files[CARD_NAME] = folder / CARD_NAME
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
    message = commit_message or f"Upload {doc.get('architecture') or 'hybrid'} with genplug {_version()}"
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
    from genplug._model import save_model

    _check_can_upload(repo_id, revision)
    with tempfile.TemporaryDirectory(prefix="genplug-push-") as tmp:
        folder = Path(tmp)
        if callable(getattr(model, "save_pretrained", None)):
            model.save_pretrained(folder)
        else:
            save_model(model, folder)
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
    if offline_mode():
        raise GenplugError(f"cannot upload {repo_id}: offline mode is on (HF_HUB_OFFLINE is set); unset it to push.")
    if revision is not None and _COMMIT.match(revision):
        raise GenplugError(f"revision {revision!r} is a commit id; uploads go to a branch (main, dev, ...).")


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
        if not path.is_file():
            here = path.parent
            pickles = sorted(p.name for p in here.iterdir() if p.suffix in PICKLE_SUFFIXES) if here.is_dir() else []
            why = (
                f"; it holds {', '.join(pickles)}, which genplug never uploads or reads (pickles can run code): "
                "save the model with save_pretrained to get safetensors"
                if pickles
                else ""
            )
            raise ModelFileError(f"{path} does not exist, so {folder} is not a complete model folder{why}.")
        if relative.endswith(".safetensors"):
            _check_safetensors(path)
        files[relative] = path
        return path

    _walk(need)
    return files


def _check_safetensors(path: Path) -> None:
    """Fail before uploading a weights file that is not safetensors (its 8-byte length + JSON header)."""
    with open(path, "rb") as f:
        head = f.read(8)
        size = int.from_bytes(head, "little") if len(head) == 8 else -1
        ok = 0 < size <= 100 * 2**20 and size + 8 <= path.stat().st_size
        if ok:
            try:
                ok = isinstance(json.loads(f.read(size)), dict)
            except ValueError:
                ok = False
    if not ok:
        raise ModelFileError(f"{path} is not a safetensors file (corrupt or another format); save the model again.")


def _optional_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
    except ValueError as exc:
        raise ModelFileError(
            f"{path} is not valid JSON ({_first_line(exc)}); fix or delete it before pushing."
        ) from None
    if not isinstance(doc, dict):
        raise ModelFileError(f"{path} must hold a JSON object; fix or delete it before pushing.")
    return doc


def _component_docs(folder: Path, doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    if "components" not in doc:
        return {}
    names = list(doc["components"])
    paths = component_paths(doc, source=str(folder / CONFIG_NAME))
    return {name: read_index(folder / sub / CONFIG_NAME) for name, sub in zip(names, paths, strict=True)}


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
    from huggingface_hub import CommitOperationAdd

    api = _api(token)
    operations = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(local)) for p, local in files.items()]
    operations += [CommitOperationAdd(path_in_repo=p, path_or_fileobj=data) for p, data in extras.items()]
    with _upload_errors(repo_id):
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision not in (None, DEFAULT_REVISION):
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.create_commit(repo_id, operations, commit_message=message, revision=revision)
    log.info("pushed %d files to %s/%s at commit %s", len(operations), hub_endpoint(), repo_id, info.oid)
    return info.oid


@contextmanager
def _upload_errors(repo_id: str) -> Iterator[None]:
    """Turn ``huggingface_hub``'s upload errors into one actionable line."""
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, RepositoryNotFoundError

    endpoint = hub_endpoint()
    try:
        yield
    except HFValidationError as exc:
        raise GenplugError(f"{repo_id!r} is not a valid Hub repository id ({_first_line(exc)}).") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if isinstance(exc, RepositoryNotFoundError) or status in (401, 403):
            raise GenplugError(
                f"cannot upload to {repo_id} at {endpoint}: not allowed ({_first_line(exc)}); log in with "
                "`hf auth login` or set HF_TOKEN to a token with write access to that namespace."
            ) from None
        raise GenplugError(
            f"the Hub at {endpoint} refused the upload to {repo_id} (HTTP {status}: {_first_line(exc)})."
        ) from None
    except _network_errors() as exc:
        raise GenplugError(
            f"cannot reach the Hub at {endpoint} to upload {repo_id} ({_first_line(exc)}); check your "
            "connection and HF_ENDPOINT."
        ) from None


# -- sample grid ----------------------------------------------------------------------------


def _draw_samples(model: Any, *, seed: int = 0) -> tuple[bytes, str] | None:
    """A PNG of samples (64 images, or 2,000 2-D points) and how it was drawn; ``None`` for other shapes."""
    import torch

    from genplug._api import sample
    from genplug._images import image_grid, png_bytes, scatter

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
    from genplug._api import load

    try:
        return _draw_samples(load(folder))
    except Exception as exc:  # the grid only decorates the card: never let it block an upload
        log.warning("no sample grid for the model card: %s", _first_line(exc))
        return None


# -- model card ------------------------------------------------------------------------------


def model_card(
    doc: Mapping[str, Any],
    *,
    repo_id: str,
    components: Mapping[str, Mapping[str, Any]] | None = None,
    training: Mapping[str, Any] | None = None,
    evaluation: Mapping[str, Any] | None = None,
    samples: str | None = None,
    license: str | None = None,
    description: str | None = None,
    tags: tuple[str, ...] | list[str] = (),
) -> str:
    """The ``README.md`` of a genplug model repository.

    Arguments:
        doc: the model's ``config.json`` content.
        repo_id: where it is uploaded (used in the usage lines).
        components: a hybrid's components: name -> that component's ``config.json``.
        training: the ``training.json`` record, or ``None`` (the card says it was not recorded).
        evaluation: the ``eval.json`` figures, or ``None`` (the card says there are none).
        samples: how ``samples.png`` was made, or ``None`` when there is no sample image.
        license: a Hub licence id; ``None`` writes ``other`` and says no licence was stated.
        description: a paragraph of your own, placed under the title.
        tags: extra tags.
    """
    components = dict(components or {})
    architecture = doc.get("architecture") or "hybrid"
    plugin = doc.get("plugin") or {}
    dist, dist_version = plugin.get("name"), plugin.get("version")
    spec = _architecture_spec(architecture)
    family = "hybrid" if components else (spec.family if spec else None)
    config = doc.get("config") or {}
    shape = config.get("data_shape")
    is_image = isinstance(shape, (list, tuple)) and len(shape) == 3

    all_tags = ["genplug", architecture]
    if family and family != "other":
        all_tags.append(family)
    if dist:
        all_tags.append(dist)
    for part in components.values():
        part_dist = (part.get("plugin") or {}).get("name")
        all_tags += [t for t in (part.get("architecture"), part_dist) if t]
    all_tags += list(tags)
    unique_tags = list(dict.fromkeys(str(t) for t in all_tags))
    yaml = ["---", "library_name: genplug", f"license: {license or 'other'}"]
    if is_image:
        yaml.append("pipeline_tag: unconditional-image-generation")
    yaml += ["tags:", *(f"- {_yaml_scalar(t)}" for t in unique_tags), "---", ""]

    plugins = [d for d in [dist, *((p.get("plugin") or {}).get("name") for p in components.values())] if d]
    install = " ".join(["genplug", *dict.fromkeys(plugins)])
    kind = f"a `{architecture}` model" + (f" ({family} family)" if family not in (None, "other", "hybrid") else "")
    if components:
        parts = ", ".join(f"{name}: `{part.get('architecture')}`" for name, part in components.items())
        kind = f"a genplug hybrid of {len(components)} components ({parts})"
    what = f"This is {kind} for [genplug](https://pypi.org/project/genplug/)"
    what += f", from the plugin `{dist}` {dist_version or ''}".rstrip() if dist else ""
    what += f", saved with genplug {doc.get('genplug_version', '?')}."
    lines = [*yaml, f"# {repo_id}", "", what]
    if spec is not None and spec.description:
        lines += ["", f"`{architecture}`: {spec.description}."]
    if description:
        lines += ["", description.strip()]
    if shape is not None:
        lines += ["", f"One sample has shape `{tuple(shape)}`."]

    lines += ["", "## Use", "", "```bash", f"pip install {install}"]
    if not components:
        lines.append(f"genplug run {architecture} --weights {repo_id} -n 64 -o samples.png")
    lines += [
        "```",
        "",
        "```python",
        "import torch",
        "import genplug",
        "",
        f'model = genplug.load("{repo_id}")  # pin a commit with "{repo_id}@<commit>"',
        "x = genplug.sample(model, 16, generator=torch.Generator().manual_seed(0))",
        "```",
    ]
    if config:
        lines += ["", "## Configuration", "", "| field | value |", "| --- | --- |"]
        lines += [f"| `{k}` | `{_cell(v)}` |" for k, v in config.items()]
    for name, part in components.items():
        part_config = part.get("config") or {}
        lines += ["", f"### Component `{name}`: `{part.get('architecture')}`"]
        if part_config:
            lines += ["", "| field | value |", "| --- | --- |"]
            lines += [f"| `{k}` | `{_cell(v)}` |" for k, v in part_config.items()]

    lines += ["", "## Training", ""]
    if training:
        command = training.get("command")
        if command:
            lines += ["Trained with:", "", "```bash", str(command), "```"]
        else:
            lines += ["The exact training command was not recorded."]
        settings = dict(training.get("train_config") or {})
        if training.get("data") is not None:
            settings = {"data": training["data"], **settings}
        if settings:
            lines += ["", "| setting | value |", "| --- | --- |"]
            lines += [f"| {k} | `{_cell(v)}` |" for k, v in settings.items() if v is not None]
    else:
        lines += ["How this model was trained was not recorded (the upload had no `training.json`)."]

    lines += ["", "## Evaluation", ""]
    figures = _figures(evaluation) if evaluation else {}
    if figures:
        assert evaluation is not None
        settings = {
            k: evaluation[k] for k in ("data", "n", "seed", "sampler", "steps") if evaluation.get(k) is not None
        }
        lines += [
            "Figures from `genplug eval`"
            + (f" ({', '.join(f'{k} {v}' for k, v in settings.items())})" if settings else "")
            + ":",
            "",
            "| figure | value |",
            "| --- | --- |",
        ]
        lines += [f"| {k} | {_number(v)} |" for k, v in figures.items()]
        command = evaluation.get("command") or _eval_command(architecture, repo_id, evaluation)
        if command and not components:
            lines += ["", "Reproduce with:", "", "```bash", str(command), "```"]
    else:
        lines += ["This model has not been evaluated with `genplug eval` (the upload had no `eval.json`)."]

    lines += ["", "## Samples", ""]
    if samples:
        lines += [f"![samples]({SAMPLES_NAME})", "", f"`{SAMPLES_NAME}`: {samples}."]
    else:
        lines += ["No sample image was uploaded with this model."]
    lines += ["", "## Licence", ""]
    lines += [
        f"`{license}`." if license else "The uploader did not state a licence (`genplug push --license ID` sets one)."
    ]
    return "\n".join(lines) + "\n"


def _architecture_spec(name: str) -> Any:
    from genplug._plugins import registry

    try:
        return registry().architectures.get(name)
    except Exception:  # the card is still useful without the registry's family and description
        return None


def _figures(evaluation: Mapping[str, Any]) -> dict[str, Any]:
    nested = evaluation.get("metrics")
    figures = dict(nested) if isinstance(nested, Mapping) else {}
    for key, value in evaluation.items():
        if key in _EVAL_SETTINGS or isinstance(value, (dict, list)) or value is None:
            continue
        if isinstance(value, bool) or (isinstance(value, str) and len(value) > 40):
            continue
        figures[key] = value
    return figures


def _eval_command(architecture: str, repo_id: str, evaluation: Mapping[str, Any]) -> str:
    parts = ["genplug eval", architecture, "--weights", repo_id]
    for key, flag in (
        ("data", "--data"),
        ("n", "-n"),
        ("sampler", "--sampler"),
        ("steps", "--steps"),
        ("seed", "--seed"),
    ):
        if evaluation.get(key) is not None:
            parts += [flag, str(evaluation[key])]
    return " ".join(parts)


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _cell(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (list, tuple, dict)) else str(value)
    return text.replace("|", "\\|")


def _yaml_scalar(text: str) -> str:
    return text if re.match(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$", text) else json.dumps(text)
