"""Cohort retention and revenue retention (docs/retention.md).

A cohort is the set of users who did the *start* event in one period; its retention at offset k is
the share of them who did the *return* event k periods later. Offset 0 is the cohort itself.

Choices, written down (docs/retention.md explains them in a PM's words):

- Calendar periods follow PostHog's retention insight: calendar days/weeks/months in the reporting
  zone; the first period is the one holding ``start`` (whole, even when ``start`` is mid-week) and
  the last is the one holding ``end`` (whole, for cohort membership and for returns). Events after
  that period are ignored; so are events before the first one, except that a ``first_time`` cohort
  looks at all history to decide whose start event is their first ever.
- Rolling periods follow Amplitude and Mixpanel: offset k of a user who started at t is
  [t + k·24h, t + (k+1)·24h) for days (elapsed time: a daylight-saving day still lasts 24h), 7×24h
  for weeks, and for months the whole months elapsed between the two wall-clock times in the
  reporting zone, as MySQL's TIMESTAMPDIFF(MONTH, t, r) counts them (Jan 31 -> Feb 28 is 0 months,
  -> Mar 1 is 1). The cohort is still the calendar period holding t. In a ``recurring`` cohort t is
  the user's first start event inside that cohort period; in a ``first_time`` one, their first ever.
  Rolling offsets end where calendar ones do (cohort + k never past the period holding ``end``) and
  only returns before the end of that period count.
- ``mode="on_or_after"`` is Amplitude's unbounded retention (PostHog's "cumulative"): retained at k
  counts cohort users with a return at offset k or at any later offset up to the last one.
- ``incomplete`` marks cells whose window is not over by the end of ``end``: the last calendar
  period when ``end`` is not its last day; for rolling offsets, every cell in which a user who
  started at the very end of the cohort period would still be inside the window (for revenue,
  offset 0 included: its money accrues over a window too).
- ``filters`` (an addition to the interface docs/metrics.md lists, which the pages need) are the
  query's scope (:class:`metrics.scope.Scope`): an event that does not match is dropped before
  anything is counted, start and return alike, and the history that decides "first time" too
  (PostHog's global property filters behave the same way).

Every table is defined by one frozen :class:`RetentionQuery`. :func:`retention_of` and
:func:`revenue_retention_of` take it; :func:`retention` and :func:`revenue_retention` are the same
calls with keyword arguments, which build it. On a :class:`~metrics.warehouse.Relation` either
form compiles the same query to SQL (``metrics/warehouse/retention.py``).

The package's modules: ``query`` (the query and the period grid), ``rows`` (the events read and
the cohorts), ``calendar`` and ``rolling`` (users retained per cell), ``tables`` (the finishing
steps both back ends share, and the pooled curves).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from metrics._common import Filters, Interval, WeekStart, as_lazy
from metrics.engagement.activity import Activity
from metrics.engagement.query import normalise_event
from metrics.retention.calendar import calendar_counts, calendar_counts_of_days, masks_fit
from metrics.retention.query import (
    MODES,
    PERIOD_BASES,
    RETENTION_TYPES,
    EventNames,
    EventSpec,
    Mode,
    PeriodBasis,
    PeriodGrid,
    RetentionQuery,
    RetentionType,
)
from metrics.retention.rolling import rolling_counts, rolling_offset
from metrics.retention.rows import cohorts, relevant_rows, sizes_query
from metrics.retention.tables import (
    average_curve,
    average_ltv,
    retained_matrix,
    retention_table,
    revenue_table,
)
from metrics.warehouse import Plan, Relation, pushdown
from metrics.warehouse import retention as sql_retention

__all__ = [
    "MODES",
    "PERIOD_BASES",
    "RETENTION_TYPES",
    "EventNames",
    "EventSpec",
    "Mode",
    "PeriodBasis",
    "PeriodGrid",
    "RetentionQuery",
    "RetentionType",
    "answers_from_activity",
    "average_curve",
    "average_ltv",
    "retention",
    "retention_from",
    "retention_of",
    "revenue_retention",
    "revenue_retention_of",
]

RETENTION_SCHEMA: dict[str, pl.DataType] = {
    "cohort_start": pl.Date(),
    "cohort_size": pl.Int64(),
    "offset": pl.Int64(),
    "retained": pl.Int64(),
    "rate": pl.Float64(),
    "rate_ci_low": pl.Float64(),
    "rate_ci_high": pl.Float64(),
    "incomplete": pl.Boolean(),
}


# --------------------------------------------------------------------------------------------------
# Planners: the same query and grid compiled to SQL for a Relation (metrics/warehouse)


def _retention_plan_of(events: Relation, query: RetentionQuery) -> Plan:
    grid = PeriodGrid.build(query)

    def finish(frames: list[pl.DataFrame]) -> pl.DataFrame:
        cells, counted = sql_retention.split_sizes(frames[0], "len")
        sizes, retained = retained_matrix(cells, counted, grid, query.mode)
        return retention_table(grid, query, sizes, retained)

    return sql_retention.retention_plan(events, query, grid, finish)


def _retention_plan(events: Relation, **kwargs: Any) -> Plan:
    return _retention_plan_of(events, RetentionQuery.build(**kwargs))


def _revenue_retention_plan_of(events: Relation, query: RetentionQuery) -> Plan:
    grid = PeriodGrid.build(query)

    def finish(frames: list[pl.DataFrame]) -> pl.DataFrame:
        by_cell, counted = sql_retention.split_sizes(frames[0], "paying_users")
        return revenue_table(grid, query, by_cell, counted)

    return sql_retention.revenue_plan(events, query, grid, finish)


def _revenue_retention_plan(events: Relation, **kwargs: Any) -> Plan:
    return _revenue_retention_plan_of(events, _revenue_query(**kwargs))


# --------------------------------------------------------------------------------------------------
# The query-taking functions


@pushdown(_retention_plan_of)
def retention_of(events: pl.DataFrame | pl.LazyFrame, query: RetentionQuery) -> pl.DataFrame:
    """Of the users who started in a period, the share who came back k periods later, for one
    :class:`RetentionQuery` (the table :func:`retention` describes)."""
    return _retention_table(events, query)


@pushdown(_revenue_retention_plan_of)
def revenue_retention_of(
    events: pl.DataFrame | pl.LazyFrame, query: RetentionQuery
) -> pl.DataFrame:
    """Money a cohort's users have brought in, per user, by k periods after they started, for one
    :class:`RetentionQuery` (the table :func:`revenue_retention` describes; the query's
    ``return_event`` and ``mode`` play no part)."""
    return _revenue_table(events, query)


def answers_from_activity(query: RetentionQuery) -> bool:
    """Whether :func:`retention_from` answers ``query``: calendar periods (a local day lies in
    one), the same event starting and returning, and at most 63 periods."""
    return (
        query.periods == "calendar"
        and normalise_event(query.start_event) == normalise_event(query.return_event)
        and masks_fit(PeriodGrid.build(query))
    )


def retention_from(activity: Activity, query: RetentionQuery) -> pl.DataFrame:
    """:func:`retention_of`'s frame from an activity table
    (:func:`metrics.engagement.activity_of`) counted for the query's zone, filters and event,
    without breakdown: every date range and interval from one table. ``ValueError`` when the
    table counted other events or :func:`answers_from_activity` is false."""
    if not answers_from_activity(query):
        raise ValueError(
            "activity: a table answers calendar periods (at most 63) of one event that both "
            "starts and returns; ask the events"
        )
    if (
        activity.breakdown is not None
        or activity.scope != query.scope.undated()
        or activity.event != normalise_event(query.start_event)
    ):
        raise ValueError(
            "activity: counted for another zone, filters or event than the query's "
            f"({activity.scope.tz}, {activity.scope.filters}, {activity.event!r})"
        )
    grid = PeriodGrid.build(query)
    days = activity.pairs.lazy().select(user_id="code", day="day")
    sizes, retained = calendar_counts_of_days(days, query, grid)
    return retention_table(grid, query, sizes, retained)


# The bodies both forms share. The keyword functions call these rather than the ``_of`` functions
# so that each call is one metric call (the cross-engine matrix repeats every metric call once).


def _retention_table(events: pl.DataFrame | pl.LazyFrame, query: RetentionQuery) -> pl.DataFrame:
    grid = PeriodGrid.build(query)
    rows = relevant_rows(events, query, grid)
    if query.periods == "calendar":
        sizes, retained = calendar_counts(rows, query, grid)
    else:
        sizes, retained = rolling_counts(rows, query, grid)
    return retention_table(grid, query, sizes, retained)


def _revenue_table(events: pl.DataFrame | pl.LazyFrame, query: RetentionQuery) -> pl.DataFrame:
    grid = PeriodGrid.build(query)
    revenue_column = query.revenue_column
    if revenue_column not in as_lazy(events).collect_schema():
        raise ValueError(f"revenue_column: the events have no column {revenue_column!r}")
    rows = relevant_rows(events, query, grid, revenue_column=revenue_column)
    members = cohorts(rows, query, grid)
    money = rows.filter(pl.col("in_window") & pl.col("revenue").is_not_null())
    if query.periods == "calendar":
        money = money.group_by("user_id", "idx").agg(
            pl.col("revenue").sum(), (pl.col("revenue") > 0).any().alias("paid")
        )
        joined = members.join(money, on="user_id").with_columns(
            (pl.col("idx") - pl.col("c")).alias("k")
        )
    else:
        # Revenue before the start time is not the cohort's (a month offset cannot tell).
        joined = (
            members.join(money.select("user_id", "ts", "revenue", "local"), on="user_id")
            .filter(pl.col("ts") >= pl.col("t"))
            .with_columns(rolling_offset(query).alias("k"))
        )
    by_cell_query = (
        joined.filter(pl.col("k").is_between(0, grid.n - 1 - pl.col("c")))
        .group_by("user_id", "c", "k")
        .agg(pl.col("revenue").sum(), (pl.col("revenue") > 0).any().alias("paid"))
        .group_by("c", "k")
        .agg(
            pl.col("revenue").sum(),
            pl.col("paid").sum().cast(pl.Int64).alias("paying_users"),
        )
    )
    # One collect for both, so the cohorts are computed once.
    by_cell, counted = pl.collect_all([by_cell_query, sizes_query(members)])
    return revenue_table(grid, query, by_cell, counted)


# --------------------------------------------------------------------------------------------------
# The public keyword functions


def _revenue_query(
    *,
    start: dt.date | dt.datetime | str,
    end: dt.date | dt.datetime | str,
    interval: Interval = "week",
    start_event: EventSpec = None,
    revenue_column: str = "revenue",
    retention_type: RetentionType = "first_time",
    periods: PeriodBasis = "calendar",
    week_start: WeekStart = "monday",
    tz: str = "UTC",
    filters: Filters = None,
) -> RetentionQuery:
    """The query of a :func:`revenue_retention` call (its defaults: first-time cohorts)."""
    return RetentionQuery.build(
        start=start,
        end=end,
        interval=interval,
        start_event=start_event,
        retention_type=retention_type,
        periods=periods,
        week_start=week_start,
        tz=tz,
        filters=filters,
        revenue_column=revenue_column,
    )


@pushdown(_retention_plan)
def retention(
    events: pl.DataFrame | pl.LazyFrame,
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
    filters: Filters = None,
) -> pl.DataFrame:
    """Of the users who started in a period, the share who came back (return event) k periods later.

    One row per cohort (period from the one holding ``start`` to the one holding ``end``) and offset
    k = 0, 1, ... up to the period holding ``end``: ``cohort_start`` (Date), ``cohort_size``,
    ``offset``, ``retained``, ``rate`` (null for an empty cohort), its 95% Wilson interval
    ``rate_ci_low``/``rate_ci_high``, and ``incomplete`` (the cell's window is not over by ``end``).

    ``retention_type``: ``"recurring"`` puts a user in every period where they did the start event;
    ``"first_time"`` only in the period of their first-ever start event (all history counts, so a
    user who first started before the range is in no cohort). ``mode``: ``"exact"`` counts a return
    in period cohort + k; ``"on_or_after"`` in that period or any later one. ``periods``:
    ``"calendar"`` or ``"rolling"`` (see the module notes). ``None`` as an event means any event.
    """
    query = RetentionQuery.build(
        start=start,
        end=end,
        interval=interval,
        start_event=start_event,
        return_event=return_event,
        retention_type=retention_type,
        mode=mode,
        periods=periods,
        week_start=week_start,
        tz=tz,
        filters=filters,
    )
    return _retention_table(events, query)


@pushdown(_revenue_retention_plan)
def revenue_retention(
    events: pl.DataFrame | pl.LazyFrame,
    *,
    start: dt.date | dt.datetime | str,
    end: dt.date | dt.datetime | str,
    interval: Interval = "week",
    start_event: EventSpec = None,
    revenue_column: str = "revenue",
    retention_type: RetentionType = "first_time",
    periods: PeriodBasis = "calendar",
    week_start: WeekStart = "monday",
    tz: str = "UTC",
    filters: Filters = None,
) -> pl.DataFrame:
    """Money a cohort's users have brought in, per user, by k periods after they started (LTV).

    Cohorts are formed exactly as in :func:`retention` (``first_time`` by default here: an LTV curve
    follows users from their first start; with ``recurring`` a user counts in every cohort they
    start in). Revenue is the sum of ``revenue_column`` over the cohort users' events (any event
    carrying revenue) in offset period k; offset 0 is the cohort period itself (calendar) or the
    first 24h/7×24h/month from the user's start (rolling).

    One row per cohort and offset: ``cohort_start``, ``cohort_size``, ``offset``, ``revenue``,
    ``paying_users`` (cohort users with revenue > 0 in that offset), ``revenue_per_user``,
    ``cumulative_revenue_per_user`` (revenue of offsets 0..k over the cohort size; null for an
    empty cohort) and ``incomplete``.
    """
    query = _revenue_query(
        start=start,
        end=end,
        interval=interval,
        start_event=start_event,
        revenue_column=revenue_column,
        retention_type=retention_type,
        periods=periods,
        week_start=week_start,
        tz=tz,
        filters=filters,
    )
    return _revenue_table(events, query)
