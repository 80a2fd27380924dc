"""Explain this number means the same number: each KPI's link opens its page at the KPI's own
definition and period, and the page's first headline equals the scorecard's value.

Checked for every KPI of the demo vision (every kind it uses: active users with and without an
event, DAU/MAU, lifecycle, funnel conversion, retention, revenue, ARPU, experiment lift).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from connectors.demo import load_demo
from metrics.targets import load_vision, scorecard
from ui import explain
from ui.charts.targets import format_value

ROOT = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 11, 1)  # the Overview's "as of" with the sidebar's default range
VISION = load_vision(ROOT / "vision.toml")


@pytest.fixture(scope="module")
def card():
    events, assignments, _ = load_demo()
    return scorecard(VISION, events, today=TODAY, tz="UTC", assignments=assignments).table


@pytest.fixture
def vision_copy(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "vision.toml"
    shutil.copy(ROOT / "vision.toml", path)
    monkeypatch.setenv("NORTHSTAR_VISION", str(path))
    monkeypatch.delenv("NORTHSTAR_SOURCES", raising=False)
    return path


def test_the_demo_vision_covers_the_kinds_checked_here():
    assert {k.metric for k in VISION.kpis} >= {
        "active_users",
        "dau_mau",
        "lifecycle",
        "funnel_conversion",
        "retention",
        "revenue",
        "arpu",
        "experiment",
    }


@pytest.mark.parametrize("kpi_id", [k.id for k in VISION.kpis])
def test_the_link_opens_the_page_on_the_scorecards_number(kpi_id, card, vision_copy):
    kpi = VISION.kpi(kpi_id)
    row = card.filter(card["kpi"] == kpi_id).row(0, named=True)
    assert row["value"] is not None
    page, params = explain.link(
        kpi, row, tz="UTC", first_day=dt.date(2026, 5, 1), last_day=TODAY - dt.timedelta(days=1)
    )
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    for name, value in params.items():
        at.query_params[name] = value
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    shown = [m for m in at.metric if m.label == kpi.name]
    assert shown, f"{page} shows no headline for {kpi.name}"
    assert shown[0].value == format_value(row["value"], row["unit"], VISION.currency)
    # ...and the chart the number is read from is drawn (a KPI in a lazy tab opens that tab).
    drawn = " ".join(chart.proto.id for chart in at.get("plotly_chart"))
    assert CHART_OF[kpi.metric] in drawn, drawn


#: The chart each kind of KPI is read from on its page.
CHART_OF = {
    "active_users": "eng_chart_",
    "dau_mau": "eng_chart_dau_mau",
    "lifecycle": "eng_chart_lifecycle",
    "revenue": "eng_chart_revenue",
    "arpu": "eng_chart_revenue",
    "paying_users": "eng_chart_revenue",
    "event_count": "eng_chart_",
    "retention": "ret_chart_triangle",
    "funnel_conversion": "fun_chart_",
    "experiment": "exp_",
}
