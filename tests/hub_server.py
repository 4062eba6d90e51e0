"""A small Hugging Face Hub-compatible HTTP server for tests (standard library only).

It speaks just enough of the Hub's HTTP API for the real ``huggingface_hub`` client to
download, list and upload model repositories through ``HF_ENDPOINT``:

==========================================================  ============================================
endpoint                                                    used by
==========================================================  ============================================
``POST /api/repos/create``                                  ``create_repo`` (409 + ``url`` when it exists)
``POST /api/validate-yaml``                                 ``create_commit`` of a ``README.md``
``GET /api/models/{repo}[/revision/{rev}]``                 ``model_info`` / ``repo_info`` (``sha``, ``siblings``)
``GET /api/models/{repo}/tree/{rev}[/{path}]``              ``list_repo_tree``, ``snapshot_download``
``POST /api/models/{repo}/preupload/{rev}``                 upload mode of each file (regular or LFS)
``POST /{repo}.git/info/lfs/objects/batch``                 LFS batch: where to PUT each LFS object
``PUT /lfs-objects/{repo}/{oid}``                           the LFS bytes (sha256 checked)
``POST /api/models/{repo}/commit/{rev}``                    ndjson commit: header, file, lfsFile, deleted*
``POST /api/models/{repo}/branch/{branch}``                 ``create_branch`` (409 when it exists)
``POST /api/models/{repo}/tag/{rev}``                       ``create_tag``
``HEAD|GET /{repo}/resolve/{rev}/{path}``                   ``hf_hub_download``: ``X-Repo-Commit``, ``ETag``,
                                                            ``X-Linked-Etag``/``X-Linked-Size`` for LFS files
==========================================================  ============================================

Errors carry the ``X-Error-Code`` header (``RepoNotFound``, ``RevisionNotFound``,
``EntryNotFound``) that ``huggingface_hub`` turns into its exception classes.

Commits are git-like: each has a sha1 id computed from its parent, message and file
ids, branches and tags point at commits, and a revision is a branch, a tag or a full
commit id. A new repository starts with one commit holding ``.gitattributes``, as on the
Hub. Everything lives in memory. No authentication is checked.

Usage::

    with HubServer() as hub:
        os.environ["HF_ENDPOINT"] = hub.url
        ...
        hub.requests  # every (method, path) received, for "no network call" checks
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

# Files the preupload endpoint sends through LFS (the Hub decides by .gitattributes).
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".png", ".npy", ".gz")
GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.png filter=lfs diff=lfs merge=lfs -text\n"


def git_blob_id(data: bytes) -> str:
    """The git object id of a blob: what the Hub returns as a regular file's ETag."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class Blob:
    data: bytes
    lfs: bool  # stored through LFS (ETag is the sha256) or as a regular git blob

    @property
    def oid(self) -> str:
        return git_blob_id(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Commit:
    sha: str
    parent: str | None
    message: str
    files: dict[str, Blob]


@dataclass
class Repo:
    repo_id: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    lfs: dict[str, bytes] = field(default_factory=dict)  # sha256 -> bytes uploaded, not yet committed

    def resolve(self, revision: str) -> Commit | None:
        sha = self.branches.get(revision) or self.tags.get(revision) or revision
        return self.commits.get(sha)

    def commit(self, branch: str, files: dict[str, Blob], message: str) -> Commit:
        parent = self.branches.get(branch)
        listing = sorted((path, blob.oid) for path, blob in files.items())
        sha = hashlib.sha1(json.dumps([parent, message, listing, time.time_ns()]).encode()).hexdigest()
        commit = Commit(sha=sha, parent=parent, message=message, files=dict(files))
        self.commits[sha] = commit
        self.branches[branch] = sha
        return commit


class HubError(Exception):
    """An HTTP error response with the Hub's ``X-Error-Code``."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


class HubServer:
    """A Hub-compatible server on ``127.0.0.1`` and a random port, in a background thread."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="test-hub", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state helpers for tests -------------------------------------------------------

    def head(self, repo_id: str, branch: str = "main") -> str:
        """The commit id ``branch`` of ``repo_id`` points at."""
        return self.repos[repo_id].branches[branch]

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """Every file of ``repo_id`` at ``revision``: path -> bytes."""
        commit = self.repos[repo_id].resolve(revision)
        assert commit is not None, f"no revision {revision} in {repo_id}"
        return {path: blob.data for path, blob in commit.files.items()}

    # -- the API -------------------------------------------------------------------------

    def _repo(self, repo_id: str) -> Repo:
        repo = self.repos.get(repo_id)
        if repo is None:
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return repo

    def _commit(self, repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def create_repo(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name, org = body["name"], body.get("organization")
        repo_id = f"{org}/{name}" if org else f"user/{name}"
        url = f"{self.url}/{repo_id}"
        if repo_id in self.repos:
            return 409, {"error": "You already created this model repo", "url": url}
        repo = Repo(repo_id=repo_id, private=body.get("visibility") == "private" or bool(body.get("private")))
        repo.commit("main", {".gitattributes": Blob(GITATTRIBUTES, lfs=False)}, "initial commit")
        self.repos[repo_id] = repo
        return 200, {"url": url, "name": repo_id, "id": repo_id}

    def info(self, repo_id: str, revision: str) -> dict[str, Any]:
        repo = self._repo(repo_id)
        commit = self._commit(repo, revision)
        return {
            "id": repo_id,
            "modelId": repo_id,
            "sha": commit.sha,
            "private": repo.private,
            "siblings": [{"rfilename": path} for path in sorted(commit.files)],
            "tags": [],
        }

    def tree(self, repo_id: str, revision: str, prefix: str, recursive: bool) -> list[dict[str, Any]]:
        commit = self._commit(self._repo(repo_id), revision)
        prefix = prefix.strip("/")
        entries: dict[str, dict[str, Any]] = {}
        for path, blob in sorted(commit.files.items()):
            if prefix and not path.startswith(prefix + "/"):
                continue
            rest = path[len(prefix) + 1 :] if prefix else path
            parts = rest.split("/")
            base = f"{prefix}/" if prefix else ""
            for depth in range(1, len(parts)):  # the folders on the way
                folder = base + "/".join(parts[:depth])
                if depth == 1 or recursive:
                    entries.setdefault(
                        folder,
                        {
                            "type": "directory",
                            "oid": hashlib.sha1(folder.encode()).hexdigest(),
                            "size": 0,
                            "path": folder,
                        },
                    )
            if len(parts) > 1 and not recursive:
                continue
            entry: dict[str, Any] = {"type": "file", "oid": blob.oid, "size": len(blob.data), "path": path}
            if blob.lfs:
                entry["lfs"] = {"oid": blob.sha256, "size": len(blob.data), "pointerSize": 134}
            entries[path] = entry
        return list(entries.values())

    def preupload(self, repo_id: str, revision: str, body: dict[str, Any]) -> dict[str, Any]:
        repo = self._repo(repo_id)
        commit = repo.resolve(revision)
        files = []
        for item in body["files"]:
            path = item["path"]
            lfs = path.endswith(LFS_SUFFIXES) or item["size"] > 10 * 2**20
            existing = commit.files.get(path) if commit else None
            oid = None if existing is None else (existing.sha256 if existing.lfs else existing.oid)
            files.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
        return {"files": files, "commitOid": commit.sha if commit else None}

    def lfs_batch(self, repo_id: str, body: dict[str, Any]) -> dict[str, Any]:
        repo = self._repo(repo_id)
        objects = []
        for obj in body["objects"]:
            entry: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in repo.lfs:
                href = f"{self.url}/lfs-objects/{repo_id}/{obj['oid']}"
                entry["actions"] = {"upload": {"href": href, "header": {}}}
            objects.append(entry)
        return {"transfer": "basic", "objects": objects}

    def lfs_put(self, repo_id: str, oid: str, data: bytes) -> None:
        repo = self._repo(repo_id)
        if hashlib.sha256(data).hexdigest() != oid:
            raise HubError(400, f"LFS object {oid}: the bytes received have another sha256")
        repo.lfs[oid] = data

    def commit(self, repo_id: str, revision: str, lines: list[dict[str, Any]]) -> dict[str, Any]:
        repo = self._repo(repo_id)
        if revision not in repo.branches:
            if repo.resolve(revision) is not None:
                raise HubError(400, f"cannot commit to {revision}: it is not a branch")
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        files = dict(self._commit(repo, revision).files)
        message = ""
        for line in lines:
            key, value = line["key"], line["value"]
            if key == "header":
                message = value["summary"]
                parent = value.get("parentCommit")
                if parent and parent != repo.branches[revision]:
                    raise HubError(412, "parent commit is not the head of the branch")
            elif key == "file":
                data = base64.b64decode(value["content"]) if value.get("encoding") == "base64" else value["content"]
                files[value["path"]] = Blob(data if isinstance(data, bytes) else data.encode(), lfs=False)
            elif key == "lfsFile":
                data = repo.lfs.get(value["oid"])
                if data is None:
                    raise HubError(422, f"LFS object {value['oid']} of {value['path']} was never uploaded")
                files[value["path"]] = Blob(data, lfs=True)
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    raise HubError(404, f"A file with this name doesn't exist: {value['path']}", "EntryNotFound")
            elif key == "deletedFolder":
                for path in [p for p in files if p.startswith(value["path"].rstrip("/") + "/")]:
                    del files[path]
            else:
                raise HubError(400, f"unknown commit operation {key!r}")
        commit = repo.commit(revision, files, message)
        return {"commitUrl": f"{self.url}/{repo_id}/commit/{commit.sha}", "commitOid": commit.sha, "success": True}

    def create_branch(self, repo_id: str, branch: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        repo = self._repo(repo_id)
        if branch in repo.branches:
            return 409, {"error": f"Branch {branch} already exists"}
        start = self._commit(repo, body.get("startingPoint") or "main")
        repo.branches[branch] = start.sha
        return 200, {}

    def create_tag(self, repo_id: str, revision: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        repo = self._repo(repo_id)
        commit = self._commit(repo, revision)
        if body["tag"] in repo.tags:
            return 409, {"error": f"Tag {body['tag']} already exists"}
        repo.tags[body["tag"]] = commit.sha
        return 200, {}

    def resolve_file(self, repo_id: str, revision: str, path: str) -> tuple[Commit, Blob]:
        commit = self._commit(self._repo(repo_id), revision)
        blob = commit.files.get(path)
        if blob is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": commit.sha})
        return commit, blob


def _make_handler(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures, not traffic
            pass

        # -- plumbing ----------------------------------------------------------------------

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _json_body(self) -> dict[str, Any]:
            data = self._body()
            return json.loads(data) if data else {}

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None, head: bool = False) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})})

        def _dispatch(self, method: str) -> None:
            url = urlsplit(self.path)
            with hub._lock:
                hub.requests.append((method, url.path))
            try:
                self._route(method, url.path, parse_qs(url.query))
            except HubError as err:
                headers = {"X-Error-Message": err.message, **err.headers}
                if err.code:
                    headers["X-Error-Code"] = err.code
                body = json.dumps({"error": err.message}).encode()
                self._send(err.status, body, {"Content-Type": "application/json", **headers}, head=method == "HEAD")

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_HEAD(self) -> None:
            self._dispatch("HEAD")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        # -- routes ------------------------------------------------------------------------

        def _route(self, method: str, path: str, query: dict[str, list[str]]) -> None:
            # Split before unquoting: a quoted revision ("refs%2Fpr%2F1") is one segment.
            parts = [unquote(p) for p in path.strip("/").split("/")]
            if method == "POST" and parts == ["api", "repos", "create"]:
                status, obj = hub.create_repo(self._json_body())
                return self._json(status, obj)
            if method == "POST" and parts == ["api", "validate-yaml"]:
                content = self._json_body().get("content", "")
                errors = [] if content.startswith("---\n") else [{"message": "no YAML metadata block"}]
                return self._json(400 if errors else 200, {"errors": errors, "warnings": []})
            if parts[:2] == ["api", "models"] and len(parts) >= 4:
                repo_id, action, rest = f"{parts[2]}/{parts[3]}", parts[4:5], parts[5:]
                with hub._lock:
                    return self._api(method, repo_id, action[0] if action else None, rest, query)
            if (
                method == "POST"
                and len(parts) == 6
                and parts[1].endswith(".git")
                and parts[2:] == ["info", "lfs", "objects", "batch"]
            ):
                repo_id = f"{parts[0]}/{parts[1].removesuffix('.git')}"
                body = self._json_body()
                with hub._lock:
                    obj = hub.lfs_batch(repo_id, body)
                return self._send(200, json.dumps(obj).encode(), {"Content-Type": "application/vnd.git-lfs+json"})
            if method == "PUT" and len(parts) == 4 and parts[0] == "lfs-objects":
                data = self._body()
                with hub._lock:
                    hub.lfs_put(f"{parts[1]}/{parts[2]}", parts[3], data)
                return self._send(200, b"")
            if method in ("GET", "HEAD") and len(parts) >= 5 and parts[2] == "resolve":
                with hub._lock:
                    commit, blob = hub.resolve_file(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]))
                headers = {"X-Repo-Commit": commit.sha, "Content-Type": "application/octet-stream"}
                if blob.lfs:
                    headers |= {"ETag": f'"{blob.sha256}"', "X-Linked-Etag": f'"{blob.sha256}"'}
                    headers["X-Linked-Size"] = str(len(blob.data))
                else:
                    headers["ETag"] = f'"{blob.oid}"'
                return self._send(200, blob.data, headers, head=method == "HEAD")
            raise HubError(501, f"the test hub does not implement {method} {path}")

        def _api(
            self, method: str, repo_id: str, action: str | None, rest: list[str], query: dict[str, list[str]]
        ) -> None:
            if method == "GET" and action is None:
                return self._json(200, hub.info(repo_id, "main"))
            if method == "GET" and action == "revision" and len(rest) == 1:
                return self._json(200, hub.info(repo_id, rest[0]))
            if method == "GET" and action == "tree" and rest:
                recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
                return self._json(200, hub.tree(repo_id, rest[0], "/".join(rest[1:]), recursive))
            if method == "POST" and action == "preupload" and len(rest) == 1:
                return self._json(200, hub.preupload(repo_id, rest[0], self._json_body()))
            if method == "POST" and action == "commit" and len(rest) == 1:
                lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
                return self._json(200, hub.commit(repo_id, rest[0], lines))
            if method == "POST" and action == "branch" and len(rest) == 1:
                status, obj = hub.create_branch(repo_id, rest[0], self._json_body())
                return self._json(status, obj)
            if method == "POST" and action == "tag" and len(rest) == 1:
                status, obj = hub.create_tag(repo_id, rest[0], self._json_body())
                return self._json(status, obj)
            raise HubError(501, f"the test hub does not implement {method} /api/models/{repo_id}/{action}")

    return Handler


def hub_environment(monkeypatch: Any, hub: HubServer, home: Path) -> Path:
    """Point ``huggingface_hub`` at ``hub`` with a fresh cache under ``home``; returns the cache folder.

    The environment is what users set. ``huggingface_hub`` also copies ``HF_HUB_DISABLE_XET``
    and ``HF_HUB_OFFLINE`` into module constants when it is first imported, which may have
    happened earlier in this process, so those two constants are set to the same values.
    """
    import huggingface_hub.constants

    cache = home / "hub"
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_TOKEN", "hf_test_dummy_token")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    return cache
