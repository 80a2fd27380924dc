"""The shared filters every page reads: date range, reporting time zone and property filters.

They are drawn once in the sidebar by ``app.py`` (before the page runs) and bound to the URL with
``bind="query-params"``, so a view can be shared by link. Pages call :func:`shared` to read them.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, available_timezones

import polars as pl
import streamlit as st

from metrics._common import NOT_SET
from metrics.scope import Scope
from metrics.warehouse import Relation
from ui import compare, data, shell
from ui.text import md

#: Zones offered first; every other IANA zone follows them (a link may name any of them).
COMMON_ZONES: tuple[str, ...] = (
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
)

ZONES: tuple[str, ...] = COMMON_ZONES + tuple(
    sorted(zone for zone in available_timezones() if zone not in COMMON_ZONES)
)
#: A string property with at most this many values is offered as a filter.
MAX_FILTER_VALUES = 50
#: ...and only when most events carry it: filtering on a property that a few event types carry
#: (an experiment's variant on exposure events) would silently drop every other event.
MIN_FILTER_COVERAGE = 0.5
#: Columns of the canonical schema that are never offered as property filters.
NOT_PROPERTIES = {"user_id", "event", "timestamp", "event_id", "session_id", "revenue"}


@dataclass(frozen=True)
class SharedFilters:
    """What the sidebar says: the inclusive local-date range, the zone and property filters."""

    start: dt.date
    end: dt.date
    tz: str
    filters: dict[str, list[str]] = field(default_factory=dict)
    #: The earlier period every time chart is compared with: "none", "previous" or "year".
    compare: str = "none"

    @property
    def filters_or_none(self) -> dict[str, list[str]] | None:
        return self.filters or None

    @property
    def scope(self) -> Scope:
        """The part every family's query carries (:class:`metrics.scope.Scope`)."""
        return Scope.build(start=self.start, end=self.end, tz=self.tz, filters=self.filters)


def filterable_properties(events: pl.DataFrame) -> dict[str, list[str]]:
    """String properties most events carry, with few distinct values, and those values (sorted,
    then "(not set)" where some events have none)."""
    out: dict[str, list[str]] = {}
    for name, dtype in events.schema.items():
        if name in NOT_PROPERTIES or dtype not in (pl.String, pl.Categorical, pl.Enum):
            continue
        column = events.get_column(name)
        if events.height == 0 or column.null_count() > (1 - MIN_FILTER_COVERAGE) * events.height:
            continue
        values = column.drop_nulls().unique()
        if 0 < values.len() <= MAX_FILTER_VALUES:
            # Events without a value are "(not set)", as the breakdowns show them.
            missing = [NOT_SET] if column.null_count() else []
            out[name] = sorted(values.cast(pl.String).to_list()) + missing
    return out


@st.cache_data(max_entries=8, show_spinner=False)
def _sidebar_facts(source: str, tz: str) -> tuple[dt.date, dt.date, dict[str, list[str]]]:
    # Keyed by the source key: scanning millions of events for filter values once per load (in
    # the engine for a source computed there: ui.catalogue).
    from ui import catalogue

    source_data = data.loaded()
    first, last = data_bounds(source_data.events, tz, source_data.report.time_range)
    return first, last, catalogue.properties(source)


#: The sidebar's range never leaves these days: pages add weeks, months and a year to its ends,
#: and dates stop at 9999-12-31 (a source whose every time is implausible, e.g. all 9999-12-31 or
#: year 1, then opens on an empty range instead of crashing the page).
SAFE_FIRST = dt.date(1900, 1, 1)
SAFE_LAST = dt.date(9000, 12, 31)


def _safe(day: dt.date) -> dt.date:
    return min(max(day, SAFE_FIRST), SAFE_LAST)


def data_bounds(
    events: pl.DataFrame | Relation,
    tz: str,
    time_range: tuple[dt.datetime, dt.datetime] | None = None,
) -> tuple[dt.date, dt.date]:
    first, last = _data_bounds(events, tz, time_range)
    return _safe(first), _safe(last)


def _data_bounds(
    events: pl.DataFrame | Relation,
    tz: str,
    time_range: tuple[dt.datetime, dt.datetime] | None = None,
) -> tuple[dt.date, dt.date]:
    """First and last local day with data (today-independent: the clock is never read for data).

    ``time_range`` is the load report's range of plausible events (``LoadReport.time_range``):
    given, it wins, so one stray row dated 9999-12-31 or 1970-01-01 cannot stretch the range.
    """
    if time_range is not None:
        zone = ZoneInfo(tz)
        try:
            return time_range[0].astimezone(zone).date(), time_range[1].astimezone(zone).date()
        except OverflowError:  # an instant at the very end of the calendar, in a zone ahead
            return time_range[0].date(), time_range[1].date()
    if isinstance(events, Relation) or events.height == 0:  # a relation's range is its report's
        today = dt.date.today()
        return today, today
    stamps = events.select(
        pl.col("timestamp").min().dt.convert_time_zone(tz).dt.date().alias("lo"),
        pl.col("timestamp").max().dt.convert_time_zone(tz).dt.date().alias("hi"),
    ).row(0)
    return stamps[0], stamps[1]


def render_sidebar() -> SharedFilters:
    """Draw the shared filters in the sidebar and remember them for the page."""
    with st.sidebar:
        st.subheader("Filters")
        tz = st.selectbox(
            "Reporting time zone",
            ZONES,
            key="tz",
            bind="query-params",
            help="A 'day' is a calendar day in this zone, for every chart.",
        )
        first, last, properties = _sidebar_facts(data.source_key(), tz)
        default_start = max(first, last - dt.timedelta(days=89))
        picked = st.date_input(
            "Date range",
            value=(default_start, last),
            min_value=first,
            max_value=last,
            key="range",
            bind="query-params",
            help="Inclusive of both days, in the reporting time zone.",
        )
        start, end = _as_range(picked, default_start, last)
        choice = compare.control()  # "Compare with", ?compare= (ui/compare.py)
        filters: dict[str, list[str]] = {}
        for prop, values in properties.items():
            chosen = st.multiselect(
                md(prop.replace("_", " ").capitalize()),  # a column name: a label is Markdown
                values,
                key=f"f_{prop}",
                bind="query-params",
                placeholder=f"All {prop} values",
            )
            if chosen:
                filters[prop] = list(chosen)
    current = SharedFilters(start=start, end=end, tz=tz, filters=filters, compare=choice)
    st.session_state["_shared_filters"] = current
    return current


def _as_range(
    picked: object, default_start: dt.date, default_end: dt.date
) -> tuple[dt.date, dt.date]:
    # While the user is mid-way through picking a range the widget holds one date only.
    if isinstance(picked, tuple | list):
        if len(picked) == 2:
            return picked[0], picked[1]
        if len(picked) == 1:
            return picked[0], picked[0]
    if isinstance(picked, dt.date):
        return picked, picked
    return default_start, default_end


def finite_param(key: str) -> None:
    """Drop a number widget's URL value that is no finite number (``?fun_window=1e309``), before
    the widget reads it: Streamlit would fail converting it; the widget's default is used instead.
    """
    value = st.query_params.get(key)
    if value is None:
        return
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        st.query_params.pop(key, None)
        _forget_seed(key)
        st.toast(f"The link's {md(key)} is not a number: the default is used.")


def reseed(key: str, value: str | None) -> None:
    """Set (or with ``None`` drop) a bound widget's URL value before the widget reads it."""
    if value is None:
        st.query_params.pop(key, None)
        _forget_seed(key)
        return
    st.query_params[key] = value
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    state = getattr(getattr(ctx, "session_state", None), "_state", None)
    seeds = getattr(getattr(state, "query_params", None), "_initial_query_params", None)
    if isinstance(seeds, dict) and key in seeds:
        seeds[key] = [value]


def _forget_seed(key: str) -> None:
    # A bound widget is seeded from the URL as the session first saw it, not from
    # st.query_params: drop the value there too (Streamlit 1.67 keeps it on the session's
    # QueryParams as _initial_query_params).
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    state = getattr(getattr(ctx, "session_state", None), "_state", None)
    seeds = getattr(getattr(state, "query_params", None), "_initial_query_params", None)
    if isinstance(seeds, dict):
        seeds.pop(key, None)


def shared() -> SharedFilters:
    """The shared filters drawn by app.py for this run."""
    shell.ensure()
    current = st.session_state.get("_shared_filters")
    if current is None:
        raise RuntimeError(
            "ui.state.render_sidebar must run (in app.py) before a page reads filters"
        )
    return current
