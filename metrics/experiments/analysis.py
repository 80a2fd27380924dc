"""From raw events to experiment results: metrics declared as data, counted per user, compared.

One pass of Polars: the experiment's assignments are joined to the events, each user's metric is
counted from their first exposure on (optionally within a window) and, for CUPED, over the same
length of time before it; users are grouped by variant into sufficient statistics, which
:func:`metrics.experiments.compare` turns into effects.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from metrics._common import (
    as_lazy,
    check_choice,
    check_filters,
    check_tz,
    event_expr,
    filter_expr,
)
from metrics.experiments.design import CORRECTIONS, adjust_p_values, srm
from metrics.experiments.statistics import (
    METHODS,
    Comparison,
    RatioStats,
    Stats,
    compare,
    per_user_std,
)
from metrics.warehouse import Relation, pushdown

Filters = Mapping[str, Any] | None


# --- metric definitions (a closed set of kinds) ---------------------------------------------------


@dataclass(frozen=True)
class Conversion:
    """Share of users who did ``event`` at least once after exposure (a rate, 0 or 1 per user)."""

    event: str
    filters: Filters = None
    name: str | None = None
    inverse: bool = False

    @property
    def label(self) -> str:
        return self.name or f"{self.event} conversion"


@dataclass(frozen=True)
class Count:
    """Average number of times a user did ``event`` after exposure (0 for those who never did)."""

    event: str
    filters: Filters = None
    name: str | None = None
    inverse: bool = False

    @property
    def label(self) -> str:
        return self.name or f"{self.event} per user"


@dataclass(frozen=True)
class Sum:
    """Average per user of ``column`` summed over the user's ``event`` after exposure (revenue)."""

    event: str
    column: str = "revenue"
    filters: Filters = None
    name: str | None = None
    inverse: bool = False

    @property
    def label(self) -> str:
        return self.name or f"{self.column} per user"


@dataclass(frozen=True)
class Ratio:
    """Total of one per-user quantity over the total of another (revenue per purchase).

    Counted per user and compared with the delta method, the user being the unit of randomisation.
    """

    numerator: Conversion | Count | Sum
    denominator: Conversion | Count | Sum
    name: str | None = None
    inverse: bool = False

    @property
    def label(self) -> str:
        return self.name or f"{self.numerator.label} / {self.denominator.label}"


Metric = Conversion | Count | Sum | Ratio
METRIC_KINDS: dict[type, str] = {
    Conversion: "proportion",
    Count: "mean",
    Sum: "mean",
    Ratio: "ratio",
}

#: Columns of :func:`analyze`'s result, in order ("segment" comes first when requested).
RESULT_COLUMNS: tuple[str, ...] = (
    "metric",
    "variant",
    "is_control",
    "users",
    "mean",
    "std",
    "control_mean",
    "absolute_effect",
    "absolute_ci_low",
    "absolute_ci_high",
    "p_value_absolute",
    "relative_effect",
    "relative_ci_low",
    "relative_ci_high",
    "p_value",
    "p_value_adjusted",
    "significant",
    "chance_to_win",
    "risk_control",
    "risk_treatment",
    "verdict",
    "status",
    "kind",
    "method",
    "theta",
    "srm_p_value",
    "srm_mismatch",
    "excluded_users",
    "absolute_ci",
    "relative_ci",
)


def _components(metric: Metric) -> list[Conversion | Count | Sum]:
    return [metric.numerator, metric.denominator] if isinstance(metric, Ratio) else [metric]


def _key(part: Conversion | Count | Sum) -> tuple:
    filters = tuple(sorted((k, repr(v)) for k, v in (part.filters or {}).items()))
    column = part.column if isinstance(part, Sum) else None
    return (type(part).__name__, part.event, column, filters)


MetricSpec = Metric | str | Mapping[str, Any]


def metric_from(spec: MetricSpec) -> Metric:
    """A metric definition from a dataclass, an event name (its conversion) or a mapping.

    Mappings name the kind: ``{"kind": "conversion" | "count" | "sum" | "ratio", "event": ...,
    "column": ..., "numerator": {...}, "denominator": {...}, "name": ..., "filters": ...,
    "inverse": ...}``, so metrics can be declared as data (in TOML or JSON).
    """
    if isinstance(spec, Conversion | Count | Sum | Ratio):
        return spec
    if isinstance(spec, str):
        if not spec:
            raise ValueError("metrics: an event name cannot be empty")
        return Conversion(spec, name=spec)
    if isinstance(spec, Mapping):
        fields = dict(spec)
        kind = str(fields.pop("kind", fields.pop("type", "conversion"))).lower()
        builders: dict[str, type] = {"conversion": Conversion, "count": Count, "sum": Sum}
        try:
            if kind == "ratio":
                numerator = metric_from(fields.pop("numerator"))
                denominator = metric_from(fields.pop("denominator"))
                if isinstance(numerator, Ratio) or isinstance(denominator, Ratio):
                    raise ValueError("metrics: a ratio's parts cannot be ratios themselves")
                return Ratio(numerator, denominator, **fields)
            if kind not in builders:
                raise ValueError(
                    f"metrics: kind must be conversion, count, sum or ratio, not {kind!r}"
                )
            return builders[kind](**fields)  # type: ignore[no-any-return]
        except (KeyError, TypeError) as exc:
            raise ValueError(
                f"metrics: {dict(spec)!r} is not a valid {kind} metric ({exc})"
            ) from exc
    raise ValueError(
        f"metrics: {spec!r} is not a Conversion, Count, Sum or Ratio definition, "
        "an event name, or a mapping"
    )


def _check_metrics(metrics: MetricSpec | Sequence[MetricSpec]) -> list[Metric]:
    if isinstance(metrics, str | Mapping | Conversion | Count | Sum | Ratio):
        listed = [metric_from(metrics)]  # type: ignore[arg-type]
    else:
        listed = [metric_from(m) for m in metrics]
    if not listed:
        raise ValueError("metrics: give at least one metric (Conversion, Count, Sum or Ratio)")
    labels = [m.label for m in listed]
    duplicated = sorted({lab for lab in labels if labels.count(lab) > 1})
    if duplicated:
        raise ValueError(f"metrics: two metrics share the name {duplicated}; give them names")
    return listed


def _window(value: float | dt.timedelta | None, name: str) -> dt.timedelta | None:
    if value is None:
        return None
    span = value if isinstance(value, dt.timedelta) else dt.timedelta(days=float(value))
    if span <= dt.timedelta(0):
        raise ValueError(f"{name} must be a positive number of days, not {value!r}")
    return span


# --- per-user aggregation ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """What the one pass over the events computes: a column per metric component and period."""

    parts: dict[tuple, Conversion | Count | Sum]  # component key -> definition
    columns: dict[tuple, str]  # component key -> column stem ("c0", "c1", ...)

    @classmethod
    def of(cls, metrics: list[Metric]) -> _Plan:
        parts: dict[tuple, Conversion | Count | Sum] = {}
        for metric in metrics:
            for part in _components(metric):
                parts.setdefault(_key(part), part)
        return cls(parts, {key: f"c{i}" for i, key in enumerate(parts)})

    def column(self, part: Conversion | Count | Sum) -> str:
        return self.columns[_key(part)]


def _clean_assignments(
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


def _user_values(
    events: pl.DataFrame | pl.LazyFrame,
    users: pl.LazyFrame,
    plan: _Plan,
    *,
    window: dt.timedelta | None,
    pre_period: dt.timedelta,
    end: dt.datetime | None,
    segment: str | None,
    segment_from_events: bool,
) -> pl.LazyFrame:
    """Each clean user's metric components after exposure (``c0``…) and before it (``c0_pre``…)."""
    lf = as_lazy(events)
    _check_parts(lf, plan)
    needed = {"user_id", "event", "timestamp"}
    for part in plan.parts.values():
        needed.update((part.filters or {}).keys())
        if isinstance(part, Sum):
            needed.add(part.column)
    if segment_from_events and segment is not None:
        needed.add(segment)
    lf = lf.select(sorted(needed))
    if not segment_from_events:
        names = sorted({part.event for part in plan.parts.values()})
        lf = lf.filter(pl.col("event").is_in(names))
    if end is not None:
        lf = lf.filter(pl.col("timestamp") <= end)
    # Nothing before the earliest pre-period can count: prune it early (pushed into Parquet scans).
    earliest = users.select(pl.col("exposure").min()).collect().item()
    if earliest is not None:
        lf = lf.filter(pl.col("timestamp") >= earliest - pre_period)
    joined = lf.join(users.select("user_id", "exposure"), on="user_id", how="inner")
    ts, exposure = pl.col("timestamp"), pl.col("exposure")
    post = ts >= exposure
    if window is not None:
        # GrowthBook: metric time <= exposure + delay + window; the window's last instant counts.
        post = post & (ts <= exposure + window)
    pre = (ts < exposure) & (ts >= exposure - pre_period)
    aggs: list[pl.Expr] = []
    for key, part in plan.parts.items():
        stem = plan.columns[key]
        match = event_expr(part.event) & filter_expr(part.filters)
        value = (
            pl.col(part.column).cast(pl.Float64).fill_null(0.0)
            if isinstance(part, Sum)
            else pl.lit(1.0)
        )
        for suffix, period in (("", post), ("_pre", pre)):
            hit = match & period
            if isinstance(part, Conversion):
                aggs.append(hit.fill_null(False).any().cast(pl.Float64).alias(stem + suffix))
            else:
                aggs.append(pl.when(hit).then(value).otherwise(0.0).sum().alias(stem + suffix))
    if segment_from_events and segment is not None:
        aggs.append(
            pl.col(segment).sort_by("timestamp").drop_nulls().first().alias("_segment_from_events")
        )
    per_user = joined.group_by("user_id").agg(aggs)
    value_columns = [plan.columns[k] + s for k in plan.parts for s in ("", "_pre")]
    return users.join(per_user, on="user_id", how="left").with_columns(
        pl.col(value_columns).fill_null(0.0)
    )


def _check_parts(events: pl.LazyFrame, plan: _Plan) -> None:
    """ValueError naming a filter column or value, or a summed column, the events cannot match."""
    schema = events.collect_schema()
    for part in plan.parts.values():
        check_filters(schema, part.filters, "metrics")
        if isinstance(part, Sum) and part.column not in schema:
            raise ValueError(f"metrics: the events have no column {part.column!r} to sum")


def _capped_stems(plan: _Plan) -> list[str]:
    """The components winsorization caps: counts and sums (a conversion is 0 or 1 already)."""
    return [
        plan.columns[key] for key, part in plan.parts.items() if not isinstance(part, Conversion)
    ]


def _winsorized(frame: pl.LazyFrame, plan: _Plan, percentile: float | None) -> pl.LazyFrame:
    """Cap each count/sum component at its pooled (all variants) percentile after exposure.

    The pre-period covariate is capped at the same value, the metric's cap, as GrowthBook does
    (its covariate is ``LEAST(cap, value)`` with the cap computed on the experiment period).
    """
    if percentile is None:
        return frame
    stems = _capped_stems(plan)
    if not stems:
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


def _sums(frame: pl.LazyFrame, metrics: list[Metric], plan: _Plan, keys: list[str]) -> pl.DataFrame:
    """Per group: users and, for every metric, the sums its sufficient statistics need."""
    aggs: list[pl.Expr] = [pl.len().alias("n")]
    for i, metric in enumerate(metrics):
        if isinstance(metric, Ratio):
            num = pl.col(plan.column(metric.numerator))
            den = pl.col(plan.column(metric.denominator))
            aggs += [
                num.sum().alias(f"m{i}_num"),
                (num * num).sum().alias(f"m{i}_num2"),
                den.sum().alias(f"m{i}_den"),
                (den * den).sum().alias(f"m{i}_den2"),
                (num * den).sum().alias(f"m{i}_numden"),
            ]
        else:
            y = pl.col(plan.column(metric))
            x = pl.col(plan.column(metric) + "_pre")
            aggs += [
                y.sum().alias(f"m{i}_y"),
                (y * y).sum().alias(f"m{i}_y2"),
                x.sum().alias(f"m{i}_x"),
                (x * x).sum().alias(f"m{i}_x2"),
                (x * y).sum().alias(f"m{i}_xy"),
            ]
    return frame.group_by(keys).agg(aggs).collect()


def _stats(row: dict[str, Any], i: int, metric: Metric) -> Stats | RatioStats:
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


def _empty_result(segment: str | None) -> pl.DataFrame:
    schema: dict[str, pl.DataType] = {
        "metric": pl.String(),
        "variant": pl.String(),
        "is_control": pl.Boolean(),
        "users": pl.Int64(),
        "significant": pl.Boolean(),
        "verdict": pl.String(),
        "status": pl.String(),
        "kind": pl.String(),
        "method": pl.String(),
        "srm_mismatch": pl.Boolean(),
        "excluded_users": pl.Int64(),
        "absolute_ci": pl.List(pl.Float64()),
        "relative_ci": pl.List(pl.Float64()),
    }
    columns = {c: schema.get(c, pl.Float64()) for c in RESULT_COLUMNS}
    if segment is not None:
        columns = {"segment": pl.String(), **columns}
    return pl.DataFrame(schema=columns)


@dataclass(frozen=True)
class AnalyzeQuery:
    """One :func:`analyze` call, checked: what both back ends (Polars, SQL) compute.

    The reduction (clean users, per-user values, winsorization, per-variant sums) is compiled from
    it twice, by :func:`analyze` for Polars and by ``metrics.warehouse.experiments`` for SQL; the
    statistics that follow are one function, :func:`analysis_answer`, for both.
    """

    experiment: str
    metrics: tuple[Metric, ...]
    control: str = "control"
    window: dt.timedelta | None = None
    winsorize: float | None = None
    segment: str | None = None
    method: str = "frequentist"
    alpha: float = 0.05
    cuped: bool = False
    pre_period: dt.timedelta = dt.timedelta(days=14)
    sequential_tuning: float = 5000
    prior_sd: float | None = None
    weights: tuple[tuple[str, float], ...] | None = None
    srm_threshold: float = 0.001
    correction: str | None = None
    end: dt.datetime | None = None

    @property
    def plan(self) -> _Plan:
        return _Plan.of(list(self.metrics))

    @classmethod
    def build(
        cls,
        *,
        experiment: str,
        metrics: MetricSpec | Sequence[MetricSpec],
        control: str = "control",
        window: float | dt.timedelta | None = None,
        winsorize: float | None = None,
        segment: str | None = None,
        method: Literal["frequentist", "bayesian", "sequential"] = "frequentist",
        alpha: float = 0.05,
        cuped: bool = False,
        pre_period: float | dt.timedelta = 14,
        sequential_tuning: float = 5000,
        prior_sd: float | None = None,
        weights: Mapping[str, float] | None = None,
        srm_threshold: float = 0.001,
        correction: Literal["holm", "bh"] | None = None,
        end: dt.datetime | None = None,
    ) -> AnalyzeQuery:
        """A checked query; ``ValueError`` names the argument that is wrong."""
        listed = _check_metrics(metrics)
        check_choice("method", method, METHODS)
        if correction is not None:
            check_choice("correction", correction, CORRECTIONS)
        if winsorize is not None and not 0 < winsorize <= 1:
            raise ValueError(
                f"winsorize must be a percentile in (0, 1], e.g. 0.99, not {winsorize!r}"
            )
        span = _window(window, "window")
        pre_span = _window(pre_period, "pre_period")
        assert pre_span is not None
        if end is not None and end.tzinfo is None:
            raise ValueError("end must be a timezone-aware datetime (UTC)")
        return cls(
            experiment=experiment,
            metrics=tuple(listed),
            control=control,
            window=span,
            winsorize=winsorize,
            segment=segment,
            method=method,
            alpha=alpha,
            cuped=cuped,
            pre_period=pre_span,
            sequential_tuning=sequential_tuning,
            prior_sd=prior_sd,
            weights=tuple(weights.items()) if weights is not None else None,
            srm_threshold=srm_threshold,
            correction=correction,
            end=end,
        )


def _analyze_plan(events: Any, assignments: Any, **kwargs: Any) -> Any:
    from metrics.warehouse import experiments as sql_experiments

    return sql_experiments.analyze_plan(events, assignments, AnalyzeQuery.build(**kwargs))


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
    method: Literal["frequentist", "bayesian", "sequential"] = "frequentist",
    alpha: float = 0.05,
    cuped: bool = False,
    pre_period: float | dt.timedelta = 14,
    sequential_tuning: float = 5000,
    prior_sd: float | None = None,
    weights: Mapping[str, float] | None = None,
    srm_threshold: float = 0.001,
    correction: Literal["holm", "bh"] | None = None,
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
    per-variant sums.
    """
    query = AnalyzeQuery.build(
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
    users = _clean_assignments(assignments, experiment, query.end)
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
        _require_experiment(assignments, experiment)
        return _empty_result(segment)
    excluded = int(counts["multi"][0])
    clean = users.filter(pl.col("variant_count") == 1)

    plan = query.plan
    table = _user_values(
        events,
        clean,
        plan,
        window=query.window,
        pre_period=query.pre_period,
        end=query.end,
        segment=segment,
        segment_from_events=segment_from_events,
    )
    if segment is not None:
        source = "_segment_from_events" if segment_from_events else "_segment"
        table = table.with_columns(pl.col(source).cast(pl.String).fill_null("(none)").alias("_seg"))
    table = _winsorized(table, plan, winsorize)
    keys = (["_seg"] if segment is not None else []) + ["variant"]
    sums = _sums(table, list(query.metrics), plan, keys)
    return analysis_answer(query, sums, excluded)


def unknown_experiment(experiment: str, known: Sequence[str]) -> ValueError:
    """The error for an experiment the assignments do not hold, listing (some of) those they do."""
    names = sorted({k for k in known if k is not None})
    shown = ", ".join(repr(k) for k in names[:20]) + (", …" if len(names) > 20 else "")
    return ValueError(
        f"experiment {experiment!r} is not in the assignments (experiments: {shown or 'none'})"
    )


def _require_experiment(assignments: pl.DataFrame | pl.LazyFrame, experiment: str) -> None:
    """``ValueError`` (see :func:`unknown_experiment`) when no assignment names ``experiment``."""
    lf = as_lazy(assignments)
    if lf.filter(pl.col("experiment") == experiment).select(pl.len()).collect().item():
        return
    known = lf.select(pl.col("experiment").unique()).collect().to_series().to_list()
    raise unknown_experiment(experiment, known)


def analysis_answer(query: AnalyzeQuery, sums: pl.DataFrame, excluded: int) -> pl.DataFrame:
    """:func:`analyze`'s frame from the per-variant sums (``_seg``?, ``variant``, ``n``, ``m0_y``…).

    Shared by both back ends: only these few rows come from Polars or from the engine.
    """
    segment = query.segment
    control = query.control
    experiment = query.experiment
    listed = list(query.metrics)
    weights = dict(query.weights) if query.weights is not None else None
    method = query.method
    variants = sorted(sums["variant"].unique().to_list())
    if control not in variants:
        raise ValueError(
            f"control {control!r} is not a variant of experiment {experiment!r} "
            f"(variants: {', '.join(map(repr, variants))})"
        )
    treatments = [v for v in variants if v != control]

    groups = sorted(sums["_seg"].unique().to_list()) if segment is not None else [None]
    rows: list[dict[str, Any]] = []
    for group in groups:
        part = sums if group is None else sums.filter(pl.col("_seg") == group)
        by_variant = {r["variant"]: r for r in part.iter_rows(named=True)}
        srm_p, srm_mismatch = _srm_check(by_variant, variants, weights, query.srm_threshold)
        for i, metric in enumerate(listed):
            kind = METRIC_KINDS[type(metric)]
            base = _stats(by_variant.get(control, {}), i, metric)
            common = {
                "metric": metric.label,
                "kind": kind,
                "method": method,
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
                    "std": per_user_std(base, kind),  # type: ignore[arg-type]
                    "control_mean": base.mean,
                    "status": "control",
                }
            )
            for variant in treatments:
                arm = _stats(by_variant.get(variant, {}), i, metric)
                result = compare(
                    base,
                    arm,
                    kind=kind,  # type: ignore[arg-type]
                    method=method,  # type: ignore[arg-type]
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
                    "std": per_user_std(arm, kind),  # type: ignore[arg-type]
                }
                rows.append({**common, **flat})

    if query.correction is not None:
        treated = [i for i, r in enumerate(rows) if not r["is_control"]]
        adjusted = adjust_p_values(
            [rows[i].get("p_value") for i in treated],
            query.correction,  # type: ignore[arg-type]
        )
        for i, p in zip(treated, adjusted, strict=True):
            rows[i]["p_value_adjusted"] = p
    columns = (["segment"] if segment is not None else []) + list(RESULT_COLUMNS)
    empty = _empty_result(segment)
    return pl.DataFrame(
        [{c: r.get(c) for c in columns} for r in rows], schema=empty.schema, orient="row"
    )


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


def comparison_row(result: Comparison) -> dict[str, Any]:
    """A comparison flattened into :data:`RESULT_COLUMNS`' names (intervals as low/high)."""
    abs_ci = result.absolute_ci or (None, None)
    rel_ci = result.relative_ci or (None, None)
    return {
        "mean": result.treatment_mean,
        "control_mean": result.control_mean,
        "absolute_effect": result.absolute_effect,
        "absolute_ci_low": abs_ci[0],
        "absolute_ci_high": abs_ci[1],
        "p_value_absolute": result.p_value_absolute,
        "relative_effect": result.relative_effect,
        "relative_ci_low": rel_ci[0],
        "relative_ci_high": rel_ci[1],
        "p_value": result.p_value,
        "significant": result.significant,
        "chance_to_win": result.chance_to_win,
        "risk_control": result.risk_control,
        "risk_treatment": result.risk_treatment,
        "verdict": result.verdict,
        "status": result.status,
        "theta": result.theta,
        "absolute_ci": list(result.absolute_ci) if result.absolute_ci else None,
        "relative_ci": list(result.relative_ci) if result.relative_ci else None,
    }


# --- what the experiment looks like --------------------------------------------------------------


def _listing_plan(assignments: Any) -> Any:
    from metrics.warehouse import experiments as sql_experiments

    return sql_experiments.listing_plan(assignments)


@pushdown(_listing_plan)
def list_experiments(assignments: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Every experiment in the assignments: its variants, users and first/last exposure."""
    return (
        as_lazy(assignments)
        .group_by("experiment")
        .agg(
            pl.col("variant").unique().sort().alias("variants"),
            pl.col("user_id").n_unique().alias("users"),
            pl.col("timestamp").min().alias("first_exposure"),
            pl.col("timestamp").max().alias("last_exposure"),
        )
        .sort("experiment")
        .collect()
    )


def listing_answer(per_experiment: pl.DataFrame, arms: pl.DataFrame) -> pl.DataFrame:
    """:func:`list_experiments`' frame from the engine's rows: (experiment, users, first and last
    exposure in µs) and the distinct (experiment, variant) pairs."""
    variants = (
        arms.lazy()
        .select(pl.col("experiment").cast(pl.String), pl.col("variant").cast(pl.String))
        .group_by("experiment")
        .agg(pl.col("variant").unique().sort().alias("variants"))
    )
    exposure = {
        name: pl.col(f"{name.split('_')[0]}_us")
        .cast(pl.Int64)
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("UTC")
        .alias(name)
        for name in ("first_exposure", "last_exposure")
    }
    return (
        per_experiment.lazy()
        .select(
            pl.col("experiment").cast(pl.String),
            pl.col("users").cast(pl.UInt32),
            exposure["first_exposure"],
            exposure["last_exposure"],
        )
        .join(variants, on="experiment", how="left")
        .select("experiment", "variants", "users", "first_exposure", "last_exposure")
        .sort("experiment")
        .collect()
    )


def _counts_plan(assignments: Any, *, experiment: str, tz: str = "UTC") -> Any:
    from metrics.warehouse import experiments as sql_experiments

    check_tz(tz)
    return sql_experiments.counts_plan(assignments, experiment, tz)


@pushdown(_counts_plan)
def assignment_counts(
    assignments: pl.DataFrame | pl.LazyFrame, *, experiment: str, tz: str = "UTC"
) -> pl.DataFrame:
    """Users per variant (those seen in several variants apart, as variant "(several)"), with the
    days they were exposed over and the average number of new users per day."""
    check_tz(tz)
    users = _clean_assignments(assignments, experiment, None).with_columns(
        pl.when(pl.col("variant_count") > 1)
        .then(pl.lit("(several)"))
        .otherwise(pl.col("variant"))
        .alias("variant"),
        pl.col("exposure").dt.convert_time_zone(tz).dt.date().alias("day"),
    )
    counts = (
        users.group_by("variant")
        .agg(
            pl.len().alias("users"),
            pl.col("day").min().alias("first_day"),
            pl.col("day").max().alias("last_day"),
        )
        .collect()
    )
    if counts.height == 0:
        _require_experiment(assignments, experiment)
    return counts_answer(counts)


def counts_answer(counts: pl.DataFrame) -> pl.DataFrame:
    """:func:`assignment_counts`' frame from users, first and last day per variant (both paths)."""
    return (
        counts.lazy()
        .with_columns(
            ((pl.col("last_day") - pl.col("first_day")).dt.total_days() + 1).alias("days"),
        )
        .with_columns((pl.col("users") / pl.col("days")).alias("users_per_day"))
        .sort("variant")
        .collect()
    )


# --- the effect day by day -------------------------------------------------------------------


def _check_control(control: str, experiment: str, variants: list[str]) -> None:
    if control not in variants:
        raise ValueError(
            f"control {control!r} is not a variant of experiment {experiment!r} "
            f"(variants: {', '.join(map(repr, variants))})"
        )
