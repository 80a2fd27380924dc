"""The Retention page's figures (ui/charts/retention.py), built from metric tables without
Streamlit: incomplete cells faded or dashed, cohort sizes in the labels, an empty range drawn."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
import pytest

from metrics.retention import average_curve, average_ltv, retention, revenue_retention
from tests.conftest import make_events
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
