"""Hub ids and revisions, and crafted Hub repositories, against the test Hub of ``tests/hub_server.py``.

Ids are tried with ``genplug.load(id)`` and ``genplug download id``; a malformed id must be
refused before any HTTP request. Crafted repositories are committed with the real
``huggingface_hub`` client (genplug would not push them) and loaded or downloaded.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import genplug
from adversarial import Case, Ctx, cli_problem, cli_refused, cli_succeeds, in_child, invoke, refused, short, succeeds
from adversarial.folders import EVIL_INDEX, read_config, standalone_latent

IDS = "hub: ids and revisions"
REPOS = "hub: crafted repos"


def commit_files(ctx: Ctx, repo_id: str, files: dict[str, bytes]) -> str:
    """Create ``repo_id`` holding ``files``, committed with the real client."""
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(endpoint=ctx.hub.url)
    api.create_repo(repo_id, exist_ok=True)
    ops = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=data) for p, data in files.items()]
    return api.create_commit(repo_id, ops, commit_message="crafted").oid


def folder_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


_GOOD: dict[str, tuple[str, str]] = {}


def good_repo(ctx: Ctx) -> tuple[str, str]:
    """A toy model pushed once per session: (repo id, commit)."""
    if "toy" not in _GOOD:
        repo = f"alice/good-{uuid.uuid4().hex[:8]}"
        _GOOD["toy"] = (repo, genplug.push_folder(ctx.session.bases["toy"], repo, samples=False))
    return _GOOD["toy"]


# -- ids and revisions ------------------------------------------------------------------------------

# (name, id template, expectation): "succeed", "refuse" (may ask the Hub) or "malformed" (refused, no request)
ID_CASES: list[tuple[str, str, str]] = [
    ("plain-id", "{repo}", "succeed"),
    ("id-at-main", "{repo}@main", "succeed"),
    ("id-with-hub-prefix", "hub:{repo}", "succeed"),
    ("id-at-full-commit", "{repo}@{commit}", "succeed"),
    ("missing-repo", "alice/no-such-repo-{hex}", "refuse"),
    ("missing-branch", "{repo}@no-such-branch", "refuse"),
    ("revision-dot-dot", "{repo}@../../x", "malformed"),
    ("revision-absolute-path", "{repo}@/etc/passwd", "malformed"),
    ("revision-dot-dot-inside", "{repo}@main/../../x", "malformed"),
    ("revision-trailing-newline", "{repo}@main\n", "malformed"),
    ("id-trailing-newline", "{repo}\n", "malformed"),
    ("revision-with-nul", "{repo}@ma\x00in", "malformed"),
    ("revision-with-terminal-escape", "{repo}@ma\x1b[2Jin", "malformed"),
    ("revision-empty", "{repo}@", "malformed"),
    ("revision-of-10k-characters", "{repo}@" + "a" * 10_000, "malformed"),
    ("repo-name-dot-dot", "alice/..", "malformed"),
    ("repo-name-dot", "alice/.", "malformed"),
    ("hub-prefix-absolute-path", "hub:/etc/passwd", "malformed"),
    ("hub-prefix-dot-dot", "hub:../../etc", "malformed"),
    ("repo-name-non-ascii", "alice/m\u00f6del", "malformed"),
    ("repo-name-of-200-characters", "alice/" + "x" * 200, "malformed"),
    ("repo-name-leading-dashes", "alice/--model", "malformed"),
    ("id-with-carriage-return", "{repo}\r", "malformed"),
]


def _id_check(template: str, expect: str, action: str) -> Callable[[Ctx], str | None]:
    def check(ctx: Ctx) -> str | None:
        repo, commit = good_repo(ctx)
        ref = template.format(repo=repo, commit=commit, hex=uuid.uuid4().hex[:8])
        before = len(ctx.hub.requests)
        if action == "load":
            verdict = succeeds(lambda: genplug.load(ref)) if expect == "succeed" else refused(lambda: genplug.load(ref))
        else:
            verdict = cli_succeeds(["download", ref]) if expect == "succeed" else cli_refused(["download", ref])
        sent = ctx.hub.requests[before:]
        if verdict is None and expect == "malformed" and sent:
            return f"refused, but only after {len(sent)} HTTP request(s), first {sent[0][0]} {short(sent[0][1], 100)}"
        return verdict

    return check


CASES: list[Case] = [
    Case(f"{action}-{name}", IDS, 0 if expect == "succeed" else 2, _id_check(template, expect, action))
    for action in ("load", "download")
    for name, template, expect in ID_CASES
]


# -- crafted repositories -------------------------------------------------------------------------------


def _doc(ctx: Ctx, base: str, change: Callable[[dict[str, Any]], Any]) -> dict[str, bytes]:
    files = folder_files(ctx.session.bases[base])
    doc = read_config(ctx.session.bases[base])
    changed = change(doc)
    files["config.json"] = json.dumps(doc if changed is None else changed).encode()
    return files


def _plugin(name: str, version: str = "1.0") -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc.update(architecture="flowmatch", plugin={"name": name, "version": version})


def _standalone(encoder: Callable[[Ctx, str], str]) -> Callable[[Ctx, str], dict[str, bytes]]:
    def build(ctx: Ctx, repo: str) -> dict[str, bytes]:
        return folder_files(standalone_latent(ctx, encoder(ctx, repo)))

    return build


def _other_repo(ctx: Ctx, repo: str) -> str:
    other = f"mallory/encoder-{uuid.uuid4().hex[:8]}"
    genplug.push_folder(ctx.session.bases["vae"], other, samples=False)
    return other


def _truncated(ctx: Ctx, repo: str) -> dict[str, bytes]:
    files = folder_files(ctx.session.bases["toy"])
    files["model.safetensors"] = files["model.safetensors"][:-12]  # header intact, data cut short
    return files


def _garbage_header(ctx: Ctx, repo: str) -> dict[str, bytes]:
    files = folder_files(ctx.session.bases["toy"])
    files["model.safetensors"] = (40).to_bytes(8, "little") + b"{not json" + b"\0" * 40
    return files


def _tensor_escape(ctx: Ctx, repo: str) -> dict[str, bytes]:
    from safetensors.torch import load, save

    files = folder_files(ctx.session.bases["toy"])
    tensors = load(files["model.safetensors"])
    tensors["evil\x1b]0;pwned\x07\x1b[2J"] = tensors["mean"].clone()
    files["model.safetensors"] = save(tensors)
    return files


def _int8(ctx: Ctx, repo: str) -> dict[str, bytes]:
    import torch
    from safetensors.torch import load, save

    files = folder_files(ctx.session.bases["toy"])
    files["model.safetensors"] = save({k: v.to(torch.int8) for k, v in load(files["model.safetensors"]).items()})
    return files


def _pickles(ctx: Ctx, repo: str) -> dict[str, bytes]:
    files = folder_files(ctx.session.bases["toy"])
    del files["model.safetensors"]
    files["pytorch_model.bin"] = b"\x80\x04K\x01."
    return files


def _component(change: Callable[[dict[str, Any]], Any]) -> Callable[[Ctx, str], dict[str, bytes]]:
    return lambda ctx, repo: _doc(ctx, "latent", change)


def _path(value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["components"]["encoder"].__setitem__("path", value)


def _nested(ctx: Ctx, repo: str) -> dict[str, bytes]:
    files = folder_files(ctx.session.bases["toy"])
    deep = "[" * 10_000 + "]" * 10_000
    files["config.json"] = (
        '{"format_version": 1, "architecture": "toy-gaussian", "config": {"hidden": ' + deep + "}}"
    ).encode()
    return files


# (name, point, build(ctx, repo) -> files, load expectation, download expectation, forbidden text)
REPO_CASES: list[tuple[str, int, Callable[[Ctx, str], dict[str, bytes]], str, str, tuple[str, ...]]] = [
    ("good-toy-repo", 0, lambda ctx, repo: folder_files(ctx.session.bases["toy"]), "succeed", "succeed", ()),
    ("good-composite-repo", 0, lambda ctx, repo: folder_files(ctx.session.bases["latent"]), "succeed", "succeed", ()),
    ("latent-without-components-encoder-other-repo", 1, _standalone(_other_repo), "refuse", "", ()),
    (
        "latent-without-components-encoder-local-path",
        1,
        _standalone(lambda c, r: str(c.session.bases["vae"])),
        "refuse",
        "",
        (),
    ),
    ("latent-without-components-encoder-itself", 1, _standalone(lambda c, r: r), "refuse", "", ()),
    ("component-path-parent", 1, _component(_path("../other")), "refuse", "refuse", ()),
    ("component-path-absolute", 1, _component(_path("/etc")), "refuse", "refuse", ()),
    (
        "component-entries-as-strings",
        6,
        _component(lambda d: d.update(components={"encoder": "encoder", "prior": "prior"})),
        "refuse",
        "output",
        (),
    ),
    ("config-json-nested-10k-deep", 6, _nested, "refuse", "refuse", ()),
    ("truncated-weights", 8, _truncated, "refuse", "refuse", ()),
    ("weights-with-a-corrupt-header", 8, _garbage_header, "refuse", "refuse", ()),
    (
        "plugin-name-with-terminal-escape",
        3,
        lambda c, r: _doc(c, "toy", _plugin("genplug-x\x1b]0;pwned\x07")),
        "refuse",
        "output",
        (),
    ),
    (
        "plugin-name-with-index-url",
        3,
        lambda c, r: _doc(c, "toy", _plugin(f"genplug-x {EVIL_INDEX}")),
        "refuse",
        "output",
        ("--index-url",),
    ),
    (
        "plugin-version-with-index-url",
        3,
        lambda c, r: _doc(c, "toy", _plugin("genplug-x", f"1 {EVIL_INDEX}")),
        "refuse",
        "output",
        ("--index-url",),
    ),
    ("tensor-name-with-terminal-escape", 3, _tensor_escape, "refuse", "", ()),
    (
        "architecture-name-of-10-mb",
        9,
        lambda c, r: _doc(c, "toy", lambda d: d.update(architecture="a" * 10**7)),
        "refuse",
        "output",
        (),
    ),
    ("weights-as-int8", 7, _int8, "warn", "", ()),
    ("weights-only-as-pickle", 7, _pickles, "refuse", "refuse", ()),
]


def _repo_check(build: Callable, expect: str, action: str, forbid: tuple[str, ...]) -> Callable[[Ctx], str | None]:
    def check(ctx: Ctx) -> str | None:
        repo = f"mallory/crafted-{uuid.uuid4().hex[:8]}"
        commit_files(ctx, repo, build(ctx, repo))
        before = len(ctx.hub.requests)

        def judge() -> str | None:
            if action == "load":
                if expect == "succeed":
                    return succeeds(lambda: genplug.load(repo))
                return refused(lambda: genplug.load(repo), forbid=forbid, warning_is_enough=expect == "warn")
            if expect == "succeed":
                return cli_succeeds(["download", repo])
            if expect == "refuse":
                return cli_refused(["download", repo], forbid=forbid)
            result = invoke(["download", repo])  # "output": downloading is fine, printing raw input is not
            if result.exit_code != 0 or result.crash is not None:
                return cli_problem(result, forbid=forbid)
            printed = result.output.replace("\n", " ")
            from adversarial import message_problem

            return message_problem(printed[:-1] if printed.endswith(" ") else printed, forbid=forbid)

        verdict = in_child(judge, timeout=6, what=f"genplug {action}")  # a repo loading itself recurses over HTTP
        others = sorted(
            {path for _, path in ctx.hub.requests[before:] if repo not in path and "lfs-objects" not in path}
        )
        if others:
            return f"{action} of {repo} sent requests for other repositories: {short(others[0], 100)}"
        return verdict

    return check


for _name, _point, _build, _load, _download, _forbid in REPO_CASES:
    CASES.append(Case(f"load-repo-{_name}", REPOS, _point, _repo_check(_build, _load, "load", _forbid)))
    if _download:
        CASES.append(Case(f"download-repo-{_name}", REPOS, _point, _repo_check(_build, _download, "download", _forbid)))
