"""tandem.export has no import cycle, and each of its modules imports on its own.

The static check reads every import statement, the ones inside functions too (a cycle hidden
behind a lazy import is still a cycle between two modules that should have one owner).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "tandem.export"


def _modules(package: str) -> dict[str, Path]:
    """Every module of `package` (the package itself included), by dotted name."""
    root = REPO.joinpath(*package.split("."))
    found = {}
    for path in root.rglob("*.py"):
        parts = [p for p in path.relative_to(root).with_suffix("").parts if p != "__init__"]
        found[".".join([package, *parts])] = path
    return found


def import_graph(package: str) -> dict[str, set[str]]:
    """module -> the modules of the same package that it imports, anywhere in its body."""
    modules = _modules(package)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from pkg import sub` imports pkg and, if it is a module, pkg.sub.
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != module:
                    graph[module].add(target)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each back edge of a depth-first walk, as the cycle it closes (empty: no cycle)."""
    cycles: list[list[str]] = []
    state: dict[str, str] = {}

    def walk(node: str, path: list[str]) -> None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt, path)
        path.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            walk(node, [])
    return cycles


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_export_has_no_import_cycle() -> None:
    graph = import_graph(PACKAGE)
    assert graph[f"{PACKAGE}.pipeline"] >= {f"{PACKAGE}.record", f"{PACKAGE}.signatures"}
    assert find_cycles(graph) == []


@pytest.mark.parametrize("module", sorted(_modules(PACKAGE)))
def test_each_export_module_imports_alone(module: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,  # only catches a hang; an import takes seconds
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
