"""Vision and targets: is the product on track to hit the targets its vision sets? (docs/targets.md)

The vision file (``vision.toml``) states the product, its vision, its North Star and its KPIs.
Each KPI names one metric from a closed list of kinds (:data:`METRICS`) with that kind's
parameters, a target, a direction (up or down is good), a deadline and an owner.
:func:`load_vision` (from :mod:`metrics.vision`) reads it into frozen dataclasses and reports every
problem at once; :func:`evaluate` computes each KPI's value series by calling the metric families'
public functions and judges it:

- **value**: the KPI over the latest *complete* period (a period whose last day is before ``today``
  and inside the data). Daily KPIs are judged on their 7-day average (the "level"), so a quiet
  Sunday is not a miss; weekly and monthly KPIs on the period's own value.
- **previous**: the same a period earlier (for a daily KPI, the 7-day average a week earlier, so a
  Monday is compared with a Monday).
- **trend**: the Theil–Sen slope (median of pairwise slopes; robust to one odd week) over the last
  :data:`TREND_POINTS` complete points, in units per period; fewer than :data:`MIN_TREND_POINTS`
  points leave the trend unknown and the projection flat.
- **projected**: the value carried to the deadline at the trend's pace, ``value + trend × periods
  left`` (a period's value sits at its last day), clipped to the metric's range (a rate stays in
  [0, 1], a count ≥ 0). So a KPI is on track exactly when its trend is at least the needed pace.
  An experiment's lift is the exception: each point is the running estimate since the test began,
  which settles as users accrue (a noisy +15% in week one drifting to the true +4%); that drift is
  the estimate converging, not the product moving, so it is never extrapolated: the trend is
  unknown and the projection is the current estimate.
- **needed**: the change per period from the current value that would reach the target exactly on
  the deadline.
- **status**: ``met`` (the value is already at or beyond the target in the good direction),
  ``on_track`` (the projection reaches it by the deadline), ``at_risk`` (the projection falls short
  by less than :data:`AT_RISK_MARGIN` = 10% of the target's size), ``off_track`` (short by more, or
  the deadline has passed unmet), ``no_data`` (no complete period with data — never shown as zero).

Expected data situations are results: a KPI whose event is absent from the data, whose filter names
a missing property, or whose periods are all incomplete comes back as ``no_data`` with a ``reason``
in plain words. ``today`` is always a parameter; this module never reads the clock.

Events may be a :class:`~metrics.warehouse.Relation` (docs/warehouse.md): each KPI's series then
comes from
the families' functions computing in the engine, and what this module reads from the events
itself (coverage, filters, needed events, event counts, funnel entry periods, exposures,
segments) is compiled by :mod:`metrics.warehouse.targets`; the frames are the same as in Polars.
A KPI kind whose family does not compute in SQL yet raises :class:`NotPushedDown`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from metrics._common import (
    Interval,
    WeekStart,
    add_periods,
    as_lazy,
    check_choice,
    check_tz,
    event_expr,
    filter_expr,
    local_date,
    period_of,
    period_start,
    period_starts,
    to_date,
)
from metrics.drivers import VolumeRateSplit, largest_mover, segment_contributions, volume_rate_split

# The vision file's model and reader live in metrics.vision; they are part of this module's public
# interface too (docs/targets.md: targets.load_vision, targets.Vision, targets.VisionError).
from metrics.vision import (
    DIRECTIONS,
    KIND_PARAMS,
    METRIC_ALIASES,
    PARAM_ALIASES,
    RATE_KINDS,
    ActiveUsers,
    Arpu,
    DauMau,
    Direction,
    EventCount,
    Experiment,
    FunnelConversion,
    Kpi,
    Lifecycle,
    MetricKind,
    MetricParams,
    PayingUsers,
    Retention,
    Revenue,
    Vision,
    VisionError,
    load_vision,
    parse_vision,
)
from metrics.warehouse import Relation
from metrics.warehouse import targets as sql_targets

__all__ = [
    "AT_RISK_MARGIN",
    "DIRECTIONS",
    "KIND_PARAMS",
    "METRICS",
    "METRIC_ALIASES",
    "PARAM_ALIASES",
    "RATE_KINDS",
    "STATUSES",
    "ActiveUsers",
    "Arpu",
    "Assessment",
    "DauMau",
    "Direction",
    "Drivers",
    "EventCount",
    "Experiment",
    "FunnelConversion",
    "Kpi",
    "Lifecycle",
    "MetricKind",
    "MetricParams",
    "MetricSpec",
    "PayingUsers",
    "Retention",
    "Revenue",
    "Scorecard",
    "Status",
    "Unit",
    "Vision",
    "VisionError",
    "assess",
    "evaluate",
    "explain",
    "kpi_series",
    "levels",
    "load_vision",
    "parse_vision",
    "scorecard",
    "theil_sen",
]

Status = Literal["met", "on_track", "at_risk", "off_track", "no_data"]
#: Events in Polars, or a relation whose events stay in an engine.
Events = pl.LazyFrame | Relation
Unit = Literal["users", "events", "ratio", "currency", "lift"]

STATUSES: tuple[str, ...] = ("met", "on_track", "at_risk", "off_track", "no_data")

#: A projection that misses the target by less than this share of the target's size is "at risk".
AT_RISK_MARGIN = 0.10
#: How many complete points the trend is fitted on (daily KPIs: 28 days of 7-day averages).
TREND_POINTS: dict[str, int] = {"day": 28, "week": 8, "month": 6}
MIN_TREND_POINTS = 3
#: A daily KPI is judged on the mean of this many days, to take out the weekly cycle.
SMOOTHING_DAYS = 7
#: How far back :func:`explain` compares (daily: 28 days, weekly: 4 weeks, monthly: 3 months).
DRIVER_LOOKBACK: dict[str, int] = {"day": 28, "week": 4, "month": 3}
#: At most this many days of history are computed for a KPI (trend, sparkline, drivers).
HISTORY_DAYS = 400
#: Length of a period in days, to place dates on the period axis (months: see _position).
PERIOD_DAYS: dict[str, float] = {"day": 1.0, "week": 7.0, "month": 365.25 / 12}


@dataclass(frozen=True)
class MetricSpec:
    """One metric kind: its parameters, how to compute its series, and how to show it."""

    params: type
    compute: Callable[[Events, Any, _Context], pl.DataFrame]
    unit: Unit
    #: The page that explains the number (``pages/<page>.py``).
    page: str
    #: Rates: a target must lie in [0, 1] and projections are clipped to it.
    rate: bool
    #: Counts and money add up across segments; rates and ratios do not.
    additive: bool
    #: Names of the two factors when the value is volume × rate, else None.
    split: Callable[[Any], tuple[str, str] | None]
    label: str
    #: False for a running estimate (an experiment's lift) whose drift is convergence: never
    #: extrapolated, projected flat.
    trends: bool = True


# --- per-period series: one function per metric kind -------------------------------------------


class _NoData(Exception):
    """A KPI has nothing to show; the message says why in plain words (turned into a result)."""


@dataclass(frozen=True)
class _Context:
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


def _on_grid(
    found: pl.DataFrame,
    ctx: _Context,
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


def _event_arg(event: str | tuple[str, ...] | None) -> str | list[str] | None:
    return list(event) if isinstance(event, tuple) else event


def _with_share(frame: pl.DataFrame) -> pl.DataFrame:
    """``rate = value / volume`` (null where volume is 0), so value = volume × rate exactly."""
    return frame.with_columns(
        pl.when(pl.col("volume") > 0).then(pl.col("value") / pl.col("volume")).alias("rate")
    )


def _active_users_series(events: Events, p: ActiveUsers, ctx: _Context) -> pl.DataFrame:
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
    value = engagement.active_users(_fed(events), event=_event_arg(p.event), **common)
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


def _dau_mau_series(events: Events, p: DauMau, ctx: _Context) -> pl.DataFrame:
    from metrics import engagement

    ratio = engagement.dau_mau(
        _fed(events), start=ctx.start, end=ctx.last_day, event=_event_arg(p.event), tz=ctx.tz
    )
    found = ratio.select(
        "period_start", pl.col("ratio").alias("value"), pl.col("mau").alias("weight")
    )

    def complete(day: dt.date) -> bool:
        return day - dt.timedelta(days=29) >= ctx.first_day and day <= ctx.last_day

    return _on_grid(found, ctx, "day", fill_zero=False, complete=complete)


def _lifecycle_series(events: Events, p: Lifecycle, ctx: _Context) -> pl.DataFrame:
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


def _retention_series(events: Events, p: Retention, ctx: _Context) -> pl.DataFrame:
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
    # Rolling periods count from each user's own start: the last starter of the cohort needs one
    # more period before their offset k has fully happened.
    reach = p.offset + (2 if p.periods == "rolling" else 1)

    def complete(day: dt.date) -> bool:
        return day >= ctx.first_day and ctx.period_end(day, p.period, reach) <= ctx.last_day

    return _on_grid(found, ctx, p.period, fill_zero=False, complete=complete)


def _funnel_series(events: Events, p: FunnelConversion, ctx: _Context) -> pl.DataFrame:
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


def _revenue_table(events: Events, period: Interval, ctx: _Context) -> pl.DataFrame:
    from metrics import engagement

    return engagement.revenue(
        _fed(events),
        start=ctx.start,
        end=ctx.last_day,
        interval=period,
        week_start=ctx.week_start,
        tz=ctx.tz,
    )


def _revenue_series(events: Events, p: Revenue, ctx: _Context) -> pl.DataFrame:
    # Revenue = paying users × revenue per paying user.
    found = _revenue_table(events, p.period, ctx).select(
        "period_start", pl.col("revenue").alias("value"), pl.col("paying_users").alias("volume")
    )
    return _with_share(_on_grid(found, ctx, p.period, fill_zero=True))


def _arpu_series(events: Events, p: Arpu, ctx: _Context) -> pl.DataFrame:
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


def _paying_users_series(events: Events, p: PayingUsers, ctx: _Context) -> pl.DataFrame:
    # Paying users = active users × paying share.
    found = _revenue_table(events, p.period, ctx).select(
        "period_start",
        pl.col("paying_users").alias("value"),
        pl.col("active_users").alias("volume"),
    )
    return _with_share(_on_grid(found, ctx, p.period, fill_zero=True))


def _event_count_series(events: Events, p: EventCount, ctx: _Context) -> pl.DataFrame:
    from metrics import engagement

    counts = (
        _event_counts(events, p, ctx)
        if isinstance(events, Relation)
        else events.filter(event_expr(_event_arg(p.event)))
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
        event=_event_arg(p.event),
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


def _event_counts(events: Relation, p: EventCount, ctx: _Context) -> pl.DataFrame:
    """Events per period in the engine, from the first period on (as the Polars path counts)."""
    from metrics.engagement import EngagementQuery

    last = add_periods(period_of(ctx.last_day, p.period, ctx.week_start), p.period, 1)
    query = EngagementQuery.build(
        start=ctx.start,
        end=last - dt.timedelta(days=1),
        interval=p.period,
        event=_event_arg(p.event),
        week_start=ctx.week_start,
        tz=ctx.tz,
    )
    return sql_targets.period_counts(events, query)


def _assignments(events: Events, p: Experiment, ctx: _Context) -> pl.LazyFrame | Relation:
    """The experiment's exposures (docs/data.md): given, or read from exposure events."""
    if isinstance(events, Relation):
        if isinstance(ctx.assignments, Relation):
            return sql_targets.of_experiment(ctx.assignments, p.experiment)
        if not (events.has("experiment") and events.has("variant")):
            raise _NoData(
                "the data has no experiment assignments (no 'experiment'/'variant' columns)"
            )
        return sql_targets.exposures(events, p.exposure_event, p.experiment)
    if ctx.assignments is not None and not isinstance(ctx.assignments, Relation):
        return as_lazy(ctx.assignments).filter(pl.col("experiment") == p.experiment)
    names = events.collect_schema().names()
    if "experiment" not in names or "variant" not in names:
        raise _NoData("the data has no experiment assignments (no 'experiment'/'variant' columns)")
    return events.filter(
        (pl.col("event") == p.exposure_event) & (pl.col("experiment") == p.experiment)
    ).select("user_id", "experiment", "variant", "timestamp")


def _experiment_series(events: Events, p: Experiment, ctx: _Context) -> pl.DataFrame:
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
        raise _NoData(f"nobody was exposed to experiment {p.experiment!r}")
    arms = sorted(arm_values)
    others = [arm for arm in arms if arm != p.control]
    treatment = (
        p.treatment if p.treatment is not None else (others[0] if len(others) == 1 else None)
    )
    if p.control not in arms or treatment is None or treatment not in arms:
        raise _NoData(
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
        raise _NoData(f"experiment {p.experiment!r} has no read-out for {treatment!r} yet")
    first_day: dt.date = by_day.get_column("day").min()  # type: ignore[assignment]
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


def _no_split(_: Any) -> None:
    return None


METRICS: dict[str, MetricSpec] = {
    "active_users": MetricSpec(
        ActiveUsers, _active_users_series, "users", "engagement", rate=False, additive=True,
        split=lambda p: ("active users", "share who did it") if p.event is not None else None,
        label="Active users",
    ),
    "dau_mau": MetricSpec(
        DauMau, _dau_mau_series, "ratio", "engagement", rate=True, additive=False,
        split=_no_split, label="DAU/MAU (stickiness)",
    ),
    "lifecycle": MetricSpec(
        Lifecycle, _lifecycle_series, "users", "engagement", rate=False, additive=True,
        split=lambda p: ("last period's active users", f"share {p.state}")
        if p.state in ("returning", "dormant")
        else None,
        label="Lifecycle",
    ),
    "retention": MetricSpec(
        Retention, _retention_series, "ratio", "retention", rate=True, additive=False,
        split=_no_split, label="Retention",
    ),
    "funnel_conversion": MetricSpec(
        FunnelConversion, _funnel_series, "ratio", "funnels", rate=True, additive=False,
        split=_no_split, label="Funnel conversion",
    ),
    "revenue": MetricSpec(
        Revenue, _revenue_series, "currency", "engagement", rate=False, additive=True,
        split=lambda p: ("paying users", "revenue per payer"), label="Revenue",
    ),
    "arpu": MetricSpec(
        Arpu, _arpu_series, "currency", "engagement", rate=False, additive=False,
        split=lambda p: ("paying share", "revenue per payer"), label="ARPU",
    ),
    "paying_users": MetricSpec(
        PayingUsers, _paying_users_series, "users", "engagement", rate=False, additive=True,
        split=lambda p: ("active users", "paying share"), label="Paying users",
    ),
    "experiment": MetricSpec(
        Experiment, _experiment_series, "lift", "experiments", rate=False, additive=False,
        split=_no_split, label="Experiment lift", trends=False,
    ),
    "event_count": MetricSpec(
        EventCount, _event_count_series, "events", "engagement", rate=False, additive=True,
        split=lambda p: ("users who did it", "times per user"), label="Event count",
    ),
}  # fmt: skip


def _required(kpi: Kpi) -> tuple[sql_targets.Need, str]:
    """The events a KPI cannot do without, and how to say they are missing.

    The need is a description both back ends compile: ("event", names), ("revenue",), ("any",).
    """
    p = kpi.params
    if isinstance(p, ActiveUsers | DauMau | Lifecycle | EventCount) and p.event is not None:
        return ("event", _event_arg(p.event)), f"no {_names(p.event)} events in the data"
    if isinstance(p, Retention) and p.start_event is not None:
        return ("event", p.start_event), f"no {_names(p.start_event)} events in the data"
    if isinstance(p, FunnelConversion):
        return ("event", p.steps[0]), f"no {_names(p.steps[0])} events (the funnel's first step)"
    if isinstance(p, Revenue | Arpu | PayingUsers):
        return ("revenue",), "no revenue in the data"
    return ("any",), "no events in the data"


def _need_expr(need: sql_targets.Need) -> pl.Expr:
    """The Polars twin of ``metrics.warehouse.targets.need_condition``."""
    if need[0] == "event":
        return event_expr(need[1])
    if need[0] == "revenue":
        return pl.col("revenue").is_not_null()
    return pl.lit(True)


class NotPushedDown(NotImplementedError):
    """A KPI kind asked of a relation whose family cannot compute in the engine yet."""


#: The family functions each kind's series calls on the events (``module.function``).
SQL_FAMILIES: dict[str, tuple[str, ...]] = {
    "active_users": ("metrics.engagement.active_users",),
    "dau_mau": ("metrics.engagement.dau_mau",),
    "lifecycle": ("metrics.engagement.lifecycle",),
    "retention": ("metrics.retention.retention",),
    "funnel_conversion": ("metrics.funnels.funnel",),
    "revenue": ("metrics.engagement.revenue",),
    "arpu": ("metrics.engagement.revenue",),
    "paying_users": ("metrics.engagement.revenue",),
    "experiment": ("metrics.experiments.cumulative_effect",),
    "event_count": ("metrics.engagement.active_users",),
}


def not_pushed_down(metric: str) -> list[str]:
    """The functions a KPI kind needs that do not compute in SQL yet (empty when all do)."""
    import importlib

    missing = []
    for path in SQL_FAMILIES[metric]:
        module, _, name = path.rpartition(".")
        if not hasattr(getattr(importlib.import_module(module), name), "__planner__"):
            missing.append(path)
    return missing


def _check_pushed_down(kpi: Kpi) -> None:
    missing = not_pushed_down(kpi.metric)
    if missing:
        raise NotPushedDown(
            f"KPI {kpi.id!r}: {kpi.metric} KPIs cannot be computed in the engine yet "
            f"({', '.join(missing)} has no SQL form); load the events into Polars for it"
        )


def _names(event: str | tuple[str, ...]) -> str:
    return " / ".join(f"'{e}'" for e in ((event,) if isinstance(event, str) else event))


def kpi_series(
    kpi: Kpi,
    events: pl.DataFrame | pl.LazyFrame | Relation,
    *,
    today: dt.date,
    tz: str = "UTC",
    week_start: WeekStart = "monday",
    assignments: pl.DataFrame | Relation | None = None,
) -> pl.DataFrame:
    """A KPI's value in every period of its history, and whether each period is complete.

    Columns: ``period_start``, ``value`` (null where there is nothing to measure), ``weight`` (a
    rate's denominator), ``volume`` and ``rate`` (the two factors when value = volume × rate),
    ``complete``. Raises nothing for missing data: an empty result means no data (see
    :func:`evaluate`'s ``reason`` for why).
    """
    prepared = _prepared(events, assignments)
    series, _ = _kpi_series(
        kpi, prepared, _coverage(prepared, today, tz), tz, week_start, assignments
    )
    return series


def _prepared(
    events: pl.DataFrame | pl.LazyFrame | Relation,
    assignments: pl.DataFrame | Relation | None,
) -> Events:
    """A relation as it is; a frame in the canonical types (``as_lazy``).

    Events and assignments are both frames or both relations (on one connection): a TypeError
    otherwise, since one side would have to travel to the other.
    """
    if assignments is not None and isinstance(events, Relation) != isinstance(
        assignments, Relation
    ):
        raise TypeError(
            "assignments: give events and assignments both as Polars frames or both as "
            "relations on one connection (connectors.warehouse), not one of each"
        )
    return events if isinstance(events, Relation) else as_lazy(events)


def _coverage(events: Events, today: dt.date, tz: str) -> tuple[dt.date, dt.date] | None:
    """First day with data and the last complete day (at most the day before ``today``), or None."""
    if isinstance(events, Relation):
        found = sql_targets.coverage(events, tz)
        lo, hi = found if found is not None else (None, None)
    else:
        bounds = events.select(
            local_date(tz).min().alias("lo"),
            local_date(tz).max().alias("hi"),
        ).collect()
        lo, hi = bounds.row(0)
    if lo is None or hi is None:
        return None
    last = min(hi, today - dt.timedelta(days=1))
    if last < lo:
        return None
    return lo, last


def _empty_series() -> pl.DataFrame:
    return pl.DataFrame(schema=SERIES_SCHEMA)


def _kpi_series(
    kpi: Kpi,
    events: Events,
    coverage: tuple[dt.date, dt.date] | None,
    tz: str,
    week_start: WeekStart,
    assignments: pl.DataFrame | Relation | None,
    extra_filters: Mapping[str, Any] | None = None,
) -> tuple[pl.DataFrame, str | None]:
    """The series and, when it is empty, the reason in plain words."""
    in_engine = isinstance(events, Relation)
    if in_engine:
        _check_pushed_down(kpi)
    if coverage is None:
        return _empty_series(), "no data before today in the loaded source"
    first_day, last_day = coverage
    filters = {**kpi.filter_map, **(extra_filters or {})}

    def has(column: str) -> bool:
        if isinstance(events, Relation):
            return events.has(column)
        return column in events.collect_schema().names()

    missing = sorted(c for c in set(filters) if not has(c))
    if missing:
        return _empty_series(), f"the data has no {', '.join(map(repr, missing))} property"
    if kpi.metric in ("revenue", "arpu", "paying_users") and not has("revenue"):
        return _empty_series(), "the data has no revenue column"
    need, why = _required(kpi)
    scoped: Events
    try:
        if isinstance(events, Relation):
            scoped = sql_targets.scoped(events, filters)
            found = sql_targets.has_any(scoped, need)
        else:
            scoped = events.filter(filter_expr(filters)) if filters else events
            found = scoped.filter(_need_expr(need)).select(pl.len()).collect().item() > 0
        if not found:
            return _empty_series(), why + (" for these filters" if filters else "")
        start = period_of(
            max(first_day, last_day - dt.timedelta(days=HISTORY_DAYS)), kpi.period, week_start
        )
        ctx = _Context(start, first_day, last_day, tz, week_start, assignments)
        series = kpi.spec.compute(scoped, kpi.params, ctx)
    except _NoData as exc:
        return _empty_series(), str(exc)
    except NotImplementedError as exc:
        if in_engine:
            raise  # an engine that cannot compute a KPI says so; it is never a quiet no_data
        return _empty_series(), f"could not be computed ({type(exc).__name__}: {exc})"
    except (ValueError, pl.exceptions.PolarsError) as exc:
        # A KPI the data cannot answer (e.g. a filter value of the wrong type) must not break the
        # whole scorecard: it is reported on its own row.
        return _empty_series(), f"could not be computed: {exc}"
    except Exception as exc:  # noqa: BLE001 - one KPI's failure must not take the scorecard down
        return _empty_series(), f"could not be computed ({type(exc).__name__}: {exc})"
    return series, None


# --- judging a series against its target --------------------------------------------------------


@dataclass(frozen=True)
class Assessment:
    """A KPI's standing: where it is, where it is heading, and whether that reaches the target."""

    value: float | None
    previous: float | None
    projected: float | None
    trend: float | None
    needed: float | None
    periods_left: float | None
    status: Status
    reason: str | None
    as_of: dt.date | None  # the last day of the latest complete period
    points: int  # complete points the trend was fitted on


def theil_sen(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Slope and intercept of the Theil–Sen line: median pairwise slope, median residual."""
    if len(x) != len(y) or len(x) < 2:
        raise ValueError("x and y: need two or more points of equal count")
    slopes = sorted(
        (y[j] - y[i]) / (x[j] - x[i])
        for i in range(len(x))
        for j in range(i + 1, len(x))
        if x[j] != x[i]
    )
    if not slopes:
        raise ValueError("x: needs at least two distinct values")
    slope = _median(slopes)
    intercept = _median([yi - slope * xi for xi, yi in zip(x, y, strict=True)])
    return slope, intercept


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _position(day: dt.date, period: Interval) -> float:
    """Where the end of ``day`` sits on the axis of periods (months count as equal steps)."""
    if period == "month":
        length = (add_periods(day.replace(day=1), "month", 1) - day.replace(day=1)).days
        return day.year * 12 + day.month - 1 + day.day / length
    return day.toordinal() / PERIOD_DAYS[period]


def levels(series: pl.DataFrame, period: Interval) -> pl.DataFrame:
    """The points a KPI is judged on: complete periods, with ``period_end`` and ``level``.

    For daily KPIs the level is the mean of the last :data:`SMOOTHING_DAYS` complete days (null
    until a full week is there, or when any of those days has no value); otherwise it is the value
    itself.
    """
    ends = {
        "day": pl.col("period_start"),
        "week": pl.col("period_start") + pl.duration(days=6),
        "month": pl.col("period_start").dt.month_end(),
    }
    complete = (
        series.filter(pl.col("complete"))
        .sort("period_start")
        .with_columns(ends[period].alias("period_end"))
    )
    if period == "day":
        # Complete days are consecutive, so a row window is a calendar window.
        level = pl.col("value").rolling_mean(SMOOTHING_DAYS, min_samples=SMOOTHING_DAYS)
    else:
        level = pl.col("value")
    return complete.with_columns(level.alias("level"))


def assess(
    series: pl.DataFrame,
    *,
    target: float,
    direction: Direction,
    deadline: dt.date,
    today: dt.date,
    period: Interval,
    bounds: tuple[float | None, float | None] = (None, None),
    no_data_reason: str | None = None,
    trends: bool = True,
) -> Assessment:
    """Judge one KPI's series (``period_start``, ``value``, ``complete``) against its target.

    See the module docstring for the method; ``bounds`` clip the projection (a rate's [0, 1]);
    ``trends=False`` (a running estimate) leaves the trend unknown and the projection flat.
    """
    check_choice("direction", direction, DIRECTIONS)
    check_choice("period", period, PERIOD_DAYS)
    points = levels(series, period).filter(pl.col("level").is_not_null())
    if points.height == 0:
        why = no_data_reason or f"no complete {period} with data before {today.isoformat()}"
        return Assessment(None, None, None, None, None, None, "no_data", why, None, 0)

    last = points.row(-1, named=True)
    value: float = last["level"]
    as_of: dt.date = last["period_end"]
    lag = SMOOTHING_DAYS if period == "day" else 1
    previous_start = add_periods(last["period_start"], period, -lag)
    previous_rows = points.filter(pl.col("period_start") == previous_start)
    previous = previous_rows.item(0, "level") if previous_rows.height else None

    window = points.tail(TREND_POINTS[period])
    origin = _position(as_of, period)
    x = [_position(day, period) - origin for day in window.get_column("period_end")]
    y = window.get_column("level").to_list()
    horizon = _position(deadline, period) - origin
    trend: float | None = None
    if trends and len(y) >= MIN_TREND_POINTS:
        trend, _ = theil_sen(x, y)
    # From where the KPI stands now, at the recent pace: on track exactly when trend >= needed.
    ahead = value + (trend or 0.0) * max(horizon, 0.0)
    lower, upper = bounds
    if lower is not None:
        ahead = max(lower, ahead)
    if upper is not None:
        ahead = min(upper, ahead)

    sign = 1.0 if direction == "up" else -1.0
    met = sign * (value - target) >= 0
    passed = deadline < today
    needed = None if passed or horizon <= 0 else (target - value) / horizon
    projected = value if passed else ahead
    reason: str | None = None
    if trends and len(y) < MIN_TREND_POINTS and not met:
        reason = (
            f"only {len(y)} complete point{'s' if len(y) != 1 else ''}: the trend is taken as flat"
        )
    if met:
        status: Status = "met"
    elif passed:
        status = "off_track"
        reason = f"the deadline ({deadline.isoformat()}) has passed without reaching the target"
    elif sign * (projected - target) >= 0:
        status = "on_track"
    else:
        shortfall = sign * (target - projected)
        base = abs(target) if target != 0 else abs(value)
        status = "at_risk" if shortfall < AT_RISK_MARGIN * base else "off_track"
    return Assessment(
        value=value,
        previous=previous,
        projected=projected,
        trend=trend,
        needed=needed,
        periods_left=None if passed else horizon,
        status=status,
        reason=reason,
        as_of=as_of,
        points=len(y),
    )


# --- the scorecard -------------------------------------------------------------------------------

SCORECARD_SCHEMA: dict[str, pl.DataType] = {
    "kpi": pl.String(),
    "name": pl.String(),
    "metric": pl.String(),
    "north_star": pl.Boolean(),
    "value": pl.Float64(),
    "target": pl.Float64(),
    "previous": pl.Float64(),
    "delta": pl.Float64(),
    "projected": pl.Float64(),
    "trend": pl.Float64(),
    "needed": pl.Float64(),
    "periods_left": pl.Float64(),
    "status": pl.String(),
    "reason": pl.String(),
    "direction": pl.String(),
    "unit": pl.String(),
    "period": pl.String(),
    "as_of": pl.Date(),
    "deadline": pl.Date(),
    "owner": pl.String(),
    "description": pl.String(),
    "page": pl.String(),
}

SPARK_SCHEMA: dict[str, pl.DataType] = {
    "kpi": pl.String(),
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "value": pl.Float64(),
    "level": pl.Float64(),
}


@dataclass(frozen=True)
class Scorecard:
    """Every KPI judged (``table``, one row each) and the points behind it (``series``)."""

    table: pl.DataFrame
    series: pl.DataFrame
    today: dt.date


def scorecard(
    vision: Vision,
    events: pl.DataFrame | pl.LazyFrame | Relation,
    *,
    today: dt.date,
    tz: str = "UTC",
    week_start: WeekStart = "monday",
    assignments: pl.DataFrame | Relation | None = None,
) -> Scorecard:
    """Every KPI of the vision judged against its target as of ``today``, with its series.

    ``events`` (and ``assignments``) may be relations: the KPIs are then computed in the engine.
    """
    today = to_date(today, "today")
    check_tz(tz)
    check_choice("week_start", week_start, ("monday", "sunday"))
    lazy = _prepared(events, assignments)
    coverage = _coverage(lazy, today, tz)
    rows: list[dict[str, Any]] = []
    sparks: list[pl.DataFrame] = []
    for kpi in vision.kpis:
        series, why = _kpi_series(kpi, lazy, coverage, tz, week_start, assignments)
        spec = kpi.spec
        result = assess(
            series,
            target=kpi.target,
            direction=kpi.direction,
            deadline=kpi.deadline,
            today=today,
            period=kpi.period,
            bounds=(0.0, 1.0)
            if spec.rate
            else ((0.0, None) if spec.unit != "lift" else (None, None)),
            no_data_reason=why,
            trends=spec.trends,
        )
        delta = None
        if result.value is not None and result.previous is not None:
            delta = result.value - result.previous
        rows.append(
            {
                "kpi": kpi.id,
                "name": kpi.name,
                "metric": kpi.metric,
                "north_star": kpi.id == vision.north_star,
                "value": result.value,
                "target": kpi.target,
                "previous": result.previous,
                "delta": delta,
                "projected": result.projected,
                "trend": result.trend,
                "needed": result.needed,
                "periods_left": result.periods_left,
                "status": result.status,
                "reason": result.reason,
                "direction": kpi.direction,
                "unit": kpi.unit,
                "period": kpi.period,
                "as_of": result.as_of,
                "deadline": kpi.deadline,
                "owner": kpi.owner,
                "description": kpi.description,
                "page": spec.page,
            }
        )
        sparks.append(
            levels(series, kpi.period).select(
                pl.lit(kpi.id).alias("kpi"), "period_start", "period_end", "value", "level"
            )
        )
    table = pl.DataFrame(rows, schema=SCORECARD_SCHEMA)
    spark = pl.concat(sparks, how="vertical") if sparks else pl.DataFrame(schema=SPARK_SCHEMA)
    return Scorecard(table=table, series=spark.cast(SPARK_SCHEMA), today=today)  # type: ignore[arg-type]


def evaluate(
    vision: Vision,
    events: pl.DataFrame | pl.LazyFrame | Relation,
    *,
    today: dt.date,
    tz: str = "UTC",
    week_start: WeekStart = "monday",
    assignments: pl.DataFrame | Relation | None = None,
) -> pl.DataFrame:
    """How each KPI stands against its target as of ``today``: one row per KPI, in the file's order.

    Columns: ``kpi`` (id), ``name``, ``metric``, ``north_star``, ``value`` (latest complete
    period; daily KPIs: 7-day average), ``target``, ``previous`` (a period earlier), ``delta``,
    ``projected`` (at the deadline), ``trend`` (Theil–Sen slope per period), ``needed`` (change per
    period that would reach the target on the deadline), ``periods_left``, ``status`` ("met",
    "on_track", "at_risk", "off_track", "no_data"), ``reason`` (plain words for no data, a flat
    trend or a passed deadline),
    ``direction``, ``unit``, ``period``, ``as_of`` (last day of the latest complete period),
    ``deadline``, ``owner``, ``description``, ``page`` (the page that explains the number).
    Missing data is ``no_data`` with nulls, never zero. The series are in :func:`scorecard`.
    ``events`` (and ``assignments``) may be relations in an engine (docs/warehouse.md): same frame.
    """
    return scorecard(
        vision, events, today=today, tz=tz, week_start=week_start, assignments=assignments
    ).table


# --- what drives a KPI ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Drivers:
    """What moved a KPI between two points: volume vs rate, and the segments that moved it most.

    ``status`` is "ok", "no_data" or "no_history" (fewer than two comparable points); ``reason``
    says why in plain words when it is not "ok".
    """

    kpi: str
    status: str
    reason: str | None
    before_end: dt.date | None
    after_end: dt.date | None
    before: float | None
    after: float | None
    split: VolumeRateSplit | None
    split_labels: tuple[str, str] | None
    segments: pl.DataFrame
    top: dict[str, Any] | None

    @property
    def change(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before


_EMPTY_SEGMENTS = pl.DataFrame(
    schema={
        "property": pl.String(),
        "segment": pl.String(),
        "before": pl.Float64(),
        "after": pl.Float64(),
        "weight_before": pl.Float64(),
        "weight_after": pl.Float64(),
        "contribution": pl.Float64(),
        "share_of_change": pl.Float64(),
    }
)


def _point(series: pl.DataFrame, period: Interval, end: dt.date) -> dict[str, float | None] | None:
    """The KPI at the point ending on ``end``: a period, or (daily KPIs) the 7 days up to it."""
    span = SMOOTHING_DAYS if period == "day" else 1
    rows = levels(series, period).filter(pl.col("period_end") <= end).tail(span)
    if rows.height < span or rows.get_column("period_end").max() != end:
        return None
    means = rows.select(pl.col("value", "weight", "volume").mean()).row(0, named=True)
    if means["value"] is None:
        return None
    volume = means["volume"]
    rate = means["value"] / volume if volume else None
    return {"value": means["value"], "weight": means["weight"], "volume": volume, "rate": rate}


def _segment_values(events: Events, prop: str, max_segments: int) -> list[str] | None:
    """The sorted values of a text property (at most ``max_segments`` + 1); None for no such text
    column. In an engine, the values' type tells text from numbers."""
    if isinstance(events, Relation):
        if events.columns is not None and prop not in events.columns:
            return None
        found = sql_targets.distinct_values(events, prop, max_segments + 1)
        if found.dtype not in (pl.String, pl.Categorical):
            return None
        return sorted(found.cast(pl.String).to_list())
    schema = events.collect_schema()
    if prop not in schema or schema[prop] not in (pl.String, pl.Categorical):
        return None
    values: list[str] = (
        events.select(pl.col(prop).drop_nulls().cast(pl.String).unique().sort())
        .head(max_segments + 1)
        .collect()
        .get_column(prop)
        .to_list()
    )
    return values


def explain(
    vision: Vision,
    kpi_id: str,
    events: pl.DataFrame | pl.LazyFrame | Relation,
    *,
    today: dt.date,
    tz: str = "UTC",
    week_start: WeekStart = "monday",
    assignments: pl.DataFrame | Relation | None = None,
    properties: Sequence[str] = ("platform", "country"),
    lookback: int | None = None,
    max_segments: int = 12,
) -> Drivers:
    """Why a KPI moved: its change over the last periods, split into volume and rate, by segment.

    Compares the latest complete point with the one ``lookback`` periods earlier (default
    :data:`DRIVER_LOOKBACK`: 4 weeks, 3 months, or for a daily KPI the 7-day average 28 days
    earlier; less when the history is shorter). The split applies where the KPI is a product
    (weekly buyers = active users × share who buy; revenue = payers × revenue per payer); the
    segments are each value of ``properties`` (string columns with at most ``max_segments``
    values), the KPI recomputed on that segment's events (arithmetic: :mod:`metrics.drivers`).
    """
    kpi = vision.kpi(kpi_id)
    today = to_date(today, "today")
    lazy = _prepared(events, assignments)
    coverage = _coverage(lazy, today, tz)
    series, why = _kpi_series(kpi, lazy, coverage, tz, week_start, assignments)
    points = levels(series, kpi.period).filter(pl.col("level").is_not_null())

    def empty(status: str, reason: str) -> Drivers:
        return Drivers(
            kpi.id, status, reason, None, None, None, None, None, None, _EMPTY_SEGMENTS, None
        )

    if points.height == 0:
        return empty("no_data", why or "no complete period with data")
    back = lookback if lookback is not None else DRIVER_LOOKBACK[kpi.period]
    if back < 1:
        raise ValueError(f"lookback must be at least 1 period, not {back}")
    after_end: dt.date = points.item(-1, "period_end")
    after_start: dt.date = points.item(-1, "period_start")
    wanted = add_periods(after_start, kpi.period, -back)
    earlier = points.filter(pl.col("period_start") >= wanted).filter(
        pl.col("period_start") < after_start
    )
    if earlier.height == 0:
        return empty("no_history", "only one complete point: nothing to compare with yet")
    before_end: dt.date = earlier.item(0, "period_end")
    after = _point(series, kpi.period, after_end)
    before = _point(series, kpi.period, before_end)
    if after is None or before is None:
        return empty("no_history", "not enough complete periods to compare")

    split = None
    labels = kpi.spec.split(kpi.params)
    if (
        labels is not None
        and before["volume"] is not None
        and after["volume"] is not None
        and before["rate"] is not None
        and after["rate"] is not None
    ):
        split = volume_rate_split(
            volume_before=before["volume"],
            rate_before=before["rate"],
            volume_after=after["volume"],
            rate_after=after["rate"],
        )

    rows: list[dict[str, Any]] = []
    for prop in properties:
        if prop in kpi.filter_map:
            continue
        values = _segment_values(lazy, prop, max_segments)
        if not values or len(values) > max_segments:
            continue
        for segment in values:
            part, _ = _kpi_series(kpi, lazy, coverage, tz, week_start, assignments, {prop: segment})
            seg_before = _point(part, kpi.period, before_end) if part.height else None
            seg_after = _point(part, kpi.period, after_end) if part.height else None
            rows.append(
                {
                    "property": prop,
                    "segment": segment,
                    "before": seg_before["value"] if seg_before else None,
                    "after": seg_after["value"] if seg_after else None,
                    "weight_before": seg_before["weight"] if seg_before else None,
                    "weight_after": seg_after["weight"] if seg_after else None,
                }
            )
    segments = _EMPTY_SEGMENTS
    top = None
    if rows:
        frame = pl.DataFrame(
            rows, schema={k: v for k, v in _EMPTY_SEGMENTS.schema.items() if k in rows[0]}
        )
        segments = segment_contributions(frame, additive=kpi.spec.additive)
        top = largest_mover(segments)
    return Drivers(
        kpi=kpi.id,
        status="ok",
        reason=None,
        before_end=before_end,
        after_end=after_end,
        before=before["value"],
        after=after["value"],
        split=split,
        split_labels=labels if split is not None else None,
        segments=segments,
        top=top,
    )
