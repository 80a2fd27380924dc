"""Engagement metrics (docs/engagement.md): stories with hand-computed tables, then properties.

Stories assert whole tables; every surprising number has a comment. The properties compare the
Polars code with the plain-Python reference in ``tests/reference/engagement.py`` on random event
logs, and check the invariants (DAU <= WAU <= MAU, shuffling changes nothing, lifecycle identities).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from metrics import engagement
from metrics.engagement import EngagementQuery
from metrics.engagement import windows as rolling_windows
from metrics.scope import Scope
from tests.conftest import make_events
from tests.reference import engagement as reference

D = dt.date


def days(first: dt.date, count: int) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range(count)]


def counts(**columns: list[Any]) -> dict[str, pl.Series]:
    """Count columns as Int64 series (the dtype every engagement count has)."""
    return {name: pl.Series(name, values, dtype=pl.Int64) for name, values in columns.items()}


def active_table(period_start: list[dt.date], active: list[int], partial: list[bool] | None = None):
    return pl.DataFrame(
        {
            "period_start": pl.Series(period_start, dtype=pl.Date),
            **counts(active_users=active),
            "is_partial": pl.Series(partial or [False] * len(active), dtype=pl.Boolean),
        }
    )


# ------------------------------------------------------------------------------------------------
# Stories: active users, DAU / WAU / MAU
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def early_march():
    """A week in March 2026 (Mon 2 .. Sun 8) and the weeks before it.

    ann was last seen on 5 Feb, bob on 27 Feb; cat comes on the Monday (twice) and the Sunday;
    dan once, on Wednesday 4 March at 23:59 UTC.
    """
    return make_events(
        ("ann", "page_view", "2026-02-05 09:00"),
        ("bob", "page_view", "2026-02-27 12:00"),
        ("cat", "page_view", "2026-03-02 10:00"),
        ("cat", "search", "2026-03-02 15:00"),
        ("dan", "page_view", "2026-03-04 23:59"),
        ("cat", "page_view", "2026-03-08 08:00"),
    )


def test_dau_counts_each_user_once_per_day(early_march):
    got = engagement.active_users(early_march, start=D(2026, 3, 2), end=D(2026, 3, 8))
    # cat's two events on the Monday make one active user.
    assert_frame_equal(got, active_table(days(D(2026, 3, 2), 7), [1, 0, 1, 0, 0, 0, 1]))


def test_wau_reaches_back_before_the_range(early_march):
    got = engagement.active_users(
        early_march, start=D(2026, 3, 2), end=D(2026, 3, 8), window_days=7
    )
    # bob's 27 Feb visit is inside the 7-day windows ending 2..5 March (27 Feb = 5 March - 6),
    # so he is counted there although he did nothing in the range.
    assert_frame_equal(got, active_table(days(D(2026, 3, 2), 7), [2, 2, 3, 3, 2, 2, 2]))


def test_mau_is_thirty_days_ending_on_the_day(early_march):
    got = engagement.active_users(
        early_march, start=D(2026, 3, 2), end=D(2026, 3, 8), window_days=30
    )
    # ann's 5 Feb visit is in the 30 days ending 6 March (6 March - 29 days = 5 Feb), not 7 March.
    assert_frame_equal(got, active_table(days(D(2026, 3, 2), 7), [3, 3, 4, 4, 4, 3, 3]))


def test_rolling_active_users_gives_dau_wau_mau_in_one_table(early_march):
    got = engagement.rolling_active_users(early_march, start=D(2026, 3, 2), end=D(2026, 3, 4))
    want = pl.DataFrame(
        {
            "period_start": pl.Series(
                [d for d in days(D(2026, 3, 2), 3) for _ in range(3)], dtype=pl.Date
            ),
            **counts(
                window_days=[1, 7, 30] * 3,
                active_users=[1, 2, 3, 0, 2, 3, 1, 3, 4],
            ),
        }
    )
    assert_frame_equal(got, want)


def test_dau_mau_ratio(early_march):
    got = engagement.dau_mau(early_march, start=D(2026, 3, 2), end=D(2026, 3, 8))
    want = pl.DataFrame(
        {
            "period_start": pl.Series(days(D(2026, 3, 2), 7), dtype=pl.Date),
            **counts(dau=[1, 0, 1, 0, 0, 0, 1], mau=[3, 3, 4, 4, 4, 3, 3]),
            "ratio": [1 / 3, 0.0, 1 / 4, 0.0, 0.0, 0.0, 1 / 3],
        }
    )
    assert_frame_equal(got, want)


def test_dau_mau_ratio_is_null_when_nobody_was_active_in_the_window():
    log = make_events(("ann", "page_view", "2026-03-01 09:00"))
    got = engagement.dau_mau(log, start=D(2026, 3, 1), end=D(2026, 3, 3), window_days=2)
    # ann falls out of the 2-day window on 3 March: 0 / 0 is no ratio at all, not 0%.
    assert got["ratio"].to_list() == [1.0, 0.0, None]


# Five people near midnight, seen from three zones (range 5..6 January 2026, winter time):
#   ann 2026-01-06 04:30Z = 5 Jan 23:30 in New York (UTC-5)   = 6 Jan 10:00 in Kolkata (UTC+5:30)
#   bob 2026-01-05 04:59Z = 4 Jan 23:59 in New York           = 5 Jan 10:29 in Kolkata
#   cat 2026-01-07 04:30Z = 6 Jan 23:30 in New York           = 7 Jan 10:00 in Kolkata
#   eve 2026-01-05 18:00Z = 5 Jan 13:00 in New York           = 5 Jan 23:30 in Kolkata
#   fay 2026-01-05 18:30Z = 5 Jan 13:30 in New York           = 6 Jan 00:00 in Kolkata
NEAR_MIDNIGHT = [
    ("ann", "page_view", "2026-01-06 04:30"),
    ("bob", "page_view", "2026-01-05 04:59"),
    ("cat", "page_view", "2026-01-07 04:30"),
    ("eve", "page_view", "2026-01-05 18:00"),
    ("fay", "page_view", "2026-01-05 18:30"),
]


@pytest.mark.parametrize(
    ("tz", "dau"),
    [
        ("UTC", [3, 1]),  # bob, eve, fay | ann
        ("America/New_York", [3, 1]),  # ann (23:30), eve, fay | cat (23:30); bob is on the 4th
        ("Asia/Kolkata", [2, 2]),  # bob, eve (23:30) | ann, fay (midnight starts the 6th)
    ],
)
def test_a_day_is_a_calendar_day_in_the_reporting_zone(tz, dau):
    got = engagement.active_users(
        make_events(*NEAR_MIDNIGHT), start=D(2026, 1, 5), end=D(2026, 1, 6), tz=tz
    )
    assert_frame_equal(got, active_table(days(D(2026, 1, 5), 2), dau))


@pytest.mark.parametrize(
    ("rows", "first", "dau"),
    [
        # New York springs forward on 8 March 2026 at 02:00 EST (07:00Z) to 03:00 EDT.
        (
            [
                ("ann", "x", "2026-03-08 04:30"),  # 7 Mar 23:30 EST
                ("dan", "x", "2026-03-08 06:59"),  # 8 Mar 01:59 EST, just before the jump
                ("eve", "x", "2026-03-08 07:00"),  # 8 Mar 03:00 EDT, just after it
                ("bob", "x", "2026-03-09 03:30"),  # 8 Mar 23:30 EDT
                ("cat", "x", "2026-03-09 04:30"),  # 9 Mar 00:30 EDT (a fixed UTC-5 would say 8 Mar)
            ],
            D(2026, 3, 7),
            [1, 3, 1],
        ),
        # ... and falls back on 1 November 2026: that day has 25 hours.
        (
            [
                ("ann", "x", "2026-11-01 04:00"),  # 1 Nov 00:00 EDT, the first minute of the day
                ("bob", "x", "2026-11-02 04:59"),  # 1 Nov 23:59 EST, its last minute
                ("cat", "x", "2026-11-02 05:00"),  # 2 Nov 00:00 EST
            ],
            D(2026, 11, 1),
            [2, 1],
        ),
    ],
)
def test_daylight_saving_changes_move_the_day_boundary(rows, first, dau):
    log = make_events(*rows)
    last = first + dt.timedelta(days=len(dau) - 1)
    got = engagement.active_users(log, start=first, end=last, tz="America/New_York")
    assert_frame_equal(got, active_table(days(first, len(dau)), dau))


@pytest.fixture
def month_turn():
    """Late January into February 2026; the range is Wed 28 Jan .. Tue 10 Feb.

    eve only came on Tue 27 Jan and dan only on Wed 11 Feb: both outside the range.
    """
    return make_events(
        ("eve", "page_view", "2026-01-27 12:00"),
        ("ann", "page_view", "2026-01-31 12:00"),  # Saturday
        ("bob", "page_view", "2026-02-01 12:00"),  # Sunday
        ("cat", "page_view", "2026-02-08 12:00"),  # Sunday
        ("bob", "page_view", "2026-02-10 12:00"),  # Tuesday
        ("dan", "page_view", "2026-02-11 12:00"),
    )


def test_monday_weeks_straddling_the_month_end(month_turn):
    got = engagement.active_users(
        month_turn, start=D(2026, 1, 28), end=D(2026, 2, 10), interval="week"
    )
    # Week of Mon 26 Jan runs to Sun 1 Feb: ann and bob. It starts before the range (partial) and
    # eve's Tuesday visit, outside the range, does not count. The week of 9 Feb ends after it.
    want = active_table(
        [D(2026, 1, 26), D(2026, 2, 2), D(2026, 2, 9)], [2, 1, 1], [True, False, True]
    )
    assert_frame_equal(got, want)


def test_sunday_weeks_move_the_sunday_visits(month_turn):
    got = engagement.active_users(
        month_turn, start=D(2026, 1, 28), end=D(2026, 2, 10), interval="week", week_start="sunday"
    )
    # Sunday weeks: bob's Sunday 1 Feb opens the second week; cat's Sunday 8 Feb opens the third.
    want = active_table(
        [D(2026, 1, 25), D(2026, 2, 1), D(2026, 2, 8)], [1, 1, 2], [True, False, True]
    )
    assert_frame_equal(got, want)


def test_months_are_calendar_months_clipped_to_the_range(month_turn):
    got = engagement.active_users(
        month_turn, start=D(2026, 1, 28), end=D(2026, 2, 10), interval="month"
    )
    want = active_table([D(2026, 1, 1), D(2026, 2, 1)], [1, 2], [True, True])
    assert_frame_equal(got, want)


def test_a_whole_month_is_not_partial():
    log = make_events(("ann", "x", "2026-02-14 12:00"))
    got = engagement.active_users(log, start=D(2026, 2, 1), end=D(2026, 2, 28), interval="month")
    assert_frame_equal(got, active_table([D(2026, 2, 1)], [1], [False]))


@pytest.fixture
def platforms():
    """ann uses the web and the app on 2 March; bob only the app; cat has no platform recorded."""
    return make_events(
        ("ann", "page_view", "2026-03-02 09:00", {"platform": "web"}),
        ("ann", "purchase", "2026-03-02 10:00", {"platform": "ios"}),
        ("bob", "page_view", "2026-03-02 11:00", {"platform": "ios"}),
        ("cat", "page_view", "2026-03-03 11:00", {"platform": None}),
        ("bob", "page_view", "2026-03-03 12:00", {"platform": "android"}),
    )


def test_breakdown_counts_a_user_once_per_value(platforms):
    got = engagement.active_users(
        platforms, start=D(2026, 3, 2), end=D(2026, 3, 3), breakdown="platform"
    )
    # ann counts for web and for ios on 2 March; cat's missing platform is its own series (last).
    want = pl.DataFrame(
        {
            "period_start": pl.Series([D(2026, 3, 2)] * 4 + [D(2026, 3, 3)] * 4, dtype=pl.Date),
            "platform": ["android", "ios", "web", None] * 2,
            **counts(active_users=[0, 2, 1, 0, 1, 0, 0, 1]),
            "is_partial": [False] * 8,
        }
    )
    assert_frame_equal(got, want)


def test_breakdown_with_a_rolling_window(platforms):
    got = engagement.active_users(
        platforms, start=D(2026, 3, 3), end=D(2026, 3, 3), window_days=2, breakdown="platform"
    )
    # The 2-day window ending 3 March holds both days.
    want = pl.DataFrame(
        {
            "period_start": pl.Series([D(2026, 3, 3)] * 4, dtype=pl.Date),
            "platform": ["android", "ios", "web", None],
            **counts(active_users=[1, 2, 1, 1]),
            "is_partial": [False] * 4,
        }
    )
    assert_frame_equal(got, want)


def test_filters_and_event_choose_the_events_that_count(platforms):
    by_value = engagement.active_users(
        platforms, start=D(2026, 3, 2), end=D(2026, 3, 3), filters={"platform": "ios"}
    )
    by_list = engagement.active_users(
        platforms, start=D(2026, 3, 2), end=D(2026, 3, 3), filters={"platform": ["ios", "android"]}
    )
    by_event = engagement.active_users(
        platforms, start=D(2026, 3, 2), end=D(2026, 3, 3), event="purchase"
    )
    # bob is on android on the 3rd: not an ios user that day. cat's missing platform matches none.
    assert_frame_equal(by_value, active_table(days(D(2026, 3, 2), 2), [2, 0]))
    assert_frame_equal(by_list, active_table(days(D(2026, 3, 2), 2), [2, 1]))
    assert_frame_equal(by_event, active_table(days(D(2026, 3, 2), 2), [1, 0]))


def test_an_empty_range_is_zeros_not_an_error(early_march):
    got = engagement.active_users(early_march, start=D(2025, 1, 1), end=D(2025, 1, 3))
    assert_frame_equal(got, active_table(days(D(2025, 1, 1), 3), [0, 0, 0]))
    empty = make_events()
    wau = engagement.active_users(empty, start=D(2025, 1, 1), end=D(2025, 1, 2), window_days=7)
    assert_frame_equal(wau, active_table(days(D(2025, 1, 1), 2), [0, 0]))


def test_an_empty_breakdown_has_no_series_but_the_right_columns():
    empty = make_events().with_columns(pl.lit(None, pl.String).alias("platform"))
    got = engagement.active_users(
        empty, start=D(2025, 1, 1), end=D(2025, 1, 2), breakdown="platform"
    )
    assert got.height == 0
    assert got.schema == pl.Schema(
        {
            "period_start": pl.Date,
            "platform": pl.String,
            "active_users": pl.Int64,
            "is_partial": pl.Boolean,
        }
    )


@pytest.mark.parametrize(
    "setting",
    [
        # Codes of 1 bit: the four users cannot all have their own code. Packed by that code, bob
        # (27 Feb) and cat (2 Mar) could be one user and WAU would read 1 every day; the clash is
        # detected and the exact user ids are used instead.
        ("_CODE_SHIFT", 63),
        # A day range too long to pack beside the code: the exact path answers.
        ("_MAX_PACKED_DAYS", 3),
    ],
)
def test_rolling_windows_fall_back_to_exact_user_ids(monkeypatch, early_march, setting):
    # With one-bit codes the packed keys of different users clash and would merge their days;
    # with a day range too long to pack there are no packed keys: the exact path answers both.
    monkeypatch.setattr(rolling_windows, *setting)
    got = engagement.active_users(
        early_march, start=D(2026, 3, 2), end=D(2026, 3, 8), window_days=7
    )
    assert_frame_equal(got, active_table(days(D(2026, 3, 2), 7), [2, 2, 3, 3, 2, 2, 2]))


@pytest.mark.parametrize("breakdown", [None, "platform"])
def test_an_activity_table_gives_no_answer_when_two_users_share_a_code(
    monkeypatch, platforms, breakdown
):
    monkeypatch.setattr(rolling_windows, "_CODE_SHIFT", 63)  # 1-bit codes: 3 users must clash
    assert engagement.activity_of(platforms, Scope(), None, breakdown) is None


def test_an_activity_table_answers_only_the_events_it_counted(platforms):
    table = engagement.activity_of(platforms, Scope.build(filters={"platform": "ios"}))
    assert table is not None
    asked = EngagementQuery.build(
        start=D(2026, 3, 2), end=D(2026, 3, 3), filters={"platform": "ios"}
    )
    assert engagement.rolling_active_users_from(table, asked).height == 6  # 2 days x 3 windows
    for other in (
        replace(asked, event="purchase"),
        replace(asked, scope=asked.scope.with_filters(None)),
        replace(asked, scope=replace(asked.scope, tz="Europe/Paris")),
    ):
        with pytest.raises(ValueError, match="counted for another zone, filters or event"):
            engagement.rolling_active_users_from(table, other)
    with pytest.raises(ValueError, match="breakdown: the activity table was counted by None"):
        engagement.rolling_active_users_from(table, replace(asked, breakdown="platform"))
    # First seen reads every event, whatever the filters: not this table's.
    with pytest.raises(ValueError, match="counted for another zone, filters or event"):
        engagement.lifecycle_from(table, replace(asked, new_means="first_seen"))


def test_a_lazy_frame_gives_the_same_answer(early_march):
    lazy = engagement.active_users(
        early_march.lazy(), start=D(2026, 3, 2), end=D(2026, 3, 8), window_days=7
    )
    eager = engagement.active_users(
        early_march, start=D(2026, 3, 2), end=D(2026, 3, 8), window_days=7
    )
    assert_frame_equal(lazy, eager)


# ------------------------------------------------------------------------------------------------
# The query object: one frozen question, the app's cache key, and the query doors
# ------------------------------------------------------------------------------------------------


def test_equal_questions_written_differently_are_equal_keys():
    by_keywords = EngagementQuery.build(
        start="2026-03-02",
        end=dt.datetime(2026, 3, 8, 12),
        filters={"platform": {"web", "ios"}},
        event=["search", "page_view", "search"],
        windows=[30, 7, 1, 7],
    )
    by_scope = EngagementQuery.build(
        scope=Scope.build(
            start=D(2026, 3, 2), end=D(2026, 3, 8), filters={"platform": ["ios", "web"]}
        ),
        event=("page_view", "search"),
    )
    assert (by_keywords, hash(by_keywords)) == (by_scope, hash(by_scope))


def test_a_global_filter_drops_other_events_before_anything_is_counted(platforms):
    # Only web events are left: ann's page view on 2 March. Her ios purchase, bob's ios and
    # android visits and cat's visit without a platform are gone before users are counted.
    web = EngagementQuery.build(start=D(2026, 3, 2), end=D(2026, 3, 3), filters={"platform": "web"})
    got = engagement.stickiness_of(platforms, web)
    assert_frame_equal(got, sticky_table([1, 0]))


@pytest.mark.parametrize(
    ("function", "keywords"),
    [
        (engagement.active_users, {"interval": "week", "breakdown": "platform"}),
        (engagement.active_users, {"window_days": 2, "event": ["page_view", "purchase"]}),
        (engagement.rolling_active_users, {"windows": (2, 1), "breakdown": "platform"}),
        (engagement.dau_mau, {"window_days": 2, "filters": {"platform": ["ios", "android"]}}),
        (engagement.stickiness, {"interval_count": 2, "filters": {"platform": "ios"}}),
        (engagement.lifecycle, {"new_means": "first_seen", "event": "page_view"}),
        (engagement.revenue, {"interval": "month", "breakdown": "platform"}),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_the_query_door_answers_as_the_keyword_door(platforms, function, keywords):
    doors = {
        engagement.active_users: engagement.active_users_of,
        engagement.rolling_active_users: engagement.rolling_active_users_of,
        engagement.dau_mau: engagement.dau_mau_of,
        engagement.stickiness: engagement.stickiness_of,
        engagement.lifecycle: engagement.lifecycle_of,
        engagement.revenue: engagement.revenue_of,
    }
    span = {"start": D(2026, 3, 2), "end": D(2026, 3, 3)}
    query = EngagementQuery.build(**span, **keywords)
    assert_frame_equal(doors[function](platforms, query), function(platforms, **span, **keywords))


@pytest.mark.parametrize(
    ("make", "argument"),
    [
        (lambda: EngagementQuery(scope=Scope(end=D(2026, 3, 8))), "start"),
        (lambda: EngagementQuery.build(scope=Scope.build(), start="2026-03-02"), "scope"),
        (lambda: EngagementQuery.build(start="2026-03-02", end="2026-03-08", windows=7), "windows"),
        (lambda: EngagementQuery.build(start="2026-03-02", end="2026-03-08", event=[]), "event"),
        (
            lambda: EngagementQuery.build(
                start="2026-03-02", end="2026-03-08", breakdown="user_id"
            ),
            "breakdown",
        ),
    ],
)
def test_a_query_that_cannot_be_asked_is_never_made(make, argument):
    with pytest.raises(ValueError, match=argument):
        make()


@pytest.mark.parametrize(
    ("function", "settings", "argument"),
    [
        (engagement.rolling_active_users_of, {"interval": "week"}, "interval"),
        (engagement.dau_mau_of, {"breakdown": "platform"}, "breakdown"),
        (engagement.stickiness_of, {"breakdown": "platform"}, "breakdown"),
        (engagement.lifecycle_of, {"breakdown": "platform"}, "breakdown"),
        (engagement.revenue_of, {"event": "purchase"}, "event"),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_a_query_door_names_the_setting_its_metric_cannot_honour(
    platforms, function, settings, argument
):
    query = EngagementQuery.build(start="2026-03-02", end="2026-03-03", **settings)
    with pytest.raises(ValueError, match=argument):
        function(platforms, query)


# ------------------------------------------------------------------------------------------------
# Stories: stickiness (PostHog's stickiness test data: p1 every day 11..19 Jan 2020, p2 every other)
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def posthog_stickiness():
    rows = []
    for day in range(11, 20):
        rows.append(("p1", "$pageview", f"2020-01-{day} 12:00", {"browser": "Chrome"}))
        rows.append(("p1", "$pageleave", f"2020-01-{day} 12:00", {"browser": "Chrome"}))
    for day in (11, 13, 15, 17, 19):
        rows.append(("p2", "$pageview", f"2020-01-{day} 12:00", {"browser": "Firefox"}))
        rows.append(("p2", "$pageleave", f"2020-01-{day} 12:00", {"browser": "Firefox"}))
    return make_events(*rows)


def sticky_table(users: list[int]) -> pl.DataFrame:
    at_least = [sum(users[i:]) for i in range(len(users))]
    return pl.DataFrame(
        counts(
            intervals_active=list(range(1, len(users) + 1)), users=users, users_at_least=at_least
        )
    )


STICKY_RANGE = {"start": D(2020, 1, 11), "end": D(2020, 1, 20), "event": "$pageview"}


def test_stickiness_days(posthog_stickiness):
    got = engagement.stickiness(posthog_stickiness, **STICKY_RANGE)
    # Ten days in the range: p2 came on 5 of them, p1 on 9.
    assert_frame_equal(got, sticky_table([0, 0, 0, 0, 1, 0, 0, 0, 1, 0]))


def test_stickiness_in_two_day_blocks(posthog_stickiness):
    got = engagement.stickiness(posthog_stickiness, **STICKY_RANGE, interval_count=2)
    # Blocks 11-12, 13-14, 15-16, 17-18, 19-20: both users touch all five.
    assert_frame_equal(got, sticky_table([0, 0, 0, 0, 2]))


def test_stickiness_in_three_day_blocks_ends_with_a_short_block(posthog_stickiness):
    got = engagement.stickiness(posthog_stickiness, **STICKY_RANGE, interval_count=3)
    # Blocks 11-13, 14-16, 17-19 and 20 alone: nobody came on the 20th, so both have 3.
    assert_frame_equal(got, sticky_table([0, 0, 2, 0]))


@pytest.mark.parametrize(
    ("week_start", "users"),
    [
        # Sat 11 .. Mon 20 Jan 2020 touches three Monday weeks (6, 13, 20 Jan); nobody came on 20th.
        ("monday", [0, 2, 0]),
        # ... and three Sunday weeks (5, 12, 19 Jan), PostHog's default: both came in all three.
        ("sunday", [0, 0, 2]),
    ],
)
def test_stickiness_weeks_include_partial_weeks(posthog_stickiness, week_start, users):
    got = engagement.stickiness(
        posthog_stickiness, **STICKY_RANGE, interval="week", week_start=week_start
    )
    assert_frame_equal(got, sticky_table(users))


def test_stickiness_months_and_filters(posthog_stickiness):
    months = engagement.stickiness(posthog_stickiness, **STICKY_RANGE, interval="month")
    chrome = engagement.stickiness(
        posthog_stickiness, **STICKY_RANGE, filters={"browser": "Chrome"}
    )
    assert_frame_equal(months, sticky_table([2]))
    assert_frame_equal(chrome, sticky_table([0, 0, 0, 0, 0, 0, 0, 0, 1, 0]))


def test_stickiness_counts_only_days_inside_the_range(posthog_stickiness):
    got = engagement.stickiness(posthog_stickiness, start=D(2020, 1, 18), end=D(2020, 1, 19))
    # Each user did two events on the 19th: still one day. p1 also came on the 18th.
    assert_frame_equal(got, sticky_table([1, 1]))
    nobody = engagement.stickiness(posthog_stickiness, start=D(2021, 1, 1), end=D(2021, 1, 3))
    assert_frame_equal(nobody, sticky_table([0, 0, 0]))


# ------------------------------------------------------------------------------------------------
# Stories: lifecycle (PostHog's lifecycle test data)
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def posthog_lifecycle():
    """p1 first came on 11 Jan 2020, the day before the range; p2 on 9 Jan; p3, p4 in the range."""
    visits = {
        "p1": ["2020-01-11", "2020-01-12", "2020-01-13", "2020-01-15", "2020-01-17", "2020-01-19"],
        "p2": ["2020-01-09", "2020-01-12"],
        "p3": ["2020-01-12"],
        "p4": ["2020-01-15"],
    }
    return make_events(*[(u, "$pageview", f"{d} 12:00") for u, ds in visits.items() for d in ds])


def lifecycle_table(first: list[dt.date], partial: list[bool] | None = None, **columns: list[int]):
    return pl.DataFrame(
        {
            "period_start": pl.Series(first, dtype=pl.Date),
            **counts(**columns),
            "is_partial": pl.Series(partial or [False] * len(first), dtype=pl.Boolean),
        }
    )


def test_lifecycle_days(posthog_lifecycle):
    got = engagement.lifecycle(posthog_lifecycle, start=D(2020, 1, 12), end=D(2020, 1, 19))
    want = lifecycle_table(
        days(D(2020, 1, 12), 8),
        # 12th: p3 is new. p1 first came on the 11th, before the range: returning, not new.
        new=[1, 0, 0, 1, 0, 0, 0, 0],
        returning=[1, 1, 0, 0, 0, 0, 0, 0],
        # 12th: p2 was last here on the 9th: resurrecting.
        resurrecting=[1, 0, 0, 1, 0, 1, 0, 1],
        # 13th: p2 and p3 were here on the 12th, not the 13th.
        dormant=[0, 2, 1, 0, 2, 0, 1, 0],
    )
    assert_frame_equal(got, want)


def test_lifecycle_in_new_york_moves_a_late_evening_to_the_day_before():
    # PostHog's time zone case: p1's 11 Jan 23:00Z and 12 Jan 01:00Z are both 11 Jan in US/Pacific.
    visits = {
        "p1": [
            "2020-01-11 23:00",
            "2020-01-12 01:00",
            "2020-01-13 12:00",
            "2020-01-15 12:00",
            "2020-01-17 12:00",
            "2020-01-19 12:00",
        ],
        "p2": ["2020-01-09 12:00", "2020-01-12 12:00"],
        "p3": ["2020-01-12 12:00"],
        "p4": ["2020-01-15 12:00"],
    }
    log = make_events(*[(u, "$pageview", t) for u, ts in visits.items() for t in ts])
    got = engagement.lifecycle(log, start=D(2020, 1, 12), end=D(2020, 1, 19), tz="US/Pacific")
    want = lifecycle_table(
        days(D(2020, 1, 12), 8),
        new=[1, 0, 0, 1, 0, 0, 0, 0],
        returning=[0, 0, 0, 0, 0, 0, 0, 0],
        # 13th: p1 was last here on the 11th (Pacific) -- resurrecting, where UTC said returning.
        resurrecting=[1, 1, 0, 1, 0, 1, 0, 1],
        # 12th: p1 was here on the 11th only.
        dormant=[1, 2, 1, 0, 2, 0, 1, 0],
    )
    assert_frame_equal(got, want)


@pytest.fixture
def posthog_lifecycle_weeks():
    visits = {
        "p1": ["2020-02-01", "2020-02-05", "2020-02-10", "2020-02-15", "2020-02-27", "2020-03-02"],
        "p2": ["2020-02-11", "2020-02-18"],
        "p3": ["2020-02-12"],
        "p4": ["2020-02-27"],
    }
    return make_events(*[(u, "$pageview", f"{d} 12:00") for u, ds in visits.items() for d in ds])


@pytest.mark.parametrize(
    ("week_start", "first"),
    [("monday", D(2020, 2, 3)), ("sunday", D(2020, 2, 2))],
)
def test_lifecycle_weeks(posthog_lifecycle_weeks, week_start, first):
    got = engagement.lifecycle(
        posthog_lifecycle_weeks,
        start=D(2020, 2, 5),
        end=D(2020, 3, 9),
        interval="week",
        week_start=week_start,
    )
    want = lifecycle_table(
        [first + dt.timedelta(weeks=i) for i in range(6)],
        # Both kinds: the range starts on Wednesday 5 Feb (partial first week) and ends on
        # Monday 9 March, one day into its last week (partial too).
        [True, False, False, False, False, True],
        # Week 1: p1's Saturday 1 Feb is the week before (both kinds): returning.
        new=[0, 2, 0, 1, 0, 0],
        returning=[1, 1, 1, 0, 1, 0],
        resurrecting=[0, 0, 0, 1, 0, 0],
        dormant=[0, 0, 2, 1, 1, 1],
    )
    assert_frame_equal(got, want)


def test_lifecycle_months_count_the_whole_last_month():
    visits = {
        "p1": ["2020-01-11", "2020-02-12", "2020-03-13", "2020-05-15", "2020-07-17", "2020-09-19"],
        "p2": ["2019-12-09", "2020-02-12"],
        "p3": ["2020-02-12"],
        "p4": ["2020-05-15"],
    }
    log = make_events(*[(u, "$pageview", f"{d} 12:00") for u, ds in visits.items() for d in ds])
    got = engagement.lifecycle(log, start=D(2020, 2, 1), end=D(2020, 9, 1), interval="month")
    want = lifecycle_table(
        [D(2020, m, 1) for m in range(2, 10)],
        [False] * 7 + [True],
        new=[1, 0, 0, 1, 0, 0, 0, 0],
        returning=[1, 1, 0, 0, 0, 0, 0, 0],
        # September: p1's visit on the 19th is after `end` (1 Sep) but in the period holding it.
        resurrecting=[1, 0, 0, 1, 0, 1, 0, 1],
        dormant=[0, 2, 1, 0, 2, 0, 1, 0],
    )
    assert_frame_equal(got, want)


def test_lifecycle_new_means_first_active_with_the_counted_event():
    log = make_events(
        ("zoe", "signup", "2025-12-01 09:00"),
        ("zoe", "purchase", "2026-03-03 09:00"),
        ("yan", "purchase", "2026-03-03 10:00"),
    )
    any_event = engagement.lifecycle(log, start=D(2026, 3, 3), end=D(2026, 3, 3))
    purchases = engagement.lifecycle(log, start=D(2026, 3, 3), end=D(2026, 3, 3), event="purchase")
    # zoe has been a user since December: she comes back (resurrecting). yan is new.
    assert_frame_equal(
        any_event,
        lifecycle_table([D(2026, 3, 3)], new=[1], returning=[0], resurrecting=[1], dormant=[0]),
    )
    # Counting purchases only, 3 March is zoe's first-ever active period too: new.
    assert_frame_equal(
        purchases,
        lifecycle_table([D(2026, 3, 3)], new=[2], returning=[0], resurrecting=[0], dormant=[0]),
    )
    # PostHog and Amplitude call her resurrecting: she was first seen (any event) in December.
    first_seen = engagement.lifecycle(
        log, start=D(2026, 3, 3), end=D(2026, 3, 3), event="purchase", new_means="first_seen"
    )
    assert_frame_equal(
        first_seen,
        lifecycle_table([D(2026, 3, 3)], new=[1], returning=[0], resurrecting=[1], dormant=[0]),
    )


def test_lifecycle_with_filters_and_no_events():
    log = make_events(
        ("ann", "x", "2026-03-01 09:00", {"plan": "pro"}),
        ("ann", "x", "2026-03-02 09:00", {"plan": "free"}),
    )
    pro = engagement.lifecycle(log, start=D(2026, 3, 1), end=D(2026, 3, 2), filters={"plan": "pro"})
    assert_frame_equal(
        pro,
        lifecycle_table(
            days(D(2026, 3, 1), 2),
            new=[1, 0],
            returning=[0, 0],
            resurrecting=[0, 0],
            dormant=[0, 1],
        ),
    )
    nothing = engagement.lifecycle(make_events(), start=D(2026, 3, 1), end=D(2026, 3, 2))
    zeros = [0, 0]
    assert_frame_equal(
        nothing,
        lifecycle_table(
            days(D(2026, 3, 1), 2), new=zeros, returning=zeros, resurrecting=zeros, dormant=zeros
        ),
    )


# ------------------------------------------------------------------------------------------------
# Stories: revenue per active user
# ------------------------------------------------------------------------------------------------


def test_revenue_per_active_and_per_paying_user():
    log = make_events(
        ("ann", "page_view", "2026-03-02 09:00", {"revenue": None, "plan": "pro"}),
        ("ann", "purchase", "2026-03-04 10:00", {"revenue": 30.0, "plan": "pro"}),
        ("bob", "purchase", "2026-03-05 10:00", {"revenue": 10.0, "plan": "free"}),
        ("bob", "refund", "2026-03-06 10:00", {"revenue": -10.0, "plan": "free"}),
        ("cat", "page_view", "2026-03-10 10:00", {"revenue": None, "plan": "free"}),
    )
    got = engagement.revenue(log, start=D(2026, 3, 2), end=D(2026, 3, 15), interval="week")
    want = pl.DataFrame(
        {
            "period_start": pl.Series([D(2026, 3, 2), D(2026, 3, 9)], dtype=pl.Date),
            # Week 1: 30 + 10 - 10 = 30 from 2 active users, both paid (a refund is not a payment).
            "revenue": [30.0, 0.0],
            **counts(paying_users=[2, 0], active_users=[2, 1]),
            "arpu": [15.0, 0.0],
            "arppu": [15.0, None],  # nobody paid in week 2: no revenue per paying user at all
            "is_partial": [False, False],
        }
    )
    assert_frame_equal(got, want)
    by_plan = engagement.revenue(
        log, start=D(2026, 3, 2), end=D(2026, 3, 8), interval="week", breakdown="plan"
    )
    assert by_plan.select("plan", "revenue", "arppu").rows() == [
        ("free", 0.0, 0.0),
        ("pro", 30.0, 30.0),
    ]


def test_revenue_without_a_revenue_column_is_zero():
    log = make_events(("ann", "page_view", "2026-03-02 09:00"))
    got = engagement.revenue(log, start=D(2026, 3, 2), end=D(2026, 3, 2))
    assert got.select("revenue", "paying_users", "active_users", "arpu", "arppu").row(0) == (
        0.0,
        0,
        1,
        0.0,
        None,
    )


# ------------------------------------------------------------------------------------------------
# Programmer errors name the argument
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda e: engagement.active_users(e, start="2026-03-08", end="2026-03-02"), "end"),
        (
            lambda e: engagement.active_users(
                e, start="2026-03-02", end="2026-03-08", interval="year"
            ),
            "interval",
        ),
        (
            lambda e: engagement.active_users(
                e, start="2026-03-02", end="2026-03-08", tz="Mars/Base"
            ),
            "tz",
        ),
        (
            lambda e: engagement.active_users(
                e, start="2026-03-02", end="2026-03-08", window_days=0
            ),
            "window_days",
        ),
        (
            lambda e: engagement.active_users(
                e, start="2026-03-02", end="2026-03-08", interval="week", window_days=7
            ),
            "window_days",
        ),
        (
            lambda e: engagement.active_users(
                e, start="2026-03-02", end="2026-03-08", week_start="friday"
            ),
            "week_start",
        ),
        (
            lambda e: engagement.active_users(
                e, start="2026-03-02", end="2026-03-08", filters={"nope": 1}
            ),
            "filters",
        ),
        (
            lambda e: engagement.active_users(
                e, start="2026-03-02", end="2026-03-08", breakdown="nope"
            ),
            "breakdown",
        ),
        (
            lambda e: engagement.stickiness(
                e, start="2026-03-02", end="2026-03-08", interval_count=0
            ),
            "interval_count",
        ),
        (
            lambda e: engagement.dau_mau(e, start="2026-03-02", end="2026-03-08", window_days=-1),
            "window_days",
        ),
        (
            lambda e: engagement.rolling_active_users(
                e, start="2026-03-02", end="2026-03-08", windows=()
            ),
            "windows",
        ),
        (lambda e: engagement.lifecycle(e, start="2026-03-02", end="not a date"), "end"),
        (
            lambda e: engagement.lifecycle(e, start="2026-03-02", end="2026-03-08", new_means="x"),
            "new_means",
        ),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(early_march, call, argument):
    with pytest.raises(ValueError, match=argument):
        call(early_march)


# ------------------------------------------------------------------------------------------------
# Properties: the Polars code against the plain-Python reference
# ------------------------------------------------------------------------------------------------

USERS = ["ann", "bob", "cat", "dan", "eve", "fay"]
EVENTS = ["a", "b", "c"]
COUNTRIES = ["US", "GB", None]
# UTC, a US zone (DST on 2026-03-08 and 2026-11-01), a half-hour zone without DST, a zone whose DST
# shift is half an hour, and one where the day starts before UTC's.
ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Auckland"]
SPAN_START = dt.datetime(2026, 2, 20, tzinfo=dt.UTC)
SPAN_MINUTES = 60 * 24 * 75  # to early May: both March DST changes and a few month ends


@st.composite
def event_logs(draw: st.DrawFn) -> pl.DataFrame:
    rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from(USERS),
                st.sampled_from(EVENTS),
                st.integers(0, SPAN_MINUTES),
                st.sampled_from(COUNTRIES),
                st.sampled_from([None, 0.0, 5.0, 12.5, -2.0]),
            ),
            max_size=40,
        )
    )
    return (
        make_events(
            *[
                (
                    user,
                    name,
                    (SPAN_START + dt.timedelta(minutes=minute)).isoformat(),
                    {"country": country, "revenue": money},
                )
                for user, name, minute, country, money in rows
            ]
        )
        if rows
        else make_events().with_columns(
            pl.lit(None, pl.String).alias("country"), pl.lit(None, pl.Float64).alias("revenue")
        )
    )


@st.composite
def ranges(draw: st.DrawFn) -> tuple[dt.date, dt.date]:
    first = draw(st.integers(0, 70))
    length = draw(st.integers(0, 45))
    start = SPAN_START.date() + dt.timedelta(days=first)
    return start, start + dt.timedelta(days=length)


common = {
    "tz": st.sampled_from(ZONES),
    "event": st.sampled_from([None, "a", ["a", "b"]]),
    "filters": st.sampled_from([None, {"country": "US"}, {"country": ["US", "GB"]}]),
}
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def as_frame(rows: list[dict[str, Any]], like: pl.DataFrame) -> pl.DataFrame:
    """The reference rows as a frame with the real result's schema (so dtypes compare too)."""
    return pl.DataFrame(rows, schema=like.schema)


@PROPERTY_SETTINGS
@given(
    log=event_logs(),
    span=ranges(),
    interval=st.sampled_from(["day", "week", "month"]),
    window=st.sampled_from([None, 1, 2, 7, 30]),
    breakdown=st.sampled_from([None, "country"]),
    week_start=st.sampled_from(["monday", "sunday"]),
    **common,
)
def test_active_users_matches_reference(
    log, span, interval, window, breakdown, week_start, tz, event, filters
):
    if window is not None:
        interval = "day"
    args = dict(
        start=span[0],
        end=span[1],
        interval=interval,
        window_days=window,
        event=event,
        filters=filters,
        breakdown=breakdown,
        week_start=week_start,
        tz=tz,
    )
    got = engagement.active_users(log, **args)
    want = as_frame(reference.active_users(log.to_dicts(), **args), got)
    assert_frame_equal(got, want)


@PROPERTY_SETTINGS
@given(log=event_logs(), span=ranges(), window=st.sampled_from([2, 7, 30]), **common)
def test_dau_mau_matches_reference(log, span, window, tz, event, filters):
    args = dict(start=span[0], end=span[1], event=event, filters=filters, window_days=window, tz=tz)
    got = engagement.dau_mau(log, **args)
    want = as_frame(reference.dau_mau(log.to_dicts(), **args), got)
    assert_frame_equal(got, want)


@PROPERTY_SETTINGS
@given(log=event_logs(), span=ranges(), window=st.sampled_from([2, 7, 30]), **common)
def test_dau_mau_from_the_rolling_table_is_dau_mau(log, span, window, tz, event, filters):
    """The Engagement page derives DAU/MAU from the DAU/WAU/MAU it already counted."""
    query = EngagementQuery.build(
        start=span[0],
        end=span[1],
        event=event,
        filters=filters,
        window_days=window,
        tz=tz,
        windows=sorted({1, 7, window}),
    )
    rolling = engagement.rolling_active_users_of(log, query)
    got = engagement.dau_mau_from_rolling(rolling, query)
    assert_frame_equal(got, engagement.dau_mau_of(log, query))


@PROPERTY_SETTINGS
@given(
    log=event_logs(),
    spans=st.lists(ranges(), min_size=1, max_size=3),
    interval=st.sampled_from(["day", "week", "month"]),
    window=st.sampled_from([None, 2, 7]),
    week_start=st.sampled_from(["monday", "sunday"]),
    blocks=st.integers(1, 3),
    breakdown=st.sampled_from([None, "country"]),
    **common,
)
def test_one_activity_table_answers_every_range_as_the_events_do(
    log, spans, interval, window, week_start, blocks, breakdown, tz, event, filters
):
    """The Engagement page counts each user's active days once and reads every range off them:
    DAU/WAU/MAU, active users per period or window (by a property too), stickiness and the
    lifecycle."""
    table = engagement.activity_of(log, Scope.build(tz=tz, filters=filters), event, breakdown)
    assert table is not None
    for start, end in spans:
        scope = Scope.build(start=start, end=end, tz=tz, filters=filters)
        daily = EngagementQuery.build(
            scope=scope, event=event, windows=[1, 2, 7, 30], breakdown=breakdown
        )
        got = engagement.rolling_active_users_from(table, daily)
        assert_frame_equal(got, engagement.rolling_active_users_of(log, daily))
        periods = EngagementQuery.build(
            scope=scope,
            event=event,
            interval="day" if window is not None else interval,
            window_days=window,
            week_start=week_start,
            interval_count=blocks,
            breakdown=breakdown,
        )
        got = engagement.active_users_from(table, periods)
        assert_frame_equal(got, engagement.active_users_of(log, periods))
        if breakdown is not None:
            continue  # stickiness and the lifecycle are never broken down
        for from_table, from_events in (
            (engagement.stickiness_from, engagement.stickiness_of),
            (engagement.lifecycle_from, engagement.lifecycle_of),
        ):
            got = from_table(table, periods)
            assert_frame_equal(got, from_events(log, periods))
        if filters is None and event is None:  # a table of every event also knows first seen
            seen = replace(periods, new_means="first_seen")
            got = engagement.lifecycle_from(table, seen)
            assert_frame_equal(got, engagement.lifecycle_of(log, seen))


def test_dau_mau_from_a_rolling_table_without_its_month_is_refused(platforms):
    query = EngagementQuery.build(start=D(2026, 3, 2), end=D(2026, 3, 3), windows=(1, 7))
    rolling = engagement.rolling_active_users_of(platforms, query)
    with pytest.raises(ValueError, match=r"no \[30\]-day windows"):
        engagement.dau_mau_from_rolling(rolling, query)


@PROPERTY_SETTINGS
@given(
    log=event_logs(),
    span=ranges(),
    interval=st.sampled_from(["day", "week", "month"]),
    interval_count=st.integers(1, 4),
    week_start=st.sampled_from(["monday", "sunday"]),
    **common,
)
def test_stickiness_matches_reference(
    log, span, interval, interval_count, week_start, tz, event, filters
):
    args = dict(
        start=span[0],
        end=span[1],
        interval=interval,
        interval_count=interval_count,
        event=event,
        filters=filters,
        week_start=week_start,
        tz=tz,
    )
    got = engagement.stickiness(log, **args)
    want = as_frame(reference.stickiness(log.to_dicts(), **args), got)
    assert_frame_equal(got, want)


@PROPERTY_SETTINGS
@given(
    log=event_logs(),
    span=ranges(),
    interval=st.sampled_from(["day", "week", "month"]),
    week_start=st.sampled_from(["monday", "sunday"]),
    new_means=st.sampled_from(["first_active", "first_seen"]),
    **common,
)
def test_lifecycle_matches_reference(
    log, span, interval, week_start, tz, event, filters, new_means
):
    args = dict(
        start=span[0],
        end=span[1],
        interval=interval,
        event=event,
        filters=filters,
        week_start=week_start,
        tz=tz,
        new_means=new_means,
    )
    got = engagement.lifecycle(log, **args)
    want = as_frame(reference.lifecycle(log.to_dicts(), **args), got)
    assert_frame_equal(got, want)


@PROPERTY_SETTINGS
@given(
    log=event_logs(),
    span=ranges(),
    interval=st.sampled_from(["day", "week", "month"]),
    breakdown=st.sampled_from([None, "country"]),
    week_start=st.sampled_from(["monday", "sunday"]),
    tz=common["tz"],
    filters=common["filters"],
)
def test_revenue_matches_reference(log, span, interval, breakdown, week_start, tz, filters):
    args = dict(
        start=span[0],
        end=span[1],
        interval=interval,
        filters=filters,
        breakdown=breakdown,
        week_start=week_start,
        tz=tz,
    )
    got = engagement.revenue(log, **args)
    want = as_frame(reference.revenue(log.to_dicts(), **args), got)
    assert_frame_equal(got, want, check_exact=False)


# ------------------------------------------------------------------------------------------------
# Invariants
# ------------------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(log=event_logs(), span=ranges(), tz=common["tz"], event=common["event"])
def test_dau_never_exceeds_wau_never_exceeds_mau(log, span, tz, event):
    series = engagement.rolling_active_users(log, start=span[0], end=span[1], tz=tz, event=event)
    wide = series.pivot("window_days", index="period_start", values="active_users")
    assert wide.filter((pl.col("1") > pl.col("7")) | (pl.col("7") > pl.col("30"))).height == 0


@PROPERTY_SETTINGS
@given(log=event_logs(), span=ranges(), seed=st.integers(0, 2**16), tz=common["tz"])
def test_shuffling_rows_changes_nothing(log, span, seed, tz):
    shuffled = log.sample(fraction=1.0, shuffle=True, seed=seed)
    args = dict(start=span[0], end=span[1], tz=tz)
    for metric, extra in [
        (engagement.active_users, {"interval": "week", "breakdown": "country"}),
        (engagement.active_users, {"window_days": 7, "breakdown": "country"}),
        (engagement.stickiness, {"interval_count": 2}),
        (engagement.lifecycle, {"interval": "week"}),
        (engagement.revenue, {"breakdown": "country"}),
        (engagement.dau_mau, {}),
    ]:
        assert_frame_equal(metric(shuffled, **args, **extra), metric(log, **args, **extra))


@PROPERTY_SETTINGS
@given(
    log=event_logs(),
    span=ranges(),
    interval=st.sampled_from(["day", "week", "month"]),
    week_start=st.sampled_from(["monday", "sunday"]),
    tz=common["tz"],
)
def test_lifecycle_identities(log, span, interval, week_start, tz):
    """active(t) = new + returning + resurrecting and dormant(t) = active(t-1) - returning(t)."""
    args = dict(interval=interval, week_start=week_start, tz=tz)
    life = engagement.lifecycle(log, start=span[0], end=span[1], **args)
    # Lifecycle counts whole periods: count actives over whole periods too, from the one before.
    first, last = life["period_start"][0], life["period_start"][-1]
    before = reference.period_first_day(first - dt.timedelta(days=1), interval, week_start)
    after = reference.next_period(last, interval) - dt.timedelta(days=1)
    active = engagement.active_users(log, start=before, end=after, **args)["active_users"].to_list()
    assert (life["new"] + life["returning"] + life["resurrecting"]).to_list() == active[1:]
    assert life["dormant"].to_list() == [
        a - r for a, r in zip(active[:-1], life["returning"], strict=True)
    ]
