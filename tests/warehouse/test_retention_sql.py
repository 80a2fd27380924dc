"""Retention computed inside each engine: stories on relations, compared with the Polars answer.

Each story runs on every engine of ``tests/warehouse/engines.py`` (``on_engine``) and must give
the very frame the Polars path gives for the same events, plus the numbers the story states.
The compile-only dialects are checked by parsing the statements with sqlglot in that dialect.
"""

from __future__ import annotations

import itertools
from typing import Any

import polars as pl
import pytest
import sqlglot
from polars.testing import assert_frame_equal

import metrics
from connectors.warehouse import warehouse
from metrics.retention import (
    RetentionQuery,
    retention,
    retention_of,
    revenue_retention,
    revenue_retention_of,
)
from metrics.warehouse import DIALECTS
from tests.conftest import make_events


def triangle(table: pl.DataFrame, column: str = "retained") -> list[list[Any]]:
    """The table's ``column`` as one list per cohort, offsets in order."""
    return [
        group.sort("offset")[column].to_list()
        for _, group in table.sort("cohort_start").group_by("cohort_start", maintain_order=True)
    ]


def same_on_engine(on_engine: Any, function: Any, events: pl.DataFrame, **kw: Any) -> pl.DataFrame:
    """The Polars answer, after checking that the engine gives exactly the same frame."""
    expected = function(events, **kw)
    assert_frame_equal(function(on_engine(events), **kw), expected)
    return expected


# -- rolling weeks are 7 × 24 hours of elapsed time, across both 2026 DST changes ---------------

# Clocks in New York spring forward on Sunday 2026-03-08 and fall back on Sunday 2026-11-01.
SPRING = make_events(
    *[(u, "signup", "2026-03-02 12:00-05:00") for u in ("a", "b", "c")],
    ("a", "visit", "2026-03-09 11:30-04:00"),  # 6 d 22 h 30 min later: still week 0
    ("b", "visit", "2026-03-09 12:30-04:00"),  # 7 days 30 min on the wall clock, 6 d 23.5 h elapsed
    ("c", "visit", "2026-03-09 13:30-04:00"),  # 7 d 0 h 30 min elapsed: week 1
)
AUTUMN = make_events(
    *[(u, "signup", "2026-10-26 12:00-04:00") for u in ("d", "e")],
    ("d", "visit", "2026-11-02 11:30-05:00"),  # 6 d 23.5 h on the wall clock, 7 d 0.5 h elapsed
    ("e", "visit", "2026-11-02 10:30-05:00"),  # 6 d 23.5 h elapsed: still week 0
)


@pytest.mark.parametrize(
    "events,start,end,rolling,calendar",
    [
        (SPRING, "2026-03-02", "2026-03-15", [[3, 1], [0]], [[3, 3], [0]]),
        (AUTUMN, "2026-10-26", "2026-11-08", [[2, 1], [0]], [[2, 2], [0]]),
    ],
    ids=["march", "november"],
)
def test_rolling_weeks_count_elapsed_time_across_dst(
    on_engine, events, start, end, rolling, calendar
):
    kw = dict(
        start=start,
        end=end,
        interval="week",
        start_event="signup",
        return_event="visit",
        tz="America/New_York",
    )
    assert triangle(same_on_engine(on_engine, retention, events, periods="rolling", **kw)) == (
        rolling
    )
    assert triangle(same_on_engine(on_engine, retention, events, **kw)) == calendar
    same_on_engine(on_engine, retention, events, periods="rolling", mode="on_or_after", **kw)


# -- rolling months are MySQL's TIMESTAMPDIFF(MONTH) on local wall-clock times --------------------

MONTH_ENDS = make_events(
    ("a", "signup", "2026-01-31 10:00"),
    ("a", "visit", "2026-02-28 23:00", {"revenue": 5.0}),  # Jan 31 -> Feb 28: 0 months
    ("a", "visit", "2026-03-01 00:30", {"revenue": 7.0}),  # -> Mar 1: 1 month
    ("b", "signup", "2026-01-31 10:00"),
    ("b", "visit", "2026-03-31 09:59", {"revenue": 2.5}),  # a minute short of 2 months: 1
    ("c", "signup", "2026-01-30 10:00"),
    ("c", "visit", "2026-02-28 09:00"),  # Feb 28 is before the 30th: 0 months
    ("d", "signup", "2026-01-15 08:00"),
    ("d", "visit", "2026-02-15 08:00", {"revenue": 1.0}),  # exactly one month: 1
    ("e", "signup", "2026-02-01 03:00"),  # Jan 31 22:00 in New York
    ("e", "visit", "2026-03-01 04:00"),  # Feb 28 23:00 in New York: 0 months there, 1 in UTC
)


@pytest.mark.parametrize(
    "tz,want",
    [
        ("UTC", [[4, 3, 0], [1, 1], [0]]),
        # In New York e starts in January (Jan 31 22:00 -> Feb 28 23:00: 0 months); a's
        # Mar 1 00:30 UTC is Feb 28 19:30 there (0 months); b starts at 05:00 on Jan 31 and
        # returns at 05:59 (EDT) on Mar 31: two whole months.
        ("America/New_York", [[5, 1, 1], [0, 0], [0]]),
    ],
)
def test_rolling_months_at_month_ends(on_engine, tz, want):
    kw = dict(
        start="2026-01-01",
        end="2026-03-31",
        interval="month",
        start_event="signup",
        return_event="visit",
        periods="rolling",
        tz=tz,
    )
    assert triangle(same_on_engine(on_engine, retention, MONTH_ENDS, **kw)) == want
    same_on_engine(on_engine, retention, MONTH_ENDS, mode="on_or_after", **kw)
    kw.pop("return_event")
    same_on_engine(on_engine, revenue_retention, MONTH_ENDS, **kw)


# -- first_time: the first-ever start event over all history --------------------------------------

HISTORY = make_events(
    ("old", "signup", "2025-12-20 10:00", {"revenue": 9.0}),  # first start before the range
    ("old", "signup", "2026-01-06 10:00"),
    ("old", "visit", "2026-01-13 10:00", {"revenue": 4.0}),
    ("new", "signup", "2026-01-06 11:00"),
    ("new", "visit", "2026-01-13 11:00", {"revenue": 3.0}),
    ("late", "visit", "2026-01-07 10:00"),  # not a start event: does not make a cohort
    ("late", "signup", "2026-01-14 10:00", {"revenue": 2.0}),
)


def test_first_time_looks_at_history_before_start(on_engine):
    kw = dict(start="2026-01-05", end="2026-01-18", start_event="signup", return_event="visit")
    first = same_on_engine(on_engine, retention, HISTORY, retention_type="first_time", **kw)
    assert triangle(first) == [[1, 1], [1]]
    assert triangle(first, "cohort_size") == [[1, 1], [1]]
    recurring = same_on_engine(on_engine, retention, HISTORY, **kw)
    assert triangle(recurring, "cohort_size") == [[2, 2], [1]]
    kw.pop("return_event")
    for periods in ("calendar", "rolling"):
        ltv = same_on_engine(on_engine, revenue_retention, HISTORY, periods=periods, **kw)
        assert triangle(ltv, "revenue") == [[0.0, 3.0], [2.0]]


# -- the query form: one RetentionQuery, its scope's filters applied in the statement -------------

PLATFORMS = make_events(
    ("sam", "signup", "2025-12-20 09:00", {"platform": "web"}),  # dropped by the filter
    ("sam", "signup", "2026-01-06 09:00", {"platform": "ios", "revenue": 4.0}),
    ("sam", "visit", "2026-01-13 09:00", {"platform": "ios"}),
    ("tara", "signup", "2026-01-07 09:00", {"platform": "web"}),  # dropped: tara starts nowhere
    ("tara", "visit", "2026-01-14 09:00", {"platform": "ios", "revenue": 6.0}),
)
IOS_FIRST_TIME = RetentionQuery.build(
    start="2026-01-05",
    end="2026-01-18",
    start_event="signup",
    return_event="visit",
    retention_type="first_time",
    filters={"platform": ["ios"]},
)


def test_a_global_filter_drops_events_in_the_engine_too(on_engine):
    # Without the filter sam's first sign-up is December's and he is in no cohort.
    table = same_on_engine(on_engine, retention_of, PLATFORMS, query=IOS_FIRST_TIME)
    assert triangle(table) == [[1, 1], [0]]


def test_revenue_of_a_query_in_the_engine(on_engine):
    # Only sam is followed; tara's 6.0 is nobody's.
    table = same_on_engine(on_engine, revenue_retention_of, PLATFORMS, query=IOS_FIRST_TIME)
    assert triangle(table, "revenue") == [[4.0, 0.0], [0.0]]


def test_only_the_cells_come_back(on_engine):
    """The engine's result is one row per cohort and per non-empty cell, never per user."""
    many = make_events(
        *[
            (f"u{i}", "visit", f"2026-01-{day:02d} {hour:02d}:00")
            for i in range(40)
            for day, hour in ((5 + i % 7, 9), (12 + i % 5, 10), (19, 11 + i % 3))
        ]
    )
    relation = on_engine(many)
    for kw in (dict(), dict(periods="rolling"), dict(mode="on_or_after", interval="day")):
        plan = retention.__planner__(relation, start="2026-01-05", end="2026-01-25", **kw)
        (statement,) = plan.statements
        text, params = statement.render(relation.dialect, inline=False)
        rows = relation.engine.run(text, params)
        n = 3 if kw.get("interval") != "day" else 21
        assert rows.height <= n + n * (n - 1) // 2


# -- every dialect: the statements parse --------------------------------------------------------

OPTIONS = [
    dict(zip(("interval", "periods", "retention_type", "mode"), combo, strict=True))
    for combo in itertools.product(
        ("day", "week", "month"),
        ("calendar", "rolling"),
        ("recurring", "first_time"),
        ("exact", "on_or_after"),
    )
]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_statements_parse_in_every_dialect(dialect):
    relation = warehouse(None, table="events", dialect=dialect, mapping={"revenue": "revenue"})
    zones = ["UTC"] if dialect in ("sqlite", "mysql") else ["UTC", "America/New_York"]
    common = dict(start="2026-01-05", end="2026-03-18", start_event=["signup", "o'clock"])
    for tz, options in itertools.product(zones, OPTIONS):
        calls = [
            (retention, dict(return_event="visit", week_start="sunday", **options)),
            (
                revenue_retention,
                {k: v for k, v in options.items() if k != "mode"},
            ),
        ]
        for function, kw in calls:
            for statement in metrics.sql(function, relation, tz=tz, **common, **kw):
                sqlglot.parse_one(statement, read=dialect)


@pytest.mark.parametrize("function", [retention, revenue_retention])
def test_clickhouse_reads_the_events_once(function):
    """ClickHouse evaluates a CTE again at each reference: its statement refers to every CTE
    once (each user's cohorts and returns meet in one row, not in a join of two readings)."""
    relation = warehouse(None, table="events", dialect="clickhouse", mapping={"revenue": "revenue"})
    for options in OPTIONS:
        if function is revenue_retention:
            options = {k: v for k, v in options.items() if k != "mode"}
        for start_event, return_event in (("signup", "signup"), ("signup", "visit")):
            kw = dict(start_event=start_event, **options)
            if function is retention:
                kw["return_event"] = return_event
            (text,) = metrics.sql(function, relation, start="2026-01-05", end="2026-03-18", **kw)
            tree = sqlglot.parse_one(text, read="clickhouse")
            names = [cte.alias for cte in tree.find_all(sqlglot.exp.CTE)]
            read = [table.name for table in tree.find_all(sqlglot.exp.Table)]
            assert [name for name in names if read.count(name) != 1] == [], (options, text)
