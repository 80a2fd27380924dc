"""A small seeded product log (about 40k events) and one call of every pushed-down function."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl

from metrics import engagement, experiments, funnels, retention

EVENTS = ("app_open", "view_item", "add_to_cart", "purchase", "search")


def product_log(users: int = 2_000, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(events, assignments): ~20 events per user over 8 weeks from 2026-03-02, an experiment."""
    rng = np.random.default_rng(seed)
    n = users * 20
    user = rng.integers(0, users, n)
    start = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    seconds = rng.integers(0, 56 * 86_400, n)
    kind = rng.choice(len(EVENTS), n, p=[0.4, 0.3, 0.12, 0.06, 0.12])
    events = pl.DataFrame(
        {
            "user_id": [f"user-{u}" for u in user],
            "event": [EVENTS[k] for k in kind],
            "timestamp": [start + dt.timedelta(seconds=int(s)) for s in seconds],
            "platform": rng.choice(["ios", "android", "web"], n).tolist(),
            "revenue": np.where(kind == 3, rng.gamma(2.0, 20.0, n).round(2), None).tolist(),
        },
        schema_overrides={"timestamp": pl.Datetime("us", "UTC"), "revenue": pl.Float64},
    )
    assigned = rng.permutation(users)[: users // 2]
    assignments = pl.DataFrame(
        {
            "user_id": [f"user-{u}" for u in assigned],
            "experiment": ["checkout"] * len(assigned),
            "variant": rng.choice(["control", "treatment"], len(assigned)).tolist(),
            "timestamp": [
                start + dt.timedelta(days=int(d)) for d in rng.integers(0, 20, len(assigned))
            ],
        },
        schema_overrides={"timestamp": pl.Datetime("us", "UTC")},
    )
    return events, assignments


RANGE = {"start": "2026-03-02", "end": "2026-04-26"}
STEPS = ["app_open", "view_item", "add_to_cart", "purchase"]

#: (name, function, extra positional arguments after the events, keyword arguments)
CALLS: list[tuple[str, Any, tuple[Any, ...], dict[str, Any]]] = [
    (
        "active_users",
        engagement.active_users,
        (),
        {**RANGE, "interval": "week", "breakdown": "platform"},
    ),
    ("wau", engagement.active_users, (), {**RANGE, "window_days": 7}),
    ("rolling_active_users", engagement.rolling_active_users, (), RANGE),
    ("dau_mau", engagement.dau_mau, (), RANGE),
    ("stickiness", engagement.stickiness, (), {**RANGE, "interval": "week"}),
    ("lifecycle", engagement.lifecycle, (), {**RANGE, "interval": "week"}),
    ("revenue", engagement.revenue, (), {**RANGE, "interval": "week"}),
    ("retention", retention.retention, (), {**RANGE, "interval": "week"}),
    (
        "retention_rolling",
        retention.retention,
        (),
        {**RANGE, "interval": "day", "periods": "rolling"},
    ),
    ("revenue_retention", retention.revenue_retention, (), {**RANGE, "interval": "week"}),
    ("funnel", funnels.funnel, (STEPS,), {"window": dt.timedelta(days=7)}),
    (
        "funnel_by_platform",
        funnels.funnel,
        (STEPS,),
        {"window": dt.timedelta(days=7), "breakdown": "platform"},
    ),
    (
        "funnel_trends",
        funnels.funnel_trends,
        (STEPS,),
        {"window": dt.timedelta(days=7), "interval": "week"},
    ),
    ("time_to_convert", funnels.time_to_convert, (STEPS,), {"window": dt.timedelta(days=7)}),
]


def analyze_call(events: Any, assignments: Any) -> pl.DataFrame:
    return experiments.analyze(
        events,
        assignments,
        experiment="checkout",
        metrics=[experiments.Conversion("purchase"), experiments.Sum("purchase", "revenue")],
    )
