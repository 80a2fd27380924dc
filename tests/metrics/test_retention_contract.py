"""Retention cases that combine documented options (docs/retention.md), one story each. They came
from the SPEC conformance file (tests/test_spec_interface.py), which now checks only the shape of
each public call; the single-option stories and PostHog's cases are in test_retention.py.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from metrics.retention import retention
from tests.conftest import make_events

D = dt.date

# Monday weeks of 5, 12 and 19 Jan 2026.
WEEKLY = make_events(
    ("old", "signup", "2025-12-29 10:00"),  # started before the range
    ("old", "signup", "2026-01-06 10:00"),
    ("old", "open", "2026-01-13 10:00"),
    ("alice", "signup", "2026-01-05 10:00"),
    ("alice", "signup", "2026-01-12 10:00"),  # a second start event, next week
    ("alice", "open", "2026-01-13 10:00"),
    ("bob", "signup", "2026-01-07 10:00"),
    ("bob", "open", "2026-01-25 23:00"),  # Sunday, last day of the last week: counts
)


def test_a_range_from_mid_week_to_mid_week_takes_whole_weeks_and_offset_zero_is_the_cohort():
    result = retention(
        WEEKLY,
        start=D(2026, 1, 7),  # mid-week: the whole week of 5 Jan is a cohort
        end=D(2026, 1, 19),  # the whole week of 19 Jan counts
        start_event="signup",
        return_event="open",
    )
    table = {(r["cohort_start"], r["offset"]): r for r in result.iter_rows(named=True)}
    assert sorted({c for c, _ in table}) == [D(2026, 1, 5), D(2026, 1, 12), D(2026, 1, 19)]
    offset_zero = result.filter(pl.col("offset") == 0)
    assert offset_zero["retained"].to_list() == offset_zero["cohort_size"].to_list()
    assert offset_zero["rate"].to_list() == [1.0, 1.0, None]  # nobody started in week 3
    week1 = D(2026, 1, 5)
    assert table[(week1, 0)]["cohort_size"] == 3  # old, alice, bob (recurring: every start counts)
    assert table[(week1, 1)]["retained"] == 2  # old and alice opened on 13 Jan
    assert table[(week1, 2)]["retained"] == 1  # bob, Sunday 25 Jan
    assert table[(week1, 1)]["rate"] == pytest.approx(2 / 3)
    assert table[(D(2026, 1, 12), 0)]["cohort_size"] == 1  # alice again
    # offsets run to the period holding end, no further
    assert max(k for c, k in table if c == week1) == 2
    assert max(k for c, k in table if c == D(2026, 1, 19)) == 0


def test_sunday_weeks_in_the_reporting_zone():
    events = make_events(
        ("ann", "signup", "2026-01-11 03:00"),  # Saturday 10 Jan 22:00 in New York
        ("ann", "open", "2026-01-11 15:00"),  # Sunday 11 Jan: a new Sunday week
    )
    result = retention(
        events,
        start=D(2026, 1, 4),
        end=D(2026, 1, 17),
        week_start="sunday",
        tz="America/New_York",
        start_event="signup",
        return_event="open",
    )
    pick = pl.col("cohort_start") == D(2026, 1, 4)
    assert result.filter(pick).sort("offset")["retained"].to_list() == [1, 1]
