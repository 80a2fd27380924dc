"""Figures for the Funnels page (no Streamlit here): plain functions returning Plotly figures.

Each builder takes a frame as :mod:`metrics.funnels` returns it. One convention runs through them:
users who have not made the next step yet but whose conversion window is still open ("still in
window") are never drawn as dropped off: they get their own, lighter, hatched segment or a hollow
marker, because their number can still change.
"""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from ui.charts import compare
from ui.text import plot

CONVERTED_COLOR = "#0969da"
DROPPED_COLOR = "#cf222e"
STILL_COLOR = "#bf8700"
#: A qualitative palette for breakdown values (colour-blind safe, Okabe–Ito).
PALETTE: tuple[str, ...] = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#f0e442",
    "#000000",
)
#: Breakdown values drawn (the biggest by step-1 users); the table has them all.
MAX_VALUES = 8
NOT_SET = "(not set)"
_MARGIN = {"l": 10, "r": 10, "t": 30, "b": 40}


def step_label(step: int, event: str) -> str:
    """'1. signup' — step numbers keep repeated events apart on the axis."""
    return f"{step}. {event}"


def _seconds_words(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def duration_words(seconds: float | None) -> str:
    """A time to convert for people: '45 s', '12.5 min', '3.2 h', '2.1 days'."""
    return _seconds_words(seconds)


def steps_figure(table: pl.DataFrame) -> go.Figure:
    """One bar per step: users who reached it (with the conversion from step 1), and stacked on
    top, of the previous step's users, those who dropped off and those still in their window.

    ``table`` is :func:`metrics.funnels.funnel`'s result without a breakdown.
    """
    table = table.sort("step")
    labels = [step_label(s, e) for s, e in zip(table["step"], table["event"], strict=True)]
    users = table["users"].to_list()
    rates = table["conversion_rate"].to_list()
    step_rates = table["step_conversion_rate"].to_list()
    medians = table["median_seconds_to_convert"].to_list()
    figure = go.Figure()
    figure.add_trace(
        go.Bar(
            x=labels,
            y=users,
            name="Reached the step",
            marker_color=CONVERTED_COLOR,
            text=[f"{r:.1%}" for r in rates],
            textposition="inside",
            insidetextanchor="end",
            customdata=list(
                zip(rates, step_rates, [duration_words(m) for m in medians], strict=True)
            ),
            hovertemplate="%{x}<br>%{y:,} users<br>%{customdata[0]:.1%} of step 1, "
            "%{customdata[1]:.1%} of the previous step<br>median time from the previous step: "
            "%{customdata[2]}<extra></extra>",
        )
    )
    figure.add_trace(
        go.Bar(
            x=labels,
            y=table["dropped_off"].to_list(),
            name="Dropped off",
            marker_color=DROPPED_COLOR,
            opacity=0.35,
            hovertemplate="%{x}<br>%{y:,} users dropped off on the way<extra></extra>",
        )
    )
    figure.add_trace(
        go.Bar(
            x=labels,
            y=table["still_in_window"].to_list(),
            name="Still in window",
            marker={"color": STILL_COLOR, "pattern": {"shape": "/"}},
            opacity=0.45,
            hovertemplate="%{x}<br>%{y:,} users could still make this step<extra></extra>",
        )
    )
    figure.update_layout(
        barmode="stack",
        margin=_MARGIN,
        yaxis={"title": "Users", "rangemode": "tozero"},
        xaxis={"title": None, "type": "category"},
        legend={"orientation": "h", "y": -0.15, "x": 0},
        hovermode="closest",
    )
    return figure


def breakdown_values(table: pl.DataFrame, breakdown: str, limit: int = MAX_VALUES) -> list:
    """The values drawn: the biggest by step-1 users, then alphabetically."""
    first = table.filter(pl.col("step") == 1).sort(
        ["users", breakdown], descending=[True, False], nulls_last=True
    )
    return first[breakdown].to_list()[:limit]


def breakdown_figure(table: pl.DataFrame, *, breakdown: str) -> go.Figure:
    """Conversion from step 1 at each step, one group of bars per step, one bar per value.

    ``table`` is :func:`metrics.funnels.funnel`'s result with ``breakdown``; error bars are the
    95% Wilson intervals.
    """
    figure = go.Figure()
    for i, value in enumerate(breakdown_values(table, breakdown)):
        part = table.filter(
            pl.col(breakdown).is_null() if value is None else pl.col(breakdown) == value
        ).sort("step")
        name = NOT_SET if value is None else str(value)
        rates = part["conversion_rate"].to_list()
        low = part["conversion_rate_ci_low"].to_list()
        high = part["conversion_rate_ci_high"].to_list()
        figure.add_trace(
            go.Bar(
                x=[step_label(s, e) for s, e in zip(part["step"], part["event"], strict=True)],
                y=rates,
                name=f"{name} ({int(part['users'][0]):,})",
                marker_color=PALETTE[i % len(PALETTE)],
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [
                        (h - r) if h is not None else 0 for r, h in zip(rates, high, strict=True)
                    ],
                    "arrayminus": [
                        (r - lo) if lo is not None else 0 for r, lo in zip(rates, low, strict=True)
                    ],
                    "thickness": 1,
                    "width": 3,
                },
                customdata=part["users"].to_list(),
                hovertemplate=f"{plot(breakdown)} = {plot(name)}<br>%{{x}}: %{{y:.1%}} "
                "(%{customdata:,} users)<extra></extra>",
            )
        )
    figure.update_layout(
        barmode="group",
        margin=_MARGIN,
        yaxis={"title": "Converted from step 1", "tickformat": ".0%", "range": [0, 1.05]},
        xaxis={"title": None, "type": "category"},
        legend={"orientation": "h", "y": -0.15, "x": 0, "title": {"text": breakdown}},
    )
    return figure


def trends_figure(
    trends: pl.DataFrame, *, interval: str, comparison: compare.Comparison | None = None
) -> go.Figure:
    """Conversion by entry day/week with its 95% band; periods with users still inside their
    window are hollow points (their rate can still rise); periods nobody entered are gaps.

    ``trends`` is :func:`metrics.funnels.funnel_trends`'s result without a breakdown;
    ``comparison``, the same for an earlier period on these dates, is drawn grey dashed.
    """
    trends = trends.sort("period_start")
    shown = trends.filter(pl.col("entered") > 0)
    figure = go.Figure()
    if shown.height:
        x = shown["period_start"].to_list()
        figure.add_trace(
            go.Scatter(
                x=x + x[::-1],
                y=shown["conversion_rate_ci_high"].to_list()
                + shown["conversion_rate_ci_low"].to_list()[::-1],
                fill="toself",
                fillcolor="rgba(9,105,218,0.12)",
                line={"width": 0},
                name="95% interval",
                hoverinfo="skip",
            )
        )
    rates = [
        r if e > 0 else None
        for r, e in zip(trends["conversion_rate"], trends["entered"], strict=True)
    ]
    still = trends["still_in_window"].to_list()
    figure.add_trace(
        go.Scatter(
            x=trends["period_start"].to_list(),
            y=rates,
            mode="lines+markers",
            name="Conversion",
            line={"color": CONVERTED_COLOR, "width": 2},
            marker={
                "color": ["white" if s > 0 else CONVERTED_COLOR for s in still],
                "line": {"color": CONVERTED_COLOR, "width": 2},
                "size": 7,
            },
            connectgaps=False,
            customdata=list(zip(trends["converted"], trends["entered"], still, strict=True)),
            hovertemplate=f"{interval} of %{{x|%d %b %Y}}: %{{y:.1%}}<br>%{{customdata[0]:,}} of "
            "%{customdata[1]:,} users; %{customdata[2]:,} still in their window<extra></extra>",
        )
    )
    if comparison is not None:
        entered = comparison.frame.filter(pl.col("entered") > 0)
        compare.overlay(figure, comparison, y="conversion_rate", rows=entered, hover="%{y:.1%}")
    figure.update_layout(
        margin=_MARGIN,
        # Enough digits for a narrow range: "0.5%, 1%, 1.5%", never "0%, 1%, 1%, 2%".
        yaxis={"title": "Converted", "tickformat": ".2~%", "rangemode": "tozero"},
        xaxis={"title": f"{interval.capitalize()} users entered"},
        legend={"orientation": "h", "y": -0.25, "x": 0},
        hovermode="closest",
    )
    return figure


def time_to_convert_figure(histogram: pl.DataFrame) -> go.Figure:
    """Users by how long they took from step 1 to the last step.

    ``histogram`` is :func:`metrics.funnels.time_to_convert`'s result without a breakdown.
    """
    starts = histogram["bin_start_seconds"].to_list()
    ends = histogram["bin_end_seconds"].to_list()
    labels = [f"{duration_words(a)}–{duration_words(b)}" for a, b in zip(starts, ends, strict=True)]
    figure = go.Figure(
        go.Bar(
            x=labels,
            y=histogram["users"].to_list(),
            marker_color=CONVERTED_COLOR,
            hovertemplate="%{x}: %{y:,} users<extra></extra>",
            name="Converted users",
        )
    )
    figure.update_layout(
        margin=_MARGIN,
        bargap=0.05,
        yaxis={"title": "Users", "rangemode": "tozero"},
        xaxis={"title": "Time from step 1 to the last step", "type": "category"},
    )
    return figure


def next_events_figure(table: pl.DataFrame) -> go.Figure:
    """The dropped users' most common next events, most common on top.

    ``table`` is :func:`metrics.funnels.next_events_after_drop`'s result without a breakdown.
    """
    table = table.sort(["users", "event"], descending=[False, True])
    figure = go.Figure(
        go.Bar(
            x=table["users"].to_list(),
            y=table["event"].to_list(),
            orientation="h",
            marker_color=DROPPED_COLOR,
            opacity=0.7,
            text=[f"{s:.0%}" for s in table["share"].to_list()],
            textposition="auto",
            customdata=table["share"].to_list(),
            hovertemplate="%{y}: %{x:,} users (%{customdata:.1%} of those who dropped off)"
            "<extra></extra>",
        )
    )
    figure.update_layout(
        margin=_MARGIN,
        xaxis={"title": "Users who dropped off", "rangemode": "tozero"},
        yaxis={"title": None, "type": "category"},
        height=max(260, 60 + 30 * table.height),
    )
    return figure
