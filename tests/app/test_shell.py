"""The app shell: navigation over every page, the shared filters in the sidebar and in the URL."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

PAGES = [
    "pages/overview.py",
    "pages/engagement.py",
    "pages/retention.py",
    "pages/funnels.py",
    "pages/experiments.py",
    "pages/data.py",
]


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file("app.py", default_timeout=180)
    at.run()
    return at


def test_first_run_opens_on_the_overview_with_demo_data(app):
    assert not app.exception
    assert app.title[0].value.startswith("Northstar") or "Overview" in app.title[0].value
    labels = [widget.label for widget in app.sidebar.selectbox]
    assert "Reporting time zone" in labels
    assert app.sidebar.date_input[0].label == "Date range"


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_without_exception(app, page):
    app.switch_page(page).run()
    assert not app.exception, app.exception
    assert app.title, f"{page} has no title"


def test_time_zone_is_kept_in_the_url(app):
    app.sidebar.selectbox(key="tz").set_value("Asia/Tokyo").run()
    assert not app.exception
    assert app.query_params.get("tz") in (["Asia/Tokyo"], "Asia/Tokyo")
