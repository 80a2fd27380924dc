"""Engagement compiled to SQL: the Polars path's own :class:`EngagementQuery`, run in the engine.

The engine reduces the events to the answer's rows (one per period and breakdown value); the
finishing steps that need no events (the period grid, zeros, partial periods) are the Polars
path's own functions, so both back ends share them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
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

if TYPE_CHECKING:  # metrics.engagement imports this module to plan its queries
    from metrics.engagement.query import EngagementQuery

Finish = Callable[[pl.LazyFrame], Any]


def matching_days(
    sql: Sql,
    query: EngagementQuery,
    first_day: dt.date | None,
    last_day: dt.date,
    columns: Sequence[str],
    *,
    use_event: bool = True,
    use_filters: bool = True,
) -> str:
    """SELECT user_id, day (local day number) and ``columns`` of the counted events.

    The twin of ``metrics.engagement.query.matching``: the same UTC bounds, event and the scope's
    filters (``use_filters=False``: every event, as lifecycle's ``first_seen`` reads it).
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
    if use_filters and query.scope.filters:
        conditions.append(filter_condition(sql, query.scope.filters))
    day = day_of(d, local_us(d, q("ts_us"), query.tz))
    extra = "".join(f", {q(c)}" for c in columns)
    return (
        f"SELECT {q('user_id')}, {day} AS day{extra} FROM {source(sql)} AS e "
        f"WHERE {' AND '.join(conditions)}"
    )


def active_users_plan(
    relation: Relation, query: EngagementQuery, keys: list[str], finish: Finish
) -> Plan:
    """Distinct users per period (and breakdown value) inside the range."""
    sql = Sql(relation)
    relation.require([c for c, _ in query.scope.filters], "filters")
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


def stickiness_plan(
    relation: Relation, query: EngagementQuery, origin: int, interval_count: int, finish: Finish
) -> Plan:
    """Users per number of intervals they were active in (the histogram; the grid is Polars')."""
    sql = Sql(relation)
    relation.require([c for c, _ in query.scope.filters], "filters")
    d, q = sql.d, sql.q
    rows = matching_days(sql, query, query.start, query.end, [])
    offset = f"{period_of_day(d, 'day', query.interval, query.week_start)} - {int(origin)}"
    bucket = offset if interval_count == 1 else d.idiv(offset, int(interval_count))
    buckets = f"SELECT {q('user_id')}, {bucket} AS bucket FROM ({rows}) AS m"
    per_user = (
        f"SELECT {q('user_id')}, {d.count_distinct('bucket')} AS active_intervals "
        f"FROM ({buckets}) AS b GROUP BY {q('user_id')}"
    )
    text = (
        f"SELECT {d.to_bigint('active_intervals')} AS intervals_active, "
        f"{d.to_bigint(d.count())} AS users FROM ({per_user}) AS u GROUP BY active_intervals"
    )

    def done(frames: list[pl.DataFrame]) -> Any:
        return finish(
            frames[0]
            .lazy()
            .with_columns(pl.col("intervals_active").cast(pl.Int64), pl.col("users").cast(pl.Int64))
        )

    return Plan((sql.statement(text),), done)


def revenue_plan(
    relation: Relation, query: EngagementQuery, keys: list[str], finish: Finish
) -> Plan:
    """Money, paying users and active users per period (and breakdown value) inside the range.

    Amounts are summed as DOUBLE, as the Polars path sums Float64; without a ``revenue`` column
    every amount is zero.
    """
    sql = Sql(relation)
    relation.require([c for c, _ in query.scope.filters], "filters")
    relation.require(keys, "breakdown")
    d, q = sql.d, sql.q
    has_revenue = relation.has("revenue")
    rows = matching_days(
        sql, query, query.start, query.end, [*keys, *(["revenue"] if has_revenue else [])]
    )
    period = period_of_day(d, "day", query.interval, query.week_start)
    key_list = "".join(f", {q(k)}" for k in keys)
    amount = d.to_double(q("revenue")) if has_revenue else "0"
    amounts = (
        f"SELECT {period} AS period{key_list}, {q('user_id')}, {amount} AS amount "
        f"FROM ({rows}) AS m"
    )
    if has_revenue:
        total = d.to_double("SUM(amount)")
        paying = d.count_distinct(f"CASE WHEN amount > 0 THEN {q('user_id')} END")
    else:
        total, paying = d.to_double("0"), "0"
    text = (
        f"SELECT period{key_list}, {total} AS revenue, {d.to_bigint(paying)} AS paying_users, "
        f"{d.to_bigint(d.count_distinct(q('user_id')))} AS active_users "
        f"FROM ({amounts}) AS a GROUP BY period{key_list}"
    )

    def done(frames: list[pl.DataFrame]) -> Any:
        totals = (
            frames[0]
            .lazy()
            .with_columns(
                pl.col("period").cast(pl.Int32),
                pl.col("revenue").cast(pl.Float64),
                pl.col("paying_users").cast(pl.Int64),
                pl.col("active_users").cast(pl.Int64),
            )
        )
        return finish(totals)

    return Plan((sql.statement(text),), done)
