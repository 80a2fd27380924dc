"""Retained users on calendar periods: cohort c's users back in period c + k (docs/retention.md).

Up to 63 periods, one pass over the events gives every user a bit mask of the periods they started
in and one of the periods they returned in; above that a join of distinct (user, period) pairs
takes over.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from metrics.retention.query import PeriodGrid, RetentionQuery, period_index
from metrics.retention.rows import cohorts, sizes_query
from metrics.retention.tables import sizes_array

#: Above this many periods the per-user bit masks no longer fit a UInt64; a join takes over.
_BITMASK_MAX_PERIODS = 63
_POW2 = pl.Series("pow2", [1 << i for i in range(64)], dtype=pl.UInt64)
#: Seeds of the two user-id hashes of the fast path (see ``_mask_combos``).
_KEY_SEED, _CHECK_SEED = 0x5EED, 0xC0FFEE


def calendar_counts(
    rows: pl.LazyFrame, query: RetentionQuery, grid: PeriodGrid
) -> tuple[np.ndarray, np.ndarray]:
    """Cohort sizes (n) and retained[c, k] (n × n) for calendar periods."""
    if grid.n <= _BITMASK_MAX_PERIODS:
        by_period = _calendar_by_bitmask(rows, query, grid)
    else:
        by_period = _calendar_by_join(rows, query, grid)
    return retained_by_offset(*by_period, grid)


def retained_by_offset(
    sizes: np.ndarray, by_return_period: np.ndarray, grid: PeriodGrid
) -> tuple[np.ndarray, np.ndarray]:
    """Cohort sizes and retained[c, k] from retained[c, return period r], k = r - c."""
    # by_return_period[c, r] -> retained[c, k] with k = r - c.
    n = grid.n
    c_idx, k_idx = np.indices((n, n))
    r_idx = c_idx + k_idx
    inside = r_idx < n
    retained = np.zeros((n, n), dtype=np.int64)
    retained[inside] = by_return_period[c_idx[inside], r_idx[inside]]
    retained[:, 0] = sizes
    return sizes, retained


def _calendar_by_bitmask(
    rows: pl.LazyFrame, query: RetentionQuery, grid: PeriodGrid
) -> tuple[np.ndarray, np.ndarray]:
    """One pass over the events: per user, a bit per period they started in and one per return.

    Users sharing the same pair of masks are then counted together, and the cohort × return-period
    matrix is one small matrix product, so the only heavy step is a single group-by on the user.
    """
    combos = _mask_combos(rows, query, grid, hashed=True)
    if combos.get_column("collided").any():
        combos = _mask_combos(rows, query, grid, hashed=False)
    return _by_return_period(combos, query, grid)


def calendar_counts_of_days(
    days: pl.LazyFrame, query: RetentionQuery, grid: PeriodGrid
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`calendar_counts` from distinct (``user_id``, ``day``: local day number) rows of
    one event that both starts and returns (an activity table's), every day up to the grid's
    end: a local day lies in one calendar period, so the masks come from days, not times."""
    assert masks_fit(grid)  # checked by the caller (retention_from)
    first, after = _day_number(grid.starts[0]), _day_number(grid.after_last)
    day_starts = pl.Series("starts", [_day_number(d) for d in grid.starts], dtype=pl.Int32)

    def bit(day: pl.Expr) -> pl.Expr:
        period = pl.lit(day_starts).search_sorted(day, side="right").cast(pl.Int64) - 1
        return pl.lit(_POW2).gather(period)

    in_window = pl.col("day").is_between(first, after - 1)
    # As in _mask_combos, the bits are columns before the group-by (bare columns aggregate fast).
    if query.retention_type == "first_time":
        returns = pl.when(in_window).then(bit(pl.col("day"))).otherwise(0).alias("r")
        per_user = (
            days.filter(pl.col("day") < after)
            .with_columns(returns)
            .group_by("user_id")
            .agg(pl.col("r").bitwise_or(), pl.col("day").min().alias("first"))
        )
        starts = pl.when(pl.col("first") >= first).then(bit(pl.col("first"))).otherwise(0)
    else:
        per_user = (
            days.filter(in_window)
            .with_columns(bit(pl.col("day")).alias("r"))
            .group_by("user_id")
            .agg(pl.col("r").bitwise_or())
        )
        starts = pl.col("r")
    combos = (
        per_user.select(s=starts, r=pl.col("r"))
        .filter(pl.col("s") != 0)
        .group_by("s", "r")
        .len()
        .collect()
    )
    return retained_by_offset(*_by_return_period(combos, query, grid), grid)


def masks_fit(grid: PeriodGrid) -> bool:
    """Whether each user's periods fit one UInt64 bit mask (the one-pass path)."""
    return grid.n <= _BITMASK_MAX_PERIODS


def _day_number(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def _by_return_period(
    combos: pl.DataFrame, query: RetentionQuery, grid: PeriodGrid
) -> tuple[np.ndarray, np.ndarray]:
    """Cohort sizes and by_return_period[c, r] from the users per (start mask, return mask)."""
    shifts = np.arange(grid.n, dtype=np.uint64)
    starts = ((combos["s"].to_numpy()[:, None] >> shifts) & 1).astype(np.int64)
    returns = combos["r"].to_numpy()[:, None] >> shifts
    if query.mode == "exact":
        returned = (returns & 1).astype(np.int64)
    else:  # any return in period r or later
        returned = (returns != 0).astype(np.int64)
    weight = combos["len"].to_numpy().astype(np.int64)[:, None]
    sizes = (starts * weight).sum(axis=0)
    return sizes, starts.T @ (returned * weight)


def _hashed_user_key() -> pl.Expr:
    return pl.col("user_id").hash(_KEY_SEED)


def _mask_combos(
    rows: pl.LazyFrame, query: RetentionQuery, grid: PeriodGrid, *, hashed: bool
) -> pl.DataFrame:
    """How many users have each (start mask, return mask) pair; users in no cohort left out.

    ``hashed`` groups by a 64-bit hash of the user id instead of the string, which is much faster.
    It stays exact: every group also records the smallest and largest value of a second,
    independently seeded hash, and a group holding two different users (a collision of the first
    hash) shows two different values there and is flagged ``collided``, whereupon the caller groups
    by the strings themselves. Only two users colliding on both 64-bit hashes at once could slip
    through (about one chance in 10^20 with a billion users).
    """
    bit = pl.lit(_POW2).gather(pl.col("idx"))
    # Flags become plain columns before the group-by: aggregating bare columns is several times
    # faster than evaluating conditional expressions inside each group.
    bits = [pl.when(pl.col("is_return")).then(bit).otherwise(0).alias("r")]
    aggs = [pl.col("r").bitwise_or()]
    if query.retention_type == "first_time":
        bits.append(pl.when(pl.col("is_start")).then(pl.col("ts")).alias("first"))
        aggs.append(pl.col("first").min())
    elif query.start_event != query.return_event:
        bits.append(
            pl.when(pl.col("is_start") & pl.col("in_window")).then(bit).otherwise(0).alias("s")
        )
        aggs.append(pl.col("s").bitwise_or())
    if hashed:
        bits.append(pl.col("user_id").hash(_CHECK_SEED).alias("check"))
        aggs += [pl.col("check").min().alias("check_lo"), pl.col("check").max().alias("check_hi")]
        key = _hashed_user_key().alias("user_key")
    else:
        key = pl.col("user_id")
    per_user = rows.with_columns(bits).group_by(key).agg(aggs)
    if query.retention_type == "first_time":
        first = pl.col("first")
        per_user = per_user.with_columns(
            pl.when(first >= grid.lo_us)
            .then(pl.lit(_POW2).gather(period_index(first, grid.bounds_us)))
            .otherwise(0)
            .alias("s")
        )
    elif query.start_event == query.return_event:
        per_user = per_user.with_columns(pl.col("r").alias("s"))  # the same events start and return
    collided = pl.col("check_lo") != pl.col("check_hi") if hashed else pl.lit(False)
    return (
        per_user.select(
            pl.col("s").fill_null(0), pl.col("r").fill_null(0), collided.alias("collided")
        )
        # A group in no cohort counts for nothing, collided or not.
        .filter(pl.col("s") != 0)
        .group_by("s", "r", "collided")
        .len()
        .collect()
    )


def _calendar_by_join(
    rows: pl.LazyFrame, query: RetentionQuery, grid: PeriodGrid
) -> tuple[np.ndarray, np.ndarray]:
    """The same counts for many periods: distinct (user, period) pairs joined on the user."""
    members = cohorts(rows, query, grid).select("user_id", "c")
    returns = rows.filter(pl.col("is_return")).select("user_id", pl.col("idx").alias("r")).unique()
    if query.mode == "on_or_after":
        # Only the user's last return period matters; "r or later" is a reverse cumsum below.
        returns = returns.group_by("user_id").agg(pl.col("r").max())
    pairs_query = (
        members.join(returns, on="user_id")
        .filter(pl.col("r") > pl.col("c"))
        .group_by("c", "r")
        .len()
    )
    pairs, counted = pl.collect_all([pairs_query, sizes_query(members)])
    n = grid.n
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (pairs["c"].to_numpy(), pairs["r"].to_numpy()), pairs["len"].to_numpy())
    if query.mode == "on_or_after":
        matrix = np.cumsum(matrix[:, ::-1], axis=1)[:, ::-1]
    return sizes_array(counted, grid), matrix
