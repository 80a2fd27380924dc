"""The effect day by day: how an experiment's read-out would have looked at the end of each day.

Users who end up in several variants are left out of every day (one population throughout); each
user's cumulative value changes only on days with events, so the sums the statistics need are
built from per (variant, day) entries and changes, cumulated over the day grid. The Polars path
below and ``metrics.warehouse.experiments.cumulative_plan`` (SQL) both produce those rows, and
:func:`cumulative_answer` turns them into the frame.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl

from metrics.experiments.aggregation import (
    check_control,
    clean_assignments,
    require_experiment,
    user_values,
)
from metrics.experiments.definitions import (
    Conversion,
    Metric,
    MetricSpec,
    Ratio,
    comparison_row,
    kind_of,
    parts_of,
)
from metrics.experiments.query import CumulativeQuery
from metrics.experiments.statistics import Method, RatioStats, Stats, compare
from metrics.warehouse import experiments as sql_experiments
from metrics.warehouse import pushdown

_CUMULATIVE_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(),
    "variant": pl.String(),
    "control_users": pl.Int64(),
    "users": pl.Int64(),
    "control_mean": pl.Float64(),
    "mean": pl.Float64(),
    "absolute_effect": pl.Float64(),
    "absolute_ci_low": pl.Float64(),
    "absolute_ci_high": pl.Float64(),
    "relative_effect": pl.Float64(),
    "relative_ci_low": pl.Float64(),
    "relative_ci_high": pl.Float64(),
    "p_value": pl.Float64(),
    "chance_to_win": pl.Float64(),
    "significant": pl.Boolean(),
    "status": pl.String(),
}


def _cumulative_plan(events: Any, assignments: Any, **kwargs: Any) -> Any:
    return sql_experiments.cumulative_plan(
        events, assignments, CumulativeQuery.build(**kwargs), cumulative_answer
    )


def _cumulative_of_plan(events: Any, assignments: Any, query: CumulativeQuery) -> Any:
    return sql_experiments.cumulative_plan(events, assignments, query, cumulative_answer)


@pushdown(_cumulative_plan)
def cumulative_effect(
    events: pl.DataFrame | pl.LazyFrame,
    assignments: pl.DataFrame | pl.LazyFrame,
    *,
    experiment: str,
    metric: MetricSpec,
    control: str = "control",
    tz: str = "UTC",
    window: float | dt.timedelta | None = None,
    winsorize: float | None = None,
    method: Method = "frequentist",
    alpha: float = 0.05,
    cuped: bool = False,
    pre_period: float | dt.timedelta = 14,
    sequential_tuning: float = 5000,
    prior_sd: float | None = None,
) -> pl.DataFrame:
    """The effect as it would have read at the end of each day: has it settled?

    One row per day × treatment variant: the users exposed by the end of that day (in ``tz``),
    each counted up to that day, compared with :func:`compare`. Users seen in several variants are
    left out of every day (one population throughout). With ``winsorize``, each day uses the cap
    of the final day (a cap that moves daily would make the curve jump for no reason). On two
    relations, the engine returns per (variant, day) entries and changes of the sums only.
    :func:`cumulative_effect_of` takes the same call as a :class:`CumulativeQuery`.
    """
    query = CumulativeQuery.build(
        experiment=experiment,
        metric=metric,
        control=control,
        tz=tz,
        window=window,
        winsorize=winsorize,
        method=method,
        alpha=alpha,
        cuped=cuped,
        pre_period=pre_period,
        sequential_tuning=sequential_tuning,
        prior_sd=prior_sd,
    )
    return _cumulative(events, assignments, query)


@pushdown(_cumulative_of_plan)
def cumulative_effect_of(
    events: pl.DataFrame | pl.LazyFrame,
    assignments: pl.DataFrame | pl.LazyFrame,
    query: CumulativeQuery,
) -> pl.DataFrame:
    """:func:`cumulative_effect` for a built :class:`CumulativeQuery` (for instance
    ``ExperimentQuery.over_time(metric)``), its scope's property filters applied to the events."""
    return _cumulative(events, assignments, query)


@dataclass(frozen=True)
class DailySums:
    """What :func:`cumulative_effect_of` counts before any statistics, per (variant, day):
    ``entries``, the users exposed that day (``n``) and their covariate sums (``c0_x``,
    ``c0_x2``); ``changes``, how that day's events moved the sums (``c0_y``, ``c0_y2``,
    ``c0_xy``, ``cross`` for a ratio). Both are empty when nobody is assigned."""

    entries: pl.DataFrame
    changes: pl.DataFrame


def _as_daily(query: CumulativeQuery, entries: pl.DataFrame, changes: pl.DataFrame) -> DailySums:
    """The counting as both back ends give it: rows sorted by variant and day."""
    if entries.height == 0:
        return DailySums(pl.DataFrame(), pl.DataFrame())
    return DailySums(entries.sort("variant", "day"), changes.sort("variant", "day"))


def _daily_sums_plan(events: Any, assignments: Any, query: CumulativeQuery) -> Any:
    return sql_experiments.cumulative_plan(events, assignments, query, _as_daily)


@pushdown(_daily_sums_plan)
def daily_sums_of(
    events: pl.DataFrame | pl.LazyFrame,
    assignments: pl.DataFrame | pl.LazyFrame,
    query: CumulativeQuery,
) -> DailySums:
    """:func:`cumulative_effect_of`'s counting: ``cumulative_answer(query, counted.entries,
    counted.changes)`` is its frame.

    The counting reads only the query's :meth:`~CumulativeQuery.counting` fields, so the app
    counts once for every method, confidence, CUPED choice and control (the statistics then
    take milliseconds)."""
    return _daily_counted(events, assignments, query)


def _cumulative(
    events: pl.DataFrame | pl.LazyFrame,
    assignments: pl.DataFrame | pl.LazyFrame,
    query: CumulativeQuery,
) -> pl.DataFrame:
    counted = _daily_counted(events, assignments, query)
    return cumulative_answer(query, counted.entries, counted.changes)


def _daily_counted(
    events: pl.DataFrame | pl.LazyFrame,
    assignments: pl.DataFrame | pl.LazyFrame,
    query: CumulativeQuery,
) -> DailySums:
    # The control is checked by cumulative_answer: the counting serves every control.
    metric, experiment = query.metric, query.experiment
    users = (
        clean_assignments(assignments, experiment, None)
        .filter(pl.col("variant_count") == 1)
        .with_columns(pl.col("exposure").dt.convert_time_zone(query.tz).dt.date().alias("day"))
        .collect()
    )
    if users.height == 0:
        require_experiment(assignments, experiment)
        return _as_daily(query, pl.DataFrame(), pl.DataFrame())
    components = query.components
    stems = query.stems

    # Final per-user values give the covariate, the winsorization caps and the last day.
    final = user_values(
        events,
        users.lazy(),
        components,
        scope=query.scope,
        window=query.window,
        pre_period=query.pre_period,
    ).collect()
    caps: dict[str, float] = {}
    if query.winsorize is not None:
        for stem in components.capped:
            caps[stem] = float(final[stem].quantile(query.winsorize, interpolation="linear") or 0.0)
            caps[stem + "_pre"] = caps[stem]  # the covariate takes the metric's cap

    increments = user_values(
        events,
        users.lazy(),
        components,
        scope=query.scope,
        window=query.window,
        pre_period=query.pre_period,
        by_day=True,
    ).collect()
    is_conversion = {components.column(p): isinstance(p, Conversion) for p in parts_of(metric)}

    def shaped(expr: pl.Expr, stem: str) -> pl.Expr:
        if is_conversion[stem.removesuffix("_pre")]:
            return expr.clip(upper_bound=1.0)
        if stem in caps:
            return expr.clip(upper_bound=caps[stem])
        return expr

    # Each user's cumulative value only changes on days with events: add up the changes of the
    # sums (and sums of squares and products) the statistics need, then cumulate over days.
    ordered = increments.sort("user_id", "day")
    changes = ordered.with_columns(
        pl.col(s).cum_sum().over("user_id").alias(f"{s}_now") for s in stems
    ).with_columns((pl.col(f"{s}_now") - pl.col(s)).alias(f"{s}_before") for s in stems)
    changes = changes.join(
        final.select("user_id", "variant", *(f"{s}_pre" for s in stems)), on="user_id", how="inner"
    )
    delta: list[pl.Expr] = []
    for s in stems:
        now, before = shaped(pl.col(f"{s}_now"), s), shaped(pl.col(f"{s}_before"), s)
        pre = shaped(pl.col(f"{s}_pre"), f"{s}_pre")
        delta += [
            (now - before).alias(f"{s}_y"),
            (now * now - before * before).alias(f"{s}_y2"),
            ((now - before) * pre).alias(f"{s}_xy"),
        ]
    if isinstance(metric, Ratio):
        a, b = stems
        na, ba = shaped(pl.col(f"{a}_now"), a), shaped(pl.col(f"{a}_before"), a)
        nb, bb = shaped(pl.col(f"{b}_now"), b), shaped(pl.col(f"{b}_before"), b)
        delta.append((na * nb - ba * bb).alias("cross"))
    delta_names = [e.meta.output_name() for e in delta]
    daily_changes = (
        changes.with_columns(delta).group_by("variant", "day").agg(pl.col(delta_names).sum())
    )
    entry_exprs = [pl.len().alias("n")]
    for s in stems:
        pre = shaped(pl.col(f"{s}_pre"), f"{s}_pre")
        entry_exprs += [pre.sum().alias(f"{s}_x"), (pre * pre).sum().alias(f"{s}_x2")]
    entries = final.group_by("variant", "day").agg(entry_exprs)
    return _as_daily(query, entries, daily_changes)


def cumulative_answer(
    query: CumulativeQuery, entries: pl.DataFrame, daily_changes: pl.DataFrame
) -> pl.DataFrame:
    """:func:`cumulative_effect`'s frame from per (variant, day) rows (both back ends).

    ``entries``: users exposed that day (``n``) and their covariate sums (``c0_x``, ``c0_x2``);
    ``daily_changes``: how that day's events moved each variant's sums (``c0_y``, ``c0_y2``,
    ``c0_xy``, ``cross`` for a ratio). Cumulated over the day grid, they are each day's statistics.
    """
    if entries.height == 0:
        return pl.DataFrame(schema=_CUMULATIVE_SCHEMA)
    metric, control = query.metric, query.control
    kind = kind_of(metric)
    stems = query.stems
    variants = sorted(entries["variant"].unique().to_list())
    check_control(control, query.experiment, variants)
    first_day: dt.date = entries.select(pl.col("day").min()).item()
    last_day: dt.date = entries.select(pl.col("day").max()).item()
    if daily_changes.height:
        last_day = max(last_day, daily_changes.select(pl.col("day").max()).item())
    grid = pl.DataFrame({"variant": variants}).join(
        pl.DataFrame({"day": pl.date_range(first_day, last_day, eager=True)}),
        how="cross",
    )
    cumulative = (
        grid.join(entries, on=["variant", "day"], how="left")
        .join(daily_changes, on=["variant", "day"], how="left")
        .fill_null(0)
        .sort("variant", "day")
    )
    value_columns = [c for c in cumulative.columns if c not in ("variant", "day")]
    cumulative = cumulative.with_columns(pl.col(value_columns).cum_sum().over("variant"))

    by_key = {(r["variant"], r["day"]): r for r in cumulative.iter_rows(named=True)}
    days = sorted({d for _, d in by_key})
    rows: list[dict[str, Any]] = []
    for day in days:
        base = _cumulative_stats(by_key[(control, day)], metric, stems)
        for variant in variants:
            if variant == control:
                continue
            arm = _cumulative_stats(by_key[(variant, day)], metric, stems)
            result = compare(
                base,
                arm,
                kind=kind,
                method=query.method,
                alpha=query.alpha,
                cuped=query.cuped and kind != "ratio",
                inverse=metric.inverse,
                sequential_tuning=query.sequential_tuning,
                prior_sd=query.prior_sd,
            )
            flat = comparison_row(result)
            rows.append(
                {
                    "day": day,
                    "variant": variant,
                    "control_users": base.n,
                    "users": arm.n,
                    **{k: flat[k] for k in _CUMULATIVE_SCHEMA if k in flat},
                }
            )
    return pl.DataFrame(rows, schema=_CUMULATIVE_SCHEMA, orient="row")


def _cumulative_stats(row: dict[str, Any], metric: Metric, stems: list[str]) -> Stats | RatioStats:
    n = int(row["n"])
    if isinstance(metric, Ratio):
        a, b = stems
        return RatioStats(
            n=n,
            num_sum=row[f"{a}_y"],
            num_sum_squares=row[f"{a}_y2"],
            den_sum=row[f"{b}_y"],
            den_sum_squares=row[f"{b}_y2"],
            num_den_sum=row["cross"],
        )
    (s,) = stems
    return Stats(
        n=n,
        sum=row[f"{s}_y"],
        sum_squares=row[f"{s}_y2"],
        x_sum=row[f"{s}_x"],
        x_sum_squares=row[f"{s}_x2"],
        xy_sum=row[f"{s}_xy"],
    )
