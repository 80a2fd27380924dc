"""From raw events to per-user values and per-variant sums: the Polars reduction of an experiment.

The experiment's assignments become one row per user (:func:`clean_assignments`); the events the
scope keeps are joined to them and counted per user from the first exposure on, and over the
same length of time before it for CUPED (:func:`user_values`); winsorization caps the counts and
sums at their pooled percentile (:func:`winsorized`); the users are then summed per variant into
what the statistics need (:func:`variant_sums`, read back by :func:`stats_of`). The SQL twin is
``metrics.warehouse.experiments``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from metrics._common import as_lazy, check_filters, event_expr, filter_expr, local_date
from metrics.experiments.definitions import Components, Conversion, Metric, Ratio, Sum, filters_of
from metrics.experiments.statistics import RatioStats, Stats
from metrics.scope import Scope
from metrics.warehouse import Relation


def clean_assignments(
    assignments: pl.DataFrame | pl.LazyFrame, experiment: str, end: dt.datetime | None
) -> pl.LazyFrame:
    """One row per user of the experiment: variant, first exposure, how many variants they saw."""
    if isinstance(assignments, Relation):
        raise ValueError(
            "assignments: a relation in an engine goes with events in the same engine "
            "(connectors.warehouse.warehouse(conn, table=...)), not with events in Polars"
        )
    frame = as_lazy(assignments).filter(pl.col("experiment") == experiment)
    if end is not None:
        frame = frame.filter(pl.col("timestamp") <= end)
    return frame.group_by("user_id").agg(
        pl.col("variant").n_unique().alias("variant_count"),
        pl.col("variant").sort_by("timestamp").first().alias("variant"),
        pl.col("timestamp").min().alias("exposure"),
    )


def unknown_experiment(experiment: str, known: Sequence[str]) -> ValueError:
    """The error for an experiment the assignments do not hold, listing (some of) those they do."""
    names = sorted({k for k in known if k is not None})
    shown = ", ".join(repr(k) for k in names[:20]) + (", …" if len(names) > 20 else "")
    return ValueError(
        f"experiment {experiment!r} is not in the assignments (experiments: {shown or 'none'})"
    )


def require_experiment(assignments: pl.DataFrame | pl.LazyFrame, experiment: str) -> None:
    """``ValueError`` (see :func:`unknown_experiment`) when no assignment names ``experiment``."""
    lf = as_lazy(assignments)
    if lf.filter(pl.col("experiment") == experiment).select(pl.len()).collect().item():
        return
    known = lf.select(pl.col("experiment").unique()).collect().to_series().to_list()
    raise unknown_experiment(experiment, known)


def check_control(control: str, experiment: str, variants: Sequence[str]) -> None:
    """``ValueError`` listing the variants when ``control`` is not one of them."""
    if control not in variants:
        raise ValueError(
            f"control {control!r} is not a variant of experiment {experiment!r} "
            f"(variants: {', '.join(map(repr, variants))})"
        )


def user_values(
    events: pl.DataFrame | pl.LazyFrame,
    users: pl.LazyFrame,
    components: Components,
    *,
    scope: Scope,
    window: dt.timedelta | None,
    pre_period: dt.timedelta,
    end: dt.datetime | None = None,
    segment: str | None = None,
    by_day: bool = False,
) -> pl.LazyFrame:
    """Each user's metric components, counted over the events ``scope`` keeps.

    Per user of ``users`` (every one, zeros where nothing counted): the components after exposure
    (``c0``…, within ``window``, its last instant included as in GrowthBook: metric time <=
    exposure + window) and over the ``pre_period`` before it (``c0_pre``…), and with ``segment``
    the value of that property on the user's first event that has one (``_segment_from_events``).
    ``by_day``: instead one row per user and local day (in the scope's zone) on which a component
    grew after exposure, with what it grew by (a conversion: 1 on a day it happened).
    """
    lf = scope.keep(as_lazy(events))
    check_parts(lf, components)
    columns = {"user_id", "event", "timestamp", *components.needed_columns}
    if segment is not None:
        columns.add(segment)
    lf = lf.select(sorted(columns))
    if segment is None:
        lf = lf.filter(pl.col("event").is_in(components.events))
    if end is not None:
        lf = lf.filter(pl.col("timestamp") <= end)
    # Nothing before the earliest period that counts can count: prune it early (pushed into
    # Parquet scans).
    earliest = users.select(pl.col("exposure").min()).collect().item()
    if earliest is not None:
        lf = lf.filter(
            pl.col("timestamp") >= earliest - (dt.timedelta(0) if by_day else pre_period)
        )
    joined = lf.join(users.select("user_id", "exposure"), on="user_id", how="inner")
    ts, exposure = pl.col("timestamp"), pl.col("exposure")
    post = ts >= exposure
    if window is not None:
        post = post & (ts <= exposure + window)
    if by_day:
        daily = joined.filter(post).with_columns(local_date(scope.tz).alias("day"))
        return daily.group_by("user_id", "day").agg(_component_aggs(components, {"": pl.lit(True)}))
    pre = (ts < exposure) & (ts >= exposure - pre_period)
    aggs = _component_aggs(components, {"": post, "_pre": pre})
    if segment is not None:
        aggs.append(
            pl.col(segment).sort_by("timestamp").drop_nulls().first().alias("_segment_from_events")
        )
    per_user = joined.group_by("user_id").agg(aggs)
    value_columns = [stem + s for stem in components.columns.values() for s in ("", "_pre")]
    return users.join(per_user, on="user_id", how="left").with_columns(
        pl.col(value_columns).fill_null(0.0)
    )


def _component_aggs(components: Components, periods: Mapping[str, pl.Expr]) -> list[pl.Expr]:
    """Per component and period (column suffix -> when an event counts): a conversion is 1 when
    any event counts, a count adds 1 per event, a sum adds the column (missing as 0)."""
    aggs: list[pl.Expr] = []
    for key, part in components.parts.items():
        stem = components.columns[key]
        match = event_expr(part.event) & filter_expr(filters_of(part))
        value = (
            pl.col(part.column).cast(pl.Float64).fill_null(0.0)
            if isinstance(part, Sum)
            else pl.lit(1.0)
        )
        for suffix, period in periods.items():
            hit = match & period
            if isinstance(part, Conversion):
                aggs.append(hit.fill_null(False).any().cast(pl.Float64).alias(stem + suffix))
            else:
                aggs.append(pl.when(hit).then(value).otherwise(0.0).sum().alias(stem + suffix))
    return aggs


def check_parts(events: pl.LazyFrame, components: Components) -> None:
    """ValueError naming a filter column or value, or a summed column, the events cannot match."""
    schema = events.collect_schema()
    for part in components.parts.values():
        check_filters(schema, filters_of(part), "metrics")
        if isinstance(part, Sum) and part.column not in schema:
            raise ValueError(f"metrics: the events have no column {part.column!r} to sum")


def winsorized(
    frame: pl.LazyFrame, components: Components, percentile: float | None
) -> pl.LazyFrame:
    """Cap each count/sum component at its pooled (all variants) percentile after exposure.

    The pre-period covariate is capped at the same value, the metric's cap, as GrowthBook does
    (its covariate is ``LEAST(cap, value)`` with the cap computed on the experiment period).
    """
    stems = components.capped
    if percentile is None or not stems:
        return frame
    caps = [pl.col(s).quantile(percentile, interpolation="linear").alias(f"{s}_cap") for s in stems]
    return (
        frame.with_columns(caps)
        .with_columns(
            pl.col(s + suffix).clip(upper_bound=pl.col(f"{s}_cap"))
            for s in stems
            for suffix in ("", "_pre")
        )
        .drop(f"{s}_cap" for s in stems)
    )


def variant_sums(
    frame: pl.LazyFrame, metrics: Sequence[Metric], components: Components, keys: list[str]
) -> pl.DataFrame:
    """Per group: users (``n``) and, for every metric ``i``, the sums its sufficient statistics
    need (``m{i}_y``, ``m{i}_y2``, ``m{i}_x``… or, for a ratio, ``m{i}_num``, ``m{i}_den``…)."""
    aggs: list[pl.Expr] = [pl.len().alias("n")]
    for i, metric in enumerate(metrics):
        if isinstance(metric, Ratio):
            num = pl.col(components.column(metric.numerator))
            den = pl.col(components.column(metric.denominator))
            aggs += [
                num.sum().alias(f"m{i}_num"),
                (num * num).sum().alias(f"m{i}_num2"),
                den.sum().alias(f"m{i}_den"),
                (den * den).sum().alias(f"m{i}_den2"),
                (num * den).sum().alias(f"m{i}_numden"),
            ]
        else:
            y = pl.col(components.column(metric))
            x = pl.col(components.column(metric) + "_pre")
            aggs += [
                y.sum().alias(f"m{i}_y"),
                (y * y).sum().alias(f"m{i}_y2"),
                x.sum().alias(f"m{i}_x"),
                (x * x).sum().alias(f"m{i}_x2"),
                (x * y).sum().alias(f"m{i}_xy"),
            ]
    return frame.group_by(keys).agg(aggs).collect()


def typed_sums(frame: pl.DataFrame) -> pl.DataFrame:
    """:func:`variant_sums`' frame with one type per column whichever back end made it (a
    database driver picks its own integer widths, also for an empty result)."""
    casts = []
    for name in frame.columns:
        if name in ("_seg", "variant"):
            casts.append(pl.col(name).cast(pl.String))
        elif name == "n":
            casts.append(pl.col(name).cast(pl.Int64))
        else:
            casts.append(pl.col(name).cast(pl.Float64))
    return frame.with_columns(casts)


def stats_of(row: Mapping[str, Any], i: int, metric: Metric) -> Stats | RatioStats:
    """Metric ``i``'s sufficient statistics from one group's :func:`variant_sums` row."""
    n = int(row.get("n") or 0)
    if isinstance(metric, Ratio):
        return RatioStats(
            n,
            row.get(f"m{i}_num") or 0.0,
            row.get(f"m{i}_num2") or 0.0,
            row.get(f"m{i}_den") or 0.0,
            row.get(f"m{i}_den2") or 0.0,
            row.get(f"m{i}_numden") or 0.0,
        )
    return Stats(
        n,
        row.get(f"m{i}_y") or 0.0,
        row.get(f"m{i}_y2") or 0.0,
        row.get(f"m{i}_x") or 0.0,
        row.get(f"m{i}_x2") or 0.0,
        row.get(f"m{i}_xy") or 0.0,
    )
