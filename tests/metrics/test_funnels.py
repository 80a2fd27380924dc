"""Funnels (docs/funnels.md): one story per rule, PostHog's cases over every order, then properties.

Stories assert whole tables; every surprising number has a comment. The test factory runs the same
PostHog cases over ordered, strict and unordered funnels (as PostHog's own suite does). The
properties compare the fast code with the plain-Python reference in ``tests/reference/funnels.py``
on random logs, for every order and option, and check the invariants peers have broken before.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from metrics import funnels
from metrics.funnels import Exclusion, FunnelQuery, FunnelQueryError, Step
from metrics.scope import Scope
from tests.conftest import make_events, ts
from tests.reference import funnels as reference

H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)


def expected(rows: list[tuple[Any, ...]], breakdown: str | None = None) -> pl.DataFrame:
    """The funnel table from hand-computed counts.

    ``rows`` are (label, users, median, mean, still_in_window) per step, with the breakdown value
    first when ``breakdown`` is given. Rates, their Wilson intervals (the textbook formula in the
    reference) and drop-offs follow from the counts.
    """
    out: list[dict[str, Any]] = []
    first = prev = 0
    last_value: Any = object()
    step = 0
    for row in rows:
        value, rest = (row[0], row[1:]) if breakdown else (None, row)
        label, users, median, mean, still = rest
        if value != last_value:
            first = prev = users
            step = 0
            last_value = value
        step += 1
        low, high = reference.wilson(users, first)
        slow, shigh = reference.wilson(users, prev)
        record = {
            "step": step,
            "event": label,
            "users": users,
            "conversion_rate": users / first if first else 0.0,
            "conversion_rate_ci_low": low,
            "conversion_rate_ci_high": high,
            "step_conversion_rate": users / prev if prev else 0.0,
            "step_conversion_rate_ci_low": slow,
            "step_conversion_rate_ci_high": shigh,
            "median_seconds_to_convert": median,
            "mean_seconds_to_convert": mean,
            "dropped_off": prev - users - still if step > 1 else 0,
            "still_in_window": still,
        }
        if breakdown:
            record = {breakdown: value, **record}
        out.append(record)
        prev = users
    schema: dict[str, Any] = {
        "step": pl.Int64,
        "event": pl.String,
        "users": pl.Int64,
        "conversion_rate": pl.Float64,
        "conversion_rate_ci_low": pl.Float64,
        "conversion_rate_ci_high": pl.Float64,
        "step_conversion_rate": pl.Float64,
        "step_conversion_rate_ci_low": pl.Float64,
        "step_conversion_rate_ci_high": pl.Float64,
        "median_seconds_to_convert": pl.Float64,
        "mean_seconds_to_convert": pl.Float64,
        "dropped_off": pl.Int64,
        "still_in_window": pl.Int64,
    }
    if breakdown:
        schema = {breakdown: pl.String, **schema}
    return pl.DataFrame(out, schema=schema)


def users_at(table: pl.DataFrame) -> list[int]:
    return table.get_column("users").to_list()


# A day of padding after every story, so that windows are closed by the end of the data unless a
# story says otherwise ("still in window" has its own stories).
def closed(*rows: tuple[Any, ...], last: str = "2026-02-28 00:00") -> pl.DataFrame:
    return make_events(*rows, ("zz_padding", "noise", last))


# --------------------------------------------------------------------------------------------------
# One story per rule


def test_alice_signs_up_monday_and_pays_wednesday():
    events = closed(
        ("alice", "signup", "2026-01-05 10:00"),
        ("alice", "pay", "2026-01-07 10:00"),
        ("bob", "signup", "2026-01-05 11:00"),
        ("carol", "pay", "2026-01-06 09:00"),  # paid without signing up: not in an ordered funnel
    )
    got = funnels.funnel(events, ["signup", "pay"])
    # alice took exactly two days (172800 s); bob dropped off.
    assert_frame_equal(
        got, expected([("signup", 2, None, None, 0), ("pay", 1, 172800.0, 172800.0, 0)])
    )


def test_equal_timestamps_count():
    events = closed(
        ("alice", "signup", "2026-01-05 10:00:00"),
        ("alice", "pay", "2026-01-05 10:00:00"),  # same instant as her signup
    )
    got = funnels.funnel(events, ["signup", "pay"])
    assert_frame_equal(got, expected([("signup", 1, None, None, 0), ("pay", 1, 0.0, 0.0, 0)]))


def test_steps_at_one_instant_count_whatever_the_rows_order():
    # Engines that walk a user's events in one sorted order (ClickHouse's arrays) must still see
    # every event of an instant as "at or after" each other.
    events = closed(
        ("alice", "pay", "2026-01-05 10:00"),  # all three at once, listed last step first
        ("alice", "cart", "2026-01-05 10:00"),
        ("alice", "signup", "2026-01-05 10:00"),
        ("bob", "signup", "2026-01-05 09:00"),
        ("bob", "pay", "2026-01-05 10:00"),  # cart and pay at one instant, an hour later
        ("bob", "cart", "2026-01-05 10:00"),
        ("bob", "signup", "2026-01-05 10:00"),  # a later attempt starting there too
    )
    got = funnels.funnel(events, ["signup", "cart", "pay"])
    # Both reach pay; bob's best attempt is his earliest (cart 3600 s after signup, pay 0 s).
    assert_frame_equal(
        got,
        expected(
            [
                ("signup", 2, None, None, 0),
                ("cart", 2, 1800.0, 1800.0, 0),
                ("pay", 2, 0.0, 0.0, 0),
            ]
        ),
    )


def test_a_step_that_repeats_the_previous_event_needs_a_second_occurrence():
    events = closed(
        ("alice", "view", "2026-01-05 10:00"),  # one view: step 1 only
        ("bob", "view", "2026-01-05 10:00"),
        ("bob", "view", "2026-01-05 10:30"),  # a second view fills step 2
        ("carol", "view", "2026-01-05 11:00"),
        ("carol", "view", "2026-01-05 11:00"),  # two views at one instant are two events
    )
    got = funnels.funnel(events, ["view", "view", "view"])
    # Nobody has a third view. Step 2 times: bob 1800 s, carol 0 s.
    assert_frame_equal(
        got,
        expected(
            [
                ("view", 3, None, None, 0),
                ("view", 2, 900.0, 900.0, 0),
                ("view", 0, None, None, 0),
            ]
        ),
    )


def test_one_second_inside_the_window_converts_and_one_second_outside_does_not():
    events = closed(
        ("inside", "signup", "2026-01-05 10:00:00"),
        ("inside", "pay", "2026-01-05 11:00:00"),  # exactly the 1-hour window: counts
        ("outside", "signup", "2026-01-05 10:00:00"),
        ("outside", "pay", "2026-01-05 11:00:01"),  # one second too late
    )
    got = funnels.funnel(events, ["signup", "pay"], window=H)
    assert_frame_equal(got, expected([("signup", 2, None, None, 0), ("pay", 1, 3600.0, 3600.0, 0)]))


def test_a_window_across_a_daylight_saving_change_is_elapsed_time():
    # New York springs forward on 2026-03-08: that local day has 23 hours. A one-day window is 24
    # elapsed hours (as in PostHog), not "the same wall-clock time tomorrow".
    events = closed(
        ("early", "signup", "2026-03-07 12:00-05:00"),
        ("early", "pay", "2026-03-08 12:30-04:00"),  # 24.5 h on the wall clock, 23.5 h elapsed: in
        ("late", "signup", "2026-03-07 12:00-05:00"),
        ("late", "pay", "2026-03-08 13:30-04:00"),  # 25.5 h on the wall clock, 24.5 h elapsed: out
        ("edge", "signup", "2026-03-07 12:00-05:00"),
        ("edge", "pay", "2026-03-08 13:00-04:00"),  # exactly 24 h: inside
        last="2026-03-20 00:00",
    )
    got = funnels.funnel(
        events,
        ["signup", "pay"],
        window=D,
        tz="America/New_York",
        start="2026-03-07",
        end="2026-03-08",
    )
    assert_frame_equal(
        got, expected([("signup", 3, None, None, 0), ("pay", 2, 85500.0, 85500.0, 0)])
    )


def test_strict_order_is_broken_by_an_unrelated_event():
    events = closed(
        ("alice", "signup", "2026-01-05 10:00"),
        ("alice", "blog", "2026-01-05 10:01"),  # unrelated, but it is her very next event
        ("alice", "pay", "2026-01-05 10:02"),
        ("bob", "signup", "2026-01-05 10:00"),
        ("bob", "pay", "2026-01-05 10:02"),
        ("bob", "blog", "2026-01-05 10:02"),  # same instant as the pay: does not break the chain
    )
    strict = funnels.funnel(events, ["signup", "pay"], order="strict")
    ordered = funnels.funnel(events, ["signup", "pay"])
    assert_frame_equal(
        strict, expected([("signup", 2, None, None, 0), ("pay", 1, 120.0, 120.0, 0)])
    )
    assert_frame_equal(
        ordered, expected([("signup", 2, None, None, 0), ("pay", 2, 120.0, 120.0, 0)])
    )


def test_unordered_counts_distinct_steps():
    events = closed(
        ("alice", "cart", "2026-01-05 10:00"),
        ("alice", "cart", "2026-01-05 10:05"),
        ("alice", "cart", "2026-01-05 10:10"),  # three carts are one distinct step
        ("bob", "pay", "2026-01-05 10:00"),
        ("bob", "signup", "2026-01-05 11:00"),  # two distinct steps, in reverse order
        ("carol", "pay", "2026-01-05 10:00"),
        ("carol", "cart", "2026-01-05 10:20"),
        ("carol", "signup", "2026-01-05 10:30"),
    )
    got = funnels.funnel(events, ["signup", "cart", "pay"], order="unordered")
    # Step 2 times: bob 3600 s, carol 1200 s; step 3: carol 600 s.
    assert_frame_equal(
        got,
        expected(
            [
                ("signup", 3, None, None, 0),
                ("cart", 2, 2400.0, 2400.0, 0),
                ("pay", 1, 600.0, 600.0, 0),
            ]
        ),
    )


def test_an_exclusion_spoils_one_attempt_while_a_later_clean_attempt_counts():
    events = closed(
        ("alice", "signup", "2026-01-05 10:00"),
        ("alice", "cancel", "2026-01-05 10:30"),  # spoils the 10:00 attempt
        ("alice", "pay", "2026-01-05 11:00"),
        ("alice", "signup", "2026-01-06 10:00"),  # a clean attempt the next day
        ("alice", "pay", "2026-01-06 10:20"),
        ("bob", "signup", "2026-01-05 10:00"),
        ("bob", "cancel", "2026-01-05 10:30"),
        ("bob", "pay", "2026-01-05 11:00"),  # bob's only attempt is spoiled: he is not counted
    )
    got = funnels.funnel(events, ["signup", "pay"], exclusions=[Exclusion("cancel")])
    # alice counts once, with the 20 minutes of her clean attempt.
    assert_frame_equal(got, expected([("signup", 1, None, None, 0), ("pay", 1, 1200.0, 1200.0, 0)]))


def test_we_keep_a_clean_shorter_attempt_when_the_furthest_one_is_spoiled():
    # PostHog's test_excluded_completion: there the user disappears (their furthest attempt is
    # spoiled); here the clean attempt that got to step 1 keeps them in the funnel, deliberately.
    events = closed(
        ("user", "step one", "2021-05-01 00:00:00"),
        ("user", "exclusion", "2021-05-01 00:00:11"),  # after the first attempt's 10 s window
        ("user", "step one", "2021-05-01 00:00:12"),
        ("user", "exclusion", "2021-05-01 00:00:13"),  # spoils the second attempt
        ("user", "step two", "2021-05-01 00:00:14"),
        last="2021-05-10 00:00",
    )
    got = funnels.funnel(
        events,
        ["step one", "step two"],
        window=dt.timedelta(seconds=10),
        exclusions=[Exclusion("exclusion", 0, 1)],
    )
    assert_frame_equal(
        got, expected([("step one", 1, None, None, 0), ("step two", 0, None, None, 0)])
    )


def test_breakdown_is_first_touch_per_attempt():
    events = closed(
        ("alice", "signup", "2026-01-05 10:00", {"platform": "web"}),
        ("alice", "pay", "2026-01-05 11:00", {"platform": "ios"}),  # the attempt stays "web"
        ("alice", "signup", "2026-01-08 10:00", {"platform": "ios"}),  # a second attempt, on ios
        ("bob", "signup", "2026-01-05 10:00", {"platform": "ios"}),
        ("bob", "pay", "2026-01-05 10:30", {"platform": "ios"}),
    )
    got = funnels.funnel(events, ["signup", "pay"], breakdown="platform")
    # alice counts once per value: converted on web; on ios only her second attempt (no pay after).
    assert_frame_equal(
        got,
        expected(
            [
                ("ios", "signup", 2, None, None, 0),
                ("ios", "pay", 1, 1800.0, 1800.0, 0),
                ("web", "signup", 1, None, None, 0),
                ("web", "pay", 1, 3600.0, 3600.0, 0),
            ],
            breakdown="platform",
        ),
    )


def test_a_date_range_counts_only_events_inside_it_in_local_days():
    # PostHog's test_timezones: 01:00 UTC on Jan 1 is still Dec 31 in Los Angeles.
    events = closed(
        ("early", "signup", "2020-01-01 01:00"),
        ("inside", "signup", "2020-01-02 10:00"),
        ("inside", "pay", "2020-01-15 09:00"),  # Jan 15 01:00 in LA: after the range, ignored
        last="2020-02-01 00:00",
    )
    got = funnels.funnel(
        events,
        ["signup", "pay"],
        start="2020-01-01",
        end="2020-01-14",
        tz="America/Los_Angeles",
        window=dt.timedelta(days=30),
    )
    # "inside" has not converted by the end of the range, and could have (window open): still in
    # window, not dropped off.
    assert_frame_equal(got, expected([("signup", 1, None, None, 0), ("pay", 0, None, None, 1)]))


def test_users_whose_window_is_still_open_are_not_dropped_off():
    events = make_events(
        ("old", "signup", "2026-01-01 10:00"),  # window closed long ago: dropped off
        ("new", "signup", "2026-01-20 10:00"),  # the data end on the 21st: still in window
        ("done", "signup", "2026-01-20 09:00"),
        ("done", "pay", "2026-01-21 10:00"),
    )
    got = funnels.funnel(events, ["signup", "pay"], window=dt.timedelta(days=7))
    assert_frame_equal(
        got, expected([("signup", 3, None, None, 0), ("pay", 1, 90000.0, 90000.0, 1)])
    )
    assert funnels.dropped_users(events, ["signup", "pay"], step=2, window=7 * D)[
        "user_id"
    ].to_list() == ["old"]


def test_nobody_converts_is_zero_percent_not_one_hundred():
    events = closed(("alice", "signup", "2026-01-05 10:00"), ("bob", "signup", "2026-01-05 11:00"))
    got = funnels.funnel(events, ["signup", "pay"])
    assert got.get_column("conversion_rate").to_list() == [1.0, 0.0]
    assert got.get_column("step_conversion_rate").to_list() == [1.0, 0.0]
    empty = funnels.funnel(events, ["pay", "signup"])
    # Nobody entered at all: every rate is 0%, with no interval.
    assert_frame_equal(empty, expected([("pay", 0, None, None, 0), ("signup", 0, None, None, 0)]))


def test_no_events_at_all_is_an_empty_funnel_not_an_error():
    got = funnels.funnel(make_events(), ["signup", "pay"], breakdown=None)
    assert_frame_equal(got, expected([("signup", 0, None, None, 0), ("pay", 0, None, None, 0)]))
    by_value = funnels.funnel(
        make_events(("a", "signup", "2026-01-01 00:00", {"platform": "web"})).head(0),
        ["signup"],
        breakdown="platform",
    )
    assert by_value.height == 0 and "platform" in by_value.columns


def test_step_filters_and_labels():
    events = closed(
        ("alice", "signup", "2026-01-05 10:00", {"plan": "pro"}),
        ("alice", "signup", "2026-01-05 10:10", {"plan": "free"}),  # fills the unfiltered step 2
        ("bob", "signup", "2026-01-05 10:00", {"plan": "pro"}),  # one event cannot fill both steps
    )
    got = funnels.funnel(
        events, [Step("signup", {"plan": "pro"}, label="pro signup"), Step("signup")]
    )
    # PostHog's test_basic_funnel_with_derivative_steps.
    assert_frame_equal(
        got, expected([("pro signup", 2, None, None, 0), ("signup", 1, 600.0, 600.0, 0)])
    )


@pytest.mark.parametrize("unset", [None, "(not set)"])
def test_a_step_filter_on_a_missing_value_selects_events_without_it(unset):
    events = closed(
        ("alice", "signup", "2026-01-05 10:00"),  # no plan
        ("alice", "pay", "2026-01-05 11:00", {"plan": "pro"}),
        ("bob", "signup", "2026-01-05 10:00", {"plan": "pro"}),  # has a plan: not step 1
        ("bob", "pay", "2026-01-05 11:00", {"plan": "pro"}),
    )
    got = funnels.funnel(events, [Step("signup", {"plan": unset}), Step("pay", {"plan": "pro"})])
    assert users_at(got) == [1, 1]


def test_any_event_step():
    events = closed(("alice", "signup", "2026-01-05 10:00"), ("alice", "blog", "2026-01-05 10:05"))
    got = funnels.funnel(events, ["signup", Step(None)])
    assert users_at(got) == [1, 1]
    assert got.get_column("event").to_list() == ["signup", "Any event"]


# --------------------------------------------------------------------------------------------------
# Global property filters (the query's scope): events that do not match are not there at all


def web(*rows: tuple[str, str, str], platform: str = "web") -> list[tuple[Any, ...]]:
    return [(*row, {"platform": platform}) for row in rows]


def test_a_global_filter_drops_non_matching_events_for_every_step():
    events = make_events(
        *web(("alice", "signup", "2026-01-05 10:00")),
        *web(("alice", "pay", "2026-01-05 11:00"), platform="ios"),  # not web: alice stops at 1
        *web(("bob", "signup", "2026-01-05 10:00"), platform="ios"),  # bob never enters
        *web(("bob", "pay", "2026-01-05 11:00")),
        *web(("carol", "signup", "2026-01-05 10:00"), ("carol", "pay", "2026-01-05 12:00")),
        *web(("zz_padding", "noise", "2026-02-28 00:00")),  # the data's end, for web events too
    )
    query = FunnelQuery.build(["signup", "pay"], filters={"platform": "web"})
    # carol took two hours (7200 s).
    assert_frame_equal(
        funnels.funnel_of(events, query),
        expected([("signup", 2, None, None, 0), ("pay", 1, 7200.0, 7200.0, 0)]),
    )


def test_an_event_a_global_filter_drops_does_not_break_a_strict_chain():
    events = make_events(
        *web(("alice", "signup", "2026-01-05 10:00")),
        # Without the filter this view between her steps would break the strict chain.
        *web(("alice", "view", "2026-01-05 10:01"), platform="ios"),
        *web(("alice", "pay", "2026-01-05 10:02"), ("zz_padding", "noise", "2026-02-28 00:00")),
    )
    query = FunnelQuery.build(["signup", "pay"], order="strict", filters={"platform": ["web"]})
    assert users_at(funnels.funnel_of(events, query)) == [1, 1]


def test_a_global_filter_applies_to_where_drop_offs_went():
    events = make_events(
        *web(("alice", "signup", "2026-01-05 10:00")),
        *web(("alice", "help", "2026-01-05 10:05"), platform="ios"),  # not seen
        *web(("alice", "search", "2026-01-05 10:10"), ("zz_padding", "noise", "2026-02-28 00:00")),
    )
    query = FunnelQuery.build(["signup", "pay"], filters={"platform": "web"})
    got = funnels.next_events_after_drop_of(events, query, step=2)
    assert got.get_column("event").to_list() == ["search"]


# --------------------------------------------------------------------------------------------------
# The query object: the keyword functions build it; the *_of functions take it


def test_equal_queries_are_equal_keys():
    one = FunnelQuery.build(
        ["signup", Step("pay", {"plan": ["pro", "team"]})],
        start="2026-01-05",
        end=dt.date(2026, 1, 31),
        filters={"platform": ["web"]},
    )
    other = FunnelQuery.build(
        [Step("signup"), Step("pay", {"plan": ("pro", "team")})],
        start=dt.date(2026, 1, 5),
        end="2026-01-31",
        filters={"platform": ("web",)},
    )
    assert {one: "cached"}.get(other) == "cached"


def test_a_query_takes_its_dates_zone_and_filters_as_one_scope_too():
    scope = Scope.build(start="2026-01-05", end="2026-01-31", tz="Europe/Paris", filters={"p": 1})
    assert FunnelQuery.build(["a", "b"], scope=scope) == FunnelQuery.build(
        ["a", "b"], start="2026-01-05", end="2026-01-31", tz="Europe/Paris", filters={"p": 1}
    )


QUERY_CALLS = [
    (funnels.funnel, funnels.funnel_of, {}),
    (funnels.funnel_users, funnels.funnel_users_of, {}),
    (funnels.funnel_trends, funnels.funnel_trends_of, {"interval": "week", "from_step": 2}),
    (funnels.time_to_convert, funnels.time_to_convert_of, {"bins": 3}),
    (funnels.dropped_users, funnels.dropped_users_of, {"step": 2}),
    (funnels.next_events_after_drop, funnels.next_events_after_drop_of, {"step": 3, "top": 2}),
]


@pytest.mark.parametrize(
    ("keyword", "of_query", "extra"), QUERY_CALLS, ids=[c[0].__name__ for c in QUERY_CALLS]
)
def test_the_query_functions_answer_as_the_keyword_functions(keyword, of_query, extra):
    events = closed(
        ("alice", "signup", "2026-01-05 10:00", {"plan": "pro"}),
        ("alice", "cart", "2026-01-05 10:30", {"plan": "pro"}),
        ("alice", "pay", "2026-01-06 09:00", {"plan": "pro"}),
        ("bob", "signup", "2026-01-12 10:00", {"plan": "free"}),
        ("bob", "cart", "2026-01-12 11:00", {"plan": "free"}),
        ("bob", "help", "2026-01-12 12:00", {"plan": "free"}),
    )
    options: dict[str, Any] = {"window": 3 * D, "breakdown": "plan", "start": "2026-01-01"}
    query = FunnelQuery.build(["signup", "cart", "pay"], **options)
    assert_frame_equal(
        of_query(events, query, **extra),
        keyword(events, ["signup", "cart", "pay"], **options, **extra),
    )


# --------------------------------------------------------------------------------------------------
# PostHog's cases, one factory over every order (their test_funnel*.py run the same way)


def minutes(person: str, names: list[str], start: str = "2021-05-01 00:00") -> list[tuple]:
    """One event a minute, in order."""
    t0 = ts(start)
    return [
        (person, name, (t0 + dt.timedelta(minutes=i)).isoformat()) for i, name in enumerate(names)
    ]


BASIC_PEOPLE = [
    *minutes("p1_signup", ["user signed up"]),
    *minutes("p2_pageview_signup", ["$pageview", "user signed up"]),
    *minutes("p3_all_with_blah", ["user signed up", "$pageview", "blaah blaa", "insight viewed"]),
    *minutes("p4_reverse", ["insight viewed", "blaah blaa", "$pageview", "user signed up"]),
    *minutes(
        "p5_random", ["$pageview", "user signed up", "blaah blaa", "$pageview", "insight viewed"]
    ),
    *minutes("p6", ["blaah blaa", "user signed up", "blaah blaa", "$pageview"]),
    *minutes("p7", ["blaah blaa", "user signed up", "$pageview", "insight viewed", "blaah blaa"]),
    *minutes("p8_no_signup", ["insight viewed", "$pageview"]),
]
BASIC_STEPS = ["user signed up", "$pageview", "insight viewed"]

# Users at each step, per order (PostHog's test_basic_strict_funnel / test_basic_unordered_funnel).
BASIC_COUNTS = {
    "ordered": [7, 4, 3],  # p3, p5, p6, p7 view after signing up; p3, p5, p7 go on
    "strict": [7, 2, 1],  # only p3 and p7 view right after signing up; only p7 goes on
    "unordered": [8, 7, 4],  # anyone with a step enters; p3, p4, p5, p7 did all three
}


def funnel_test_factory(order: str):
    class FunnelCases:
        def run(self, events: pl.DataFrame, steps: list[Any], **options: Any) -> pl.DataFrame:
            return funnels.funnel(events, steps, order=order, **options)  # type: ignore[arg-type]

        def test_basic_funnel(self):
            got = self.run(closed(*BASIC_PEOPLE, last="2021-06-01 00:00"), BASIC_STEPS)
            assert users_at(got) == BASIC_COUNTS[order]

        def test_funnel_step_conversion_times(self):
            # conversion_time_cases.test_funnel_step_conversion_times: the same for every order.
            events = closed(
                ("person1", "sign up", "2020-01-01 12:00"),
                ("person1", "play movie", "2020-01-01 13:00"),
                ("person1", "buy", "2020-01-01 15:00"),
                ("person2", "sign up", "2020-01-02 14:00"),
                ("person2", "play movie", "2020-01-02 16:00"),
                ("person3", "sign up", "2020-01-02 14:00"),
                ("person3", "play movie", "2020-01-02 16:00"),
                ("person3", "buy", "2020-01-02 17:00"),
                last="2020-02-01 00:00",
            )
            got = self.run(
                events,
                ["sign up", "play movie", "buy"],
                window=7 * D,
                start="2020-01-01",
                end="2020-01-08",
            )
            # Step 2: 3600, 7200, 7200 -> mean 6000, median 7200. Step 3: 7200, 3600. person2's
            # week runs past the end of the range (Jan 8): still in window, not dropped off.
            assert_frame_equal(
                got,
                expected(
                    [
                        ("sign up", 3, None, None, 0),
                        ("play movie", 3, 7200.0, 6000.0, 0),
                        ("buy", 2, 5400.0, 5400.0, 1),
                    ]
                ),
            )

        def test_funnel_with_multiple_incomplete_tries(self):
            events = closed(
                ("person1", "user signed up", "2021-05-01 01:00"),
                ("person1", "$pageview", "2021-05-01 02:00"),
                ("person1", "something else", "2021-05-01 03:00"),
                ("person1", "user signed up", "2021-05-03 04:00"),
                ("person1", "$pageview", "2021-05-03 05:00"),
                ("person1", "user signed up", "2021-05-04 07:00"),
                ("person1", "$pageview", "2021-05-04 10:00"),
                last="2021-06-01 00:00",
            )
            got = self.run(events, ["user signed up", "$pageview", "something else"], window=D)
            # The completed first try counts; the incomplete later tries are disregarded.
            assert_frame_equal(
                got,
                expected(
                    [
                        ("user signed up", 1, None, None, 0),
                        ("$pageview", 1, 3600.0, 3600.0, 0),
                        ("something else", 1, 3600.0, 3600.0, 0),
                    ]
                ),
            )

        def test_funnel_times_with_different_conversion_windows(self):
            events = closed(
                ("s1", "user signed up", "2020-01-02 14:00"),
                ("s1", "pageview", "2020-01-02 14:05"),
                ("s2", "user signed up", "2020-01-02 14:03"),
                ("s3", "user signed up", "2020-01-02 12:00"),
                ("s3", "pageview", "2020-01-02 12:15"),
                last="2020-02-01 00:00",
            )
            steps = ["user signed up", "pageview"]
            wide = self.run(events, steps, window=14 * D)
            narrow = self.run(events, steps, window=funnels.conversion_window(5, "minute"))
            assert users_at(wide) == [3, 2] and wide["mean_seconds_to_convert"][1] == 600.0
            # s1 converts in exactly 5 minutes: inside the window.
            assert users_at(narrow) == [3, 1] and narrow["mean_seconds_to_convert"][1] == 300.0

        def test_window_ignores_dst_transition(self):
            # PostHog's test_funnel_window_ignores_dst_transition: 1,207,020 s in any zone.
            events = closed(
                ("user_1", "$pageview", "2024-03-01 15:10"),
                ("user_1", "user signed up", "2024-03-15 14:27"),
                last="2024-04-01 00:00",
            )
            for tz in ("UTC", "US/Pacific"):
                got = self.run(
                    events,
                    ["$pageview", "user signed up"],
                    start="2024-02-17",
                    end="2024-03-18",
                    tz=tz,
                )
                assert users_at(got) == [1, 1]
                assert got["median_seconds_to_convert"][1] == 1_207_020.0

        def test_exclusion_over_the_whole_funnel(self):
            # PostHog's test_funnel_exclusions_full_window: person2 saw "x" between the steps.
            events = closed(
                ("person1", "user signed up", "2021-05-01 01:00"),
                ("person1", "paid", "2021-05-01 02:00"),
                ("person2", "user signed up", "2021-05-01 03:00"),
                ("person2", "x", "2021-05-01 03:30"),
                ("person2", "paid", "2021-05-01 04:00"),
                ("person3", "user signed up", "2021-05-01 05:00"),
                ("person3", "paid", "2021-05-01 06:00"),
                last="2021-06-01 00:00",
            )
            got = self.run(events, ["user signed up", "paid"], exclusions=[Exclusion("x", 0, 1)])
            # Ordered and strict drop person2 (their only attempt is spoiled); unordered keeps them
            # at step 1 through the clean attempt that starts at their "paid" (PostHog agrees).
            assert users_at(got) == ([3, 2] if order == "unordered" else [2, 2])

        def test_same_event_same_timestamp(self):
            # PostHog's test_same_event_same_timestamp: twenty identical step-1 events at once.
            events = closed(
                *[("test", "step one", "2024-01-10 12:01")] * 20,
                ("test", "step two", "2024-01-11 12:01"),
                last="2024-02-01 00:00",
            )
            assert users_at(self.run(events, ["step one", "step two"])) == [1, 1]

        def test_repeat_steps(self):
            # PostHog's test_advanced_funnel_with_repeat_steps (ordered); strict and unordered too.
            people = [
                *minutes("s1", ["user signed up"]),
                *minutes("s2", ["user signed up", "$pageview"]),
                *minutes("s3", ["user signed up", "$pageview", "blaah blaa", "$pageview"]),
                *minutes(
                    "s4",
                    [
                        "user signed up",
                        "$pageview",
                        "blaah blaa",
                        "$pageview",
                        "$pageview",
                        "blaah",
                    ],
                ),
                *minutes("s5", ["user signed up", *["$pageview"] * 4]),
            ]
            got = self.run(
                closed(*people, last="2021-06-01 00:00"), ["user signed up", *["$pageview"] * 4]
            )
            want = {
                # Each page-view step needs its own page view: s3 has two, s4 three, s5 four.
                "ordered": [5, 4, 3, 2, 1],
                "strict": [5, 4, 1, 1, 1],  # "blaah blaa" right after the first view stops s3, s4
                "unordered": [5, 4, 3, 2, 1],  # in order anyway: the same as ordered
            }
            assert users_at(got) == want[order]

    FunnelCases.__name__ = f"TestFunnel_{order}"
    return FunnelCases


TestOrderedFunnel = funnel_test_factory("ordered")
TestStrictFunnel = funnel_test_factory("strict")
TestUnorderedFunnel = funnel_test_factory("unordered")


# --------------------------------------------------------------------------------------------------
# Exclusions between steps (PostHog's test_advanced_funnel_exclusions_between_steps)

EXCLUSION_PEOPLE = [
    ("person1", "user signed up", "2021-05-01 01:00"),
    ("person1", "$pageview", "2021-05-01 02:00"),
    ("person1", "x", "2021-05-01 03:00"),
    ("person1", "insight viewed", "2021-05-01 04:00"),
    ("person1", "x", "2021-05-01 04:30"),
    ("person1", "invite teammate", "2021-05-01 05:00"),
    ("person1", "x", "2021-05-01 05:30"),
    ("person1", "pageview2", "2021-05-01 06:00"),
    ("person2", "user signed up", "2021-05-01 01:00"),
    ("person2", "$pageview", "2021-05-01 02:00"),
    ("person2", "insight viewed", "2021-05-01 04:00"),
    ("person2", "x", "2021-05-01 04:30"),
    ("person2", "invite teammate", "2021-05-01 05:00"),
    ("person2", "x", "2021-05-01 05:30"),
    ("person2", "pageview2", "2021-05-01 06:00"),
    ("person3", "user signed up", "2021-05-01 01:00"),
    ("person3", "x", "2021-05-01 01:30"),
    ("person3", "$pageview", "2021-05-01 02:00"),
    ("person3", "insight viewed", "2021-05-01 04:00"),
    ("person3", "invite teammate", "2021-05-01 05:00"),
    ("person3", "x", "2021-05-01 05:30"),
    ("person3", "pageview2", "2021-05-01 06:00"),
]
EXCLUSION_STEPS = ["user signed up", "$pageview", "insight viewed", "invite teammate", "pageview2"]


@pytest.mark.parametrize(
    ("from_step", "to_step", "kept"),
    [
        (0, 1, ["person1", "person2"]),  # person3 saw x between signing up and viewing
        (1, 2, ["person2", "person3"]),
        (2, 3, ["person3"]),
        (3, 4, []),
        (1, 3, ["person3"]),
    ],
)
def test_exclusions_between_steps(from_step, to_step, kept):
    events = closed(*EXCLUSION_PEOPLE, last="2021-06-01 00:00")
    got = funnels.funnel_users(
        events,
        EXCLUSION_STEPS,
        exclusions=[Exclusion("x", from_step, to_step)],
        start="2021-05-01",
        end="2021-05-14",
    )
    assert got.get_column("user_id").to_list() == kept
    assert set(got.get_column("reached").to_list()) <= {5}


@pytest.mark.parametrize(
    ("name", "events", "count"),
    [
        # PostHog's test_funnel_exclusion_multiple_possible_no_end_event1..3 (10 s window).
        ("later clean attempt", [(0, "step one"), (1, "exclusion"), (31, "step one")], 1),
        ("earlier clean attempt", [(0, "step one"), (31, "step one"), (32, "exclusion")], 1),
        ("both spoiled", [(0, "step one"), (1, "step one"), (2, "exclusion")], 0),
        # PostHog's test_short_exclusions: the first try is spoiled (and late), the second counts.
        (
            "short",
            [
                (0, "step one"),
                (1, "exclusion"),
                (31, "step two"),
                (3600, "step one"),
                (3629, "step two"),
            ],
            1,
        ),
    ],
)
def test_exclusions_without_an_end_event(name, events, count):
    t0 = ts("2021-05-01 00:00:00")
    rows = [("user_one", e, (t0 + dt.timedelta(seconds=s)).isoformat()) for s, e in events]
    window = dt.timedelta(seconds=30 if name == "short" else 10)
    got = funnels.funnel(
        closed(*rows, last="2021-06-01 00:00"),
        ["step one", "step two"],
        window=window,
        exclusions=[Exclusion("exclusion", 0, 1)],
    )
    assert users_at(got)[0] == count
    if name == "short":
        assert users_at(got) == [1, 1] and got["mean_seconds_to_convert"][1] == 29.0


def test_exclusion_at_the_same_instant_as_a_step_does_not_spoil():
    # PostHog's test_multiple_events_same_timestamp_exclusions.
    events = closed(
        ("test", "step zero", "2024-01-10 12:00"),
        *[("test", "step one", "2024-01-10 12:01")] * 30,
        ("test", "exclusion", "2024-01-10 12:01"),
        ("test", "step two", "2024-01-10 12:01"),
        ("test", "step three", "2024-01-10 12:02"),
        last="2024-02-01 00:00",
    )
    steps = ["step zero", "step one", "step two", "step three"]
    for lo, hi in [(0, 1), (1, 2)]:
        got = funnels.funnel(events, steps, exclusions=[Exclusion("exclusion", lo, hi)])
        assert users_at(got) == [1, 1, 1, 1]


def test_unordered_exclusion_after_completion_does_not_spoil():
    events = closed(
        ("person1", "user signed up", "2021-05-01 01:00"),
        ("person1", "paid", "2021-05-01 02:00"),
        ("person1", "left", "2021-05-01 03:00"),
        ("person1", "x", "2021-05-01 04:00"),  # after the attempt completed
        ("person1", "left", "2021-05-01 05:00"),
        last="2021-06-01 00:00",
    )
    got = funnels.funnel(
        events, ["user signed up", "paid", "left"], order="unordered", exclusions=[Exclusion("x")]
    )
    assert users_at(got) == [1, 1, 1]


def test_exclusion_with_property_filter():
    events = closed(
        ("excluded", "step one", "2021-05-01 00:00:00"),
        ("excluded", "exclusion", "2021-05-01 00:00:01", {"exclude_me": "true"}),
        ("excluded", "step two", "2021-05-01 00:00:02"),
        ("first_step", "step one", "2021-05-01 00:00:00"),
        ("included", "step one", "2021-05-01 00:00:00"),
        ("included", "exclusion", "2021-05-01 00:00:01", {"exclude_me": "false"}),
        ("included", "step two", "2021-05-01 00:00:02"),
        last="2021-06-01 00:00",
    )
    got = funnels.funnel(
        events,
        ["step one", "step two"],
        window=dt.timedelta(seconds=10),
        exclusions=[Exclusion("exclusion", 0, 1, {"exclude_me": "true"})],
    )
    assert users_at(got) == [2, 1]


# --------------------------------------------------------------------------------------------------
# Beyond the counts


def test_conversion_over_time_by_entry_day():
    events = closed(
        ("alice", "signup", "2026-01-05 10:00"),
        ("alice", "pay", "2026-01-06 10:00"),  # entered Monday, converted Tuesday: Monday's
        ("bob", "signup", "2026-01-05 23:30"),
        ("carol", "signup", "2026-01-07 09:00"),
        ("carol", "pay", "2026-01-07 09:30"),
        ("carol", "signup", "2026-01-08 09:00"),  # a second entry on Thursday, no conversion
    )
    got = funnels.funnel_trends(
        events, ["signup", "pay"], start="2026-01-05", end="2026-01-08", window=7 * D
    )
    want = pl.DataFrame(
        {
            "period_start": [dt.date(2026, 1, d) for d in (5, 6, 7, 8)],
            "entered": [2, 0, 1, 1],  # Tuesday had no entries: 0, and 0% (not 100%)
            "converted": [1, 0, 1, 0],
            "conversion_rate": [0.5, 0.0, 1.0, 0.0],
            "conversion_rate_ci_low": [
                reference.wilson(1, 2)[0],
                None,
                reference.wilson(1, 1)[0],
                reference.wilson(0, 1)[0],
            ],
            "conversion_rate_ci_high": [
                reference.wilson(1, 2)[1],
                None,
                reference.wilson(1, 1)[1],
                reference.wilson(0, 1)[1],
            ],
            # The range ends on the 8th: bob (Monday) and carol's second try (Thursday) could still
            # convert after it, so they are still in their window, not dropped off.
            "still_in_window": [1, 0, 0, 1],
        },
        schema_overrides={"entered": pl.Int64, "converted": pl.Int64, "still_in_window": pl.Int64},
    )
    assert_frame_equal(got, want)
    # The same in Tokyo: bob's 23:30 UTC signup is Tuesday morning there.
    tokyo = funnels.funnel_trends(
        events, ["signup", "pay"], start="2026-01-05", end="2026-01-08", tz="Asia/Tokyo"
    )
    assert tokyo.get_column("entered").to_list() == [1, 1, 1, 1]


def test_conversion_over_time_by_week_with_sunday_weeks():
    events = closed(
        ("alice", "signup", "2026-01-03 10:00"),  # a Saturday
        ("alice", "pay", "2026-01-03 11:00"),
        ("bob", "signup", "2026-01-04 10:00"),  # the Sunday after
    )
    monday = funnels.funnel_trends(events, ["signup", "pay"], interval="week")
    sunday = funnels.funnel_trends(events, ["signup", "pay"], interval="week", week_start="sunday")
    assert monday.select("period_start", "entered", "converted").rows() == [
        (dt.date(2025, 12, 29), 2, 1)
    ]
    assert sunday.select("period_start", "entered", "converted").rows() == [
        (dt.date(2025, 12, 28), 1, 1),
        (dt.date(2026, 1, 4), 1, 0),
    ]


def test_time_to_convert_histogram():
    events = closed(
        ("a", "signup", "2026-01-05 10:00"),
        ("a", "pay", "2026-01-05 10:01"),  # 60 s
        ("b", "signup", "2026-01-05 10:00"),
        ("b", "pay", "2026-01-05 10:06"),  # 360 s
        ("c", "signup", "2026-01-05 10:00"),
        ("c", "pay", "2026-01-05 10:02"),  # 120 s
        ("d", "signup", "2026-01-05 10:00"),  # never converts: not in the histogram
    )
    got = funnels.time_to_convert(events, ["signup", "pay"], bins=3)
    want = pl.DataFrame(
        {
            "bin_start_seconds": [60.0, 160.0, 260.0],
            "bin_end_seconds": [160.0, 260.0, 360.0],
            "users": [2, 0, 1],  # the slowest user falls in the last bin, which holds its end
        },
        schema_overrides={"users": pl.Int64},
    )
    assert_frame_equal(got, want)


def test_dropped_users_and_where_they_went():
    events = closed(
        ("alice", "signup", "2026-01-05 10:00"),
        ("alice", "cart", "2026-01-05 10:05"),
        ("alice", "help", "2026-01-05 10:06"),  # dropped at pay; next: help
        ("bob", "signup", "2026-01-05 10:00"),
        ("bob", "cart", "2026-01-05 10:05"),
        ("bob", "help", "2026-01-05 10:07"),
        ("bob", "blog", "2026-01-05 10:09"),  # only his first next event counts
        ("carol", "signup", "2026-01-05 10:00"),
        ("carol", "cart", "2026-01-05 10:05"),  # no later event at all
        ("dan", "signup", "2026-01-05 10:00"),
        ("dan", "cart", "2026-01-05 10:05"),
        ("dan", "pay", "2026-01-05 10:10"),  # converted
    )
    steps = ["signup", "cart", "pay"]
    dropped = funnels.dropped_users(events, steps, step=3)
    assert dropped.get_column("user_id").to_list() == ["alice", "bob", "carol"]
    assert dropped.get_column("last_step").to_list() == [2, 2, 2]
    assert dropped.get_column("last_step_at")[0] == ts("2026-01-05 10:05")
    nxt = funnels.next_events_after_drop(events, steps, step=3)
    want = pl.DataFrame(
        {
            "event": ["help", "(no later event)"],
            "users": [2, 1],
            "share": [2 / 3, 1 / 3],
        },
        schema_overrides={"users": pl.Int64},
    )
    assert_frame_equal(nxt, want)
    # Passing over "help": alice did only that, bob's next chosen event is the blog, carol did
    # nothing at all.
    nxt = funnels.next_events_after_drop(events, steps, step=3, ignore=["help"])
    want = pl.DataFrame(
        {
            "event": ["(no later event)", "(only passed-over events)", "blog"],
            "users": [1, 1, 1],
            "share": [1 / 3, 1 / 3, 1 / 3],
        },
        schema_overrides={"users": pl.Int64},
    )
    assert_frame_equal(nxt, want)
    with pytest.raises(TypeError, match="ignore"):
        funnels.next_events_after_drop(events, steps, step=3, ignore="help")


def test_funnel_users_table():
    events = closed(
        ("alice", "signup", "2026-01-05 10:00"),
        ("alice", "pay", "2026-01-05 12:00"),
        ("bob", "signup", "2026-01-06 10:00"),
    )
    got = funnels.funnel_users(events, ["signup", "pay"])
    want = pl.DataFrame(
        {
            "user_id": ["alice", "bob"],
            "reached": [2, 1],
            "step_1_at": [ts("2026-01-05 10:00"), ts("2026-01-06 10:00")],
            "step_2_at": [ts("2026-01-05 12:00"), None],
            "still_in_window": [False, False],
        },
        schema_overrides={
            "reached": pl.Int64,
            "step_1_at": pl.Datetime("us", "UTC"),
            "step_2_at": pl.Datetime("us", "UTC"),
        },
    )
    assert_frame_equal(got, want)


# --------------------------------------------------------------------------------------------------
# Bad arguments are ValueErrors that name the argument


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": []}, "steps"),
        ({"steps": "signup"}, "steps"),
        ({"steps": [3]}, r"steps\[0\]"),
        ({"window": dt.timedelta(0)}, "window"),
        ({"window": 3}, "window"),
        ({"order": "random"}, "order"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"start": "2026-02-01", "end": "2026-01-01"}, "end"),
        ({"exclusions": [Exclusion("x", 1, 1)]}, r"exclusions\[0\]"),
        ({"exclusions": [Exclusion("x", 0, 5)]}, r"exclusions\[0\]"),
        ({"exclusions": [Exclusion("x", 1, 0)]}, r"exclusions\[0\]"),
        ({"exclusions": [Exclusion("signup", 0, 1)]}, r"exclusions\[0\]"),
        ({"breakdown": "no_such_column"}, "breakdown"),
        ({"steps": [Step("signup", {"nope": 1}), "pay"]}, "filter"),
    ],
)
def test_bad_arguments(kwargs, message):
    args: dict[str, Any] = {"steps": ["signup", "pay"], **kwargs}
    events = closed(("alice", "signup", "2026-01-05 10:00"))
    with pytest.raises(ValueError, match=message):
        funnels.funnel(events, args.pop("steps"), **args)


def test_every_problem_is_reported_at_once():
    with pytest.raises(FunnelQueryError) as caught:
        FunnelQuery.build(
            ["signup", "pay"],
            window=dt.timedelta(0),
            order="random",
            breakdown="",
            start="2026-02-01",
            end="2026-01-01",
            tz="Mars/Olympus",
            exclusions=[Exclusion("x", 1, 1)],
        )
    assert caught.value.problems == [
        "window must be a positive timedelta, not datetime.timedelta(0)",
        "order must be one of 'ordered', 'strict', 'unordered', not 'random'",
        "breakdown must be a property (column) name, not ''",
        "end (2026-01-01) is before start (2026-02-01)",
        "tz: 'Mars/Olympus' is not an IANA time zone name (e.g. 'Europe/Berlin')",
        "exclusions[0]: from_step (1) and to_step (1) must be 0-based step indices with "
        "from_step < to_step <= 1",
    ]


def test_the_keyword_functions_list_every_problem_in_one_message():
    events = closed(("alice", "signup", "2026-01-05 10:00"))
    with pytest.raises(ValueError, match=r"2 problems with this funnel:\n- steps\[1\].*\n- order"):
        funnels.funnel(events, ["signup", 3], order="random")


def test_bad_step_numbers_for_the_extras():
    events = closed(("alice", "signup", "2026-01-05 10:00"))
    with pytest.raises(ValueError, match="step"):
        funnels.dropped_users(events, ["signup", "pay"], step=1)
    with pytest.raises(ValueError, match="to_step"):
        funnels.funnel_trends(events, ["signup", "pay"], to_step=3)
    with pytest.raises(ValueError, match="bins"):
        funnels.time_to_convert(events, ["signup", "pay"], bins=0)
    with pytest.raises(ValueError, match="unit"):
        funnels.conversion_window(3, "fortnight")


# --------------------------------------------------------------------------------------------------
# Properties: the fast code against the reference, and the invariants

BASE = dt.datetime(2026, 3, 7, tzinfo=dt.UTC)  # New York changes its clocks the next day


@st.composite
def logs(draw: Any, max_events: int = 7) -> list[dict[str, Any]]:
    rows = []
    for u in range(draw(st.integers(1, 4))):
        for _ in range(draw(st.integers(0, max_events))):
            rows.append(
                {
                    "user_id": f"u{u}",
                    "event": draw(st.sampled_from(["a", "b", "c", "x"])),
                    # Few distinct instants, so ties and repeats are common.
                    "timestamp": BASE + draw(st.integers(0, 40)) * dt.timedelta(hours=1),
                    "p": draw(st.sampled_from(["x", "y", None])),
                }
            )
    return rows


@st.composite
def step_lists(draw: Any) -> list[Any]:
    out: list[Any] = []
    for _ in range(draw(st.integers(1, 4))):
        event = draw(st.sampled_from(["a", "b", "c", "a", "b", None]))
        filters = draw(st.sampled_from([None, None, {"p": "x"}, {"p": ["x", "y"]}]))
        out.append(Step(event, filters) if (filters or event is None) else event)
    return out


@st.composite
def options(draw: Any, n_steps: int) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "window": draw(st.sampled_from([1, 3, 12, 100])) * dt.timedelta(hours=1),
        "order": draw(st.sampled_from(funnels.ORDERS)),
    }
    if n_steps > 1 and draw(st.booleans()):
        lo = draw(st.integers(0, n_steps - 2))
        hi = draw(st.integers(lo + 1, n_steps - 1))
        opts["exclusions"] = [Exclusion("x", lo, hi, draw(st.sampled_from([None, {"p": "y"}])))]
    if draw(st.booleans()):
        opts["breakdown"] = "p"
    if draw(st.booleans()):
        opts["tz"] = draw(st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata"]))
        opts["start"] = dt.date(2026, 3, 7) + dt.timedelta(days=draw(st.integers(0, 1)))
        opts["end"] = opts["start"] + dt.timedelta(days=draw(st.integers(0, 1)))
    return opts


SCHEMA = {
    "user_id": pl.String,
    "event": pl.String,
    "timestamp": pl.Datetime("us", "UTC"),
    "p": pl.String,
}


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA)


def ref_options(opts: dict[str, Any]) -> dict[str, Any]:
    return {"window": dt.timedelta(days=14), **opts}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_users_match_the_reference(data):
    rows = data.draw(logs())
    steps = data.draw(step_lists())
    opts = data.draw(options(len(steps)))
    got = funnels.funnel_users(frame(rows), steps, **opts)
    want = reference.users(rows, steps, **ref_options(opts))
    bd = opts.get("breakdown")
    table = {}
    for row in got.iter_rows(named=True):
        times = tuple(row[f"step_{k}_at"] for k in range(1, row["reached"] + 1))
        table[(row["user_id"], row[bd] if bd else None)] = (
            row["reached"],
            times,
            row["still_in_window"],
        )
    assert table == want


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_funnel_table_matches_the_reference(data):
    rows = data.draw(logs())
    steps = data.draw(step_lists())
    opts = data.draw(options(len(steps)))
    got = funnels.funnel(frame(rows), steps, **opts)
    want = reference.funnel(rows, steps, **ref_options(opts))
    if not want:
        assert got.height == 0
        return
    assert_frame_equal(
        got.select(list(want[0].keys())),
        pl.DataFrame(want, schema={c: got.schema[c] for c in want[0]}),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_one_run_answers_every_view_as_the_events_do(data):
    """The Funnels page matches the attempts once and reads the steps, the trend, the time to
    convert and the drop-offs off them: each frame as its ``_of`` function gives it."""
    rows = data.draw(logs())
    steps = data.draw(step_lists())
    opts = data.draw(options(len(steps)))
    events = frame(rows)
    query = FunnelQuery.build(steps, **opts)
    run = funnels.funnel_run(events, query)
    assert_frame_equal(funnels.funnel_from(run), funnels.funnel_of(events, query))
    interval = data.draw(st.sampled_from(["day", "week"]))
    assert_frame_equal(
        funnels.funnel_trends_from(run, interval=interval),
        funnels.funnel_trends_of(events, query, interval=interval),
    )
    if len(steps) < 2:
        return
    assert_frame_equal(funnels.time_to_convert_from(run), funnels.time_to_convert_of(events, query))
    step = data.draw(st.integers(2, len(steps)))
    assert_frame_equal(
        funnels.dropped_users_from(run, step=step),
        funnels.dropped_users_of(events, query, step=step),
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_invariants(data):
    rows = data.draw(logs())
    steps = data.draw(step_lists())
    opts = data.draw(options(len(steps)))
    events = frame(rows)
    got = funnels.funnel(events, steps, **opts)
    keys = [opts["breakdown"]] if opts.get("breakdown") else []
    for _, part in got.group_by(keys) if keys else [((), got)]:
        counts = part.sort("step").get_column("users").to_list()
        assert counts == sorted(counts, reverse=True)  # counts never increase along the steps
    for column in ("conversion_rate", "step_conversion_rate"):
        values = got.get_column(column)
        assert values.is_between(0.0, 1.0).all()  # no conversion above 100%
    # Whoever has no users shows 0%, never 100%.
    assert got.filter(pl.col("users") == 0).get_column("conversion_rate").eq(0.0).all()
    # No time to convert exceeds the window.
    limit = opts["window"].total_seconds()
    for column in ("median_seconds_to_convert", "mean_seconds_to_convert"):
        assert got.get_column(column).drop_nulls().le(limit + 1e-6).all()
    users = funnels.funnel_users(events, steps, **opts)
    n = len(steps)
    for k in range(2, n + 1):
        gap = users.select(pl.col(f"step_{k}_at") - pl.col("step_1_at")).to_series().drop_nulls()
        assert (gap <= opts["window"]).all()
    # Shuffling rows changes nothing.
    shuffled = events.sample(fraction=1.0, shuffle=True, seed=data.draw(st.integers(0, 99)))
    assert_frame_equal(funnels.funnel(shuffled, steps, **opts), got)
    assert_frame_equal(funnels.funnel_users(shuffled, steps, **opts), users)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_unordered_at_least_ordered_at_least_strict(data):
    rows = data.draw(logs())
    steps = data.draw(step_lists())
    window = data.draw(st.sampled_from([1, 3, 12, 100])) * dt.timedelta(hours=1)
    counts = {
        order: users_at(funnels.funnel(frame(rows), steps, order=order, window=window))
        for order in funnels.ORDERS
    }
    for u, o, s in zip(counts["unordered"], counts["ordered"], counts["strict"], strict=True):
        assert u >= o >= s


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_conversion_over_time_agrees_with_the_step_counts(data):
    rows = data.draw(logs())
    steps = data.draw(step_lists())
    opts = data.draw(options(len(steps)))
    opts.pop("breakdown", None)
    events = frame(rows)
    table = funnels.funnel(events, steps, **opts)
    # One period holding the whole log: the same users enter and convert as in the funnel.
    month = funnels.funnel_trends(events, steps, interval="month", **opts)
    entered = month.get_column("entered").sum()
    converted = month.get_column("converted").sum()
    assert (entered, converted) == (users_at(table)[0], users_at(table)[-1])
    # By day: every user who entered somewhere is in the funnel, and each day converts at most
    # the users who entered that day.
    daily = funnels.funnel_trends(events, steps, interval="day", **opts)
    assert (daily.get_column("converted") <= daily.get_column("entered")).all()
    assert daily.get_column("entered").sum() >= users_at(table)[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_time_to_convert_and_dropped_users_agree_with_the_funnel(data):
    rows = data.draw(logs())
    steps = data.draw(step_lists().filter(lambda s: len(s) >= 2))
    opts = data.draw(options(len(steps)))
    opts.pop("breakdown", None)
    events = frame(rows)
    table = funnels.funnel(events, steps, **opts)
    hist = funnels.time_to_convert(events, steps, **opts)
    assert hist.get_column("users").sum() == users_at(table)[-1]
    if hist.height:
        assert hist.get_column("bin_end_seconds").max() <= opts["window"].total_seconds()
    for k in range(2, len(steps) + 1):
        dropped = funnels.dropped_users(events, steps, step=k, **opts)
        assert dropped.height == table.get_column("dropped_off")[k - 1]
        nxt = funnels.next_events_after_drop(events, steps, step=k, top=50, **opts)
        assert nxt.get_column("users").sum() == dropped.height


def test_shuffled_rows_give_the_same_extras():
    rng = random.Random(3)
    rows = [
        {
            "user_id": f"u{rng.randint(0, 20)}",
            "event": rng.choice(["a", "b", "c", "x"]),
            "timestamp": BASE + dt.timedelta(minutes=rng.randint(0, 3000)),
            "p": rng.choice(["x", "y"]),
        }
        for _ in range(400)
    ]
    events = frame(rows)
    shuffled = events.sample(fraction=1.0, shuffle=True, seed=1)
    steps = ["a", "b", "c"]
    for fn, extra in [
        (funnels.funnel_trends, {}),
        (funnels.time_to_convert, {}),
        (funnels.dropped_users, {"step": 2}),
        (funnels.next_events_after_drop, {"step": 2}),
    ]:
        assert_frame_equal(
            fn(events, steps, breakdown="p", window=3 * H, **extra),
            fn(shuffled, steps, breakdown="p", window=3 * H, **extra),
        )
