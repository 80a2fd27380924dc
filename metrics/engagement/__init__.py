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

The package: ``query.py`` holds the query and what it counts (events, days, periods);
``windows.py`` the rolling windows (WAU, MAU) computed without a range join; this module the
metrics, each as its Polars plan, its SQL planner and its two doors.
"""

from __future__ import annotations

import datetime as dt
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import polars as pl

from metrics._common import Interval, WeekStart, as_lazy
from metrics.engagement.activity import Activity, activity_of
from metrics.engagement.query import (
    DEFAULT_WINDOWS,
    Day,
    EngagementQuery,
    Events,
    EventSelector,
    NewMeans,
    fill_periods,
    matching,
    period_grid,
)
from metrics.engagement.windows import (
    rolling_counts,
    rolling_counts_of_pairs,
    rolling_counts_of_rows,
    rolling_plan,
)
from metrics.warehouse import Plan, Relation, pushdown
from metrics.warehouse import engagement as sql_engagement
from metrics.warehouse import lifecycle as sql_lifecycle

__all__ = [
    "Activity",
    "EngagementQuery",
    "active_users",
    "activity_of",
    "active_users_of",
    "dau_mau",
    "dau_mau_from_rolling",
    "dau_mau_of",
    "dau_mau_windows",
    "lifecycle",
    "lifecycle_from",
    "lifecycle_of",
    "revenue",
    "revenue_of",
    "rolling_active_users",
    "rolling_active_users_from",
    "rolling_active_users_of",
    "stickiness",
    "stickiness_from",
    "stickiness_of",
]

LIFECYCLE_STATUSES: tuple[str, ...] = ("new", "returning", "resurrecting", "dormant")
#: DAU/MAU's "month" when the query names no ``window_days`` (PostHog's MAU).
MONTH_DAYS = 30


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
        return rolling_plan(
            events, query, (query.window_days,), lambda r: _window_as_active_users(r, keys)
        )

    def finish(counts: pl.LazyFrame) -> pl.DataFrame:
        filled = fill_periods(counts, period_grid(query), counts, keys, ["active_users"])
        return filled.select("period_start", *keys, "active_users", "is_partial").collect()

    return sql_engagement.active_users_plan(events, query, keys, finish)


def _rows(
    events: Events | Activity,
    query: EngagementQuery,
    first_day: dt.date | None,
    last_day: dt.date,
    keys: list[str],
) -> pl.LazyFrame:
    """The counted (``user_id``, ``day``[, keys]) rows between two local days: from the events
    (:func:`matching`) or from an activity table (:meth:`Activity.rows`)."""
    if isinstance(events, Activity):
        return events.rows(query, first_day, last_day)
    return matching(events, query, first_day, last_day, keys)


def _rolling(
    events: Events | Activity, query: EngagementQuery, windows: tuple[int, ...]
) -> pl.LazyFrame:
    """The rolling counts from the events, or from an activity table's sorted pairs."""
    if isinstance(events, Activity):
        events.check(query)
        if query.breakdown is None:
            return rolling_counts_of_pairs(events.pairs, query, windows)
        reach = query.start - dt.timedelta(days=max(windows) - 1)
        return rolling_counts_of_rows(events.rows(query, reach, query.end), query, windows)
    return rolling_counts(events, query, windows)


def _active_users(events: Events | Activity, query: EngagementQuery) -> pl.DataFrame:
    keys = query.keys
    if query.window_days is not None:
        return _window_as_active_users(_rolling(events, query, (query.window_days,)), keys)
    lf = _rows(events, query, query.start, query.end, keys)
    pairs = lf.select("user_id", *keys, period=query.period_number(pl.col("day"))).unique()
    counts = pairs.group_by("period", *keys).agg(active_users=pl.len().cast(pl.Int64))
    filled = fill_periods(counts, period_grid(query), pairs, keys, ["active_users"])
    return filled.select("period_start", *keys, "active_users", "is_partial").collect()


@pushdown(_active_users_plan)
def active_users_of(events: Events, query: EngagementQuery) -> pl.DataFrame:
    """Active users of a built query: :func:`active_users`, reading ``window_days`` and
    ``breakdown`` from the query."""
    return _active_users(events, query)


def active_users_from(activity: Activity, query: EngagementQuery) -> pl.DataFrame:
    """:func:`active_users_of`'s frame from an activity table counted for the query's zone,
    filters and event (:func:`activity_of`); ``ValueError`` as for
    :func:`rolling_active_users_from`."""
    return _active_users(activity, query)


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
    return rolling_plan(
        events,
        query,
        query.windows,
        lambda r: r.select("period_start", *keys, "window_days", "active_users").collect(),
    )


def _rolling_active_users(events: Events | Activity, query: EngagementQuery) -> pl.DataFrame:
    _per_day(query, "rolling_active_users")
    rolling = _rolling(events, query, query.windows)
    return rolling.select("period_start", *query.keys, "window_days", "active_users").collect()


@pushdown(_rolling_active_users_plan)
def rolling_active_users_of(events: Events, query: EngagementQuery) -> pl.DataFrame:
    """DAU, WAU and MAU of a built (daily) query: :func:`rolling_active_users`, reading
    ``windows`` and ``breakdown`` from the query."""
    return _rolling_active_users(events, query)


def rolling_active_users_from(activity: Activity, query: EngagementQuery) -> pl.DataFrame:
    """:func:`rolling_active_users_of`'s frame from an activity table counted for the query's
    zone, filters and event (:func:`activity_of`): one table answers every range in
    milliseconds. ``ValueError`` when the table counted other events or by another breakdown
    (:meth:`Activity.check`)."""
    return _rolling_active_users(activity, query)


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
    return rolling_plan(events, query, windows, lambda r: _dau_mau_frame(r, month))


def _dau_mau(events: Events, query: EngagementQuery) -> pl.DataFrame:
    month = _month_of(query)
    windows = tuple(sorted({1, month}))
    return _dau_mau_frame(rolling_counts(events, query, windows), month)


def _dau_mau_frame(rolling: pl.LazyFrame, window_days: int) -> pl.DataFrame:
    """The one-day and ``window_days`` counts side by side, and their ratio."""
    by_day = rolling.group_by("period_start").agg(
        dau=pl.col("active_users").filter(pl.col("window_days") == 1).first(),
        mau=pl.col("active_users").filter(pl.col("window_days") == window_days).first(),
    )
    ratio = pl.when(pl.col("mau") > 0).then(pl.col("dau") / pl.col("mau"))
    return by_day.with_columns(ratio=ratio.cast(pl.Float64)).sort("period_start").collect()


def dau_mau_windows(query: EngagementQuery) -> tuple[int, ...]:
    """The rolling windows DAU/MAU reads: one day and its month."""
    return tuple(sorted({1, _month_of(query)}))


def dau_mau_from_rolling(rolling: pl.DataFrame, query: EngagementQuery) -> pl.DataFrame:
    """:func:`dau_mau_of` from :func:`rolling_active_users_of`'s table for the same query, whose
    ``windows`` hold :func:`dau_mau_windows`: the same frame, without counting the events again
    (the Engagement page shows both, for the range and for each headline's earlier day)."""
    month = _month_of(query)
    missing = sorted(set(dau_mau_windows(query)) - set(query.windows))
    if missing:
        raise ValueError(f"the rolling table has no {missing}-day windows for DAU/MAU")
    return _dau_mau_frame(rolling.lazy(), month)


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


def _stickiness(events: Events | Activity, query: EngagementQuery) -> pl.DataFrame:
    intervals = _intervals_of(query)
    origin = query.number_of(query.start)
    lf = _rows(events, query, query.start, query.end, [])
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


def stickiness_from(activity: Activity, query: EngagementQuery) -> pl.DataFrame:
    """:func:`stickiness_of`'s frame from an activity table counted for the query's zone,
    filters and event (:func:`activity_of`); ``ValueError`` as for
    :func:`rolling_active_users_from`."""
    return _stickiness(activity, query)


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
    filled = fill_periods(counts, period_grid(query), None, [], list(LIFECYCLE_STATUSES))
    return filled.select("period_start", *LIFECYCLE_STATUSES, "is_partial").collect()


def _lifecycle(events: Events | Activity, query: EngagementQuery) -> pl.DataFrame:
    first, last, last_day = _lifecycle_span(query)
    lf = _rows(events, query, None, last_day, [])
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
            _rows(events, everything, None, last_day, [])
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


def lifecycle_from(activity: Activity, query: EngagementQuery) -> pl.DataFrame:
    """:func:`lifecycle_of`'s frame from an activity table counted for the query's zone,
    filters and event (:func:`activity_of`); ``ValueError`` as for
    :func:`rolling_active_users_from`. *New* as ``first_seen`` reads every event, so it needs a
    table counted with no filters and no event."""
    return _lifecycle(activity, query)


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
    rows = matching(lf, query, query.start, query.end, [*keys, *extra])
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
    filled = fill_periods(totals, period_grid(query), rows, keys, _REVENUE_VALUES)
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
