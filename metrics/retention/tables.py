"""The finishing steps both back ends share: from counts per cell to the retention and LTV tables
(rates, Wilson intervals, incomplete cells), and the curves that pool cohorts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from metrics._common import add_periods
from metrics.intervals import wilson_exprs
from metrics.retention.query import ROLLING_UNIT_US, Mode, PeriodGrid, RetentionQuery, utc_us


def sizes_array(counted: pl.DataFrame, grid: PeriodGrid) -> np.ndarray:
    """Cohort sizes (n) from users per cohort (``c``, ``len``)."""
    sizes = np.zeros(grid.n, dtype=np.int64)
    np.add.at(sizes, counted["c"].to_numpy(), counted["len"].to_numpy())
    return sizes


def retained_matrix(
    cells: pl.DataFrame, counted: pl.DataFrame, grid: PeriodGrid, mode: Mode
) -> tuple[np.ndarray, np.ndarray]:
    """Cohort sizes and retained[c, k] from users per cell (c, k >= 1) and per cohort (``len``).

    In ``on_or_after`` mode a cell holds the users whose *last* return is at offset k; the
    reverse running sum makes it "at k or later". Shared by both back ends (the warehouse path
    fetches exactly these small frames, for calendar periods too).
    """
    n = grid.n
    retained = np.zeros((n, n), dtype=np.int64)
    np.add.at(retained, (cells["c"].to_numpy(), cells["k"].to_numpy()), cells["len"].to_numpy())
    if mode == "on_or_after":
        retained = np.cumsum(retained[:, ::-1], axis=1)[:, ::-1]
    sizes = sizes_array(counted, grid)
    retained[:, 0] = sizes
    return sizes, retained


def _cells(grid: PeriodGrid) -> pl.DataFrame:
    """Every (cohort, offset) of the triangle: c = 0..n-1, k = 0..n-1-c."""
    n = grid.n
    c_idx, k_idx = np.indices((n, n))
    inside = (c_idx + k_idx) < n
    cells = pl.DataFrame({"c": c_idx[inside].astype(np.int32), "k": k_idx[inside].astype(np.int32)})
    starts = pl.Series("cohort_start", grid.starts, dtype=pl.Date)
    return cells.with_columns(pl.lit(starts).gather(pl.col("c")).alias("cohort_start"))


def _incomplete_expr(grid: PeriodGrid, query: RetentionQuery, *, money: bool = False) -> pl.Expr:
    """Whether cell (c, k) is not over by the end of ``end`` (see the package notes).

    A rolling offset 0 is the cohort itself for retention (everyone is there at once), but for
    ``money`` it is a window of revenue like any other: October's users who started on the 30th
    have a month-0 window running into November, so with ``end`` on Oct 31 that cell is unfinished
    (drawn as a finished cohort it read $10.03 against $10.9-11.8).
    """
    c, k = pl.col("c"), pl.col("k")
    last_open = not grid.last_period_complete
    calendar = (c + k == grid.n - 1) & pl.lit(last_open)
    if query.periods == "calendar":
        return calendar.alias("incomplete")
    # Rolling: the latest a window of cohort c, offset k can end is (k+1) units after the cohort
    # period itself ends.
    if query.interval == "month":
        # For cohort month c and offset k: local midnight k + 1 months after the cohort month ends.
        ends = [
            utc_us(add_periods(grid.starts[c], "month", k + 2), query.tz)
            for c in range(grid.n)
            for k in range(grid.n)
        ]
        latest = pl.lit(pl.Series("window_end", ends, dtype=pl.Int64)).gather(c * grid.n + k)
    else:
        bounds = pl.lit(pl.Series("bounds", grid.bounds_us, dtype=pl.Int64))
        latest = bounds.gather(c + 1) + (k + 1) * ROLLING_UNIT_US[query.interval]
    if money:
        return (calendar | (latest > grid.hi_us)).alias("incomplete")
    return pl.when(k == 0).then(calendar).otherwise(latest > grid.hi_us).alias("incomplete")


def retention_table(
    grid: PeriodGrid, query: RetentionQuery, sizes: np.ndarray, retained: np.ndarray
) -> pl.DataFrame:
    """The retention table from cohort sizes (n) and retained[c, k] (n × n)."""
    cells = _cells(grid)
    c = cells["c"].to_numpy()
    k = cells["k"].to_numpy()
    table = cells.with_columns(
        pl.Series("cohort_size", sizes[c], dtype=pl.Int64),
        pl.Series("retained", retained[c, k], dtype=pl.Int64),
    )
    size = pl.col("cohort_size")
    return table.sort("c", "k").select(
        "cohort_start",
        "cohort_size",
        pl.col("k").cast(pl.Int64).alias("offset"),
        "retained",
        pl.when(size > 0).then(pl.col("retained") / size).alias("rate"),
        *wilson_exprs("retained", "cohort_size"),
        _incomplete_expr(grid, query),
    )


def revenue_table(
    grid: PeriodGrid, query: RetentionQuery, by_cell: pl.DataFrame, counted: pl.DataFrame
) -> pl.DataFrame:
    """The LTV table from revenue and paying users per (c, k) and cohort sizes per c (``len``).

    Shared by both back ends: the warehouse path fetches exactly these two small frames.
    """
    sizes = sizes_array(counted, grid)
    table = _cells(grid).join(by_cell, on=["c", "k"], how="left")
    table = table.with_columns(
        pl.lit(pl.Series("cohort_size", sizes)).gather(pl.col("c")).cast(pl.Int64),
        pl.col("revenue").fill_null(0.0),
        pl.col("paying_users").fill_null(0),
    )
    size = pl.col("cohort_size").cast(pl.Float64)
    per_user = pl.when(pl.col("cohort_size") > 0)
    return table.sort("c", "k").select(
        pl.col("cohort_start"),
        pl.col("cohort_size"),
        pl.col("k").cast(pl.Int64).alias("offset"),
        pl.col("revenue").cast(pl.Float64),
        pl.col("paying_users").cast(pl.Int64),
        per_user.then(pl.col("revenue") / size).alias("revenue_per_user"),
        per_user.then(pl.col("revenue").cum_sum().over("c", order_by="k") / size).alias(
            "cumulative_revenue_per_user"
        ),
        _incomplete_expr(grid, query, money=True),
    )


# --------------------------------------------------------------------------------------------------
# The typical cohort


def average_curve(table: pl.DataFrame) -> pl.DataFrame:
    """The typical cohort's retention curve: at each offset, returning users over users, pooled.

    Weighted by cohort size (the pooled rate, sum retained / sum cohort_size) over the cohorts whose
    cell at that offset is complete; incomplete cells are left out so a half-finished week does not
    drag the curve down. An offset that no cohort has completed yet is still returned, computed from
    its incomplete cells and flagged ``incomplete`` (charts draw it dashed).

    Takes the table of :func:`metrics.retention.retention`; returns ``offset``, ``rate``,
    ``rate_ci_low``, ``rate_ci_high``, ``retained``, ``users`` (cohort users weighed in),
    ``cohorts`` (how many cohorts) and ``incomplete``.
    """
    _require(table, ("offset", "cohort_size", "retained", "incomplete"), "table")
    usable = table.filter(pl.col("cohort_size") > 0)
    pooled = _pool_by_offset(
        usable,
        pl.col("retained").sum().alias("retained"),
    )
    return pooled.select(
        "offset",
        pl.when(pl.col("users") > 0).then(pl.col("retained") / pl.col("users")).alias("rate"),
        *wilson_exprs("retained", "users"),
        "retained",
        "users",
        "cohorts",
        "incomplete",
    )


def average_ltv(table: pl.DataFrame) -> pl.DataFrame:
    """The typical cohort's LTV curve: revenue per user so far at each offset, pooled.

    At offset k: the cumulative revenue (offsets 0..k) of every cohort whose cell k is complete,
    over those cohorts' users; as in :func:`average_curve`, incomplete cells are left out unless no
    cohort has completed offset k, in which case the point is flagged ``incomplete``. Takes the
    table of :func:`metrics.retention.revenue_retention`; returns ``offset``,
    ``cumulative_revenue_per_user``, ``users``, ``cohorts``, ``incomplete``.
    """
    _require(
        table,
        ("cohort_start", "offset", "cohort_size", "revenue", "incomplete"),
        "table",
    )
    usable = table.filter(pl.col("cohort_size") > 0).with_columns(
        pl.col("revenue").cum_sum().over("cohort_start", order_by="offset").alias("cumulative")
    )
    pooled = _pool_by_offset(usable, pl.col("cumulative").sum().alias("cumulative"))
    return pooled.select(
        "offset",
        pl.when(pl.col("users") > 0)
        .then(pl.col("cumulative") / pl.col("users"))
        .alias("cumulative_revenue_per_user"),
        "users",
        "cohorts",
        "incomplete",
    )


def _pool_by_offset(usable: pl.DataFrame, total: pl.Expr) -> pl.DataFrame:
    # Complete cells where an offset has any; otherwise the offset's incomplete cells, flagged.
    has_complete = (~pl.col("incomplete")).any().over("offset")
    chosen = usable.filter(~pl.col("incomplete") | ~has_complete)
    return (
        chosen.group_by("offset")
        .agg(
            total,
            pl.col("cohort_size").sum().cast(pl.Int64).alias("users"),
            pl.len().cast(pl.Int64).alias("cohorts"),
            pl.col("incomplete").all().alias("incomplete"),
        )
        .sort("offset")
    )


def _require(table: pl.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {', '.join(missing)}")
