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


def _sources(tmp_path, monkeypatch, text: str) -> None:
    path = tmp_path / "sources.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("NORTHSTAR_SOURCES", str(path))


def _sidebar_text(at: AppTest) -> str:
    return " ".join(c.value for c in at.sidebar.caption).replace("\\", "")


def _open(page: str) -> AppTest:
    """A fresh session opening a page by its link, so the run goes through app.py's chrome."""
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.switch_page(page)
    at.run()
    assert not at.exception, (page, at.exception)
    return at


@pytest.mark.parametrize("page", PAGES)
def test_every_page_says_which_source_it_computes_on(page):
    assert "Data: **demo" in _sidebar_text(_open(page))


@pytest.mark.parametrize("page", PAGES)
def test_a_broken_sources_toml_is_said_on_every_page(tmp_path, monkeypatch, page):
    """A wrong key (timezone for tz) makes the file unusable: every page says the demo is shown
    instead, and why, not only the Data page."""
    (tmp_path / "orders.csv").write_text("user_id,event,timestamp\na,buy,2026-01-01 10:00\n")
    _sources(
        tmp_path,
        monkeypatch,
        'default = "shop_tz"\n[sources.shop_tz]\npath = "orders.csv"\ntimezone = "Europe/London"\n',
    )
    at = _open(page)
    warnings = " ".join(w.value for w in at.warning).replace("\\", "")
    assert "built-in demo" in warnings and "timezone" in warnings
    assert "Data: **demo" in _sidebar_text(at)


@pytest.mark.parametrize("page", PAGES)
def test_a_default_source_that_cannot_be_loaded_is_said_on_every_page(tmp_path, monkeypatch, page):
    _sources(
        tmp_path, monkeypatch, 'default = "shop_gone"\n[sources.shop_gone]\npath = "gone.csv"\n'
    )
    at = _open(page)
    errors = " ".join(e.value for e in at.error).replace("\\", "")
    assert "gone.csv" in errors and "shop_gone" in errors
    assert "Data: **shop_gone" in _sidebar_text(at)


@pytest.mark.parametrize("page", ["pages/overview.py"])
def test_pages_that_ignore_the_property_filters_say_so(page):
    """The Overview does not apply the sidebar's property filters: it says so (the Experiments
    page applies them to the events each metric counts, tests/app/test_experiments_page.py)."""
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.query_params["f_country"] = "DE"
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    said = " ".join(i.value for i in at.info).replace("\\", "")
    assert "country = DE" in said and "do **not** apply" in said
