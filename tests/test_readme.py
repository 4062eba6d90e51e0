"""The READMEs' commands run as written, after the README's own install.

Each README gets one working folder; its commands run there in order, in-process through
click's test runner, so a later command reads what an earlier one wrote (`runs/a`). The
test plugin is blocked: the root README's install does not include it.
"""

from __future__ import annotations

import copy
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

import genplug
from genplug._cli import cli
from genplug._cli.app import add_plugin_commands

ROOT = Path(__file__).resolve().parents[1]
SHELL = ("bash", "console", "sh", "shell")
OUTPUT_OPTIONS = ("-o", "--output", "--out", "--save")


def fenced_blocks(text: str) -> list[tuple[str, str, str]]:
    """``(section heading, info string, body)`` of every fenced code block, in order."""
    blocks, heading, fence, info, body = [], "", None, "", []
    for line in text.splitlines():
        if fence is None:
            if line.startswith("#") and not line.startswith("#!"):
                heading = line.lstrip("#").strip()
            elif match := re.match(r"^(```+|~~~+)\s*([\w+-]*)", line):
                fence, info, body = match.group(1), match.group(2), []
        elif line.strip().startswith(fence) and not line.strip().strip(fence[0]):
            blocks.append((heading, info, "\n".join(body)))
            fence = None
        else:
            body.append(line)
    return blocks


def commands(block: str) -> list[list[str]]:
    """The commands of a shell block: prompts and comments dropped, continued lines joined."""
    lines = re.sub(r"\\\n", " ", block).splitlines()
    argvs = [shlex.split(line.strip().removeprefix("$ "), comments=True) for line in lines]
    return [argv for argv in argvs if argv]


def genplug_commands(block: str) -> list[list[str]]:
    """The commands to run: `pip install` lines are the reader's business."""
    return [argv for argv in commands(block) if argv[0] == "genplug"]


def tour() -> tuple[str, str]:
    """The root README's tour: its shell block and its Python snippet."""
    blocks = fenced_blocks((ROOT / "README.md").read_text())
    in_tour = [(info, body) for heading, info, body in blocks if heading == "A tour"]
    assert in_tour, "README.md has no '## A tour' section with code blocks"
    shell = [body for info, body in in_tour if info in SHELL]
    python = [body for info, body in in_tour if info == "python"]
    assert len(shell) == 1 and len(python) == 1, "the tour should hold one shell block and one Python snippet"
    return shell[0], python[0]


def usage_blocks() -> dict[str, str]:
    """README path -> its shell block of commands: the root tour and each plugin's first shell block."""
    found = {"README.md": tour()[0]}
    for readme in sorted(ROOT.glob("plugins/*/README.md")):
        shell = [body for _, info, body in fenced_blocks(readme.read_text()) if info in SHELL]
        found[readme.relative_to(ROOT).as_posix()] = shell[0] if shell else ""
    return found


CASES = [
    (readme, index, argv)
    for readme, block in usage_blocks().items()
    for index, argv in enumerate(genplug_commands(block))
]


def test_every_usage_block_holds_only_genplug_and_pip_commands():
    blocks = usage_blocks()
    assert len(blocks) >= 4, f"expected the root README and three plugin READMEs, found {sorted(blocks)}"
    for readme, block in blocks.items():
        argvs = commands(block)
        assert any(argv[0] == "genplug" for argv in argvs), f"{readme}: its usage block has no genplug command"
        others = [shlex.join(argv) for argv in argvs if argv[0] not in ("genplug", "pip")]
        assert not others, f"{readme}: the usage block runs commands this test cannot: {others}"


class Session:
    """One README's working folder and the results of its commands so far."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.done: dict[int, str | None] = {}  # command index -> None if it passed, else why not


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    return {readme: Session(tmp_path_factory.mktemp(readme.replace("/", "-"))) for readme in usage_blocks()}


@pytest.fixture
def genplug_as_installed(monkeypatch):
    """The `genplug` command of a README install: every plugin but the test plugin."""
    monkeypatch.setenv("GENPLUG_BLOCK_PLUGINS", "genplug-toy")
    genplug.reset_registry()
    group = copy.copy(cli)
    group.commands = dict(cli.commands)
    add_plugin_commands(group)  # as main() does
    return group


def run_command(group, argv: list[str]) -> str | None:
    """Run ``genplug ...`` in the current folder; None if it worked, else what went wrong."""
    result = CliRunner().invoke(group, argv[1:], prog_name="genplug")
    if result.exit_code != 0 or "Traceback" in result.output:
        error = result.exception if not isinstance(result.exception, SystemExit) else ""
        return f"exit code {result.exit_code} {error!r}\n{result.output[-3000:]}"
    written = [value for flag, value in zip(argv, argv[1:], strict=False) if flag in OUTPUT_OPTIONS]
    written += [value for flag, _, value in (arg.partition("=") for arg in argv) if flag in OUTPUT_OPTIONS]
    missing = [path for path in written if not Path(path).exists()]
    return f"it did not write {missing}\n{result.output[-3000:]}" if missing else None


@pytest.mark.parametrize(
    ("readme", "index", "argv"), CASES, ids=[f"{readme}: {shlex.join(argv)}" for readme, _, argv in CASES]
)
def test_readme_command_runs_as_written(readme, index, argv, sessions, genplug_as_installed, monkeypatch):
    session = sessions[readme]
    monkeypatch.chdir(session.folder)
    block = genplug_commands(usage_blocks()[readme])
    for earlier in range(index + 1):  # earlier commands first, also when this one is picked alone
        if earlier not in session.done:
            session.done[earlier] = run_command(genplug_as_installed, block[earlier])
        if earlier < index and session.done[earlier] is not None:
            pytest.fail(f"{readme}: an earlier command failed: {shlex.join(block[earlier])}")
    assert session.done[index] is None, f"{readme}: `{shlex.join(argv)}` failed: {session.done[index]}"


def test_readme_python_tour_runs(tmp_path, genplug_as_installed, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(tour()[1], "README.md (the tour's Python)", "exec"), {})
