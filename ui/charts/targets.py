"""Figures and labels for the Overview scorecard and the leadership review (no Streamlit here).

Every builder takes the frames of :func:`metrics.targets.scorecard` or
:func:`metrics.targets.explain` and returns a Plotly figure; the small text helpers format a KPI's
numbers the same way on the page and in the exported report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
import polars as pl

from ui.charts import compare, money

STATUS_LABELS: dict[str, str] = {
    "met": "Met",
    "on_track": "On track",
    "at_risk": "At risk",
    "off_track": "Off track",
    "no_data": "No data",
}
#: Colours that read the same for a PM and in print: green, blue, amber, red, grey.
STATUS_COLORS: dict[str, str] = {
    "met": "#1a7f37",
    "on_track": "#0969da",
    "at_risk": "#bf8700",
    "off_track": "#cf222e",
    "no_data": "#6e7781",
}
#: Streamlit's named badge colours for the same statuses.
STATUS_BADGES: dict[str, str] = {
    "met": "green",
    "on_track": "blue",
    "at_risk": "orange",
    "off_track": "red",
    "no_data": "gray",
}
STATUS_ORDER: tuple[str, ...] = ("off_track", "at_risk", "on_track", "met", "no_data")
TARGET_COLOR = "#6e7781"
LINE_COLOR = "#24292f"


def format_value(value: float | None, unit: str, currency: str = "USD") -> str:
    """A KPI value as a PM reads it: 12,340 users, 23.4%, $241,627, +11.7% lift; "—" if missing."""
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{value:.1%}"
    if unit == "lift":
        return f"{value:+.1%}"
    if unit == "currency":
        return money.money(value, currency)
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}".removesuffix(".0")


def format_delta(delta: float | None, unit: str, currency: str = "USD") -> str | None:
    """A change with its sign: +56, -3.6 pp (rates move in percentage points), +$1,204."""
    if delta is None:
        return None
    if unit in ("ratio", "lift"):
        points = delta * 100
        return f"{points:+.2f} pp" if 0 < abs(points) < 0.1 else f"{points:+.1f} pp"
    text = format_value(abs(delta), unit, currency)
    return ("-" if delta < 0 else "+") + text


def pace(value: float | None, unit: str, period: str, currency: str = "USD") -> str:
    """A change per period: "+14/week", "-0.3 pp/month"; a daily KPI's pace is given per week."""
    if value is None:
        return "—"
    if period == "day":
        value, period = value * 7, "week"
    return f"{format_delta(value, unit, currency)}/{period}"


def status_counts(table: pl.DataFrame) -> list[tuple[str, int]]:
    """How many KPIs have each status, worst first, statuses with none left out."""
    counts = dict(table.group_by("status").len().iter_rows())
    return [(status, counts[status]) for status in STATUS_ORDER if counts.get(status)]


def projection_status(row: Mapping[str, Any]) -> str:
    """The status the projection alone earns: a KPI already "met" whose trend carries it back past
    its target is drawn heading there in amber or red, never in the green of "met"."""
    status = row["status"]
    projected, target = row.get("projected"), row["target"]
    if status != "met" or projected is None:
        return status
    sign = 1.0 if row.get("direction", "up") == "up" else -1.0
    shortfall = sign * (target - projected)
    if shortfall <= 0:
        return "met"
    base = abs(target) if target != 0 else abs(row["value"] or 0.0)
    return "at_risk" if shortfall < 0.10 * base else "off_track"


def verdict(row: Mapping[str, Any], currency: str = "USD") -> str:
    """One sentence on where a KPI stands and where it is heading."""
    unit, period = row["unit"], row["period"]
    status = row["status"]
    target = format_value(row["target"], unit, currency)
    deadline = _day(row["deadline"])
    if status == "no_data":
        return f"No data: {row['reason']}." if row.get("reason") else "No data."
    projected = format_value(row["projected"], unit, currency)
    if status == "met":
        if projection_status(row) != "met":
            trend = pace(row["trend"], unit, period, currency)
            return (
                f"Target {target} reached, but at its trend ({trend}) it would fall back to "
                f"{projected} by {deadline}."
            )
        return f"Target {target} reached (deadline {deadline})."
    if row.get("periods_left") is None:
        return (
            f"Missed: {format_value(row['value'], unit, currency)} against {target} by {deadline}."
        )
    needed = pace(row["needed"], unit, period, currency)
    if row.get("trend") is None:
        # A running estimate (an experiment's lift) or too few points: projected as it stands.
        return f"{projected} now, against {target} by {deadline}: needs {needed}."
    trend = pace(row["trend"], unit, period, currency)
    return (
        f"Heading for {projected} by {deadline} (target {target}): needs {needed}, trend {trend}."
    )


def drivers_sentence(drivers: Any, unit: str, period: str, currency: str = "USD") -> str:
    """What moved the KPI, in words: the change, its volume/rate split, the biggest segment."""
    if drivers.status != "ok":
        return drivers.reason or "Not enough history to explain the change."
    change = format_delta(drivers.change, unit, currency)
    before = format_value(drivers.before, unit, currency)
    after = format_value(drivers.after, unit, currency)
    text = (
        f"From {_day(drivers.before_end)} to {_day(drivers.after_end)} it moved {change} "
        f"({before} → {after})."
    )
    if drivers.split is not None and drivers.split_labels is not None:
        volume_label, rate_label = drivers.split_labels
        split = drivers.split
        text += (
            f" {volume_label.capitalize()}: {format_delta(split.volume_effect, unit, currency)}; "
            f"{rate_label}: {format_delta(split.rate_effect, unit, currency)}."
        )
    if drivers.top is not None:
        top = drivers.top
        share = top.get("share_of_change")
        part = f" ({share:.0%} of the change across {top['property']})" if share is not None else ""
        text += (
            f" Moved most by {top['property']} = {top['segment']}: "
            f"{format_delta(top['contribution'], unit, currency)}{part}."
        )
    return text


def _day(value: Any) -> str:
    if isinstance(value, dt.date):
        return f"{value:%b} {value.day}, {value.year}"
    return "—" if value is None else str(value)


def _target_line(fig: go.Figure, target: float, label: str | None) -> None:
    line = {"color": TARGET_COLOR, "dash": "dash", "width": 1}
    if label is None:
        fig.add_hline(y=target, line=line)
        return
    fig.add_hline(
        y=target,
        line=line,
        annotation_text=label,
        annotation_position="top left",
        annotation_font_color=TARGET_COLOR,
    )


def sparkline(
    points: pl.DataFrame,
    *,
    target: float,
    status: str,
    unit: str,
    height: int = 90,
    comparison: compare.Comparison | None = None,
) -> go.Figure:
    """A small line of the KPI (its judged level) with the target as a dashed line, and the
    earlier period's points (``comparison``, on these dates) grey dashed."""
    frame = points.filter(pl.col("level").is_not_null()).sort("period_end")
    fig = go.Figure()
    x = frame.get_column("period_end").to_list()
    y = frame.get_column("level").to_list()
    hover = "%{x|%b %d}: %{y:.1%}<extra></extra>" if unit in ("ratio", "lift") else None
    fig.add_trace(
        go.Scatter(
            x=x,
            y=y,
            mode="lines",
            line={"color": LINE_COLOR, "width": 1.5},
            hovertemplate=hover or "%{x|%b %d}: %{y:,.4~g}<extra></extra>",
            name="value",
        )
    )
    if x:
        fig.add_trace(
            go.Scatter(
                x=[x[-1]],
                y=[y[-1]],
                mode="markers",
                marker={"color": STATUS_COLORS.get(status, LINE_COLOR), "size": 7},
                hoverinfo="skip",
                name="latest",
            )
        )
    _target_line(fig, target, None)
    values = [*y, target]
    if comparison is not None:
        earlier = comparison.frame.filter(pl.col("level").is_not_null())
        compare.overlay(
            fig, comparison, x="period_end", y="level", rows=earlier, hover="%{y:,.4~g}"
        )
        values += earlier.get_column("level").to_list()
    low, high = min(values), max(values)
    pad = (high - low) * 0.12 or abs(high) * 0.1 or 1.0
    fig.update_layout(
        height=height,
        margin={"l": 0, "r": 0, "t": 4, "b": 0},
        showlegend=False,
        xaxis={"visible": False},
        yaxis={"visible": False, "range": [low - pad, high + pad]},
        plot_bgcolor="rgba(0,0,0,0)",
        paper_bgcolor="rgba(0,0,0,0)",
    )
    return fig


def sparkline_svg(
    points: pl.DataFrame,
    *,
    target: float,
    status: str,
    width: int = 300,
    height: int = 64,
) -> str:
    """The sparkline of :func:`sparkline` as a small SVG drawing (a line, the target dashed, the
    latest point in the status colour): an image costs the browser nothing to draw, where ten
    Plotly charts made the Overview slow to open from a shared link. Numbers only, no text.
    """
    frame = points.filter(pl.col("level").is_not_null()).sort("period_end")
    values = frame.get_column("level").to_list()
    low, high = min([*values, target]), max([*values, target])
    pad = (high - low) * 0.12 or abs(high) * 0.1 or 1.0
    low, high = low - pad, high + pad
    margin = 5.0

    def y(value: float) -> float:
        return round(height - margin - (value - low) / (high - low) * (height - 2 * margin), 2)

    step = (width - 2 * margin) / max(len(values) - 1, 1)
    xs = [round(margin + i * step, 2) for i in range(len(values))]
    line = " ".join(f"{x},{y(v)}" for x, v in zip(xs, values, strict=True))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        f'<line x1="0" x2="{width}" y1="{y(target)}" y2="{y(target)}" stroke="{TARGET_COLOR}" '
        'stroke-width="1" stroke-dasharray="4 3"/>',
    ]
    if values:
        parts.append(
            f'<polyline points="{line}" fill="none" stroke="{LINE_COLOR}" stroke-width="1.5" '
            'stroke-linejoin="round"/>'
        )
        color = STATUS_COLORS.get(status, LINE_COLOR)
        parts.append(f'<circle cx="{xs[-1]}" cy="{y(values[-1])}" r="3.5" fill="{color}"/>')
    parts.append("</svg>")
    return "".join(parts)


def trend_chart(
    points: pl.DataFrame,
    row: Mapping[str, Any],
    *,
    currency: str = "USD",
    start: dt.date | None = None,
    height: int = 300,
    comparison: compare.Comparison | None = None,
) -> go.Figure:
    """The KPI over time with its target, the projection to the deadline and the deadline itself;
    ``comparison`` (the earlier period's points on these dates) is drawn grey dashed."""
    unit = row["unit"]
    frame = points.filter(pl.col("level").is_not_null()).sort("period_end")
    if start is not None:
        frame = frame.filter(pl.col("period_end") >= start)
    label = "7-day average" if row["period"] == "day" else f"per {row['period']}"
    fig = go.Figure()
    percent = unit in ("ratio", "lift")
    fig.add_trace(
        go.Scatter(
            x=frame.get_column("period_end").to_list(),
            y=frame.get_column("level").to_list(),
            mode="lines+markers" if frame.height <= 40 else "lines",
            line={"color": LINE_COLOR, "width": 2},
            marker={"size": 5},
            name=f"{row['name']} ({label})",
        )
    )
    if row.get("value") is not None and row.get("projected") is not None and row.get("as_of"):
        end = row["deadline"] if row.get("periods_left") is not None else row["as_of"]
        heading = STATUS_COLORS[projection_status(row)]
        fig.add_trace(
            go.Scatter(
                x=[row["as_of"], end],
                y=[row["value"], row["projected"]],
                mode="lines+markers",
                line={"color": heading, "dash": "dot", "width": 2},
                marker={"size": [0, 9], "symbol": "diamond"},
                name=f"projection: {format_value(row['projected'], unit, currency)}",
            )
        )
    if comparison is not None:
        compare.overlay(
            fig,
            comparison,
            x="period_end",
            y="level",
            rows=comparison.frame.filter(pl.col("level").is_not_null()),
            hover="%{y:.1%}" if percent else "%{y:,.4~g}",
        )
    _target_line(fig, row["target"], f"target {format_value(row['target'], unit, currency)}")
    fig.add_vline(x=row["deadline"], line={"color": TARGET_COLOR, "dash": "dot", "width": 1})
    fig.update_layout(
        height=height,
        # Room for the tick labels whatever the template or the drawing width ("2.5k", never
        # "5k"); the legend sits below the axis' dates, at the foot of the figure.
        margin={"l": 56, "r": 16, "t": 36, "b": 16},
        legend={"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0},
        yaxis={
            "tickformat": ".1~%" if percent else ",~s",
            "rangemode": "tozero",
            "automargin": True,
        },
        xaxis={"automargin": True},
        hovermode="x unified",
        title={"text": row["name"], "font": {"size": 15}},
    )
    return fig


def _good_bad(direction: str) -> tuple[str, str]:
    """Colours for a rise and a fall: green and red, swapped when lower is better."""
    good, bad = STATUS_COLORS["met"], STATUS_COLORS["off_track"]
    return (good, bad) if direction == "up" else (bad, good)


def split_chart(drivers: Any, unit: str, currency: str = "USD", direction: str = "up") -> go.Figure:
    """Waterfall: the KPI before, the volume effect, the rate effect, the KPI after.

    A step is green when it moves the KPI the good way (down, for a down-is-good KPI).
    """
    rise, fall = _good_bad(direction)
    split = drivers.split
    volume_label, rate_label = drivers.split_labels
    labels = [_day(drivers.before_end), volume_label, rate_label, _day(drivers.after_end)]
    values = [split.before, split.volume_effect, split.rate_effect, split.after]
    texts = [
        format_value(split.before, unit, currency),
        format_delta(split.volume_effect, unit, currency),
        format_delta(split.rate_effect, unit, currency),
        format_value(split.after, unit, currency),
    ]
    fig = go.Figure(
        go.Waterfall(
            x=labels,
            y=values,
            measure=["absolute", "relative", "relative", "total"],
            text=texts,
            textposition="outside",
            increasing={"marker": {"color": rise}},
            decreasing={"marker": {"color": fall}},
            totals={"marker": {"color": "#57606a"}},
            connector={"line": {"color": "#d0d7de"}},
        )
    )
    fig.update_layout(
        height=260,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title={"text": "Volume or rate?", "font": {"size": 14}},
        showlegend=False,
    )
    return fig


def segments_chart(
    segments: pl.DataFrame, unit: str, currency: str = "USD", direction: str = "up"
) -> go.Figure:
    """Horizontal bars: each segment's contribution to the change, green where it helped."""
    rise, fall = _good_bad(direction)
    frame = segments.with_columns(
        (pl.col("property") + " = " + pl.col("segment")).alias("label")
    ).sort(pl.col("contribution").abs())
    contributions = frame.get_column("contribution").to_list()
    fig = go.Figure(
        go.Bar(
            x=contributions,
            y=frame.get_column("label").to_list(),
            orientation="h",
            marker={"color": [rise if c >= 0 else fall for c in contributions]},
            text=[format_delta(c, unit, currency) for c in contributions],
            textposition="auto",
        )
    )
    fig.update_layout(
        height=max(180, 26 * frame.height + 60),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title={"text": "Which segments moved it", "font": {"size": 14}},
        xaxis={"zeroline": True, "tickformat": ".1%" if unit in ("ratio", "lift") else ",~s"},
        showlegend=False,
    )
    return fig


def scorecard_rows(table: pl.DataFrame, currency: str = "USD") -> pl.DataFrame:
    """The scorecard as a PM reads it, one formatted row per KPI (for tables and the report)."""
    rows = [
        {
            "KPI": row["name"],
            "Status": STATUS_LABELS[row["status"]],
            "Value": format_value(row["value"], row["unit"], currency),
            "Target": format_value(row["target"], row["unit"], currency),
            "vs previous": format_delta(row["delta"], row["unit"], currency) or "—",
            "Projected": format_value(row["projected"], row["unit"], currency),
            "Deadline": row["deadline"].isoformat(),
            "Owner": row["owner"],
        }
        for row in table.iter_rows(named=True)
    ]
    schema = ["KPI", "Status", "Value", "Target", "vs previous", "Projected", "Deadline", "Owner"]
    return pl.DataFrame(rows, schema={name: pl.String() for name in schema})
