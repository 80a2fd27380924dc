"""Vision and targets: is the product on track to hit the targets its vision sets? (docs/targets.md)

The vision file (``vision.toml``) states the product, its vision, its North Star and its KPIs.
Each KPI names one metric from a closed list of kinds with that kind's parameters, a target, a
direction (up or down is good), a deadline and an owner. This module is the family's public face;
the work is done in:

- :mod:`metrics.vision`: :func:`load_vision` reads the file into frozen dataclasses and reports
  every problem at once (:class:`VisionError`);
- :mod:`metrics.kinds`: the registry of metric kinds (:data:`METRICS`): each kind's parameters,
  unit, whether it is a rate, its label and how its series is computed (by calling the metric
  families' public functions, so a KPI always agrees with the page that explains it);
- :mod:`metrics.judging`: a series judged against its target (value, previous, Theil–Sen trend,
  projection, needed pace, status ``met`` / ``on_track`` / ``at_risk`` / ``off_track`` /
  ``no_data``);
- :mod:`metrics.scorecard`: :func:`evaluate` and :func:`scorecard` (every KPI of the vision as of
  ``today``), :func:`kpi_series`, and :class:`KpiQuery`, one KPI's computation;
- :mod:`metrics.drivers`: :func:`explain`, what moved a KPI (volume × rate, segments).

Expected data situations are results (``no_data`` with a ``reason`` in plain words); ``today`` is
always a parameter, never the clock. Events may be a relation in an engine (docs/warehouse.md).
"""

from __future__ import annotations

from metrics.drivers import DRIVER_LOOKBACK, Drivers, explain, explain_of
from metrics.judging import (
    AT_RISK_MARGIN,
    MIN_TREND_POINTS,
    PERIOD_DAYS,
    SMOOTHING_DAYS,
    STATUSES,
    TREND_POINTS,
    Assessment,
    Status,
    assess,
    levels,
    theil_sen,
)
from metrics.kinds import (
    KIND_PARAMS,
    KINDS,
    METRICS,
    RATE_KINDS,
    MetricKind,
    MetricSpec,
    Unit,
    not_pushed_down,
)
from metrics.kpi_params import (
    ActiveUsers,
    Arpu,
    DauMau,
    EventCount,
    Experiment,
    FunnelConversion,
    Lifecycle,
    MetricParams,
    PayingUsers,
    Retention,
    Revenue,
)
from metrics.kpi_series import SERIES_SCHEMA, Events
from metrics.scorecard import (
    HISTORY_DAYS,
    SCORECARD_SCHEMA,
    SPARK_SCHEMA,
    KpiQuery,
    NotPushedDown,
    Scorecard,
    evaluate,
    kpi_series,
    kpi_series_of,
    scorecard,
)
from metrics.vision import (
    DIRECTIONS,
    METRIC_ALIASES,
    PARAM_ALIASES,
    Direction,
    Kpi,
    Vision,
    VisionError,
    load_vision,
    parse_vision,
)

__all__ = [
    "AT_RISK_MARGIN",
    "DIRECTIONS",
    "DRIVER_LOOKBACK",
    "HISTORY_DAYS",
    "KINDS",
    "KIND_PARAMS",
    "METRICS",
    "METRIC_ALIASES",
    "MIN_TREND_POINTS",
    "PARAM_ALIASES",
    "PERIOD_DAYS",
    "RATE_KINDS",
    "SCORECARD_SCHEMA",
    "SERIES_SCHEMA",
    "SMOOTHING_DAYS",
    "SPARK_SCHEMA",
    "STATUSES",
    "TREND_POINTS",
    "ActiveUsers",
    "Arpu",
    "Assessment",
    "DauMau",
    "Direction",
    "Drivers",
    "EventCount",
    "Events",
    "Experiment",
    "FunnelConversion",
    "Kpi",
    "KpiQuery",
    "Lifecycle",
    "MetricKind",
    "MetricParams",
    "MetricSpec",
    "NotPushedDown",
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
    "explain_of",
    "kpi_series",
    "kpi_series_of",
    "levels",
    "load_vision",
    "not_pushed_down",
    "parse_vision",
    "scorecard",
    "theil_sen",
]
