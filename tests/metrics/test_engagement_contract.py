"""Engagement cases that combine two of the documented options (docs/engagement.md), one story
each. They came from the SPEC conformance file (tests/test_spec_interface.py), which now checks
only the shape of each public call; the single-option stories are in test_engagement.py.
"""

from __future__ import annotations

import datetime as dt

from metrics.engagement import active_users, lifecycle, stickiness
from tests.conftest import make_events

D = dt.date


def test_an_event_and_a_breakdown_together_count_the_event_per_value():
    events = make_events(
        ("alice", "purchase", "2026-01-05 10:00", {"platform": "web"}),
        ("alice", "page_view", "2026-01-05 11:00", {"platform": "ios"}),
        ("bob", "purchase", "2026-01-05 12:00", {"platform": "ios"}),
        ("carol", "purchase", "2026-01-06 12:00", {"platform": "ios"}),
    )
    result = active_users(
        events, start=D(2026, 1, 5), end=D(2026, 1, 6), event="purchase", breakdown="platform"
    )
    got = {
        (r["period_start"], r["platform"]): r["active_users"]
        for r in result.iter_rows(named=True)
        if r["active_users"]
    }
    # alice's ios event is a page_view, not a purchase: she counts for web only.
    assert got == {
        (D(2026, 1, 5), "web"): 1,
        (D(2026, 1, 5), "ios"): 1,
        (D(2026, 1, 6), "ios"): 1,
    }


def test_stickiness_counts_days_in_the_reporting_zone():
    # Two events on different UTC days that are the same evening in New York.
    events = make_events(("ann", "open", "2026-01-05 23:30"), ("ann", "open", "2026-01-06 02:00"))
    utc = stickiness(events, start=D(2026, 1, 5), end=D(2026, 1, 6))
    ny = stickiness(events, start=D(2026, 1, 5), end=D(2026, 1, 6), tz="America/New_York")
    assert utc.sort("intervals_active")["users"].to_list() == [0, 1]
    assert ny.sort("intervals_active")["users"].to_list() == [1, 0]


def test_lifecycle_in_sunday_weeks_of_another_zone():
    events = make_events(
        ("ann", "open", "2026-01-04 12:00"),  # Sunday 4 Jan
        ("ann", "open", "2026-01-12 03:00"),  # Monday 03:00 UTC = Sunday 11 Jan 22:00 in New York
    )
    result = lifecycle(
        events,
        start=D(2026, 1, 4),
        end=D(2026, 1, 17),
        interval="week",
        week_start="sunday",
        tz="America/New_York",
    ).sort("period_start")
    assert result["period_start"].to_list() == [D(2026, 1, 4), D(2026, 1, 11)]
    assert result["new"].to_list() == [1, 0]
    assert result["returning"].to_list() == [0, 1]
    assert result["dormant"].to_list() == [0, 0]


def test_lifecycle_months_with_a_filter():
    events = make_events(
        ("ann", "open", "2026-01-10 10:00", {"plan": "pro"}),
        ("ann", "open", "2026-03-02 10:00", {"plan": "pro"}),
        ("bob", "open", "2026-02-10 10:00", {"plan": "free"}),
    )
    result = lifecycle(
        events, start=D(2026, 2, 1), end=D(2026, 3, 15), interval="month", filters={"plan": ["pro"]}
    ).sort("period_start")
    assert result["period_start"].to_list() == [D(2026, 2, 1), D(2026, 3, 1)]
    assert result["dormant"].to_list() == [1, 0]  # ann left in February (bob is filtered out)
    assert result["resurrecting"].to_list() == [0, 1]
    assert result["new"].to_list() == [0, 0]
