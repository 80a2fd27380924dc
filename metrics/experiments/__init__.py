"""Experiments: did the change work? A/B statistics from typed-in numbers or from raw events.

GrowthBook's definitions (its open-source stats engine, gbstats 0.8): per-variant sufficient
statistics (:class:`Stats`, :class:`RatioStats`), :func:`compare` for one treatment against control
(frequentist Welch t, always-valid sequential, or Bayesian), :func:`srm` for the assignment split,
:func:`adjust_p_values` for many variants × metrics, :func:`sample_size` and friends for
planning, and :func:`analyze` / :func:`cumulative_effect` from raw events. docs/experiments.md
explains each method.
"""

from metrics.experiments.analysis import (
    METRIC_KINDS,
    RESULT_COLUMNS,
    Conversion,
    Count,
    Metric,
    Ratio,
    Sum,
    analyze,
    assignment_counts,
    comparison_row,
    list_experiments,
    metric_from,
)
from metrics.experiments.cumulative import cumulative_effect
from metrics.experiments.design import (
    SrmResult,
    adjust_p_values,
    minimum_detectable_effect,
    sample_size,
    srm,
    test_duration_days,
)
from metrics.experiments.statistics import (
    KINDS,
    METHODS,
    STATUS_MESSAGES,
    Comparison,
    RatioStats,
    Stats,
    compare,
    per_user_std,
    sequential_rho,
)

__all__ = [
    "KINDS",
    "METHODS",
    "METRIC_KINDS",
    "RESULT_COLUMNS",
    "STATUS_MESSAGES",
    "Comparison",
    "Conversion",
    "Count",
    "Metric",
    "Ratio",
    "RatioStats",
    "SrmResult",
    "Stats",
    "Sum",
    "adjust_p_values",
    "analyze",
    "assignment_counts",
    "compare",
    "comparison_row",
    "cumulative_effect",
    "list_experiments",
    "metric_from",
    "minimum_detectable_effect",
    "per_user_std",
    "sample_size",
    "sequential_rho",
    "srm",
    "test_duration_days",
]
