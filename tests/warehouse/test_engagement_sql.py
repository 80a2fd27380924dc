"""Engagement computed in each engine equals the Polars answer: stories called on relations.

The matrix (tests/metrics/) already repeats every engagement story on each engine; these stories
aim at what the SQL itself must get right: local days across both 2026 DST changes in New York,
Sunday weeks, a breakdown with a missing value and values seen only before the range, filters
and events given as lists. And every function's SQL parses in every dialect it is written for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
import pytest
import sqlglot

import metrics
from connectors.warehouse import warehouse
from metrics import engagement
from metrics.warehouse import DIALECTS, Dialect
from tests.conftest import make_events
from tests.warehouse.matrix import assert_same_answer

NEW_YORK = "America/New_York"


def _same(
    function: Callable[..., pl.DataFrame], frame: pl.DataFrame, rel: Any, **kw: Any
) -> pl.DataFrame:
    """The engine's answer equals Polars' (types too); returns the Polars answer."""
    expected = function(frame, **kw)
    assert_same_answer(expected, function(rel, **kw), f"{function.__name__}({kw})")
    return expected


def _every_function(
    frame: pl.DataFrame, rel: Any, event: Any = None, **kw: Any
) -> dict[str, pl.DataFrame]:
    """Each engagement function on the range ``kw`` (daily), compared; the Polars answers.

    ``event`` goes to every function but ``revenue``, which counts every event.
    """
    revenue = _same(engagement.revenue, frame, rel, **kw)
    kw["event"] = event
    return {
        "revenue": revenue,
        "daily": _same(engagement.active_users, frame, rel, **kw),
        "weekly_window": _same(engagement.active_users, frame, rel, window_days=7, **kw),
        "rolling": _same(engagement.rolling_active_users, frame, rel, windows=(1, 2, 7), **kw),
        "dau_mau": _same(engagement.dau_mau, frame, rel, window_days=7, **kw),
        "stickiness": _same(engagement.stickiness, frame, rel, **kw),
        "stickiness_2": _same(engagement.stickiness, frame, rel, interval_count=2, **kw),
        "lifecycle": _same(engagement.lifecycle, frame, rel, **kw),
        "lifecycle_seen": _same(engagement.lifecycle, frame, rel, new_means="first_seen", **kw),
    }


# -- DST: the local day moves across both 2026 changes --------------------------------------------

DST = make_events(
    # 2026-03-08: clocks go from 02:00 EST (UTC-5) to 03:00 EDT (UTC-4).
    ("a", "open", "2026-03-08 04:30"),  # 03-07 23:30 EST
    ("b", "open", "2026-03-08 05:30"),  # 03-08 00:30 EST
    ("a", "buy", "2026-03-08 07:30", {"revenue": 10.0}),  # 03-08 03:30 EDT
    ("c", "open", "2026-03-09 03:30"),  # 03-08 23:30 EDT (03-09 in UTC)
    ("b", "buy", "2026-03-09 04:30", {"revenue": 4.5}),  # 03-09 00:30 EDT
    ("c", "open", "2026-03-12 15:00"),
    # 2026-11-01: clocks go from 02:00 EDT (UTC-4) back to 01:00 EST (UTC-5).
    ("a", "open", "2026-11-01 03:30"),  # 10-31 23:30 EDT
    ("b", "open", "2026-11-01 04:30"),  # 11-01 00:30 EDT
    ("c", "open", "2026-11-01 05:30"),  # 11-01 01:30 EDT
    ("d", "buy", "2026-11-01 06:30", {"revenue": 7.0}),  # 11-01 01:30 EST, the hour again
    ("a", "open", "2026-11-02 04:30"),  # 11-01 23:30 EST (11-02 in UTC)
    ("b", "buy", "2026-11-02 05:30", {"revenue": -2.0}),  # 11-02 00:30 EST, a refund
)


@pytest.mark.parametrize(
    "start,end", [("2026-03-05", "2026-03-14"), ("2026-10-28", "2026-11-06")], ids=["march", "nov"]
)
@pytest.mark.parametrize("tz", [NEW_YORK, "UTC"])
def test_every_function_across_the_dst_changes_matches_polars(on_engine, start, end, tz):
    answers = _every_function(DST, on_engine(DST), start=start, end=end, tz=tz)
    assert answers["daily"]["active_users"].sum() > 0


def test_new_york_days_are_the_local_calendar_days(on_engine):
    rel = on_engine(DST)
    got = engagement.active_users(rel, start="2026-03-07", end="2026-03-09", tz=NEW_YORK)
    assert got["active_users"].to_list() == [1, 3, 1]  # a | b, a, c | b
    got = engagement.active_users(rel, start="2026-10-31", end="2026-11-02", tz=NEW_YORK)
    assert got["active_users"].to_list() == [1, 4, 1]  # a | b, c, d, a | b
    money = engagement.revenue(rel, start="2026-11-01", end="2026-11-02", tz=NEW_YORK)
    assert money["revenue"].to_list() == [7.0, -2.0]


# -- Sunday weeks ------------------------------------------------------------------------------

WEEKS = make_events(
    ("a", "open", "2026-05-23 10:00"),  # Saturday, before the range
    ("a", "open", "2026-05-30 10:00"),  # Saturday
    ("b", "open", "2026-05-31 10:00"),  # Sunday: a new Sunday week, still the Monday week
    ("a", "buy", "2026-06-01 10:00", {"revenue": 3.0}),  # Monday
    ("c", "open", "2026-06-06 23:00"),  # Saturday
    ("b", "open", "2026-06-07 01:00"),  # Sunday
    ("c", "buy", "2026-06-14 12:00", {"revenue": 9.0}),  # Sunday, after the range
)


@pytest.mark.parametrize("week_start", ["sunday", "monday"])
def test_sunday_and_monday_weeks_match_polars(on_engine, week_start):
    rel = on_engine(WEEKS)
    kw = dict(start="2026-05-27", end="2026-06-10", interval="week", week_start=week_start)
    weekly = _same(engagement.active_users, WEEKS, rel, **kw)
    _same(engagement.stickiness, WEEKS, rel, **kw)
    _same(engagement.stickiness, WEEKS, rel, interval_count=2, **kw)
    _same(engagement.lifecycle, WEEKS, rel, **kw)
    _same(engagement.lifecycle, WEEKS, rel, new_means="first_seen", event="buy", **kw)
    _same(engagement.revenue, WEEKS, rel, **kw)
    _same(engagement.lifecycle, WEEKS, rel, **{**kw, "interval": "month"})
    if week_start == "sunday":
        assert weekly["period_start"].cast(pl.String).to_list() == [
            "2026-05-24",
            "2026-05-31",
            "2026-06-07",
        ]
        assert weekly["active_users"].to_list() == [1, 3, 1]


# -- Breakdown with a missing value ------------------------------------------------------------

PLATFORMS = make_events(
    ("z", "open", "2026-04-20 09:00", {"platform": "tv"}),  # beyond every window's reach
    ("y", "open", "2026-04-28 09:00", {"platform": "android"}),  # only before the range
    ("a", "open", "2026-05-01 09:00", {"platform": "ios"}),
    ("a", "open", "2026-05-01 18:00", {"platform": None}),
    ("b", "buy", "2026-05-02 09:00", {"platform": None, "revenue": 5.0}),
    ("a", "buy", "2026-05-03 09:00", {"platform": "ios", "revenue": 12.5}),
    ("c", "open", "2026-05-03 10:00", {"platform": "web"}),
    ("b", "open", "2026-05-06 10:00", {"platform": "web"}),
    ("c", "buy", "2026-05-07 10:00", {"platform": None, "revenue": 0.0}),
)


def test_breakdown_with_a_missing_value_matches_polars(on_engine):
    rel = on_engine(PLATFORMS)
    kw = dict(start="2026-05-01", end="2026-05-07", breakdown="platform")
    daily = _same(engagement.active_users, PLATFORMS, rel, **kw)
    _same(engagement.active_users, PLATFORMS, rel, interval="week", **kw)
    rolling = _same(engagement.active_users, PLATFORMS, rel, window_days=7, **kw)
    _same(engagement.rolling_active_users, PLATFORMS, rel, windows=(1, 3, 7), **kw)
    _same(engagement.revenue, PLATFORMS, rel, **kw)
    _same(engagement.revenue, PLATFORMS, rel, interval="month", **kw)
    assert daily["platform"].null_count() > 0
    # A value seen only before the range counts in the windows that reach back to it.
    android = rolling.filter(pl.col("platform") == "android")["active_users"].to_list()
    assert android == [1, 1, 1, 1, 0, 0, 0]
    assert "tv" not in rolling["platform"].to_list()


def test_an_empty_range_with_a_breakdown_matches_polars(on_engine):
    rel = on_engine(PLATFORMS)
    kw = dict(start="2026-06-01", end="2026-06-03", breakdown="platform")
    _same(engagement.active_users, PLATFORMS, rel, **kw)
    _same(engagement.active_users, PLATFORMS, rel, window_days=30, **kw)
    _same(engagement.rolling_active_users, PLATFORMS, rel, **kw)
    _same(engagement.revenue, PLATFORMS, rel, **kw)
    _every_function(PLATFORMS, rel, start="2026-06-01", end="2026-06-03")


# -- Filters and events as lists ---------------------------------------------------------------


@pytest.mark.parametrize(
    "filters",
    [{"platform": ["ios", "web"]}, {"platform": ["ios", None]}, {"platform": []}],
    ids=["values", "value-or-missing", "nothing"],
)
@pytest.mark.parametrize("event", [None, ["open", "buy"], ["buy"]])
def test_filters_and_events_as_lists_match_polars(on_engine, filters, event):
    rel = on_engine(PLATFORMS)
    _every_function(
        PLATFORMS, rel, start="2026-05-01", end="2026-05-07", filters=filters, event=event
    )


# -- The SQL of each function parses in every dialect ------------------------------------------

CALLS: list[tuple[Callable[..., Any], dict[str, Any]]] = [
    (engagement.active_users, {"interval": "week", "week_start": "sunday"}),
    (engagement.active_users, {"breakdown": "platform", "filters": {"platform": ["ios", None]}}),
    (engagement.active_users, {"window_days": 7, "breakdown": "platform", "event": ["a", "b"]}),
    (engagement.rolling_active_users, {"windows": (1, 7, 30), "breakdown": "platform"}),
    (engagement.dau_mau, {"window_days": 30, "event": "a"}),
    (engagement.stickiness, {"interval": "week", "interval_count": 2}),
    (engagement.stickiness, {"interval": "month", "filters": {"plan": "pro"}}),
    (engagement.lifecycle, {"interval": "day"}),
    (engagement.lifecycle, {"interval": "month", "new_means": "first_seen", "event": "a"}),
    (engagement.revenue, {"interval": "week", "breakdown": "platform"}),
]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("call", CALLS, ids=[f"{f.__name__}-{i}" for i, (f, _) in enumerate(CALLS)])
def test_every_function_compiles_to_sql_that_parses(dialect, call):
    function, kw = call
    # Compile only: the relation knows the properties its mapping names, and no others.
    properties = {"platform": "platform", "plan": "plan", "revenue": "revenue"}
    rel = warehouse(None, table="events", dialect=dialect, mapping=properties)
    # SQLite and MySQL have no time-zone database in SQL: UTC only (parts.local_us says so).
    tz = "UTC" if dialect in ("sqlite", "mysql") else NEW_YORK
    texts = metrics.sql(function, rel, start="2026-03-01", end="2026-03-31", tz=tz, **kw)
    assert texts
    for text in texts:
        sqlglot.parse_one(text, read=Dialect(dialect).sqlglot_name)
