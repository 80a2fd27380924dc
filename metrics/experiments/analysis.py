"""From raw events to experiment results: one row per metric × variant, compared with control.

One pass of Polars (:mod:`metrics.experiments.aggregation`): the experiment's assignments are
joined to the events the scope keeps, each user's metric is counted from their first exposure on
(optionally within a window) and, for CUPED, over the same length of time before it; users are
summed by variant into sufficient statistics, which :func:`analysis_answer` (shared with the SQL
path) turns into effects, SRM checks and corrections.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from metrics._common import as_lazy
from metrics.experiments.aggregation import (
    check_control,
    clean_assignments,
    require_experiment,
    stats_of,
    typed_sums,
    user_values,
    variant_sums,
    winsorized,
)
from metrics.experiments.definitions import (
    MetricSpec,
    comparison_row,
    kind_of,
    result_frame,
)
from metrics.experiments.design import Correction, adjust_p_values, srm
from metrics.experiments.query import ExperimentQuery
from metrics.experiments.statistics import Method, compare, per_user_std
from metrics.warehouse import experiments as sql_experiments
from metrics.warehouse import pushdown


def _analyze_plan(events: Any, assignments: Any, **kwargs: Any) -> Any:
    return sql_experiments.analyze_plan(
        events, assignments, ExperimentQuery.build(**kwargs), analysis_answer
    )


def _analyze_of_plan(events: Any, assignments: Any, query: ExperimentQuery) -> Any:
    return sql_experiments.analyze_plan(events, assignments, query, analysis_answer)


@pushdown(_analyze_plan)
def analyze(
    events: pl.DataFrame | pl.LazyFrame,
    assignments: pl.DataFrame | pl.LazyFrame,
    *,
    experiment: str,
    metrics: MetricSpec | Sequence[MetricSpec],
    control: str = "control",
    window: float | dt.timedelta | None = None,
    winsorize: float | None = None,
    segment: str | None = None,
    method: Method = "frequentist",
    alpha: float = 0.05,
    cuped: bool = False,
    pre_period: float | dt.timedelta = 14,
    sequential_tuning: float = 5000,
    prior_sd: float | None = None,
    weights: Mapping[str, float] | None = None,
    srm_threshold: float = 0.001,
    correction: Correction | None = None,
    end: dt.datetime | None = None,
) -> pl.DataFrame:
    """Did the experiment move each metric? One row per metric × variant (control rows included).

    Each user's metric counts their events from their first exposure on (within ``window`` days
    when given, its last instant included as in GrowthBook; up to ``end`` when given). Users
    assigned to several variants are counted in ``excluded_users`` and left out. ``winsorize``
    (e.g. 0.99) caps each user's count or sum at that pooled percentile. ``cuped`` uses the same
    metric over the ``pre_period`` days before exposure as covariate (not for ratio metrics),
    capped at the metric's cap when winsorizing. ``segment`` names a property: results come per
    value (taken from the assignments if they carry it, else from the user's first event that has
    it). The SRM check of the split against ``weights`` (equal by default) is on every row
    (``srm_p_value``, ``srm_mismatch``): read it before any lift. ``correction`` ("holm" or "bh")
    fills ``p_value_adjusted`` across all variants × metrics (× segments). An experiment the
    assignments do not hold is a ``ValueError`` listing those they do. ``events`` and
    ``assignments`` may be two relations on one connection: the engine then returns only the
    per-variant sums. :func:`analyze_of` takes the same call as an :class:`ExperimentQuery`.
    """
    query = ExperimentQuery.build(
        experiment=experiment,
        metrics=metrics,
        control=control,
        window=window,
        winsorize=winsorize,
        segment=segment,
        method=method,
        alpha=alpha,
        cuped=cuped,
        pre_period=pre_period,
        sequential_tuning=sequential_tuning,
        prior_sd=prior_sd,
        weights=weights,
        srm_threshold=srm_threshold,
        correction=correction,
        end=end,
    )
    return _analyzed(events, assignments, query)


@pushdown(_analyze_of_plan)
def analyze_of(
    events: pl.DataFrame | pl.LazyFrame,
    assignments: pl.DataFrame | pl.LazyFrame,
    query: ExperimentQuery,
) -> pl.DataFrame:
    """:func:`analyze` for a built :class:`ExperimentQuery`: the same frame, and the query's scope
    applied (events that do not match its property filters count for nobody; who is in the
    experiment stays everyone assigned)."""
    return _analyzed(events, assignments, query)


@dataclass(frozen=True)
class VariantSums:
    """What :func:`analyze_of` counts before any statistics: per (segment,) variant the users
    and the sums of each metric's parts (``_seg``?, ``variant``, ``n``, ``m0_y``…), sorted, and
    how many users were in several variants. ``sums`` is ``None`` when nobody is assigned."""

    sums: pl.DataFrame | None
    excluded: int


def _counting_plan(events: Any, assignments: Any, query: ExperimentQuery) -> Any:
    return sql_experiments.analyze_plan(events, assignments, query, _as_counted)


def _as_counted(query: ExperimentQuery, sums: pl.DataFrame | None, excluded: int) -> VariantSums:
    if sums is None:
        return VariantSums(None, excluded)
    keys = (["_seg"] if query.segment is not None else []) + ["variant"]
    return VariantSums(typed_sums(sums).sort(keys), excluded)


@pushdown(_counting_plan)
def variant_sums_of(
    events: pl.DataFrame | pl.LazyFrame,
    assignments: pl.DataFrame | pl.LazyFrame,
    query: ExperimentQuery,
) -> VariantSums:
    """:func:`analyze_of`'s counting: ``analysis_answer(query, counted.sums, counted.excluded)``
    is its frame.

    The counting reads only the query's :meth:`~ExperimentQuery.counting` fields, so the app
    counts once for every method, confidence, CUPED choice and correction
    (:func:`analysis_answer` then takes milliseconds)."""
    return _counted(events, assignments, query)


def _analyzed(
    events: pl.DataFrame | pl.LazyFrame,
    assignments: pl.DataFrame | pl.LazyFrame,
    query: ExperimentQuery,
) -> pl.DataFrame:
    counted = _counted(events, assignments, query)
    return analysis_answer(query, counted.sums, counted.excluded)


def _counted(
    events: pl.DataFrame | pl.LazyFrame,
    assignments: pl.DataFrame | pl.LazyFrame,
    query: ExperimentQuery,
) -> VariantSums:
    experiment, segment = query.experiment, query.segment
    users = clean_assignments(assignments, experiment, query.end)
    assignment_columns = as_lazy(assignments).collect_schema().names()
    segment_from_events = segment is not None and segment not in assignment_columns
    if segment is not None and not segment_from_events:
        seg_values = (
            as_lazy(assignments)
            .filter(pl.col("experiment") == experiment)
            .group_by("user_id")
            .agg(pl.col(segment).sort_by("timestamp").drop_nulls().first().alias("_segment"))
        )
        users = users.join(seg_values, on="user_id", how="left")
    users = users.collect().lazy()
    counts = users.select(
        pl.len().alias("all"), (pl.col("variant_count") > 1).sum().alias("multi")
    ).collect()
    if counts["all"][0] == 0:
        require_experiment(assignments, experiment)
        return VariantSums(None, 0)
    excluded = int(counts["multi"][0])
    clean = users.filter(pl.col("variant_count") == 1)

    components = query.components
    table = user_values(
        events,
        clean,
        components,
        scope=query.scope,
        window=query.window,
        pre_period=query.pre_period,
        end=query.end,
        segment=segment if segment_from_events else None,
    )
    if segment is not None:
        source = "_segment_from_events" if segment_from_events else "_segment"
        table = table.with_columns(pl.col(source).cast(pl.String).fill_null("(none)").alias("_seg"))
    table = winsorized(table, components, query.winsorize)
    keys = (["_seg"] if segment is not None else []) + ["variant"]
    sums = variant_sums(table, query.metrics, components, keys)
    return _as_counted(query, sums, excluded)


def analysis_answer(
    query: ExperimentQuery, sums: pl.DataFrame | None, excluded: int
) -> pl.DataFrame:
    """:func:`analyze`'s frame from the per-variant sums (``_seg``?, ``variant``, ``n``, ``m0_y``…);
    ``None``: nobody is assigned (an empty frame).

    Shared by both back ends: only these few rows come from Polars or from the engine.
    """
    segment, control = query.segment, query.control
    if sums is None:
        return result_frame([], segment)
    weights = dict(query.weights) if query.weights is not None else None
    variants = sorted(sums["variant"].unique().to_list())
    check_control(control, query.experiment, variants)
    treatments = [v for v in variants if v != control]

    groups = sorted(sums["_seg"].unique().to_list()) if segment is not None else [None]
    rows: list[dict[str, Any]] = []
    for group in groups:
        part = sums if group is None else sums.filter(pl.col("_seg") == group)
        by_variant = {r["variant"]: r for r in part.iter_rows(named=True)}
        srm_p, srm_mismatch = _srm_check(by_variant, variants, weights, query.srm_threshold)
        for i, metric in enumerate(query.metrics):
            kind = kind_of(metric)
            base = stats_of(by_variant.get(control, {}), i, metric)
            common: dict[str, Any] = {
                "metric": metric.label,
                "kind": kind,
                "method": query.method,
                "srm_p_value": srm_p,
                "srm_mismatch": srm_mismatch,
                "excluded_users": excluded,
            }
            if group is not None:
                common = {"segment": group, **common}
            rows.append(
                {
                    **common,
                    "variant": control,
                    "is_control": True,
                    "users": base.n,
                    "mean": base.mean,
                    "std": per_user_std(base, kind),
                    "control_mean": base.mean,
                    "status": "control",
                }
            )
            for variant in treatments:
                arm = stats_of(by_variant.get(variant, {}), i, metric)
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
                flat = {
                    **comparison_row(result),
                    "variant": variant,
                    "is_control": False,
                    "users": arm.n,
                    "std": per_user_std(arm, kind),
                }
                rows.append({**common, **flat})

    if query.correction is not None:
        treated = [i for i, r in enumerate(rows) if not r["is_control"]]
        adjusted = adjust_p_values([rows[i].get("p_value") for i in treated], query.correction)
        for i, p in zip(treated, adjusted, strict=True):
            rows[i]["p_value_adjusted"] = p
    return result_frame(rows, segment)


def _srm_check(
    by_variant: Mapping[str, Mapping[str, Any]],
    variants: list[str],
    weights: Mapping[str, float] | None,
    threshold: float,
) -> tuple[float | None, bool]:
    """SRM over the variants seen (and any the plan names): (p-value, mismatch); no test for one."""
    names = sorted(set(variants) | set(weights or {}))
    if len(names) < 2:
        return None, False
    observed = {v: int((by_variant.get(v) or {}).get("n") or 0) for v in names}
    planned = {v: float((weights or {}).get(v, 0.0 if weights else 1.0)) for v in names}
    check = srm(observed, planned, threshold=threshold)
    return check.p_value, check.mismatch
