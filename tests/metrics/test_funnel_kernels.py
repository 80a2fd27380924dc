"""The fast path behind metrics.funnels (the compiled passes of metrics/_funnel_kernels.py), told
through the public ``funnel``: rows read in any order and long histories, ids that share a hash,
equal times of different users, rows outside every attempt, attempts of one user whose
breakdown values alternate, and the work split across cores.

The rules themselves are checked in test_funnels.py (stories, PostHog's cases, and hypothesis
against tests/reference/funnels.py).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal

from metrics.funnels import Exclusion, funnel, funnel_trends, funnel_users, parts
from tests.conftest import make_events

STEPS = ["app_open", "view_item", "add_to_cart", "purchase"]
ORDERS = ("ordered", "strict", "unordered")


def _at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=dt.UTC)  # 2026-03-02 is a Monday


def _dana() -> pl.DataFrame:
    """Dana opens the app on the web Monday and views an item; opens it on iOS Tuesday, views an
    item and adds it to the cart; opens it on the web Wednesday and buys before viewing anything."""
    rows = [
        ("app_open", _at(2, 9), "web"),
        ("view_item", _at(2, 9, 5), "web"),
        ("app_open", _at(3, 10), "ios"),
        ("view_item", _at(3, 10, 1), "ios"),
        ("add_to_cart", _at(3, 10, 2), "ios"),
        ("app_open", _at(4, 8), "web"),
        ("purchase", _at(4, 8, 30), "web"),
    ]
    return pl.DataFrame(
        {
            "user_id": ["dana"] * len(rows),
            "event": [r[0] for r in rows],
            "timestamp": [r[1] for r in rows],
            "platform": [r[2] for r in rows],
        }
    ).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))


def test_a_long_history_read_backwards_is_put_in_time_order():
    # One user with 40 events, a minute apart, read newest first: more than the few rows a user
    # usually has, so the rows are sorted as a long history. The best attempt starts at minute 0.
    t0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
    rows = [("kim", "a" if i % 2 == 0 else "b", t0 + dt.timedelta(minutes=i)) for i in range(40)]
    log = pl.DataFrame(
        rows[::-1], schema=["user_id", "event", "timestamp"], orient="row"
    ).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))
    got = funnel(log, ["a", "b", "a", "b"], window=dt.timedelta(hours=1))
    assert got["users"].to_list() == [1, 1, 1, 1]
    assert got["median_seconds_to_convert"].to_list() == [None, 60.0, 60.0, 60.0]


def test_ids_that_share_a_hash_are_told_apart(monkeypatch):
    # Users are grouped by a 64-bit hash of their id (polars' hash with seed 0), with a second
    # hash to notice two ids that share the first. Make the first hash the same for every id:
    # grouped by it, dana and eve would be one user; they are noticed and sorted by their ids.
    log = pl.concat(
        [
            _dana(),
            _dana().with_columns(
                pl.lit("eve").alias("user_id"), pl.col("timestamp") + dt.timedelta(hours=1)
            ),
        ]
    ).sample(fraction=1.0, shuffle=True, seed=3)
    expected = {
        order: funnel(log, STEPS, window=dt.timedelta(days=7), order=order, breakdown="platform")
        for order in ORDERS
    }
    real_hash = pl.Expr.hash
    seeds = []

    def one_hash_for_everyone(self, seed=0, *args, **kwargs):
        seeds.append(seed)
        if seed == 0:
            return pl.repeat(7, pl.len(), dtype=pl.UInt64)
        return real_hash(self, seed, *args, **kwargs)

    monkeypatch.setattr(pl.Expr, "hash", one_hash_for_everyone)
    for order, table in expected.items():
        again = funnel(log, STEPS, window=dt.timedelta(days=7), order=order, breakdown="platform")
        assert_frame_equal(again, table)
    assert 0 in seeds  # the grouping hash was the one replaced


def test_equal_times_of_different_users_are_different_instants():
    # ann's purchase and bob's app_open are logged in the same second. Equal times count within
    # one user only: bob's open does not make ann's purchase his.
    events = make_events(
        ("ann", "app_open", "2026-03-02 10:00"),
        ("ann", "purchase", "2026-03-02 10:01"),
        ("bob", "app_open", "2026-03-02 10:01"),
        ("cy", "noise", "2026-03-20 00:00"),  # the data run on: every window is closed
    )
    for order in ORDERS:
        got = funnel(events, ["app_open", "purchase"], order=order)
        assert got["users"].to_list() == [2, 1], order


def test_rows_outside_every_attempt_change_nothing():
    # Dana's Monday before her first app_open and a month after her last one; Eve never opens it.
    # Only 7 of the 11 rows lie in an attempt: the fast path drops the rest before matching, and
    # each user starts again among the rows it keeps (Eve keeps none, Dana starts at her third).
    extra = pl.DataFrame(
        {
            "user_id": ["dana", "dana", "dana", "eve"],
            "event": ["purchase", "view_item", "add_to_cart", "view_item"],
            "timestamp": [_at(1, 8), _at(2, 8), _at(31, 9), _at(3, 9)],
            "platform": ["web"] * 4,
        }
    ).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))
    log = pl.concat([_dana(), extra])
    # The same data without those rows, ending on the same day (7 of 8 rows in an attempt: all
    # are matched).
    zoe = pl.DataFrame(
        {"user_id": ["zoe"], "event": ["noise"], "timestamp": [_at(31, 9)], "platform": ["web"]}
    ).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))
    plain = pl.concat([_dana(), zoe])
    for order in ("ordered", "strict"):
        options = {"window": dt.timedelta(days=7), "order": order, "breakdown": "platform"}
        assert_frame_equal(funnel(log, STEPS, **options), funnel(plain, STEPS, **options))


def test_each_platform_counts_its_own_best_attempt():
    table = funnel(_dana(), STEPS, window=dt.timedelta(days=7), breakdown="platform")
    # Monday's web attempt reaches the purchase through Tuesday's cart (any events in between
    # count); Tuesday's iOS attempt too; Wednesday's web attempt sees no item view after it.
    expected = pl.DataFrame(
        {
            "platform": ["ios"] * 4 + ["web"] * 4,
            "step": [1, 2, 3, 4] * 2,
            "users": [1] * 8,
            # From the previous step: iOS 1 min, 1 min, then Tue 10:02 -> Wed 08:30; web 5 min,
            # Mon 09:05 -> Tue 10:02, Tue 10:02 -> Wed 08:30.
            "median_seconds_to_convert": [None, 60.0, 60.0, 80880.0, None, 300.0, 89820.0, 80880.0],
        }
    )
    got = table.select(expected.columns).sort("platform", "step")
    assert_frame_equal(got, expected, check_dtypes=False)


def _busy_log(seed: int) -> pl.DataFrame:
    """300 users, each a few dozen events over two weeks at whole minutes (so some instants hold
    two events), on two platforms, read in random order."""
    rng = np.random.default_rng(seed)
    n = 9_000
    names = [*STEPS, "refund", "noise"]
    minutes = rng.integers(0, 14 * 24 * 60, n)
    return pl.DataFrame(
        {
            "user_id": [f"u{u:03d}" for u in rng.integers(0, 300, n)],
            "event": [
                names[k] for k in rng.choice(len(names), n, p=[0.3, 0.25, 0.15, 0.1, 0.05, 0.15])
            ],
            "timestamp": [_at(2, 0) + dt.timedelta(minutes=int(m)) for m in minutes],
            "platform": rng.choice(["web", "ios"], n).tolist(),
        }
    ).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))


def test_the_work_split_across_cores_gives_the_same_answers(monkeypatch):
    # Each part of the work holds whole users and is walked in its own thread; three parts here
    # (whatever the machine's cores) must answer exactly as one does.
    log = _busy_log(7)
    refund = Exclusion("refund", from_step=1, to_step=3)
    cases = [
        {"order": order, "breakdown": breakdown, "exclusions": exclusions}
        for order in ORDERS
        for breakdown in (None, "platform")
        for exclusions in ((), (refund,))
    ]

    def answers() -> list[pl.DataFrame]:
        frames = []
        for options in cases:
            frames.append(funnel(log, STEPS, window=dt.timedelta(days=2), **options))
            users = funnel_users(log, STEPS, window=dt.timedelta(days=2), **options)
            frames.append(users.sort(pl.all()))
        frames.append(funnel_trends(log, STEPS, window=dt.timedelta(days=2), interval="day"))
        return frames

    monkeypatch.setattr(parts, "how_many", lambda rows: 1)
    whole = answers()
    monkeypatch.setattr(parts, "how_many", lambda rows: 3)
    split = answers()
    for one, three in zip(whole, split, strict=True):
        assert_frame_equal(one, three)
    assert whole[0]["users"][0] > 100  # the log is busy enough to fill every part
