"""Funnels computed inside each engine: stories on relations, compared with the Polars answer.

Each story runs on every engine of ``tests/warehouse/engines.py`` (``on_engine``) and must give
the very frame the Polars path gives for the same events, plus the numbers the story states.
The compile-only dialects are checked by parsing every function's statement with sqlglot.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import polars as pl
import pytest
import sqlglot
from polars.testing import assert_frame_equal

import metrics
from connectors.warehouse import warehouse
from metrics import funnels
from metrics.funnels import Exclusion, FunnelQuery, Step
from metrics.warehouse import DIALECTS
from tests.conftest import make_events

H = dt.timedelta(hours=1)
BASE = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


def same_on_engine(on_engine: Any, function: Any, events: pl.DataFrame, *a: Any, **kw: Any):
    """The Polars answer, after checking that the engine gives exactly the same frame."""
    expected = function(events, *a, **kw)
    got = function(on_engine(events), *a, **kw)
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-9, abs_tol=1e-12)
    return expected


def app_log(users: int = 12, per_user: int = 40, seed: int = 7) -> pl.DataFrame:
    """A product whose users open the app all the time: many step-1 events (attempts) per user,
    a few views, carts and payments, on few distinct instants (ties are common)."""
    rng = random.Random(seed)
    rows = []
    for u in range(users):
        for _ in range(per_user):
            rows.append(
                {
                    "user_id": f"user{u:02d}",
                    "event": rng.choices(
                        ["app_open", "view", "cart", "pay", "help"], [8, 4, 2, 1, 1]
                    )[0],
                    "timestamp": BASE + rng.randint(0, 300) * dt.timedelta(minutes=20),
                    "platform": rng.choice(["ios", "web", None]),
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "user_id": pl.String,
            "event": pl.String,
            "timestamp": pl.Datetime("us", "UTC"),
            "platform": pl.String,
        },
    )


APP = app_log()
APP_STEPS = ["app_open", "view", "cart", "pay"]


@pytest.mark.parametrize("order", funnels.ORDERS)
def test_a_frequent_first_step_with_many_attempts_per_user(on_engine, order):
    got = same_on_engine(on_engine, funnels.funnel, APP, APP_STEPS, order=order, window=6 * H)
    users = got["users"].to_list()
    assert users[0] == 12 and users == sorted(users, reverse=True)
    same_on_engine(on_engine, funnels.funnel_users, APP, APP_STEPS, order=order, window=6 * H)


def test_the_extras_on_a_frequent_first_step(on_engine):
    options: dict[str, Any] = {"window": 6 * H, "breakdown": "platform"}
    same_on_engine(on_engine, funnels.funnel_trends, APP, APP_STEPS, interval="day", **options)
    same_on_engine(on_engine, funnels.time_to_convert, APP, APP_STEPS, bins=5, **options)
    same_on_engine(on_engine, funnels.time_to_convert, APP, APP_STEPS, from_step=2, window=6 * H)
    for step in (2, 4):
        same_on_engine(on_engine, funnels.dropped_users, APP, APP_STEPS, step=step, **options)
    same_on_engine(
        on_engine,
        funnels.next_events_after_drop,
        APP,
        APP_STEPS,
        step=3,
        top=3,
        ignore=["app_open"],
        **options,
    )


def test_a_global_filter_drops_events_before_any_step_on_every_order(on_engine):
    # The sidebar's filter, carried by the query: web events and events without a platform.
    for order in funnels.ORDERS:
        query = FunnelQuery.build(
            APP_STEPS, order=order, window=6 * H, filters={"platform": ["web", "(not set)"]}
        )
        same_on_engine(on_engine, funnels.funnel_of, APP, query)


def test_a_global_filter_in_the_extras(on_engine):
    query = FunnelQuery.build(
        APP_STEPS, window=6 * H, breakdown="platform", filters={"platform": "ios"}
    )
    same_on_engine(on_engine, funnels.funnel_trends_of, APP, query, interval="day")
    same_on_engine(on_engine, funnels.time_to_convert_of, APP, query, bins=5)
    same_on_engine(on_engine, funnels.dropped_users_of, APP, query, step=2)
    same_on_engine(
        on_engine, funnels.next_events_after_drop_of, APP, query, step=3, ignore=["app_open"]
    )


def test_exclusions_spoil_attempts_and_a_user_with_only_spoiled_attempts_leaves(on_engine):
    events = make_events(
        ("alice", "signup", "2026-01-05 10:00"),
        ("alice", "cancel", "2026-01-05 10:30"),  # spoils the 10:00 attempt
        ("alice", "pay", "2026-01-05 11:00"),
        ("alice", "signup", "2026-01-06 10:00"),  # a clean attempt the next day
        ("alice", "pay", "2026-01-06 10:20"),
        ("bob", "signup", "2026-01-05 10:00"),
        ("bob", "cancel", "2026-01-05 10:30"),
        ("bob", "pay", "2026-01-05 11:00"),  # bob's only attempt is spoiled
        ("carol", "signup", "2026-01-05 10:00"),
        ("carol", "cancel", "2026-01-05 10:00"),  # the same instant as step 1: not after it
        ("carol", "pay", "2026-01-05 12:00"),
        ("zz", "noise", "2026-02-28 00:00"),
    )
    for order in funnels.ORDERS:
        got = same_on_engine(
            on_engine,
            funnels.funnel,
            events,
            ["signup", "pay"],
            order=order,
            exclusions=[Exclusion("cancel")],
        )
        if order != "unordered":
            assert got["users"].to_list() == [2, 2]
            assert got["median_seconds_to_convert"][1] == (1200.0 + 7200.0) / 2


def test_first_touch_breakdown_counts_a_user_once_per_value(on_engine):
    events = make_events(
        ("alice", "signup", "2026-01-05 10:00", {"platform": "web"}),
        ("alice", "pay", "2026-01-05 11:00", {"platform": "ios"}),  # the attempt stays "web"
        ("alice", "signup", "2026-01-08 10:00", {"platform": "ios"}),  # a second attempt
        ("bob", "signup", "2026-01-05 10:00", {"platform": "ios"}),
        ("bob", "pay", "2026-01-05 10:30", {"platform": "ios"}),
        ("carol", "signup", "2026-01-05 10:00"),  # no platform: its own series
        ("zz", "noise", "2026-02-28 00:00"),
    )
    got = same_on_engine(on_engine, funnels.funnel, events, ["signup", "pay"], breakdown="platform")
    assert got.select("platform", "users").rows() == [
        ("ios", 2),
        ("ios", 1),
        ("web", 1),
        ("web", 1),
        (None, 1),
        (None, 0),
    ]


def test_overlapping_steps_and_ties_on_every_order(on_engine):
    # Step definitions that share events (an any-event step, a filtered and an unfiltered
    # "view"), several events at one instant: Hall's condition decides what fits where.
    events = make_events(
        ("a", "view", "2026-01-05 10:00", {"plan": "pro"}),
        ("a", "view", "2026-01-05 10:00", {"plan": "free"}),
        ("a", "view", "2026-01-05 10:00"),
        ("a", "pay", "2026-01-05 10:05"),
        ("b", "view", "2026-01-05 10:00", {"plan": "pro"}),
        ("b", "help", "2026-01-05 10:01"),
        ("b", "view", "2026-01-05 10:02", {"plan": "pro"}),
        ("zz", "noise", "2026-02-28 00:00"),
    )
    steps = [Step("view", {"plan": "pro"}), Step("view"), Step(None), "pay"]
    for order in funnels.ORDERS:
        same_on_engine(on_engine, funnels.funnel_users, events, steps, order=order)
        same_on_engine(on_engine, funnels.funnel, events, steps, order=order)


CALLS: list[tuple[Any, dict[str, Any]]] = [
    (funnels.funnel, {}),
    (funnels.funnel_users, {}),
    (funnels.funnel_trends, {"interval": "week"}),
    (funnels.time_to_convert, {}),
    (funnels.dropped_users, {"step": 2}),
    (funnels.next_events_after_drop, {"step": 2, "ignore": ["help"]}),
]


def test_only_the_answers_rows_come_back(on_engine):
    # 480 events, 12 users: the engine returns one row per step, and per breakdown value.
    rel = on_engine(APP)
    for order in funnels.ORDERS:
        plan = funnels.funnel.__planner__(rel, APP_STEPS, order=order)  # type: ignore[attr-defined]
        (statement,) = plan.statements
        text, params = statement.render(rel.dialect, inline=False)
        assert rel.engine is not None
        assert rel.engine.run(text, params).height == len(APP_STEPS)
    plan = funnels.funnel.__planner__(rel, APP_STEPS, breakdown="platform")  # type: ignore[attr-defined]
    text, params = plan.statements[0].render(rel.dialect, inline=False)
    assert rel.engine.run(text, params).height == 3 * len(APP_STEPS)


STEP_LISTS = {
    # Step classes that cannot share an event (unordered: candidates by ordinal).
    "distinct": ["signup", Step("view", {"plan": "pro"}), Step("view", {"plan": "team"}), "signup"],
    # Classes that can (an any-event step, overlapping filters): Hall's condition in SQL.
    "overlapping": ["signup", Step("view", {"plan": ["pro", "team"]}), Step(None), "pay"],
}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("order", funnels.ORDERS)
@pytest.mark.parametrize("steps", STEP_LISTS.values(), ids=list(STEP_LISTS))
def test_every_function_compiles_in_every_dialect(dialect, order, steps):
    # A compile-only relation knows the properties its mapping names.
    properties = {"plan": "plan", "platform": "platform"}
    rel = warehouse(None, table="events", dialect=dialect, mapping=properties)
    options = {
        "order": order,
        "exclusions": [Exclusion("cancel", 0, 1)],
        "breakdown": "platform",
        "start": "2026-01-01",
        "end": "2026-01-31",
        "tz": "UTC" if dialect in ("sqlite", "mysql") else "Europe/Paris",
    }
    for function, extra in CALLS:
        for statement in metrics.sql(function, rel, steps, **options, **extra):
            sqlglot.parse_one(statement, read=dialect)


QUERY_CALLS: list[tuple[Any, dict[str, Any]]] = [
    (funnels.funnel_of, {}),
    (funnels.funnel_users_of, {}),
    (funnels.funnel_trends_of, {"interval": "month"}),
    (funnels.time_to_convert_of, {"bins": 4}),
    (funnels.dropped_users_of, {"step": 2}),
    (funnels.next_events_after_drop_of, {"step": 2, "ignore": ["help"]}),
]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_query_functions_compile_with_global_filters_in_every_dialect(dialect):
    properties = {"plan": "plan", "platform": "platform"}
    rel = warehouse(None, table="events", dialect=dialect, mapping=properties)
    query = FunnelQuery.build(
        STEP_LISTS["overlapping"],
        exclusions=[Exclusion("cancel", 0, 1)],
        breakdown="platform",
        start="2026-01-01",
        end="2026-01-31",
        filters={"platform": ["web", "(not set)"], "plan": "pro"},
    )
    for function, extra in QUERY_CALLS:
        for statement in metrics.sql(function, rel, query, **extra):
            sqlglot.parse_one(statement, read=dialect)
