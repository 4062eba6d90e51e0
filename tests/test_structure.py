"""The core's layout: no import cycle, small modules, function-level imports only where they keep start-up light."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
import_graph = importlib.util.module_from_spec(spec)
spec.loader.exec_module(import_graph)

MAX_LINES = 500


def test_the_core_import_graph_has_no_cycle():
    assert import_graph.cycles(import_graph.graph()) == []


def test_a_cycle_is_found_when_there_is_one():
    edges = {"a": {"b": False}, "b": {"c": True}, "c": {"a": False}, "d": {"a": False}}
    assert import_graph.cycles(edges) == [["a", "b", "c"]]


def test_no_core_module_is_over_500_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for path in (ROOT / "genplug").rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"split these modules by job: {long}"


def test_every_private_core_module_declares_all():
    missing = []
    for path in (ROOT / "genplug").rglob("*.py"):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        tree = ast.parse(path.read_text())
        names = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if hasattr(t, "id")}
        if "__all__" not in names:
            missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"declare __all__ in {missing}"


def test_function_level_core_imports_say_why():
    """Each import of a genplug module or torch inside a function carries a comment (on its
    line or the line before) saying it keeps ``genplug list`` light, or why else it is there."""
    silent = []
    for path in (ROOT / "genplug").rglob("*.py"):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom):
                    roots = [(inner.module or "").split(".")[0]]
                elif isinstance(inner, ast.Import):
                    roots = [alias.name.split(".")[0] for alias in inner.names]
                else:
                    continue
                if {"genplug", "torch", "safetensors", "huggingface_hub"} & set(roots):
                    here, before = lines[inner.lineno - 1], lines[inner.lineno - 2] if inner.lineno > 1 else ""
                    if "#" not in here and "#" not in before:
                        silent.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
    assert not silent, f"say why these imports are inside functions: {silent}"


def test_genplug_list_imports_neither_torch_nor_plugin_model_code():
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom genplug._cli import cli\n"
        "assert CliRunner().invoke(cli, ['list']).exit_code == 0\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith(('genplug_diffusion.model', "
        "'genplug_vae.model', 'huggingface_hub'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
