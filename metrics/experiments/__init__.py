"""Experiments: did the change work? A/B statistics from typed-in numbers or from raw events.

GrowthBook's definitions (its open-source stats engine, gbstats 0.8): per-variant sufficient
statistics (:class:`Stats`, :class:`RatioStats`), :func:`compare` for one treatment against control
(frequentist Welch t, always-valid sequential, or Bayesian), :func:`srm` for the assignment split,
:func:`adjust_p_values` for many variants × metrics, :func:`sample_size` and friends for
planning (:func:`plan` and :func:`need` as results with a status code, :func:`typed_in` for arms
typed in by hand), and :func:`analyze` / :func:`cumulative_effect` from raw events, also as
query objects (:class:`ExperimentQuery` with :func:`analyze_of`, :class:`CumulativeQuery` with
:func:`cumulative_effect_of`) that carry the shared scope. docs/experiments.md explains each
method.

The modules: ``definitions`` (metric kinds, the result's columns), ``query`` (the query objects),
``aggregation`` (events to per-user values and per-variant sums), ``analysis`` and ``cumulative``
(the read-outs), ``listing`` (what the assignments hold), ``design`` (planning, SRM, corrections,
typed-in arms) and ``statistics`` (the tests on sufficient statistics).
"""

from metrics.experiments.analysis import (
    VariantSums,
    analysis_answer,
    analyze,
    analyze_of,
    variant_sums_of,
)
from metrics.experiments.cumulative import (
    DailySums,
    cumulative_answer,
    cumulative_effect,
    cumulative_effect_of,
    daily_sums_of,
)
from metrics.experiments.definitions import (
    METRIC_KINDS,
    RESULT_COLUMNS,
    Conversion,
    Count,
    Metric,
    MetricSpec,
    Ratio,
    Sum,
    comparison_row,
    metric_from,
)
from metrics.experiments.design import (
    CURVE_LIFTS,
    PLAN_PROBLEMS,
    Correction,
    Need,
    NeedStatus,
    Plan,
    PlanKind,
    PlanProblem,
    SrmResult,
    TypedArm,
    TypedCode,
    TypedIn,
    TypedProblem,
    adjust_p_values,
    minimum_detectable_effect,
    need,
    plan,
    sample_size,
    srm,
    test_duration_days,
    typed_in,
)
from metrics.experiments.listing import assignment_counts, list_experiments
from metrics.experiments.query import CumulativeQuery, ExperimentQuery
from metrics.experiments.statistics import (
    KINDS,
    METHODS,
    STATUS_MESSAGES,
    Comparison,
    Kind,
    Method,
    RatioStats,
    Stats,
    compare,
    per_user_std,
    sequential_rho,
)

__all__ = [
    "CURVE_LIFTS",
    "KINDS",
    "METHODS",
    "METRIC_KINDS",
    "PLAN_PROBLEMS",
    "RESULT_COLUMNS",
    "STATUS_MESSAGES",
    "Comparison",
    "Conversion",
    "Correction",
    "Count",
    "CumulativeQuery",
    "DailySums",
    "ExperimentQuery",
    "Kind",
    "Method",
    "Metric",
    "MetricSpec",
    "Need",
    "NeedStatus",
    "Plan",
    "PlanKind",
    "PlanProblem",
    "Ratio",
    "RatioStats",
    "SrmResult",
    "Stats",
    "Sum",
    "TypedArm",
    "TypedCode",
    "TypedIn",
    "TypedProblem",
    "VariantSums",
    "adjust_p_values",
    "analysis_answer",
    "analyze",
    "analyze_of",
    "assignment_counts",
    "compare",
    "comparison_row",
    "cumulative_answer",
    "cumulative_effect",
    "cumulative_effect_of",
    "daily_sums_of",
    "list_experiments",
    "metric_from",
    "minimum_detectable_effect",
    "need",
    "per_user_std",
    "plan",
    "sample_size",
    "sequential_rho",
    "srm",
    "test_duration_days",
    "typed_in",
    "variant_sums_of",
]
