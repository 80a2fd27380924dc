"""Retained users on rolling periods: offset k counted from each user's own start time
(docs/retention.md): k × 24h or 7×24h of elapsed time, or whole months as MySQL's
TIMESTAMPDIFF(MONTH, t, r) counts them on the reporting zone's wall clock."""

from __future__ import annotations

import numpy as np
import polars as pl

from metrics.retention.query import ROLLING_UNIT_US, PeriodGrid, RetentionQuery
from metrics.retention.rows import cohorts, sizes_query
from metrics.retention.tables import retained_matrix


def rolling_offset(query: RetentionQuery) -> pl.Expr:
    """Offset k of an event at ``ts`` for a user who started at ``t`` (may be negative)."""
    if query.interval == "month":
        return months_between(pl.col("t_local"), pl.col("local"))
    unit = ROLLING_UNIT_US[query.interval]
    return (pl.col("ts") - pl.col("t")) // unit


def months_between(t_local: pl.Expr, r_local: pl.Expr) -> pl.Expr:
    """Whole months from wall-clock ``t`` to ``r``, as MySQL's TIMESTAMPDIFF(MONTH, t, r) counts.

    The calendar-month difference, minus one when r's day-and-time of month is earlier than t's
    (Jan 31 10:00 -> Feb 28: 0 months; -> Mar 1: 1 month; -> Mar 31 09:00: 1 month).
    """
    t = pl.from_epoch(t_local, time_unit="us")
    r = pl.from_epoch(r_local, time_unit="us")
    months = (r.dt.year().cast(pl.Int64) * 12 + r.dt.month()) - (
        t.dt.year().cast(pl.Int64) * 12 + t.dt.month()
    )
    r_into = r_local - r.dt.truncate("1mo").dt.epoch("us")
    t_into = t_local - t.dt.truncate("1mo").dt.epoch("us")
    # TIMESTAMPDIFF truncates toward zero; for r < t the sign flips the adjustment.
    forward = months - ((months > 0) & (r_into < t_into)).cast(pl.Int64)
    backward = months + ((months < 0) & (r_into > t_into)).cast(pl.Int64)
    return pl.when(months >= 0).then(forward).otherwise(backward)


def _bucket_and_position(
    query: RetentionQuery, grid: PeriodGrid, ts: str, local: str
) -> tuple[pl.Expr, pl.Expr]:
    """Rolling offsets as bucket arithmetic: k = bucket(r) - bucket(t) - [position(r) < position(t)]

    Days and weeks: 24h/7×24h slices of elapsed time from the window's start and the time into the
    slice; floor((r - t) / unit) is exactly that. Months: wall-clock calendar months and the time
    into the month, which is TIMESTAMPDIFF(MONTH, t, r) whenever r is in a later month than t (the
    only case that can reach an offset of 1 or more).
    """
    if query.interval == "month":
        wall = pl.from_epoch(pl.col(local), time_unit="us")
        first_month = grid.starts[0].year * 12 + grid.starts[0].month
        bucket = wall.dt.year().cast(pl.Int64) * 12 + wall.dt.month() - first_month
        position = pl.col(local) - wall.dt.truncate("1mo").dt.epoch("us")
        return bucket, position
    unit = ROLLING_UNIT_US[query.interval]
    since = pl.col(ts) - grid.lo_us
    return since // unit, since % unit


def rolling_counts(
    rows: pl.LazyFrame, query: RetentionQuery, grid: PeriodGrid
) -> tuple[np.ndarray, np.ndarray]:
    """Cohort sizes (n) and retained[c, k] (n × n) for rolling periods.

    Each user's returns are first thinned to the earliest and latest position in every bucket: from
    any start time, the returns of one bucket reach at most two consecutive offsets, bucket - g and
    bucket - g - 1, and the latest (earliest) return reaches the first (second) if any does. The
    join with the cohorts is then at most one row per cohort membership and bucket.
    """
    cells, counted = pl.collect_all(_rolling_queries(rows, query, grid))
    return retained_matrix(cells, counted, grid, query.mode)


def _rolling_queries(
    rows: pl.LazyFrame, query: RetentionQuery, grid: PeriodGrid
) -> list[pl.LazyFrame]:
    """(c, k, users retained) and (c, cohort size) for rolling periods, as lazy queries."""
    members = cohorts(rows, query, grid)
    g, p_t = _bucket_and_position(query, grid, "t", "t_local")
    numbered = members.with_columns(g.alias("g"), p_t.alias("p_t")).with_row_index("cid")
    b, p_r = _bucket_and_position(query, grid, "ts", "local")
    buckets = (
        rows.filter(pl.col("is_return"))
        .with_columns(b.alias("b"), p_r.alias("p"))
        .group_by("user_id", "b")
        .agg(pl.col("p").min().alias("p_min"), pl.col("p").max().alias("p_max"))
    )
    offsets = (
        numbered.select("cid", "user_id", "c", "g", "p_t")
        .join(buckets, on="user_id")
        .select(
            "cid",
            "c",
            pl.when(pl.col("p_max") >= pl.col("p_t")).then(pl.col("b") - pl.col("g")).alias("late"),
            pl.when(pl.col("p_min") < pl.col("p_t"))
            .then(pl.col("b") - pl.col("g") - 1)
            .alias("early"),
        )
        .unpivot(index=["cid", "c"], on=["late", "early"], value_name="k")
        .drop_nulls("k")
        # A return in the start's own window is offset 0 (the cohort itself); the triangle ends
        # where the period holding `end` ends, even when a 24h step overshoots it around DST.
        .filter(pl.col("k").is_between(1, grid.n - 1 - pl.col("c")))
    )
    if query.mode == "exact":
        per_member = offsets.select("cid", "c", "k").unique(["cid", "k"])
    else:
        per_member = offsets.group_by("cid").agg(pl.col("c").first(), pl.col("k").max())
    return [per_member.group_by("c", "k").len(), sizes_query(members)]
