"""Adversarial input for genplug: crafted model folders, Hub repos and ids, and CLI arguments.

Issue 19 treats model folders, Hub repositories and command lines as untrusted input. Each
module here holds a list of named cases (:class:`Case`) that build one bad input in a
fresh temporary folder and run one action on it through the public API or the CLI:

===============  ==================================================================
``folders``      crafted model folders, each loaded by ``genplug.load`` and by
                 ``genplug run ARCH --weights FOLDER``
``hub``          Hub ids and revisions, and crafted Hub repositories, on the
                 Hub-compatible test server of ``tests/hub_server.py``
``cli``          argument fuzz over every subcommand
===============  ==================================================================

A shared judge decides whether genplug handled the input *cleanly*:

* Python API: the action raises a :class:`genplug.GenplugError` whose message is one line
  of at most :data:`MAX_MESSAGE` characters with no raw control or escape character, or
  it succeeds where success is correct (cases built with :func:`succeeds`).
* CLI: the exit code is not 0, nothing crashed (no traceback), the output ends with one
  ``Error:`` line of at most :data:`MAX_MESSAGE` characters and holds no raw control or
  escape character.

Some cases add checks of their own where the issue asks for them: nothing left in an
output folder, no HTTP request to another repository, a memory or time bound (those run
in a forked child with ``RLIMIT_AS``, see :func:`in_child`).

``python -m adversarial`` (with ``tests/`` on ``PYTHONPATH``) prints, per category, how many
cases were tried and how many were handled cleanly, and one line per unclean case;
``tests/test_adversarial.py`` runs every case as a pytest test.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import re
import resource
import select
import shutil
import signal
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import genplug

__all__ = [
    "MAX_MESSAGE",
    "Case",
    "Ctx",
    "all_cases",
    "cli_refused",
    "cli_succeeds",
    "in_child",
    "message_problem",
    "refused",
    "run_case",
    "succeeds",
]

#: The longest error message that still reads as one line on a terminal.
MAX_MESSAGE = 2000
#: Address space a forked child may add before its allocations fail (see :func:`in_child`).
CHILD_MEMORY = 3 * 2**30
#: C0 controls, DEL and C1 controls (0x9b is the one-byte CSI): none may reach a terminal raw.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _cli() -> Any:
    """The ``genplug`` click group (the Hub commands included): the one place the CLI is imported."""
    from genplug._cli import cli as group

    return group


# -- cases ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One adversarial input and the action run on it.

    Attributes:
        name: unique, the pytest id.
        category: the line of the summary it counts in.
        point: the numbered point of issue 19 it belongs to (0: a control that must succeed).
        check: builds the input in ``ctx.tmp`` (the working directory) and runs the action;
            returns ``None`` when genplug handled it cleanly, else the reason.
    """

    name: str
    category: str
    point: int
    check: Callable[[Ctx], str | None]


@dataclass
class Ctx:
    """What a case runs with: a fresh folder (also the working directory) and the shared session."""

    tmp: Path
    session: Session

    @property
    def hub(self) -> Any:
        return self.session.hub

    def base(self, name: str) -> Path:
        """A copy, in ``tmp``, of the saved model folder ``name`` (toy, vae, diffusion, latent)."""
        target = self.tmp / f"{name}-model"
        if not target.exists():
            shutil.copytree(self.session.bases[name], target, symlinks=True)
        return target


def all_cases() -> list[Case]:
    """Every case of every module, names unique."""
    import importlib

    modules = [importlib.import_module(f"adversarial.{name}") for name in ("folders", "hub", "cli")]
    cases = [case for module in modules for case in module.CASES]
    names = [c.name for c in cases]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"duplicate case names: {duplicates}"
    return cases


# -- the session: a test Hub and base model folders, built once per process -------------------


class Session:
    """A temporary root, the test Hub server and the base model folders, shared by every case."""

    def __init__(self) -> None:
        from hub_server import HubServer

        self.root = Path(tempfile.mkdtemp(prefix="genplug-adversarial-"))
        self.hub = HubServer().start()
        self._count = 0
        with self.environment():
            self.bases = _build_bases(self.root / "bases")

    def new_folder(self, name: str) -> Path:
        self._count += 1
        folder = self.root / "cases" / f"{self._count:04d}-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)[:60]}"
        folder.mkdir(parents=True)
        return folder

    @contextlib.contextmanager
    def environment(self) -> Iterator[None]:
        """``HF_ENDPOINT`` at the test Hub with a fresh cache, as ``hub_server.hub_environment`` sets it."""
        import huggingface_hub.constants

        home = self.root / "hf"
        values = {
            "HF_ENDPOINT": self.hub.url,
            "HF_HOME": str(home),
            "HF_HUB_CACHE": str(home / "hub"),
            "HF_TOKEN": "hf_test_dummy_token",
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_OFFLINE": None,
            "TRANSFORMERS_OFFLINE": None,
            "HUGGINGFACE_HUB_CACHE": None,
        }
        saved_env = {k: os.environ.get(k) for k in values}
        saved_constants = (huggingface_hub.constants.HF_HUB_DISABLE_XET, huggingface_hub.constants.HF_HUB_OFFLINE)
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        huggingface_hub.constants.HF_HUB_DISABLE_XET, huggingface_hub.constants.HF_HUB_OFFLINE = True, False
        try:
            yield
        finally:
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            huggingface_hub.constants.HF_HUB_DISABLE_XET, huggingface_hub.constants.HF_HUB_OFFLINE = saved_constants

    def close(self) -> None:
        self.hub.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _build_bases(root: Path) -> dict[str, Path]:
    """Small real models saved with save_pretrained: the folders crafted inputs start from."""
    import torch

    torch.manual_seed(0)
    folders = {name: root / name for name in ("toy", "vae", "diffusion", "latent")}
    toy = genplug.create("toy-gaussian", data_shape=(2,))
    with torch.no_grad():
        toy.mean.copy_(torch.tensor([0.5, -1.0]))
    toy.save_pretrained(folders["toy"])
    genplug.create("vae", data_shape=(2,), latent_dim=2, mlp_hidden=8, mlp_depth=1).save_pretrained(folders["vae"])
    tiny_prior = {"hidden": 8, "mlp_blocks": 1, "num_train_timesteps": 50}
    genplug.create("diffusion", data_shape=(2,), **tiny_prior).save_pretrained(folders["diffusion"])
    latent = genplug.create("latent-diffusion", encoder=str(folders["vae"]), prior=tiny_prior, sampler="ddim", steps=2)
    latent.save_pretrained(folders["latent"])
    return folders


_SESSION: Session | None = None


def session() -> Session:
    global _SESSION
    if _SESSION is None:
        _SESSION = Session()
        atexit.register(_SESSION.close)
    return _SESSION


def run_case(case: Case) -> str | None:
    """Run ``case`` in a fresh working directory with the test Hub; ``None`` when handled cleanly."""
    sess = session()
    tmp = sess.new_folder(case.name)
    cwd = os.getcwd()
    os.chdir(tmp)
    genplug.reset_registry()
    try:
        with sess.environment():
            return case.check(Ctx(tmp=tmp, session=sess))
    finally:
        os.chdir(cwd)
        genplug.reset_registry()
        shutil.rmtree(tmp, ignore_errors=True)


# -- the judge -------------------------------------------------------------------------------


def short(value: Any, limit: int = 160) -> str:
    """``value`` as a bounded one-line repr, for reasons."""
    text = repr(str(value))
    return text if len(text) <= limit else text[: limit - 20] + f"...' ({len(str(value))} chars)"


def message_problem(message: str, *, forbid: Sequence[str] = ()) -> str | None:
    """Why an error message is not one clean line, or ``None``."""
    lines = message.count("\n") + 1
    if lines > 1:
        return f"the message has {lines} lines: {short(message)}"
    if len(message) > MAX_MESSAGE:
        return f"the message is {len(message):,} characters long (at most {MAX_MESSAGE:,}): {short(message)}"
    control = _CONTROL.search(message)
    if control:
        return f"the message holds the raw control character {control.group()!r}: {short(message)}"
    for text in forbid:
        if text in message:
            return f"the message says {text!r}: {short(message)}"
    return None


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage())


@contextlib.contextmanager
def capture_warnings() -> Iterator[list[str]]:
    """Collect warnings (``warnings.warn``) and log records at WARNING or above, from any logger."""
    found: list[str] = []
    handler = _Captured()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield found
            found += [str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)]
    finally:
        root.removeHandler(handler)
        found += handler.records


def refused(action: Callable[[], Any], *, forbid: Sequence[str] = (), warning_is_enough: bool = False) -> str | None:
    """``action`` must raise a GenplugError with one clean line (or warn, when that is enough)."""
    try:
        with capture_warnings() as warned:
            result = action()
    except genplug.GenplugError as exc:
        return message_problem(str(exc), forbid=forbid)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        return f"raised {type(exc).__name__}, not a GenplugError: {short(exc)}"
    if warning_is_enough and warned:
        problems = [p for p in (message_problem(w, forbid=forbid) for w in warned) if p]
        return f"the warning is not clean: {problems[0]}" if problems else None
    what = f" ({short(result, 80)})" if isinstance(result, (str, int, float, Path)) else ""
    return "accepted silently, no error" + (" or warning" if warning_is_enough else "") + what


def succeeds(action: Callable[[], Any]) -> str | None:
    """``action`` must run without an exception (a control case: a correct input)."""
    try:
        action()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        return f"must succeed, raised {type(exc).__name__}: {short(exc)}"
    return None


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    output: str
    stderr: str
    crash: BaseException | None  # an exception that was not a clean exit: a traceback for the user


def invoke(args: Sequence[str], *, input: str | None = None) -> CliResult:
    """Run ``genplug ARGS`` in-process; stdout and stderr together in ``output``."""
    from click.testing import CliRunner

    # color=True: click keeps escape codes as a terminal would get them, instead of stripping them for a pipe
    result = CliRunner().invoke(_cli(), list(args), input=input, catch_exceptions=True, color=True)
    crash = result.exception if result.exception is not None and not isinstance(result.exception, SystemExit) else None
    return CliResult(result.exit_code, result.output, result.stderr, crash)


def cli_problem(result: CliResult, *, forbid: Sequence[str] = ()) -> str | None:
    """Why a refused command's output is not clean, or ``None``."""
    if result.crash is not None:
        return f"crashed with {type(result.crash).__name__} (a traceback): {short(result.crash)}"
    if result.exit_code == 0:
        return f"exit 0, accepted: {short(result.output.strip()[-200:])}"
    if "Traceback" in result.output:
        return f"prints a traceback: {short(result.output)}"
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    if len(errors) != 1 or lines[-1] != errors[0]:
        return f"the error is not one final 'Error:' line: {short(result.output)}"
    control = _CONTROL.search(result.output.replace("\n", ""))
    if control:
        return f"the output holds the raw control character {control.group()!r}: {short(result.output)}"
    return message_problem(errors[0].removeprefix("Error: "), forbid=forbid)


def cli_refused(args: Sequence[str], *, forbid: Sequence[str] = (), input: str | None = None) -> str | None:
    """``genplug ARGS`` must exit non-zero with one clean error line."""
    return cli_problem(invoke(args, input=input), forbid=forbid)


def cli_succeeds(args: Sequence[str]) -> str | None:
    """``genplug ARGS`` must exit 0 (a control case)."""
    result = invoke(args)
    if result.crash is not None or result.exit_code != 0:
        cause = f"{type(result.crash).__name__}: {result.crash}" if result.crash else result.output.strip()
        return f"must succeed, exit {result.exit_code}: {short(cause)}"
    return None


# -- forked children: memory and time bounds ---------------------------------------------------------


def _address_space() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def in_child(
    check: Callable[[], str | None],
    *,
    timeout: float,
    memory: int = CHILD_MEMORY,
    max_growth: int | None = None,
    what: str = "the action",
) -> str | None:
    """Run ``check`` in a forked child whose address space may grow by ``memory`` bytes at most.

    Returns ``check``'s verdict; a reason when the child runs past ``timeout`` seconds, dies,
    or (with ``max_growth``) grew its resident memory by more than that many bytes.
    Allocations past the limit fail in the child (``MemoryError``, torch's "can't allocate
    memory"), so a case that allocates what a crafted config asks for reports that error.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        status = 0
        try:
            os.close(read_end)
            limit = _address_space() + memory
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            verdict = check()
            grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
            if verdict is None and max_growth is not None and grown > max_growth:
                verdict = f"handled, but only after allocating {grown / 2**20:,.0f} MB"
            data = json.dumps([verdict]).encode()
            while data:
                data = data[os.write(write_end, data) :]
        except BaseException:
            status = 3
        finally:
            os._exit(status)
    os.close(write_end)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    timed_out = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([read_end], [], [], left)
            if ready:
                chunk = os.read(read_end, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(read_end)
        if timed_out:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if timed_out:
        return f"{what} was still running after {timeout:g} s (killed): no bound before the work starts"
    if not chunks:
        how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}"
        return f"{what} killed the process ({how}; memory limit {memory / 2**30:g} GB)"
    return json.loads(b"".join(chunks))[0]
