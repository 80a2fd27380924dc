"""Engagement: who is active, how often they come back, and how the active base changes
(docs/engagement.md).

The counting unit is the user (``user_id``). A user is *active* in a period when they have at least
one event in it that matches ``event`` (any event when ``None``) and ``filters``. A "day" is a
calendar day in the reporting zone ``tz``; weeks start on Monday or Sunday; ``start..end`` is
inclusive of both calendar days. Definitions follow PostHog's trends, stickiness and lifecycle
insights; ``docs/engagement.md`` explains each one and the few places where we chose differently.

Every metric has two doors. The keyword function (``active_users(events, start=..., end=...)``),
pleasant in a notebook, builds one frozen :class:`EngagementQuery`; the query function
(``active_users_of(events, query)``) takes a query already built, as the app's cached adapters do
(the query is their cache key). Both compute the same thing: on a frame a Polars plan, on a
:class:`~metrics.warehouse.Relation` the SQL of ``metrics/warehouse/engagement.py``,
``rolling.py`` and ``lifecycle.py``, planned from the same query. The query's ``scope``
(:class:`metrics.scope.Scope`) holds the days, the zone and the property filters, and events that
do not pass the filters are dropped before anything is counted.

How the rolling windows (WAU, MAU) are computed without a range join: every (user, active day)
pair covers the days ``[day, day + N - 1]`` of the windows that contain it; cut each piece short
where the same user's next active day begins, and the pieces of one user never overlap. Counting a
``+1`` where a piece starts and a ``-1`` where it ends, the running sum over days is the number of
distinct users active in the window ending that day. One sort of the distinct (user, day) pairs
serves every window. Without a breakdown, that sort runs on one Int64 per event (a hashed user code
times the number of days, plus the day) rather than on strings and dates; a second hash catches
two users sharing a code, and then the exact string path runs instead (see ``_packed_pieces``).
"""

from __future__ import annotations

import datetime as dt
import inspect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import reduce
from typing import Any, Literal, TypeVar
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
from metrics.warehouse import Plan, Relation, pushdown
from metrics.warehouse import engagement as sql_engagement
from metrics.warehouse import lifecycle as sql_lifecycle
from metrics.warehouse import rolling as sql_rolling

__all__ = [
    "EngagementQuery",
    "active_users",
    "active_users_of",
    "dau_mau",
    "dau_mau_of",
    "lifecycle",
    "lifecycle_of",
    "revenue",
    "revenue_of",
    "rolling_active_users",
    "rolling_active_users_of",
    "stickiness",
    "stickiness_of",
]

Events = pl.DataFrame | pl.LazyFrame
Day = dt.date | dt.datetime | str
EventSelector = str | Iterable[str] | None
NewMeans = Literal["first_active", "first_seen"]
NEW_MEANINGS: tuple[str, ...] = ("first_active", "first_seen")
LIFECYCLE_STATUSES: tuple[str, ...] = ("new", "returning", "resurrecting", "dormant")
#: The windows ``rolling_active_users`` counts unless told otherwise: DAU, WAU and MAU.
DEFAULT_WINDOWS: tuple[int, ...] = (1, 7, 30)
#: DAU/MAU's "month" when the query names no ``window_days`` (PostHog's MAU).
MONTH_DAYS = 30

_EPOCH = dt.date(1970, 1, 1)
#: The packed rolling-window keys: a user code of 64 - 17 = 47 hash bits times at most 2^16 days
#: stays below 2^63; the second hash that detects code collisions uses another seed.
_CODE_SHIFT = 17
_MAX_PACKED_DAYS = 1 << 16
_CODE_SEED = 0x6E6F727468
_CHECK_SEED = 0x73746172
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
            event=_normalise_event(event),
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


# ------------------------------------------------------------------------------------------------
# The two doors of every metric
# ------------------------------------------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])
QueryPlanner = Callable[[Relation, EngagementQuery], Plan]


def _keyword_door(plan: QueryPlanner) -> Callable[[F], F]:
    """``@pushdown`` for a keyword function: on a relation, its keywords build the query that
    ``plan`` (the query function's planner) compiles; unknown keywords fail as on a frame."""

    def decorate(function: F) -> F:
        signature = inspect.signature(function)

        def planner(events: Relation, **keywords: Any) -> Plan:
            signature.bind(events, **keywords)
            return plan(events, EngagementQuery.build(**keywords))

        return pushdown(planner)(function)

    return decorate


def _per_day(query: EngagementQuery, metric: str) -> None:
    if query.interval != "day":
        raise ValueError(
            f"interval: {metric} counts rolling windows per day; use interval='day', "
            f"not {query.interval!r}"
        )


def _without_breakdown(query: EngagementQuery, metric: str) -> None:
    if query.breakdown is not None:
        raise ValueError(f"breakdown: {metric} has no breakdown, so the query must have none")


# ------------------------------------------------------------------------------------------------
# Active users
# ------------------------------------------------------------------------------------------------


def _active_users_plan(events: Relation, query: EngagementQuery) -> Plan:
    keys = query.keys
    if query.window_days is not None:
        return _rolling_plan(
            events, query, (query.window_days,), lambda r: _window_as_active_users(r, keys)
        )

    def finish(counts: pl.LazyFrame) -> pl.DataFrame:
        filled = _fill_periods(counts, _period_grid(query), counts, keys, ["active_users"])
        return filled.select("period_start", *keys, "active_users", "is_partial").collect()

    return sql_engagement.active_users_plan(events, query, keys, finish)


def _active_users(events: Events, query: EngagementQuery) -> pl.DataFrame:
    keys = query.keys
    if query.window_days is not None:
        return _window_as_active_users(_rolling_counts(events, query, (query.window_days,)), keys)
    lf = _matching(events, query, query.start, query.end, keys)
    pairs = lf.select("user_id", *keys, period=query.period_number(pl.col("day"))).unique()
    counts = pairs.group_by("period", *keys).agg(active_users=pl.len().cast(pl.Int64))
    filled = _fill_periods(counts, _period_grid(query), pairs, keys, ["active_users"])
    return filled.select("period_start", *keys, "active_users", "is_partial").collect()


@pushdown(_active_users_plan)
def active_users_of(events: Events, query: EngagementQuery) -> pl.DataFrame:
    """Active users of a built query: :func:`active_users`, reading ``window_days`` and
    ``breakdown`` from the query."""
    return _active_users(events, query)


@_keyword_door(_active_users_plan)
def active_users(
    events: Events,
    *,
    start: Day,
    end: Day,
    interval: Interval = "day",
    window_days: int | None = None,
    event: EventSelector = None,
    filters: Mapping[str, Any] | None = None,
    breakdown: str | None = None,
    week_start: WeekStart = "monday",
    tz: str = "UTC",
) -> pl.DataFrame:
    """Active users: how many different people did the event in each day, week or month.

    Without ``window_days``: distinct users with a matching event inside ``start..end``, per period.
    The first and last periods may stick out of the range (a week starting before ``start``); only
    the days inside the range count and ``is_partial`` marks such periods.

    With ``window_days=N`` (``interval="day"`` only): for each day d of the range, the distinct
    users active in the N days ``[d-N+1, d]``, reaching back before ``start`` as needed (WAU = 7,
    MAU = 30). Such a window is never partial.

    With ``breakdown`` (a property column), one series per value of that property on the counted
    events; a user active with two values counts once in each. Missing values form their own series.

    Returns ``period_start`` (Date), [breakdown], ``active_users`` (Int64), ``is_partial``
    (Boolean), one row per period (and breakdown value), zeros included.
    """
    query = EngagementQuery.build(
        start=start,
        end=end,
        tz=tz,
        filters=filters,
        interval=interval,
        event=event,
        week_start=week_start,
        breakdown=breakdown,
        window_days=window_days,
    )
    return _active_users(events, query)


def _window_as_active_users(rolling: pl.LazyFrame, keys: list[str]) -> pl.DataFrame:
    """One rolling window's counts as ``active_users`` returns them (never partial)."""
    return (
        rolling.select("period_start", *keys, "active_users")
        .with_columns(is_partial=pl.lit(False))
        .collect()
    )


# ------------------------------------------------------------------------------------------------
# DAU, WAU, MAU and DAU/MAU
# ------------------------------------------------------------------------------------------------


def _rolling_active_users_plan(events: Relation, query: EngagementQuery) -> Plan:
    _per_day(query, "rolling_active_users")
    keys = query.keys
    return _rolling_plan(
        events,
        query,
        query.windows,
        lambda r: r.select("period_start", *keys, "window_days", "active_users").collect(),
    )


def _rolling_active_users(events: Events, query: EngagementQuery) -> pl.DataFrame:
    _per_day(query, "rolling_active_users")
    rolling = _rolling_counts(events, query, query.windows)
    return rolling.select("period_start", *query.keys, "window_days", "active_users").collect()


@pushdown(_rolling_active_users_plan)
def rolling_active_users_of(events: Events, query: EngagementQuery) -> pl.DataFrame:
    """DAU, WAU and MAU of a built (daily) query: :func:`rolling_active_users`, reading
    ``windows`` and ``breakdown`` from the query."""
    return _rolling_active_users(events, query)


@_keyword_door(_rolling_active_users_plan)
def rolling_active_users(
    events: Events,
    *,
    start: Day,
    end: Day,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    event: EventSelector = None,
    filters: Mapping[str, Any] | None = None,
    breakdown: str | None = None,
    tz: str = "UTC",
) -> pl.DataFrame:
    """DAU, WAU and MAU together: for each day, the distinct users active in the last N days.

    The same numbers as ``active_users(window_days=N)`` for each N in ``windows`` (1 = DAU,
    7 = WAU, 30 = MAU), computed in one pass over the events.

    Returns ``period_start`` (Date), [breakdown], ``window_days`` (Int64), ``active_users`` (Int64).
    """
    query = EngagementQuery.build(
        start=start,
        end=end,
        tz=tz,
        filters=filters,
        event=event,
        breakdown=breakdown,
        windows=windows,
    )
    return _rolling_active_users(events, query)


def _month_of(query: EngagementQuery) -> int:
    """DAU/MAU's month: the query's ``window_days``, 30 days when it names none."""
    _per_day(query, "dau_mau")
    _without_breakdown(query, "dau_mau")
    return MONTH_DAYS if query.window_days is None else query.window_days


def _dau_mau_plan(events: Relation, query: EngagementQuery) -> Plan:
    month = _month_of(query)
    windows = tuple(sorted({1, month}))
    return _rolling_plan(events, query, windows, lambda r: _dau_mau_frame(r, month))


def _dau_mau(events: Events, query: EngagementQuery) -> pl.DataFrame:
    month = _month_of(query)
    windows = tuple(sorted({1, month}))
    return _dau_mau_frame(_rolling_counts(events, query, windows), month)


def _dau_mau_frame(rolling: pl.LazyFrame, window_days: int) -> pl.DataFrame:
    """The one-day and ``window_days`` counts side by side, and their ratio."""
    by_day = rolling.group_by("period_start").agg(
        dau=pl.col("active_users").filter(pl.col("window_days") == 1).first(),
        mau=pl.col("active_users").filter(pl.col("window_days") == window_days).first(),
    )
    ratio = pl.when(pl.col("mau") > 0).then(pl.col("dau") / pl.col("mau"))
    return by_day.with_columns(ratio=ratio.cast(pl.Float64)).sort("period_start").collect()


@pushdown(_dau_mau_plan)
def dau_mau_of(events: Events, query: EngagementQuery) -> pl.DataFrame:
    """DAU/MAU of a built (daily, unbroken-down) query: :func:`dau_mau`, its month the query's
    ``window_days`` (30 days when it names none)."""
    return _dau_mau(events, query)


@_keyword_door(_dau_mau_plan)
def dau_mau(
    events: Events,
    *,
    start: Day,
    end: Day,
    event: EventSelector = None,
    filters: Mapping[str, Any] | None = None,
    window_days: int = MONTH_DAYS,
    tz: str = "UTC",
) -> pl.DataFrame:
    """DAU/MAU: the share of the month's active users who were also active on the day.

    For each day d: ``dau`` = distinct users active on d, ``mau`` = distinct users active in the
    ``window_days`` days ending on d (30 by default, PostHog's MAU), ``ratio`` = dau / mau, null on
    days when nobody was active in the window. 1.0 means everyone comes every day; 1/30 that the
    typical user comes once a month.

    Returns ``period_start`` (Date), ``dau``, ``mau`` (Int64), ``ratio`` (Float64).
    """
    query = EngagementQuery.build(
        start=start, end=end, tz=tz, filters=filters, event=event, window_days=window_days
    )
    return _dau_mau(events, query)


# ------------------------------------------------------------------------------------------------
# Stickiness
# ------------------------------------------------------------------------------------------------


def _stickiness_plan(events: Relation, query: EngagementQuery) -> Plan:
    intervals = _intervals_of(query)
    return sql_engagement.stickiness_plan(
        events,
        query,
        query.number_of(query.start),
        query.interval_count,
        lambda histogram: _stickiness_frame(histogram, intervals),
    )


def _intervals_of(query: EngagementQuery) -> int:
    """How many intervals of ``interval_count`` periods the range is cut into."""
    _without_breakdown(query, "stickiness")
    periods = query.number_of(query.end) - query.number_of(query.start) + 1
    return math.ceil(periods / query.interval_count)


def _stickiness(events: Events, query: EngagementQuery) -> pl.DataFrame:
    intervals = _intervals_of(query)
    origin = query.number_of(query.start)
    lf = _matching(events, query, query.start, query.end, [])
    bucket = (query.period_number(pl.col("day")) - origin) // query.interval_count
    per_user = (
        lf.select("user_id", bucket=bucket)
        .unique()
        .group_by("user_id")
        .agg(intervals_active=pl.len().cast(pl.Int64))
    )
    histogram = per_user.group_by("intervals_active").agg(users=pl.len().cast(pl.Int64))
    return _stickiness_frame(histogram, intervals)


def _stickiness_frame(histogram: pl.LazyFrame, intervals: int) -> pl.DataFrame:
    """Users per number of active intervals on the grid 1..intervals, and the cumulative view."""
    grid = pl.LazyFrame(
        {"intervals_active": pl.int_range(1, intervals + 1, eager=True).cast(pl.Int64)}
    )
    return (
        grid.join(histogram, on="intervals_active", how="left")
        .with_columns(pl.col("users").fill_null(0))
        .sort("intervals_active")
        .with_columns(users_at_least=pl.col("users").cum_sum(reverse=True))
        .collect()
    )


@pushdown(_stickiness_plan)
def stickiness_of(events: Events, query: EngagementQuery) -> pl.DataFrame:
    """Stickiness of a built (unbroken-down) query: :func:`stickiness`, in blocks of the query's
    ``interval_count`` periods."""
    return _stickiness(events, query)


@_keyword_door(_stickiness_plan)
def stickiness(
    events: Events,
    *,
    start: Day,
    end: Day,
    interval: Interval = "day",
    interval_count: int = 1,
    event: EventSelector = None,
    filters: Mapping[str, Any] | None = None,
    week_start: WeekStart = "monday",
    tz: str = "UTC",
) -> pl.DataFrame:
    """Stickiness: how many users were active on exactly 1, 2, 3, … of the range's days (or weeks).

    The range is cut into intervals: for days, consecutive blocks of ``interval_count`` days
    starting at ``start`` (the last block may be shorter); for weeks and months, the calendar
    periods that touch the range, partial first and last ones included, grouped ``interval_count``
    at a time from the first. Only events inside ``start..end`` count. Users with no matching event
    in the range are not counted at all.

    Returns ``intervals_active`` (1 … number of intervals), ``users`` (exactly that many),
    ``users_at_least`` (that many or more, PostHog's "cumulative" view); zeros included.
    """
    query = EngagementQuery.build(
        start=start,
        end=end,
        tz=tz,
        filters=filters,
        interval=interval,
        event=event,
        week_start=week_start,
        interval_count=interval_count,
    )
    return _stickiness(events, query)


# ------------------------------------------------------------------------------------------------
# Lifecycle
# ------------------------------------------------------------------------------------------------


def _lifecycle_plan(events: Relation, query: EngagementQuery) -> Plan:
    first, last, last_day = _lifecycle_span(query)
    return sql_lifecycle.lifecycle_plan(
        events,
        query,
        query.new_means,
        first=first,
        last=last,
        last_day=last_day,
        finish=lambda counts: _lifecycle_frame(counts, query),
    )


def _lifecycle_span(query: EngagementQuery) -> tuple[int, int, dt.date]:
    """The first and last period numbers, and the last day of the last (whole) period."""
    _without_breakdown(query, "lifecycle")
    first = query.number_of(query.start)
    last = query.number_of(query.end)
    return first, last, query.first_day(last + 1) - dt.timedelta(days=1)


def _lifecycle_frame(counts: pl.LazyFrame, query: EngagementQuery) -> pl.DataFrame:
    """The status counts per period on the period grid, zeros where none."""
    filled = _fill_periods(counts, _period_grid(query), None, [], list(LIFECYCLE_STATUSES))
    return filled.select("period_start", *LIFECYCLE_STATUSES, "is_partial").collect()


def _lifecycle(events: Events, query: EngagementQuery) -> pl.DataFrame:
    first, last, last_day = _lifecycle_span(query)
    lf = _matching(events, query, None, last_day, [])
    active = (
        lf.select("user_id", period=query.period_number(pl.col("day")))
        .unique()
        .sort("user_id", "period")
    )
    same_as_previous = pl.col("user_id") == pl.col("user_id").shift(1)
    same_as_next = pl.col("user_id") == pl.col("user_id").shift(-1)
    previous = pl.when(same_as_previous).then(pl.col("period").shift(1))
    following = pl.when(same_as_next).then(pl.col("period").shift(-1))
    is_new = previous.is_null()
    if query.new_means == "first_seen":
        # The user's first event of any kind: neither the event nor the filters narrow it.
        everything = replace(query, event=None, scope=query.scope.with_filters(None))
        seen = (
            _matching(events, everything, None, last_day, [])
            .group_by("user_id")
            .agg(first_seen=query.period_number(pl.col("day").min()))
        )
        active = active.join(seen, on="user_id", how="left").sort("user_id", "period")
        is_new = pl.col("period") == pl.col("first_seen")
    status = (
        pl.when(is_new)
        .then(pl.lit("new"))
        .when(previous == pl.col("period") - 1)
        .then(pl.lit("returning"))
        .otherwise(pl.lit("resurrecting"))
    )
    marked = active.with_columns(status=status, following=following)
    now_active = marked.select("period", "status")
    # Active in p and not in p + 1: dormant in p + 1.
    went_dormant = marked.filter(
        pl.col("following").is_null() | (pl.col("following") != pl.col("period") + 1)
    ).select(period=pl.col("period") + 1, status=pl.lit("dormant"))
    counts = (
        pl.concat([now_active, went_dormant])
        .filter(pl.col("period").is_between(first, last))
        .group_by("period")
        .agg(*[(pl.col("status") == s).sum().cast(pl.Int64).alias(s) for s in LIFECYCLE_STATUSES])
    )
    return _lifecycle_frame(counts, query)


@pushdown(_lifecycle_plan)
def lifecycle_of(events: Events, query: EngagementQuery) -> pl.DataFrame:
    """The lifecycle of a built (unbroken-down) query: :func:`lifecycle`, *new* read as the
    query's ``new_means``."""
    return _lifecycle(events, query)


@_keyword_door(_lifecycle_plan)
def lifecycle(
    events: Events,
    *,
    start: Day,
    end: Day,
    interval: Interval = "day",
    event: EventSelector = None,
    filters: Mapping[str, Any] | None = None,
    week_start: WeekStart = "monday",
    tz: str = "UTC",
    new_means: NewMeans = "first_active",
) -> pl.DataFrame:
    """Lifecycle: each period's actives split into new, returning and resurrecting, and who left.

    For each period from the one holding ``start`` to the one holding ``end``:
    ``new`` = active now for the first time ever; ``returning`` = active now and in the previous
    period; ``resurrecting`` = active now, not in the previous period, but at some time before;
    ``dormant`` = active in the previous period, not now (a positive count; charts draw it below
    zero). The user's whole history counts, also before ``start``; whole periods count, as in
    PostHog, so ``is_partial`` marks a first or last period that sticks out of the range.

    ``new_means="first_seen"`` takes PostHog's and Amplitude's reading of *new* instead: active
    in the period of the user's first event of any kind (ignoring ``event`` and ``filters``); a
    user first seen earlier whose first matching event comes later is then resurrecting.

    Identities: new + returning + resurrecting = active users of the period, and
    dormant(t) = active(t-1) - returning(t).

    Returns ``period_start`` (Date), ``new``, ``returning``, ``resurrecting``, ``dormant`` (Int64),
    ``is_partial`` (Boolean).
    """
    query = EngagementQuery.build(
        start=start,
        end=end,
        tz=tz,
        filters=filters,
        interval=interval,
        event=event,
        week_start=week_start,
        new_means=new_means,
    )
    return _lifecycle(events, query)


# ------------------------------------------------------------------------------------------------
# Revenue
# ------------------------------------------------------------------------------------------------

_REVENUE_VALUES = ["revenue", "paying_users", "active_users"]


def _every_event(query: EngagementQuery) -> list[str]:
    """The breakdown keys of a revenue query, which counts every event (so names none)."""
    if query.event is not None:
        raise ValueError("event: revenue counts every event, so the query must name none")
    return query.keys


def _revenue_plan(events: Relation, query: EngagementQuery) -> Plan:
    keys = _every_event(query)
    return sql_engagement.revenue_plan(
        events, query, keys, lambda totals: _revenue_frame(totals, query, totals, keys)
    )


def _revenue(events: Events, query: EngagementQuery) -> pl.DataFrame:
    keys = _every_event(query)
    lf = as_lazy(events)
    has_revenue = "revenue" in lf.collect_schema().names()
    extra = ["revenue"] if has_revenue else []
    rows = _matching(lf, query, query.start, query.end, [*keys, *extra])
    amount = pl.col("revenue").cast(pl.Float64) if has_revenue else pl.lit(None, pl.Float64)
    rows = rows.select("user_id", *keys, period=query.period_number(pl.col("day")), amount=amount)
    totals = rows.group_by("period", *keys).agg(
        revenue=pl.col("amount").sum(),
        paying_users=pl.col("user_id").filter(pl.col("amount") > 0).n_unique().cast(pl.Int64),
        active_users=pl.col("user_id").n_unique().cast(pl.Int64),
    )
    return _revenue_frame(totals, query, rows, keys)


def _revenue_frame(
    totals: pl.LazyFrame, query: EngagementQuery, rows: pl.LazyFrame, keys: list[str]
) -> pl.DataFrame:
    """Totals per period on the period grid (× breakdown values in ``rows``), and the ratios."""
    filled = _fill_periods(totals, _period_grid(query), rows, keys, _REVENUE_VALUES)
    per_user = filled.with_columns(
        pl.col("revenue").cast(pl.Float64),
        arpu=pl.when(pl.col("active_users") > 0).then(pl.col("revenue") / pl.col("active_users")),
        arppu=pl.when(pl.col("paying_users") > 0).then(pl.col("revenue") / pl.col("paying_users")),
    )
    return per_user.select(
        "period_start", *keys, *_REVENUE_VALUES, "arpu", "arppu", "is_partial"
    ).collect()


@pushdown(_revenue_plan)
def revenue_of(events: Events, query: EngagementQuery) -> pl.DataFrame:
    """Revenue per active user of a built query that names no event: :func:`revenue`, split by
    the query's ``breakdown``."""
    return _revenue(events, query)


@_keyword_door(_revenue_plan)
def revenue(
    events: Events,
    *,
    start: Day,
    end: Day,
    interval: Interval = "day",
    filters: Mapping[str, Any] | None = None,
    breakdown: str | None = None,
    week_start: WeekStart = "monday",
    tz: str = "UTC",
) -> pl.DataFrame:
    """Revenue per active user: the money taken in each period, divided by the people active in it.

    Per period, over events inside ``start..end`` that pass ``filters``: ``revenue`` = sum of the
    ``revenue`` column (refunds, as negative amounts, reduce it); ``active_users`` = distinct users
    with any event; ``paying_users`` = distinct users with an event whose revenue is above zero;
    ``arpu`` = revenue / active_users; ``arppu`` = revenue / paying_users (null when the divisor is
    zero). Without a ``revenue`` column every amount is zero.

    Returns ``period_start`` (Date), [breakdown], ``revenue`` (Float64), ``paying_users``,
    ``active_users`` (Int64), ``arpu``, ``arppu`` (Float64), ``is_partial`` (Boolean).
    """
    query = EngagementQuery.build(
        start=start,
        end=end,
        tz=tz,
        filters=filters,
        interval=interval,
        week_start=week_start,
        breakdown=breakdown,
    )
    return _revenue(events, query)


# ------------------------------------------------------------------------------------------------
# Building blocks
# ------------------------------------------------------------------------------------------------


def _rolling_plan(
    events: Relation,
    query: EngagementQuery,
    windows: tuple[int, ...],
    finish: Callable[[pl.LazyFrame], pl.DataFrame],
) -> Plan:
    """The rolling counts in SQL: the engine gives the day-by-day changes, clamped to ``start``.

    The same pieces and changes as :func:`_rolling_counts`; the engine moves every change that
    happens before ``start`` onto ``start`` (so the running sum there is already right) and
    ``finish`` gets the same series the Polars path builds, from :func:`_rolling_series`.
    """
    keys = query.keys
    start_number, end_number = _day_number(query.start), _day_number(query.end)

    def series(deltas: pl.LazyFrame) -> pl.DataFrame:
        key_values = deltas.select(keys).unique() if keys else None
        return finish(_rolling_series(deltas, query, windows, keys, key_values, start_number))

    return sql_rolling.rolling_plan(
        events,
        query,
        windows,
        keys,
        first_day=query.start - dt.timedelta(days=max(windows) - 1),
        first_number=start_number,
        last_number=end_number,
        finish=series,
    )


def _matching(
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
    lf = query.scope.keep(as_lazy(events))
    _check_columns(lf, [c for c in columns if c != "revenue"], "breakdown")
    zone = ZoneInfo(query.tz)
    upper = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    conditions = [pl.col("timestamp") < upper, pl.col("user_id").is_not_null()]
    if first_day is not None:
        lower = dt.datetime.combine(first_day, dt.time(), zone).astimezone(dt.UTC)
        conditions.append(pl.col("timestamp") >= lower)
    if query.event is not None:
        conditions.append(event_expr(query.event))
    # A property no event has (a Null column of a hand-built frame) is text with no values, as
    # it is in any database, so a breakdown by it has the same type on every back end.
    schema = lf.collect_schema() if columns else {}
    return lf.filter(*conditions).select(
        pl.col("user_id"),
        local_date(query.tz).cast(pl.Int32).alias("day"),
        *[pl.col(c).cast(pl.String) if schema.get(c) == pl.Null else pl.col(c) for c in columns],
    )


def _rolling_counts(
    events: Events, query: EngagementQuery, windows: tuple[int, ...]
) -> pl.LazyFrame:
    """Distinct users active in the N days ending on each day of the range, for N in ``windows``.

    The interval-union trick (module docstring): each distinct (user, day) covers
    ``[day, day + min(N, gap) - 1]``, where gap is the distance to that user's next active day.
    """
    keys = query.keys
    reach = max(windows) - 1
    first_day = query.start - dt.timedelta(days=reach)
    origin = _day_number(first_day)
    end_number = _day_number(query.end)

    matching = _matching(events, query, first_day, query.end, keys)
    longest = max(windows)
    found = None if keys else _packed_pieces(matching, origin, end_number, longest)
    pieces = (found if found is not None else _exact_pieces(matching, keys, longest)).lazy()
    key_values = pieces.select(keys).unique() if keys else None
    changes = []
    for n in windows:
        piece_end = pl.col("day") + pl.min_horizontal(pl.col("gap"), pl.lit(n))
        starts = pieces.select(*keys, "day", delta=pl.col("pieces"))
        ends = pieces.select(*keys, piece_end.alias("day"), delta=-pl.col("pieces"))
        changes.append(
            pl.concat([starts, ends]).with_columns(window_days=pl.lit(n, dtype=pl.Int64))
        )
    deltas = (
        pl.concat(changes)
        .filter(pl.col("day") <= end_number)
        .group_by(*keys, "window_days", "day")
        .agg(pl.col("delta").sum())
    )
    return _rolling_series(deltas, query, windows, keys, key_values, origin)


def _rolling_series(
    deltas: pl.LazyFrame,
    query: EngagementQuery,
    windows: tuple[int, ...],
    keys: list[str],
    key_values: pl.LazyFrame | None,
    first: int,
) -> pl.LazyFrame:
    """Running sums of the changes per ([breakdown], window) over the days ``first..end``.

    ``deltas``: ([breakdown], ``window_days``, ``day``, ``delta``), the summed +1/-1 of the
    pieces; both back ends finish with this, so the day grid and the zero days are built once.
    """
    start_number, end_number = _day_number(query.start), _day_number(query.end)
    days = pl.LazyFrame({"day": pl.int_range(first, end_number + 1, eager=True).cast(pl.Int32)})
    grid = days.join(
        pl.LazyFrame({"window_days": list(windows)}, schema={"window_days": pl.Int64}), how="cross"
    )
    if key_values is not None:
        grid = key_values.join(grid, how="cross")
    series = (
        grid.join(deltas, on=[*keys, "window_days", "day"], how="left", nulls_equal=True)
        .with_columns(pl.col("delta").fill_null(0))
        .sort(*keys, "window_days", "day", nulls_last=True)
        .with_columns(active_users=pl.col("delta").cum_sum().over(*keys, "window_days"))
        .filter(pl.col("day").is_between(start_number, end_number))
    )
    return series.with_columns(period_start=pl.col("day").cast(pl.Date)).sort(
        "period_start", *keys, "window_days", nulls_last=True
    )


def _exact_pieces(matching: pl.LazyFrame, keys: list[str], longest: int) -> pl.DataFrame:
    """Distinct (user, day) pairs counted by ([breakdown], day, gap to the user's next day).

    Gaps longer than the longest window end every piece alike, so they are capped at it: a few
    small integers then summarise all pairs (at most days × gaps rows per breakdown value).
    """
    pairs = (
        matching.select(*keys, "user_id", "day")
        .unique()
        .sort(*keys, "user_id", "day", nulls_last=True)
    )
    same_user = reduce(
        lambda a, b: a & b,
        [pl.col(c).eq_missing(pl.col(c).shift(-1)) for c in (*keys, "user_id")],
    )
    gap = pl.when(same_user).then(pl.col("day").shift(-1) - pl.col("day"))
    return (
        pairs.select(*keys, "day", gap=gap.fill_null(longest).clip(upper_bound=longest))
        .group_by(*keys, "day", "gap")
        .agg(pieces=pl.len().cast(pl.Int64))
        .collect()
    )


def _packed_pieces(
    matching: pl.LazyFrame, first: int, last: int, longest: int
) -> pl.DataFrame | None:
    """What :func:`_exact_pieces` gives without breakdown, from integers instead of strings.

    Each event becomes one Int64 key, ``user code × days + day offset``, where the user code is
    the top bits of a 64-bit hash of ``user_id``: sorting that one column puts every user's days
    in order, and equal neighbours are the same (user, day). Hashing and sorting integers costs
    a fraction of grouping strings with dates (time and memory; see benchmarks/bench_engagement.py).

    Two different users could share a code. Beside each key rides a second, independent 32-bit
    hash of ``user_id``: neighbours with the same code and different second hashes are such a
    collision, and then this returns ``None`` so the caller takes the exact string path. A
    collision goes unnoticed only when two users agree on both hashes (79 bits, about 1 in 10^10
    for ten million users). ``None`` also when the day range does not fit beside the code.
    """
    span = last - first + 1
    if span > _MAX_PACKED_DAYS:
        return None
    code = (pl.col("user_id").hash(_CODE_SEED) // (1 << _CODE_SHIFT)).cast(pl.Int64)
    check = pl.col("user_id").hash(_CHECK_SEED).cast(pl.UInt32, wrap_numerical=True)
    ordered = matching.select(key=code * span + (pl.col("day") - first), check=check).sort("key")
    user = pl.col("key") // span
    collided = ordered.select(
        ((user == user.shift(1)) & (pl.col("check") != pl.col("check").shift(1))).any()
    )
    pairs = ordered.select("key").filter(pl.col("key").ne_missing(pl.col("key").shift(1)))
    # Within one user, neighbouring keys differ by the days between the two pairs.
    gap = pl.when(user == user.shift(-1)).then(pl.col("key").shift(-1) - pl.col("key"))
    summary = (
        pairs.select(
            day=(pl.col("key") % span + first).cast(pl.Int32),
            gap=gap.fill_null(longest).clip(upper_bound=longest).cast(pl.Int32),
        )
        .group_by("day", "gap")
        .agg(pieces=pl.len().cast(pl.Int64))
    )
    pieces, clash = pl.collect_all([summary, collided])
    if clash.item():
        return None
    return pieces


def _period_grid(query: EngagementQuery) -> pl.LazyFrame:
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


def _fill_periods(
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
        return _day_number(day)
    if interval == "week":
        return (_day_number(day) + _WEEK_SHIFT[week_start]) // 7
    return day.year * 12 + day.month - 1


def _first_day(number: int, interval: Interval, week_start: WeekStart) -> dt.date:
    if interval == "day":
        return _EPOCH + dt.timedelta(days=number)
    if interval == "week":
        return _EPOCH + dt.timedelta(days=number * 7 - _WEEK_SHIFT[week_start])
    return dt.date(number // 12, number % 12 + 1, 1)


def _day_number(day: dt.date) -> int:
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


def _normalise_event(event: EventSelector) -> str | tuple[str, ...] | None:
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
