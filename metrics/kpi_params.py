"""What a KPI of each kind is made of: one frozen parameter dataclass per metric kind.

:mod:`metrics.vision` fills them from the vision file (keys of a ``[[kpis]]`` table) and asks each
to :meth:`check` itself; :mod:`metrics.kpi_series` computes a KPI from them; the registry that
joins a kind's parameters, unit and series is :mod:`metrics.kinds` (docs/targets.md, "Metric
kinds").
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Literal

from metrics._common import Interval
from metrics.warehouse.targets import Need


def _names(event: str | tuple[str, ...]) -> str:
    return " / ".join(f"'{e}'" for e in ((event,) if isinstance(event, str) else event))


def event_arg(event: str | tuple[str, ...] | None) -> str | list[str] | None:
    """An event parameter as the families' functions take it (a list for several names)."""
    return list(event) if isinstance(event, tuple) else event


def _event_need(event: str | tuple[str, ...] | None) -> tuple[Need, str]:
    if event is None:
        return ("any",), "no events in the data"
    return ("event", event_arg(event)), f"no {_names(event)} events in the data"


_REVENUE_NEED: tuple[Need, str] = (("revenue",), "no revenue in the data")


@dataclass(frozen=True)
class ActiveUsers:
    """Distinct users with a matching event per calendar period (DAU, WAU, MAU, weekly buyers).

    With ``window_days`` (``period = "day"`` only), users active in the N days ending each day.
    """

    period: Interval = "week"
    event: str | tuple[str, ...] | None = None
    window_days: int | None = None

    def check(self) -> list[tuple[str, str]]:
        problems = []
        if self.window_days is not None:
            if self.window_days < 1:
                problems.append(("window_days", "must be at least 1"))
            if self.period != "day":
                problems.append(("window_days", 'a rolling window needs period = "day"'))
        return problems

    def need(self) -> tuple[Need, str]:
        return _event_need(self.event)


@dataclass(frozen=True)
class DauMau:
    """The share of the last 30 days' users who were active on the day (stickiness), per day."""

    event: str | tuple[str, ...] | None = None

    period: typing.ClassVar[Interval] = "day"

    def check(self) -> list[tuple[str, str]]:
        return []

    def need(self) -> tuple[Need, str]:
        return _event_need(self.event)


@dataclass(frozen=True)
class Lifecycle:
    """Users in one lifecycle state per period: new, returning, resurrecting or dormant."""

    state: Literal["new", "returning", "resurrecting", "dormant"]
    period: Interval = "week"
    event: str | None = None

    def check(self) -> list[tuple[str, str]]:
        return []

    def need(self) -> tuple[Need, str]:
        return _event_need(self.event)


@dataclass(frozen=True)
class Retention:
    """The share of a period's cohort who come back ``offset`` periods later."""

    offset: int
    period: Interval = "week"
    start_event: str | None = None
    return_event: str | None = None
    retention_type: Literal["first_time", "recurring"] = "recurring"
    mode: Literal["exact", "on_or_after"] = "exact"
    periods: Literal["calendar", "rolling"] = "calendar"

    def check(self) -> list[tuple[str, str]]:
        return (
            [("offset", "must be at least 1 (offset 0 is always 100%)")] if self.offset < 1 else []
        )

    def need(self) -> tuple[Need, str]:
        return _event_need(self.start_event)

    @property
    def reach(self) -> int:
        """Periods after a cohort's own until its offset has fully happened: rolling periods count
        from each user's own start, so the cohort's last starter needs one period more."""
        return self.offset + (2 if self.periods == "rolling" else 1)


@dataclass(frozen=True)
class FunnelConversion:
    """The share of a period's funnel entrants who reach the last step within the window."""

    steps: tuple[str, ...]
    period: Interval = "week"
    window_days: int = 14
    order: Literal["ordered", "strict", "unordered"] = "ordered"

    def check(self) -> list[tuple[str, str]]:
        problems = []
        if len(self.steps) < 2:
            problems.append(("steps", "a funnel needs at least two steps"))
        if self.window_days < 1:
            problems.append(("window_days", "must be at least 1"))
        return problems

    def need(self) -> tuple[Need, str]:
        first = self.steps[0]
        return ("event", first), f"no {_names(first)} events (the funnel's first step)"


@dataclass(frozen=True)
class Revenue:
    """Money taken per period (the sum of the ``revenue`` column)."""

    period: Interval = "week"

    def check(self) -> list[tuple[str, str]]:
        return []

    def need(self) -> tuple[Need, str]:
        return _REVENUE_NEED


@dataclass(frozen=True)
class Arpu:
    """Average revenue per active user: a period's revenue over the users active in it."""

    period: Interval = "month"

    def check(self) -> list[tuple[str, str]]:
        return []

    def need(self) -> tuple[Need, str]:
        return _REVENUE_NEED


@dataclass(frozen=True)
class PayingUsers:
    """Distinct users who paid (revenue > 0) in each period."""

    period: Interval = "week"

    def check(self) -> list[tuple[str, str]]:
        return []

    def need(self) -> tuple[Need, str]:
        return _REVENUE_NEED


@dataclass(frozen=True)
class Experiment:
    """An experiment's relative lift: the treatment's conversion over control's, minus one.

    Conversion = the share of exposed users who did ``event`` at or after their first exposure;
    the value for a period counts everything up to that period's end (the running read-out).
    """

    experiment: str
    event: str
    period: Interval = "week"
    control: str = "control"
    treatment: str | None = None
    exposure_event: str = "experiment_exposure"

    def check(self) -> list[tuple[str, str]]:
        if self.treatment is not None and self.treatment == self.control:
            return [("treatment", "must differ from control")]
        return []

    def need(self) -> tuple[Need, str]:
        return ("any",), "no events in the data"


@dataclass(frozen=True)
class EventCount:
    """How many times an event happened per period."""

    event: str | tuple[str, ...]
    period: Interval = "week"

    def check(self) -> list[tuple[str, str]]:
        return []

    def need(self) -> tuple[Need, str]:
        return _event_need(self.event)


MetricParams = (
    ActiveUsers
    | DauMau
    | Lifecycle
    | Retention
    | FunnelConversion
    | Revenue
    | Arpu
    | PayingUsers
    | Experiment
    | EventCount
)
