"""Compare with an earlier period (issue 15 item 1): the shared control in the URL, the overlay on
the charts, the tiles' two changes, and the words where the earlier period has no data.

The demo product runs from 1 May to 31 Oct 2026, so with the sidebar's default range (the last
90 days) the previous period has data and a year before has none.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from ui.charts import compare as overlay
from ui.charts import engagement as charts

APP = str(Path(__file__).resolve().parents[2] / "app.py")
D = dt.date


def opened(page: str, **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=600)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    if page != "pages/overview.py":
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def trace_names(at: AppTest, index: int) -> list[str | None]:
    figure = json.loads(at.get("plotly_chart")[index].proto.spec)
    return [trace.get("name") for trace in figure["data"]]


@pytest.fixture(scope="module")
def previous() -> AppTest:
    return opened("pages/engagement.py", compare="previous")


@pytest.mark.parametrize(
    ("link", "choice"),
    [
        ("previous", "previous"),  # typed by hand
        ("year", "year"),
        ("A year before", "year"),  # as the control writes it
        ("none", "none"),
        ("last_decade", "none"),  # anything else: no comparison, no error
    ],
)
def test_the_choice_comes_from_the_link(link, choice):
    at = AppTest.from_file(APP, default_timeout=600)
    at.query_params["compare"] = link
    at.run()
    assert not at.exception, at.exception
    assert at.segmented_control(key="compare").value == choice


def test_no_comparison_by_default_draws_no_earlier_line():
    at = opened("pages/engagement.py")
    assert "Previous period" not in trace_names(at, 0)


def test_the_previous_period_is_drawn_on_every_time_chart_of_engagement(previous):
    charts_with = {
        key: trace_names(previous, i)
        for i, key in enumerate(c.proto.id for c in previous.get("plotly_chart"))
    }
    drawn = [names for names in charts_with.values() if "Previous period" in names]
    # DAU/WAU/MAU and the open tab's DAU/MAU.
    assert len(drawn) == 2
    assert trace_names(previous, 0).count("Previous period") == 3  # one per window
    assert not [c.value for c in previous.caption if "No data for" in c.value]


def test_the_previous_period_is_drawn_on_both_revenue_charts():
    at = opened("pages/engagement.py", compare="previous", eng_more="Revenue")
    drawn = [trace_names(at, i) for i in range(len(at.get("plotly_chart")))]
    # DAU/WAU/MAU, then revenue per period and revenue per user.
    assert len(drawn) == 3 and all("Previous period" in names for names in drawn)


def test_the_tiles_show_both_changes(previous):
    tiles = {m.label: m for m in previous.metric if m.label in ("DAU", "WAU", "MAU", "DAU/MAU")}
    assert set(tiles) == {"DAU", "WAU", "MAU", "DAU/MAU"}
    assert all(t.delta for t in tiles.values())  # vs the previous period: it has data
    year = [c.value for c in previous.caption if "a year before" in c.value]
    assert year == ["no data a year before"] * 4  # the demo has no year before: never "+0"


def test_a_year_before_without_data_is_said_not_drawn_as_zero():
    at = opened("pages/engagement.py", compare="year")
    assert "A year before" not in trace_names(at, 0)
    said = [c.value for c in at.caption if "No data for the same period a year before" in c.value]
    assert said, [c.value for c in at.caption]


@pytest.mark.parametrize(
    ("page", "chart"),
    [("pages/funnels.py", "fun_chart_trends"), ("pages/retention.py", "ret_chart_curves")],
)
def test_funnels_and_retention_draw_the_previous_period(page, chart):
    at = opened(page, compare="previous")
    names = [trace_names(at, i) for i in range(len(at.get("plotly_chart")))]
    assert any("Previous period" in n for n in names), names


def test_the_overview_draws_each_kpis_previous_period_and_says_a_year_before():
    at = opened("pages/overview.py", compare="previous")
    names = [trace_names(at, i) for i in range(len(at.get("plotly_chart")))]
    assert "Previous period" in names[0]  # the North Star's chart
    assert sum("Previous period" in n for n in names) >= 2  # and the sparklines
    year = [c.value for c in at.caption if c.value == "No data a year before"]
    assert len(year) >= 2  # the North Star and every KPI of the scorecard


def test_the_builders_draw_the_comparison_grey_dashed_with_one_legend_entry():
    days = [D(2026, 9, 1), D(2026, 9, 2)]
    current = pl.DataFrame(
        {"period_start": days * 2, "window_days": [1, 1, 7, 7], "active_users": [5, 6, 9, 10]}
    )
    earlier = current.with_columns(
        (pl.col("active_users") - 1).alias("active_users"),
        (pl.col("period_start") - pl.duration(days=2)).alias("earlier_period_start"),
    )
    figure = charts.rolling_active_figure(
        current, comparison=overlay.Comparison("Previous period", earlier)
    )
    drawn = [t for t in figure.data if t.name == "Previous period"]
    assert len(drawn) == 2
    assert [t.showlegend for t in drawn] == [True, False]
    assert {t.line.dash for t in drawn} == {"dash"}
    assert {t.line.color for t in drawn} == {overlay.COLOR}
    assert list(drawn[0].y) == [4, 5]
