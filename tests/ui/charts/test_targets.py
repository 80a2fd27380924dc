"""ui/charts/targets.py: the KPI sparkline (figure and SVG), the trend with its projection, and the
two explanations (volume or rate, segments) on small hand-built inputs shaped like
metrics.targets' scorecard and explanation: traces, axes and units, the target and deadline
lines, and KPI names and segment values from files and data shown as text."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import polars as pl
import pytest

from tests.ui.figures import HOSTILE, assert_shown_as_text, names
from ui.charts import targets as charts

D = dt.date
WEEK_ENDS = [D(2026, 9, 13), D(2026, 9, 20), D(2026, 9, 27), D(2026, 10, 4)]
POINTS = pl.DataFrame(
    {"period_end": [D(2026, 9, 6), *WEEK_ENDS], "level": [None, 1.0, 2.0, 3.0, 4.0]}
)


def kpi_row(name: str = "Weekly buyers", **changes) -> dict:
    row = {
        "name": name,
        "unit": "users",
        "period": "week",
        "value": 4.0,
        "target": 7.0,
        "projected": 7.0,
        "status": "on_track",
        "direction": "up",
        "as_of": D(2026, 10, 4),
        "deadline": D(2026, 10, 25),
        "periods_left": 3.0,
    }
    return {**row, **changes}


def test_sparkline_is_the_level_with_the_latest_point_in_the_status_colour():
    figure = charts.sparkline(POINTS, target=7.0, status="at_risk", unit="users")
    line, latest = figure.data
    assert names(figure) == ["value", "latest"]
    assert list(line.x) == WEEK_ENDS and list(line.y) == [1.0, 2.0, 3.0, 4.0]  # no empty level
    assert (list(latest.y), latest.marker.color) == ([4.0], charts.STATUS_COLORS["at_risk"])
    assert figure.layout.shapes[0].y0 == 7.0  # the target, dashed
    assert figure.layout.yaxis.visible is False and figure.layout.height == 90
    rate = charts.sparkline(POINTS, target=7.0, status="met", unit="ratio")
    assert rate.data[0].hovertemplate == "%{x|%b %d}: %{y:.1%}<extra></extra>"


def test_sparkline_svg_is_a_small_drawing_of_numbers_only():
    svg = charts.sparkline_svg(POINTS, target=7.0, status="off_track", width=100, height=40)
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="40"')
    assert svg.count("<polyline") == 1 and svg.count("stroke-dasharray") == 1  # the target
    assert f'fill="{charts.STATUS_COLORS["off_track"]}"' in svg  # the latest point
    assert svg.endswith("</svg>")


def test_trend_shows_the_kpi_its_projection_target_and_deadline():
    figure = charts.trend_chart(POINTS, kpi_row())
    level, projection = figure.data
    assert names(figure) == ["Weekly buyers (per week)", "projection: 7"]
    assert list(level.y) == [1.0, 2.0, 3.0, 4.0]
    assert list(projection.x) == [D(2026, 10, 4), D(2026, 10, 25)]
    assert list(projection.y) == [4.0, 7.0]
    assert projection.line.color == charts.STATUS_COLORS["on_track"]
    assert [a.text for a in figure.layout.annotations] == ["target 7"]
    target, deadline = figure.layout.shapes
    assert (target.y0, deadline.x0) == (7.0, D(2026, 10, 25))
    assert figure.layout.title.text == "Weekly buyers"
    assert figure.layout.yaxis.tickformat == ",~s"


def test_trend_of_a_rate_in_percent_and_money_in_the_currency():
    rate = charts.trend_chart(POINTS, kpi_row(unit="ratio", target=0.25, projected=0.3))
    assert rate.layout.yaxis.tickformat == ".1~%"
    assert [a.text for a in rate.layout.annotations] == ["target 25.0%"]
    money = charts.trend_chart(POINTS, kpi_row(unit="currency", target=150.0), currency="GBP")
    assert [a.text for a in money.layout.annotations] == ["target £150"]


def test_trend_shows_the_kpi_name_as_text():
    assert_shown_as_text(charts.trend_chart(POINTS, kpi_row(name=HOSTILE)))


def explanation() -> SimpleNamespace:
    return SimpleNamespace(
        before_end=D(2026, 9, 27),
        after_end=D(2026, 10, 4),
        split_labels=("more buyers", "bought more often"),
        split=SimpleNamespace(before=3.0, volume_effect=2.0, rate_effect=-1.0, after=4.0),
    )


@pytest.mark.parametrize(
    ("direction", "rise"), [("up", "met"), ("down", "off_track")], ids=["up", "down"]
)
def test_volume_or_rate_is_a_waterfall_green_the_good_way(direction, rise):
    figure = charts.split_chart(explanation(), "users", direction=direction)
    (steps,) = figure.data
    assert list(steps.x) == ["Sep 27, 2026", "more buyers", "bought more often", "Oct 4, 2026"]
    assert list(steps.y) == [3.0, 2.0, -1.0, 4.0]
    assert list(steps.measure) == ["absolute", "relative", "relative", "total"]
    assert list(steps.text) == ["3", "+2", "-1", "4"]
    assert steps.increasing.marker.color == charts.STATUS_COLORS[rise]
    assert figure.layout.title.text == "Volume or rate?"


def segments(value: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "property": ["platform", "platform"],
            "segment": ["web", value],
            "contribution": [-0.5, 2.0],
        }
    )


def test_segments_are_bars_by_contribution_the_biggest_on_top():
    figure = charts.segments_chart(segments("ios"), "users")
    (bars,) = figure.data
    assert list(bars.y) == ["platform = web", "platform = ios"]  # drawn bottom up
    assert list(bars.x) == [-0.5, 2.0]
    assert list(bars.text) == ["-0.5", "+2"]
    assert list(bars.marker.color) == [
        charts.STATUS_COLORS["off_track"],
        charts.STATUS_COLORS["met"],
    ]
    assert figure.layout.xaxis.tickformat == ",~s"
    assert charts.segments_chart(segments("ios"), "ratio").layout.xaxis.tickformat == ".1%"


def test_segments_show_values_as_text():
    assert_shown_as_text(charts.segments_chart(segments(HOSTILE), "users"))
