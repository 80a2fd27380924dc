"""Explain this number: a KPI's link opens its page at the KPI's own definition and period.

The Overview's link carries the KPI's definition in the URL parameters the page's widgets are
bound to (event, interval, retention type, funnel steps and window, ...; written as the widgets
write them: their labels, "Week", "First time"), the reporting zone, a date range that holds the
KPI's period, and ``kpi`` / ``kpi_period`` (which KPI, which period). The page reads its widgets as
usual and, while ``kpi`` is in the URL, shows the KPI's value for that period *from its own
results* as its first headline: the number on the Overview, explained by the charts below it.
The scorecard's value is the same number (tests/app/test_explain.py checks every kind).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl
import streamlit as st

from metrics import targets
from metrics._common import add_periods, period_of
from metrics.targets import (
    ActiveUsers,
    Arpu,
    DauMau,
    EventCount,
    Experiment,
    FunnelConversion,
    Lifecycle,
    PayingUsers,
    Retention,
    Revenue,
)
from ui import engagement as eng
from ui import funnels as fun
from ui import retention as ret
from ui.charts import targets as charts
from ui.text import md

#: Plain URL parameters: which KPI (its id) and which period (its first day) a page explains.
KPI_PARAM = "kpi"
PERIOD_PARAM = "kpi_period"
#: How many periods before the KPI's own the linked date range starts (context for the charts).
CONTEXT_PERIODS = {"day": 60, "week": 12, "month": 6}
Page = Literal["engagement", "retention", "funnels", "experiments"]
#: The file of each page that explains KPIs.
PAGES: dict[Page, str] = {
    "engagement": "pages/engagement.py",
    "retention": "pages/retention.py",
    "funnels": "pages/funnels.py",
    "experiments": "pages/experiments.py",
}


def page_of(kind: targets.MetricKind) -> Page:
    """The page that explains a KPI of this kind: the page of the family that computes it."""
    match kind:
        case (
            "active_users"
            | "dau_mau"
            | "lifecycle"
            | "revenue"
            | "arpu"
            | "paying_users"
            | "event_count"
        ):
            return "engagement"
        case "retention":
            return "retention"
        case "funnel_conversion":
            return "funnels"
        case "experiment":
            return "experiments"


def _iso(day: dt.date) -> str:
    return day.isoformat()


def link(
    kpi: targets.Kpi,
    row: Mapping[str, Any],
    *,
    tz: str,
    first_day: dt.date | None,
    last_day: dt.date,
) -> tuple[str, dict[str, Any]]:
    """The page that explains a scorecard row and the URL parameters that set it up.

    ``first_day`` / ``last_day``: the data's first day and the scorecard's last complete day (the
    linked range stays inside them).
    """
    page = PAGES[page_of(kpi.metric)]
    period = kpi.period
    as_of: dt.date | None = row.get("as_of")
    params: dict[str, Any] = {"tz": tz}
    for key, value in kpi.filters:
        params[f"f_{key}"] = [str(v) for v in value] if isinstance(value, tuple) else [str(value)]
    if as_of is None:
        return page, params
    start = period_of(as_of, period, "monday")
    params[KPI_PARAM] = kpi.id
    params[PERIOD_PARAM] = _iso(start)
    context = add_periods(start, period, -CONTEXT_PERIODS[period])
    if period == "day":
        context = min(context, as_of - dt.timedelta(days=targets.SMOOTHING_DAYS - 1))
    range_start = max(context, first_day) if first_day else context
    range_end = as_of
    p = kpi.params
    if isinstance(p, ActiveUsers | DauMau | Lifecycle | EventCount):
        params["eng_event"] = _event_label(p.event, eng.ANY_EVENT)
        params["eng_interval"] = eng.INTERVAL_LABELS[period]
        params["eng_week_start"] = eng.WEEK_START_LABELS["monday"]
        if isinstance(p, DauMau | Lifecycle):  # the tab whose chart holds the KPI
            tab = "dau_mau" if isinstance(p, DauMau) else "lifecycle"
            params[eng.MORE_KEY] = eng.MORE_TABS[tab]
    elif isinstance(p, Revenue | Arpu | PayingUsers):
        params["eng_event"] = eng.ANY_EVENT
        params["eng_interval"] = eng.INTERVAL_LABELS[period]
        params["eng_week_start"] = eng.WEEK_START_LABELS["monday"]
        params[eng.MORE_KEY] = eng.MORE_TABS["revenue"]
    elif isinstance(p, Retention):
        range_end = min(last_day, add_periods(start, period, p.reach) - dt.timedelta(days=1))
        params.update(
            {
                "ret_interval": ret.INTERVAL_LABELS[period],
                "ret_type": ret.TYPE_LABELS[p.retention_type],
                "ret_periods": ret.PERIOD_LABELS[p.periods],
                "ret_mode": ret.MODE_LABELS[p.mode],
                "ret_start_event": p.start_event or ret.ANY_EVENT,
                "ret_return_event": p.return_event or ret.ANY_EVENT,
                "ret_week_start": ret.WEEK_START_LABELS["monday"],
            }
        )
    elif isinstance(p, FunnelConversion):
        period_end = add_periods(start, period, 1) - dt.timedelta(days=1)
        range_start = start  # the funnel's steps chart then counts this period's entrants first
        range_end = min(last_day, period_end + dt.timedelta(days=p.window_days))
        params.update(
            {
                "fun_step_count": str(len(p.steps)),
                **{f"fun_step_{i}": step for i, step in enumerate(p.steps, start=1)},
                "fun_order": fun.ORDER_LABELS[p.order],
                "fun_window": str(p.window_days),
                "fun_window_unit": fun.UNIT_LABELS["day"],
                "fun_interval": fun.INTERVAL_LABELS[period],
            }
        )
    elif isinstance(p, Experiment):
        params["exp_experiment"] = p.experiment
        params["exp_control"] = p.control
    params["range"] = [_iso(range_start), _iso(max(range_start, range_end))]
    return page, params


def _event_label(event: str | tuple[str, ...] | None, any_label: str) -> str:
    if event is None:
        return any_label
    return event if isinstance(event, str) else event[0]


@dataclass(frozen=True)
class Explained:
    """The KPI a page was opened to explain, and the period (its first day) the Overview shows."""

    kpi: targets.Kpi
    period_start: dt.date
    currency: str

    @property
    def days(self) -> tuple[dt.date, dt.date]:
        """The days the value covers: the period, or the 7 days a daily KPI averages."""
        if self.kpi.period == "day":
            return self.period_start - dt.timedelta(days=6), self.period_start
        end = add_periods(self.period_start, self.kpi.period, 1) - dt.timedelta(days=1)
        return self.period_start, end


def current(page: str) -> Explained | None:
    """The KPI this page was opened to explain (from the URL), if it belongs to this page."""
    from ui import product
    from ui import targets as vision_file

    kpi_id = st.query_params.get(KPI_PARAM)
    day = st.query_params.get(PERIOD_PARAM)
    if not kpi_id or not day:
        return None
    try:
        vision = vision_file.read_vision().vision
        start = dt.date.fromisoformat(day)
    except ValueError:
        return None
    if vision is None:
        return None
    try:
        kpi = vision.kpi(kpi_id)
    except KeyError:
        return None
    if page_of(kpi.metric) != page:
        return None
    return Explained(kpi, start, product.currency(vision.currency))


def show(explained: Explained, value: float | None, how: str) -> None:
    """The KPI's value as this page computes it, first on the page, with what it counts."""
    first, last = explained.days
    if explained.kpi.period == "day":
        when = f"7-day average, {first:%d %b} – {last:%d %b %Y}"
    elif explained.kpi.period == "week":
        when = f"week of {first:%d %b} – {last:%d %b %Y}"
    else:
        when = f"{first:%B %Y}"
    with st.container(border=True):
        st.caption(f":material/star: Explaining a KPI from the Overview · {when}")
        st.metric(
            explained.kpi.name,
            charts.format_value(value, explained.kpi.unit, explained.currency),
            help="The same number as on the Overview's scorecard, computed here from this page's "
            "results with the KPI's own definition (set in the controls below).",
        )
        st.caption(md(how))


def _at(table: pl.DataFrame, column: str, day: dt.date, key: str = "period_start") -> float | None:
    if table.height == 0 or key not in table.columns:
        return None
    found = table.filter(pl.col(key) == day).get_column(column)
    return None if found.len() == 0 or found[0] is None else float(found[0])


def _mean_of_days(table: pl.DataFrame, column: str, explained: Explained) -> float | None:
    first, last = explained.days
    values = table.filter(pl.col("period_start").is_between(first, last)).get_column(column)
    if values.len() != targets.SMOOTHING_DAYS or values.null_count():
        return None
    mean = values.mean()
    return float(mean) if isinstance(mean, int | float) else None


def engagement_value(
    explained: Explained,
    *,
    rolling: pl.DataFrame,
    ratio: pl.DataFrame,
    periodic: pl.DataFrame | None,
    lifecycle: pl.DataFrame,
    money: pl.DataFrame,
) -> tuple[float | None, str]:
    """The KPI's value read from the Engagement page's own tables, and where it comes from."""
    p = explained.kpi.params
    day = explained.period_start
    if isinstance(p, ActiveUsers) and p.window_days is not None:
        lines = rolling.filter(pl.col("window_days") == p.window_days)
        return _mean_of_days(lines, "active_users", explained), (
            f"Read from the DAU/WAU/MAU chart: the {p.window_days}-day line, averaged over the "
            "7 days."
        )
    if isinstance(p, ActiveUsers):
        table = periodic if periodic is not None else pl.DataFrame()
        return _at(table, "active_users", day), "Read from the Active users chart below."
    if isinstance(p, DauMau):
        return _mean_of_days(ratio, "ratio", explained), "Read from the DAU/MAU tab below."
    if isinstance(p, Lifecycle):
        value = _at(lifecycle, p.state, day)
        return (None if value is None else abs(value)), (
            f"Read from the Lifecycle tab below: its {p.state} users."
        )
    if isinstance(p, Revenue | Arpu | PayingUsers):
        return _at(money, explained.kpi.metric, day), "Read from the Revenue tab below."
    return None, "This KPI's kind is not drawn on this page."


def retention_value(explained: Explained, table: pl.DataFrame) -> tuple[float | None, str]:
    """A retention KPI's value from the Retention page's cohort table."""
    p = explained.kpi.params
    if not isinstance(p, Retention):
        return None, "This KPI's kind is not drawn on this page."
    cohort = table.filter(pl.col("offset") == p.offset)
    return _at(cohort, "rate", explained.period_start, key="cohort_start"), (
        f"Read from the cohort triangle below: the cohort of {explained.period_start:%d %b %Y}, "
        f"{p.offset} {explained.kpi.period}(s) later."
    )


def funnel_value(explained: Explained, over_time: pl.DataFrame) -> tuple[float | None, str]:
    """A funnel KPI's value from the Funnels page's conversion over time."""
    return _at(over_time, "conversion_rate", explained.period_start), (
        "Read from Conversion over time below: the users who entered the funnel in this "
        f"{explained.kpi.period}, and the share who reached the last step in the window."
    )


@st.cache_data(max_entries=8, show_spinner=False)
def kpi_value(source: str, query: targets.KpiQuery) -> float | None:
    """A KPI's value for the last period before ``query.today``, computed as the scorecard
    computes it (for a kind no chart on its page draws: an experiment's running lift up to the
    period's end)."""
    from ui import data

    loaded = data.loaded()
    series = targets.kpi_series_of(loaded.events, query, assignments=loaded.assignments)
    period_start = add_periods(query.today, query.period, -1)
    return _at(targets.levels(series, query.period), "level", period_start)


def experiment_value(explained: Explained, source: str, tz: str) -> tuple[float | None, str]:
    """An experiment KPI's value (its running lift up to the period's end), and what it is."""
    kpi = explained.kpi
    p = kpi.params
    if not isinstance(p, Experiment):
        return None, "This KPI's kind is not drawn on this page."
    end = add_periods(explained.period_start, kpi.period, 1)
    value = kpi_value(source, targets.KpiQuery.build(kpi, today=end, tz=tz))
    return value, (
        f"The relative lift in users who did {p.event} after their first exposure to "
        f"{p.experiment}, treatment over control, for everyone exposed up to the end of this "
        f"{kpi.period} (the Overview's running read-out). The results below use the "
        "whole run, so they can differ."
    )


__all__ = [
    "Explained",
    "current",
    "engagement_value",
    "experiment_value",
    "funnel_value",
    "link",
    "page_of",
    "retention_value",
    "show",
]
