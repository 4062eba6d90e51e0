"""Hub transport: model folders downloaded at one commit into the user's Hugging Face cache.

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

:func:`snapshot` fetches a model folder: ``config.json`` + ``model.safetensors``, or a
composite's ``config.json`` whose ``"components"`` name subfolders, each a model folder
(:func:`genplug._folder.walk` says which files). Only those files are fetched, at one
commit, with ``hf_hub_download``; the result is the cache's snapshot folder for that
commit. A revision that is a full commit id and is already cached is served without any
network call. Only safetensors are read: a repository whose weights are ``.bin``, ``.pt``
or ``.ckpt`` files (pickles, which can run code when loaded) is refused with that reason.

Repository ids and revisions are checked against the Hub's rules before anything is
asked of the Hub or the cache (:func:`parse_hub_id`).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from genplug import _folder
from genplug._errors import GenplugError, ModelFileError, shown
from genplug._files import safetensors_header
from genplug._folder import CONFIG_NAME
from genplug._version import __version__

if TYPE_CHECKING:
    from huggingface_hub import HfApi

__all__ = [
    "COMMIT",
    "DEFAULT_REVISION",
    "PICKLE_SUFFIXES",
    "check_repo_id",
    "hub_cache",
    "hub_endpoint",
    "offline_mode",
    "parse_hub_id",
    "snapshot",
    "api",
    "first_line",
    "network_errors",
    "version",
]

log = logging.getLogger("genplug")

DEFAULT_ENDPOINT = "https://huggingface.co"
DEFAULT_REVISION = "main"
# Weight formats genplug never reads: they are pickles, and unpickling can run code.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
COMMIT = re.compile(r"[0-9a-f]{40}")
_TRUE = ("1", "true", "yes", "on")
# The Hub's rules: org and name of letters, digits and - _ . (not starting with - or .,
# no "--" or ".."), at most 96 characters each; revisions are git ref names.
_REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?"
_REPO = re.compile(rf"(?P<repo>{_REPO_PART}/{_REPO_PART})(?:@(?P<revision>[A-Za-z0-9_./-]{{1,255}}))?")


def parse_hub_id(ref: str) -> tuple[str, str | None] | None:
    r"""``"org/name@rev"`` -> ``("org/name", "rev")``; ``None`` when it is not a Hub id.

    The whole string must match (a trailing newline does not), the repository id must
    follow the Hub's rules, and a revision may not climb out of the cache (``..``), be
    absolute, or end in ``/`` or ``.lock``.

    Example:
        >>> parse_hub_id("genplug/diffusion-digits@v1")
        ('genplug/diffusion-digits', 'v1')
        >>> parse_hub_id("hub:genplug/vae") == ("genplug/vae", None)
        True
        >>> parse_hub_id("diffusion") is None, parse_hub_id("org/name@../../x") is None
        (True, True)
        >>> parse_hub_id("org/name\n") is None
        True
    """
    if not isinstance(ref, str):
        return None
    match = _REPO.fullmatch(ref.removeprefix("hub:"))
    if not match:
        return None
    repo, revision = match["repo"], match["revision"]
    if "--" in repo or ".." in repo:
        return None
    if revision is not None:
        parts = revision.split("/")
        if revision.startswith("/") or revision.endswith(("/", ".lock")) or any(p in ("", ".", "..") for p in parts):
            return None
    return repo, revision


def check_repo_id(repo_id: str, revision: str | None = None) -> None:
    """Raise one line unless ``repo_id`` (and ``revision``) follow the Hub's rules."""
    text = repo_id if revision is None else f"{repo_id}@{revision}"
    if parse_hub_id(text) is None:
        raise GenplugError(
            f"{shown(text)} is not a valid Hub reference: write org/name or org/name@revision (letters, digits "
            "and - _ . ; a revision is a branch, tag or commit id without '..')."
        )


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


def api(token: str | None = None) -> HfApi:
    # on use: huggingface_hub is imported only when the Hub is used
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub_endpoint(), token=token, library_name="genplug", library_version=version())


def version() -> str:
    return __version__


def _label(repo_id: str, revision: str | None) -> str:
    return f"{repo_id}@{revision}" if revision else repo_id


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def network_errors() -> tuple[type[BaseException], ...]:
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
    check_repo_id(repo_id, revision)
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
    if revision is not None and COMMIT.fullmatch(revision):
        folder = _cached_snapshot(repo_id, revision, cache)
        if folder is not None:  # a commit never changes: no need to ask the Hub
            return folder
    try:
        return _download(repo_id, revision, cache, token)
    except network_errors() as exc:
        folder = _cached_snapshot(repo_id, revision, cache)
        if folder is None:
            raise ModelFileError(
                f"cannot reach the Hub at {hub_endpoint()} to fetch {label} ({first_line(exc)}) and it is not in "
                f"the cache {cache}: check your connection, or work offline (HF_HUB_OFFLINE=1) with models "
                "fetched before by `genplug download`."
            ) from None
        log.warning(
            "cannot reach the Hub at %s (%s); using the cached copy of %s from commit %s",
            hub_endpoint(),
            first_line(exc),
            label,
            folder.name,
        )
        return folder


def _download(repo_id: str, revision: str | None, cache: Path, token: str | None) -> Path:
    # on use: huggingface_hub is imported only when the Hub is used
    from huggingface_hub import hf_hub_download

    label = _label(repo_id, revision)
    client = api(token)
    wanted = revision or DEFAULT_REVISION
    with _download_errors(repo_id, revision):
        info = client.model_info(repo_id, revision=wanted)
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
                library_version=version(),
            )
        return Path(path)

    # The first file is asked for by the revision's own name, which records the name ->
    # commit link in the cache (refs/); everything else at that exact commit.
    config = fetch(CONFIG_NAME, wanted)
    commit = config.parent.name
    if commit != info.sha:  # the branch moved between the two calls: list the new commit
        with _download_errors(repo_id, revision):
            info = client.model_info(repo_id, revision=commit)
        listing = {s.rfilename for s in info.siblings or ()}

    def need(relative: str) -> Path:
        if relative == CONFIG_NAME:
            return config
        _require(relative, listing, label, commit)
        path = fetch(relative, commit)
        if relative.endswith(".safetensors"):
            safetensors_header(path)  # a damaged file is reported now, not when it is first loaded
        return path

    _folder.walk(need)
    return config.parent


def _cached_snapshot(repo_id: str, revision: str | None, cache: Path) -> Path | None:
    """The cached snapshot of ``repo_id`` at ``revision`` if it is complete, without any network call."""
    # on use: huggingface_hub is imported only when the Hub is used
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
        _folder.walk(need)
    except _Incomplete:
        return None
    return folder


class _Incomplete(Exception):
    pass


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
    # on use: huggingface_hub is imported only when the Hub is used
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
        if isinstance(cause, network_errors()):
            raise cause from None
        raise ModelFileError(
            f"{label}: the Hub at {endpoint} could not be used ({first_line(exc)}); check HF_ENDPOINT and "
            "your connection, or work offline (HF_HUB_OFFLINE=1) with models fetched before."
        ) from None
    except EntryNotFoundError as exc:
        raise ModelFileError(
            f"{label}: a file of the model is missing in the repository ({first_line(exc)}); push the whole "
            f"model folder again with `genplug push DIR {repo_id}`."
        ) from None
    except HFValidationError as exc:
        raise ModelFileError(f"{repo_id!r} is not a valid Hub repository id ({first_line(exc)}).") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        hint = (
            "log in with `hf auth login` or set HF_TOKEN"
            if status in (401, 403)
            else "try again later, or work offline (HF_HUB_OFFLINE=1) with models fetched before"
        )
        raise ModelFileError(
            f"the Hub at {endpoint} refused {label} (HTTP {status}: {first_line(exc)}); {hint}."
        ) from None
