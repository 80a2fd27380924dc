"""The Retention page's figures (ui/charts/retention.py), built from metric tables without
Streamlit: incomplete cells faded or dashed, cohort sizes in the labels, an empty range drawn.
Also the figures on small hand-built tables: markers and traces, axis titles and units, and
names from the data shown as text."""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go
import polars as pl
import pytest

from metrics.retention import average_curve, average_ltv, retention, revenue_retention
from tests.conftest import make_events
from tests.ui.figures import assert_shown_as_text, names
from ui.charts import retention as charts


@pytest.fixture
def weekly():
    events = make_events(
        ("ann", "signup", "2026-03-02 09:00"),
        ("ann", "purchase", "2026-03-10 09:00", {"revenue": 12.0}),
        ("bob", "signup", "2026-03-03 10:00"),
        ("cy", "signup", "2026-03-10 11:00"),
        ("cy", "purchase", "2026-03-17 11:00", {"revenue": 3.0}),
    )
    table = retention(events, start="2026-03-02", end="2026-03-17")
    money = revenue_retention(events, start="2026-03-02", end="2026-03-17", start_event="signup")
    return table, money


def test_triangle_fades_incomplete_cells_and_labels_cohort_sizes(weekly):
    table, _ = weekly
    figure = charts.triangle_figure(table, interval="week")
    finished, unfinished = figure.data
    assert isinstance(finished, go.Heatmap) and unfinished.opacity < 1
    assert list(finished.y) == [
        "02 Mar 2026 · 2 users",
        "09 Mar 2026 · 2 users",
        "16 Mar 2026 · 1 users",
    ]
    # Row 0 is the 2 March cohort: 100% at week 0, ann's return at week 1, week 2 unfinished.
    assert list(finished.text[0][:2]) == ["100%", "50%"]
    assert unfinished.text[0][2] == "(0%)"
    assert unfinished.text[2][0] == "(100%)"


def test_curves_draw_every_cohort_and_a_dashed_average(weekly):
    table, _ = weekly
    average = average_curve(table)
    figure = charts.curves_figure(table, average, interval="week")
    names = [trace.name for trace in figure.data if trace.showlegend is not False]
    assert "Average (weighted by cohort size)" in names
    assert "dashed, hollow: period not over yet" in names
    dashed = [t for t in figure.data if t.line is not None and t.line.dash == "dash"]
    assert dashed  # the unfinished weeks
    assert figure.layout.xaxis.ticktext[:2] == ("Week 0", "Week 1")


def test_ltv_curve(weekly):
    _, money = weekly
    figure = charts.ltv_figure(money, average_ltv(money), interval="week")
    average = next(t for t in figure.data if t.name == "Average LTV (pooled over cohorts)")
    # Week 0 pools the finished cohorts 2 and 9 March: nothing spent yet (ann paid in week 1).
    assert average.y[0] == 0.0
    assert figure.layout.yaxis.tickprefix == "$"


def test_builders_accept_an_empty_range():
    table = retention(make_events(), start="2026-03-02", end="2026-03-15")
    assert isinstance(charts.triangle_figure(table, interval="week"), go.Figure)
    assert isinstance(charts.curves_figure(table, average_curve(table), interval="week"), go.Figure)
    money = revenue_retention(
        make_events(("a", "x", "2025-01-01 00:00", {"revenue": 1.0})),
        start="2026-03-02",
        end="2026-03-15",
    )
    assert isinstance(charts.ltv_figure(money, average_ltv(money), interval="week"), go.Figure)
    assert pl.DataFrame(average_curve(table)).height == 0


D = dt.date
JAN5, JAN12 = D(2026, 1, 5), D(2026, 1, 12)


def triangle() -> pl.DataFrame:
    """Two weekly cohorts: 4 users (2 back in week 1), then 2 users whose week 1 is not over."""
    return pl.DataFrame(
        {
            "cohort_start": [JAN5, JAN5, JAN12],
            "cohort_size": [4, 4, 2],
            "offset": [0, 1, 0],
            "retained": [4, 2, 2],
            "rate": [1.0, 0.5, 1.0],
            "rate_ci_low": [0.51, 0.15, 0.34],
            "rate_ci_high": [1.0, 0.85, 1.0],
            "incomplete": [False, False, True],
        }
    )


def average() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "offset": [0, 1],
            "rate": [1.0, 0.5],
            "rate_ci_low": [0.7, 0.15],
            "rate_ci_high": [1.0, 0.85],
            "incomplete": [False, False],
        }
    )


def test_the_triangle_has_a_row_per_cohort_and_fades_unfinished_cells():
    figure = charts.triangle_figure(triangle(), interval="week")
    finished, unfinished = figure.data
    rows = ["05 Jan 2026 · 4 users", "12 Jan 2026 · 2 users"]
    assert list(finished.y) == rows and list(finished.x) == ["Week 0", "Week 1"]
    assert [list(r) for r in finished.z] == [[1.0, 0.5], [None, None]]
    assert [list(r) for r in finished.text] == [["100%", "50%"], ["", ""]]
    # The second cohort's own week is not over: faded, its number in parentheses.
    assert [list(r) for r in unfinished.text] == [["", ""], ["(100%)", ""]]
    assert (unfinished.opacity, unfinished.showscale) == (0.45, False)
    assert finished.colorbar.title.text == "Retained" and finished.colorbar.tickformat == ".0%"
    assert figure.layout.yaxis.autorange == "reversed"  # the oldest cohort on top


def test_the_curves_are_thin_per_cohort_and_bold_for_the_average_with_its_band():
    figure = charts.curves_figure(triangle(), average(), interval="week")
    assert names(figure) == [
        "05 Jan 2026 · 4 users",
        "12 Jan 2026 · 2 users",
        None,  # the unfinished part of the second cohort: dashed
        None,
        "95% CI of the average",
        "Average (weighted by cohort size)",
        "dashed, hollow: period not over yet",
    ]
    assert list(figure.data[0].y) == [1.0, 0.5]
    assert figure.data[5].line.width == 3
    assert figure.layout.yaxis.title.text == "Retained"
    assert figure.layout.yaxis.tickformat == ".2~%"
    assert figure.layout.xaxis.title.text == "Weeks since the cohort's week"
    assert list(figure.layout.xaxis.ticktext) == ["Week 0", "Week 1"]
    assert figure.data[0].hovertemplate.startswith("05 Jan 2026 · 4 users<br>week %{x}: ")


def test_the_ltv_curves_are_in_the_products_currency():
    table = pl.DataFrame(
        {
            "cohort_start": [JAN5, JAN5],
            "cohort_size": [4, 4],
            "offset": [0, 1],
            "revenue": [20.0, 10.0],
            "paying_users": [2, 1],
            "revenue_per_user": [5.0, 2.5],
            "cumulative_revenue_per_user": [5.0, 7.5],
            "incomplete": [False, True],
        }
    )
    pooled = pl.DataFrame(
        {
            "offset": [0, 1],
            "cumulative_revenue_per_user": [5.0, 7.5],
            "users": [4, 4],
            "cohorts": [1, 1],
            "incomplete": [False, True],
        }
    )
    figure = charts.ltv_figure(table, pooled, interval="month", currency="EUR")
    assert names(figure)[0] == "05 Jan 2026 · 4 users"
    assert list(figure.data[0].y) == [5.0, None]  # the unfinished month is dashed, apart
    assert "Average LTV (pooled over cohorts)" in names(figure)
    assert figure.layout.yaxis.title.text == "Revenue per cohort user, so far"
    assert figure.layout.yaxis.tickprefix == "€"
    assert figure.layout.xaxis.title.text == "Months since the cohort's month"
    assert "€%{y:,.2f} per user" in figure.data[0].hovertemplate


def test_a_currency_code_from_the_source_is_shown_as_text():
    table = pl.DataFrame(
        {
            "cohort_start": [JAN5],
            "cohort_size": [1],
            "offset": [0],
            "revenue": [5.0],
            "paying_users": [1],
            "revenue_per_user": [5.0],
            "cumulative_revenue_per_user": [5.0],
            "incomplete": [False],
        }
    )
    pooled = table.select("offset", "cumulative_revenue_per_user", "incomplete")
    code = "<B>X</B>&"  # a code is written upper-case, as given
    figure = charts.ltv_figure(table, pooled, interval="week", currency=code)
    assert_shown_as_text(figure, code)
