"""Figures for the Data page (no Streamlit here)."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

BAR_COLOR = "#0969da"


def events_by_name_figure(table: pl.DataFrame) -> go.Figure:
    """Horizontal bars of events kept per event name, the most frequent on top.

    ``table`` has columns ``event`` and ``events`` (as :func:`ui.datapage.events_table` returns).
    """
    ordered = table.sort("events", "event", descending=[False, True])
    figure = go.Figure(
        go.Bar(
            x=ordered.get_column("events").to_list(),
            y=ordered.get_column("event").to_list(),
            orientation="h",
            marker_color=BAR_COLOR,
            hovertemplate="%{y}: %{x:,} events<extra></extra>",
        )
    )
    figure.update_layout(
        height=max(220, 28 * table.height + 80),
        margin={"l": 10, "r": 10, "t": 10, "b": 40},
        xaxis_title="Events kept",
        yaxis_title=None,
        xaxis_tickformat=",",
        showlegend=False,
    )
    return figure
