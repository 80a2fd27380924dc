"""The Retention page: on the demo product it runs and draws every chart and its controls work; on a
tiny hand-made product it shows the numbers worked out below. Its chart builders are checked
without Streamlit in tests/ui/charts/test_retention.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.opening import open_numbers
from tests.app.shown import shown

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "pages/retention.py"


@pytest.fixture(scope="module")
def page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=900)
    at.run()
    at.switch_page(PAGE).run()
    return at


def chart_count(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


def cards(at: AppTest) -> list[str]:
    return [c.value for c in at.caption if "Counting unit" in c.value]


def test_the_page_runs_and_draws_its_charts(page):
    assert not page.exception, page.exception
    assert page.title[0].value == "Retention"
    assert [h.value for h in page.header] == ["Cohort triangle", "Curves and lifetime value"]
    # The triangle and the first tab's curves; the LTV tab waits to be opened.
    assert chart_count(page) == 2
    # Every chart has its numbers (an expander with a CSV download, made once opened) and a
    # definition card.
    assert len(page.get("download_button")) == 0
    assert len(open_numbers(page).get("download_button")) == 2
    assert len(cards(page)) == 2
    assert all("Calendar" in card and "UTC" in card and "Recurring" in card for card in cards(page))
    labels = [m.label for m in page.metric]
    assert labels[:2] == ["Cohort memberships", "Week 1 retention"]


def test_the_lifetime_value_tab_draws_the_ltv_curve_once_opened():
    at = AppTest.from_file(APP, default_timeout=600)
    at.switch_page(PAGE)
    at.query_params["ret_more"] = "Lifetime value"
    at.run()
    assert not at.exception, at.exception
    assert chart_count(at) == 2  # the triangle and the LTV curve, not the curves
    ltv = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert "$" in json.dumps(ltv["layout"])  # in the demo's currency
    assert any("revenue" in card for card in cards(at))


def test_every_control_changes_the_view(page):
    page.segmented_control(key="ret_interval").set_value("month").run()
    page.segmented_control(key="ret_type").set_value("first_time").run()
    page.segmented_control(key="ret_periods").set_value("rolling").run()
    page.segmented_control(key="ret_mode").set_value("on_or_after").run()
    page.selectbox(key="ret_start_event").set_value("signup").run()
    page.selectbox(key="ret_return_event").set_value("purchase").run()
    assert not page.exception, page.exception
    assert chart_count(page) == 2
    card = cards(page)[0]
    assert "**First-time**" in card and "`signup`" in card
    assert "**Rolling**" in card and "`purchase`" in card and "or any later one" in card
    assert page.metric[1].label == "Month 1 retention"


def open_page(**query: str | list[str]) -> AppTest:
    """A fresh app opened from a shared link, then on the Retention page.

    The sidebar's filters are drawn by app.py on the first run; the page reads them from there.
    """
    at = AppTest.from_file(APP, default_timeout=900)
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    at.switch_page(PAGE).run()
    return at


def test_a_shared_link_restores_the_view():
    # Widgets bound to the URL store their labels there, as a browser shows them.
    at = open_page(
        tz="America/New_York",
        ret_interval="Week",
        ret_week_start="Sunday",
        ret_type="First time",
        ret_start_event="signup",
    )
    assert not at.exception, at.exception
    assert at.segmented_control(key="ret_type").value == "first_time"
    card = cards(at)[0]
    assert "starting Sunday" in card and "America/New_York" in shown(card) and "`signup`" in card
    assert at.metric[0].label == "Users in cohorts"


def test_too_many_cohorts_is_a_message():
    at = open_page(range=["2026-05-01", "2026-10-31"], ret_interval="Day")
    assert not at.exception, at.exception
    assert any("too many cohorts" in w.value for w in at.warning)
    assert chart_count(at) == 0


# ann and bob sign up in the week of 2 March 2026, cy in the next; the data ends on Tuesday
# 17 March, so the sidebar's default range is 2–17 March and the week of 16 March is not over.
STORY_CSV = """user_id,event,timestamp
ann,signup,2026-03-02 09:00
ann,page_view,2026-03-10 09:00
bob,signup,2026-03-03 10:00
cy,signup,2026-03-10 11:00
cy,page_view,2026-03-17 11:00
"""


@pytest.fixture
def story(tmp_path, monkeypatch):
    """Open the page on the tiny product above (optionally from a shared link)."""
    (tmp_path / "events.csv").write_text(STORY_CSV)
    (tmp_path / "sources.toml").write_text(
        'default = "ret_story"\n[sources.ret_story]\npath = "events.csv"\n', encoding="utf-8"
    )
    monkeypatch.setenv("NORTHSTAR_SOURCES", str(tmp_path / "sources.toml"))
    return open_page


def test_the_numbers_of_a_small_product(story):
    story_page = story()
    assert not story_page.exception, story_page.exception
    values = {m.label: m.value for m in story_page.metric}
    # Recurring weekly cohorts: {ann, bob}, {ann, cy}, {cy}: three people, five memberships.
    assert values["Cohort memberships"] == "5"
    # Only the first cohort has finished week 1 (the second's week 1 is the unfinished last
    # week): ann came back, bob did not.
    assert float(values["Week 1 retention"]) == 0.5
    assert "Week 2 retention" not in values  # the first cohort's week 2 is not over either
    assert chart_count(story_page) == 2  # the triangle and the curves
    # No revenue column: the LTV tab says so instead of drawing an empty chart.
    ltv = story(ret_more="Lifetime value")
    assert any("no `revenue` column" in box.value for box in ltv.info)
    assert chart_count(ltv) == 1


def test_a_start_event_nobody_did_in_the_range_says_so(story):
    at = story(range=["2026-03-02", "2026-03-08"], ret_type="First time")
    at.selectbox(key="ret_start_event").set_value("page_view").run()
    assert not at.exception, at.exception
    # The first page views are on the 10th and the 17th, after this range: no cohort at all.
    assert any("Nobody started" in box.value for box in at.info)
    assert chart_count(at) == 0
    at.selectbox(key="ret_start_event").set_value("signup").run()
    assert chart_count(at) == 2  # ann and bob signed up that week
