"""The Engagement page's glue: its query, cached adapters over :mod:`metrics.engagement`, and
its choices.

The page builds one :class:`~metrics.engagement.EngagementQuery` from its controls and the
sidebar's scope (:func:`page_query`). Every adapter takes the *source key* (name and load
generation, :func:`ui.data.source_key`) and a query (frozen, cheap to hash), fetches the events with
:func:`ui.data.events` and calls one metric's query function; ``st.cache_data`` sits on these
adapters only. The small helpers below them turn results into what the page shows (headline
numbers, the words of the definition cards, the KPI targets from the vision file), so the page
stays layout.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from metrics import compare, engagement
from metrics._common import Interval, WeekStart
from metrics.engagement import EngagementQuery
from metrics.scope import FilterItems, Scope
from metrics.vision import Vision
from metrics.warehouse import Relation
from ui import activity, catalogue, data, engine, product, state
from ui.text import code, md

#: Shown in the event picker for "any event" (``event=None``).
ANY_EVENT = "Any event"
#: Shown in the breakdown picker for "no breakdown".
NO_BREAKDOWN = "No breakdown"
INTERVAL_LABELS: dict[Interval, str] = {"day": "Day", "week": "Week", "month": "Month"}
WEEK_START_LABELS: dict[WeekStart, str] = {"monday": "Monday", "sunday": "Sunday"}
WINDOWS = (1, 7, 30)
#: The page's secondary views, each in a tab drawn only while open; the label is the value a link
#: gives ``eng_more`` (renaming a label breaks saved links to that tab).
MORE_KEY = "eng_more"
MORE_TABS = {
    "dau_mau": "DAU/MAU",
    "stickiness": "Stickiness",
    "lifecycle": "Lifecycle",
    "revenue": "Revenue",
}
#: The periods and first weekdays by the names a control or a link gives them.
_INTERVALS: dict[str, Interval] = {name: name for name in INTERVAL_LABELS}
_WEEK_STARTS: dict[str, WeekStart] = {name: name for name in WEEK_START_LABELS}


# ---------------------------------------------------------------------------------------------
# Choices offered by the page's controls
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choices:
    """What the controls can offer for the current source."""

    events: list[str]
    properties: list[str]


def choices(source: str) -> Choices:
    """Event names (most frequent first) and properties worth breaking down by (ui.catalogue:
    from the engine for a source computed there)."""
    return Choices(
        events=catalogue.event_names(source), properties=sorted(catalogue.properties(source))
    )


@st.cache_data(max_entries=8, show_spinner=False)
def first_data_day(source: str, tz: str) -> dt.date | None:
    """The first local day with any plausible event (rolling windows before it are not yet full;
    a stray row at the epoch does not count, see LoadReport.time_range)."""
    loaded = data.loaded()
    if loaded.report.time_range is None and (
        isinstance(loaded.events, Relation) or loaded.events.height == 0
    ):
        return None
    return state.data_bounds(loaded.events, tz, loaded.report.time_range)[0]


# ---------------------------------------------------------------------------------------------
# The page's queries: its controls and the sidebar's scope
# ---------------------------------------------------------------------------------------------


def interval_of(value: str | None) -> Interval:
    """The Interval a control (or a link) names; a day when it names none."""
    return _INTERVALS.get(value or "day", "day")


def week_start_of(value: str | None) -> WeekStart:
    """The first weekday a control (or a link) names; Monday when it names none."""
    return _WEEK_STARTS.get(value or "monday", "monday")


def page_query(
    scope: Scope, *, event: str | None, interval: str | None, week_start: str | None
) -> EngagementQuery:
    """The page's question: the sidebar's days, zone and filters, the picked event, interval and
    first weekday (``ValueError`` names what is wrong, as a link can hold a reversed range)."""
    return EngagementQuery.build(
        scope=scope,
        event=event,
        interval=interval_of(interval),
        week_start=week_start_of(week_start),
    )


def daily(query: EngagementQuery) -> EngagementQuery:
    """The question of the DAU/WAU/MAU and DAU/MAU charts: the same days and events, per day."""
    return EngagementQuery(scope=query.scope, event=query.event, windows=WINDOWS)


def over(query: EngagementQuery, start: dt.date, end: dt.date) -> EngagementQuery:
    """The same question over other days (a compared range, a headline's earlier day)."""
    return replace(query, scope=query.scope.between(start, end))


# ---------------------------------------------------------------------------------------------
# Cached adapters: one metric call each, keyed by the source and the query
# ---------------------------------------------------------------------------------------------


def _table_for(source: str, query: EngagementQuery) -> engagement.Activity | None:
    """The shared activity table (:func:`ui.activity.table`) that answers ``query``, or
    ``None``: then the events answer."""
    return activity.table(source, query.scope, query.event, query.breakdown)


@engine.cached(max_entries=16, show_spinner="Counting daily, weekly and monthly active users…")
def rolling(source: str, query: EngagementQuery) -> pl.DataFrame:
    """DAU, WAU and MAU per day (:func:`metrics.engagement.rolling_active_users_of`), from the
    shared activity table (:func:`ui.activity.table`): a new date range, a headline's earlier
    day or a compared range reads no event (issue 12 item 5)."""
    table = _table_for(source, query)
    if table is not None:
        return engagement.rolling_active_users_from(table, query)
    return engagement.rolling_active_users_of(data.events(), query)


@engine.cached(max_entries=16, show_spinner="Counting active users…")
def periodic(source: str, query: EngagementQuery) -> pl.DataFrame:
    """Active users per calendar period (:func:`metrics.engagement.active_users_of`), from the
    shared activity table."""
    table = _table_for(source, query)
    if table is not None:
        return engagement.active_users_from(table, query)
    return engagement.active_users_of(data.events(), query)


@engine.cached(max_entries=16, show_spinner="Counting how often users come back…")
def stickiness(source: str, query: EngagementQuery) -> pl.DataFrame:
    """Users by how many intervals they were active in
    (:func:`metrics.engagement.stickiness_of`), from the shared activity table."""
    table = _table_for(source, query)
    if table is not None:
        return engagement.stickiness_from(table, query)
    return engagement.stickiness_of(data.events(), query)


@engine.cached(max_entries=16, show_spinner="Computing DAU/MAU…")
def dau_mau(source: str, query: EngagementQuery) -> pl.DataFrame:
    """The DAU/MAU ratio per day (:func:`metrics.engagement.dau_mau_of`), from the cached DAU,
    WAU and MAU of the same query (:func:`rolling`), which the page draws beside it: a changed
    filter or range counts the events once, not twice (issue 12 item 5)."""
    windows = tuple(sorted({*query.windows, *engagement.dau_mau_windows(query)}))
    shared = query if windows == query.windows else replace(query, windows=windows)
    return engagement.dau_mau_from_rolling(rolling(source, shared), shared)


@engine.cached(max_entries=16, show_spinner="Sorting users into new, returning, resurrecting…")
def lifecycle(source: str, query: EngagementQuery) -> pl.DataFrame:
    """New, returning, resurrecting, dormant users (:func:`metrics.engagement.lifecycle_of`),
    from the shared activity table when *new* means first active."""
    table = _table_for(source, query) if query.new_means == "first_active" else None
    if table is not None:
        return engagement.lifecycle_from(table, query)
    return engagement.lifecycle_of(data.events(), query)


@engine.cached(max_entries=16, show_spinner="Adding up revenue…")
def revenue(source: str, query: EngagementQuery) -> pl.DataFrame:
    """Revenue, paying users, revenue per (paying) user (:func:`metrics.engagement.revenue_of`);
    the query names no event (revenue counts every event)."""
    return engagement.revenue_of(data.events(), query)


# ---------------------------------------------------------------------------------------------
# What the page shows around the charts
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    """One number at the top of the page: its value on the last day and its change against the
    lined-up day of the previous period (``delta``) and of a year before (``year_delta``)."""

    label: str
    value: int | float | None
    delta: int | float | None
    help: str
    percent: bool = False
    year_delta: int | float | None = None

    @property
    def delta_text(self) -> str | None:
        """The change as shown: users with a sign, or percentage points for a ratio."""
        return self._change(self.delta)

    @property
    def year_text(self) -> str:
        """The change against a year before, in words ("no data" where there is none)."""
        change = self._change(self.year_delta)
        return "no data a year before" if change is None else f"{change} vs a year before"

    def _change(self, delta: int | float | None) -> str | None:
        if delta is None:
            return None
        if self.percent:
            return f"{delta * 100:+.1f} pp"
        return f"{delta:+,}"


#: The earlier days a headline is compared with: (the day, its rolling table, its DAU/MAU table).
Before = tuple[dt.date, pl.DataFrame, pl.DataFrame]


#: The earlier days every headline is compared with.
_HEADLINE_COMPARES: tuple[compare.Compare, ...] = ("previous", "year")


def headlines_before(
    source: str, query: EngagementQuery, first_day: dt.date | None
) -> dict[str, Before | None]:
    """The numbers of the day lined up with the range's end in the previous period and a year
    before (:mod:`metrics.compare`), each computed by the same cached adapters on that one day
    (``query``: :func:`daily`); ``None`` where that day is before the first day of data."""
    out: dict[str, Before | None] = {}
    for choice in _HEADLINE_COMPARES:
        found = compare.earlier(query.start, query.end, choice)
        assert found is not None  # only "none" compares with nothing
        day = found.end
        if not compare.covered(found, first_day):
            out[choice] = None
            continue
        earlier = over(query, day, day)
        out[choice] = (day, rolling(source, earlier), dau_mau(source, earlier))
    return out


def headlines(
    rolling_table: pl.DataFrame,
    ratio_table: pl.DataFrame,
    before: Mapping[str, Before | None] | None = None,
) -> list[Headline]:
    """DAU, WAU, MAU and DAU/MAU on the range's last day, each against the lined-up day of the
    previous period and of a year before (``before``: :func:`headlines_before`)."""
    if rolling_table.height == 0:
        return []
    last = rolling_table.get_column("period_start").max()
    assert isinstance(last, dt.date)
    before = before or {}
    previous, year = before.get("previous"), before.get("year")
    against = f"; the change is against {previous[0]:%a %d %b %Y}" if previous else ""
    out = []
    for days, label in ((1, "DAU"), (7, "WAU"), (30, "MAU")):
        now = _count_on(rolling_table.filter(pl.col("window_days") == days), last)
        changes = [
            None
            if earlier is None
            else compare.change(
                now,
                _count_on(earlier[1].filter(pl.col("window_days") == days), earlier[0]),
            )
            for earlier in (previous, year)
        ]
        out.append(
            Headline(
                label=label,
                value=now,
                delta=_whole(changes[0]),
                year_delta=_whole(changes[1]),
                help=f"Distinct users active in the {days} day(s) ending {last:%a %d %b %Y}"
                f"{against}.",
            )
        )
    now_ratio = _value_on(ratio_table, "ratio", last)
    ratio_changes = [
        None
        if earlier is None
        else compare.change(now_ratio, _value_on(earlier[2], "ratio", earlier[0]))
        for earlier in (previous, year)
    ]
    out.append(
        Headline(
            label="DAU/MAU",
            value=now_ratio,
            delta=ratio_changes[0],
            year_delta=ratio_changes[1],
            help=f"The share of the last 30 days' users who were active on the day{against}.",
            percent=True,
        )
    )
    return out


def _whole(value: float | None) -> int | None:
    return None if value is None else int(value)


def revenue_total(table: pl.DataFrame) -> float:
    """The revenue of a revenue table (every period, every breakdown value) added up."""
    return float(table.get_column("revenue").sum() or 0.0) if table.height else 0.0


def money_text(value: float | None, currency: str) -> str:
    """An amount in the product's currency (:func:`ui.charts.money.money`)."""
    from ui.charts import money

    return money.money(value, currency)


def has_activity(table: pl.DataFrame, column: str = "active_users") -> bool:
    """Whether a result counted anyone at all (an empty range is a message, not a chart)."""
    return table.height > 0 and bool(table.get_column(column).sum())


def describe_scope(query: EngagementQuery) -> str:
    """The words every definition card starts with: who counts, in which zone."""
    event = query.event
    if event is None:
        what = "event of any kind"
    elif isinstance(event, str):
        what = f"{code(event)} event"
    else:
        what = f"{' or '.join(map(code, event))} event"
    where = ""
    if query.filters:
        parts = [f"{md(k)} = {', '.join(map(md, _values(v)))}" for k, v in query.filters]
        where = f" with {'; '.join(parts)}"
    return (
        f"Counting unit: a user (`user_id`) with at least one {what}{where}. "
        f"Days are calendar days in **{md(query.tz)}**."
    )


def describe_weeks(query: EngagementQuery) -> str:
    """Which calendar periods: how weeks start, or that months are calendar months."""
    if query.interval == "week":
        return f"Weeks are calendar weeks starting {WEEK_START_LABELS[query.week_start]}."
    if query.interval == "month":
        return "Months are calendar months."
    return ""


@dataclass(frozen=True)
class Targets:
    """KPI targets from the vision file that fit what the page currently shows."""

    rolling: dict[int, float] = field(default_factory=dict)
    periodic: dict[str, float] = field(default_factory=dict)
    dau_mau: float | None = None
    currency: str = "USD"


def vision_targets(query: EngagementQuery) -> Targets:
    """Targets of the current source's own vision KPIs on the same metric, event and filters as
    the page's charts (:func:`ui.product.vision_path`: never another product's).

    A KPI on ``active_users`` with a rolling window targets that line of the DAU/WAU/MAU chart;
    without one, the chart of its period; a ``dau_mau`` KPI targets the DAU/MAU chart. A missing
    or broken vision file means no targets (the Overview page reports its problems).
    """
    vision = _vision()
    if vision is None:
        # No vision of this product's own (never another product's): no target lines.
        return Targets(currency=product.currency())
    rolling_targets: dict[int, float] = {}
    periodic_targets: dict[str, float] = {}
    ratio_target = None
    for kpi in vision.kpis:
        params: Any = kpi.params
        if _event_names(getattr(params, "event", None)) != _event_names(query.event):
            continue
        if not _same_filters(Scope().with_filters(kpi.filters).filters, query.filters):
            continue
        if kpi.metric == "active_users":
            if params.window_days is not None:
                rolling_targets.setdefault(params.window_days, kpi.target)
            else:
                periodic_targets.setdefault(params.period, kpi.target)
        elif kpi.metric == "dau_mau" and ratio_target is None:
            ratio_target = kpi.target
    currency = product.currency(vision.currency)
    return Targets(rolling_targets, periodic_targets, ratio_target, currency)


def _vision() -> Vision | None:
    """The current source's vision, read once per version of its file (cached on the file's
    path, modification time and size; ``None`` when it is missing or broken)."""
    path = product.vision_path()
    try:
        stat = path.stat()
    except OSError:
        return None
    return _read_vision(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)  # as ui/data.py reads sources.toml: the file's stamp is the key
def _read_vision(path: str, modified_ns: int, size: int) -> Vision | None:
    from ui import targets as vision_file

    try:
        return vision_file.read_vision(Path(path)).vision
    except Exception:  # noqa: BLE001 - a broken vision file must not break this page
        return None


def _count_on(table: pl.DataFrame, day: dt.date) -> int | None:
    value = _value_on(table, "active_users", day)
    return None if value is None else int(value)


def _value_on(table: pl.DataFrame, column: str, day: dt.date) -> float | None:
    found = table.filter(pl.col("period_start") == day).get_column(column)
    if found.len() == 0 or found[0] is None:
        return None
    return float(found[0])


def _event_names(event: object) -> frozenset[str] | None:
    """The events a KPI or the page counts, in any order (``None``: every event)."""
    if event is None:
        return None
    if isinstance(event, str):
        return frozenset((event,))
    if isinstance(event, list | tuple):
        return frozenset(map(str, event))
    return frozenset((str(event),))


def _same_filters(kpi: FilterItems, page: FilterItems) -> bool:
    """Whether a KPI's filters keep the events the page's keep: the same properties, each with
    the same values (one value and a list of it are the same; the order of a list does not count).
    Both come normalised by :func:`metrics.scope.normalise_filters`."""
    return {k: frozenset(map(str, _values(v))) for k, v in kpi} == {
        k: frozenset(map(str, _values(v))) for k, v in page
    }


def _values(wanted: object) -> tuple[Any, ...]:
    """One property's filter values: a tuple (membership) as it is, a lone value as one."""
    return wanted if isinstance(wanted, tuple) else (wanted,)


def rolling_wide(rolling_table: pl.DataFrame) -> pl.DataFrame:
    """The DAU/WAU/MAU table one row per day (``dau``, ``wau``, ``mau``), as a PM reads it."""
    names = {1: "dau", 7: "wau", 30: "mau"}
    return (
        rolling_table.with_columns(
            pl.col("window_days").replace_strict(names, default=None, return_dtype=pl.String)
        )
        .pivot("window_days", index="period_start", values="active_users")
        .sort("period_start")
    )
