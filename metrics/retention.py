"""Cohort retention and revenue retention (docs/retention.md).

A cohort is the set of users who did the *start* event in one period; its retention at offset k is
the share of them who did the *return* event k periods later. Offset 0 is the cohort itself.

Choices, written down (docs/retention.md explains them in a PM's words):

- Calendar periods follow PostHog's retention insight: calendar days/weeks/months in the reporting
  zone; the first period is the one holding ``start`` (whole, even when ``start`` is mid-week) and
  the last is the one holding ``end`` (whole, for cohort membership and for returns). Events after
  that period are ignored; so are events before the first one, except that a ``first_time`` cohort
  looks at all history to decide whose start event is their first ever.
- Rolling periods follow Amplitude and Mixpanel: offset k of a user who started at t is
  [t + k·24h, t + (k+1)·24h) for days (elapsed time: a daylight-saving day still lasts 24h), 7×24h
  for weeks, and for months the whole months elapsed between the two wall-clock times in the
  reporting zone, as MySQL's TIMESTAMPDIFF(MONTH, t, r) counts them (Jan 31 -> Feb 28 is 0 months,
  -> Mar 1 is 1). The cohort is still the calendar period holding t. In a ``recurring`` cohort t is
  the user's first start event inside that cohort period; in a ``first_time`` one, their first ever.
  Rolling offsets end where calendar ones do (cohort + k never past the period holding ``end``) and
  only returns before the end of that period count.
- ``mode="on_or_after"`` is Amplitude's unbounded retention (PostHog's "cumulative"): retained at k
  counts cohort users with a return at offset k or at any later offset up to the last one.
- ``incomplete`` marks cells whose window is not over by the end of ``end``: the last calendar
  period when ``end`` is not its last day; for rolling offsets, every cell in which a user who
  started at the very end of the cohort period would still be inside the window (for revenue,
  offset 0 included: its money accrues over a window too).
- ``filters`` (an addition to the SPEC signature, which the pages need) applies to every event the
  metric reads, start and return alike, and to the history that decides "first time" (PostHog's
  global property filters behave the same way).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl

from metrics._common import (
    INTERVALS,
    WEEK_STARTS,
    Filters,
    Interval,
    WeekStart,
    add_periods,
    as_lazy,
    check_choice,
    check_filters,
    check_tz,
    date_range,
    event_expr,
    filter_expr,
    period_starts,
    utc_bounds,
)
from metrics.intervals import wilson_exprs
from metrics.warehouse import Plan, Relation, pushdown
from metrics.warehouse import retention as sql_retention

RetentionType = Literal["recurring", "first_time"]
Mode = Literal["exact", "on_or_after"]
PeriodBasis = Literal["calendar", "rolling"]
EventSpec = str | Sequence[str] | None

RETENTION_TYPES: tuple[str, ...] = ("recurring", "first_time")
MODES: tuple[str, ...] = ("exact", "on_or_after")
PERIOD_BASES: tuple[str, ...] = ("calendar", "rolling")

__all__ = [
    "MODES",
    "PERIOD_BASES",
    "RETENTION_TYPES",
    "PeriodGrid",
    "RetentionParams",
    "average_curve",
    "average_ltv",
    "retention",
    "revenue_retention",
]

_US = 1_000_000
_DAY_US = 86_400 * _US
_ROLLING_UNIT_US = {"day": _DAY_US, "week": 7 * _DAY_US}
#: Above this many periods the per-user bit masks no longer fit a UInt64; a join takes over.
_BITMASK_MAX_PERIODS = 63
_POW2 = pl.Series("pow2", [1 << i for i in range(64)], dtype=pl.UInt64)
#: Seeds of the two user-id hashes of the fast path (see ``_mask_combos``).
_KEY_SEED, _CHECK_SEED = 0x5EED, 0xC0FFEE

RETENTION_SCHEMA: dict[str, pl.DataType] = {
    "cohort_start": pl.Date(),
    "cohort_size": pl.Int64(),
    "offset": pl.Int64(),
    "retained": pl.Int64(),
    "rate": pl.Float64(),
    "rate_ci_low": pl.Float64(),
    "rate_ci_high": pl.Float64(),
    "incomplete": pl.Boolean(),
}


@dataclass(frozen=True)
class RetentionParams:
    """Everything that defines a retention table, checked once."""

    start: dt.date
    end: dt.date
    interval: Interval = "week"
    start_event: EventSpec = None
    return_event: EventSpec = None
    retention_type: RetentionType = "recurring"
    mode: Mode = "exact"
    periods: PeriodBasis = "calendar"
    week_start: WeekStart = "monday"
    tz: str = "UTC"
    filters: Filters = None

    def __post_init__(self) -> None:
        check_choice("interval", self.interval, INTERVALS)
        check_choice("retention_type", self.retention_type, RETENTION_TYPES)
        check_choice("mode", self.mode, MODES)
        check_choice("periods", self.periods, PERIOD_BASES)
        check_choice("week_start", self.week_start, WEEK_STARTS)
        check_tz(self.tz)
        _check_event("start_event", self.start_event)
        _check_event("return_event", self.return_event)
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")


def _check_event(name: str, value: object) -> None:
    if value is None or isinstance(value, str):
        return
    if isinstance(value, Sequence) and value and all(isinstance(v, str) for v in value):
        return
    raise ValueError(f"{name} must be an event name, a non-empty list of names or None (any event)")


@dataclass(frozen=True)
class PeriodGrid:
    """The cohort periods: local period starts and the UTC instants where each one begins."""

    interval: Interval
    starts: tuple[dt.date, ...]
    #: Local start of the period after the last one (the end of the data window).
    after_last: dt.date
    #: UTC microseconds at which each period begins, plus the end of the last one (n + 1 values).
    bounds_us: tuple[int, ...]
    end: dt.date

    @classmethod
    def build(cls, params: RetentionParams) -> PeriodGrid:
        starts = period_starts(params.start, params.end, params.interval, params.week_start)
        after_last = add_periods(starts[-1], params.interval, 1)
        bounds = [_utc_us(day, params.tz) for day in (*starts, after_last)]
        return cls(params.interval, tuple(starts), after_last, tuple(bounds), params.end)

    @property
    def n(self) -> int:
        return len(self.starts)

    @property
    def lo_us(self) -> int:
        return self.bounds_us[0]

    @property
    def hi_us(self) -> int:
        return self.bounds_us[-1]

    @property
    def last_period_complete(self) -> bool:
        """Whether the period holding ``end`` is over by the end of ``end``."""
        return self.end + dt.timedelta(days=1) >= self.after_last


def _utc_us(day: dt.date, tz: str) -> int:
    lo, _ = utc_bounds(day, day, tz)
    return int(lo.timestamp()) * _US


def _ts_us() -> pl.Expr:
    # Epoch microseconds whatever the column's unit or zone label: all arithmetic happens on these.
    return pl.col("timestamp").dt.epoch("us")


def period_index(ts_us: pl.Expr, bounds_us: Sequence[int]) -> pl.Expr:
    """The index i with ``bounds[i] <= ts < bounds[i+1]``, for ``ts`` inside the bounds.

    A uniform-grid guess corrected against the real bounds: exact across daylight-saving changes
    and uneven months, where ``search_sorted`` would be far slower inside a lazy query.
    """
    n = len(bounds_us) - 1
    b0 = bounds_us[0]
    step = max((bounds_us[-1] - b0) // n, 1)
    # How far the guess floor((ts - b0) / step) can be from the true index, from the bounds alone.
    low_err = min((bounds_us[i] - b0) // step - i for i in range(n))
    high_err = max((bounds_us[i + 1] - 1 - b0) // step - i for i in range(n))
    rounds = max(-low_err, high_err, 0)
    bounds = pl.lit(pl.Series("bounds", bounds_us, dtype=pl.Int64))
    guess = ((ts_us - b0) // step).clip(0, n - 1)
    for _ in range(rounds):
        guess = (guess - (ts_us < bounds.gather(guess)).cast(pl.Int64)).clip(0, n - 1)
        guess = (guess + (ts_us >= bounds.gather(guess + 1)).cast(pl.Int64)).clip(0, n - 1)
    return guess


def _retention_params(
    *,
    start: dt.date | dt.datetime | str,
    end: dt.date | dt.datetime | str,
    interval: Interval = "week",
    start_event: EventSpec = None,
    return_event: EventSpec = None,
    retention_type: RetentionType = "recurring",
    mode: Mode = "exact",
    periods: PeriodBasis = "calendar",
    week_start: WeekStart = "monday",
    tz: str = "UTC",
    filters: Filters = None,
) -> RetentionParams:
    """The checked parameters of a :func:`retention` call (its Polars path and its planner)."""
    first, last = date_range(start, end)
    return RetentionParams(
        first,
        last,
        interval,
        start_event,
        return_event,
        retention_type,
        mode,
        periods,
        week_start,
        tz,
        filters,
    )


def _revenue_params(
    *,
    start: dt.date | dt.datetime | str,
    end: dt.date | dt.datetime | str,
    interval: Interval = "week",
    start_event: EventSpec = None,
    retention_type: RetentionType = "first_time",
    periods: PeriodBasis = "calendar",
    week_start: WeekStart = "monday",
    tz: str = "UTC",
    filters: Filters = None,
) -> RetentionParams:
    """The checked parameters of a :func:`revenue_retention` call (cohorts as in retention)."""
    first, last = date_range(start, end)
    return RetentionParams(
        first,
        last,
        interval,
        start_event,
        None,
        retention_type,
        "exact",
        periods,
        week_start,
        tz,
        filters,
    )


# --------------------------------------------------------------------------------------------------
# Planners: the same parameters and grid compiled to SQL for a Relation (metrics/warehouse)


def _retention_plan(events: Relation, **kwargs: Any) -> Plan:
    params = _retention_params(**kwargs)
    grid = PeriodGrid.build(params)

    def finish(frames: list[pl.DataFrame]) -> pl.DataFrame:
        cells, counted = sql_retention.split_sizes(frames[0], "len")
        sizes, retained = _retained_matrix(cells, counted, grid, params.mode)
        return _retention_table(grid, params, sizes, retained)

    return sql_retention.retention_plan(events, params, grid, finish)


def _revenue_retention_plan(
    events: Relation, *, revenue_column: str = "revenue", **kwargs: Any
) -> Plan:
    params = _revenue_params(**kwargs)
    grid = PeriodGrid.build(params)

    def finish(frames: list[pl.DataFrame]) -> pl.DataFrame:
        by_cell, counted = sql_retention.split_sizes(frames[0], "paying_users")
        return _revenue_table(grid, params, by_cell, counted)

    return sql_retention.revenue_plan(events, params, grid, revenue_column, finish)


# --------------------------------------------------------------------------------------------------
# Public functions


@pushdown(_retention_plan)
def retention(
    events: pl.DataFrame | pl.LazyFrame,
    *,
    start: dt.date | dt.datetime | str,
    end: dt.date | dt.datetime | str,
    interval: Interval = "week",
    start_event: EventSpec = None,
    return_event: EventSpec = None,
    retention_type: RetentionType = "recurring",
    mode: Mode = "exact",
    periods: PeriodBasis = "calendar",
    week_start: WeekStart = "monday",
    tz: str = "UTC",
    filters: Filters = None,
) -> pl.DataFrame:
    """Of the users who started in a period, the share who came back (return event) k periods later.

    One row per cohort (period from the one holding ``start`` to the one holding ``end``) and offset
    k = 0, 1, ... up to the period holding ``end``: ``cohort_start`` (Date), ``cohort_size``,
    ``offset``, ``retained``, ``rate`` (null for an empty cohort), its 95% Wilson interval
    ``rate_ci_low``/``rate_ci_high``, and ``incomplete`` (the cell's window is not over by ``end``).

    ``retention_type``: ``"recurring"`` puts a user in every period where they did the start event;
    ``"first_time"`` only in the period of their first-ever start event (all history counts, so a
    user who first started before the range is in no cohort). ``mode``: ``"exact"`` counts a return
    in period cohort + k; ``"on_or_after"`` in that period or any later one. ``periods``:
    ``"calendar"`` or ``"rolling"`` (see the module notes). ``None`` as an event means any event.
    """
    params = _retention_params(
        start=start,
        end=end,
        interval=interval,
        start_event=start_event,
        return_event=return_event,
        retention_type=retention_type,
        mode=mode,
        periods=periods,
        week_start=week_start,
        tz=tz,
        filters=filters,
    )
    grid = PeriodGrid.build(params)
    rows = _relevant_rows(events, params, grid)
    if params.periods == "calendar":
        sizes, retained = _calendar_counts(rows, params, grid)
    else:
        sizes, retained = _rolling_counts(rows, params, grid)
    return _retention_table(grid, params, sizes, retained)


@pushdown(_revenue_retention_plan)
def revenue_retention(
    events: pl.DataFrame | pl.LazyFrame,
    *,
    start: dt.date | dt.datetime | str,
    end: dt.date | dt.datetime | str,
    interval: Interval = "week",
    start_event: EventSpec = None,
    revenue_column: str = "revenue",
    retention_type: RetentionType = "first_time",
    periods: PeriodBasis = "calendar",
    week_start: WeekStart = "monday",
    tz: str = "UTC",
    filters: Filters = None,
) -> pl.DataFrame:
    """Money a cohort's users have brought in, per user, by k periods after they started (LTV).

    Cohorts are formed exactly as in :func:`retention` (``first_time`` by default here: an LTV curve
    follows users from their first start; with ``recurring`` a user counts in every cohort they
    start in). Revenue is the sum of ``revenue_column`` over the cohort users' events (any event
    carrying revenue) in offset period k; offset 0 is the cohort period itself (calendar) or the
    first 24h/7×24h/month from the user's start (rolling).

    One row per cohort and offset: ``cohort_start``, ``cohort_size``, ``offset``, ``revenue``,
    ``paying_users`` (cohort users with revenue > 0 in that offset), ``revenue_per_user``,
    ``cumulative_revenue_per_user`` (revenue of offsets 0..k over the cohort size; null for an
    empty cohort) and ``incomplete``.
    """
    params = _revenue_params(
        start=start,
        end=end,
        interval=interval,
        start_event=start_event,
        retention_type=retention_type,
        periods=periods,
        week_start=week_start,
        tz=tz,
        filters=filters,
    )
    grid = PeriodGrid.build(params)
    frame = as_lazy(events)
    if revenue_column not in frame.collect_schema():
        raise ValueError(f"revenue_column: the events have no column {revenue_column!r}")
    rows = _relevant_rows(events, params, grid, revenue_column=revenue_column)
    cohorts = _cohorts(rows, params, grid)
    money = rows.filter(pl.col("in_window") & pl.col("revenue").is_not_null())
    if params.periods == "calendar":
        money = money.group_by("user_id", "idx").agg(
            pl.col("revenue").sum(), (pl.col("revenue") > 0).any().alias("paid")
        )
        joined = cohorts.join(money, on="user_id").with_columns(
            (pl.col("idx") - pl.col("c")).alias("k")
        )
    else:
        # Revenue before the start time is not the cohort's (a month offset cannot tell).
        joined = (
            cohorts.join(money.select("user_id", "ts", "revenue", "local"), on="user_id")
            .filter(pl.col("ts") >= pl.col("t"))
            .with_columns(_rolling_offset(params).alias("k"))
        )
    by_cell_query = (
        joined.filter(pl.col("k").is_between(0, grid.n - 1 - pl.col("c")))
        .group_by("user_id", "c", "k")
        .agg(pl.col("revenue").sum(), (pl.col("revenue") > 0).any().alias("paid"))
        .group_by("c", "k")
        .agg(
            pl.col("revenue").sum(),
            pl.col("paid").sum().cast(pl.Int64).alias("paying_users"),
        )
    )
    # One collect for both, so the cohorts are computed once.
    by_cell, counted = pl.collect_all([by_cell_query, _sizes_query(cohorts)])
    return _revenue_table(grid, params, by_cell, counted)


def _revenue_table(
    grid: PeriodGrid, params: RetentionParams, by_cell: pl.DataFrame, counted: pl.DataFrame
) -> pl.DataFrame:
    """The LTV table from revenue and paying users per (c, k) and cohort sizes per c (``len``).

    Shared by both back ends: the warehouse path fetches exactly these two small frames.
    """
    sizes = _sizes_array(counted, grid)
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
        _incomplete_expr(grid, params, money=True),
    )


def average_curve(table: pl.DataFrame) -> pl.DataFrame:
    """The typical cohort's retention curve: at each offset, returning users over users, pooled.

    Weighted by cohort size (the pooled rate, sum retained / sum cohort_size) over the cohorts whose
    cell at that offset is complete; incomplete cells are left out so a half-finished week does not
    drag the curve down. An offset that no cohort has completed yet is still returned, computed from
    its incomplete cells and flagged ``incomplete`` (charts draw it dashed).

    Takes the table of :func:`retention`; returns ``offset``, ``rate``, ``rate_ci_low``,
    ``rate_ci_high``, ``retained``, ``users`` (cohort users weighed in), ``cohorts`` (how many
    cohorts) and ``incomplete``.
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
    table of :func:`revenue_retention`; returns ``offset``, ``cumulative_revenue_per_user``,
    ``users``, ``cohorts``, ``incomplete``.
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


# --------------------------------------------------------------------------------------------------
# The rows a retention table reads


def _relevant_rows(
    events: pl.DataFrame | pl.LazyFrame,
    params: RetentionParams,
    grid: PeriodGrid,
    *,
    revenue_column: str | None = None,
) -> pl.LazyFrame:
    """Only the events that can matter, as (user_id, ts, flags, period idx[, local, revenue])."""
    ts = _ts_us()
    in_window = (ts >= grid.lo_us) & (ts < grid.hi_us)
    is_start = event_expr(params.start_event)
    is_return = event_expr(params.return_event)
    if revenue_column is None:
        wanted = is_start | is_return
    else:
        wanted = is_start | pl.col(revenue_column).is_not_null()
    keep = in_window & wanted
    if params.retention_type == "first_time":
        # History before the window decides whose start event is their first ever.
        keep = keep | (is_start & (ts < grid.hi_us))
    keep = keep & pl.col("user_id").is_not_null() & filter_expr(params.filters)
    columns = [
        pl.col("user_id"),
        ts.alias("ts"),
        is_start.alias("is_start"),
        (is_return & in_window).alias("is_return"),
        in_window.alias("in_window"),
    ]
    if revenue_column is not None:
        columns.append(pl.col(revenue_column).cast(pl.Float64).alias("revenue"))
    frame = as_lazy(events)
    schema = frame.collect_schema()
    check_filters(schema, params.filters, "filters")
    rows = frame.filter(keep).select(columns)
    rows = rows.with_columns(
        pl.when(pl.col("in_window"))
        .then(period_index(pl.col("ts"), grid.bounds_us))
        .cast(pl.Int32)
        .alias("idx")
    )
    if params.periods == "rolling" and params.interval == "month":
        rows = rows.with_columns(_wall_clock_us(pl.col("ts"), params.tz).alias("local"))
    elif revenue_column is not None:
        rows = rows.with_columns(pl.lit(None, pl.Int64).alias("local"))
    return rows


def _wall_clock_us(ts_us: pl.Expr, tz: str) -> pl.Expr:
    # The reporting zone's wall clock, as naive epoch microseconds (for calendar-month arithmetic).
    stamp = pl.from_epoch(ts_us, time_unit="us").dt.replace_time_zone("UTC")
    return stamp.dt.convert_time_zone(tz).dt.replace_time_zone(None).dt.epoch("us")


def _cohorts(rows: pl.LazyFrame, params: RetentionParams, grid: PeriodGrid) -> pl.LazyFrame:
    """(user_id, c, t[, t_local]): each cohort a user is in, and the start that put them there."""
    if params.retention_type == "recurring":
        cohorts = (
            rows.filter(pl.col("is_start") & pl.col("in_window"))
            .group_by("user_id", pl.col("idx").alias("c"))
            .agg(pl.col("ts").min().alias("t"))
        )
    else:
        cohorts = (
            rows.filter(pl.col("is_start"))
            .group_by("user_id")
            .agg(pl.col("ts").min().alias("t"))
            .filter(pl.col("t") >= grid.lo_us)  # rows already end before hi
            .with_columns(period_index(pl.col("t"), grid.bounds_us).cast(pl.Int32).alias("c"))
        )
    if params.periods == "rolling" and params.interval == "month":
        cohorts = cohorts.with_columns(_wall_clock_us(pl.col("t"), params.tz).alias("t_local"))
    return cohorts


def _sizes_query(cohorts: pl.LazyFrame) -> pl.LazyFrame:
    return cohorts.group_by("c").agg(pl.len())


def _sizes_array(counted: pl.DataFrame, grid: PeriodGrid) -> np.ndarray:
    sizes = np.zeros(grid.n, dtype=np.int64)
    np.add.at(sizes, counted["c"].to_numpy(), counted["len"].to_numpy())
    return sizes


# --------------------------------------------------------------------------------------------------
# Calendar periods


def _calendar_counts(
    rows: pl.LazyFrame, params: RetentionParams, grid: PeriodGrid
) -> tuple[np.ndarray, np.ndarray]:
    """Cohort sizes (n) and retained[c, k] (n × n) for calendar periods."""
    if grid.n <= _BITMASK_MAX_PERIODS:
        by_period = _calendar_by_bitmask(rows, params, grid)
    else:
        by_period = _calendar_by_join(rows, params, grid)
    sizes, by_return_period = by_period
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
    rows: pl.LazyFrame, params: RetentionParams, grid: PeriodGrid
) -> tuple[np.ndarray, np.ndarray]:
    """One pass over the events: per user, a bit per period they started in and one per return.

    Users sharing the same pair of masks are then counted together, and the cohort × return-period
    matrix is one small matrix product, so the only heavy step is a single group-by on the user.
    """
    combos = _mask_combos(rows, params, grid, hashed=True)
    if combos.get_column("collided").any():
        combos = _mask_combos(rows, params, grid, hashed=False)
    shifts = np.arange(grid.n, dtype=np.uint64)
    starts = ((combos["s"].to_numpy()[:, None] >> shifts) & 1).astype(np.int64)
    returns = combos["r"].to_numpy()[:, None] >> shifts
    if params.mode == "exact":
        returned = (returns & 1).astype(np.int64)
    else:  # any return in period r or later
        returned = (returns != 0).astype(np.int64)
    weight = combos["len"].to_numpy().astype(np.int64)[:, None]
    sizes = (starts * weight).sum(axis=0)
    return sizes, starts.T @ (returned * weight)


def _hashed_user_key() -> pl.Expr:
    return pl.col("user_id").hash(_KEY_SEED)


def _mask_combos(
    rows: pl.LazyFrame, params: RetentionParams, grid: PeriodGrid, *, hashed: bool
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
    if params.retention_type == "first_time":
        bits.append(pl.when(pl.col("is_start")).then(pl.col("ts")).alias("first"))
        aggs.append(pl.col("first").min())
    elif params.start_event != params.return_event:
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
    if params.retention_type == "first_time":
        first = pl.col("first")
        per_user = per_user.with_columns(
            pl.when(first >= grid.lo_us)
            .then(pl.lit(_POW2).gather(period_index(first, grid.bounds_us)))
            .otherwise(0)
            .alias("s")
        )
    elif params.start_event == params.return_event:
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
    rows: pl.LazyFrame, params: RetentionParams, grid: PeriodGrid
) -> tuple[np.ndarray, np.ndarray]:
    """The same counts for many periods: distinct (user, period) pairs joined on the user."""
    cohorts = _cohorts(rows, params, grid).select("user_id", "c")
    returns = rows.filter(pl.col("is_return")).select("user_id", pl.col("idx").alias("r")).unique()
    if params.mode == "on_or_after":
        # Only the user's last return period matters; "r or later" is a reverse cumsum below.
        returns = returns.group_by("user_id").agg(pl.col("r").max())
    pairs_query = (
        cohorts.join(returns, on="user_id")
        .filter(pl.col("r") > pl.col("c"))
        .group_by("c", "r")
        .len()
    )
    pairs, counted = pl.collect_all([pairs_query, _sizes_query(cohorts)])
    n = grid.n
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (pairs["c"].to_numpy(), pairs["r"].to_numpy()), pairs["len"].to_numpy())
    if params.mode == "on_or_after":
        matrix = np.cumsum(matrix[:, ::-1], axis=1)[:, ::-1]
    return _sizes_array(counted, grid), matrix


# --------------------------------------------------------------------------------------------------
# Rolling periods


def _rolling_offset(params: RetentionParams) -> pl.Expr:
    """Offset k of an event at ``ts`` for a user who started at ``t`` (may be negative)."""
    if params.interval == "month":
        return _months_between(pl.col("t_local"), pl.col("local"))
    unit = _ROLLING_UNIT_US[params.interval]
    return (pl.col("ts") - pl.col("t")) // unit


def _months_between(t_local: pl.Expr, r_local: pl.Expr) -> pl.Expr:
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
    params: RetentionParams, grid: PeriodGrid, ts: str, local: str
) -> tuple[pl.Expr, pl.Expr]:
    """Rolling offsets as bucket arithmetic: k = bucket(r) - bucket(t) - [position(r) < position(t)]

    Days and weeks: 24h/7×24h slices of elapsed time from the window's start and the time into the
    slice; floor((r - t) / unit) is exactly that. Months: wall-clock calendar months and the time
    into the month, which is TIMESTAMPDIFF(MONTH, t, r) whenever r is in a later month than t (the
    only case that can reach an offset of 1 or more).
    """
    if params.interval == "month":
        wall = pl.from_epoch(pl.col(local), time_unit="us")
        first_month = grid.starts[0].year * 12 + grid.starts[0].month
        bucket = wall.dt.year().cast(pl.Int64) * 12 + wall.dt.month() - first_month
        position = pl.col(local) - wall.dt.truncate("1mo").dt.epoch("us")
        return bucket, position
    unit = _ROLLING_UNIT_US[params.interval]
    since = pl.col(ts) - grid.lo_us
    return since // unit, since % unit


def _rolling_counts(
    rows: pl.LazyFrame, params: RetentionParams, grid: PeriodGrid
) -> tuple[np.ndarray, np.ndarray]:
    """Cohort sizes (n) and retained[c, k] (n × n) for rolling periods.

    Each user's returns are first thinned to the earliest and latest position in every bucket: from
    any start time, the returns of one bucket reach at most two consecutive offsets, bucket - g and
    bucket - g - 1, and the latest (earliest) return reaches the first (second) if any does. The
    join with the cohorts is then at most one row per cohort membership and bucket.
    """
    cells, counted = pl.collect_all(_rolling_queries(rows, params, grid))
    return _retained_matrix(cells, counted, grid, params.mode)


def _retained_matrix(
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
    sizes = _sizes_array(counted, grid)
    retained[:, 0] = sizes
    return sizes, retained


def _rolling_queries(
    rows: pl.LazyFrame, params: RetentionParams, grid: PeriodGrid
) -> list[pl.LazyFrame]:
    """(c, k, users retained) and (c, cohort size) for rolling periods, as lazy queries."""
    cohorts = _cohorts(rows, params, grid)
    g, p_t = _bucket_and_position(params, grid, "t", "t_local")
    members = cohorts.with_columns(g.alias("g"), p_t.alias("p_t")).with_row_index("cid")
    b, p_r = _bucket_and_position(params, grid, "ts", "local")
    buckets = (
        rows.filter(pl.col("is_return"))
        .with_columns(b.alias("b"), p_r.alias("p"))
        .group_by("user_id", "b")
        .agg(pl.col("p").min().alias("p_min"), pl.col("p").max().alias("p_max"))
    )
    offsets = (
        members.select("cid", "user_id", "c", "g", "p_t")
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
    if params.mode == "exact":
        per_member = offsets.select("cid", "c", "k").unique(["cid", "k"])
    else:
        per_member = offsets.group_by("cid").agg(pl.col("c").first(), pl.col("k").max())
    return [per_member.group_by("c", "k").len(), _sizes_query(cohorts)]


# --------------------------------------------------------------------------------------------------
# The triangle


def _cells(grid: PeriodGrid) -> pl.DataFrame:
    """Every (cohort, offset) of the triangle: c = 0..n-1, k = 0..n-1-c."""
    n = grid.n
    c_idx, k_idx = np.indices((n, n))
    inside = (c_idx + k_idx) < n
    cells = pl.DataFrame({"c": c_idx[inside].astype(np.int32), "k": k_idx[inside].astype(np.int32)})
    starts = pl.Series("cohort_start", grid.starts, dtype=pl.Date)
    return cells.with_columns(pl.lit(starts).gather(pl.col("c")).alias("cohort_start"))


def _incomplete_expr(grid: PeriodGrid, params: RetentionParams, *, money: bool = False) -> pl.Expr:
    """Whether cell (c, k) is not over by the end of ``end`` (see the module notes).

    A rolling offset 0 is the cohort itself for retention (everyone is there at once), but for
    ``money`` it is a window of revenue like any other: October's users who started on the 30th
    have a month-0 window running into November, so with ``end`` on Oct 31 that cell is unfinished
    (drawn as a finished cohort it read $10.03 against $10.9-11.8).
    """
    c, k = pl.col("c"), pl.col("k")
    last_open = not grid.last_period_complete
    calendar = (c + k == grid.n - 1) & pl.lit(last_open)
    if params.periods == "calendar":
        return calendar.alias("incomplete")
    # Rolling: the latest a window of cohort c, offset k can end is (k+1) units after the cohort
    # period itself ends.
    if params.interval == "month":
        # For cohort month c and offset k: local midnight k + 1 months after the cohort month ends.
        ends = [
            _utc_us(add_periods(grid.starts[c], "month", k + 2), params.tz)
            for c in range(grid.n)
            for k in range(grid.n)
        ]
        latest = pl.lit(pl.Series("window_end", ends, dtype=pl.Int64)).gather(c * grid.n + k)
    else:
        bounds = pl.lit(pl.Series("bounds", grid.bounds_us, dtype=pl.Int64))
        latest = bounds.gather(c + 1) + (k + 1) * _ROLLING_UNIT_US[params.interval]
    if money:
        return (calendar | (latest > grid.hi_us)).alias("incomplete")
    return pl.when(k == 0).then(calendar).otherwise(latest > grid.hi_us).alias("incomplete")


def _retention_table(
    grid: PeriodGrid, params: RetentionParams, sizes: np.ndarray, retained: np.ndarray
) -> pl.DataFrame:
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
        _incomplete_expr(grid, params),
    )
