"""benchmarks.redraw: every control it changes is a widget of its page, with that label and key.

Read from the page sources (the sidebar's from ui/state.py), not by running the pages: AppTest
runs of the five pages on the demo take minutes on the 2-core machine, and a renamed label or key
is what breaks the benchmark. No timing is asserted.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from benchmarks.redraw import CONTROLS, PAGES

ROOT = Path(__file__).resolve().parents[2]
SIDEBAR = ROOT / "ui" / "state.py"


def _pattern(node: ast.expr | None) -> str:
    """A regular expression for the strings ``node`` can be: a literal, an f-string with any
    text in its holes, anything else (``md(...)``, a variable) matches anything."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.escape(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(
            re.escape(part.value) if isinstance(part, ast.Constant) else ".+"
            for part in node.values
        )
    return ".*"


def widgets(path: Path) -> list[tuple[str, str]]:
    """(label pattern, key pattern) of every call with a ``key=`` in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        key = next((k.value for k in node.keywords if k.arg == "key"), None)
        if key is None:
            continue
        label = node.args[0] if node.args else None
        found.append((_pattern(label), _pattern(key)))
    return found


def page_file(path: str) -> Path:
    return ROOT / "pages" / f"{path or 'overview'}.py"


@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: f"{c.page or 'overview'}-{c.key}")
def test_the_control_is_a_widget_of_its_page(control):
    assert control.page in PAGES
    sources = [page_file(control.page), SIDEBAR]
    matches = [
        (source.name, label, key)
        for source in sources
        for label, key in widgets(source)
        if re.fullmatch(key, control.key) and re.fullmatch(label, control.label)
    ]
    assert matches, f"no widget labelled {control.label!r} with key {control.key!r} in {sources}"


@pytest.mark.parametrize(
    "control", [c for c in CONTROLS if c.kind == "choice"], ids=lambda c: c.key
)
def test_a_choice_names_options_the_app_offers(control):
    family = {"engagement": "engagement", "retention": "retention", "experiments": "experiments"}
    text = (ROOT / "ui" / f"{family[control.page]}.py").read_text()
    for option in (*control.to, control.back):
        assert option and f'"{option}"' in text, option


def test_every_page_has_a_control():
    assert {c.page for c in CONTROLS} == set(PAGES)
