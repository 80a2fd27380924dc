"""The one-way import rule (pages -> ui -> metrics <- connectors), checked by parsing the source."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "metrics": {"streamlit", "sqlalchemy", "plotly", "connectors", "ui", "pages"},
    "connectors": {"streamlit", "plotly", "ui", "pages"},
    "ui/charts": {"streamlit", "connectors"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_package_imports_only_what_its_layer_may(folder):
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & FORBIDDEN[folder])
        for path in python_files(folder)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


CLOCK = re.compile(r"\b(datetime|dt|date)\.(now|today|utcnow)\(|\btime\.time\(")


def test_metrics_never_read_the_clock():
    readers = [
        str(path.relative_to(ROOT))
        for path in python_files("metrics")
        if CLOCK.search(path.read_text())
    ]
    assert readers == []


def test_pages_hold_layout_only():
    """No Polars expressions in pages: computation belongs in metrics/, glue in ui/."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in python_files("pages")
        if re.search(r"\bpl\.(col|lit|when)\(", path.read_text())
    ]
    assert offenders == []


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports_that_run(node: ast.AST, package: str) -> set[str]:
    """Every module an import statement names, at module level or inside a function (deferred
    imports run too), leaving out ``if TYPE_CHECKING:`` blocks (they never run)."""
    found: set[str] = set()
    for child in ast.iter_child_nodes(node):
        if _is_type_checking(child):
            continue
        if isinstance(child, ast.Import):
            found.update(alias.name for alias in child.names)
        elif isinstance(child, ast.ImportFrom):
            base = child.module or ""
            if child.level:
                anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in child.names)
        found |= _imports_that_run(child, package)
    return found


def import_graph(folder: str) -> dict[str, set[str]]:
    """Module -> the modules of the same folder it imports (a name may be a submodule)."""
    paths = {_module_name(path): path for path in python_files(folder)}
    graph = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        named = _imports_that_run(ast.parse(path.read_text(), filename=str(path)), package)
        graph[name] = {other for other in named if other in paths and other != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The groups of modules that import each other, directly or round a circle (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[frozenset[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = {stack.pop()}
            while module not in group:
                group.add(stack.pop())
            if len(group) > 1:
                cycles.append(frozenset(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return cycles


def test_the_cycle_finder_sees_a_deferred_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(graph) == [frozenset({"a", "b", "c"})]


def test_metrics_modules_import_each_other_one_way():
    """No module of metrics/ imports, even inside a function, a module that imports it back
    (vision and targets used to: the registry of KPI kinds, metrics/kinds.py, ended that; the
    experiments planners take the Polars path's finishing steps as arguments)."""
    assert import_cycles(import_graph("metrics")) == []


def test_the_typed_packages_pass_mypy():
    """metrics, connectors and ui (pyproject's [tool.mypy] files) type-check: a query object's
    fields reach the metric with their own types, never retyped or ignored on the way."""
    done = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:]
