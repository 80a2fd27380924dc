"""The closed list of KPI kinds, and for each its parameters, unit, label and series.

A KPI in the vision file names one kind (``metric = "active_users"``) and that kind's parameters
(docs/targets.md, "Metric kinds"). :data:`MetricKind` lists the kinds; :func:`spec` says
everything about one of them in a single ``match``, so a kind without its parameters, unit or
series is a type error (mypy checks that the match is exhaustive), never a half-wired entry.
:mod:`metrics.vision` reads the parameters and rates from here, :mod:`metrics.scorecard` the
series and units; the parameter dataclasses are :mod:`metrics.kpi_params`, the series functions
:mod:`metrics.kpi_series`.
"""

from __future__ import annotations

import importlib
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, assert_never

import polars as pl

from metrics import kpi_series as series
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
from metrics.kpi_series import Events, SeriesContext

MetricKind = Literal[
    "active_users",
    "dau_mau",
    "lifecycle",
    "retention",
    "funnel_conversion",
    "revenue",
    "arpu",
    "paying_users",
    "experiment",
    "event_count",
]
Unit = Literal["users", "events", "ratio", "currency", "lift"]

__all__ = [
    "KINDS",
    "KIND_PARAMS",
    "METRICS",
    "RATE_KINDS",
    "ActiveUsers",
    "Arpu",
    "DauMau",
    "EventCount",
    "Experiment",
    "FunnelConversion",
    "Lifecycle",
    "MetricKind",
    "MetricParams",
    "MetricSpec",
    "PayingUsers",
    "Retention",
    "Revenue",
    "Unit",
    "not_pushed_down",
    "spec",
]

P = TypeVar("P")


def _no_split(_: object) -> None:
    return None


@dataclass(frozen=True)
class MetricSpec(Generic[P]):
    """One metric kind: its parameters, how to compute its series, and how to show it."""

    kind: MetricKind
    params: type[P]
    label: str
    unit: Unit
    #: Rates: a target must lie in [0, 1] and projections are clipped to it.
    rate: bool
    #: Counts and money add up across segments; rates and ratios do not.
    additive: bool
    #: The KPI's value in every period of its history (columns: :data:`SERIES_SCHEMA`).
    compute: Callable[[Events, P, SeriesContext], pl.DataFrame]
    #: Names of the two factors when the value is volume × rate, else None.
    split: Callable[[P], tuple[str, str] | None]
    #: The families' functions the series calls on the events (``module.function``): each must
    #: have a SQL form for the kind to be computed in an engine.
    uses: tuple[str, ...]
    #: False for a running estimate (an experiment's lift) whose drift is convergence: never
    #: extrapolated, projected flat.
    trends: bool = True

    @property
    def bounds(self) -> tuple[float | None, float | None]:
        """The range a projection is clipped to: a rate's [0, 1], a count's or money's ≥ 0; a
        lift may be anything."""
        if self.rate:
            return 0.0, 1.0
        return (None, None) if self.unit == "lift" else (0.0, None)


def spec(kind: MetricKind) -> MetricSpec[Any]:
    """Everything about one metric kind (the single dispatch table: one case per kind)."""
    match kind:
        case "active_users":
            return MetricSpec(
                kind,
                ActiveUsers,
                label="Active users",
                unit="users",
                rate=False,
                additive=True,
                compute=series.active_users_series,
                split=lambda p: None if p.event is None else ("active users", "share who did it"),
                uses=("metrics.engagement.active_users",),
            )
        case "dau_mau":
            return MetricSpec(
                kind,
                DauMau,
                label="DAU/MAU (stickiness)",
                unit="ratio",
                rate=True,
                additive=False,
                compute=series.dau_mau_series,
                split=_no_split,
                uses=("metrics.engagement.dau_mau",),
            )
        case "lifecycle":
            return MetricSpec(
                kind,
                Lifecycle,
                label="Lifecycle",
                unit="users",
                rate=False,
                additive=True,
                compute=series.lifecycle_series,
                split=lambda p: (
                    ("last period's active users", f"share {p.state}")
                    if p.state in ("returning", "dormant")
                    else None
                ),
                uses=("metrics.engagement.lifecycle",),
            )
        case "retention":
            return MetricSpec(
                kind,
                Retention,
                label="Retention",
                unit="ratio",
                rate=True,
                additive=False,
                compute=series.retention_series,
                split=_no_split,
                uses=("metrics.retention.retention",),
            )
        case "funnel_conversion":
            return MetricSpec(
                kind,
                FunnelConversion,
                label="Funnel conversion",
                unit="ratio",
                rate=True,
                additive=False,
                compute=series.funnel_series,
                split=_no_split,
                uses=("metrics.funnels.funnel",),
            )
        case "revenue":
            return MetricSpec(
                kind,
                Revenue,
                label="Revenue",
                unit="currency",
                rate=False,
                additive=True,
                compute=series.revenue_series,
                split=lambda p: ("paying users", "revenue per payer"),
                uses=("metrics.engagement.revenue",),
            )
        case "arpu":
            return MetricSpec(
                kind,
                Arpu,
                label="ARPU",
                unit="currency",
                rate=False,
                additive=False,
                compute=series.arpu_series,
                split=lambda p: ("paying share", "revenue per payer"),
                uses=("metrics.engagement.revenue",),
            )
        case "paying_users":
            return MetricSpec(
                kind,
                PayingUsers,
                label="Paying users",
                unit="users",
                rate=False,
                additive=True,
                compute=series.paying_users_series,
                split=lambda p: ("active users", "paying share"),
                uses=("metrics.engagement.revenue",),
            )
        case "experiment":
            return MetricSpec(
                kind,
                Experiment,
                label="Experiment lift",
                unit="lift",
                rate=False,
                additive=False,
                compute=series.experiment_series,
                split=_no_split,
                uses=("metrics.experiments.cumulative_effect",),
                trends=False,
            )
        case "event_count":
            return MetricSpec(
                kind,
                EventCount,
                label="Event count",
                unit="events",
                rate=False,
                additive=True,
                compute=series.event_count_series,
                split=lambda p: ("users who did it", "times per user"),
                uses=("metrics.engagement.active_users",),
            )
        case _:
            assert_never(kind)


#: Every kind, in the order the vision file's messages and the "add a KPI" form list them.
KINDS: tuple[MetricKind, ...] = typing.get_args(MetricKind)
#: The registry: each kind's :class:`MetricSpec`.
METRICS: dict[MetricKind, MetricSpec[Any]] = {kind: spec(kind) for kind in KINDS}
#: Each kind's parameter dataclass (a view of :data:`METRICS`).
KIND_PARAMS: dict[str, type] = {kind: found.params for kind, found in METRICS.items()}
#: Kinds whose value is a rate: a target must lie in [0, 1] (a view of :data:`METRICS`).
RATE_KINDS: frozenset[str] = frozenset(kind for kind, found in METRICS.items() if found.rate)


def not_pushed_down(kind: MetricKind) -> list[str]:
    """The functions a KPI kind needs that do not compute in SQL yet (empty when all do)."""
    missing = []
    for path in METRICS[kind].uses:
        module, _, name = path.rpartition(".")
        if not hasattr(getattr(importlib.import_module(module), name), "__planner__"):
            missing.append(path)
    return missing
