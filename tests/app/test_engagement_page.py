"""The Engagement page on the demo product: it runs, draws every chart, and its controls work."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.opening import open_numbers
from ui.charts import engagement as charts

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "pages/engagement.py"


@pytest.fixture(scope="module")
def page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    at.switch_page(PAGE).run()
    return at


def chart_count(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


def open_tab(at: AppTest, label: str) -> AppTest:
    """Open one of the page's lazy tabs as a link would (``eng_more=<label>``)."""
    at.query_params["eng_more"] = label
    return at.run()


def test_the_page_runs_and_draws_its_charts(page):
    assert not page.exception, page.exception
    assert page.title[0].value == "Engagement"
    headers = [h.value for h in page.header]
    assert headers == ["Active users", "By property", "Stickiness, lifecycle and revenue"]
    # Drawn at first: DAU/WAU/MAU and the first tab's DAU/MAU; the other tabs wait to be opened.
    assert chart_count(page) == 2
    assert [m.label for m in page.metric][:4] == ["DAU", "WAU", "MAU", "DAU/MAU"]
    # Each chart's numbers (table + CSV) are made once their expander is opened.
    assert len(page.get("download_button")) == 0
    assert len(open_numbers(page).get("download_button")) == 2
    assert sum("Counting unit" in c.value for c in page.caption) == 2


@pytest.mark.parametrize(
    ("label", "charts_in_tab", "subheader"),
    [
        ("Stickiness", 1, "How many days do users come?"),
        ("Lifecycle", 1, "Who is new, returning, resurrecting or dormant each day?"),
        ("Revenue", 2, "Revenue per active user"),
    ],
)
def test_each_tab_draws_its_charts_once_opened(label, charts_in_tab, subheader):
    at = AppTest.from_file(APP, default_timeout=600)
    at.switch_page(PAGE)
    open_tab(at, label)
    assert not at.exception, at.exception
    assert chart_count(at) == 1 + charts_in_tab  # DAU/WAU/MAU, then only the open tab's
    assert subheader in [h.value for h in at.subheader]
    assert sum("Counting unit" in c.value for c in at.caption) == 2
    if label == "Revenue":
        # The range's revenue, in the product's currency (the demo's: USD), with separators.
        total = at.metric[4]
        assert total.label.startswith("Revenue, ") and total.value.startswith("$")
        assert "," in total.value


def test_weekly_interval_with_a_breakdown(page):
    page.segmented_control(key="eng_interval").set_value("week").run()
    assert not page.exception, page.exception
    page.selectbox(key="eng_breakdown").set_value("platform").run()
    assert not page.exception, page.exception
    # Weekly active users, the platform split and the open tab's DAU/MAU.
    assert chart_count(page) == 3
    assert any("platform" in c.value for c in page.caption)
    assert any("Active users per calendar week" in c.value for c in page.caption)


def test_sunday_weeks_and_an_event(page):
    # Weeks first: the module's page is shared, and another test may have left it on months
    # (where the first weekday is disabled), depending on which worker ran what before.
    page.segmented_control(key="eng_interval").set_value("week").run()
    page.selectbox(key="eng_week_start").set_value("sunday").run()
    page.selectbox(key="eng_event").set_value("purchase").run()
    assert not page.exception, page.exception
    assert any("`purchase`" in c.value and "Sunday" in c.value for c in page.caption)


def test_stickiness_blocks_and_monthly_lifecycle(page):
    page.segmented_control(key="eng_interval").set_value("month").run()
    open_tab(page, "Stickiness")
    page.number_input(key="eng_interval_count").set_value(2).run()
    assert not page.exception, page.exception
    assert any("blocks of 2 months" in c.value for c in page.caption)


# A tiny product: ann and bob in March 2026, and an old event from 2025, outside the sidebar's
# default range (the last 90 days of data).
STORY_CSV = """user_id,event,timestamp,platform
ann,legacy_ping,2025-01-01 09:00,web
ann,page_view,2026-03-02 09:00,web
bob,page_view,2026-03-02 10:00,ios
ann,purchase,2026-03-03 12:00,web
"""


@pytest.fixture
def story_page(tmp_path, monkeypatch) -> AppTest:
    (tmp_path / "events.csv").write_text(STORY_CSV)
    (tmp_path / "sources.toml").write_text(
        'default = "eng_story"\n[sources.eng_story]\npath = "events.csv"\n', encoding="utf-8"
    )
    monkeypatch.setenv("NORTHSTAR_SOURCES", str(tmp_path / "sources.toml"))
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page(PAGE).run()
    return at


def test_headline_numbers_of_a_small_product(story_page):
    assert not story_page.exception, story_page.exception
    # On the last day (3 March) only ann came; both came in the week and the month ending then.
    values = {m.label: m.value for m in story_page.metric}
    assert values["DAU"] == "1"
    assert values["WAU"] == "2"
    assert values["MAU"] == "2"
    assert float(values["DAU/MAU"]) == 0.5  # shown as 50% (the browser formats it)


def test_a_range_without_activity_says_so_instead_of_failing(story_page):
    story_page.selectbox(key="eng_event").set_value("legacy_ping").run()
    assert not story_page.exception, story_page.exception
    assert any("Nobody was active" in box.value for box in story_page.info)
    assert chart_count(story_page) == 0


# -- the chart builders, without Streamlit ------------------------------------------------------


def weekly_table() -> pl.DataFrame:
    """Three weeks, the first and last only partly inside the range (as active_users returns)."""
    return pl.DataFrame(
        {
            "period_start": [dt.date(2026, 3, 2), dt.date(2026, 3, 9), dt.date(2026, 3, 16)],
            "active_users": [5, 9, 4],
            "is_partial": [True, False, True],
        }
    )


def test_partial_periods_are_drawn_dotted_with_hollow_markers():
    figure = charts.active_users_figure(weekly_table(), interval="week", target=8)
    solid, dotted, hollow, legend = figure.data
    # The solid line skips the partial weeks; the dotted one joins them to the full week.
    assert list(solid.y) == [None, 9, None]
    assert list(dotted.y) == [5, 9, 4] and dotted.line.dash == "dot"
    assert list(hollow.y) == [5, 4] and hollow.marker.symbol == "circle-open"
    assert legend.name == "dotted: partial period"
    # The KPI target is a dashed horizontal line at 8.
    target = [shape for shape in figure.layout.shapes if shape.line.dash == "dash"]
    assert [shape.y0 for shape in target] == [8]


def test_lifecycle_bars_put_dormant_below_zero_and_hatch_partial_periods():
    table = pl.DataFrame(
        {
            "period_start": [dt.date(2026, 3, 2), dt.date(2026, 3, 9)],
            "new": [3, 1],
            "returning": [2, 2],
            "resurrecting": [0, 1],
            "dormant": [1, 4],
            "is_partial": [False, True],
        }
    )
    figure = charts.lifecycle_figure(table, interval="week")
    bars = {trace.name: trace for trace in figure.data}
    assert list(bars["Dormant"].y) == [-1, -4]
    assert list(bars["New"].y) == [3, 1]
    assert figure.layout.barmode == "relative"
    assert list(bars["New"].marker.pattern.shape) == ["", "/"]


def test_rolling_lines_are_dotted_while_the_window_is_not_full():
    days = [dt.date(2026, 5, 1) + dt.timedelta(days=i) for i in range(10)]
    series = pl.DataFrame(
        {
            "period_start": days * 2,
            "window_days": [1] * 10 + [7] * 10,
            "active_users": list(range(10)) + list(range(10, 20)),
        }
    )
    figure = charts.rolling_active_figure(series, data_start=dt.date(2026, 5, 1), targets={7: 15})
    wau = [trace for trace in figure.data if trace.name == "WAU"][0]
    # WAU's window ending 6 May starts on 30 April, before the data: not yet full.
    assert list(wau.y)[:7] == [None] * 6 + [16]
    assert any("WAU target" in a.text for a in figure.layout.annotations)


def test_stickiness_and_revenue_figures_take_the_metric_tables():
    sticky = pl.DataFrame({"intervals_active": [1, 2, 3], "users": [6, 3, 1]})
    figure = charts.stickiness_figure(sticky, interval="week", interval_count=2)
    assert list(figure.data[0].y) == [6, 3, 1]
    assert list(figure.data[0].customdata) == [0.6, 0.3, 0.1]
    assert figure.layout.xaxis.title.text == "2-week blocks active in the range"

    money = weekly_table().with_columns(
        revenue=pl.lit(10.0),
        paying_users=pl.lit(2),
        arpu=pl.col("active_users").cast(pl.Float64),
        arppu=pl.lit(5.0),
    )
    revenue = charts.revenue_figure(money, interval="week", currency="EUR")
    titles = [a.text for a in revenue.layout.annotations]
    assert "Revenue per active user" in titles and "Revenue per paying user" in titles
    assert revenue.layout.yaxis.title.text == "EUR per user"
