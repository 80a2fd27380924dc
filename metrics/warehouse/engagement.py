"""Engagement compiled to SQL: the same :class:`EngagementQuery` as the Polars path, run in the engine.

The engine reduces the events to the answer's rows (one per period and breakdown value); the
finishing steps that need no events (the period grid, zeros, partial periods) are the Polars
path's own functions, so both back ends share them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from metrics.warehouse.parts import (
    day_of,
    event_condition,
    filter_condition,
    instant_us,
    local_us,
    period_of_day,
    source,
)
from metrics.warehouse.relation import Plan, Relation, Sql


def matching_days(
    sql: Sql,
    query: Any,
    first_day: dt.date | None,
    last_day: dt.date,
    columns: Sequence[str],
    *,
    use_event: bool = True,
    use_filters: bool = True,
) -> str:
    """SELECT user_id, day (local day number) and ``columns`` of the counted events.

    The twin of ``metrics.engagement._matching``: the same UTC bounds, event and filters.
    """
    q = sql.q
    d = sql.d
    zone = ZoneInfo(query.tz)
    upper = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), zone)
    conditions = [f"{q('ts_us')} < {sql.value(instant_us(upper))}"]
    if first_day is not None:
        lower = dt.datetime.combine(first_day, dt.time(), zone)
        conditions.append(f"{q('ts_us')} >= {sql.value(instant_us(lower))}")
    if use_event and query.event is not None:
        conditions.append(event_condition(sql, query.event))
    if use_filters and query.filters:
        conditions.append(filter_condition(sql, query.filters))
    day = day_of(d, local_us(d, q("ts_us"), query.tz))
    extra = "".join(f", {q(c)}" for c in columns)
    return (
        f"SELECT {q('user_id')}, {day} AS day{extra} FROM {source(sql)} AS e "
        f"WHERE {' AND '.join(conditions)}"
    )


def active_users_plan(relation: Relation, query: Any, keys: list[str], finish: Any) -> Plan:
    """Distinct users per period (and breakdown value) inside the range."""
    sql = Sql(relation)
    relation.require([c for c, _ in query.filters], "filters")
    relation.require(keys, "breakdown")
    q = sql.q
    rows = matching_days(sql, query, query.start, query.end, keys)
    period = period_of_day(sql.d, "day", query.interval, query.week_start)
    key_list = "".join(f", {q(k)}" for k in keys)
    text = (
        f"SELECT {period} AS period{key_list}, "
        f"{sql.d.to_bigint(sql.d.count_distinct(q('user_id')))} AS active_users "
        f"FROM ({rows}) AS m GROUP BY {period}{key_list}"
    )
    return Plan((sql.statement(text),), lambda frames: finish(_counts(frames[0], keys)))


def _counts(frame: pl.DataFrame, keys: list[str]) -> pl.LazyFrame:
    return frame.lazy().with_columns(
        pl.col("period").cast(pl.Int32), pl.col("active_users").cast(pl.Int64)
    )
