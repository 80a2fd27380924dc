"""The Engagement page's glue: cached adapters over :mod:`metrics.engagement`, and its choices.

Every adapter takes the *source key* (name and load generation, :func:`ui.data.source_key`) and the
metric parameters (cheap to hash), fetches the events with :func:`ui.data.events` and calls one
metric; ``st.cache_data`` sits on these adapters only. The small helpers below them turn results
into what the page shows (headline numbers, the words of the definition cards, the KPI targets from
the vision file), so the page stays layout.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import streamlit as st

from metrics import compare, engagement
from metrics.warehouse import Relation
from ui import catalogue, data, engine, product, state
from ui.text import code, md

#: Shown in the event picker for "any event" (``event=None``).
ANY_EVENT = "Any event"
#: Shown in the breakdown picker for "no breakdown".
NO_BREAKDOWN = "No breakdown"
INTERVAL_LABELS = {"day": "Day", "week": "Week", "month": "Month"}
WEEK_START_LABELS = {"monday": "Monday", "sunday": "Sunday"}
WINDOWS = (1, 7, 30)

Filters = Mapping[str, list[str]]


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
# Cached adapters: one metric call each
# ---------------------------------------------------------------------------------------------


@engine.cached(max_entries=16, show_spinner="Counting daily, weekly and monthly active users…")
def rolling(
    source: str, start: dt.date, end: dt.date, tz: str, filters: Filters, event: str | None
) -> pl.DataFrame:
    """DAU, WAU and MAU per day (:func:`metrics.engagement.rolling_active_users`)."""
    return engagement.rolling_active_users(
        data.events(),
        start=start,
        end=end,
        windows=WINDOWS,
        event=event,
        filters=dict(filters) or None,
        tz=tz,
    )


@engine.cached(max_entries=16, show_spinner="Counting active users…")
def periodic(
    source: str,
    start: dt.date,
    end: dt.date,
    tz: str,
    filters: Filters,
    event: str | None,
    interval: str,
    week_start: str,
    breakdown: str | None,
) -> pl.DataFrame:
    """Active users per calendar period (:func:`metrics.engagement.active_users`)."""
    return engagement.active_users(
        data.events(),
        start=start,
        end=end,
        interval=interval,  # type: ignore[arg-type]
        event=event,
        filters=dict(filters) or None,
        breakdown=breakdown,
        week_start=week_start,  # type: ignore[arg-type]
        tz=tz,
    )


@engine.cached(max_entries=16, show_spinner="Counting how often users come back…")
def stickiness(
    source: str,
    start: dt.date,
    end: dt.date,
    tz: str,
    filters: Filters,
    event: str | None,
    interval: str,
    interval_count: int,
    week_start: str,
) -> pl.DataFrame:
    """Users by how many intervals they were active in (:func:`metrics.engagement.stickiness`)."""
    return engagement.stickiness(
        data.events(),
        start=start,
        end=end,
        interval=interval,  # type: ignore[arg-type]
        interval_count=interval_count,
        event=event,
        filters=dict(filters) or None,
        week_start=week_start,  # type: ignore[arg-type]
        tz=tz,
    )


@engine.cached(max_entries=16, show_spinner="Computing DAU/MAU…")
def dau_mau(
    source: str, start: dt.date, end: dt.date, tz: str, filters: Filters, event: str | None
) -> pl.DataFrame:
    """The DAU/MAU ratio per day (:func:`metrics.engagement.dau_mau`)."""
    return engagement.dau_mau(
        data.events(), start=start, end=end, event=event, filters=dict(filters) or None, tz=tz
    )


@engine.cached(max_entries=16, show_spinner="Sorting users into new, returning, resurrecting…")
def lifecycle(
    source: str,
    start: dt.date,
    end: dt.date,
    tz: str,
    filters: Filters,
    event: str | None,
    interval: str,
    week_start: str,
) -> pl.DataFrame:
    """New, returning, resurrecting, dormant users (:func:`metrics.engagement.lifecycle`)."""
    return engagement.lifecycle(
        data.events(),
        start=start,
        end=end,
        interval=interval,  # type: ignore[arg-type]
        event=event,
        filters=dict(filters) or None,
        week_start=week_start,  # type: ignore[arg-type]
        tz=tz,
    )


@engine.cached(max_entries=16, show_spinner="Adding up revenue…")
def revenue(
    source: str,
    start: dt.date,
    end: dt.date,
    tz: str,
    filters: Filters,
    interval: str,
    week_start: str,
    breakdown: str | None,
) -> pl.DataFrame:
    """Revenue, paying users, revenue per (paying) user (:func:`metrics.engagement.revenue`)."""
    return engagement.revenue(
        data.events(),
        start=start,
        end=end,
        interval=interval,  # type: ignore[arg-type]
        filters=dict(filters) or None,
        breakdown=breakdown,
        week_start=week_start,  # type: ignore[arg-type]
        tz=tz,
    )


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


def headlines_before(
    source: str,
    start: dt.date,
    end: dt.date,
    tz: str,
    filters: Filters,
    event: str | None,
    first_day: dt.date | None,
) -> dict[str, Before | None]:
    """The numbers of the day lined up with ``end`` in the previous period and a year before
    (:mod:`metrics.compare`), each computed by the same cached adapters on that one day;
    ``None`` where that day is before the first day of data."""
    out: dict[str, Before | None] = {}
    if end < start:  # a link's reversed range: the page says what is wrong
        return out
    for choice in ("previous", "year"):
        found = compare.earlier(start, end, choice)  # type: ignore[arg-type]
        assert found is not None
        day = found.end
        if not compare.covered(found, first_day):
            out[choice] = None
            continue
        out[choice] = (
            day,
            rolling(source, day, day, tz, filters, event),
            dau_mau(source, day, day, tz, filters, event),
        )
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


def describe_scope(event: str | None, filters: Filters, tz: str) -> str:
    """The words every definition card starts with: who counts, in which zone."""
    what = "event of any kind" if event is None else f"{code(event)} event"
    where = ""
    if filters:
        parts = [f"{md(k)} = {', '.join(map(md, v))}" for k, v in sorted(filters.items())]
        where = f" with {'; '.join(parts)}"
    return (
        f"Counting unit: a user (`user_id`) with at least one {what}{where}. "
        f"Days are calendar days in **{md(tz)}**."
    )


def describe_weeks(interval: str, week_start: str) -> str:
    """Which calendar periods: how weeks start, or that months are calendar months."""
    if interval == "week":
        return f"Weeks are calendar weeks starting {WEEK_START_LABELS[week_start]}."
    if interval == "month":
        return "Months are calendar months."
    return ""


@dataclass(frozen=True)
class Targets:
    """KPI targets from the vision file that fit what the page currently shows."""

    rolling: dict[int, float] = field(default_factory=dict)
    periodic: dict[str, float] = field(default_factory=dict)
    dau_mau: float | None = None
    currency: str = "USD"


def vision_targets(event: str | None, filters: Filters) -> Targets:
    """Targets of the current source's own vision KPIs on the same metric, event and filters as
    the page's charts (:func:`ui.product.vision_path`: never another product's).

    A KPI on ``active_users`` with a rolling window targets that line of the DAU/WAU/MAU chart;
    without one, the chart of its period; a ``dau_mau`` KPI targets the DAU/MAU chart. A missing
    or broken vision file means no targets (the Overview page reports its problems).
    """
    from ui import targets as vision_file

    try:
        vision = vision_file.read_vision().vision
    except Exception:  # noqa: BLE001 - a broken vision file must not break this page
        vision = None
    if vision is None:
        # No vision of this product's own (never another product's): no target lines.
        return Targets(currency=product.currency())
    rolling_targets: dict[int, float] = {}
    periodic_targets: dict[str, float] = {}
    ratio_target = None
    wanted = _normal_filters(filters)
    for kpi in vision.kpis:
        params: Any = kpi.params
        if _normal_event(getattr(params, "event", None)) != _normal_event(event):
            continue
        if _normal_filters(kpi.filter_map) != wanted:
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


def _count_on(table: pl.DataFrame, day: dt.date) -> int | None:
    value = _value_on(table, "active_users", day)
    return None if value is None else int(value)


def _value_on(table: pl.DataFrame, column: str, day: dt.date) -> float | None:
    found = table.filter(pl.col("period_start") == day).get_column(column)
    if found.len() == 0 or found[0] is None:
        return None
    return float(found[0])


def _normal_event(event: Any) -> tuple[str, ...] | None:
    if event is None:
        return None
    if isinstance(event, str):
        return (event,)
    return tuple(sorted(event))


def _normal_filters(filters: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    out = {}
    for key, value in filters.items():
        values = value if isinstance(value, list | tuple | set) else [value]
        if values:
            out[key] = tuple(sorted(map(str, values)))
    return out


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
