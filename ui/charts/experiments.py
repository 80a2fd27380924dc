"""Experiment charts: a forest plot of lifts, the effect day by day, and sample size against effect.

Plain functions from tidy frames (the columns of :func:`metrics.experiments.analyze` and
:func:`metrics.experiments.cumulative_effect`) to Plotly figures; no Streamlit here.
"""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from ui.text import plot

#: One colour per verdict, shared by the forest plot and the table.
VERDICT_COLOURS: dict[str, str] = {
    "winner": "#1a7f37",
    "loser": "#cf222e",
    "inconclusive": "#6e7781",
}
NO_TEST_COLOUR = "#afb8c1"


def _empty(message: str) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.update_layout(height=220, margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return figure


def forest_plot(results: pl.DataFrame, *, scale: str = "relative") -> go.Figure:
    """Each metric × variant's lift as a dot with its interval as a bar; 0 (no change) marked.

    ``scale`` "relative" plots the lift in % of control, "absolute" the raw difference. Rows
    without an interval (too early, a status code) are listed with a hollow marker at 0.
    """
    prefix = "relative" if scale == "relative" else "absolute"
    rows = results.filter(~pl.col("is_control")) if "is_control" in results.columns else results
    if rows.height == 0:
        return _empty("No treatment variant to compare yet")
    factor = 100.0 if scale == "relative" else 1.0
    labels, xs, lows, highs, colours, texts, symbols = [], [], [], [], [], [], []
    for row in rows.iter_rows(named=True):
        segment = f" [{row['segment']}]" if row.get("segment") is not None else ""
        labels.append(f"{row['metric']} · {row['variant']}{segment}")
        effect, low, high = (
            row[f"{prefix}_effect"],
            row[f"{prefix}_ci_low"],
            row[f"{prefix}_ci_high"],
        )
        if effect is None or low is None or high is None:
            xs.append(0.0)
            lows.append(0.0)
            highs.append(0.0)
            colours.append(NO_TEST_COLOUR)
            symbols.append("circle-open")
            texts.append("no interval yet")
            continue
        xs.append(effect * factor)
        lows.append((effect - low) * factor)
        highs.append((high - effect) * factor)
        colours.append(VERDICT_COLOURS.get(row.get("verdict") or "", NO_TEST_COLOUR))
        symbols.append("circle")
        unit = "%" if scale == "relative" else ""
        texts.append(f"{effect * factor:+.2f}{unit} [{low * factor:+.2f}, {high * factor:+.2f}]")
    figure = go.Figure(
        go.Scatter(
            x=xs,
            y=labels,
            mode="markers",
            marker={"color": colours, "size": 11, "symbol": symbols},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": highs,
                "arrayminus": lows,
                "thickness": 3,
                "width": 6,
                "color": "#57606a",
            },
            text=texts,
            hovertemplate="%{y}<br>%{text}<extra></extra>",
        )
    )
    figure.add_vline(x=0, line_dash="dash", line_color="#57606a")
    title = "Lift vs control (%)" if scale == "relative" else "Difference vs control"
    figure.update_layout(
        xaxis_title=title,
        yaxis={"autorange": "reversed"},
        height=max(220, 70 + 48 * len(labels)),
        margin={"l": 10, "r": 10, "t": 30, "b": 40},
        showlegend=False,
    )
    return figure


def cumulative_chart(daily: pl.DataFrame, *, scale: str = "relative") -> go.Figure:
    """The lift as it read at the end of each day, with its interval as a band: has it settled?"""
    prefix = "relative" if scale == "relative" else "absolute"
    factor = 100.0 if scale == "relative" else 1.0
    usable = daily.filter(pl.col(f"{prefix}_ci_low").is_not_null())
    if usable.height == 0:
        return _empty("Not enough data on any day yet")
    figure = go.Figure()
    palette = ["#0969da", "#8250df", "#bf8700", "#1a7f37", "#cf222e"]
    for i, variant in enumerate(sorted(usable["variant"].unique().to_list())):
        part = usable.filter(pl.col("variant") == variant).sort("day")
        colour = palette[i % len(palette)]
        days = part["day"].to_list()
        high = (part[f"{prefix}_ci_high"] * factor).to_list()
        low = (part[f"{prefix}_ci_low"] * factor).to_list()
        figure.add_trace(
            go.Scatter(
                x=days + days[::-1],
                y=high + low[::-1],
                fill="toself",
                fillcolor=colour,
                opacity=0.18,
                line={"width": 0},
                hoverinfo="skip",
                name=f"{variant} interval",
                showlegend=False,
            )
        )
        figure.add_trace(
            go.Scatter(
                x=days,
                y=(part[f"{prefix}_effect"] * factor).to_list(),
                mode="lines",
                line={"color": colour, "width": 2},
                name=variant,
                hovertemplate="%{x|%Y-%m-%d}: %{y:+.2f}<extra>" + plot(variant) + "</extra>",
            )
        )
    figure.add_hline(y=0, line_dash="dash", line_color="#57606a")
    figure.update_layout(
        yaxis_title="Lift vs control (%)" if scale == "relative" else "Difference vs control",
        xaxis_title="Day (results as of the end of the day)",
        height=360,
        margin={"l": 10, "r": 10, "t": 30, "b": 40},
        legend={"orientation": "h", "y": 1.08},
    )
    return figure


def sample_size_curve(plan: pl.DataFrame, *, chosen_mde: float | None = None) -> go.Figure:
    """Users needed per arm (log scale) against the smallest lift worth detecting."""
    if plan.height == 0:
        return _empty("No plan to draw")
    figure = go.Figure(
        go.Scatter(
            x=(plan["mde"] * 100).to_list(),
            y=plan["users_per_arm"].to_list(),
            mode="lines+markers",
            line={"color": "#0969da"},
            hovertemplate="lift %{x:.1f}%: %{y:,} users per arm<extra></extra>",
        )
    )
    if chosen_mde is not None:
        figure.add_vline(x=chosen_mde * 100, line_dash="dot", line_color="#cf222e")
    figure.update_layout(
        xaxis_title="Smallest lift worth detecting (% of the baseline)",
        yaxis_title="Users needed per arm",
        yaxis_type="log",
        height=320,
        margin={"l": 10, "r": 10, "t": 30, "b": 40},
    )
    return figure
