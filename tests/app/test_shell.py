"""The app shell: navigation over every page, the shared filters in the sidebar and in the URL."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "app.py"

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
    at = AppTest.from_file(str(APP), default_timeout=300)
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


def test_a_shared_link_restores_the_filters():
    """A URL with ?tz=...&range=...&f_platform=... opens the same view (bind="query-params")."""
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.query_params["tz"] = "Asia/Tokyo"
    at.query_params["range"] = ["2026-09-01", "2026-09-30"]
    at.query_params["f_platform"] = "web"
    at.run()
    assert not at.exception
    assert at.sidebar.selectbox(key="tz").value == "Asia/Tokyo"
    assert [str(day) for day in at.sidebar.date_input(key="range").value] == [
        "2026-09-01",
        "2026-09-30",
    ]
    assert at.sidebar.multiselect(key="f_platform").value == ["web"]
