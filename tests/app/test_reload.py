"""Reload means reload: after the Data page's Reload, or when a file source's files change, every
page shows the new data, because every cached adapter is keyed by the source's load generation
(:func:`ui.data.source_key`), not by its name alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui import data

APP = str(Path(__file__).resolve().parents[2] / "app.py")

TWO_USERS = "user_id,event,timestamp\nu1,signup,2026-03-02T10:00Z\nu2,signup,2026-03-02T11:00Z\n"
THREE_USERS = TWO_USERS + "u3,signup,2026-03-02T12:00Z\n"


@pytest.fixture
def source(tmp_path, monkeypatch) -> Path:
    events = tmp_path / "events.csv"
    events.write_text(TWO_USERS)
    (tmp_path / "sources.toml").write_text(
        f'default = "{tmp_path.name}"\n[sources.{tmp_path.name}]\npath = "events.csv"\n'
    )
    monkeypatch.setenv("NORTHSTAR_SOURCES", str(tmp_path / "sources.toml"))
    return events


def engagement(at: AppTest) -> dict[str, str]:
    at.switch_page("pages/engagement.py").run()
    assert not at.exception, at.exception
    return {m.label: m.value for m in at.metric}


def test_engagement_shows_the_new_numbers_after_reload(source, monkeypatch):
    # The files are looked at once for the whole test, so only the Reload can tell the app.
    monkeypatch.setattr(data, "STAMP_SECONDS", 1e9)
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert engagement(at)["MAU"] == "2"
    source.write_text(THREE_USERS)
    assert engagement(at)["MAU"] == "2"  # not told yet: the same load, the same numbers
    at.switch_page("pages/data.py").run()
    at.button(key="data_reload").click().run()
    assert not at.exception, at.exception
    values = engagement(at)
    assert values["MAU"] == "3"
    assert values["DAU"] == "3"


def test_a_changed_file_is_read_again_without_reload(source, monkeypatch):
    monkeypatch.setattr(data, "STAMP_SECONDS", 0.0)
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert engagement(at)["MAU"] == "2"
    source.write_text(THREE_USERS)
    assert engagement(at)["MAU"] == "3"


def test_the_key_names_the_source_and_changes_with_every_reload(source):
    at = AppTest.from_string(
        "import streamlit as st\nfrom ui import data\nst.text(data.source_key())"
    )
    at.run()
    before = at.text[0].value
    data.forget()
    at.run()
    after = at.text[0].value
    assert before.split("@")[0] == after.split("@")[0] == source.parent.name
    assert before != after


def test_every_cached_adapter_is_keyed_by_the_source():
    """Every cached function in ui/ (``@st.cache_data``, ``@st.cache_resource`` and
    ``@engine.cached``) takes the source key first, and no page hands an adapter the bare source
    name (which stays the same across reloads)."""
    import ast

    root = Path(__file__).resolve().parents[2]
    unkeyed = []
    for path in sorted((root / "ui").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            decorators = [ast.unparse(d) for d in node.decorator_list]
            cached = any(
                kind in d for d in decorators for kind in ("cache_data", "cache_resource", "cached")
            )
            names = [a.arg for a in node.args.args]
            # ui/data.py's loaders take the key's two parts: the name and the load generation.
            keyed = names[:1] == ["source"] or names[:2] == ["name", "generation"]
            if cached and not keyed:
                unkeyed.append(f"{path.name}:{node.name}")
    assert unkeyed == []
    for path in sorted((root / "pages").glob("*.py")):
        for line in path.read_text().splitlines():
            if "source_name()" in line:
                assert line.strip() in (
                    "source = data.source_name()",
                    "current = data.source_name()",
                )
