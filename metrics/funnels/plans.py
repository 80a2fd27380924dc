"""The funnel functions on a warehouse relation: the same query compiled to SQL, finished here.

Each public function has a planner with its own arguments (``@pushdown`` hands it the call when
``events`` is a :class:`~metrics.warehouse.Relation`). The keyword functions' planners build the
:class:`~metrics.funnels.query.FunnelQuery` and hand it to the query functions' planners, which
ask :mod:`metrics.warehouse.funnels` for the statement and finish the engine's rows with the
Polars path's own tables (:mod:`metrics.funnels.tables`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl

import metrics.funnels.tables as tables
from metrics._common import Interval, WeekStart
from metrics.funnels.query import (
    FunnelQuery,
    Step,
    drop_step_problems,
    histogram_problems,
    next_event_problems,
    raise_problems,
    steps_between,
    trend_problems,
)
from metrics.warehouse import Plan, Relation
from metrics.warehouse import funnels as sql_funnels
from metrics.warehouse.parts import WEEK_SHIFT

#: The keyword functions' funnel arguments (their other arguments are their own).
_FUNNEL_KEYWORDS = ("window", "order", "exclusions", "breakdown", "start", "end", "tz")


def _keyword_query(steps: Sequence[str | Step], options: Mapping[str, Any]) -> FunnelQuery:
    """The query a keyword function builds; an argument it does not take fails as on a frame."""
    for name in options:
        if name not in _FUNNEL_KEYWORDS:
            raise TypeError(f"got an unexpected keyword argument {name!r}")
    return FunnelQuery.build(steps, **options)


def _engine_rows(frame: pl.DataFrame, types: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """An engine's result with the breakdown as ``_bd`` and the Polars path's column types."""
    if "bd" in frame.columns:
        frame = frame.rename({"bd": "_bd"})
    return frame.with_columns(pl.col(c).cast(t) for c, t in types.items())


def funnel_of(events: Relation, query: FunnelQuery) -> Plan:
    keys = tables.key_columns(query)
    types = {
        "step": pl.Int64(),
        "users": pl.Int64(),
        "still_in_window": pl.Int64(),
        "median_seconds_to_convert": pl.Float64(),
        "mean_seconds_to_convert": pl.Float64(),
    }

    def finish(rows: pl.DataFrame) -> pl.DataFrame:
        table = tables.step_table(_engine_rows(rows, types), query, keys)
        return tables.rename_breakdown(table, query)

    return sql_funnels.steps_plan(events, query, finish)


def funnel(events: Relation, steps: Sequence[str | Step], **options: Any) -> Plan:
    return funnel_of(events, _keyword_query(steps, options))


def funnel_users_of(events: Relation, query: FunnelQuery) -> Plan:
    n = query.n_steps
    types: dict[str, pl.DataType] = {"user_id": pl.String(), "reached": pl.Int64()}
    types |= {f"s{j}": pl.Int64() for j in range(n)}

    def finish(rows: pl.DataFrame) -> pl.DataFrame:
        best = _engine_rows(rows, types).rename({f"s{j}": f"t_{j + 1}" for j in range(n)})
        best = best.with_columns((pl.col("isopen") == 1).alias("open"))
        return tables.users_table(best, query)

    return sql_funnels.users_plan(events, query, finish)


def funnel_users(events: Relation, steps: Sequence[str | Step], **options: Any) -> Plan:
    return funnel_users_of(events, _keyword_query(steps, options))


def dropped_users_of(events: Relation, query: FunnelQuery, *, step: int) -> Plan:
    raise_problems(drop_step_problems(query, step))
    types = {"user_id": pl.String(), "last_step_at": pl.Int64()}

    def finish(rows: pl.DataFrame) -> pl.DataFrame:
        return tables.dropped_table(_engine_rows(rows, types), query, step)

    return sql_funnels.dropped_plan(events, query, step, finish)


def dropped_users(
    events: Relation, steps: Sequence[str | Step], *, step: int, **options: Any
) -> Plan:
    return dropped_users_of(events, _keyword_query(steps, options), step=step)


def _period_day(number: int, interval: str, week_start: str) -> dt.date:
    """The first day of period ``number`` as ``metrics.warehouse.parts.period_of_day`` numbers
    them (days since 1970; weeks shifted to their first day; months as year * 12 + month - 1)."""
    if interval == "day":
        return dt.date(1970, 1, 1) + dt.timedelta(days=number)
    if interval == "week":
        return dt.date(1970, 1, 1) + dt.timedelta(days=number * 7 - WEEK_SHIFT[week_start])
    return dt.date(number // 12, number % 12 + 1, 1)


def funnel_trends_of(
    events: Relation,
    query: FunnelQuery,
    *,
    interval: Interval = "day",
    week_start: WeekStart = "monday",
    from_step: int = 1,
    to_step: int | None = None,
) -> Plan:
    raise_problems(trend_problems(query, interval, week_start, from_step, to_step))
    lo, hi = steps_between(query, from_step, to_step)
    types = {"entered": pl.Int64(), "converted": pl.Int64(), "still_in_window": pl.Int64()}

    def finish(rows: pl.DataFrame) -> pl.DataFrame:
        counts = _engine_rows(rows, types)
        days = [_period_day(int(p), interval, week_start) for p in counts.get_column("pnum")]
        counts = counts.with_columns(pl.Series("period_start", days, dtype=pl.Date())).drop("pnum")
        return tables.trend_table(counts, query, interval, week_start)

    return sql_funnels.trends_plan(events, query, interval, week_start, lo, hi, finish)


def funnel_trends(
    events: Relation,
    steps: Sequence[str | Step],
    *,
    interval: Interval = "day",
    week_start: WeekStart = "monday",
    from_step: int = 1,
    to_step: int | None = None,
    **options: Any,
) -> Plan:
    return funnel_trends_of(
        events,
        _keyword_query(steps, options),
        interval=interval,
        week_start=week_start,
        from_step=from_step,
        to_step=to_step,
    )


def time_to_convert_of(
    events: Relation,
    query: FunnelQuery,
    *,
    from_step: int = 1,
    to_step: int | None = None,
    bins: int | None = None,
) -> Plan:
    raise_problems(histogram_problems(query, from_step, to_step, bins))
    lo, hi = steps_between(query, from_step, to_step)
    keys = tables.key_columns(query)

    def finish(rows: pl.DataFrame) -> pl.DataFrame:
        counts = _engine_rows(rows, {"bn": pl.Int64(), "users": pl.Int64()}).rename({"bn": "_bin"})
        if counts.height == 0:
            return tables.rename_breakdown(tables.empty_histogram(counts.select(keys)), query)
        low, high = float(counts["low"][0]), float(counts["high"][0])
        count = int(counts["nbins"][0])
        return tables.histogram_table(
            counts.select(*keys, "_bin", "users"), query, low, high, count
        )

    return sql_funnels.histogram_plan(events, query, lo, hi, bins, finish)


def time_to_convert(
    events: Relation,
    steps: Sequence[str | Step],
    *,
    from_step: int = 1,
    to_step: int | None = None,
    bins: int | None = None,
    **options: Any,
) -> Plan:
    query = _keyword_query(steps, options)
    return time_to_convert_of(events, query, from_step=from_step, to_step=to_step, bins=bins)


def next_events_after_drop_of(
    events: Relation,
    query: FunnelQuery,
    *,
    step: int,
    top: int = 10,
    ignore: Iterable[str] = (),
) -> Plan:
    raise_problems(next_event_problems(query, step, top, ignore))
    skipped = sorted(set(ignore))
    keys = [query.breakdown] if query.breakdown is not None else []

    def finish(rows: pl.DataFrame) -> pl.DataFrame:
        if "bd" in rows.columns:
            rows = rows.rename({"bd": keys[0]})
        counts = rows.with_columns(
            pl.col("event").cast(pl.String), pl.col("users").cast(pl.Int64), pl.col("share")
        )
        return tables.top_next_events(counts, keys, top)

    labels = (tables.NO_LATER_EVENT, tables.ONLY_IGNORED_EVENTS)
    return sql_funnels.next_events_plan(events, query, step, top, skipped, labels, finish)


def next_events_after_drop(
    events: Relation,
    steps: Sequence[str | Step],
    *,
    step: int,
    top: int = 10,
    ignore: Iterable[str] = (),
    **options: Any,
) -> Plan:
    query = _keyword_query(steps, options)
    return next_events_after_drop_of(events, query, step=step, top=top, ignore=ignore)
