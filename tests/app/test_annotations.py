"""Annotations in the app (issue 15 item 2): the chart helper, adding a note on the Overview where
editing is allowed and not where it is not, and the markers drawn in a real browser."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from metrics import annotations as notes
from metrics.annotations import Annotation
from ui import editing
from ui.charts.annotations import annotate, date_span
from ui.editing import Settings
from ui.text import safe_figure

ROOT = Path(__file__).resolve().parents[2]
D = dt.date.fromisoformat
HOSTILE = "<b>Checkout</b> v2"


def daily_figure(height: int | None = None) -> go.Figure:
    days = [D("2026-09-01") + dt.timedelta(days=i) for i in range(30)]
    return go.Figure(go.Scatter(x=days, y=list(range(30))), layout={"height": height})


# -- the chart helper ---------------------------------------------------------------------------


def test_each_note_inside_the_chart_is_a_labelled_line():
    found = [
        Annotation(D("2026-09-10"), "release", HOSTILE),
        Annotation(D("2026-09-10"), "incident", "Payments down"),  # same day: one line
        Annotation(D("2026-09-20"), "experiment_start", "a_very_long_experiment_name started"),
        Annotation(D("2026-12-01"), "campaign", "outside the chart"),
    ]
    fig = annotate(daily_figure(), found)
    assert [shape.x0 for shape in fig.layout.shapes] == ["2026-09-10", "2026-09-20"]
    assert all(shape.yref == "paper" for shape in fig.layout.shapes)
    labels = [a.text for a in fig.layout.annotations]
    assert labels == [
        "Release: <b>Checkout</b> v2",
        "Incident: Payments down",
        "Experiment start: a_very_long_e…",  # cut to 32; the hover has the whole note
    ]
    assert fig.layout.annotations[2].hovertext.endswith("a_very_long_experiment_name started")
    # Escaped once, at the door, like every text a figure shows.
    safe = safe_figure(fig)
    assert safe.layout.annotations[0].text == "Release: &lt;b&gt;Checkout&lt;/b&gt; v2"
    assert len(fig.data) == 1  # no trace added: the chart's own axes and legend are untouched


def test_only_time_charts_are_annotated():
    found = [Annotation(D("2026-09-10"), "release", "v2")]
    bars = go.Figure(go.Bar(x=["web", "mobile"], y=[1, 2]))
    assert annotate(bars, found) is bars
    assert date_span(bars) is None
    assert date_span(daily_figure()) == (D("2026-09-01"), D("2026-09-30"))
    iso = go.Figure(go.Scatter(x=["2026-09-01", "2026-09-30"], y=[1, 2]))
    assert len(annotate(iso, found).layout.shapes) == 1
    assert annotate(daily_figure(), []).layout.shapes == ()


def test_a_sparkline_gets_the_line_without_a_label():
    fig = annotate(daily_figure(height=90), [Annotation(D("2026-09-10"), "release", "v2")])
    assert len(fig.layout.shapes) == 1 and fig.layout.annotations == ()


# -- on the Overview ------------------------------------------------------------------------------


@pytest.fixture
def vision_copy(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "vision.toml"
    shutil.copy(ROOT / "vision.toml", path)
    monkeypatch.setenv("NORTHSTAR_VISION", str(path))
    return path


def overview() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    return at


def test_an_editor_adds_a_note_and_it_is_listed(vision_copy, monkeypatch):
    monkeypatch.setattr(editing, "settings", lambda: Settings(enabled=True))
    at = overview()
    assert "Add a note" in [tab.label for tab in at.tabs]
    at.date_input(key="ov_note_date").set_value(D("2026-10-01"))
    at.selectbox(key="ov_note_kind").set_value("release")
    at.text_input(key="ov_note_text").set_value(HOSTILE)
    at.button(key="ov_note_add").click()
    at.run()
    assert not at.exception, at.exception
    path = notes.annotations_path(vision_copy)
    assert notes.load_annotations(path) == (Annotation(D("2026-10-01"), "release", HOSTILE),)
    assert any("Added to vision.annotations.toml" in b.value.replace("\\", "") for b in at.success)
    # Listed with the automatic ones (the demo's experiment started on 1 September).
    listed = next(e for e in at.expander if e.label.startswith("Notes on the timeline"))
    table = " ".join(frame.value.to_string() for frame in at.dataframe)
    assert HOSTILE in table and "checkout_redesign started" in table
    assert "(2)" in listed.label or "(3)" in listed.label
    # An empty note is refused with its problem, and nothing is written.
    at.text_input(key="ov_note_text").set_value("   ")
    at.button(key="ov_note_add").click()
    at.run()
    assert any("text: must be a non-empty string" in e.value.replace("\\", "") for e in at.error)
    assert len(notes.load_annotations(path)) == 1


def test_without_the_editing_role_no_note_is_added(vision_copy, monkeypatch):
    monkeypatch.setattr(editing, "settings", lambda: Settings(enabled=False))
    at = overview()
    assert "Add a note" not in [tab.label for tab in at.tabs]
    assert not any(b.key == "ov_note_add" for b in at.button)
    assert any("Adding notes" in c.value for c in at.caption)
    assert not notes.annotations_path(vision_copy).exists()


# -- in a real browser ---------------------------------------------------------------------------


@pytest.mark.browser
def test_the_north_stars_chart_draws_a_labelled_marker(tmp_path):
    playwright_api = pytest.importorskip("playwright.sync_api")
    from tests.app.test_browser import CHROMIUM, CHROMIUM_ARGS, free_port, wait_until_idle

    vision = tmp_path / "vision.toml"
    shutil.copy(ROOT / "vision.toml", vision)
    notes.annotations_path(vision).write_text(
        f'[[annotations]]\ndate = 2026-10-01\nkind = "release"\ntext = "{HOSTILE}"\n'
    )
    port = free_port()
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true",
         "--server.address=127.0.0.1", f"--server.port={port}",
         "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "NORTHSTAR_VISION": str(vision)},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "no streamlit"
            time.sleep(0.3)
        with playwright_api.sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(tmp_path / "chromium"),
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1440, "height": 1000},
            )
            page = context.new_page()
            page.goto(url)
            wait_until_idle(page, timeout_s=240)
            chart = page.locator('[data-testid="stPlotlyChart"]').first
            chart.wait_for(timeout=60_000)
            label = chart.locator("g.annotation text", has_text="Release: <b>Checkout</b> v2")
            label.first.wait_for(timeout=30_000)
            assert label.first.is_visible()
            assert chart.locator("g.annotation b").count() == 0  # text, not markup
            # The dashed line itself, drawn in the release colour.
            lines = chart.locator('path[style*="stroke: rgb(26, 127, 55)"]')
            assert lines.count() >= 1
            assert page.locator('[data-testid="stException"]').count() == 0
            shots = ROOT / "screenshots"
            shots.mkdir(exist_ok=True)
            chart.screenshot(path=str(shots / "annotations-north-star.png"))
            context.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
