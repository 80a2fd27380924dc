"""Each KPI kind's series: its value in every period of the KPI's history.

A series function calls the metric families' public functions (so a KPI always agrees with the
page that explains it) on a Polars frame or on a relation whose events stay in an engine
(docs/warehouse.md); what it reads from the events itself is compiled by
:mod:`metrics.warehouse.targets` there. Every function returns the columns of
:data:`SERIES_SCHEMA`: ``value``, ``weight`` (a rate's denominator), ``volume`` and ``rate`` (the
two factors when value = volume × rate) and ``complete`` per ``period_start``. Which function a
kind uses is :mod:`metrics.kinds`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from metrics._common import (
    Interval,
    WeekStart,
    add_periods,
    as_lazy,
    event_expr,
    local_date,
    period_of,
    period_start,
    period_starts,
)
from metrics.kpi_params import (
    ActiveUsers,
    Arpu,
    DauMau,
    EventCount,
    Experiment,
    FunnelConversion,
    Lifecycle,
    PayingUsers,
    Retention,
    Revenue,
    event_arg,
)
from metrics.warehouse import Relation
from metrics.warehouse import targets as sql_targets

#: Events in Polars, or a relation whose events stay in an engine.
Events = pl.LazyFrame | Relation


class NoData(Exception):
    """A KPI has nothing to show; the message says why in plain words (turned into a result)."""


@dataclass(frozen=True)
class SeriesContext:
    """Where the data and the evaluation stand; passed to every series function."""

    start: dt.date  # first day computed (a period start)
    first_day: dt.date  # first day with data
    last_day: dt.date  # last complete day: the data's last day, at most the day before today
    tz: str
    week_start: WeekStart
    assignments: pl.DataFrame | Relation | None

    def period_end(self, start: dt.date, period: Interval, count: int = 1) -> dt.date:
        return add_periods(start, period, count) - dt.timedelta(days=1)

    def calendar_complete(self, start: dt.date, period: Interval) -> bool:
        return start >= self.first_day and self.period_end(start, period) <= self.last_day

    def grid(self, period: Interval) -> list[dt.date]:
        return period_starts(self.start, self.last_day, period, self.week_start)


#: The columns every series function returns.
SERIES_SCHEMA: dict[str, pl.DataType] = {
    "period_start": pl.Date(),
    "value": pl.Float64(),
    "weight": pl.Float64(),
    "volume": pl.Float64(),
    "rate": pl.Float64(),
    "complete": pl.Boolean(),
}


def empty_series() -> pl.DataFrame:
    """A series with no periods (a KPI with no data)."""
    return pl.DataFrame(schema=SERIES_SCHEMA)


def _on_grid(
    found: pl.DataFrame,
    ctx: SeriesContext,
    period: Interval,
    *,
    fill_zero: bool,
    complete: Callable[[dt.date], bool] | None = None,
) -> pl.DataFrame:
    """The values on every period of the range; a count missing from a period is a real zero."""
    grid_days = ctx.grid(period)
    is_complete = complete or (lambda day: ctx.calendar_complete(day, period))
    grid = pl.DataFrame(
        {"period_start": grid_days, "complete": [is_complete(day) for day in grid_days]},
        schema={"period_start": pl.Date(), "complete": pl.Boolean()},
    )
    found = found.with_columns(pl.col("period_start").cast(pl.Date))
    for name in ("value", "weight", "volume", "rate"):
        if name not in found.columns:
            found = found.with_columns(pl.lit(None, dtype=pl.Float64).alias(name))
    out = grid.join(
        found.select(
            "period_start",
            *(pl.col(name).cast(pl.Float64) for name in ("value", "weight", "volume", "rate")),
        ),
        on="period_start",
        how="left",
    )
    if fill_zero:
        out = out.with_columns(pl.col("value", "volume").fill_null(0.0))
    return out.select(list(SERIES_SCHEMA)).sort("period_start")


def _fed(events: Any) -> Any:
    """Events for a family's function: a frame, or a relation its ``@pushdown`` computes on
    in the engine (the functions' signatures name only frames)."""
    return events


def _with_share(frame: pl.DataFrame) -> pl.DataFrame:
    """``rate = value / volume`` (null where volume is 0), so value = volume × rate exactly."""
    return frame.with_columns(
        pl.when(pl.col("volume") > 0).then(pl.col("value") / pl.col("volume")).alias("rate")
    )


def active_users_series(events: Events, p: ActiveUsers, ctx: SeriesContext) -> pl.DataFrame:
    from metrics import engagement

    common: dict[str, Any] = {
        "start": ctx.start,
        "end": ctx.last_day,
        "interval": p.period,
        "week_start": ctx.week_start,
        "tz": ctx.tz,
    }
    if p.window_days is not None:
        common["window_days"] = p.window_days
    value = engagement.active_users(_fed(events), event=event_arg(p.event), **common)
    found = value.select("period_start", pl.col("active_users").alias("value"))
    if p.event is not None:
        everyone = engagement.active_users(_fed(events), **common)
        found = found.join(
            everyone.select("period_start", pl.col("active_users").alias("volume")),
            on="period_start",
            how="full",
            coalesce=True,
        )
    complete = None
    if p.window_days is not None:
        window = p.window_days

        def complete(day: dt.date) -> bool:
            return day - dt.timedelta(days=window - 1) >= ctx.first_day and day <= ctx.last_day

    out = _on_grid(found, ctx, p.period, fill_zero=True, complete=complete)
    return (
        _with_share(out)
        if p.event is not None
        else out.with_columns(pl.lit(None, pl.Float64).alias("volume"))
    )


def dau_mau_series(events: Events, p: DauMau, ctx: SeriesContext) -> pl.DataFrame:
    from metrics import engagement

    ratio = engagement.dau_mau(
        _fed(events), start=ctx.start, end=ctx.last_day, event=event_arg(p.event), tz=ctx.tz
    )
    found = ratio.select(
        "period_start", pl.col("ratio").alias("value"), pl.col("mau").alias("weight")
    )

    def complete(day: dt.date) -> bool:
        return day - dt.timedelta(days=29) >= ctx.first_day and day <= ctx.last_day

    return _on_grid(found, ctx, "day", fill_zero=False, complete=complete)


def lifecycle_series(events: Events, p: Lifecycle, ctx: SeriesContext) -> pl.DataFrame:
    from metrics import engagement

    states = engagement.lifecycle(
        _fed(events),
        start=ctx.start,
        end=ctx.last_day,
        interval=p.period,
        event=p.event,
        week_start=ctx.week_start,
        tz=ctx.tz,
    )
    found = states.select(
        "period_start",
        pl.col(p.state).abs().alias("value"),
        # Returning and dormant users are both drawn from last period's active users.
        (pl.col("returning").abs() + pl.col("dormant").abs()).alias("volume"),
    )
    out = _on_grid(found, ctx, p.period, fill_zero=True)
    if p.state in ("returning", "dormant"):
        return _with_share(out)
    return out.with_columns(pl.lit(None, pl.Float64).alias("volume"))


def retention_series(events: Events, p: Retention, ctx: SeriesContext) -> pl.DataFrame:
    from metrics import retention

    table = retention.retention(
        _fed(events),
        start=ctx.start,
        end=ctx.last_day,
        interval=p.period,
        start_event=p.start_event,
        return_event=p.return_event,
        retention_type=p.retention_type,
        mode=p.mode,
        periods=p.periods,
        week_start=ctx.week_start,
        tz=ctx.tz,
    )
    found = table.filter(pl.col("offset") == p.offset).select(
        pl.col("cohort_start").alias("period_start"),
        pl.when(pl.col("cohort_size") > 0).then(pl.col("rate")).alias("value"),
        pl.col("cohort_size").alias("weight"),
    )

    def complete(day: dt.date) -> bool:
        return day >= ctx.first_day and ctx.period_end(day, p.period, p.reach) <= ctx.last_day

    return _on_grid(found, ctx, p.period, fill_zero=False, complete=complete)


def funnel_series(events: Events, p: FunnelConversion, ctx: SeriesContext) -> pl.DataFrame:
    from metrics import funnels

    # Entry cohorts via a breakdown: an attempt takes the period of its step-1 event (first touch).
    entry = "__kpi_entry_period"
    tagged: Events
    if isinstance(events, Relation):
        # In SQL the tag is the period's number; its first day is worked out below.
        tagged = sql_targets.with_period(events, entry, p.period, ctx.week_start, ctx.tz)
    else:
        tagged = events.with_columns(
            period_start(local_date(ctx.tz), p.period, ctx.week_start).cast(pl.String).alias(entry)
        )
    table = funnels.funnel(
        _fed(tagged),
        list(p.steps),
        window=dt.timedelta(days=p.window_days),
        order=p.order,
        breakdown=entry,
        start=ctx.start,
        end=ctx.last_day,
        tz=ctx.tz,
    )
    last = len(p.steps)
    entered = table.filter(pl.col("step") == 1).select(entry, pl.col("users").alias("weight"))
    converted = table.filter(pl.col("step") == last).select(entry, pl.col("users").alias("done"))
    if isinstance(events, Relation):
        from metrics.engagement import EngagementQuery

        grid = EngagementQuery.build(
            start=ctx.start, end=ctx.last_day, interval=p.period, week_start=ctx.week_start
        )
        entry_day = pl.col(entry).map_elements(grid.first_day, return_dtype=pl.Date)
    else:
        entry_day = pl.col(entry).cast(pl.String).str.to_date()
    found = entered.join(converted, on=entry, how="left").select(
        entry_day.alias("period_start"),
        pl.when(pl.col("weight") > 0)
        .then(pl.col("done").fill_null(0) / pl.col("weight"))
        .alias("value"),
        "weight",
    )

    def complete(day: dt.date) -> bool:
        window_closed = ctx.period_end(day, p.period) + dt.timedelta(days=p.window_days)
        return day >= ctx.first_day and window_closed <= ctx.last_day

    return _on_grid(found, ctx, p.period, fill_zero=False, complete=complete)


def _revenue_table(events: Events, period: Interval, ctx: SeriesContext) -> pl.DataFrame:
    from metrics import engagement

    return engagement.revenue(
        _fed(events),
        start=ctx.start,
        end=ctx.last_day,
        interval=period,
        week_start=ctx.week_start,
        tz=ctx.tz,
    )


def revenue_series(events: Events, p: Revenue, ctx: SeriesContext) -> pl.DataFrame:
    # Revenue = paying users × revenue per paying user.
    found = _revenue_table(events, p.period, ctx).select(
        "period_start", pl.col("revenue").alias("value"), pl.col("paying_users").alias("volume")
    )
    return _with_share(_on_grid(found, ctx, p.period, fill_zero=True))


def arpu_series(events: Events, p: Arpu, ctx: SeriesContext) -> pl.DataFrame:
    # ARPU = paying share of active users × revenue per paying user.
    found = _revenue_table(events, p.period, ctx).select(
        "period_start",
        pl.col("arpu").alias("value"),
        pl.col("active_users").alias("weight"),
        pl.when(pl.col("active_users") > 0)
        .then(pl.col("paying_users") / pl.col("active_users"))
        .alias("volume"),
    )
    return _with_share(_on_grid(found, ctx, p.period, fill_zero=False))


def paying_users_series(events: Events, p: PayingUsers, ctx: SeriesContext) -> pl.DataFrame:
    # Paying users = active users × paying share.
    found = _revenue_table(events, p.period, ctx).select(
        "period_start",
        pl.col("paying_users").alias("value"),
        pl.col("active_users").alias("volume"),
    )
    return _with_share(_on_grid(found, ctx, p.period, fill_zero=True))


def event_count_series(events: Events, p: EventCount, ctx: SeriesContext) -> pl.DataFrame:
    from metrics import engagement

    counts = (
        _event_counts(events, p, ctx)
        if isinstance(events, Relation)
        else events.filter(event_expr(event_arg(p.event)))
        .with_columns(
            period_start(local_date(ctx.tz), p.period, ctx.week_start).alias("period_start")
        )
        .filter(pl.col("period_start") >= ctx.start)
        .group_by("period_start")
        .agg(pl.len().alias("value"))
        .collect()
    )
    doers = engagement.active_users(
        _fed(events),
        start=ctx.start,
        end=ctx.last_day,
        interval=p.period,
        event=event_arg(p.event),
        week_start=ctx.week_start,
        tz=ctx.tz,
    )
    found = counts.join(
        doers.select("period_start", pl.col("active_users").alias("volume")),
        on="period_start",
        how="full",
        coalesce=True,
    )
    # Events = users who did it × events per such user.
    return _with_share(_on_grid(found, ctx, p.period, fill_zero=True))


def _event_counts(events: Relation, p: EventCount, ctx: SeriesContext) -> pl.DataFrame:
    """Events per period in the engine, from the first period on (as the Polars path counts)."""
    from metrics.engagement import EngagementQuery

    last = add_periods(period_of(ctx.last_day, p.period, ctx.week_start), p.period, 1)
    query = EngagementQuery.build(
        start=ctx.start,
        end=last - dt.timedelta(days=1),
        interval=p.period,
        event=event_arg(p.event),
        week_start=ctx.week_start,
        tz=ctx.tz,
    )
    return sql_targets.period_counts(events, query)


def _assignments(events: Events, p: Experiment, ctx: SeriesContext) -> pl.LazyFrame | Relation:
    """The experiment's exposures (docs/data.md): given, or read from exposure events."""
    if isinstance(events, Relation):
        if isinstance(ctx.assignments, Relation):
            return sql_targets.of_experiment(ctx.assignments, p.experiment)
        if not (events.has("experiment") and events.has("variant")):
            raise NoData(
                "the data has no experiment assignments (no 'experiment'/'variant' columns)"
            )
        return sql_targets.exposures(events, p.exposure_event, p.experiment)
    if ctx.assignments is not None and not isinstance(ctx.assignments, Relation):
        return as_lazy(ctx.assignments).filter(pl.col("experiment") == p.experiment)
    names = events.collect_schema().names()
    if "experiment" not in names or "variant" not in names:
        raise NoData("the data has no experiment assignments (no 'experiment'/'variant' columns)")
    return events.filter(
        (pl.col("event") == p.exposure_event) & (pl.col("experiment") == p.experiment)
    ).select("user_id", "experiment", "variant", "timestamp")


def experiment_series(events: Events, p: Experiment, ctx: SeriesContext) -> pl.DataFrame:
    from metrics import experiments

    given = _assignments(events, p, ctx)
    exposures: pl.DataFrame | Relation
    if isinstance(given, Relation):
        exposures = given
        arm_values = sql_targets.variants(given)
    else:
        exposures = given.collect()
        arm_values = exposures.get_column("variant").unique().to_list()
    if not arm_values:
        raise NoData(f"nobody was exposed to experiment {p.experiment!r}")
    arms = sorted(arm_values)
    others = [arm for arm in arms if arm != p.control]
    treatment = (
        p.treatment if p.treatment is not None else (others[0] if len(others) == 1 else None)
    )
    if p.control not in arms or treatment is None or treatment not in arms:
        raise NoData(
            f"experiment {p.experiment!r}: control {p.control!r} and one treatment are needed "
            f"(arms: {', '.join(arms)}; name the arm to read with 'treatment')"
        )
    # The running read-out: as it stood at the end of each day, everyone exposed so far.
    by_day = (
        experiments.cumulative_effect(
            _fed(events),
            _fed(exposures),
            experiment=p.experiment,
            metric=experiments.Conversion(p.event),
            control=p.control,
            tz=ctx.tz,
        )
        .filter(pl.col("variant") == treatment)
        .select(
            "day",
            # The point estimate even where the test cannot run (zero variance): lift = t / c - 1.
            pl.coalesce(
                "relative_effect",
                pl.when(pl.col("control_mean") > 0).then(
                    pl.col("mean") / pl.col("control_mean") - 1
                ),
            ).alias("value"),
            (pl.col("users") + pl.col("control_users")).cast(pl.Float64).alias("weight"),
        )
        .sort("day")
    )
    if by_day.height == 0:
        raise NoData(f"experiment {p.experiment!r} has no read-out for {treatment!r} yet")
    first_day: dt.date = by_day.item(0, "day")
    first_period = period_of(first_day, p.period, ctx.week_start)
    ends = pl.DataFrame(
        {"period_start": [day for day in ctx.grid(p.period) if day >= first_period]},
        schema={"period_start": pl.Date()},
    ).with_columns(
        pl.col("period_start")
        .map_elements(lambda day: ctx.period_end(day, p.period), return_dtype=pl.Date)
        .alias("day")
    )
    found = ends.join_asof(by_day, on="day", strategy="backward").drop("day")
    return _on_grid(found, ctx, p.period, fill_zero=False).filter(
        pl.col("period_start") >= first_period
    )
