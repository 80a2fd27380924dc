"""Comparing with an earlier period in the app: the sidebar's choice and the earlier series.

The choice is one shared control in the sidebar (``?compare=previous|year|none``, drawn by
:func:`ui.state.render_sidebar`). A page asks :func:`shift` for the earlier range, computes it
with the *same cached adapter* as the current range (so a source computed in its engine is
compared there too), and hands the result to :func:`earlier`, which moves it onto the current
dates (:func:`metrics.compare.align`) or says there is nothing to draw (:func:`note`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl
import streamlit as st

from metrics import compare
from metrics._common import Interval
from ui.charts.compare import Comparison

CHOICES: dict[compare.Compare, str] = {
    "none": "None",
    "previous": "Previous period",
    "year": "A year before",
}
#: The choices and periods by the names a control, a link or a KPI gives them.
_COMPARES: dict[str, compare.Compare] = {name: name for name in CHOICES}
_INTERVALS: dict[str, Interval] = {"day": "day", "week": "week", "month": "month"}
#: What the caption says is missing, per choice.
MISSING: dict[str, str] = {
    "previous": "the previous period",
    "year": "the same period a year before",
}


def control() -> str:
    """The sidebar's "Compare with" control, bound to ``?compare=`` (call inside the sidebar).

    The widget writes its label to the URL (``?compare=A+year+before``); a link typed by hand
    may name the choice itself (``?compare=year``) and is read the same way."""
    from ui import state

    raw = st.query_params.get("compare")
    if raw in CHOICES:
        state.reseed("compare", CHOICES[raw])
    elif raw is not None and raw not in CHOICES.values():
        state.reseed("compare", None)  # a link's unknown choice: no comparison
    picked = st.segmented_control(
        "Compare with",
        list(CHOICES),
        format_func=CHOICES.__getitem__,
        default="none",
        required=True,
        key="compare",
        bind="query-params",
        help="Overlay every time chart with the same number of days just before the range, or "
        "the same days a year before (364 days back, so Mondays meet Mondays).",
    )
    return picked if picked in CHOICES else "none"


def first_day(source: str, tz: str) -> dt.date | None:
    """The first local day with data: earlier days are missing, never zero (cached)."""
    from ui import engagement

    return engagement.first_data_day(source, tz)


def interval_of(value: str) -> Interval:
    """The period a control or a KPI names, as :data:`metrics._common.Interval`; ``ValueError``
    for another name."""
    found = _INTERVALS.get(value)
    if found is None:
        raise ValueError(f"interval must be one of 'day', 'week', 'month', not {value!r}")
    return found


def shift(start: dt.date, end: dt.date, choice: str, interval: str = "day") -> compare.Shift | None:
    """The earlier range for the sidebar's choice (``None``: no comparison, or a reversed range
    a link can hold, which the pages report on their own)."""
    picked = _COMPARES.get(choice)
    if picked is None or end < start:
        return None
    return compare.earlier(start, end, picked, interval=interval_of(interval))


def earlier(
    found: compare.Shift | None,
    compute: Callable[[dt.date, dt.date], pl.DataFrame],
    *,
    first_day: dt.date | None,
    interval: Interval = "day",
    column: str = "period_start",
) -> Comparison | None:
    """The earlier series on the current axis, computed by ``compute(start, end)`` (a cached
    adapter), or ``None`` when there is no comparison or no data to compare with (then
    :func:`note` says so)."""
    if found is None or not compare.covered(found, first_day):
        return None
    frame = compare.align(
        compute(found.start, found.end),
        found,
        column=column,
        first_day=first_day,
        interval=interval,
    )
    return Comparison(found.label, frame) if frame.height else None


def earlier_curve(
    found: compare.Shift | None,
    compute: Callable[[dt.date, dt.date], pl.DataFrame],
    *,
    first_day: dt.date | None,
) -> Comparison | None:
    """The earlier range's curve as it is (an x axis of offsets, not dates: nothing to move), or
    ``None`` when there is no comparison or nothing to compare with."""
    if found is None or not compare.covered(found, first_day):
        return None
    frame = compute(found.start, found.end)
    return Comparison(found.label, frame) if frame.height else None


def kpi_points(
    points: pl.DataFrame,
    found: compare.Shift | None,
    *,
    period: str,
    first_day: dt.date | None,
) -> Comparison | None:
    """A KPI's earlier points (from the scorecard as of the earlier range's end) on the current
    dates (:func:`metrics.compare.align_points`), or ``None`` when there are none."""
    if found is None or not compare.covered(found, first_day):
        return None
    moved = compare.align_points(
        points.filter(pl.col("level").is_not_null()),
        found,
        period=interval_of(period),
        first_day=first_day,
    )
    return Comparison(found.label, moved) if moved.height else None


def note(found: compare.Shift | None, comparison: Comparison | None) -> None:
    """A caption under a chart whose earlier period has no data ("no data for the same period a
    year before"), instead of a line drawn at zero."""
    if found is None or comparison is not None:
        return
    st.caption(
        f":material/history: No data for {MISSING[found.compare]} "
        f"({found.start:%d %b %Y} – {found.end:%d %b %Y}): nothing to compare with."
    )
