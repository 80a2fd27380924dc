"""Who may move the targets (issue 13, item 8): each role on the Overview, and the change log.

The identity comes from ``AppTest.user`` (what the app reads as ``st.user``); the deployment's
``[editing]`` settings are monkeypatched (``ui.editing.settings``), as secrets.toml would give them.
Each test edits its own copy of the vision file (``NORTHSTAR_VISION``).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui import editing
from ui.editing import Access, Identity, Settings, access

ROOT = Path(__file__).resolve().parents[2]
ANA = {"is_logged_in": True, "email": "ana@example.com", "name": "Ana"}
BOB = {"is_logged_in": True, "email": "bob@example.com", "name": "Bob"}


@pytest.fixture
def vision_copy(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "vision.toml"
    shutil.copy(ROOT / "vision.toml", path)
    monkeypatch.setenv("NORTHSTAR_VISION", str(path))
    return path


def configure(monkeypatch, **settings) -> None:
    monkeypatch.setattr(editing, "settings", lambda: Settings(**settings))


def overview(user: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    if user is not None:
        at.user = user
    at.run()
    assert not at.exception, at.exception
    return at


def can_edit(at: AppTest) -> bool:
    return "Change a target" in [tab.label for tab in at.tabs]


def messages(at: AppTest) -> str:
    return " ".join(box.value for box in at.info).replace("\\", "").replace("\u200b", "")


def change_target(at: AppTest, value: float) -> None:
    at.selectbox(key="ov_edit_kpi").set_value("weekly_buyers").run()
    at.number_input(key="ov_edit_target_weekly_buyers").set_value(value)
    at.button(key="ov_edit_save").click()
    at.run()
    assert not at.exception, at.exception


# -- the roles, as a table ----------------------------------------------------------------------

NO_LOGIN = Identity(login=False, signed_in=False)
SIGNED_OUT = Identity(login=True, signed_in=False)
EDITOR = Identity(login=True, signed_in=True, email="Ana@Example.com")
READER = Identity(login=True, signed_in=True, email="bob@example.com")


@pytest.mark.parametrize(
    ("settings", "identity", "allowed", "who", "says"),
    [
        (Settings(), NO_LOGIN, False, "anonymous", "off in this deployment"),
        (Settings(), EDITOR, False, "Ana@Example.com", "off in this deployment"),
        (Settings(enabled=True), NO_LOGIN, True, "anonymous (no login configured)", ""),
        (Settings(True, ("ana@example.com",)), NO_LOGIN, False, "anonymous", "no login"),
        (Settings(True, ("ana@example.com",)), SIGNED_OUT, False, "anonymous", "Sign in"),
        (Settings(True, ("ana@example.com",)), EDITOR, True, "Ana@Example.com", ""),
        (Settings(True, ("ana@example.com",)), READER, False, "bob@example.com", "not one of"),
        (Settings(enabled=True), READER, False, "bob@example.com", "not one of"),
    ],
)
def test_who_may_edit(settings, identity, allowed, who, says):
    found = access(settings, identity)
    assert (found.allowed, found.who) == (allowed, who)
    assert says in found.reason
    assert found.sign_in == (identity is SIGNED_OUT)


def test_settings_come_from_secrets_then_sources_toml(tmp_path):
    sources = tmp_path / "sources.toml"
    sources.write_text('[editing]\nenabled = true\neditors = ["ana@example.com"]\n')
    assert editing.read_settings({}, sources) == Settings(True, ("ana@example.com",))
    secrets = {"editing": {"enabled": False}}
    assert editing.read_settings(secrets, sources) == Settings(False, ())
    assert editing.read_settings({}, tmp_path / "none.toml") == Settings()
    # "true" as text is not true: only the TOML boolean turns editing on.
    assert not editing.read_settings({"editing": {"enabled": "true"}}, sources).enabled


def test_sources_toml_accepts_the_editing_table(tmp_path):
    from connectors.config import read_config

    sources = tmp_path / "sources.toml"
    sources.write_text('[editing]\nenabled = true\n[sources.shop]\npath = "x.csv"\n')
    assert "shop" in read_config(sources)[0]


# -- each role on the page ----------------------------------------------------------------------


def test_editing_is_off_unless_enabled(vision_copy, monkeypatch):
    configure(monkeypatch)
    before = vision_copy.read_text()
    at = overview()
    assert not can_edit(at)
    assert "off in this deployment" in messages(at)
    assert vision_copy.read_text() == before


def test_without_login_anyone_edits_and_the_change_is_logged(vision_copy, monkeypatch):
    configure(monkeypatch, enabled=True)
    at = overview()
    assert can_edit(at)
    old = editing.targets.load_vision(vision_copy).kpi("weekly_buyers").target
    change_target(at, 950.0)
    log = editing.read_log(vision_copy)
    assert log.select("who", "kpi", "field", "old", "new").rows() == [
        ("anonymous (no login configured)", "weekly_buyers", "target", f"{old:g}", "950")
    ]
    when = dt.datetime.fromisoformat(log["when"][0])
    assert abs(dt.datetime.now(dt.UTC) - when) < dt.timedelta(minutes=5)
    # The Overview shows the log.
    assert any(e.label.startswith("Target changes (1)") for e in at.expander)
    shown = [frame.value for frame in at.dataframe]
    assert any("weekly_buyers" in frame.to_string() for frame in shown)


def test_a_listed_editor_signed_in_edits_under_their_email(vision_copy, monkeypatch):
    configure(monkeypatch, enabled=True, editors=("ana@example.com",))
    at = overview(ANA)
    assert can_edit(at)
    captions = " ".join(c.value for c in at.caption).replace("\\", "").replace("\u200b", "")
    assert "Signed in as **ana@example.com**" in captions
    change_target(at, 960.0)
    assert editing.read_log(vision_copy)["who"].to_list() == ["ana@example.com"]


def test_a_signed_in_reader_sees_who_they_are_and_cannot_edit(vision_copy, monkeypatch):
    configure(monkeypatch, enabled=True, editors=("ana@example.com",))
    at = overview(BOB)
    assert not can_edit(at)
    assert "not one of this deployment's editors" in messages(at)
    captions = " ".join(c.value for c in at.caption).replace("\\", "").replace("\u200b", "")
    assert "Signed in as **bob@example.com**" in captions


def test_behind_a_login_a_signed_out_visitor_is_offered_to_sign_in(vision_copy, monkeypatch):
    configure(monkeypatch, enabled=True, editors=("ana@example.com",))
    monkeypatch.setattr(editing, "identity", lambda: Identity(login=True, signed_in=False))
    at = overview({"is_logged_in": False})
    assert not can_edit(at)
    assert "Sign in to edit" in messages(at)
    assert at.button(key="ov_login").label == "Sign in"


def test_listed_editors_without_a_login_cannot_edit(vision_copy, monkeypatch):
    configure(monkeypatch, enabled=True, editors=("ana@example.com",))
    at = overview()  # AppTest's default user is not signed in
    assert not can_edit(at)
    assert "no login" in messages(at)


# -- the change log -----------------------------------------------------------------------------


def test_changes_name_every_field_added_and_removed_kpi():
    text = (ROOT / "vision.toml").read_text()
    edited = text.replace('owner = "Sam Okafor (Payments)"', 'owner = "Ana"', 1)
    rows = editing.changes(text, edited)
    assert rows and all(r["field"] == "owner" and r["new"] == "Ana" for r in rows)
    assert editing.changes(text, text) == []
    assert editing.changes(text, "not toml [") == []


def test_the_log_is_appended_and_read_newest_first(tmp_path):
    vision = tmp_path / "vision.toml"
    first = dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC)
    row = {"kpi": "k", "field": "target", "old": "1", "new": "2"}
    editing.append_log(vision, [row], "ana@example.com", first)
    editing.append_log(vision, [{**row, "old": "2", "new": "3"}], "bob", first + dt.timedelta(1))
    assert (tmp_path / "vision.changes.csv").exists()
    log = editing.read_log(vision)
    assert log["new"].to_list() == ["3", "2"]
    assert log["when"][1] == "2026-11-01T09:00:00+00:00"
    assert editing.read_log(tmp_path / "other.toml").height == 0


def test_the_review_lists_the_changes(tmp_path):
    import polars as pl

    from metrics import targets
    from review import render

    vision = targets.load_vision(ROOT / "vision.toml")
    events = pl.DataFrame(
        schema={"user_id": pl.String, "event": pl.String, "timestamp": pl.Datetime("us", "UTC")}
    )
    card = targets.scorecard(vision, events, today=dt.date(2026, 11, 1))
    changes = pl.DataFrame(
        {
            "when": ["2026-11-01T09:00:00+00:00"],
            "who": ["<b>ana@example.com</b>"],
            "kpi": ["weekly_buyers"],
            "field": ["target"],
            "old": ["1200"],
            "new": ["950"],
        }
    )
    page = render(vision, card, {}, start=dt.date(2026, 8, 1), end=dt.date(2026, 10, 31),
                  changes=changes)  # fmt: skip
    assert 'id="target-changes"' in page
    assert "&lt;b&gt;ana@example.com&lt;/b&gt;" in page
    assert "<td>1200</td><td>950</td>" in page
    empty = render(vision, card, {}, start=dt.date(2026, 8, 1), end=dt.date(2026, 10, 31))
    assert "No target was changed from the app." in empty


def test_access_is_a_plain_record():
    assert Access(True, "x") == Access(True, "x", "", False)
