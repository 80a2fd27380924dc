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
from typing import Any, Literal

import polars as pl

from metrics._common import as_lazy, check_choice, check_tz, event_expr, filter_expr
from metrics.experiments.analysis import (
    METRIC_KINDS,
    Conversion,
    Metric,
    MetricSpec,
    Ratio,
    Sum,
    _check_control,
    _check_metrics,
    _clean_assignments,
    _components,
    _Plan,
    _require_experiment,
    _user_values,
    _window,
    comparison_row,
)
from metrics.experiments.statistics import METHODS, RatioStats, Stats, compare
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


@dataclass(frozen=True)
class CumulativeQuery:
    """One :func:`cumulative_effect` call, checked: what both back ends compute."""

    experiment: str
    metric: Metric
    control: str = "control"
    tz: str = "UTC"
    window: dt.timedelta | None = None
    winsorize: float | None = None
    method: str = "frequentist"
    alpha: float = 0.05
    cuped: bool = False
    pre_period: dt.timedelta = dt.timedelta(days=14)
    sequential_tuning: float = 5000
    prior_sd: float | None = None

    @classmethod
    def build(
        cls,
        *,
        experiment: str,
        metric: MetricSpec,
        control: str = "control",
        tz: str = "UTC",
        window: float | dt.timedelta | None = None,
        winsorize: float | None = None,
        method: Literal["frequentist", "bayesian", "sequential"] = "frequentist",
        alpha: float = 0.05,
        cuped: bool = False,
        pre_period: float | dt.timedelta = 14,
        sequential_tuning: float = 5000,
        prior_sd: float | None = None,
    ) -> CumulativeQuery:
        (checked,) = _check_metrics([metric])
        check_tz(tz)
        check_choice("method", method, METHODS)
        pre_span = _window(pre_period, "pre_period")
        assert pre_span is not None
        return cls(
            experiment=experiment,
            metric=checked,
            control=control,
            tz=tz,
            window=_window(window, "window"),
            winsorize=winsorize,
            method=method,
            alpha=alpha,
            cuped=cuped,
            pre_period=pre_span,
            sequential_tuning=sequential_tuning,
            prior_sd=prior_sd,
        )

    @property
    def stems(self) -> list[str]:
        plan = _Plan.of([self.metric])
        return [plan.column(p) for p in _components(self.metric)]


def _cumulative_plan(events: Any, assignments: Any, **kwargs: Any) -> Any:
    from metrics.warehouse import experiments as sql_experiments

    query = CumulativeQuery.build(**kwargs)
    return sql_experiments.cumulative_plan(events, assignments, query)


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
    method: Literal["frequentist", "bayesian", "sequential"] = "frequentist",
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
    metric = query.metric
    span, pre_span = query.window, query.pre_period
    users = (
        _clean_assignments(assignments, experiment, None)
        .filter(pl.col("variant_count") == 1)
        .with_columns(pl.col("exposure").dt.convert_time_zone(tz).dt.date().alias("day"))
        .collect()
    )
    if users.height == 0:
        _require_experiment(assignments, experiment)
        return pl.DataFrame(schema=_CUMULATIVE_SCHEMA)
    variants = sorted(users["variant"].unique().to_list())
    _check_control(control, experiment, variants)
    plan = _Plan.of([metric])
    stems = query.stems

    # Final per-user values give the covariate, the winsorization caps and the last day.
    final = _user_values(
        events,
        users.lazy(),
        plan,
        window=span,
        pre_period=pre_span,
        end=None,
        segment=None,
        segment_from_events=False,
    ).collect()
    caps: dict[str, float] = {}
    if winsorize is not None:
        for part in _components(metric):
            stem = plan.column(part)
            if not isinstance(part, Conversion):
                caps[stem] = float(final[stem].quantile(winsorize, interpolation="linear") or 0.0)
                caps[stem + "_pre"] = caps[stem]  # the covariate takes the metric's cap

    increments = _daily_increments(events, users, plan, span=span, tz=tz)
    is_conversion = {plan.column(p): isinstance(p, Conversion) for p in _components(metric)}

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
    return cumulative_answer(query, entries, daily_changes)


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
    kind = METRIC_KINDS[type(metric)]
    stems = query.stems
    variants = sorted(entries["variant"].unique().to_list())
    _check_control(control, query.experiment, variants)
    first_day: dt.date = entries["day"].min()  # type: ignore[assignment]
    changed = daily_changes["day"].max() if daily_changes.height else None
    last_day: dt.date = max(entries["day"].max(), changed or first_day)  # type: ignore[assignment,type-var]
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
                kind=kind,  # type: ignore[arg-type]
                method=query.method,  # type: ignore[arg-type]
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
        num, den = (row[f"{a}_y"], row[f"{a}_y2"]), (row[f"{b}_y"], row[f"{b}_y2"])
        return RatioStats(n, *num, *den, row["cross"])
    (s,) = stems
    return Stats(n, row[f"{s}_y"], row[f"{s}_y2"], row[f"{s}_x"], row[f"{s}_x2"], row[f"{s}_xy"])


def _daily_increments(
    events: pl.DataFrame | pl.LazyFrame,
    users: pl.DataFrame,
    plan: _Plan,
    *,
    span: dt.timedelta | None,
    tz: str,
) -> pl.DataFrame:
    """Per user and local day after exposure: how much each metric component grew that day."""
    lf = as_lazy(events)
    needed = {"user_id", "event", "timestamp"}
    for part in plan.parts.values():
        needed.update((part.filters or {}).keys())
        if isinstance(part, Sum):
            needed.add(part.column)
    names = sorted({part.event for part in plan.parts.values()})
    ts, exposure = pl.col("timestamp"), pl.col("exposure")
    post = ts >= exposure
    if span is not None:
        post = post & (ts <= exposure + span)
    joined = (
        lf.select(sorted(needed))
        .filter(pl.col("event").is_in(names))
        .join(users.lazy().select("user_id", "exposure"), on="user_id", how="inner")
        .filter(post)
        .with_columns(ts.dt.convert_time_zone(tz).dt.date().alias("day"))
    )
    aggs = []
    for key, part in plan.parts.items():
        match = event_expr(part.event) & filter_expr(part.filters)
        value = (
            pl.col(part.column).cast(pl.Float64).fill_null(0.0)
            if isinstance(part, Sum)
            else pl.lit(1.0)
        )
        aggs.append(pl.when(match).then(value).otherwise(0.0).sum().alias(plan.columns[key]))
    return joined.group_by("user_id", "day").agg(aggs).collect()
