"""Figures for the Retention page (no Streamlit here): plain functions returning Plotly figures.

Each builder takes frames as :mod:`metrics.retention` returns them. One convention runs through
them: a cell whose period is not over at the end of the range (``incomplete``) is drawn **faded,
with its number in parentheses** (heatmap) or **dashed with hollow markers** (lines). Its number
is real but can still grow, so it is not comparable with finished periods, and averages skip it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
import polars as pl
from plotly.colors import sample_colorscale

from ui.charts import compare, money
from ui.text import plot

AVERAGE_COLOR = "#1f2328"
INCOMPLETE_NOTE = "period not over yet"
_MARGIN = {"l": 10, "r": 10, "t": 30, "b": 40}
#: Above this many cohorts the triangle's cells are too small to print their percentages in.
_TEXT_CELLS = 26
#: Above this many cohorts, individual curves share one legend entry.
_LEGEND_COHORTS = 12


def period_label(interval: str, offset: int) -> str:
    """'Week 3', 'Day 0', 'Month 12'."""
    return f"{interval.capitalize()} {offset}"


def cohort_label(start: dt.date, size: int) -> str:
    """A cohort's row label: its first day and how many users it holds."""
    return f"{start:%d %b %Y} · {size:,} users"


def triangle_figure(table: pl.DataFrame, *, interval: str) -> go.Figure:
    """The cohort triangle: a row per cohort (with its size), a column per offset, coloured by rate.

    ``table`` is :func:`metrics.retention.retention`'s result. Incomplete cells are faded and their
    percentage is in parentheses; an empty cohort's row is blank.
    """
    table = table.sort("cohort_start", "offset")
    sizes = table.filter(pl.col("offset") == 0)
    rows = [
        cohort_label(start, size)
        for start, size in zip(sizes["cohort_start"], sizes["cohort_size"], strict=True)
    ]
    row_of = dict(zip(sizes["cohort_start"].to_list(), rows, strict=True))
    n = sizes.height
    columns = [period_label(interval, k) for k in range(n)]
    # The colour scale tops out at the best return rate (offset 0 is always 100%).
    best = table.filter(pl.col("offset") >= 1)["rate"].max()
    top = float(best) if isinstance(best, int | float) and best > 0 else 1.0
    figure = go.Figure()
    for incomplete in (False, True):
        part = table.filter(pl.col("incomplete") == incomplete)
        if part.height == 0:
            continue
        z = [[None] * n for _ in range(n)]
        text = [[""] * n for _ in range(n)]
        custom = [[(0, 0, None, None)] * n for _ in range(n)]
        for record in part.iter_rows(named=True):
            i = rows.index(row_of[record["cohort_start"]])
            k = record["offset"]
            rate = record["rate"]
            z[i][k] = rate
            shown = "–" if rate is None else f"{rate:.0%}"
            text[i][k] = f"({shown})" if incomplete else shown
            custom[i][k] = (
                record["retained"],
                record["cohort_size"],
                record["rate_ci_low"],
                record["rate_ci_high"],
            )
        figure.add_trace(
            go.Heatmap(
                z=z,
                x=columns,
                y=rows,
                text=text,
                # Past a few dozen columns the numbers no longer fit their cells: hover shows them.
                texttemplate="%{text}" if n <= _TEXT_CELLS else None,
                customdata=custom,
                zmin=0.0,
                zmax=top,
                colorscale="Blues",
                opacity=0.45 if incomplete else 1.0,
                showscale=not incomplete,
                colorbar={"title": {"text": "Retained"}, "tickformat": ".0%"},
                xgap=2,
                ygap=2,
                hoverongaps=False,
                name=INCOMPLETE_NOTE if incomplete else "finished",
                hovertemplate="%{y}<br>%{x}: %{customdata[0]:,} of %{customdata[1]:,} users "
                "(%{z:.1%}; 95% CI %{customdata[2]:.1%}–%{customdata[3]:.1%})"
                + (f"<br><i>{INCOMPLETE_NOTE}</i>" if incomplete else "")
                + "<extra></extra>",
            )
        )
    figure.update_layout(
        margin=_MARGIN,
        xaxis={"side": "top", "title": None},
        yaxis={"autorange": "reversed", "title": None, "type": "category"},
        height=max(260, 60 + (26 if n <= _TEXT_CELLS else 12) * n),
    )
    return figure


def curves_figure(
    table: pl.DataFrame,
    average: pl.DataFrame,
    *,
    interval: str,
    comparison: compare.Comparison | None = None,
) -> go.Figure:
    """Each cohort's retention curve (thin) and the size-weighted average (bold, with its 95% CI).

    ``table`` is :func:`metrics.retention.retention`'s result, ``average``
    :func:`metrics.retention.average_curve`'s. Incomplete points are dashed with hollow markers.
    ``comparison`` is the average curve of the earlier period's cohorts, drawn grey dashed.
    """
    figure = go.Figure()
    cohorts = (
        table.filter(pl.col("cohort_size") > 0)
        .sort("cohort_start", "offset")
        .partition_by("cohort_start", maintain_order=True)
    )
    colors = sample_colorscale(
        "Blues", [0.35 + 0.5 * i / max(len(cohorts) - 1, 1) for i in range(len(cohorts))]
    )
    crowded = len(cohorts) > _LEGEND_COHORTS
    for i, cohort in enumerate(cohorts):
        start = cohort["cohort_start"][0]
        name = cohort_label(start, int(cohort["cohort_size"][0]))
        _add_curve(
            figure,
            cohort["offset"].to_list(),
            cohort["rate"].to_list(),
            cohort["incomplete"].to_list(),
            name="Individual cohorts" if crowded else name,
            group="cohorts" if crowded else name,
            show_legend=not crowded or i == 0,
            color=colors[i],
            width=1.2,
            hover=f"{name}<br>%{{x}}: %{{y:.1%}}",
        )
    if average.height:
        finished = average.filter(~pl.col("incomplete"))
        if finished.height:
            offsets = finished["offset"].to_list()
            figure.add_trace(
                go.Scatter(
                    x=offsets + offsets[::-1],
                    y=finished["rate_ci_high"].to_list() + finished["rate_ci_low"].to_list()[::-1],
                    fill="toself",
                    fillcolor="rgba(31,35,40,0.12)",
                    line={"width": 0},
                    name="95% CI of the average",
                    hoverinfo="skip",
                )
            )
        _add_curve(
            figure,
            average["offset"].to_list(),
            average["rate"].to_list(),
            average["incomplete"].to_list(),
            name="Average (weighted by cohort size)",
            group="average",
            show_legend=True,
            color=AVERAGE_COLOR,
            width=3,
            hover="average %{x}: %{y:.1%}",
        )
    if comparison is not None:
        compare.overlay(figure, comparison, x="offset", y="rate", hover="%{x}: %{y:.1%}")
    if table.height and table["incomplete"].any():
        _incomplete_legend(figure)
    _label_offsets(figure, table, interval)
    figure.update_layout(
        margin=_MARGIN,
        yaxis={"title": "Retained", "tickformat": ".2~%", "rangemode": "tozero"},
        legend={"orientation": "h", "y": -0.2, "x": 0},
        hovermode="closest",
    )
    return figure


def ltv_figure(
    table: pl.DataFrame, average: pl.DataFrame, *, interval: str, currency: str = "USD"
) -> go.Figure:
    """Cumulative revenue per cohort user by offset: each cohort (thin), the pooled average (bold).

    ``currency`` is the product's ISO code, written as :mod:`ui.charts.money` writes it.

    ``table`` is :func:`metrics.retention.revenue_retention`'s result, ``average``
    :func:`metrics.retention.average_ltv`'s. Incomplete points are dashed with hollow markers.
    """
    prefix = money.symbol(currency)
    figure = go.Figure()
    cohorts = (
        table.filter(pl.col("cohort_size") > 0)
        .sort("cohort_start", "offset")
        .partition_by("cohort_start", maintain_order=True)
    )
    colors = sample_colorscale(
        "Greens", [0.35 + 0.5 * i / max(len(cohorts) - 1, 1) for i in range(len(cohorts))]
    )
    crowded = len(cohorts) > _LEGEND_COHORTS
    for i, cohort in enumerate(cohorts):
        name = cohort_label(cohort["cohort_start"][0], int(cohort["cohort_size"][0]))
        _add_curve(
            figure,
            cohort["offset"].to_list(),
            cohort["cumulative_revenue_per_user"].to_list(),
            cohort["incomplete"].to_list(),
            name="Individual cohorts" if crowded else name,
            group="cohorts" if crowded else name,
            show_legend=not crowded or i == 0,
            color=colors[i],
            width=1.2,
            hover=f"{name}<br>%{{x}}: {plot(prefix)}%{{y:,.2f}} per user",
        )
    if average.height:
        _add_curve(
            figure,
            average["offset"].to_list(),
            average["cumulative_revenue_per_user"].to_list(),
            average["incomplete"].to_list(),
            name="Average LTV (pooled over cohorts)",
            group="average",
            show_legend=True,
            color=AVERAGE_COLOR,
            width=3,
            hover=f"average %{{x}}: {plot(prefix)}%{{y:,.2f}} per user",
        )
    if table.height and table["incomplete"].any():
        _incomplete_legend(figure)
    _label_offsets(figure, table, interval)
    figure.update_layout(
        margin=_MARGIN,
        yaxis={
            "title": "Revenue per cohort user, so far",
            "tickprefix": prefix,
            "rangemode": "tozero",
        },
        legend={"orientation": "h", "y": -0.2, "x": 0},
        hovermode="closest",
    )
    return figure


def _label_offsets(figure: go.Figure, table: pl.DataFrame, interval: str) -> None:
    offsets = sorted(set(table["offset"].to_list())) if table.height else [0]
    step = max(1, len(offsets) // 16)
    figure.update_xaxes(
        title=f"{interval.capitalize()}s since the cohort's {interval}",
        tickmode="array",
        tickvals=offsets[::step],
        ticktext=[period_label(interval, k) for k in offsets[::step]],
    )
    # Hover shows "Week 3" rather than a bare 3.
    for trace in figure.data:
        if isinstance(trace, go.Scatter) and trace.x is not None and trace.hovertemplate:
            trace.hovertemplate = trace.hovertemplate.replace("%{x}", f"{interval} %{{x}}")


def _add_curve(
    figure: go.Figure,
    x: Sequence[Any],
    y: Sequence[Any],
    incomplete: Sequence[bool],
    *,
    name: str,
    group: str,
    show_legend: bool,
    color: str,
    width: float,
    hover: str,
) -> None:
    """A solid line through finished points, dashed into the incomplete ones (hollow markers)."""
    solid = [None if flag else value for value, flag in zip(y, incomplete, strict=True)]
    figure.add_trace(
        go.Scatter(
            x=list(x),
            y=solid,
            mode="lines+markers",
            name=name,
            legendgroup=group,
            showlegend=show_legend,
            line={"color": color, "width": width},
            marker={"size": 4 + width},
            hovertemplate=f"{hover}<extra></extra>",
        )
    )
    if not any(incomplete):
        return
    # The dashed line starts at the last finished point, so it joins the solid one.
    near = [
        flag or (i + 1 < len(incomplete) and incomplete[i + 1]) for i, flag in enumerate(incomplete)
    ]
    figure.add_trace(
        go.Scatter(
            x=list(x),
            y=[value if keep else None for value, keep in zip(y, near, strict=True)],
            mode="lines",
            legendgroup=group,
            showlegend=False,
            line={"color": color, "width": width, "dash": "dash"},
            hoverinfo="skip",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=list(x),
            y=[value if flag else None for value, flag in zip(y, incomplete, strict=True)],
            mode="markers",
            legendgroup=group,
            showlegend=False,
            marker={"size": 5 + width, "symbol": "circle-open", "color": color},
            hovertemplate=f"{hover} ({INCOMPLETE_NOTE})<extra></extra>",
        )
    )


def _incomplete_legend(figure: go.Figure) -> None:
    """One legend entry that says what a dashed line means."""
    figure.add_trace(
        go.Scatter(
            x=[None],
            y=[None],
            mode="lines+markers",
            name=f"dashed, hollow: {INCOMPLETE_NOTE}",
            line={"color": "#6e7781", "dash": "dash"},
            marker={"symbol": "circle-open", "color": "#6e7781"},
        )
    )
