"""metrics._funnel_kernels: the compiled passes behind metrics.funnels' attempt matching.

The rules themselves are checked in test_funnels.py (stories, PostHog's cases, and hypothesis
against tests/reference/funnels.py); here, what the fast path adds: the grouping of rows by user,
its fallback when two ids share a hash, and attempts of one user whose breakdown values alternate.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal

from metrics import _funnel_kernels as kernels
from metrics.funnels import funnel, preparation

STEPS = ["app_open", "view_item", "add_to_cart", "purchase"]


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


def test_rows_come_grouped_by_user_then_by_time_stably():
    h = np.array([5, 3, 5, 3, 5], dtype=np.uint64)
    ts = np.array([30, 20, 10, 20, 10], dtype=np.int64)
    order, new_user, collided = kernels.group_sort(h, h.copy(), ts)
    # User 5 first (seen first): rows 2 and 4 at 10 in the order read, then row 0 at 30; user 3.
    assert order.tolist() == [2, 4, 0, 1, 3]
    assert new_user.tolist() == [True, False, False, True, False]
    assert not collided


def test_a_long_history_is_sorted_too():
    rng = np.random.default_rng(0)
    ts = rng.integers(0, 50, size=500)
    h = np.zeros(500, dtype=np.uint64)
    order, _, _ = kernels.group_sort(h, h.copy(), ts)
    assert order.tolist() == np.argsort(ts, kind="stable").tolist()


def test_two_ids_sharing_a_hash_are_noticed():
    h = np.array([7, 7, 7], dtype=np.uint64)
    h2 = np.array([1, 1, 2], dtype=np.uint64)
    assert kernels.group_sort(h, h2, np.array([1, 2, 3], dtype=np.int64))[2]


def test_users_and_instants_are_laid_out_per_row():
    new_user = np.array([True, False, False, True, False, True])
    ts = np.array([1, 1, 2, 5, 5, 5], dtype=np.int64)
    user, user_end, tie_start, tie_end = kernels.layout(new_user, ts)
    assert user.tolist() == [0, 0, 0, 1, 1, 2]
    assert user_end.tolist() == [3, 3, 3, 5, 5, 6]
    # Equal times of different users are different instants.
    assert tie_start.tolist() == [0, 0, 2, 3, 3, 5]
    assert tie_end.tolist() == [2, 2, 3, 5, 5, 6]


def test_users_start_again_among_the_kept_rows():
    new_user = np.array([True, False, True, False, True])
    keep = np.array([False, True, False, False, True])
    # The second user keeps nothing; the first starts at its second row.
    assert kernels.kept_starts(new_user, keep).tolist() == [True, True]


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


def test_a_shared_hash_falls_back_to_sorting_the_ids(monkeypatch):
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
        for order in ("ordered", "strict", "unordered")
    }
    monkeypatch.setattr(preparation, "shared_hash", lambda collided: True)
    for order, table in expected.items():
        again = funnel(log, STEPS, window=dt.timedelta(days=7), order=order, breakdown="platform")
        assert_frame_equal(again, table)


def test_rows_outside_every_attempt_change_nothing_whether_dropped_or_not(monkeypatch):
    # Dana's Monday before her first app_open and a month after her last one; Eve never opens it.
    extra = pl.DataFrame(
        {
            "user_id": ["dana", "dana", "dana", "eve"],
            "event": ["purchase", "view_item", "add_to_cart", "view_item"],
            "timestamp": [_at(1, 8), _at(2, 8), _at(31, 9), _at(3, 9)],
            "platform": ["web"] * 4,
        }
    ).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))
    log = pl.concat([_dana(), extra])
    tables = {}
    for share in (0.0, 1.01):  # never drop them, always drop them
        monkeypatch.setattr(preparation, "NARROW_BELOW", share)
        tables[share] = [
            funnel(log, STEPS, window=dt.timedelta(days=7), order=order, breakdown="platform")
            for order in ("ordered", "strict")
        ]
    for dropped, kept in zip(tables[1.01], tables[0.0], strict=True):
        assert_frame_equal(dropped, kept)
