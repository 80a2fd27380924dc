"""ui/charts/engagement.py: each builder on a small hand-built frame, as metrics.engagement returns
it: its traces, axis titles and units, partial periods dotted or hatched, targets, and values from
the data shown as text."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from tests.ui.figures import HOSTILE, assert_shown_as_text, names, shown_names
from ui.charts import engagement as charts

D = dt.date
WEEKS = [D(2026, 1, 5), D(2026, 1, 12), D(2026, 1, 19)]


def weekly(**columns) -> pl.DataFrame:
    return pl.DataFrame({"period_start": WEEKS, **columns, "is_partial": [False, False, True]})


def by_platform(column: str, web: list, other: list) -> pl.DataFrame:
    """Two platforms, the second named by the data: web (the smaller) and a hostile value."""
    return pl.DataFrame(
        {
            "period_start": WEEKS * 2,
            "platform": ["web"] * 3 + [HOSTILE] * 3,
            column: web + other,
            "active_users": [1, 1, 1, 5, 5, 5],
            "is_partial": [False, False, True] * 2,
        }
    )


# --- active users --------------------------------------------------------------------------------


def test_active_users_is_one_line_dotted_into_the_partial_week_with_its_target():
    figure = charts.active_users_figure(weekly(active_users=[3, 5, 2]), interval="week", target=4)
    solid, dotted, hollow, legend = figure.data
    assert solid.name == "All users" and list(solid.y) == [3, 5, None]
    assert list(dotted.y) == [None, 5, 2] and dotted.line.dash == "dot"  # joins the solid line
    assert list(hollow.x) == [D(2026, 1, 19)] and hollow.marker.symbol == "circle-open"
    assert legend.name == "dotted: partial period"
    assert solid.hovertemplate == "week of %{x|%d %b %Y}: %{y:,} users<extra>All users</extra>"
    assert figure.layout.yaxis.title.text == "Active users per week"
    assert figure.layout.yaxis.tickformat == ","
    assert [a.text for a in figure.layout.annotations] == ["Target: 4"]


def test_active_users_by_breakdown_draws_the_biggest_value_first_and_shows_it_as_text():
    figure = charts.active_users_figure(
        by_platform("active_users", [1, 1, 1], [5, 5, 5]), interval="week", breakdown="platform"
    )
    assert shown_names(figure) == [HOSTILE, "web", "dotted: partial period"]
    assert figure.layout.legend.title.text == "platform"
    assert_shown_as_text(figure)


# --- DAU, WAU, MAU -------------------------------------------------------------------------------


def test_rolling_active_users_dot_the_days_whose_window_reaches_before_the_data():
    days = [D(2026, 1, 1) + dt.timedelta(days=i) for i in range(8)]
    series = pl.DataFrame(
        {
            "period_start": days * 2,
            "window_days": [1] * 8 + [7] * 8,
            "active_users": [2, 3, 1, 4, 2, 3, 2, 5] + [2, 4, 4, 6, 6, 7, 7, 8],
        }
    )
    figure = charts.rolling_active_figure(series, data_start=D(2026, 1, 1), targets={7: 10})
    assert shown_names(figure) == [
        "DAU",
        "WAU",
        "dotted: window reaches before the first day of data",
    ]
    wau = figure.data[1]
    # WAU of 1..6 Jan reaches back before 1 Jan: dotted; 7 Jan is the first full week.
    assert list(wau.y) == [None] * 6 + [7, 8]
    assert figure.layout.yaxis.title.text == "Active users"
    assert [a.text for a in figure.layout.annotations] == ["WAU target: 10"]


def test_dau_mau_is_a_percentage_line_dotted_while_the_month_is_not_full():
    table = pl.DataFrame(
        {
            "period_start": [D(2026, 1, 30), D(2026, 1, 31)],
            "dau": [2, 3],
            "mau": [10, 12],
            "ratio": [0.2, 0.25],
        }
    )
    figure = charts.dau_mau_figure(table, data_start=D(2026, 1, 2), target=0.3)
    assert names(figure)[0] == "DAU/MAU"
    assert list(figure.data[0].y) == [None, 0.25]  # 30 Jan's month starts on 1 Jan: not full
    assert figure.layout.yaxis.title.text == "DAU / MAU"
    assert figure.layout.yaxis.tickformat == ".2~%"
    assert [a.text for a in figure.layout.annotations] == ["Target: 30%"]


# --- stickiness and lifecycle --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "count", "title"),
    [("day", 1, "Days active in the range"), ("week", 2, "2-week blocks active in the range")],
)
def test_stickiness_is_a_bar_per_count_of_intervals_with_each_share(interval, count, title):
    table = pl.DataFrame({"intervals_active": [1, 2, 3], "users": [4, 1, 0]})
    figure = charts.stickiness_figure(table, interval=interval, interval_count=count)
    (bars,) = figure.data
    assert (list(bars.x), list(bars.y)) == ([1, 2, 3], [4, 1, 0])
    assert list(bars.customdata) == [0.8, 0.2, 0.0]
    assert figure.layout.xaxis.title.text == title
    assert figure.layout.yaxis.title.text == "Users"


def test_lifecycle_stacks_three_statuses_up_and_the_dormant_below_zero():
    table = weekly(new=[2, 1, 0], returning=[0, 2, 1], resurrecting=[1, 0, 0], dormant=[0, 1, 2])
    figure = charts.lifecycle_figure(table, interval="week")
    assert names(figure) == ["New", "Returning", "Resurrecting", "Dormant"]
    assert list(figure.data[3].y) == [0, -1, -2] and list(figure.data[3].customdata) == [0, 1, 2]
    assert list(figure.data[0].marker.pattern.shape) == ["", "", "/"]  # the partial week
    assert figure.layout.barmode == "relative"
    assert figure.layout.yaxis.title.text == "Users per week"
    assert [a.text for a in figure.layout.annotations] == ["hatched: partial period"]


# --- revenue -------------------------------------------------------------------------------------


def test_revenue_per_user_has_a_panel_per_denominator_in_the_currency():
    table = weekly(
        revenue=[30.0, 10.0, 0.0],
        paying_users=[2, 1, 0],
        active_users=[4, 5, 1],
        arpu=[7.5, 2.0, 0.0],
        arppu=[15.0, 10.0, None],
    )
    figure = charts.revenue_figure(table, interval="week", currency="EUR")
    arpu, arppu = (t for t in figure.data if t.name == "All users" and t.y[0] is not None)
    assert (list(arpu.y), arpu.yaxis) == ([7.5, 2.0, None], "y")
    assert (list(arppu.y), arppu.yaxis) == ([15.0, 10.0, None], "y2")
    assert arppu.showlegend is False  # one legend entry per series, from the top panel
    assert [a.text for a in figure.layout.annotations] == [
        "Revenue per active user",
        "Revenue per paying user",
    ]
    for axis in (figure.layout.yaxis, figure.layout.yaxis2):
        assert (axis.title.text, axis.tickprefix) == ("EUR per user", "€")
    assert "€%{y:,.2f} per active user" in arpu.hovertemplate


def test_revenue_per_user_by_breakdown_shows_the_values_as_text():
    table = by_platform("arpu", [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]).with_columns(
        revenue=pl.lit(1.0), paying_users=pl.lit(1), arppu=pl.lit(2.0)
    )
    figure = charts.revenue_figure(table, interval="week", breakdown="platform")
    assert shown_names(figure)[:2] == [HOSTILE, "web"]
    assert_shown_as_text(figure)


def test_revenue_total_is_a_bar_per_period_hatched_when_partial():
    table = weekly(revenue=[120.0, 80.0, 10.0], active_users=[4, 5, 1])
    figure = charts.revenue_total_figure(table, interval="week", currency="GBP")
    (bars,) = figure.data
    assert list(bars.y) == [120.0, 80.0, 10.0]
    assert list(bars.marker.pattern.shape) == ["", "", "/"]
    assert bars.hovertemplate == "£%{y:,.0f}<extra>All users</extra>"
    assert (figure.layout.yaxis.title.text, figure.layout.yaxis.tickprefix) == (
        "Revenue (GBP)",
        "£",
    )
    assert figure.layout.title.text == "per week; hatched: partial week"
    assert figure.layout.showlegend is False


def test_revenue_total_by_breakdown_shows_the_values_as_text():
    table = by_platform("revenue", [1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    figure = charts.revenue_total_figure(table, interval="week", breakdown="platform")
    assert names(figure) == [HOSTILE, "web"]
    assert_shown_as_text(figure)
