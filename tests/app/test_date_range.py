"""The sidebar's date range opens on the plausible events (issue 13 item 2): one stray row dated
9999-12-31 or 1970-01-01 is kept and counted by the load report, and cannot stretch the range."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from ui.state import SAFE_LAST, data_bounds

APP = Path(__file__).resolve().parents[2] / "app.py"
UTC = dt.UTC


def test_the_report_range_wins_over_the_events_extremes():
    events = pl.DataFrame(
        {
            "timestamp": [
                dt.datetime(1970, 1, 1, tzinfo=UTC),
                dt.datetime(2026, 3, 2, 23, 30, tzinfo=UTC),
                dt.datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
            ]
        }
    )
    plausible = (dt.datetime(2026, 3, 2, 23, 30, tzinfo=UTC),) * 2
    assert data_bounds(events, "UTC", plausible) == (dt.date(2026, 3, 2), dt.date(2026, 3, 2))
    # 23:30 UTC is already the 3rd in Berlin.
    assert data_bounds(events, "Europe/Berlin", plausible) == (
        dt.date(2026, 3, 3),
        dt.date(2026, 3, 3),
    )
    # At the end of the calendar a zone ahead of UTC has no date; and the range never goes past
    # the last safe day, so pages can add weeks and months to it.
    last = (dt.datetime(9999, 12, 31, 23, 59, tzinfo=UTC),) * 2
    assert data_bounds(events, "Pacific/Kiritimati", last) == (SAFE_LAST,) * 2


def test_a_stray_row_in_9999_leaves_the_sidebar_on_the_real_events(tmp_path, monkeypatch):
    (tmp_path / "orders.csv").write_text(
        "user_id,event,timestamp\n"
        "a,buy,2026-03-02T10:00:00Z\n"
        "b,buy,2026-03-20T10:00:00Z\n"
        "c,buy,9999-12-31T23:59:59Z\n"  # a placeholder date
        "d,buy,1970-01-01T00:00:00Z\n",  # an epoch of 0
        encoding="utf-8",
    )
    config = tmp_path / "sources.toml"
    config.write_text('default = "shop"\n[sources.shop]\npath = "orders.csv"\n', encoding="utf-8")
    monkeypatch.setenv("NORTHSTAR_SOURCES", str(config))
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.switch_page("pages/data.py")
    at.run()
    assert not at.exception, at.exception
    picked = at.sidebar.date_input(key="range").value
    assert [str(day) for day in picked] == ["2026-03-02", "2026-03-20"]
    notes = " ".join(m.value for m in at.markdown).replace("\\", "")
    assert "2 times outside the plausible" in notes


PAGES = ["overview", "engagement", "retention", "funnels", "experiments", "data"]


@pytest.mark.parametrize("page", PAGES)
def test_events_only_at_the_ends_of_the_calendar_never_crash_a_page(tmp_path, monkeypatch, page):
    # Every kept time is implausible: the range opens on them, at the calendar's last day, and no
    # page may overflow a date doing arithmetic around it (a week after, a month before).
    (tmp_path / "orders.csv").write_text(
        "user_id,event,timestamp,revenue\n"
        "a,buy,9999-12-31T23:59:59Z,10\n"
        "b,buy,9999-12-31T10:00:00Z,5\n"
        "c,signup,0001-01-01T00:00:00Z,\n",
        encoding="utf-8",
    )
    config = tmp_path / "sources.toml"
    config.write_text('default = "shop"\n[sources.shop]\npath = "orders.csv"\n', encoding="utf-8")
    monkeypatch.setenv("NORTHSTAR_SOURCES", str(config))
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
