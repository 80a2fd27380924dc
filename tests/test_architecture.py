"""The one-way import rule (pages -> ui -> metrics <- connectors), checked by parsing the source."""

from __future__ import annotations

import ast
import re
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
