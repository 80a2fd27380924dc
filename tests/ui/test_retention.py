"""The Retention page's glue (ui/retention.py) without a running app: the cached adapters take the
source key and one RetentionQuery, and the page's words read the query."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from metrics.retention import RetentionQuery, retention_of
from tests.conftest import make_events
from tests.warehouse.engines import DuckDBHarness
from ui import data
from ui import retention as ret

# ann and bob sign up in the week of 2 March 2026 and both come back the next week.
EVENTS = make_events(
    ("ann", "signup", "2026-03-02 09:00", {"platform": "web"}),
    ("ann", "page_view", "2026-03-10 09:00", {"platform": "web"}),
    ("bob", "signup", "2026-03-03 10:00", {"platform": "ios"}),
    ("bob", "purchase", "2026-03-11 10:00", {"platform": "ios", "revenue": 5.0}),
)
WEEKLY = RetentionQuery.build(start="2026-03-02", end="2026-03-15", start_event="signup")


def cells(table: pl.DataFrame, column: str = "retained") -> list[tuple[dt.date, int, object]]:
    return list(table.select("cohort_start", "offset", column).iter_rows())


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The adapters read EVENTS (each read noted); every test starts with empty caches."""
    noted: list[str] = []

    def events() -> pl.DataFrame:
        noted.append("read")
        return EVENTS

    monkeypatch.setattr(data, "events", events)
    ret.cohorts.clear()
    ret.revenue.clear()
    yield noted
    ret.cohorts.clear()
    ret.revenue.clear()


def test_cohorts_is_the_table_of_the_query(reads):
    assert cells(ret.cohorts("shop", WEEKLY)) == [
        (dt.date(2026, 3, 2), 0, 2),
        (dt.date(2026, 3, 2), 1, 2),  # ann's page view and bob's purchase
        (dt.date(2026, 3, 9), 0, 0),  # nobody signed up that week
    ]


def test_an_equal_query_is_read_from_the_cache(reads):
    ret.cohorts("shop", WEEKLY)
    ret.cohorts(
        "shop",
        RetentionQuery.build(start=dt.date(2026, 3, 2), end="2026-03-15", start_event="signup"),
    )
    assert reads == ["read"]


def test_the_sidebar_filter_in_the_scope_drops_events(reads):
    ios = replace(WEEKLY, scope=WEEKLY.scope.with_filters({"platform": ["ios"]}))
    assert cells(ret.cohorts("shop", ios), "cohort_size") == [
        (dt.date(2026, 3, 2), 0, 1),  # bob only: ann's events are on the web
        (dt.date(2026, 3, 2), 1, 1),
        (dt.date(2026, 3, 9), 0, 0),
    ]


def test_the_earlier_range_is_the_same_query_on_other_days(reads):
    # What the page's Compare-with computes: the scope moved, everything else the same.
    earlier = replace(WEEKLY, scope=WEEKLY.scope.between(dt.date(2026, 2, 16), dt.date(2026, 3, 1)))
    assert_frame_equal(ret.cohorts("shop", earlier), retention_of(EVENTS, earlier))


def test_calendar_cohorts_of_any_event_read_the_shared_activity_table(reads):
    returning = replace(WEEKLY, start_event=None)  # any event starts and returns
    first = ret.cohorts("shop-activity", returning)
    assert_frame_equal(first, retention_of(EVENTS, returning))
    count = len(reads)
    for other in (
        replace(returning, interval="day"),
        replace(returning, retention_type="first_time"),
    ):
        assert_frame_equal(ret.cohorts("shop-activity", other), retention_of(EVENTS, other))
    assert len(reads) == count + 2  # each adapter looked at the source; the table was cached


def test_revenue_is_the_ltv_table_of_the_same_query(reads):
    assert cells(ret.revenue("shop", WEEKLY), "revenue") == [
        (dt.date(2026, 3, 2), 0, 0.0),
        (dt.date(2026, 3, 2), 1, 5.0),  # bob's purchase a week after signing up
        (dt.date(2026, 3, 9), 0, 0.0),
    ]


def test_in_an_engine_the_adapter_keeps_its_sql(monkeypatch):
    harness = DuckDBHarness()
    try:
        relation = harness.relation(EVENTS)
        monkeypatch.setattr(data, "events", lambda: relation)
        ret.cohorts.clear()
        ret.cohorts("shop-in-duckdb", WEEKLY)
        (statement,) = ret.cohorts.sql("shop-in-duckdb", WEEKLY)
        assert statement.startswith("WITH ev AS (SELECT")
    finally:
        ret.cohorts.clear()
        harness.close()


def test_cohort_count_is_the_periods_of_the_range():
    daily = replace(WEEKLY, interval="day")
    assert (ret.cohort_count(WEEKLY), ret.cohort_count(daily)) == (2, 14)


@pytest.mark.parametrize(
    "picked, want", [("month", "month"), ("week", "week"), (None, "day"), ("hour", "day")]
)
def test_a_controls_pick_is_one_of_its_options(picked, want):
    assert ret.choice(picked, ret.INTERVAL_LABELS, "day") == want


@pytest.mark.parametrize("label, want", [(ret.ANY_EVENT, None), (None, None), ("signup", "signup")])
def test_an_event_pickers_label_names_the_event(label, want):
    assert ret.event_of(label) == want


def test_the_definition_card_names_the_scopes_filters():
    filtered = replace(WEEKLY, scope=WEEKLY.scope.with_filters({"platform": ["web", "ios"]}))
    assert "Only events with platform = ios, web count." in ret.describe(filtered)
