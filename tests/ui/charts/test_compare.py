"""ui/charts/compare.py: the earlier period drawn over a chart, on small hand-built series: a grey
dashed line per series, one legend entry, the earlier dates in the hover, its label as text."""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go
import polars as pl

from tests.ui.figures import HOSTILE, assert_shown_as_text, names, shown_names
from ui.charts import compare

D = dt.date
DAYS = [D(2026, 3, 2), D(2026, 3, 3), D(2026, 3, 4)]


def earlier(**extra) -> compare.Comparison:
    frame = pl.DataFrame(
        {
            "period_start": DAYS,
            "earlier_period_start": [D(2026, 2, 23), D(2026, 2, 24), D(2026, 2, 25)],
            "active_users": [3, 4, 5],
            **extra,
        }
    )
    return compare.Comparison("Previous period", frame)


def test_overlay_is_one_grey_dashed_line_with_the_earlier_dates_in_its_hover():
    figure = go.Figure()
    compare.overlay(figure, earlier(), y="active_users", hover="%{y:,} users")
    (line,) = figure.data
    assert (line.name, line.line.color, line.line.dash) == (
        "Previous period",
        compare.COLOR,
        "dash",
    )
    assert list(line.x) == DAYS and list(line.y) == [3, 4, 5]
    assert list(line.customdata) == [D(2026, 2, 23), D(2026, 2, 24), D(2026, 2, 25)]
    assert (
        line.hovertemplate
        == "%{customdata|%a %d %b %Y}: %{y:,} users<extra>Previous period</extra>"
    )


def test_lines_draw_one_earlier_line_per_series_with_one_legend_entry():
    frame = pl.DataFrame(
        {
            "period_start": DAYS * 2,
            "window_days": [1, 1, 1, 7, 7, 7],
            "active_users": [1, 2, 3, 4, 5, 6],
        }
    )
    figure = go.Figure()
    compare.lines(
        figure,
        compare.Comparison("A year before", frame),
        by="window_days",
        y="active_users",
        names={1: "DAU", 7: "WAU"},
    )
    assert [list(t.y) for t in figure.data] == [[1, 2, 3], [4, 5, 6]]
    assert shown_names(figure) == ["A year before"]  # the second line shares the entry
    assert figure.data[1].hovertemplate == "%{y:,}<extra>A year before · WAU</extra>"
    nothing = go.Figure()
    compare.lines(nothing, None, by="window_days", y="active_users")
    assert names(nothing) == []


def test_an_overlay_label_is_shown_as_text():
    figure = go.Figure()
    compare.overlay(figure, compare.Comparison(HOSTILE, earlier().frame), y="active_users")
    assert_shown_as_text(figure)
