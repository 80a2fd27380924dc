"""What defines a retention table (:class:`RetentionQuery`) and the periods it is counted on
(:class:`PeriodGrid`), shared by the Polars path and the SQL planner (docs/retention.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from metrics._common import (
    INTERVALS,
    WEEK_STARTS,
    Interval,
    WeekStart,
    add_periods,
    check_choice,
    date_range,
    period_starts,
    utc_bounds,
)
from metrics.scope import FilterItems, Scope

RetentionType = Literal["recurring", "first_time"]
Mode = Literal["exact", "on_or_after"]
PeriodBasis = Literal["calendar", "rolling"]
#: An event as the public functions take it: a name, several names, or ``None`` (any event).
EventSpec = str | Sequence[str] | None
#: The same in a query's hashable form (several names as a tuple).
EventNames = str | tuple[str, ...] | None

RETENTION_TYPES: tuple[str, ...] = ("recurring", "first_time")
MODES: tuple[str, ...] = ("exact", "on_or_after")
PERIOD_BASES: tuple[str, ...] = ("calendar", "rolling")

US = 1_000_000
DAY_US = 86_400 * US
#: The length of a rolling day and week in elapsed microseconds (a rolling month is a calendar one).
ROLLING_UNIT_US = {"day": DAY_US, "week": 7 * DAY_US}


@dataclass(frozen=True)
class RetentionQuery:
    """Everything that defines a retention or revenue-retention (LTV) table, checked once.

    ``scope`` holds the date range (both ends required), the reporting zone and the property
    filters: an event that does not match the filters is dropped before anything is counted, start,
    return and revenue events alike, and the history that decides "first time" too. ``return_event``
    and ``mode`` concern retention only, ``revenue_column`` revenue retention only. Hashable, so the
    app uses it as its cache key; :meth:`build` takes the public functions' keyword arguments.
    """

    scope: Scope
    interval: Interval = "week"
    start_event: EventNames = None
    return_event: EventNames = None
    retention_type: RetentionType = "recurring"
    mode: Mode = "exact"
    periods: PeriodBasis = "calendar"
    week_start: WeekStart = "monday"
    revenue_column: str = "revenue"

    def __post_init__(self) -> None:
        if self.scope.start is None or self.scope.end is None:
            raise ValueError("start and end: a retention table needs both ends of its date range")
        check_choice("interval", self.interval, INTERVALS)
        check_choice("retention_type", self.retention_type, RETENTION_TYPES)
        check_choice("mode", self.mode, MODES)
        check_choice("periods", self.periods, PERIOD_BASES)
        check_choice("week_start", self.week_start, WEEK_STARTS)
        for name in ("start_event", "return_event"):
            value = getattr(self, name)
            if _event_names(name, value) != value:
                raise ValueError(
                    f"{name}: several names are a tuple in a query (build takes lists)"
                )
        if not isinstance(self.revenue_column, str) or not self.revenue_column:
            raise ValueError("revenue_column must be the name of a column")

    @classmethod
    def build(
        cls,
        *,
        start: dt.date | dt.datetime | str,
        end: dt.date | dt.datetime | str,
        interval: Interval = "week",
        start_event: EventSpec = None,
        return_event: EventSpec = None,
        retention_type: RetentionType = "recurring",
        mode: Mode = "exact",
        periods: PeriodBasis = "calendar",
        week_start: WeekStart = "monday",
        tz: str = "UTC",
        filters: Mapping[str, Any] | FilterItems | None = None,
        revenue_column: str = "revenue",
    ) -> RetentionQuery:
        """A checked query from loose values (ISO dates, lists of names, a filter mapping);
        ``ValueError`` names the argument that is wrong."""
        first, last = date_range(start, end)
        return cls(
            scope=Scope.build(start=first, end=last, tz=tz, filters=filters),
            interval=interval,
            start_event=_event_names("start_event", start_event),
            return_event=_event_names("return_event", return_event),
            retention_type=retention_type,
            mode=mode,
            periods=periods,
            week_start=week_start,
            revenue_column=revenue_column,
        )

    @property
    def start(self) -> dt.date:
        """The first day of the range (its period is the first cohort)."""
        return _required(self.scope.start)

    @property
    def end(self) -> dt.date:
        """The last day of the range (its period is the last cohort and the last offset)."""
        return _required(self.scope.end)

    @property
    def tz(self) -> str:
        return self.scope.tz

    @property
    def filters(self) -> FilterItems:
        return self.scope.filters


def _required(day: dt.date | None) -> dt.date:
    if day is None:  # unreachable: __post_init__ refuses an open range
        raise ValueError("start and end: a retention table needs both ends of its date range")
    return day


def _event_names(name: str, value: object) -> EventNames:
    """An event choice in its hashable form (several names as a tuple); ``ValueError`` names
    ``name`` when ``value`` is none of a name, a non-empty list of names or ``None``."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Sequence) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"{name} must be an event name, a non-empty list of names or None (any event)")


@dataclass(frozen=True)
class PeriodGrid:
    """The cohort periods: local period starts and the UTC instants where each one begins."""

    interval: Interval
    starts: tuple[dt.date, ...]
    #: Local start of the period after the last one (the end of the data window).
    after_last: dt.date
    #: UTC microseconds at which each period begins, plus the end of the last one (n + 1 values).
    bounds_us: tuple[int, ...]
    end: dt.date

    @classmethod
    def build(cls, query: RetentionQuery) -> PeriodGrid:
        starts = period_starts(query.start, query.end, query.interval, query.week_start)
        after_last = add_periods(starts[-1], query.interval, 1)
        bounds = [utc_us(day, query.tz) for day in (*starts, after_last)]
        return cls(query.interval, tuple(starts), after_last, tuple(bounds), query.end)

    @property
    def n(self) -> int:
        return len(self.starts)

    @property
    def lo_us(self) -> int:
        return self.bounds_us[0]

    @property
    def hi_us(self) -> int:
        return self.bounds_us[-1]

    @property
    def last_period_complete(self) -> bool:
        """Whether the period holding ``end`` is over by the end of ``end``."""
        return self.end + dt.timedelta(days=1) >= self.after_last


def utc_us(day: dt.date, tz: str) -> int:
    """Epoch microseconds of local midnight starting ``day`` in ``tz``."""
    lo, _ = utc_bounds(day, day, tz)
    return int(lo.timestamp()) * US


def period_index(ts_us: pl.Expr, bounds_us: Sequence[int]) -> pl.Expr:
    """The index i with ``bounds[i] <= ts < bounds[i+1]``, for ``ts`` inside the bounds.

    A uniform-grid guess corrected against the real bounds: exact across daylight-saving changes
    and uneven months, where ``search_sorted`` would be far slower inside a lazy query.
    """
    n = len(bounds_us) - 1
    b0 = bounds_us[0]
    step = max((bounds_us[-1] - b0) // n, 1)
    # How far the guess floor((ts - b0) / step) can be from the true index, from the bounds alone.
    low_err = min((bounds_us[i] - b0) // step - i for i in range(n))
    high_err = max((bounds_us[i + 1] - 1 - b0) // step - i for i in range(n))
    rounds = max(-low_err, high_err, 0)
    bounds = pl.lit(pl.Series("bounds", bounds_us, dtype=pl.Int64))
    guess = ((ts_us - b0) // step).clip(0, n - 1)
    for _ in range(rounds):
        guess = (guess - (ts_us < bounds.gather(guess)).cast(pl.Int64)).clip(0, n - 1)
        guess = (guess + (ts_us >= bounds.gather(guess + 1)).cast(pl.Int64)).clip(0, n - 1)
    return guess
