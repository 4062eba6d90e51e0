"""The core's module import graph, read from the source with ``ast`` (nothing is imported).

    python scripts/import_graph.py            # layers, edges, cycles and lines per module
    python scripts/import_graph.py --dot      # the graph in Graphviz's dot language

Every ``import genplug...`` / ``from genplug... import`` counts, at module level or inside
a function (those are marked ``lazy``); imports under ``if TYPE_CHECKING:`` do not, since
they never run. ``tests/test_structure.py`` uses :func:`graph` and :func:`cycles` to keep
the graph free of cycles.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "genplug"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module, module: str, is_package: bool) -> list[tuple[str, bool]]:
    """``(imported module, lazy)`` for each genplug import in ``tree``."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub, lazy)
                continue
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((a.name, lazy) for a in child.names if a.name.split(".")[0] == "genplug")
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = module.split(".") if is_package else module.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                if base.split(".")[0] != "genplug":
                    continue
                for alias in child.names:  # `from genplug import _files` imports a module
                    candidate = f"{base}.{alias.name}"
                    found.append((candidate if _exists(candidate) else base, lazy))
            visit(child, inner)

    visit(tree, False)
    return found


def _exists(module: str) -> bool:
    path = ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def graph() -> dict[str, dict[str, bool]]:
    """``{module: {imported module: lazy}}``; ``lazy`` is True when every import of it is in a function."""
    edges: dict[str, dict[str, bool]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        tree = ast.parse(path.read_text(), filename=str(path))
        targets: dict[str, bool] = {}
        for target, lazy in _imports(tree, module, path.name == "__init__.py"):
            if target != module:
                targets[target] = targets.get(target, True) and lazy
        edges[module] = targets
    return edges


def cycles(edges: dict[str, dict[str, bool]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10_000)

    def connect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return found


def layers(edges: dict[str, dict[str, bool]]) -> dict[str, int]:
    """Each module's layer: 0 imports no genplug module, else 1 + the highest layer it imports."""
    depth: dict[str, int] = {}

    def level(v: str, seen: frozenset[str]) -> int:
        if v in depth:
            return depth[v]
        if v in seen:  # a cycle: cut it here
            return 0
        deps = [w for w in edges.get(v, {}) if w in edges]
        depth[v] = 0 if not deps else 1 + max(level(w, seen | {v}) for w in deps)
        return depth[v]

    for v in edges:
        level(v, frozenset())
    return depth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dot", action="store_true", help="print the graph in dot")
    args = parser.parse_args()
    edges = graph()
    if args.dot:
        print("digraph genplug {")
        for v, targets in sorted(edges.items()):
            for w, lazy in sorted(targets.items()):
                print(f'  "{v}" -> "{w}"' + (" [style=dashed]" if lazy else "") + ";")
        print("}")
        return
    depth = layers(edges)
    lazy_count = sum(lazy for targets in edges.values() for lazy in targets.values())
    print(f"{len(edges)} modules, {sum(map(len, edges.values()))} edges ({lazy_count} only inside functions)")
    for layer in sorted(set(depth.values())):
        print(f"layer {layer}:")
        for v in sorted(m for m, d in depth.items() if d == layer):
            path = _file(v)
            lines = len(path.read_text().splitlines()) if path else 0
            deps = ", ".join(f"{w}{' (lazy)' if lazy else ''}" for w, lazy in sorted(edges[v].items()))
            print(f"  {v} [{lines} lines] -> {deps or '-'}")
    found = cycles(edges)
    print(f"cycles: {len(found)}")
    for component in found:
        print("  " + " <-> ".join(component))
    sys.exit(1 if found else 0)


def _file(module: str) -> Path | None:
    path = ROOT.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


if __name__ == "__main__":
    main()
