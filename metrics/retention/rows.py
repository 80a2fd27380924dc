"""The events a retention table reads, as flagged rows, and the cohorts they form."""

from __future__ import annotations

import polars as pl

from metrics._common import as_lazy, event_expr
from metrics.retention.query import PeriodGrid, RetentionQuery, period_index


def _ts_us() -> pl.Expr:
    # Epoch microseconds whatever the column's unit or zone label: all arithmetic happens on these.
    return pl.col("timestamp").dt.epoch("us")


def relevant_rows(
    events: pl.DataFrame | pl.LazyFrame,
    query: RetentionQuery,
    grid: PeriodGrid,
    *,
    revenue_column: str | None = None,
) -> pl.LazyFrame:
    """Only the events that can matter, as (user_id, ts, flags, period idx[, local, revenue]).

    The scope's filters drop the events that do not match first, so they hold for start and
    return (or revenue) events alike and for the history that decides "first time".
    """
    ts = _ts_us()
    in_window = (ts >= grid.lo_us) & (ts < grid.hi_us)
    is_start = event_expr(query.start_event)
    is_return = event_expr(query.return_event)
    if revenue_column is None:
        wanted = is_start | is_return
    else:
        wanted = is_start | pl.col(revenue_column).is_not_null()
    keep = in_window & wanted
    if query.retention_type == "first_time":
        # History before the window decides whose start event is their first ever.
        keep = keep | (is_start & (ts < grid.hi_us))
    keep = keep & pl.col("user_id").is_not_null()
    columns = [
        pl.col("user_id"),
        ts.alias("ts"),
        is_start.alias("is_start"),
        (is_return & in_window).alias("is_return"),
        in_window.alias("in_window"),
    ]
    if revenue_column is not None:
        columns.append(pl.col(revenue_column).cast(pl.Float64).alias("revenue"))
    rows = query.scope.keep(as_lazy(events)).filter(keep).select(columns)
    rows = rows.with_columns(
        pl.when(pl.col("in_window"))
        .then(period_index(pl.col("ts"), grid.bounds_us))
        .cast(pl.Int32)
        .alias("idx")
    )
    if query.periods == "rolling" and query.interval == "month":
        rows = rows.with_columns(_wall_clock_us(pl.col("ts"), query.tz).alias("local"))
    elif revenue_column is not None:
        rows = rows.with_columns(pl.lit(None, pl.Int64).alias("local"))
    return rows


def _wall_clock_us(ts_us: pl.Expr, tz: str) -> pl.Expr:
    # The reporting zone's wall clock, as naive epoch microseconds (for calendar-month arithmetic).
    stamp = pl.from_epoch(ts_us, time_unit="us").dt.replace_time_zone("UTC")
    return stamp.dt.convert_time_zone(tz).dt.replace_time_zone(None).dt.epoch("us")


def cohorts(rows: pl.LazyFrame, query: RetentionQuery, grid: PeriodGrid) -> pl.LazyFrame:
    """(user_id, c, t[, t_local]): each cohort a user is in, and the start that put them there."""
    if query.retention_type == "recurring":
        members = (
            rows.filter(pl.col("is_start") & pl.col("in_window"))
            .group_by("user_id", pl.col("idx").alias("c"))
            .agg(pl.col("ts").min().alias("t"))
        )
    else:
        members = (
            rows.filter(pl.col("is_start"))
            .group_by("user_id")
            .agg(pl.col("ts").min().alias("t"))
            .filter(pl.col("t") >= grid.lo_us)  # rows already end before hi
            .with_columns(period_index(pl.col("t"), grid.bounds_us).cast(pl.Int32).alias("c"))
        )
    if query.periods == "rolling" and query.interval == "month":
        members = members.with_columns(_wall_clock_us(pl.col("t"), query.tz).alias("t_local"))
    return members


def sizes_query(members: pl.LazyFrame) -> pl.LazyFrame:
    """Users per cohort (``c``, ``len``) of :func:`cohorts`' frame."""
    return members.group_by("c").agg(pl.len())
