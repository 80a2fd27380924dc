"""The experiments family's query objects: what one read-out of an experiment computes, checked.

:class:`ExperimentQuery` is one ``analyze`` call (the Experiments page builds it from its controls
and the sidebar's scope, and its cached adapter keys on it); :class:`CumulativeQuery` is one
``cumulative_effect`` call, one metric's effect day by day, which :meth:`ExperimentQuery.over_time`
derives from it. Both carry the shared :class:`~metrics.scope.Scope`: its property filters drop
the events that do not match before any user's value is counted, and its zone says which day an
event is on. Experiments use their whole run, so a scope's dates do not apply (``end`` says up to
when to read instead) and the query keeps only the zone and the filters. Each query is compiled
twice, to a Polars plan (``analysis`` / ``cumulative``) and to SQL
(``metrics.warehouse.experiments``); the statistics that follow are one function for both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from metrics._common import check_choice
from metrics.experiments.definitions import (
    Components,
    Metric,
    MetricSpec,
    check_metrics,
    days,
)
from metrics.experiments.design import CORRECTIONS, Correction
from metrics.experiments.statistics import METHODS, Method
from metrics.scope import FilterItems, Scope

#: The fields both queries share that only the statistics read, at their defaults: a counting
#: query (``counting()``) has these, so the queries that differ only there share one counting.
_STATISTICS_DEFAULTS: dict[str, Any] = {
    "control": "control",
    "method": "frequentist",
    "alpha": 0.05,
    "cuped": False,
    "sequential_tuning": 5000,
    "prior_sd": None,
}


def _experiment_scope(scope: Scope | None) -> Scope:
    """The scope as an experiment reads it: its zone and property filters (an experiment is read
    over its whole run, so a scope's dates do not apply and do not key the query)."""
    if scope is None:
        return Scope()
    return scope.undated()


@dataclass(frozen=True)
class ExperimentQuery:
    """One :func:`~metrics.experiments.analyze` call, checked and hashable.

    The fields mirror ``analyze``'s keywords (spans as timedeltas, ``weights`` as pairs), plus
    ``scope``: the property filters every metric's events must match and the reporting zone.
    """

    experiment: str
    metrics: tuple[Metric, ...]
    control: str = "control"
    window: dt.timedelta | None = None
    winsorize: float | None = None
    segment: str | None = None
    method: Method = "frequentist"
    alpha: float = 0.05
    cuped: bool = False
    pre_period: dt.timedelta = dt.timedelta(days=14)
    sequential_tuning: float = 5000
    prior_sd: float | None = None
    weights: tuple[tuple[str, float], ...] | None = None
    srm_threshold: float = 0.001
    correction: Correction | None = None
    end: dt.datetime | None = None
    scope: Scope = Scope()

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
        scope: Scope | None = None,
    ) -> ExperimentQuery:
        """A checked query; ``ValueError`` names the argument that is wrong."""
        listed = check_metrics(metrics)
        check_choice("method", method, METHODS)
        if correction is not None:
            check_choice("correction", correction, CORRECTIONS)
        if winsorize is not None and not 0 < winsorize <= 1:
            raise ValueError(
                f"winsorize must be a percentile in (0, 1], e.g. 0.99, not {winsorize!r}"
            )
        pre_span = days(pre_period, "pre_period")
        assert pre_span is not None
        if end is not None and end.tzinfo is None:
            raise ValueError("end must be a timezone-aware datetime (UTC)")
        return cls(
            experiment=experiment,
            metrics=listed,
            control=control,
            window=days(window, "window"),
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
            scope=_experiment_scope(scope),
        )

    @property
    def components(self) -> Components:
        return Components.of(self.metrics)

    @property
    def tz(self) -> str:
        return self.scope.tz

    @property
    def filters(self) -> FilterItems:
        return self.scope.filters

    def counting(self) -> ExperimentQuery:
        """This query with every field that only the statistics read (not who is counted nor
        what) at its default: all the queries that differ only there count the same
        :class:`~metrics.experiments.analysis.VariantSums`, so one counting serves them all."""
        return replace(
            self, **_STATISTICS_DEFAULTS, weights=None, srm_threshold=0.001, correction=None
        )

    def metric(self, label: str) -> Metric:
        """The query's metric named ``label``; ``ValueError`` listing the names otherwise."""
        for metric in self.metrics:
            if metric.label == label:
                return metric
        names = ", ".join(repr(m.label) for m in self.metrics)
        raise ValueError(f"metric: {label!r} is not one of the query's metrics ({names})")

    def over_time(self, label: str) -> CumulativeQuery:
        """The effect day by day of the metric named ``label``, read as this query reads it
        (segments, weights and the correction do not apply to the daily curve)."""
        if self.end is not None:
            raise ValueError("end: the effect over time runs over the whole experiment")
        return CumulativeQuery(
            experiment=self.experiment,
            metric=self.metric(label),
            control=self.control,
            window=self.window,
            winsorize=self.winsorize,
            method=self.method,
            alpha=self.alpha,
            cuped=self.cuped,
            pre_period=self.pre_period,
            sequential_tuning=self.sequential_tuning,
            prior_sd=self.prior_sd,
            scope=self.scope,
        )


@dataclass(frozen=True)
class CumulativeQuery:
    """One :func:`~metrics.experiments.cumulative_effect` call, checked: what both back ends
    compute. Days are local days in the scope's zone."""

    experiment: str
    metric: Metric
    control: str = "control"
    window: dt.timedelta | None = None
    winsorize: float | None = None
    method: Method = "frequentist"
    alpha: float = 0.05
    cuped: bool = False
    pre_period: dt.timedelta = dt.timedelta(days=14)
    sequential_tuning: float = 5000
    prior_sd: float | None = None
    scope: Scope = Scope()

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
        method: Method = "frequentist",
        alpha: float = 0.05,
        cuped: bool = False,
        pre_period: float | dt.timedelta = 14,
        sequential_tuning: float = 5000,
        prior_sd: float | None = None,
        scope: Scope | None = None,
    ) -> CumulativeQuery:
        """A checked query (``tz`` is the scope's zone when no scope is given)."""
        (checked,) = check_metrics([metric])
        check_choice("method", method, METHODS)
        pre_span = days(pre_period, "pre_period")
        assert pre_span is not None
        return cls(
            experiment=experiment,
            metric=checked,
            control=control,
            window=days(window, "window"),
            winsorize=winsorize,
            method=method,
            alpha=alpha,
            cuped=cuped,
            pre_period=pre_span,
            sequential_tuning=sequential_tuning,
            prior_sd=prior_sd,
            scope=_experiment_scope(scope if scope is not None else Scope.build(tz=tz)),
        )

    @property
    def components(self) -> Components:
        return Components.of([self.metric])

    @property
    def stems(self) -> list[str]:
        return self.components.stems(self.metric)

    def counting(self) -> CumulativeQuery:
        """This query with every field that only the statistics read at its default: the
        queries that differ only there count the same
        :class:`~metrics.experiments.cumulative.DailySums` (as :meth:`ExperimentQuery.counting`
        does for the analysis)."""
        return replace(self, **_STATISTICS_DEFAULTS)

    @property
    def tz(self) -> str:
        return self.scope.tz
