"""The earlier period drawn over a chart (no Streamlit here): a grey dashed line per series.

A chart builder takes an optional :class:`Comparison` (the earlier series already moved onto the
current dates by :func:`metrics.compare.align`) and calls :func:`overlay` for each of its lines.
Every earlier line shares one legend entry, "Previous period" or "A year before"; its hover
names the earlier date it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import polars as pl

from ui.text import plot

COLOR = "#8c959f"
GROUP = "comparison"


@dataclass(frozen=True)
class Comparison:
    """The earlier series for a chart: its legend entry and its rows on the current axis
    (``earlier_<date column>`` holds the day each point comes from)."""

    label: str
    frame: pl.DataFrame


def overlay(
    figure: go.Figure,
    comparison: Comparison,
    *,
    y: str,
    x: str = "period_start",
    rows: pl.DataFrame | None = None,
    hover: str = "%{y:,}",
    series: str | None = None,
    **position: Any,
) -> None:
    """Draw ``comparison`` (or ``rows``, a part of it) as a grey dashed line of column ``y``.

    ``hover`` formats the value; ``series`` names the line it compares with (WAU) when a chart
    has several; ``position`` (``row=``, ``col=``) places it in a subplot. The legend entry is
    shown once per figure."""
    frame = (comparison.frame if rows is None else rows).sort(x)
    if frame.height == 0:
        return
    earlier = f"earlier_{x}"
    when = frame.get_column(earlier).to_list() if earlier in frame.columns else None
    name = comparison.label if series is None else f"{comparison.label} · {series}"
    shown = not any(getattr(t, "legendgroup", None) == GROUP for t in figure.data)
    figure.add_trace(
        go.Scatter(
            x=frame.get_column(x).to_list(),
            y=frame.get_column(y).to_list(),
            customdata=when,
            mode="lines",
            name=comparison.label,
            legendgroup=GROUP,
            showlegend=shown,
            line={"color": COLOR, "width": 1.5, "dash": "dash"},
            hovertemplate=(f"%{{customdata|%a %d %b %Y}}: {hover}" if when else hover)
            + f"<extra>{plot(name)}</extra>",
        ),
        **position,
    )


def lines(
    figure: go.Figure,
    comparison: Comparison | None,
    *,
    by: str,
    y: str,
    names: dict[Any, str] | None = None,
    **kwargs: Any,
) -> None:
    """One earlier line per value of column ``by`` (``window_days``: DAU, WAU, MAU), each named
    by ``names``."""
    if comparison is None or by not in comparison.frame.columns:
        return
    for (value,), part in sorted(comparison.frame.partition_by(by, as_dict=True).items()):
        label = (names or {}).get(value, str(value))
        overlay(figure, comparison, y=y, rows=part, series=label, **kwargs)
