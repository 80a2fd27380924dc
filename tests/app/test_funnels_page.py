"""The Funnels page: on the demo product it runs, draws every chart and its controls work; on a
tiny story it shows the right numbers; the chart builders draw what the metric says."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.opening import open_numbers
from ui.charts import funnels as charts

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "pages/funnels.py"


@pytest.fixture(scope="module")
def page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    at.switch_page(PAGE).run()
    return at


def chart_count(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


def test_the_page_runs_on_the_demo_with_its_default_funnel(page):
    assert not page.exception, page.exception
    assert page.title[0].value == "Funnels"
    assert page.number_input(key="fun_step_count").value == 5
    assert [page.selectbox(key=f"fun_step_{n}").value for n in range(1, 6)] == [
        "signup",
        "onboarding_complete",
        "add_to_cart",
        "checkout_start",
        "purchase",
    ]
    headers = [h.value for h in page.header]
    assert headers == ["Steps", "By property", "Over time, time to convert and drop-offs"]
    assert [m.label for m in page.metric] == [
        "Entered",
        "Converted",
        "Conversion",
        "Still in window",
    ]
    # Steps and the first tab's conversion over time; the other tabs wait to be opened.
    assert chart_count(page) == 2
    # Each chart's numbers (table + CSV), made once their expander is opened.
    assert len(page.get("download_button")) == 0
    assert len(open_numbers(page).get("download_button")) == 2
    assert sum("Counting unit" in c.value for c in page.caption) == 2


def open_tab(at: AppTest, label: str) -> AppTest:
    """Open one of the page's lazy tabs as a link would (``fun_more=<label>``)."""
    at.query_params["fun_more"] = label
    return at.run()


@pytest.mark.parametrize(
    ("label", "chart", "downloads"),
    [
        ("Time to convert", "fun_chart_time", 2),
        ("Where drop-offs went", "fun_chart_next", 3),  # and the dropped users' CSV
    ],
)
def test_each_tab_draws_its_chart_once_opened(label, chart, downloads):
    at = AppTest.from_file(APP, default_timeout=600)
    at.switch_page(PAGE)
    open_tab(at, label)
    assert not at.exception, at.exception
    drawn = [c.proto.id for c in at.get("plotly_chart")]
    assert len(drawn) == 2 and chart in drawn[1], drawn
    assert len(open_numbers(at).get("download_button")) == downloads


def test_order_window_breakdown_and_exclusions(page):
    page.segmented_control(key="fun_order").set_value("strict").run()
    assert not page.exception, page.exception
    assert any("very next event" in c.value for c in page.caption)
    page.segmented_control(key="fun_order").set_value("unordered").run()
    page.number_input(key="fun_window").set_value(36).run()
    page.selectbox(key="fun_window_unit").set_value("hour").run()
    assert not page.exception, page.exception
    assert any("in any order, within **36 hours**" in c.value for c in page.caption)
    page.selectbox(key="fun_breakdown").set_value("platform").run()
    assert not page.exception, page.exception
    assert chart_count(page) == 3
    assert any("Split by **platform**" in c.value for c in page.caption)
    page.segmented_control(key="fun_order").set_value("ordered").run()
    page.multiselect(key="fun_exclusions").set_value(["search"]).run()
    assert not page.exception, page.exception
    assert any("with `search` between step 1 and step 5" in c.value for c in page.caption)
    page.segmented_control(key="fun_interval").set_value("week").run()
    open_tab(page, "Where drop-offs went")
    page.selectbox(key="fun_drop_step").set_value(3).run()
    assert not page.exception, page.exception
    assert any("on the way to step 3" in c.value for c in page.caption)


def test_drop_offs_pass_over_bookkeeping_events_unless_asked(page):
    open_tab(page, "Where drop-offs went")
    assert set(page.multiselect(key="fun_next_ignore").value) == {"page_view", "session_start"}
    assert any("Passed over: `" in c.value for c in page.caption)
    table = page.get("dataframe")
    assert not any(
        "session_start" in frame.value["event"].to_list()
        for frame in table
        if "share" in frame.value.columns
    )
    page.multiselect(key="fun_next_ignore").set_value([]).run()
    assert not page.exception, page.exception
    assert any("No event is passed over." in c.value for c in page.caption)


def test_a_step_may_repeat_the_event_before_it(page):
    """PostHog lets a step repeat an event (two page views); so does the page."""
    page.number_input(key="fun_step_count").set_value(3).run()
    page.selectbox(key="fun_step_1").set_value("page_view").run()
    page.selectbox(key="fun_step_2").set_value("page_view").run()
    page.selectbox(key="fun_step_3").set_value("purchase").run()
    assert not page.exception, page.exception
    assert chart_count(page) >= 2
    values = {m.label: m.value for m in page.metric}
    assert int(values["Entered"].replace(",", "")) > int(values["Converted"].replace(",", ""))
    steps = next(
        frame.value
        for frame in open_numbers(page).get("dataframe")
        if "step" in frame.value.columns
    )
    assert steps["event"].to_list() == ["page_view", "page_view", "purchase"]
    assert steps["users"].to_list()[0] > steps["users"].to_list()[1]


def test_an_unpicked_step_is_a_message_not_a_crash(page):
    page.number_input(key="fun_step_count").set_value(6).run()
    assert not page.exception, page.exception
    assert any("Pick an event for step 6" in box.value for box in page.info)
    assert chart_count(page) == 0


# A tiny product: ann converts, bob stops after the cart (his window closed), cat only signs up.
STORY_CSV = """user_id,event,timestamp,platform
ann,signup,2026-03-02 09:00,web
ann,add_to_cart,2026-03-02 09:10,web
ann,purchase,2026-03-02 09:30,web
bob,signup,2026-03-02 10:00,ios
bob,add_to_cart,2026-03-02 11:00,ios
bob,help_page,2026-03-03 08:00,ios
cat,signup,2026-03-03 10:00,web
dan,page_view,2026-03-31 10:00,web
"""


@pytest.fixture
def story_page(tmp_path, monkeypatch) -> AppTest:
    (tmp_path / "events.csv").write_text(STORY_CSV)
    (tmp_path / "sources.toml").write_text(
        'default = "fun_story"\n[sources.fun_story]\npath = "events.csv"\n', encoding="utf-8"
    )
    monkeypatch.setenv("NORTHSTAR_SOURCES", str(tmp_path / "sources.toml"))
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page(PAGE).run()
    return at


def test_a_small_product_shows_its_numbers_and_its_drop_offs(story_page):
    at = story_page
    at.number_input(key="fun_step_count").set_value(3).run()
    for number, name in enumerate(["signup", "add_to_cart", "purchase"], start=1):
        at.selectbox(key=f"fun_step_{number}").set_value(name).run()
    at.number_input(key="fun_window").set_value(1).run()
    assert not at.exception, at.exception
    values = {m.label: m.value for m in at.metric}
    assert values["Entered"] == "3"
    assert values["Converted"] == "1"
    assert float(values["Conversion"]) == pytest.approx(1 / 3)
    # The data run to 31 March: every one-day window has closed.
    assert values["Still in window"] == "0"
    open_tab(at, "Where drop-offs went")
    at.selectbox(key="fun_drop_step").set_value(3).run()
    assert not at.exception, at.exception
    download = open_numbers(at).get("download_button")[-1]
    assert "the 1 user who dropped off" in download.proto.label
    # bob went to the help page after his cart.
    tables = [t for t in at.dataframe if "event" in t.value.columns]
    assert tables[-1].value["event"].tolist() == ["help_page"]


def test_a_range_where_nobody_entered_says_so(tmp_path, monkeypatch):
    (tmp_path / "events.csv").write_text(STORY_CSV)
    (tmp_path / "sources.toml").write_text(
        'default = "fun_story"\n[sources.fun_story]\npath = "events.csv"\n', encoding="utf-8"
    )
    monkeypatch.setenv("NORTHSTAR_SOURCES", str(tmp_path / "sources.toml"))
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["range"] = ["2026-03-10", "2026-03-20"]  # a shared link to a quiet fortnight
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert any("Nobody did **signup**" in box.value for box in at.info)
    assert chart_count(at) == 0


# -- the chart builders, without Streamlit ------------------------------------------------------


def steps_table() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "step": [1, 2, 3],
            "event": ["signup", "cart", "pay"],
            "users": [10, 6, 2],
            "conversion_rate": [1.0, 0.6, 0.2],
            "conversion_rate_ci_low": [0.7, 0.3, 0.05],
            "conversion_rate_ci_high": [1.0, 0.85, 0.5],
            "step_conversion_rate": [1.0, 0.6, 1 / 3],
            "step_conversion_rate_ci_low": [0.7, 0.3, 0.1],
            "step_conversion_rate_ci_high": [1.0, 0.85, 0.7],
            "median_seconds_to_convert": [None, 600.0, 90000.0],
            "mean_seconds_to_convert": [None, 700.0, 95000.0],
            "dropped_off": [0, 3, 1],
            "still_in_window": [0, 1, 3],
        }
    )


def test_step_bars_stack_reached_dropped_and_still_in_window():
    figure = charts.steps_figure(steps_table())
    reached, dropped, still = figure.data
    assert list(reached.x) == ["1. signup", "2. cart", "3. pay"]
    assert list(reached.y) == [10, 6, 2]
    assert list(reached.text) == ["100.0%", "60.0%", "20.0%"]
    # Of the 4 who did not reach "cart", 3 dropped off and 1 is still in the window.
    assert list(dropped.y) == [0, 3, 1] and list(still.y) == [0, 1, 3]
    assert figure.layout.barmode == "stack"
    assert still.marker.pattern.shape == "/"


def test_breakdown_bars_have_wilson_error_bars_and_biggest_values_first():
    table = pl.concat(
        [
            steps_table().with_columns(pl.lit("web").alias("platform")),
            steps_table().with_columns(
                pl.lit(None, dtype=pl.String).alias("platform"), pl.col("users") * 2
            ),
        ]
    )
    figure = charts.breakdown_figure(table, breakdown="platform")
    assert [trace.name for trace in figure.data] == ["(not set) (20)", "web (10)"]
    web = figure.data[1]
    assert list(web.y) == [1.0, 0.6, 0.2]
    assert list(web.error_y.array) == pytest.approx([0.0, 0.25, 0.3])
    assert list(web.error_y.arrayminus) == pytest.approx([0.3, 0.3, 0.15])


def test_trends_mark_open_periods_hollow_and_skip_empty_ones():
    trends = pl.DataFrame(
        {
            "period_start": [dt.date(2026, 3, d) for d in (2, 3, 4)],
            "entered": [4, 0, 5],
            "converted": [2, 0, 1],
            "conversion_rate": [0.5, 0.0, 0.2],
            "conversion_rate_ci_low": [0.15, None, 0.04],
            "conversion_rate_ci_high": [0.85, None, 0.62],
            "still_in_window": [0, 0, 3],
        }
    )
    figure = charts.trends_figure(trends, interval="day")
    band, line = figure.data
    assert list(line.y) == [0.5, None, 0.2]  # nobody entered on the 3rd: a gap, not 0%
    assert list(line.marker.color) == [charts.CONVERTED_COLOR, charts.CONVERTED_COLOR, "white"]
    assert len(band.x) == 4  # the band covers the two periods with entries


def test_time_to_convert_and_next_events_figures():
    histogram = pl.DataFrame(
        {"bin_start_seconds": [60.0, 3600.0], "bin_end_seconds": [3600.0, 7200.0], "users": [3, 1]}
    )
    figure = charts.time_to_convert_figure(histogram)
    assert list(figure.data[0].x) == ["60 s–60.0 min", "60.0 min–2.0 h"]
    assert list(figure.data[0].y) == [3, 1]
    nxt = pl.DataFrame(
        {"event": ["help", "(no later event)"], "users": [2, 1], "share": [2 / 3, 1 / 3]}
    )
    bars = charts.next_events_figure(nxt).data[0]
    assert list(bars.y) == ["(no later event)", "help"]  # most common on top
    assert list(bars.text) == ["33%", "67%"]
    assert charts.duration_words(None) == "–"
    assert charts.duration_words(2 * 86400) == "2.0 days"
