"""Figures for the Engagement page (no Streamlit here): plain functions returning Plotly figures.

Each builder takes a frame as :mod:`metrics.engagement` (or :mod:`ui.engagement`) returns it.
Two conventions run through them, so a PM reads every chart the same way:

- a period that is only partly inside the date range (``is_partial``), or a rolling window that
  reaches back before the first day of data, is drawn **dotted with hollow markers** (lines) or
  **hatched and faded** (bars): its number is real but not comparable with its neighbours';
- a KPI target, where one is given, is a grey dashed horizontal line labelled with its value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from ui.charts import compare
from ui.charts import money as cash
from ui.text import plot

WINDOW_LABELS: dict[int, str] = {1: "DAU", 7: "WAU", 30: "MAU"}
WINDOW_COLORS: dict[int, str] = {1: "#0969da", 7: "#8250df", 30: "#1a7f37"}
LIFECYCLE_COLORS: dict[str, str] = {
    "new": "#1a7f37",
    "returning": "#0969da",
    "resurrecting": "#bf8700",
    "dormant": "#cf222e",
}
LIFECYCLE_LABELS: dict[str, str] = {
    "new": "New",
    "returning": "Returning",
    "resurrecting": "Resurrecting",
    "dormant": "Dormant",
}
#: A qualitative palette for breakdown series (colour-blind safe, Okabe–Ito).
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
TARGET_COLOR = "#6e7781"
INTERVAL_NOUNS: dict[str, str] = {"day": "day", "week": "week", "month": "month"}
_MARGIN = {"l": 10, "r": 10, "t": 30, "b": 40}


def window_label(days: int) -> str:
    """DAU / WAU / MAU, or "14-day active users" for any other window."""
    return WINDOW_LABELS.get(days, f"{days}-day active users")


def rolling_active_figure(
    series: pl.DataFrame,
    *,
    data_start: dt.date | None = None,
    targets: Mapping[int, float] | None = None,
    comparison: compare.Comparison | None = None,
) -> go.Figure:
    """DAU, WAU and MAU as lines over days.

    ``series`` has ``period_start``, ``window_days``, ``active_users`` (as
    :func:`metrics.engagement.rolling_active_users` returns). Days whose window reaches back
    before ``data_start`` (the first day with any data) are dotted: the window is not yet full.
    ``targets`` maps a window length (7 for WAU) to a KPI target drawn as a dashed line.
    ``comparison`` (the same table for an earlier period, on these days) is drawn grey dashed.
    """
    figure = go.Figure()
    flagged = False
    for days in sorted(series.get_column("window_days").unique().to_list()):
        one = series.filter(pl.col("window_days") == days).sort("period_start")
        x = one.get_column("period_start").to_list()
        y = one.get_column("active_users").to_list()
        incomplete = [
            data_start is not None and d - dt.timedelta(days=days - 1) < data_start for d in x
        ]
        flagged |= _add_line(
            figure,
            x,
            y,
            incomplete,
            name=window_label(days),
            color=WINDOW_COLORS.get(days, PALETTE[days % len(PALETTE)]),
            hover="%{x|%a %d %b %Y}: %{y:,} users",
            dotted_name="window not yet full",
        )
    compare.lines(
        figure,
        comparison,
        by="window_days",
        y="active_users",
        names=WINDOW_LABELS,
        hover="%{y:,} users",
    )
    if flagged:
        _dotted_legend(figure, "window reaches before the first day of data")
    for days, value in (targets or {}).items():
        _add_target(figure, value, f"{window_label(days)} target")
    figure.update_layout(
        margin=_MARGIN,
        yaxis_title="Active users",
        yaxis_tickformat=",",
        yaxis_rangemode="tozero",
        hovermode="x unified",
        legend={"orientation": "h", "y": 1.08, "x": 0},
    )
    return figure


def active_users_figure(
    table: pl.DataFrame,
    *,
    interval: str,
    breakdown: str | None = None,
    target: float | None = None,
    max_series: int = 8,
    comparison: compare.Comparison | None = None,
) -> go.Figure:
    """Active users per period (one line, or one per breakdown value), partial periods dotted.

    ``table`` has ``period_start``, [breakdown], ``active_users``, ``is_partial`` (as
    :func:`metrics.engagement.active_users` returns). With a breakdown, the ``max_series``
    values with the most active users are drawn; the table behind the chart has them all.
    ``comparison`` (without a breakdown: the earlier periods, on these) is drawn grey dashed.
    """
    noun = INTERVAL_NOUNS.get(interval, interval)
    figure = go.Figure()
    flagged = False
    for i, (label, part) in enumerate(_series(table, breakdown, "active_users", max_series)):
        flagged |= _add_line(
            figure,
            part.get_column("period_start").to_list(),
            part.get_column("active_users").to_list(),
            part.get_column("is_partial").to_list(),
            name=label,
            color=PALETTE[i % len(PALETTE)],
            hover=f"{noun} of %{{x|%d %b %Y}}: %{{y:,}} users",
            dotted_name="partial period",
        )
    if comparison is not None and breakdown is None:
        compare.overlay(figure, comparison, y="active_users", hover="%{y:,} users")
    if flagged:
        _dotted_legend(figure, "partial period")
    if target is not None:
        _add_target(figure, target, "Target")
    figure.update_layout(
        margin=_MARGIN,
        yaxis_title=f"Active users per {noun}",
        yaxis_tickformat=",",
        yaxis_rangemode="tozero",
        hovermode="x unified",
        showlegend=True,
        legend={"orientation": "h", "y": 1.08, "x": 0, "title": {"text": breakdown or ""}},
    )
    return figure


def stickiness_figure(table: pl.DataFrame, *, interval: str, interval_count: int = 1) -> go.Figure:
    """A histogram: how many users were active in exactly 1, 2, 3, … intervals of the range.

    ``table`` has ``intervals_active`` and ``users`` (as :func:`metrics.engagement.stickiness`).
    """
    total = int(table.get_column("users").sum())
    shares = [u / total if total else 0.0 for u in table.get_column("users").to_list()]
    unit = INTERVAL_NOUNS.get(interval, interval)
    if interval_count > 1:
        unit = f"{interval_count}-{unit} block"
    figure = go.Figure(
        go.Bar(
            x=table.get_column("intervals_active").to_list(),
            y=table.get_column("users").to_list(),
            customdata=shares,
            marker_color=WINDOW_COLORS[1],
            hovertemplate=f"active in %{{x}} {unit}s: %{{y:,}} users (%{{customdata:.1%}})"
            "<extra></extra>",
        )
    )
    figure.update_layout(
        margin=_MARGIN,
        xaxis_title=f"{unit.capitalize()}s active in the range",
        yaxis_title="Users",
        yaxis_tickformat=",",
        xaxis={"dtick": 1 if table.height <= 31 else None},
        bargap=0.1,
    )
    return figure


def dau_mau_figure(
    table: pl.DataFrame,
    *,
    data_start: dt.date | None = None,
    window_days: int = 30,
    target: float | None = None,
    comparison: compare.Comparison | None = None,
) -> go.Figure:
    """The DAU/MAU ratio per day as a line (a percentage), dotted where the month is not yet full.

    ``table`` has ``period_start``, ``dau``, ``mau``, ``ratio`` (as
    :func:`metrics.engagement.dau_mau`); ``comparison``, the same for an earlier period on these
    days, is drawn grey dashed.
    """
    x = table.get_column("period_start").to_list()
    incomplete = [
        data_start is not None and d - dt.timedelta(days=window_days - 1) < data_start for d in x
    ]
    figure = go.Figure()
    if _add_line(
        figure,
        x,
        table.get_column("ratio").to_list(),
        incomplete,
        name="DAU/MAU",
        color=WINDOW_COLORS[1],
        hover="%{x|%a %d %b %Y}: %{y:.1%}",
        dotted_name="window not yet full",
    ):
        _dotted_legend(figure, "month reaches before the first day of data")
    if comparison is not None:
        compare.overlay(figure, comparison, y="ratio", hover="%{y:.1%}")
    if target is not None:
        _add_target(figure, target, "Target", percent=True)
    figure.update_layout(
        margin=_MARGIN,
        yaxis_title="DAU / MAU",
        yaxis_tickformat=".2~%",  # 17.5%, never two ticks reading 18%
        yaxis_rangemode="tozero",
        hovermode="x unified",
        legend={"orientation": "h", "y": 1.08, "x": 0},
    )
    return figure


def lifecycle_figure(table: pl.DataFrame, *, interval: str) -> go.Figure:
    """Stacked bars per period: new, returning and resurrecting up, dormant below zero.

    ``table`` has ``period_start``, ``new``, ``returning``, ``resurrecting``, ``dormant`` (a
    positive count) and ``is_partial`` (as :func:`metrics.engagement.lifecycle`). Partial periods
    are hatched and faded.
    """
    noun = INTERVAL_NOUNS.get(interval, interval)
    x = table.get_column("period_start").to_list()
    partial = table.get_column("is_partial").to_list()
    figure = go.Figure()
    for status in ("new", "returning", "resurrecting", "dormant"):
        values = table.get_column(status).to_list()
        sign = -1 if status == "dormant" else 1
        figure.add_trace(
            go.Bar(
                x=x,
                y=[sign * v for v in values],
                customdata=values,
                name=LIFECYCLE_LABELS[status],
                marker={
                    "color": LIFECYCLE_COLORS[status],
                    "opacity": [0.45 if p else 1.0 for p in partial],
                    "pattern": {"shape": ["/" if p else "" for p in partial]},
                },
                hovertemplate=f"{LIFECYCLE_LABELS[status]}: %{{customdata:,}}<extra></extra>",
            )
        )
    figure.add_hline(y=0, line_color="#24292f", line_width=1)
    figure.update_layout(
        barmode="relative",
        margin=_MARGIN,
        yaxis_title=f"Users per {noun}",
        yaxis_tickformat=",",
        hovermode="x unified",
        legend={"orientation": "h", "y": 1.08, "x": 0},
    )
    if any(partial):
        _note_partial(figure)
    return figure


def revenue_figure(
    table: pl.DataFrame,
    *,
    interval: str,
    breakdown: str | None = None,
    currency: str = "USD",
    max_series: int = 8,
    comparison: compare.Comparison | None = None,
) -> go.Figure:
    """Revenue per active user (top) and per paying user (bottom) per period, partial ones dotted.

    Two panels, because the two differ by an order of magnitude (most active users pay nothing).
    ``table`` has ``period_start``, [breakdown], ``revenue``, ``paying_users``, ``active_users``,
    ``arpu``, ``arppu``, ``is_partial`` (as :func:`metrics.engagement.revenue`).
    """
    noun = INTERVAL_NOUNS.get(interval, interval)
    money = f"{plot(cash.symbol(currency))}%{{y:,.2f}}"
    figure = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=("Revenue per active user", "Revenue per paying user"),
    )
    flagged = False
    for i, (label, part) in enumerate(_series(table, breakdown, "active_users", max_series)):
        color = PALETTE[i % len(PALETTE)]
        for row, column, per in ((1, "arpu", "active"), (2, "arppu", "paying")):
            panel = go.Figure()
            flagged |= _add_line(
                panel,
                part.get_column("period_start").to_list(),
                part.get_column(column).to_list(),
                part.get_column("is_partial").to_list(),
                name=label,
                color=color,
                hover=f"{money} per {per} user",
                dotted_name="partial period",
            )
            for trace in panel.data:
                trace.showlegend = trace.showlegend is not False and row == 1
                figure.add_trace(trace, row=row, col=1)
    if comparison is not None and breakdown is None:
        for row, column in ((1, "arpu"), (2, "arppu")):
            compare.overlay(figure, comparison, y=column, hover=money, row=row, col=1)
    if flagged:
        _dotted_legend(figure, "partial period")
    figure.update_yaxes(
        tickformat=",.2f",
        rangemode="tozero",
        title_text=f"{currency} per user",
        **cash.axis(currency),
    )
    figure.update_layout(
        height=600,
        margin={**_MARGIN, "t": 90},
        hovermode="x unified",
        legend={"orientation": "h", "y": 1.16, "x": 0, "title": {"text": breakdown or ""}},
        title={"text": f"per {noun}", "x": 1, "xanchor": "right", "font": {"size": 12}},
    )
    return figure


def revenue_total_figure(
    table: pl.DataFrame,
    *,
    interval: str,
    breakdown: str | None = None,
    currency: str = "USD",
    max_series: int = 8,
    comparison: compare.Comparison | None = None,
) -> go.Figure:
    """Revenue per period (the sum of ``revenue``), in the product's currency; a period that sticks
    out of the date range (or is not over yet) is a hatched bar, never drawn as a finished one.
    ``comparison`` (without a breakdown: the earlier periods' revenue) is a grey dashed line.
    """
    noun = INTERVAL_NOUNS.get(interval, interval)
    figure = go.Figure()
    for i, (label, part) in enumerate(_series(table, breakdown, "active_users", max_series)):
        partial = part.get_column("is_partial").to_list()
        figure.add_trace(
            go.Bar(
                x=part.get_column("period_start").to_list(),
                y=part.get_column("revenue").to_list(),
                name=label,
                marker={
                    "color": PALETTE[i % len(PALETTE)],
                    "pattern": {"shape": ["/" if flag else "" for flag in partial]},
                    "opacity": [0.55 if flag else 1.0 for flag in partial],
                },
                hovertemplate=f"{plot(cash.symbol(currency))}%{{y:,.0f}}<extra>{plot(label)}</extra>",
            )
        )
    if comparison is not None and breakdown is None:
        compare.overlay(
            figure, comparison, y="revenue", hover=f"{plot(cash.symbol(currency))}%{{y:,.0f}}"
        )
    figure.update_yaxes(
        tickformat=",.0f",
        rangemode="tozero",
        title_text=f"Revenue ({currency})",
        **cash.axis(currency),
    )
    figure.update_layout(
        height=360,
        margin=_MARGIN,
        barmode="group",
        hovermode="x unified",
        showlegend=breakdown is not None or comparison is not None,
        legend={"orientation": "h", "y": 1.12, "x": 0, "title": {"text": breakdown or ""}},
        title={
            "text": f"per {noun}; hatched: partial {noun}",
            "x": 1,
            "xanchor": "right",
            "font": {"size": 12},
        },
    )
    return figure


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _series(
    table: pl.DataFrame, breakdown: str | None, size_column: str, max_series: int
) -> list[tuple[str, pl.DataFrame]]:
    """(label, rows) per series: one for the whole table, or the biggest breakdown values."""
    if breakdown is None:
        return [("All users", table.sort("period_start"))]
    sizes = (
        table.group_by(breakdown)
        .agg(pl.col(size_column).sum().alias("_size"))
        .sort("_size", breakdown, descending=[True, False], nulls_last=True)
        .head(max_series)
    )
    out = []
    for value in sizes.get_column(breakdown).to_list():
        rows = table.filter(pl.col(breakdown).eq_missing(value)).sort("period_start")
        out.append(("(not set)" if value is None else str(value), rows))
    return out


def _add_line(
    figure: go.Figure,
    x: Sequence[Any],
    y: Sequence[Any],
    dotted: Sequence[bool],
    *,
    name: str,
    color: str,
    hover: str,
    dotted_name: str,
) -> bool:
    """A solid line through the normal points, dotted into the flagged ones (hollow markers).

    The dotted line holds each flagged point and its neighbours, so it joins the solid one.
    Returns whether any point was flagged.
    """
    solid_y = [None if flag else v for v, flag in zip(y, dotted, strict=True)]
    figure.add_trace(
        go.Scatter(
            x=list(x),
            y=solid_y,
            mode="lines+markers" if len(x) <= 60 else "lines",
            name=name,
            legendgroup=name,
            line={"color": color, "width": 2},
            marker={"size": 6},
            hovertemplate=f"{hover}<extra>{plot(name)}</extra>",
        )
    )
    if not any(dotted):
        return False
    near = [
        any(dotted[j] for j in (i - 1, i, i + 1) if 0 <= j < len(dotted)) for i in range(len(x))
    ]
    figure.add_trace(
        go.Scatter(
            x=list(x),
            y=[v if keep else None for v, keep in zip(y, near, strict=True)],
            mode="lines",
            legendgroup=name,
            showlegend=False,
            line={"color": color, "width": 2, "dash": "dot"},
            hoverinfo="skip",
        )
    )
    flagged = [i for i, flag in enumerate(dotted) if flag]
    figure.add_trace(
        go.Scatter(
            x=[x[i] for i in flagged],
            y=[y[i] for i in flagged],
            mode="markers",
            legendgroup=name,
            showlegend=False,
            marker={"size": 8, "symbol": "circle-open", "color": color},
            hovertemplate=f"{hover} ({dotted_name})<extra>{plot(name)}</extra>",
        )
    )
    return True


def _dotted_legend(figure: go.Figure, dotted_name: str) -> None:
    """One legend entry saying what the dotted parts mean."""
    figure.add_trace(
        go.Scatter(
            x=[None],
            y=[None],
            mode="lines+markers",
            name=f"dotted: {dotted_name}",
            line={"color": TARGET_COLOR, "dash": "dot"},
            marker={"symbol": "circle-open", "color": TARGET_COLOR},
            hoverinfo="skip",
        )
    )


def _add_target(figure: go.Figure, value: float, label: str, *, percent: bool = False) -> None:
    text = f"{label}: {value:.0%}" if percent else f"{label}: {value:,.0f}"
    figure.add_hline(
        y=value,
        line_dash="dash",
        line_color=TARGET_COLOR,
        annotation_text=text,
        annotation_position="top left",
        annotation_font_color=TARGET_COLOR,
    )


def _note_partial(figure: go.Figure) -> None:
    figure.add_annotation(
        text="hatched: partial period",
        xref="paper",
        yref="paper",
        x=1,
        y=1.08,
        showarrow=False,
        font={"size": 11, "color": TARGET_COLOR},
        xanchor="right",
    )
