"""Slow, obviously-correct experiment aggregation in plain Python, to check metrics.experiments.

Users, events and windows are walked with dicts and loops; nothing is shared with the Polars code
except the meaning (docs/experiments.md). Inputs are lists of row dicts (``frame.to_dicts()``). The
statistics themselves come from :func:`metrics.experiments.compare` on :meth:`Stats.from_values`
(they are checked on their own against gbstats' cases and scipy/statsmodels).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import numpy as np

Row = dict[str, Any]


def assigned_users(assignments: list[Row], experiment: str, end: dt.datetime | None = None):
    """user -> (variant, first exposure), and the set of users seen in several variants."""
    variants: dict[str, set[str]] = defaultdict(set)
    first: dict[str, tuple[dt.datetime, str]] = {}
    for row in assignments:
        if row["experiment"] != experiment:
            continue
        if end is not None and row["timestamp"] > end:
            continue
        user = row["user_id"]
        variants[user].add(row["variant"])
        if user not in first or row["timestamp"] < first[user][0]:
            first[user] = (row["timestamp"], row["variant"])
    several = {u for u, vs in variants.items() if len(vs) > 1}
    clean = {u: (v, ts) for u, (ts, v) in first.items() if u not in several}
    return clean, several


def matches(row: Row, part: Any) -> bool:
    """Does this event count for the metric component (its event name and property filters)?"""
    if row["event"] != part.event:
        return False
    for column, wanted in (part.filters or {}).items():
        value = row.get(column)
        if isinstance(wanted, list | tuple | set):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


def component_value(
    events: list[Row],
    user: str,
    exposure: dt.datetime,
    part: Any,
    *,
    pre: bool,
    window: dt.timedelta | None,
    pre_period: dt.timedelta,
    end: dt.datetime | None,
) -> float:
    """One user's conversion (0/1), count or sum of a column after (or before) exposure."""
    total, hit = 0.0, False
    for row in events:
        if row["user_id"] != user or not matches(row, part):
            continue
        when = row["timestamp"]
        if end is not None and when > end:
            continue
        if pre:
            inside = exposure - pre_period <= when < exposure
        else:
            inside = when >= exposure and (window is None or when <= exposure + window)
        if not inside:
            continue
        hit = True
        kind = type(part).__name__
        if kind == "Sum":
            total += row.get(part.column) or 0.0
        else:
            total += 1.0
    if type(part).__name__ == "Conversion":
        return 1.0 if hit else 0.0
    return total


def cap(
    values: list[float], percentile: float | None, of: list[float] | None = None
) -> list[float]:
    """Winsorize at the pooled percentile (linear interpolation, as numpy's default) of ``of``
    (the metric's values after exposure; the pre-period covariate takes the metric's cap)."""
    if percentile is None or not values:
        return values
    limit = float(np.percentile(values if of is None else of, percentile * 100))
    return [min(v, limit) for v in values]
