"""The Data page: source picker, load report, schema, sample, and clear messages for bad sources.

Sources come from a sources.toml written per test (NORTHSTAR_SOURCES points at it); each test uses
its own source names, because loaded sources are cached per process by name.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from streamlit.testing.v1 import AppTest

from connectors.report import LoadReport
from tests.app.opening import open_numbers
from tests.app.shown import shown
from ui import datapage
from ui.charts.data import events_by_name_figure

APP = str(Path(__file__).resolve().parents[2] / "app.py")

# alice and bob's week, with one of each problem a load report must count.
STORY_CSV = """user_id,event,timestamp,event_id,plan
alice,signup,2026-03-02 09:00,e1,free
alice,purchase,2026-03-03T18:30:00Z,e2,pro
bob,signup,2026-03-04 12:00,e3,free
bob,signup,2026-03-04 12:00,e3,free
,signup,2026-03-04 13:00,e5,free
carol,signup,someday,e6,free
"""


def sources(tmp_path: Path, monkeypatch, text: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("NORTHSTAR_SOURCES", str(path))
    return path


def open_data_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("pages/data.py").run()
    return at


def metric_values(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_the_load_report_of_a_csv_source(tmp_path, monkeypatch):
    (tmp_path / "events.csv").write_text(STORY_CSV)
    sources(
        tmp_path,
        monkeypatch,
        'default = "dp_report"\n[sources.dp_report]\npath = "events.csv"\ntz = "Europe/Berlin"\n'
        'description = "Story events"\n',
    )
    at = open_numbers(open_data_page())
    assert not at.exception, at.exception
    assert at.title[0].value == "Data"
    picker = at.selectbox(key="data_source")
    assert picker.value == "dp_report"
    assert picker.options[:2] == ["dp_report — Story events", "demo — Built-in demo product"]

    # 6 rows read: bob's repeated e3, the row with no user and carol's "someday" are dropped.
    assert metric_values(at) == {
        "Rows read": "6",
        "Rows kept": "3",
        "Rows dropped": "3",
        "Users": "2",
        "Anonymous ids merged": "0",
    }
    dropped = pl.from_pandas(at.dataframe[0].value)
    assert dropped.select("reason", "rows").rows() == [
        ("Left out by the source's where condition", 0),
        ("No user id", 1),
        ("No event name", 0),
        ("Time missing or unreadable", 1),
        ("Repeated event_id", 1),
    ]
    notes = shown(" ".join(md.value for md in at.markdown))
    # Berlin is UTC+1 in March: the two times written without a zone were read there.
    assert "2 times with no zone read in Europe/Berlin" in notes
    assert "someday" in notes
    assert "Events from **2026-03-02 08:00** to **2026-03-04 11:00** UTC." in notes
    assert len(at.get("plotly_chart")) == 1

    schema = pl.from_pandas(at.dataframe[2].value)
    assert schema.get_column("column").to_list() == [
        "user_id",
        "event",
        "timestamp",
        "event_id",
        "plan",
    ]
    assert schema.filter(pl.col("column") == "timestamp").item(0, "type") == "time (UTC)"
    sample = at.dataframe[3].value
    assert len(sample) == 3
    assert "docs/data.md" in notes


@pytest.fixture
def two_sources(tmp_path, monkeypatch):
    """dp_a (the default, one event) and dp_b (two events), as sources.toml lists them."""
    (tmp_path / "a.csv").write_text("user_id,event,timestamp\nu1,signup,2026-03-02T10:00Z\n")
    (tmp_path / "b.csv").write_text(
        "user_id,event,timestamp\nu1,signup,2026-03-02T10:00Z\nu2,signup,2026-03-03T10:00Z\n"
    )
    sources(
        tmp_path,
        monkeypatch,
        'default = "dp_a"\n[sources.dp_a]\npath = "a.csv"\n[sources.dp_b]\npath = "b.csv"\n',
    )


def test_picking_another_source_changes_the_source_of_every_page(two_sources):
    at = open_data_page()
    assert metric_values(at)["Rows read"] == "1"
    at.selectbox(key="data_source").set_value("dp_b").run()
    assert not at.exception, at.exception
    assert at.session_state["source"] == "dp_b"
    assert metric_values(at)["Rows read"] == "2"
    # The choice outlives the page: another page and back, still dp_b.
    at.switch_page("pages/overview.py").run()
    at.switch_page("pages/data.py").run()
    assert at.selectbox(key="data_source").value == "dp_b"
    assert metric_values(at)["Rows read"] == "2"
    # It is in the URL, so a shared link shows the same data; the default source is not.
    assert at.query_params["source"] == "dp_b"
    at.selectbox(key="data_source").set_value("dp_a").run()
    assert "source" not in at.query_params


def test_a_shared_link_opens_its_source_and_only_a_configured_one(two_sources, tmp_path):
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["source"] = "dp_b"
    at.run()
    at.switch_page("pages/data.py").run()
    assert not at.exception, at.exception
    assert metric_values(at)["Rows read"] == "2"
    # A link naming anything else (here a path) opens the default source, never the path.
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["source"] = str(tmp_path / "b.csv")
    at.run()
    at.switch_page("pages/data.py").run()
    assert not at.exception, at.exception
    assert metric_values(at)["Rows read"] == "1"
    assert "source" not in at.query_params


def test_a_broken_source_gets_a_message_not_a_traceback(tmp_path, monkeypatch):
    (tmp_path / "events.csv").write_text("user_id,timestamp\nu1,2026-03-02T10:00Z\n")
    sources(
        tmp_path, monkeypatch, 'default = "dp_broken"\n[sources.dp_broken]\npath = "events.csv"\n'
    )
    at = open_data_page()
    assert not at.exception, at.exception
    errors = shown(" ".join(e.value for e in at.error))
    assert "dp_broken" in errors
    assert "required column 'event' not found" in errors
    # The picker and the guide are still there to fix it.
    assert at.selectbox(key="data_source").options[1].startswith("demo")
    assert any(h.value == "Connect your own data" for h in at.header)
    at.button(key="data_reload").click().run()
    assert not at.exception


def test_reload_reads_the_source_again(tmp_path, monkeypatch):
    events = tmp_path / "events.csv"
    events.write_text("user_id,event,timestamp\nu1,signup,2026-03-02T10:00Z\n")
    sources(
        tmp_path, monkeypatch, 'default = "dp_reload"\n[sources.dp_reload]\npath = "events.csv"\n'
    )
    at = open_data_page()
    assert metric_values(at)["Rows read"] == "1"
    events.write_text(
        "user_id,event,timestamp\nu1,signup,2026-03-02T10:00Z\nu2,signup,2026-03-02T11:00Z\n"
    )
    at.button(key="data_reload").click().run()
    assert metric_values(at)["Rows read"] == "2"


def test_a_broken_sources_file_is_shown_and_the_demo_still_works(tmp_path, monkeypatch):
    sources(tmp_path, monkeypatch, "[sources.shop\npath = 'x'\n")
    at = open_data_page()
    assert not at.exception, at.exception
    assert any("sources.toml has problems" in e.value for e in at.error)
    assert at.selectbox(key="data_source").options == ["demo — Built-in demo product"]
    assert metric_values(at)["Rows dropped"] == "0"


# -- the adapters, without Streamlit -------------------------------------------------------------

REPORT = LoadReport(
    source="events.csv",
    format="csv",
    rows_read=10,
    rows_kept=7,
    dropped={"no_user": 2, "no_event": 0, "unparseable_time": 1, "duplicate_event_id": 0},
    events_by_name={"signup": 2, "page_view": 5},
)


def test_dropped_table_lists_every_reason_with_its_share():
    expected = pl.DataFrame(
        {
            "reason": [
                "Left out by the source's where condition",
                "No user id",
                "No event name",
                "Time missing or unreadable",
                "Repeated event_id",
            ],
            "rows": [0, 2, 0, 1, 0],  # the report predates filtered_out: none counted
            "share_of_rows_read": [0.0, 0.2, 0.0, 0.1, 0.0],
        }
    )
    assert_frame_equal(datapage.dropped_table(REPORT), expected)


def test_events_table_and_its_chart():
    table = datapage.events_table(REPORT)
    assert_frame_equal(
        table,
        pl.DataFrame({"event": ["page_view", "signup"], "events": [5, 2], "share": [5 / 7, 2 / 7]}),
    )
    figure = events_by_name_figure(table)
    # Plotly draws the first bar at the bottom: the most frequent event is last, on top.
    assert list(figure.data[0].y) == ["signup", "page_view"]
    assert list(figure.data[0].x) == [2, 5]


def test_events_table_of_an_empty_load():
    empty = LoadReport(source="x", format="csv", rows_read=0, rows_kept=0)
    assert datapage.events_table(empty).height == 0
    assert datapage.dropped_table(empty).get_column("share_of_rows_read").to_list() == [0.0] * 5


def test_describe_columns():
    events = pl.DataFrame(
        {
            "user_id": ["a", "b", "c", "d"],
            "timestamp": [dt.datetime(2026, 3, 2, tzinfo=dt.UTC)] * 4,
            "revenue": [None, 9.5, None, None],
            "visits": [1, 2, 3, 4],
        }
    )
    got = datapage.describe_columns(events)
    assert got.rows() == [
        ("user_id", "text", "the person (after identity resolution)", 0.0, "a"),
        ("timestamp", "time (UTC)", "when it happened (UTC)", 0.0, "2026-03-02 00:00:00+00:00"),
        ("revenue", "number", "money attached to the event", 0.75, "9.5"),
        ("visits", "whole number", "property", 0.0, "1"),
    ]


@pytest.mark.parametrize(
    ("text", "shown"),
    [("$insert_id read as event_id", r"\$insert\_id read as event\_id"), ("a*b", r"a\*b")],
)
def test_notes_are_shown_as_written(text, shown):
    assert datapage.markdown_text(text) == shown
