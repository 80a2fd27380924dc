"""Cohort retention and revenue retention (metrics/retention/), told as stories.

Every expected table below is worked out by hand from the events listed next to it; a comment marks
each number that might surprise. Cases named after PostHog tests reproduce the events and expected
counts of PostHog's own retention test suite (posthog/hogql_queries/insights/test/
test_retention_query_runner.py), whose semantics we follow for calendar periods.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import replace

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from statsmodels.stats.proportion import proportion_confint

from metrics.engagement import activity_of
from metrics.retention import (
    PeriodGrid,
    RetentionQuery,
    answers_from_activity,
    average_curve,
    average_ltv,
    retention,
    retention_from,
    retention_of,
    revenue_retention,
    revenue_retention_of,
)
from metrics.retention import calendar as calendar_counting
from metrics.retention.query import period_index
from tests.conftest import make_events
from tests.reference import retention as reference

CORE = ["cohort_start", "cohort_size", "offset", "retained", "rate", "incomplete"]


def expected(*rows: tuple) -> pl.DataFrame:
    """Rows of (cohort_start, cohort_size, offset, retained[, incomplete]) as the core columns."""
    records = []
    for row in rows:
        start, size, offset, kept = row[:4]
        records.append(
            {
                "cohort_start": dt.date.fromisoformat(start),
                "cohort_size": size,
                "offset": offset,
                "retained": kept,
                "rate": kept / size if size else None,
                "incomplete": row[4] if len(row) > 4 else False,
            }
        )
    return pl.DataFrame(
        records,
        schema={
            "cohort_start": pl.Date,
            "cohort_size": pl.Int64,
            "offset": pl.Int64,
            "retained": pl.Int64,
            "rate": pl.Float64,
            "incomplete": pl.Boolean,
        },
    )


def core(table: pl.DataFrame) -> pl.DataFrame:
    return table.select(CORE)


def triangle(table: pl.DataFrame) -> list[list[int]]:
    """PostHog's shape: one list of retained counts per cohort."""
    return [
        group["retained"].to_list()
        for _, group in table.sort("cohort_start", "offset").group_by(
            "cohort_start", maintain_order=True
        )
    ]


# --------------------------------------------------------------------------------------------------
# Stories


@pytest.fixture
def three_weeks():
    # Weeks (Monday start) of Jan 5, 12 and 19, 2026.
    return make_events(
        ("alice", "page_view", "2026-01-05 10:00"),  # Monday, week 1
        ("alice", "page_view", "2026-01-14 09:00"),  # week 2
        ("alice", "page_view", "2026-01-21 18:00"),  # week 3
        ("bob", "page_view", "2026-01-06 12:00"),  # week 1
        ("bob", "page_view", "2026-01-20 08:00"),  # skips week 2, back in week 3
        ("carol", "page_view", "2026-01-13 15:00"),  # week 2 only
    )


def test_weekly_recurring_counts_a_user_in_every_week_they_were_active(three_weeks):
    table = retention(three_weeks, start="2026-01-05", end="2026-01-25")
    want = expected(
        ("2026-01-05", 2, 0, 2),  # alice, bob
        ("2026-01-05", 2, 1, 1),  # alice; bob skipped week 2
        ("2026-01-05", 2, 2, 2),  # bob is back in week 3: exact mode counts him here only
        ("2026-01-12", 2, 0, 2),  # alice again (recurring), carol
        ("2026-01-12", 2, 1, 1),  # alice
        ("2026-01-19", 2, 0, 2),  # alice, bob
    )
    assert_frame_equal(core(table), want)


def test_on_or_after_counts_a_return_in_any_later_week(three_weeks):
    table = retention(three_weeks, start="2026-01-05", end="2026-01-25", mode="on_or_after")
    want = expected(
        ("2026-01-05", 2, 0, 2),
        ("2026-01-05", 2, 1, 2),  # bob counts at week 1 too: he returned in week 2 "or later"
        ("2026-01-05", 2, 2, 2),
        ("2026-01-12", 2, 0, 2),
        ("2026-01-12", 2, 1, 1),  # carol never returned
        ("2026-01-19", 2, 0, 2),
    )
    assert_frame_equal(core(table), want)


def test_first_time_cohort_and_a_cohort_nobody_returns_to(three_weeks):
    table = retention(
        three_weeks, start="2026-01-05", end="2026-01-25", retention_type="first_time"
    )
    want = expected(
        ("2026-01-05", 2, 0, 2),  # alice and bob were first seen in week 1
        ("2026-01-05", 2, 1, 1),
        ("2026-01-05", 2, 2, 2),
        ("2026-01-12", 1, 0, 1),  # only carol is new in week 2 (alice is not new any more)
        ("2026-01-12", 1, 1, 0),  # carol never came back: 0%, not missing
        ("2026-01-19", 0, 0, 0),  # nobody new in week 3: an empty cohort has no rate
    )
    assert_frame_equal(core(table), want)
    carol = table.filter(pl.col("cohort_start") == dt.date(2026, 1, 12), pl.col("offset") == 1)
    assert carol["rate_ci_low"].item() == 0.0
    assert carol["rate_ci_high"].item() == pytest.approx(
        proportion_confint(0, 1, method="wilson")[1]
    )
    empty = table.filter(pl.col("cohort_size") == 0)
    assert empty["rate_ci_low"].to_list() == [None]


def test_first_time_ignores_users_whose_first_event_is_before_the_range():
    events = make_events(
        ("dave", "signup", "2025-12-30 09:00"),  # before the range
        ("dave", "page_view", "2026-01-07 09:00"),
        ("dave", "page_view", "2026-01-15 09:00"),
        ("erin", "signup", "2026-01-06 09:00"),
        ("erin", "page_view", "2026-01-13 09:00"),
    )
    first_signup = retention(
        events,
        start="2026-01-05",
        end="2026-01-18",
        start_event="signup",
        return_event="page_view",
        retention_type="first_time",
    )
    assert_frame_equal(
        core(first_signup),
        expected(
            ("2026-01-05", 1, 0, 1),  # erin only: dave signed up in December
            ("2026-01-05", 1, 1, 1),
            ("2026-01-12", 0, 0, 0),
        ),
    )
    first_seen = retention(
        events, start="2026-01-05", end="2026-01-18", retention_type="first_time"
    )
    assert first_seen["cohort_size"].to_list() == [1, 1, 0]  # still only erin
    recurring = retention(events, start="2026-01-05", end="2026-01-18")
    assert_frame_equal(
        core(recurring),
        expected(
            ("2026-01-05", 2, 0, 2),  # recurring: dave is active in the range, so he counts
            ("2026-01-05", 2, 1, 2),
            ("2026-01-12", 2, 0, 2),
        ),
    )


def test_activity_at_2330_local_belongs_to_the_local_day_and_week():
    events = make_events(
        ("frank", "page_view", "2026-01-11 23:30-05:00"),  # Sunday night in New York, Monday UTC
        ("frank", "page_view", "2026-01-12 23:30-05:00"),
        ("gina", "page_view", "2026-01-05 09:00-05:00"),
        ("gina", "page_view", "2026-01-18 23:30-05:00"),  # Sunday night, Monday Jan 19 in UTC
    )
    new_york = retention(events, start="2026-01-05", end="2026-01-18", tz="America/New_York")
    assert_frame_equal(
        core(new_york),
        expected(
            ("2026-01-05", 2, 0, 2),  # frank's Sunday 23:30 is still week 1 in New York
            ("2026-01-05", 2, 1, 2),
            ("2026-01-12", 2, 0, 2),  # gina's Sunday 23:30 is in the range in New York
        ),
    )
    utc = retention(events, start="2026-01-05", end="2026-01-18", tz="UTC")
    assert_frame_equal(
        core(utc),
        expected(
            ("2026-01-05", 1, 0, 1),  # gina only: frank's events are Monday and Tuesday in UTC
            ("2026-01-05", 1, 1, 0),  # gina's return fell on Jan 19 UTC, after the range
            ("2026-01-12", 1, 0, 1),
        ),
    )
    days = retention(
        events, start="2026-01-11", end="2026-01-12", interval="day", tz="America/New_York"
    )
    assert days["cohort_size"].to_list() == [1, 1, 1]  # frank on the 11th and on the 12th


def test_rolling_days_are_24_hours_even_across_a_daylight_saving_change():
    # Berlin moves its clocks forward at 02:00 on Sunday 2026-03-29: that day lasts 23 hours.
    events = make_events(
        ("hank", "signup", "2026-03-28 12:00+01:00"),
        ("hank", "page_view", "2026-03-29 11:30+02:00"),  # next calendar day, but 22.5 h later
        ("ivan", "signup", "2026-03-28 08:00+01:00"),
        ("ivan", "page_view", "2026-03-29 08:30+02:00"),  # 23.5 h later
        ("ivan", "page_view", "2026-03-30 07:30+02:00"),  # 46.5 h later
    )
    params = dict(
        start="2026-03-28",
        end="2026-03-30",
        interval="day",
        start_event="signup",
        return_event="page_view",
        retention_type="first_time",
        tz="Europe/Berlin",
    )
    calendar = retention(events, **params)
    assert_frame_equal(
        core(calendar),
        expected(
            ("2026-03-28", 2, 0, 2),
            ("2026-03-28", 2, 1, 2),  # both came back on the next calendar day
            ("2026-03-28", 2, 2, 1),  # ivan on Monday
            ("2026-03-29", 0, 0, 0),
            ("2026-03-29", 0, 1, 0),
            ("2026-03-30", 0, 0, 0),
        ),
    )
    rolling = retention(events, periods="rolling", **params)
    assert_frame_equal(
        core(rolling),
        expected(
            ("2026-03-28", 2, 0, 2),
            # Only ivan's Monday visit (46.5 h) lands in [24 h, 48 h); both Sunday visits came
            # less than 24 h after sign-up, so they are day 0. The cell is incomplete: someone
            # who signed up at 23:59 on the 28th is in day 1 until 23:59 on the 30th (the 29th
            # being 23 hours long), after the range ends at midnight.
            ("2026-03-28", 2, 1, 1, True),
            ("2026-03-28", 2, 2, 0, True),
            ("2026-03-29", 0, 0, 0),
            ("2026-03-29", 0, 1, 0, True),
            ("2026-03-30", 0, 0, 0),
        ),
    )


def test_rolling_offsets_stop_at_the_last_period_even_on_a_25_hour_day():
    # Berlin turns its clocks back at 03:00 on Sunday 2026-10-25: that day lasts 25 hours.
    events = make_events(
        ("owen", "signup", "2026-10-24 00:10+02:00"),
        ("owen", "page_view", "2026-10-25 23:30+01:00"),  # 48h20m later: rolling day 2
    )
    params = dict(
        start="2026-10-24",
        end="2026-10-25",
        interval="day",
        start_event="signup",
        return_event="page_view",
        mode="on_or_after",
        tz="Europe/Berlin",
    )
    assert triangle(retention(events, **params)) == [[1, 1], [0]]  # calendar: Sunday is day 1
    # Rolling: the visit is day 2, past the last offset (1) the range has room for, so it
    # counts nowhere, not even as "day 1 or later".
    assert triangle(retention(events, periods="rolling", **params)) == [[1, 0], [0]]


@pytest.fixture
def straddling():
    return make_events(
        ("kim", "page_view", "2026-01-26 09:00"),  # Monday, before `start` but in its week
        ("jack", "page_view", "2026-01-29 10:00"),  # Thursday
        ("jack", "page_view", "2026-02-01 10:00"),  # Sunday: Monday-week 1 but Sunday-week 2
        ("jack", "page_view", "2026-02-09 10:00"),  # Monday
    )


def test_weeks_straddling_months_monday_weeks(straddling):
    table = retention(straddling, start="2026-01-28", end="2026-02-10")
    assert_frame_equal(
        core(table),
        expected(
            ("2026-01-26", 2, 0, 2),  # the whole first week counts, so kim is in
            ("2026-01-26", 2, 1, 0),  # jack's Sunday is still week 1
            ("2026-01-26", 2, 2, 1, True),  # the week of Feb 9 is not over on Feb 10
            ("2026-02-02", 0, 0, 0),
            ("2026-02-02", 0, 1, 0, True),
            ("2026-02-09", 1, 0, 1, True),
        ),
    )


def test_weeks_straddling_months_sunday_weeks(straddling):
    table = retention(straddling, start="2026-01-28", end="2026-02-10", week_start="sunday")
    assert_frame_equal(
        core(table),
        expected(
            ("2026-01-25", 2, 0, 2),
            ("2026-01-25", 2, 1, 1),  # jack's Sunday Feb 1 opens the second Sunday-week
            ("2026-01-25", 2, 2, 1, True),
            ("2026-02-01", 1, 0, 1),
            ("2026-02-01", 1, 1, 1, True),
            ("2026-02-08", 1, 0, 1, True),
        ),
    )


def test_months(straddling):
    table = retention(straddling, start="2026-01-28", end="2026-02-10", interval="month")
    assert_frame_equal(
        core(table),
        expected(
            ("2026-01-01", 2, 0, 2),
            ("2026-01-01", 2, 1, 1, True),  # February is not over on the 10th
            ("2026-02-01", 1, 0, 1, True),
        ),
    )


def test_rolling_months_count_whole_months_like_timestampdiff():
    events = make_events(
        ("leo", "signup", "2026-01-31 10:00"),
        ("leo", "page_view", "2026-02-28 12:00"),  # Feb has no 31st: 0 whole months yet
        ("leo", "page_view", "2026-03-31 09:00"),  # an hour short of 2 months: 1
        ("leo", "page_view", "2026-04-30 23:00"),  # April has no 31st: 2
        ("mia", "signup", "2026-02-28 08:00"),
        ("mia", "page_view", "2026-03-28 09:00"),  # 1 month
        ("mia", "page_view", "2026-04-28 07:00"),  # an hour short of 2 months: 1 again
    )
    params = dict(
        start="2026-01-01",
        end="2026-04-30",
        interval="month",
        start_event="signup",
        return_event="page_view",
        retention_type="first_time",
    )
    assert_frame_equal(
        core(retention(events, **params)),
        expected(
            ("2026-01-01", 1, 0, 1),
            ("2026-01-01", 1, 1, 1),  # calendar: Feb 28 is "month 1"
            ("2026-01-01", 1, 2, 1),
            ("2026-01-01", 1, 3, 1),
            ("2026-02-01", 1, 0, 1),
            ("2026-02-01", 1, 1, 1),
            ("2026-02-01", 1, 2, 1),
            ("2026-03-01", 0, 0, 0),
            ("2026-03-01", 0, 1, 0),
            ("2026-04-01", 0, 0, 0),
        ),
    )
    assert_frame_equal(
        core(retention(events, periods="rolling", **params)),
        expected(
            ("2026-01-01", 1, 0, 1),
            ("2026-01-01", 1, 1, 1),  # Mar 31 09:00
            ("2026-01-01", 1, 2, 1),  # Apr 30 23:00
            # Someone who signed up on Jan 31 23:59 is in month 3 until May 1, after the range.
            ("2026-01-01", 1, 3, 0, True),
            ("2026-02-01", 1, 0, 1),
            ("2026-02-01", 1, 1, 1),  # both of mia's visits are month 1
            ("2026-02-01", 1, 2, 0, True),
            ("2026-03-01", 0, 0, 0),
            ("2026-03-01", 0, 1, 0, True),
            ("2026-04-01", 0, 0, 0),
        ),
    )


@pytest.mark.parametrize(
    "t, r, months",
    [
        ("2026-01-31 10:00", "2026-02-28 12:00", 0),
        ("2026-01-31 00:00", "2026-03-01 00:00", 1),
        ("2026-01-31 10:00", "2026-03-31 09:59", 1),
        ("2026-01-31 10:00", "2026-03-31 10:00", 2),
        ("2028-01-31 10:00", "2028-02-29 23:59", 0),  # leap year: still no 31st
        ("2028-02-29 08:00", "2028-03-29 08:00", 1),
        ("2026-01-15 00:00", "2027-01-14 23:59", 11),
        ("2026-01-15 00:00", "2027-01-15 00:00", 12),
    ],
)
def test_a_rolling_month_return_lands_at_the_timestampdiff_offset(t, r, months):
    # One user, one start and one return: the return is retained at offset
    # TIMESTAMPDIFF(MONTH, t, r) of the start's monthly cohort and nowhere else.
    events = make_events(("una", "signup", t), ("una", "visit", r))
    start, end = dt.datetime.fromisoformat(t).date(), dt.datetime.fromisoformat(r).date()
    table = retention(
        events,
        start=start.replace(day=1),
        end=end,
        interval="month",
        periods="rolling",
        start_event="signup",
        return_event="visit",
        retention_type="first_time",
    )
    cohort = table.filter(pl.col("cohort_start") == start.replace(day=1)).sort("offset")
    offsets = cohort.height
    assert cohort["retained"].to_list() == [1] + [int(k == months) for k in range(1, offsets)]
    assert (
        reference.months_between(dt.datetime.fromisoformat(t), dt.datetime.fromisoformat(r))
        == months
    )


def test_empty_range_is_a_table_of_zeros_not_an_error():
    events = make_events(("zoe", "page_view", "2025-06-01 10:00"))
    want = expected(
        ("2026-01-05", 0, 0, 0),
        ("2026-01-05", 0, 1, 0),
        ("2026-01-12", 0, 0, 0),
    )
    for frame in (events, make_events()):
        for periods in ("calendar", "rolling"):
            table = retention(frame, start="2026-01-05", end="2026-01-18", periods=periods)
            assert_frame_equal(core(table).drop("incomplete"), want.drop("incomplete"))
            assert table["rate_ci_low"].null_count() == table.height


def test_different_start_and_return_events():
    events = make_events(
        ("nina", "signup", "2026-01-05 09:00"),
        ("nina", "purchase", "2026-01-05 10:00"),  # same week as the sign-up: offset 0 anyway
        ("nina", "page_view", "2026-01-13 09:00"),  # not a return event
        ("omar", "signup", "2026-01-06 09:00"),
        ("omar", "purchase", "2026-01-14 09:00"),
        ("pia", "purchase", "2026-01-07 09:00"),  # never signed up: in no cohort
    )
    table = retention(
        events,
        start="2026-01-05",
        end="2026-01-18",
        start_event="signup",
        return_event=["purchase", "subscribe"],
    )
    assert_frame_equal(
        core(table),
        expected(
            ("2026-01-05", 2, 0, 2),
            ("2026-01-05", 2, 1, 1),  # omar
            ("2026-01-12", 0, 0, 0),
        ),
    )


def test_filters_apply_to_start_and_return_events():
    events = make_events(
        ("quinn", "page_view", "2026-01-05 09:00", {"platform": "web"}),
        ("quinn", "page_view", "2026-01-12 09:00", {"platform": "ios"}),
        ("rita", "page_view", "2026-01-05 09:00", {"platform": "ios"}),
        ("rita", "page_view", "2026-01-13 09:00", {"platform": "ios"}),
    )
    table = retention(events, start="2026-01-05", end="2026-01-18", filters={"platform": ["ios"]})
    assert_frame_equal(
        core(table),
        expected(
            ("2026-01-05", 1, 0, 1),  # rita; quinn's week-1 visit was on the web
            ("2026-01-05", 1, 1, 1),
            ("2026-01-12", 2, 0, 2),
        ),
    )


def test_a_global_filter_drops_other_events_before_first_time_is_decided():
    # The query's scope carries the filter: web events are gone before anything is counted, so
    # sam's first-ever iOS visit is in range even though he was on the web in December.
    events = make_events(
        ("sam", "page_view", "2025-12-20 09:00", {"platform": "web"}),
        ("sam", "page_view", "2026-01-06 09:00", {"platform": "ios"}),
        ("sam", "page_view", "2026-01-13 09:00", {"platform": "ios"}),
        ("tara", "page_view", "2026-01-07 09:00", {"platform": "web"}),
        ("tara", "page_view", "2026-01-14 09:00", {"platform": "ios"}),
    )
    query = RetentionQuery.build(
        start="2026-01-05",
        end="2026-01-18",
        retention_type="first_time",
        filters={"platform": ["ios"]},
    )
    assert_frame_equal(
        core(retention_of(events, query)),
        expected(
            ("2026-01-05", 1, 0, 1),  # sam (his web visit in December no longer counts)
            ("2026-01-05", 1, 1, 1),
            ("2026-01-12", 1, 0, 1),  # tara: her first iOS visit; the web one is dropped
        ),
    )


def test_equal_queries_are_one_cache_key():
    # Spelled differently (ISO text or dates, a list or a tuple, filters in another order), the
    # same table: equal and hashed alike, so the app computes it once.
    written = RetentionQuery.build(
        start="2026-01-05",
        end="2026-01-18",
        start_event=["signup", "invite"],
        filters={"platform": ["ios", "web"], "country": "US"},
    )
    typed = RetentionQuery.build(
        start=dt.date(2026, 1, 5),
        end=dt.datetime(2026, 1, 18, 12, 0),
        start_event=("signup", "invite"),
        filters={"country": "US", "platform": ("ios", "web")},
    )
    assert {written: "computed"}[typed] == "computed"


def test_the_keyword_functions_build_the_query(three_weeks):
    query = RetentionQuery.build(start="2026-01-05", end="2026-01-25", mode="on_or_after")
    assert_frame_equal(
        retention(three_weeks, start="2026-01-05", end="2026-01-25", mode="on_or_after"),
        retention_of(three_weeks, query),
    )


def test_revenue_retention_of_a_query(purchases):
    query = RetentionQuery.build(
        start="2026-01-05", end="2026-01-25", start_event="signup", retention_type="first_time"
    )
    assert_frame_equal(
        revenue_retention(purchases, start="2026-01-05", end="2026-01-25", start_event="signup"),
        revenue_retention_of(purchases, query),
    )


# --------------------------------------------------------------------------------------------------
# PostHog's test cases (calendar periods)


def _posthog_date(day: int, hour: int = 5, month: int = 0) -> str:
    """PostHog's test helper: datetime(2020, 6 + month, 10 + day, hour)."""
    return f"2020-{6 + month:02d}-{10 + day:02d} {hour:02d}:00"


def _pageviews(*pairs: tuple) -> pl.DataFrame:
    rows = [(user, "$pageview", _posthog_date(*when)) for user, *when in pairs]
    return make_events(*rows)


def test_posthog_day_interval():
    events = _pageviews(
        ("person1", 0),
        ("person1", 1),
        ("person1", 2),
        ("person1", 5),
        ("person1", 5, 9),  # an alias of person1 in PostHog
        ("person1", 6),
        ("person2", 1),
        ("person2", 2),
        ("person2", 3),
        ("person2", 6),
    )
    table = retention(events, start="2020-06-10", end="2020-06-20", interval="day")
    assert triangle(table) == [
        [1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0],
        [2, 2, 1, 0, 1, 2, 0, 0, 0, 0],
        [2, 1, 0, 1, 2, 0, 0, 0, 0],
        [1, 0, 0, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [2, 0, 0, 0, 0],
        [0, 0, 0, 0],
        [0, 0, 0],
        [0, 0],
        [0],
    ]


def test_posthog_month_interval():
    events = _pageviews(
        *[("person1", 0, 5, m) for m in (-5, -4, -3, -1, 0, 3)],
        *[("person2", 0, 5, m) for m in (-5, -4, -3, 0, 1, 5)],
    )
    table = retention(events, start="2020-01-10", end="2020-11-25", interval="month")
    assert table["cohort_start"].unique().sort().dt.month().to_list() == list(range(1, 12))
    assert triangle(table) == [
        [2, 2, 2, 0, 1, 2, 1, 0, 1, 0, 1],
        [2, 2, 0, 1, 2, 1, 0, 1, 0, 1],
        [2, 0, 1, 2, 1, 0, 1, 0, 1],
        [0, 0, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 1, 0, 0],
        [2, 1, 0, 1, 0, 1],
        [1, 0, 0, 0, 1],
        [0, 0, 0, 0],
        [1, 0, 0],
        [0, 0],
        [1],
    ]


@pytest.mark.parametrize("week_start, first", [("sunday", "2020-06-07"), ("monday", "2020-06-08")])
def test_posthog_week_interval(week_start, first):
    events = _pageviews(
        ("person1", 0),
        ("person2", 0),
        ("person1", 1),
        ("person2", 1),
        ("person1", 7),
        ("person2", 7),
        ("person1", 14),
        ("person1", -6, 5, 1),
        ("person2", -6, 5, 1),
        ("person2", 1, 5, 1),
        ("person1", 1, 5, 1),
        ("person2", 15, 5, 1),  # Jul 25: after `end`, but inside the last week, so it counts
    )
    table = retention(events, start=first, end="2020-07-20", week_start=week_start)
    assert table["cohort_start"][0] == dt.date.fromisoformat(first)
    assert triangle(table) == [
        [2, 2, 1, 2, 2, 0, 1],
        [2, 1, 2, 2, 0, 1],
        [1, 1, 1, 0, 0],
        [2, 2, 0, 1],
        [2, 0, 1],
        [0, 0],
        [1],
    ]


def test_posthog_rolling_retention_is_our_on_or_after():
    # PostHog's "cumulative" option; its test calls it rolling retention.
    events = _pageviews(
        ("person1", 0),
        ("person1", 3),
        ("person1", 4),
        ("person2", 0),
        ("person2", 1),
        ("person3", 1),
        ("person3", 2),
        ("person3", 3),
        ("person4", 3),
        ("person4", 4),
        ("person5", 4),
    )
    five = retention(
        events, start="2020-06-11", end="2020-06-15", interval="day", mode="on_or_after"
    )
    assert triangle(five) == [[2, 1, 1, 0, 0], [1, 1, 0, 0], [3, 2, 0], [3, 0], [0]]
    six = retention(
        events, start="2020-06-10", end="2020-06-15", interval="day", mode="on_or_after"
    )
    assert triangle(six) == [
        [2, 2, 1, 1, 1, 0],
        [2, 1, 1, 0, 0],
        [1, 1, 0, 0],
        [3, 2, 0],
        [3, 0],
        [0],
    ]


@pytest.fixture
def posthog_first_time_events():
    signups = [
        ("shouldnt_include", -5),
        ("shouldnt_include", -1),
        ("person1", -1),
        ("person1", 1),
        ("person1", 2),
        ("person1", 3),
        ("person1", 4),
        ("person2", -1),
        ("person3", 0),
        ("person4", 2),
    ]
    views = [
        ("person1", 0),
        ("person1", 1),
        ("person1", 2),
        ("person1", 5),
        ("person1", 5, 9),
        ("person1", 6),
        ("person2", 1),
        ("person2", 2),
        ("person2", 3),
        ("person2", 6),
        ("person3", 1),
        ("person3", 3),
        ("person3", 4),
        ("person3", 5),
        ("person4", 3),
        ("person4", 5),
    ]
    rows = [(u, "$user_signed_up", _posthog_date(*w)) for u, *w in signups]
    rows += [(u, "$pageview", _posthog_date(*w)) for u, *w in views]
    return make_events(*rows)


def test_posthog_first_time_retention(posthog_first_time_events):
    table = retention(
        posthog_first_time_events,
        start="2020-06-09",
        end="2020-06-15",
        interval="day",
        retention_type="first_time",
        start_event="$user_signed_up",
        return_event="$pageview",
    )
    assert triangle(table) == [
        [2, 1, 2, 2, 1, 0, 1],
        [1, 1, 0, 1, 1, 1],
        [0, 0, 0, 0, 0],
        [1, 1, 0, 1],
        [0, 0, 0],
        [0, 0],
        [0],
    ]


def test_posthog_first_time_retention_weeks(posthog_first_time_events):
    table = retention(
        posthog_first_time_events,
        start="2020-05-03",
        end="2020-06-15",
        week_start="sunday",
        retention_type="first_time",
        start_event="$user_signed_up",
        return_event="$pageview",
    )
    assert triangle(table) == [
        [0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0],
        [1, 0, 0],  # shouldnt_include's first sign-up, Friday Jun 5
        [4, 4],  # the returns on Jun 16 come after `end` but inside its week
        [0],
    ]


def test_posthog_timezones():
    events = _pageviews(
        ("person1", -1, 1),
        ("person1", 0, 1),
        ("person1", 1, 1),  # the only one on Jun 10 in US/Pacific
        ("person2", 6, 1),
        ("person2", 6, 9),
    )
    params = dict(start="2020-06-10", end="2020-06-20", interval="day")
    assert triangle(retention(events, **params))[:7] == [
        [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0],  # person2
    ]
    assert triangle(retention(events, tz="US/Pacific", **params))[:7] == [
        [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],  # person2's two events fall on two Pacific days
        [1, 0, 0, 0, 0],
    ]


def test_posthog_all_events_target_first_time():
    events = make_events(
        *[("person1", "event1", _posthog_date(d)) for d in (0, 1, 2)],
        *[("person1", "event2", _posthog_date(d)) for d in (2, 3)],
    )
    params = dict(
        start="2020-06-09",
        end="2020-06-12",
        interval="day",
        retention_type="first_time",
        start_event="event2",
    )
    specific = retention(events, return_event="event2", **params)
    anything = retention(events, return_event=None, **params)
    assert triangle(specific) == [[0, 0, 0, 0], [0, 0, 0], [0, 0], [1]]
    assert_frame_equal(specific, anything)


# --------------------------------------------------------------------------------------------------
# Revenue retention and the average curves


@pytest.fixture
def purchases():
    return make_events(
        ("alice", "signup", "2026-01-05 09:00"),
        ("alice", "purchase", "2026-01-07 09:00", {"revenue": 20.0}),
        ("alice", "purchase", "2026-01-14 08:00", {"revenue": 10.0}),
        ("bob", "purchase", "2026-01-06 08:00", {"revenue": 7.0}),  # two hours before signing up
        ("bob", "signup", "2026-01-06 10:00"),
        ("bob", "page_view", "2026-01-08 10:00"),
        ("carol", "signup", "2026-01-13 11:00"),
        ("carol", "purchase", "2026-01-20 10:00", {"revenue": 5.0}),  # 6 days 23 hours later
        ("dan", "purchase", "2026-01-08 10:00", {"revenue": 99.0}),  # never signed up
    )


def _revenue_expected(rows):
    return pl.DataFrame(
        rows,
        schema={
            "cohort_start": pl.Date,
            "cohort_size": pl.Int64,
            "offset": pl.Int64,
            "revenue": pl.Float64,
            "paying_users": pl.Int64,
            "revenue_per_user": pl.Float64,
            "cumulative_revenue_per_user": pl.Float64,
            "incomplete": pl.Boolean,
        },
        orient="row",
    )


def test_revenue_retention_calendar_weeks(purchases):
    table = revenue_retention(purchases, start="2026-01-05", end="2026-01-25", start_event="signup")
    d = dt.date
    want = _revenue_expected(
        [
            # bob's purchase before his sign-up is in his sign-up week, so it counts in week 0.
            (d(2026, 1, 5), 2, 0, 27.0, 2, 13.5, 13.5, False),
            (d(2026, 1, 5), 2, 1, 10.0, 1, 5.0, 18.5, False),
            (d(2026, 1, 5), 2, 2, 0.0, 0, 0.0, 18.5, False),
            (d(2026, 1, 12), 1, 0, 0.0, 0, 0.0, 0.0, False),
            (d(2026, 1, 12), 1, 1, 5.0, 1, 5.0, 5.0, False),
            (d(2026, 1, 19), 0, 0, 0.0, 0, None, None, False),  # dan's 99 is nobody's
        ]
    )
    assert_frame_equal(table, want)


def test_revenue_retention_rolling_weeks(purchases):
    table = revenue_retention(
        purchases, start="2026-01-05", end="2026-01-25", start_event="signup", periods="rolling"
    )
    d = dt.date
    want = _revenue_expected(
        [
            (d(2026, 1, 5), 2, 0, 20.0, 1, 10.0, 10.0, False),  # bob's 7 came before his start
            (d(2026, 1, 5), 2, 1, 10.0, 1, 5.0, 15.0, False),  # alice, 8 days 23 hours in
            (d(2026, 1, 5), 2, 2, 0.0, 0, 0.0, 15.0, True),
            (d(2026, 1, 12), 1, 0, 5.0, 1, 5.0, 5.0, False),  # carol paid within 7×24h
            (d(2026, 1, 12), 1, 1, 0.0, 0, 0.0, 5.0, True),
            # Someone starting on Sunday the 25th could still pay until Feb 1: unfinished.
            (d(2026, 1, 19), 0, 0, 0.0, 0, None, None, True),
        ]
    )
    assert_frame_equal(table, want)


def test_average_ltv_pools_cohorts_by_size(purchases):
    table = revenue_retention(purchases, start="2026-01-05", end="2026-01-25", start_event="signup")
    want = pl.DataFrame(
        {
            "offset": [0, 1, 2],
            "cumulative_revenue_per_user": [27 / 3, (37 + 5) / 3, 37 / 2],
            "users": [3, 3, 2],
            "cohorts": [2, 2, 1],
            "incomplete": [False, False, False],
        }
    )
    assert_frame_equal(average_ltv(table), want)


def test_average_curve_leaves_incomplete_cells_out():
    table = pl.DataFrame(
        {
            "cohort_start": [dt.date(2026, 1, d) for d in (5, 5, 5, 12, 12, 19)],
            "cohort_size": [10, 10, 10, 30, 30, 0],
            "offset": [0, 1, 2, 0, 1, 0],
            "retained": [10, 4, 2, 30, 6, 0],
            "incomplete": [False, False, True, False, True, True],
        }
    )
    curve = average_curve(table)
    low, high = proportion_confint(4, 10, method="wilson")
    want = pl.DataFrame(
        {
            "offset": [0, 1, 2],
            "rate": [1.0, 0.4, 0.2],  # 6/30 at offset 1 is unfinished and would drag it to 25%
            "retained": [40, 4, 2],
            "users": [40, 10, 10],
            "cohorts": [2, 1, 1],
            "incomplete": [False, False, True],  # no cohort has finished offset 2 yet
        }
    )
    assert_frame_equal(curve.drop("rate_ci_low", "rate_ci_high"), want)
    assert curve["rate_ci_low"][1] == pytest.approx(low)
    assert curve["rate_ci_high"][1] == pytest.approx(high)


def test_average_curve_of_a_real_table(three_weeks):
    curve = average_curve(retention(three_weeks, start="2026-01-05", end="2026-01-25"))
    assert curve["rate"].to_list() == [1.0, 2 / 4, 2 / 2]
    assert curve["users"].to_list() == [6, 4, 2]


# --------------------------------------------------------------------------------------------------
# Arguments


@pytest.mark.parametrize(
    "argument, value",
    [
        ("interval", "hour"),
        ("retention_type", "first"),
        ("mode", "cumulative"),
        ("periods", "sliding"),
        ("week_start", "friday"),
        ("tz", "Mars/Olympus"),
        ("start_event", 42),
        ("return_event", []),
    ],
)
def test_bad_arguments_name_themselves(three_weeks, argument, value):
    with pytest.raises(ValueError, match=argument):
        retention(three_weeks, start="2026-01-05", end="2026-01-25", **{argument: value})


def test_end_before_start_and_missing_revenue_column(three_weeks):
    with pytest.raises(ValueError, match="before start"):
        retention(three_weeks, start="2026-01-25", end="2026-01-05")
    with pytest.raises(ValueError, match="revenue_column"):
        revenue_retention(
            three_weeks, start="2026-01-05", end="2026-01-25", revenue_column="amount"
        )
    with pytest.raises(ValueError, match="table"):
        average_curve(pl.DataFrame({"offset": [0]}))
    with pytest.raises(ValueError, match="filters: the events have no column 'plan'"):
        retention(three_weeks, start="2026-01-05", end="2026-01-25", filters={"plan": "pro"})


def test_a_user_id_hash_collision_falls_back_to_exact_grouping(three_weeks, monkeypatch):
    # Make the fast path's user key collide for every user (all ids of one length share a key:
    # alice and carol). Grouped by that key, they would be one user, and week 2's cohort would
    # hold one user instead of two; the collision is noticed and the strings are grouped instead.
    monkeypatch.setattr(
        calendar_counting,
        "_hashed_user_key",
        lambda: pl.col("user_id").str.len_bytes().cast(pl.UInt64),
    )
    table = retention(three_weeks, start="2026-01-05", end="2026-01-25")
    assert triangle(table) == [[2, 1, 2], [2, 1], [2]]  # as in the first story


def test_lazy_input_and_input_left_untouched(three_weeks):
    before = three_weeks.clone()
    eager = retention(three_weeks, start="2026-01-05", end="2026-01-25")
    lazy = retention(three_weeks.lazy(), start="2026-01-05", end="2026-01-25")
    assert_frame_equal(eager, lazy)
    assert_frame_equal(three_weeks, before)


# --------------------------------------------------------------------------------------------------
# Property tests: the Polars code against the plain-Python reference, and invariants

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
USERS = ["u1", "u2", "u3", "u4", "u5"]


@st.composite
def cases(draw):
    """A small random event log around a random range, and every option of `retention`."""
    interval = draw(st.sampled_from(["day", "week", "month"]))
    # Ranges near the 2026 daylight-saving changes of Europe, the US and Lord Howe Island.
    base = draw(st.sampled_from([dt.date(2026, 3, 1), dt.date(2026, 3, 25), dt.date(2026, 10, 15)]))
    start = base + dt.timedelta(days=draw(st.integers(0, 20)))
    span = {"day": 70, "week": 60, "month": 150}[interval]  # 70 days: beyond the 63-bit masks
    end = start + dt.timedelta(days=draw(st.integers(0, span)))
    origin = dt.datetime.combine(start, dt.time(), dt.UTC) - dt.timedelta(days=40)
    minutes = ((end - start).days + 80) * 1440
    rows = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "user_id": st.sampled_from(USERS),
                    "event": st.sampled_from(["a", "b", "c"]),
                    "timestamp": st.integers(0, minutes).map(
                        lambda m: origin + dt.timedelta(minutes=m)
                    ),
                    "plan": st.sampled_from(["free", "pro"]),
                    "revenue": st.sampled_from([None, None, 0.0, 5.0, 12.5]),
                }
            ),
            max_size=40,
        )
    )
    options = {
        "start": start,
        "end": end,
        "interval": interval,
        "tz": draw(st.sampled_from(ZONES)),
        "week_start": draw(st.sampled_from(["monday", "sunday"])),
        "periods": draw(st.sampled_from(["calendar", "rolling"])),
        "retention_type": draw(st.sampled_from(["recurring", "first_time"])),
        "start_event": draw(st.sampled_from([None, "a", ["a", "b"]])),
        "filters": draw(st.sampled_from([None, {"plan": "pro"}])),
    }
    return rows, options


def as_frame(rows: list[dict]) -> pl.DataFrame:
    schema = {
        "user_id": pl.String,
        "event": pl.String,
        "timestamp": pl.Datetime("us", "UTC"),
        "plan": pl.String,
        "revenue": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


# The monkeypatched fixture below sets one constant for every example, which is safe to share.
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(params=["bit masks", "join"])
def both_paths(request, monkeypatch):
    """Run a test through the per-user bit masks and through the join used for many periods."""
    if request.param == "join":
        monkeypatch.setattr(calendar_counting, "_BITMASK_MAX_PERIODS", 0)
    return request.param


@PROPERTY
@given(
    case=cases(),
    return_event=st.sampled_from([None, "b", "a"]),
    mode=st.sampled_from(["exact", "on_or_after"]),
)
def test_retention_matches_the_reference(both_paths, case, return_event, mode):
    rows, options = case
    got = retention(as_frame(rows), return_event=return_event, mode=mode, **options)
    want = pl.DataFrame(
        reference.retention(rows, return_event=return_event, mode=mode, **options),
        schema={name: got.schema[name] for name in CORE},
    )
    assert_frame_equal(core(got), want)


@PROPERTY
@given(case=cases(), mode=st.sampled_from(["exact", "on_or_after"]))
def test_one_activity_table_answers_calendar_cohorts_as_the_events_do(case, mode):
    """The Retention page reads calendar cohorts of one event off the activity table that the
    Engagement page counts: every range, interval and cohort type, with the events' answer."""
    rows, options = case
    options = {**options, "periods": "calendar"}
    query = RetentionQuery.build(return_event=options["start_event"], mode=mode, **options)
    assume(answers_from_activity(query))  # at most 63 periods
    events = as_frame(rows)
    table = activity_of(events, query.scope, query.start_event)
    assert table is not None
    assert_frame_equal(retention_from(table, query), retention_of(events, query))


def test_an_activity_table_answers_only_calendar_cohorts_of_its_own_event():
    events = make_events(("u1", "a", "2026-03-02 10:00"), ("u1", "b", "2026-03-09 10:00"))
    query = RetentionQuery.build(start="2026-03-02", end="2026-03-15", start_event="a")
    table = activity_of(events, query.scope, "a")
    assert answers_from_activity(replace(query, return_event="a"))
    for other in (
        query,  # signs up with a, returns with any event: two event sets
        replace(query, return_event="a", periods="rolling"),  # times, not days
        replace(
            query,
            return_event="a",
            interval="day",
            scope=query.scope.between(dt.date(2026, 1, 1), dt.date(2026, 3, 31)),
        ),  # 90 periods: more than a mask holds
    ):
        assert not answers_from_activity(other)
        with pytest.raises(ValueError, match="calendar periods"):
            retention_from(table, other)
    elsewhere = replace(query, return_event="a", scope=query.scope.with_filters({"plan": "pro"}))
    with pytest.raises(ValueError, match="counted for another zone, filters or event"):
        retention_from(table, elsewhere)


@PROPERTY
@given(case=cases())
def test_revenue_retention_matches_the_reference(case):
    rows, options = case
    got = revenue_retention(as_frame(rows), **options).drop("revenue_per_user")
    want = pl.DataFrame(reference.revenue_retention(rows, **options), schema=got.schema)
    assert_frame_equal(got, want)


@PROPERTY
@given(case=cases(), return_event=st.sampled_from([None, "b"]), seed=st.integers(0, 1000))
def test_invariants(case, return_event, seed):
    rows, options = case
    exact = retention(as_frame(rows), return_event=return_event, **options)
    # Offset 0 is the whole cohort; no rate goes above 100%; the interval holds the rate.
    zero = exact.filter(pl.col("offset") == 0, pl.col("cohort_size") > 0)
    assert (zero["rate"] == 1.0).all()
    assert (exact["retained"] <= exact["cohort_size"]).all()
    rated = exact.drop_nulls("rate")
    assert ((rated["rate"] >= 0) & (rated["rate"] <= 1)).all()
    assert (rated["rate_ci_low"] <= rated["rate"] + 1e-12).all()
    assert (rated["rate"] <= rated["rate_ci_high"] + 1e-12).all()
    # Shuffling the rows changes nothing.
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    assert_frame_equal(retention(as_frame(shuffled), return_event=return_event, **options), exact)
    # Coming back "on or after" is never rarer than coming back exactly then, and never rises.
    later = retention(as_frame(rows), return_event=return_event, mode="on_or_after", **options)
    assert (later["retained"] >= exact["retained"]).all()
    rising = later.filter(pl.col("offset") >= 1).with_columns(
        pl.col("retained").diff().over("cohort_start", order_by="offset").alias("step")
    )
    assert (rising["step"].drop_nulls() <= 0).all()


@PROPERTY
@given(case=cases())
def test_first_time_cohorts_add_up_to_the_users_first_seen_in_range(case):
    rows, options = case
    options = {**options, "retention_type": "first_time", "start_event": None}
    table = retention(as_frame(rows), **options)
    starts, after = reference.periods_between(
        options["start"], options["end"], options["interval"], options["week_start"]
    )
    zone = reference.ZoneInfo(options["tz"])
    lo = reference.local_midnight_utc(starts[0], zone)
    hi = reference.local_midnight_utc(after, zone)
    first_seen: dict[str, dt.datetime] = {}
    for row in rows:
        if reference.passes(row, options["filters"]):
            user = row["user_id"]
            first_seen[user] = min(first_seen.get(user, row["timestamp"]), row["timestamp"])
    new_users = sum(1 for t in first_seen.values() if lo <= t < hi)
    assert table.filter(pl.col("offset") == 0)["cohort_size"].sum() == new_users


@settings(max_examples=100, deadline=None)
@given(
    tz=st.sampled_from(ZONES + ["Pacific/Apia", "America/St_Johns"]),
    interval=st.sampled_from(["day", "week", "month"]),
    week_start=st.sampled_from(["monday", "sunday"]),
    start=st.dates(dt.date(2011, 1, 1), dt.date(2030, 12, 31)),
    days=st.integers(0, 400),
    picks=st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=50),
)
def test_period_index_agrees_with_a_binary_search(tz, interval, week_start, start, days, picks):
    query = RetentionQuery.build(
        start=start,
        end=start + dt.timedelta(days=days),
        interval=interval,
        week_start=week_start,
        tz=tz,
    )
    grid = PeriodGrid.build(query)
    span = grid.hi_us - grid.lo_us
    stamps = pl.Series("ts", [grid.lo_us + int(p * span) for p in picks], dtype=pl.Int64)
    stamps = pl.concat([stamps, pl.Series("ts", list(grid.bounds_us[:-1]), dtype=pl.Int64)])
    got = pl.DataFrame(stamps).select(period_index(pl.col("ts"), grid.bounds_us))
    want = pl.Series(list(grid.bounds_us)).search_sorted(stamps, side="right") - 1
    assert got.to_series().to_list() == want.to_list()
