"""Argument fuzz over every subcommand: list, info, doctor, run, train, eval, new-plugin, push, download.

Commands run in-process through click's ``CliRunner``; the few that need a memory or time
bound run in a forked child (:func:`adversarial.in_child`). ``download`` is fuzzed with
Hub ids in ``adversarial.hub``.
"""

from __future__ import annotations

import json
import shutil
import struct
import uuid
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from adversarial import Case, Ctx, cli_problem, cli_refused, cli_succeeds, in_child, invoke, short

CATEGORY = "cli: argument fuzz"
BIG = str(2**70)


CASES: list[Case] = []


def case(name: str, point: int) -> Callable[[Callable[[Ctx], str | None]], Callable[[Ctx], str | None]]:
    def register(check: Callable[[Ctx], str | None]) -> Callable[[Ctx], str | None]:
        CASES.append(Case(name, CATEGORY, point, check))
        return check

    return register


def refuse(name: str, point: int, args: Callable[[Ctx], Sequence[str]], *, forbid: Sequence[str] = ()) -> None:
    case(name, point)(lambda ctx: cli_refused([str(a) for a in args(ctx)], forbid=forbid))


def succeed(name: str, args: Callable[[Ctx], Sequence[str]]) -> None:
    case(name, 0)(lambda ctx: cli_succeeds([str(a) for a in args(ctx)]))


def bounded(name: str, point: int, args: Callable[[Ctx], Sequence[str]], timeout: float) -> None:
    """Refused cleanly within ``timeout`` seconds and a 3 GB memory limit (a forked child)."""

    def check(ctx: Ctx) -> str | None:
        argv = [str(a) for a in args(ctx)]
        return in_child(lambda: cli_refused(argv), timeout=timeout, what=f"genplug {argv[0]}")

    case(name, point)(check)


# -- files the commands read ------------------------------------------------------------------------


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose IHDR claims ``width`` x ``height`` pixels (a decompression bomb, cheaply)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\0" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def two_pngs(folder: Path) -> Path:
    """Two real 8x8 grey images: enough for ``load_data`` to take ``folder`` as a dataset."""
    from PIL import Image

    folder.mkdir(exist_ok=True)
    for i in range(2):
        Image.new("L", (8, 8), color=40 * i).save(folder / f"img{i}.png")
    return folder


def npy_claiming(path: Path, shape: tuple[int, ...], payload: bytes = b"\0" * 64) -> Path:
    """A ``.npy`` file whose header says ``shape`` (float32) but which holds ``payload`` only."""
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}".encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload)
    return path


def npy(path: Path, rows: int) -> Path:
    import numpy as np

    np.save(path, np.zeros((rows, 2), dtype=np.float32))
    return path


def out(ctx: Ctx, name: str = "out.npy") -> str:
    return str(ctx.tmp / name)


def toy(ctx: Ctx) -> str:
    return str(ctx.base("toy"))


# -- list, info, doctor ------------------------------------------------------------------------


succeed("list-runs", lambda ctx: ["list"])
succeed("list-json-runs", lambda ctx: ["list", "--json"])
succeed("doctor-runs", lambda ctx: ["doctor"])
succeed("info-of-an-architecture-runs", lambda ctx: ["info", "toy-gaussian"])
refuse("list-unknown-option", 6, lambda ctx: ["list", "--colour"])
refuse("doctor-extra-argument", 6, lambda ctx: ["doctor", "everything"])
refuse("info-empty-name", 6, lambda ctx: ["info", ""])
refuse("info-name-with-terminal-escape", 3, lambda ctx: ["info", "toy\x1b]0;pwned\x07\x1b[2J"])
refuse("info-name-with-newline", 3, lambda ctx: ["info", "toy\nError: fake"])
refuse("info-name-of-10-mb", 9, lambda ctx: ["info", "a" * 10_000_000])


# -- run ------------------------------------------------------------------------------------------

succeed("run-toy-writes-samples", lambda ctx: ["run", "toy-gaussian", "-n", "4", "-o", out(ctx)])
refuse("run-seed-2-70", 6, lambda ctx: ["run", "toy-gaussian", "--seed", BIG, "-o", out(ctx)])
refuse("run-seed-minus-2-70", 6, lambda ctx: ["run", "toy-gaussian", "--seed", f"-{BIG}", "-o", out(ctx)])
bounded("run-n-10-30", 6, lambda ctx: ["run", "toy-gaussian", "-n", str(10**30), "-o", out(ctx)], timeout=10)
bounded("run-n-10-million", 5, lambda ctx: ["run", "toy-gaussian", "-n", "10000000", "-o", out(ctx)], timeout=10)
bounded("run-diffusion-n-10-million", 5, lambda ctx: ["run", "diffusion", "-n", "10000000", "-o", out(ctx)], timeout=4)
refuse("run-device-mps", 6, lambda ctx: ["run", "toy-gaussian", "--device", "mps", "-o", out(ctx)])
refuse("run-device-empty", 6, lambda ctx: ["run", "toy-gaussian", "--device", "", "-o", out(ctx)])
refuse("run-device-negative-cuda-index", 6, lambda ctx: ["run", "toy-gaussian", "--device", "cuda:-1", "-o", out(ctx)])
refuse("run-device-with-newline", 6, lambda ctx: ["run", "toy-gaussian", "--device", "cpu\n", "-o", out(ctx)])
refuse("run-output-with-terminal-escape", 3, lambda ctx: ["run", "toy-gaussian", "-o", out(ctx, "x\x1b[2J.gif")])
refuse("run-output-empty", 6, lambda ctx: ["run", "toy-gaussian", "-o", ""])
refuse("run-architecture-with-terminal-escape", 3, lambda ctx: ["run", "toy\x1b[31m", "-o", out(ctx)])
refuse("run-sampler-with-terminal-escape", 3, lambda ctx: ["run", "toy-gaussian", "-s", "dd\x1b[2Jim", "-o", out(ctx)])
refuse("run-weights-of-another-architecture", 6, lambda ctx: ["run", "vae", "--weights", toy(ctx), "-o", out(ctx)])
refuse(
    "run-interpolate-with-one-row-data",
    6,
    lambda ctx: [
        "run",
        "vae",
        "--weights",
        ctx.base("vae"),
        "--interpolate",
        "--data",
        npy(ctx.tmp / "one.npy", 1),
        "-n",
        "4",
        "-o",
        out(ctx),
    ],
)
refuse(
    "run-interpolate-with-image-data-on-a-2d-model",
    6,
    lambda ctx: [
        "run",
        "vae",
        "--weights",
        ctx.base("vae"),
        "--interpolate",
        "--data",
        "digits",
        "-n",
        "4",
        "-o",
        out(ctx),
    ],
)
refuse(
    "run-data-empty-for-interpolate",
    7,
    lambda ctx: [
        "run",
        "vae",
        "--weights",
        ctx.base("vae"),
        "--interpolate",
        "--data",
        "",
        "-n",
        "4",
        "-o",
        out(ctx),
    ],
)


# -- train ------------------------------------------------------------------------------------------


def train_refused(name: str, point: int, extra: Callable[[Ctx], Sequence[str]], *, data: Any = "moons") -> None:
    """``genplug train toy-gaussian`` with ``extra`` must be refused and leave no --out folder behind."""

    def check(ctx: Ctx) -> str | None:
        run_dir = ctx.tmp / "run"
        source = data(ctx) if callable(data) else data
        verdict = cli_refused(["train", "toy-gaussian", "--data", str(source), "--out", str(run_dir), *extra(ctx)])
        if verdict is None and run_dir.exists():
            left = sorted(p.name for p in run_dir.iterdir())
            return f"refused, but left {run_dir.name}/ behind holding {left}"
        return verdict

    case(name, point)(check)


def _train(ctx: Ctx, *args: str) -> Any:
    return invoke(["train", "toy-gaussian", "--data", "moons", "--out", str(ctx.tmp / "run"), *args])


succeed(
    "train-toy-runs", lambda ctx: ["train", "toy-gaussian", "--data", "moons", "--steps", "3", "--out", out(ctx, "r")]
)
train_refused("train-diverging-leaves-nothing", 8, lambda ctx: ["--steps", "20", "--lr", "1e30"])
train_refused("train-lr-nan", 6, lambda ctx: ["--steps", "3", "--lr", "nan"])
train_refused("train-lr-inf", 6, lambda ctx: ["--steps", "3", "--lr", "inf"])
train_refused("train-seed-2-70", 6, lambda ctx: ["--steps", "3", "--seed", BIG])
train_refused("train-config-hidden-1.5", 6, lambda ctx: ["--steps", "3", "-c", "hidden=1.5"])
train_refused("train-config-hidden-string", 6, lambda ctx: ["--steps", "3", "-c", "hidden=wide"])
train_refused("train-config-data-shape-zero", 6, lambda ctx: ["--steps", "3", "-c", "data_shape=[0]"])
train_refused("train-config-key-with-terminal-escape", 3, lambda ctx: ["--steps", "3", "-c", "col\x1b[2Jour=1"])
train_refused(
    "train-config-nested-10k-deep", 6, lambda ctx: ["--steps", "3", "-c", "hidden=" + "[" * 10_000 + "]" * 10_000]
)
train_refused("train-device-mps", 6, lambda ctx: ["--steps", "3", "--device", "mps"])
train_refused("train-data-empty", 7, lambda ctx: ["--steps", "3"], data=lambda ctx: two_pngs(ctx.tmp) and "")  # not '.'
train_refused(
    "train-npy-whose-shape-lies",
    6,
    lambda ctx: ["--steps", "3"],
    data=lambda ctx: npy_claiming(ctx.tmp / "lies.npy", (1000, 2)),
)
train_refused(
    "train-png-decompression-bomb",
    6,
    lambda ctx: ["--steps", "3"],
    data=lambda ctx: png_claiming(two_pngs(ctx.tmp / "bomb") / "img1.png", 30_000, 30_000).parent,
)
bounded(
    "train-npy-claiming-2-40-rows",
    5,
    lambda ctx: [
        "train",
        "toy-gaussian",
        "--data",
        npy_claiming(ctx.tmp / "huge.npy", (2**40, 2)),
        "--steps",
        "1",
        "--out",
        out(ctx, "run"),
    ],
    timeout=10,
)
bounded(
    "train-config-hidden-1e9",
    5,
    lambda ctx: [
        "train",
        "toy-gaussian",
        "--data",
        "moons",
        "--steps",
        "1",
        "-c",
        "hidden=1000000000",
        "--out",
        out(ctx, "run"),
    ],
    timeout=10,
)
refuse(
    "train-out-is-a-file",
    6,
    lambda ctx: [
        "train",
        "toy-gaussian",
        "--data",
        "moons",
        "--steps",
        "2",
        "--out",
        npy(ctx.tmp / "file.npy", 2),
    ],
)


@case("train-resume-with-fewer-steps-than-the-checkpoint", 8)
def _(ctx: Ctx) -> str | None:
    first = _train(ctx, "--steps", "6")
    if first.exit_code != 0:
        return f"the first run failed: {short(first.output)}"
    return cli_problem(_train(ctx, "--steps", "3", "--resume"))


@case("train-resume-writes-no-duplicate-step-line", 8)
def _(ctx: Ctx) -> str | None:
    """A run killed after logging step 6 but before its step-6 checkpoint, then resumed."""
    run_dir = ctx.tmp / "run"
    options = ["--checkpoint-every", "3"]
    for args in (["--steps", "3"], ["--steps", "6", "--resume"]):
        if args[1] == "6":
            shutil.copytree(run_dir / "checkpoint", ctx.tmp / "step-3-checkpoint")
        result = _train(ctx, *args, *options)
        if result.exit_code != 0:
            return f"a training run failed: {short(result.output)}"
    shutil.rmtree(run_dir / "checkpoint")
    shutil.copytree(ctx.tmp / "step-3-checkpoint", run_dir / "checkpoint")  # the kill: step 6 logged, not saved
    result = _train(ctx, "--steps", "6", "--resume", *options)
    if result.exit_code != 0:
        return cli_problem(result)
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
    duplicates = sorted({s for s in steps if steps.count(s) > 1})
    return f"metrics.jsonl has duplicate step lines {duplicates} (steps {steps})" if duplicates else None


# -- eval ------------------------------------------------------------------------------------------

succeed("eval-toy-on-moons-runs", lambda ctx: ["eval", "toy-gaussian", "--data", "moons", "-n", "50"])
bounded("eval-n-10-million", 5, lambda ctx: ["eval", "toy-gaussian", "--data", "moons", "-n", "10000000"], timeout=10)
bounded("eval-n-10-30", 6, lambda ctx: ["eval", "toy-gaussian", "--data", "moons", "-n", str(10**30)], timeout=10)
refuse("eval-image-model-on-moons", 6, lambda ctx: ["eval", "vae", "--data", "moons", "-n", "10"])
refuse("eval-2d-model-on-digits", 6, lambda ctx: ["eval", "toy-gaussian", "--data", "digits", "-n", "10"])
refuse("eval-seed-2-70", 6, lambda ctx: ["eval", "toy-gaussian", "--data", "moons", "-n", "10", "--seed", BIG])


@case("eval-weights-empty", 7)
def _(ctx: Ctx) -> str | None:
    shutil.copytree(ctx.session.bases["toy"], ctx.tmp, dirs_exist_ok=True)  # '' must not mean the cwd's model
    return cli_refused(["eval", "toy-gaussian", "--weights", "", "--data", "moons", "-n", "10"])


@case("eval-data-empty", 7)
def _(ctx: Ctx) -> str | None:
    two_pngs(ctx.tmp)  # '' must not mean the cwd's images
    return cli_refused(["eval", "toy-gaussian", "--data", "", "-n", "10"])


refuse(
    "eval-metric-with-terminal-escape",
    3,
    lambda ctx: [
        "eval",
        "toy-gaussian",
        "--data",
        "moons",
        "-n",
        "10",
        "--metric",
        "nl\x1b[2Jl",
    ],
)
refuse("eval-device-mps", 6, lambda ctx: ["eval", "toy-gaussian", "--data", "moons", "-n", "10", "--device", "mps"])


@case("eval-save-into-a-missing-folder", 7)
def _(ctx: Ctx) -> str | None:
    target = ctx.tmp / "missing" / "eval.json"
    verdict = cli_refused(["eval", "toy-gaussian", "--data", "moons", "-n", "10", "--save", str(target)])
    if verdict is None and target.parent.exists():
        return f"refused, but created {target.parent.name}/"
    return verdict


# -- new-plugin ------------------------------------------------------------------------------------

succeed("new-plugin-writes-a-package", lambda ctx: ["new-plugin", "sparkle", "--dir", str(ctx.tmp)])
refuse("new-plugin-name-dot-dot", 6, lambda ctx: ["new-plugin", "../evil", "--dir", str(ctx.tmp)])
refuse("new-plugin-name-empty", 6, lambda ctx: ["new-plugin", "", "--dir", str(ctx.tmp)])
refuse("new-plugin-name-with-terminal-escape", 3, lambda ctx: ["new-plugin", "x\x1b[2J", "--dir", str(ctx.tmp)])
refuse("new-plugin-name-of-10-mb", 9, lambda ctx: ["new-plugin", "a" * 10_000_000, "--dir", str(ctx.tmp)])
refuse("new-plugin-dir-is-a-file", 6, lambda ctx: ["new-plugin", "sparkle", "--dir", npy(ctx.tmp / "f.npy", 2)])


# -- push ------------------------------------------------------------------------------------------


def _repo() -> str:
    return f"alice/push-{uuid.uuid4().hex[:8]}"


def push_refused(
    name: str, point: int, damage: Callable[[Ctx, Path], Any], *, args: Sequence[str] = (), repo: str | None = None
) -> None:
    """``genplug push`` of a damaged folder must be refused, and nothing may reach the repository."""

    def check(ctx: Ctx) -> str | None:
        folder = ctx.base("toy")
        damage(ctx, folder)
        target = repo or _repo()
        before = len(ctx.hub.requests)
        verdict = cli_refused(["push", str(folder), target, "--no-samples", *args])
        commits = [p for m, p in ctx.hub.requests[before:] if m in ("POST", "PUT") and ("/commit/" in p or "lfs" in p)]
        if verdict is None and commits:
            return f"refused, but after uploading ({commits[0]})"
        return verdict

    case(name, point)(check)


def _truncate(ctx: Ctx, folder: Path) -> None:
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-12])  # the header still reads; the data is cut short


def _outside_link(name: str) -> Callable[[Ctx, Path], None]:
    def damage(ctx: Ctx, folder: Path) -> None:
        outside = ctx.tmp / "outside"
        outside.mkdir()
        shutil.move(folder / name, outside / name)
        (folder / name).symlink_to(outside / name)

    return damage


def _card(text: str) -> Callable[[Ctx, Path], None]:
    return lambda ctx, folder: (folder / "README.md").write_text(text)


@case("push-a-saved-model-succeeds", 0)
def _(ctx: Ctx) -> str | None:
    return cli_succeeds(["push", str(ctx.base("toy")), _repo(), "--no-samples"])


push_refused("push-truncated-weights", 8, _truncate)
push_refused("push-weights-symlink-outside-the-folder", 8, _outside_link("model.safetensors"))
push_refused("push-config-symlink-outside-the-folder", 8, _outside_link("config.json"))
push_refused("push-card-without-yaml-front-matter", 6, _card("# my model\n\nno metadata here\n"))
push_refused("push-license-with-yaml-injection", 6, lambda ctx, f: None, args=["--license", "mit\n---\nevil: true"])
push_refused("push-revision-dot-dot", 2, lambda ctx, f: None, args=["--revision", "../../x"])
push_refused("push-revision-with-newline", 2, lambda ctx, f: None, args=["--revision", "main\n"])
push_refused("push-repo-id-dot-dot", 2, lambda ctx, f: None, repo="alice/..")
push_refused("push-repo-id-with-newline", 2, lambda ctx, f: None, repo="alice/model\n")
push_refused("push-repo-id-with-revision", 2, lambda ctx, f: None, repo="alice/model@main")
push_refused("push-repo-id-with-terminal-escape", 3, lambda ctx, f: None, repo="alice/mo\x1b[2Jdel")
