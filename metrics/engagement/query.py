"""The engagement query: one frozen question every engagement metric answers, and the events,
days and periods it counts (docs/engagement.md).

:class:`EngagementQuery` carries the shared :class:`~metrics.scope.Scope` (days, zone, property
filters) and the engagement settings; :func:`matching` is the rule for which events count, and the
period arithmetic (day numbers, week and month numbers, the period grid with its partial periods)
is shared by the Polars plans and the SQL planners' finishing steps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

import polars as pl

from metrics._common import (
    INTERVALS,
    WEEK_STARTS,
    Interval,
    WeekStart,
    as_lazy,
    check_choice,
    event_expr,
    local_date,
)
from metrics.scope import FilterItems, Scope

Events = pl.DataFrame | pl.LazyFrame
Day = dt.date | dt.datetime | str
EventSelector = str | Iterable[str] | None
NewMeans = Literal["first_active", "first_seen"]
NEW_MEANINGS: tuple[str, ...] = ("first_active", "first_seen")
#: The windows ``rolling_active_users`` counts unless told otherwise: DAU, WAU and MAU.
DEFAULT_WINDOWS: tuple[int, ...] = (1, 7, 30)

_EPOCH = dt.date(1970, 1, 1)
#: 1970-01-01 was a Thursday; shifted by these, a week's first day number is a multiple of 7.
_WEEK_SHIFT = {"monday": 3, "sunday": 4}


@dataclass(frozen=True)
class EngagementQuery:
    """One engagement question: over which days, zone and events (``scope``), what counts as
    activity (``event``), in which periods, split how, and the settings of single metrics.

    Every metric reads ``scope``, ``event`` (but ``revenue``, which counts every event),
    ``interval`` and ``week_start``. Besides: ``active_users`` reads ``window_days`` (``None``:
    calendar periods) and ``breakdown``; ``rolling_active_users`` ``windows`` and ``breakdown``;
    ``dau_mau`` ``window_days`` (its month, 30 when ``None``); ``stickiness`` ``interval_count``;
    ``lifecycle`` ``new_means``; ``revenue`` ``breakdown``.

    Frozen and hashable (the app's cache key); checked when made, so a query that exists is a
    valid one. :meth:`build` makes one from the public functions' keywords.
    """

    scope: Scope
    interval: Interval = "day"
    event: str | tuple[str, ...] | None = None
    week_start: WeekStart = "monday"
    breakdown: str | None = None
    window_days: int | None = None
    windows: tuple[int, ...] = DEFAULT_WINDOWS
    interval_count: int = 1
    new_means: NewMeans = "first_active"

    def __post_init__(self) -> None:
        if self.scope.start is None or self.scope.end is None:
            missing = "start" if self.scope.start is None else "end"
            raise ValueError(f"{missing}: engagement counts over a closed range of days")
        check_choice("interval", self.interval, INTERVALS)
        check_choice("week_start", self.week_start, WEEK_STARTS)
        _check_event(self.event)
        _check_breakdown(self.breakdown)
        if self.window_days is not None:
            _check_window("window_days", self.window_days)
            if self.interval != "day":
                raise ValueError(
                    f"window_days: a rolling window is counted per day; use interval='day', "
                    f"not {self.interval!r}"
                )
        if not isinstance(self.windows, tuple) or not self.windows:
            raise ValueError(
                "windows: give a non-empty sequence of window lengths in days, e.g. (1, 7, 30)"
            )
        for n in self.windows:
            _check_window("windows", n)
        _check_count("interval_count", self.interval_count)
        check_choice("new_means", self.new_means, NEW_MEANINGS)

    @classmethod
    def build(
        cls,
        *,
        start: Day | None = None,
        end: Day | None = None,
        tz: str | None = None,
        filters: Mapping[str, Any] | FilterItems | None = None,
        scope: Scope | None = None,
        interval: Interval = "day",
        event: EventSelector = None,
        week_start: WeekStart = "monday",
        breakdown: str | None = None,
        window_days: int | None = None,
        windows: Sequence[int] = DEFAULT_WINDOWS,
        interval_count: int = 1,
        new_means: NewMeans = "first_active",
    ) -> EngagementQuery:
        """A checked query; ``ValueError`` names the argument that is wrong.

        The days, zone and filters come either as ``start``, ``end``, ``tz`` (default UTC) and
        ``filters``, as the public functions take them, or as one built ``scope`` (the app's
        sidebar); a list of events, a set of windows or of filter values is put in one order, so
        equal questions are equal queries.
        """
        if scope is None:
            scope = Scope.build(
                start=start, end=end, tz="UTC" if tz is None else tz, filters=filters
            )
        elif start is not None or end is not None or tz is not None or filters is not None:
            raise ValueError("scope: give either a scope or start, end, tz and filters")
        if isinstance(windows, int) or not windows:
            raise ValueError(
                "windows: give a non-empty sequence of window lengths in days, e.g. (1, 7, 30)"
            )
        for n in windows:
            _check_window("windows", n)
        return cls(
            scope=scope,
            interval=interval,
            event=normalise_event(event),
            week_start=week_start,
            breakdown=breakdown,
            window_days=window_days,
            windows=tuple(sorted(set(windows))),
            interval_count=interval_count,
            new_means=new_means,
        )

    @property
    def start(self) -> dt.date:
        """The first day of the range (the scope's)."""
        first = self.scope.start
        assert first is not None  # checked when the query was made
        return first

    @property
    def end(self) -> dt.date:
        """The last day of the range (the scope's)."""
        last = self.scope.end
        assert last is not None  # checked when the query was made
        return last

    @property
    def tz(self) -> str:
        return self.scope.tz

    @property
    def filters(self) -> FilterItems:
        return self.scope.filters

    @property
    def keys(self) -> list[str]:
        """The breakdown column as the frames' grouping keys (none without a breakdown)."""
        return [] if self.breakdown is None else [self.breakdown]

    def period_number(self, day: pl.Expr) -> pl.Expr:
        """Consecutive integers for consecutive periods, from a day-number (Int32) expression."""
        return _period_number(day, self.interval, self.week_start)

    def number_of(self, day: dt.date) -> int:
        """The period number holding ``day`` (plain-Python twin of :meth:`period_number`)."""
        return _period_number_of(day, self.interval, self.week_start)

    def first_day(self, number: int) -> dt.date:
        """The first calendar day of period ``number``."""
        return _first_day(number, self.interval, self.week_start)


def matching(
    events: Events,
    query: EngagementQuery,
    first_day: dt.date | None,
    last_day: dt.date,
    columns: Sequence[str],
) -> pl.LazyFrame:
    """The counted events between two local days (``None``: from the beginning of time).

    Columns: ``user_id``, ``day`` (the local calendar day as an Int32 day number) and ``columns``.
    Events the scope's filters do not keep are dropped (:meth:`metrics.scope.Scope.keep`); the
    UTC bounds go beside them, so that a Parquet scan or a database can prune rows before any
    time zone arithmetic.
    """
    return counted_events(events, query.scope, query.event, first_day, last_day, columns)


def counted_events(
    events: Events,
    scope: Scope,
    event: str | tuple[str, ...] | None,
    first_day: dt.date | None,
    last_day: dt.date | None,
    columns: Sequence[str],
) -> pl.LazyFrame:
    """:func:`matching` for a scope's zone and filters and an event, on the days given (either
    end ``None``: open), whatever the scope's own days."""
    lf = scope.keep(as_lazy(events))
    _check_columns(lf, [c for c in columns if c != "revenue"], "breakdown")
    zone = ZoneInfo(scope.tz)
    conditions = [pl.col("user_id").is_not_null()]
    if last_day is not None:
        upper = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), zone)
        conditions.append(pl.col("timestamp") < upper.astimezone(dt.UTC))
    if first_day is not None:
        lower = dt.datetime.combine(first_day, dt.time(), zone).astimezone(dt.UTC)
        conditions.append(pl.col("timestamp") >= lower)
    if event is not None:
        conditions.append(event_expr(event))
    # A property no event has (a Null column of a hand-built frame) is text with no values, as
    # it is in any database, so a breakdown by it has the same type on every back end.
    schema = lf.collect_schema() if columns else {}
    return lf.filter(*conditions).select(
        pl.col("user_id"),
        local_date(scope.tz).cast(pl.Int32).alias("day"),
        *[pl.col(c).cast(pl.String) if schema.get(c) == pl.Null else pl.col(c) for c in columns],
    )


def period_grid(query: EngagementQuery) -> pl.LazyFrame:
    """Every period touching the range: its number, first day and whether it sticks out of it."""
    numbers = range(query.number_of(query.start), query.number_of(query.end) + 1)
    firsts = [query.first_day(n) for n in numbers]
    lasts = [query.first_day(n + 1) - dt.timedelta(days=1) for n in numbers]
    return pl.LazyFrame(
        {
            "period": list(numbers),
            "period_start": firsts,
            "is_partial": [
                f < query.start or la > query.end for f, la in zip(firsts, lasts, strict=True)
            ],
        },
        schema={"period": pl.Int32, "period_start": pl.Date, "is_partial": pl.Boolean},
    )


def fill_periods(
    counts: pl.LazyFrame,
    grid: pl.LazyFrame,
    rows: pl.LazyFrame | None,
    keys: list[str],
    values: list[str],
) -> pl.LazyFrame:
    """Counts on every period (× every breakdown value seen in ``rows``), zeros where none."""
    if keys:
        assert rows is not None
        grid = grid.join(rows.select(keys).unique(), how="cross")
    counts = counts.with_columns(pl.col("period").cast(pl.Int32))
    return (
        grid.join(counts, on=["period", *keys], how="left", nulls_equal=True)
        .with_columns(pl.col(values).fill_null(0))
        .sort("period", *keys, nulls_last=True)
    )


def _period_number(day: pl.Expr, interval: Interval, week_start: WeekStart) -> pl.Expr:
    if interval == "day":
        return day
    if interval == "week":
        return (day + _WEEK_SHIFT[week_start]) // 7
    date = day.cast(pl.Date)
    return date.dt.year().cast(pl.Int32) * 12 + date.dt.month().cast(pl.Int32) - 1


def _period_number_of(day: dt.date, interval: Interval, week_start: WeekStart) -> int:
    if interval == "day":
        return day_number(day)
    if interval == "week":
        return (day_number(day) + _WEEK_SHIFT[week_start]) // 7
    return day.year * 12 + day.month - 1


def _first_day(number: int, interval: Interval, week_start: WeekStart) -> dt.date:
    if interval == "day":
        return _EPOCH + dt.timedelta(days=number)
    if interval == "week":
        return _EPOCH + dt.timedelta(days=number * 7 - _WEEK_SHIFT[week_start])
    return dt.date(number // 12, number % 12 + 1, 1)


def day_number(day: dt.date) -> int:
    return (day - _EPOCH).days


def _check_breakdown(breakdown: object) -> None:
    if breakdown is None:
        return
    if not isinstance(breakdown, str) or not breakdown:
        raise ValueError(f"breakdown must be a property column name, not {breakdown!r}")
    if breakdown in ("user_id", "timestamp"):
        raise ValueError(f"breakdown: {breakdown!r} is not a property to break down by")


def _check_columns(lf: pl.LazyFrame, columns: Iterable[str], argument: str) -> None:
    wanted = list(columns)
    if not wanted:
        return
    present = set(lf.collect_schema().names())
    missing = [c for c in wanted if c not in present]
    if missing:
        raise ValueError(f"{argument}: no column {', '.join(map(repr, missing))} in the events")


def _check_window(argument: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{argument}: a window is a whole number of days >= 1, not {value!r}")


def _check_count(argument: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{argument} must be a whole number >= 1, not {value!r}")


def normalise_event(event: EventSelector) -> str | tuple[str, ...] | None:
    """``event`` as a query holds it: a name, ``None``, or the names sorted, once each."""
    if event is None or isinstance(event, str):
        return event
    names = tuple(event)
    _check_event(names)
    return tuple(sorted(set(names)))  # any order, once each: equal questions, equal queries


def _check_event(event: object) -> None:
    if event is None or isinstance(event, str):
        return
    if (
        not isinstance(event, tuple)
        or not event
        or not all(isinstance(name, str) for name in event)
    ):
        raise ValueError(f"event must be an event name, a list of names or None, not {event!r}")
