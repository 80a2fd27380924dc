"""The answers' tables, from the counts: the finishing steps both back ends share.

Each public function's table is made here from a few counts per (breakdown value, step or period
or bin), whether Polars counted them (:mod:`metrics.funnels.answers`) or an engine did
(:mod:`metrics.funnels.plans`): labels, rates with their Wilson intervals, drop-offs, period grids
with zeros, histogram edges, sorting and the breakdown's own column name.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from metrics._common import Interval, WeekStart, add_periods, period_of
from metrics.funnels.query import FunnelQuery
from metrics.intervals import wilson_exprs

#: Microseconds in a second.
US = 1_000_000
#: Label of the next-event row for dropped users who did nothing afterwards.
NO_LATER_EVENT = "(no later event)"
#: What ``next_events_after_drop`` reports for a user whose later events were all passed over.
ONLY_IGNORED_EVENTS = "(only passed-over events)"


def key_columns(query: FunnelQuery) -> list[str]:
    """The breakdown's working column (``_bd``), when the funnel has one."""
    return ["_bd"] if query.breakdown is not None else []


def step_rows(best: pl.DataFrame, query: FunnelQuery, keys: list[str]) -> pl.DataFrame:
    """Per (breakdown value, step): ``users`` who reached it, ``still_in_window`` (reached the
    step before, window open), the median and mean seconds from the previous step."""
    n = query.n_steps
    aggs: list[pl.Expr] = []
    for k in range(1, n + 1):
        aggs.append((pl.col("reached") >= k).sum().cast(pl.Int64).alias(f"users_{k}"))
        if k == 1:
            continue
        aggs.append(
            ((pl.col("reached") == k - 1) & pl.col("open")).sum().cast(pl.Int64).alias(f"still_{k}")
        )
        gap = (pl.col(f"t_{k}") - pl.col(f"t_{k - 1}")).cast(pl.Float64) / US
        aggs += [gap.median().alias(f"median_{k}"), gap.mean().alias(f"mean_{k}")]
    wide = best.group_by(keys, maintain_order=True).agg(aggs) if keys else best.select(aggs)
    parts = []
    for k in range(1, n + 1):
        parts.append(
            wide.select(
                *keys,
                pl.lit(k, dtype=pl.Int64).alias("step"),
                pl.col(f"users_{k}").alias("users"),
                (pl.col(f"still_{k}") if k > 1 else pl.lit(0, dtype=pl.Int64)).alias(
                    "still_in_window"
                ),
                (pl.col(f"median_{k}") if k > 1 else pl.lit(None, dtype=pl.Float64)).alias(
                    "median_seconds_to_convert"
                ),
                (pl.col(f"mean_{k}") if k > 1 else pl.lit(None, dtype=pl.Float64)).alias(
                    "mean_seconds_to_convert"
                ),
            )
        )
    return pl.concat(parts, how="vertical")


def step_table(rows: pl.DataFrame, query: FunnelQuery, keys: list[str]) -> pl.DataFrame:
    """The funnel table from :func:`_step_rows` (computed by Polars or by an engine): labels,
    rates with their intervals, drop-offs, sorted by breakdown value and step. Without a
    breakdown every step has a row, zeros when nobody entered."""
    n = query.n_steps
    if not keys:
        grid = pl.DataFrame({"step": list(range(1, n + 1))}, schema={"step": pl.Int64})
        rows = grid.join(rows, on="step", how="left").with_columns(
            pl.col("users", "still_in_window").fill_null(0)
        )
    labels = pl.Series(query.labels, dtype=pl.String)
    long = rows.sort([*keys, "step"], nulls_last=True, maintain_order=True).with_columns(
        pl.col("step")
        .map_batches(lambda s: labels.gather(s - 1), return_dtype=pl.String)
        .alias("event"),
        (
            pl.col("users").shift(1).over(keys).fill_null(pl.col("users"))
            if keys
            else pl.col("users").shift(1).fill_null(pl.col("users"))
        ).alias("_prev"),
        (pl.col("users").first().over(keys) if keys else pl.col("users").first()).alias("_first"),
    )
    overall = rate("users", "_first")
    step_rate = rate("users", "_prev")
    out = long.with_columns(
        overall.alias("conversion_rate"),
        *wilson_exprs("users", "_first", prefix="conversion_rate"),
        step_rate.alias("step_conversion_rate"),
        *wilson_exprs("users", "_prev", prefix="step_conversion_rate"),
        pl.when(pl.col("step") > 1)
        .then(pl.col("_prev") - pl.col("users") - pl.col("still_in_window"))
        .otherwise(0)
        .cast(pl.Int64)
        .alias("dropped_off"),
    )
    columns = [
        *keys,
        "step",
        "event",
        "users",
        "conversion_rate",
        "conversion_rate_ci_low",
        "conversion_rate_ci_high",
        "step_conversion_rate",
        "step_conversion_rate_ci_low",
        "step_conversion_rate_ci_high",
        "median_seconds_to_convert",
        "mean_seconds_to_convert",
        "dropped_off",
        "still_in_window",
    ]
    return out.select(columns)


def users_table(best: pl.DataFrame, query: FunnelQuery) -> pl.DataFrame:
    """``funnel_users``' table from the best attempts (computed by Polars or by an engine)."""
    keys = key_columns(query)
    stamp = pl.Datetime("us", "UTC")
    out = best.select(
        "user_id",
        *keys,
        "reached",
        *[pl.col(f"t_{k}").cast(stamp).alias(f"step_{k}_at") for k in range(1, query.n_steps + 1)],
        pl.col("open").alias("still_in_window"),
    )
    return rename_breakdown(out.sort(["user_id", *keys], nulls_last=True), query)


def trend_table(
    counts: pl.DataFrame, query: FunnelQuery, interval: Interval, week_start: WeekStart
) -> pl.DataFrame:
    """``funnel_trends``' table from the counts per (breakdown value, period_start): the period
    grid with zeros, rates and their intervals."""
    keys = key_columns(query)
    grid = period_grid(counts, query, interval, week_start)
    if keys:
        values = counts.select(keys).unique()
        grid = values.join(grid, how="cross")
    out = grid.join(counts, on=[*keys, "period_start"], how="left", nulls_equal=True).with_columns(
        pl.col("entered", "converted", "still_in_window").fill_null(0)
    )
    out = out.with_columns(
        rate("converted", "entered").alias("conversion_rate"),
        *wilson_exprs("converted", "entered", prefix="conversion_rate"),
    ).select(
        "period_start",
        *keys,
        "entered",
        "converted",
        "conversion_rate",
        "conversion_rate_ci_low",
        "conversion_rate_ci_high",
        "still_in_window",
    )
    out = out.sort(["period_start", *keys], nulls_last=True)
    return rename_breakdown(out, query)


def period_grid(
    counts: pl.DataFrame, query: FunnelQuery, interval: Interval, week_start: WeekStart
) -> pl.DataFrame:
    seen = counts.get_column("period_start").drop_nulls()
    first = query.start if query.start is not None else (seen.min() if seen.len() else None)
    last = query.end if query.end is not None else (seen.max() if seen.len() else None)
    if first is None or last is None:
        return pl.DataFrame(schema={"period_start": pl.Date()})
    assert isinstance(first, dt.date) and isinstance(last, dt.date)
    current = period_of(first, interval, week_start)
    stop = period_of(last, interval, week_start)
    days: list[dt.date] = []
    while current <= stop:
        days.append(current)
        current = add_periods(current, interval, 1)
    return pl.DataFrame({"period_start": days}, schema={"period_start": pl.Date()})


def empty_histogram(keys: pl.DataFrame) -> pl.DataFrame:
    """No user converted: the histogram's columns (the breakdown's type kept), no rows."""
    schema: dict[str, pl.DataType] = {
        "bin_start_seconds": pl.Float64(),
        "bin_end_seconds": pl.Float64(),
        "users": pl.Int64(),
    }
    return pl.DataFrame(schema={**keys.schema, **schema})


def bin_edges(low: float, high: float, count: int) -> tuple[int, float, list[float]]:
    """(bins, width, edges) of ``count`` equal bins from ``low`` to ``high``."""
    if high == low:
        # Everyone took the same time: one bin of no width.
        return 1, 1.0, [low, high]
    width = (high - low) / count
    return count, width, [low + i * width for i in range(count)] + [high]


def histogram_table(
    counts: pl.DataFrame, query: FunnelQuery, low: float, high: float, count: int
) -> pl.DataFrame:
    """``time_to_convert``'s table from the users per (breakdown value, ``_bin``): every bin of
    every breakdown value, with its edges."""
    keys = key_columns(query)
    count, _, edges = bin_edges(low, high, count)
    grid = pl.DataFrame(
        {
            "_bin": list(range(count)),
            "bin_start_seconds": edges[:-1],
            "bin_end_seconds": edges[1:],
        },
        schema={
            "_bin": pl.Int64(),
            "bin_start_seconds": pl.Float64(),
            "bin_end_seconds": pl.Float64(),
        },
    )
    if keys:
        grid = counts.select(keys).unique().join(grid, how="cross")
    out = (
        grid.join(counts, on=[*keys, "_bin"], how="left", nulls_equal=True)
        .with_columns(pl.col("users").fill_null(0))
        .sort([*keys, "_bin"], nulls_last=True)
        .select(*keys, "bin_start_seconds", "bin_end_seconds", "users")
    )
    return rename_breakdown(out, query)


def dropped_table(rows: pl.DataFrame, query: FunnelQuery, step: int) -> pl.DataFrame:
    """``dropped_users``' table from (user_id, [_bd], last_step_at in µs) of the dropped users."""
    keys = key_columns(query)
    out = rows.select(
        "user_id",
        *keys,
        pl.lit(step - 1, dtype=pl.Int64).alias("last_step"),
        pl.col("last_step_at").cast(pl.Datetime("us", "UTC")),
    )
    return rename_breakdown(out.sort(["user_id", *keys], nulls_last=True), query)


def top_next_events(counts: pl.DataFrame, keys: list[str], top: int) -> pl.DataFrame:
    """The ``top`` next events per breakdown value, most common first (then by name)."""
    rank = pl.int_range(pl.len()).over(keys) if keys else pl.int_range(pl.len())
    out = (
        counts.sort(
            [*keys, "users", "event"],
            descending=[*([False] * len(keys)), True, False],
            nulls_last=True,
        )
        .with_columns(rank.alias("_rank"))
        .filter(pl.col("_rank") < top)
        .select(*keys, "event", "users", "share")
    )
    return out


def rate(num: str, den: str) -> pl.Expr:
    # Nobody in the denominator is a 0% rate (never 100%); its interval is null.
    return (
        pl.when(pl.col(den) > 0)
        .then(pl.col(num).cast(pl.Float64) / pl.col(den).cast(pl.Float64))
        .otherwise(0.0)
    )


def rename_breakdown(frame: pl.DataFrame, query: FunnelQuery) -> pl.DataFrame:
    if query.breakdown is None or "_bd" not in frame.columns:
        return frame
    return frame.rename({"_bd": query.breakdown})
