"""The Overview page: vision and North Star first, the scorecard, problems shown, targets edited.

Each test points the app at its own copy of the vision file (``NORTHSTAR_VISION``), so nothing
here writes to the repository's vision.toml.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from streamlit.proto.Metric_pb2 import Metric
from streamlit.testing.v1 import AppTest

from metrics.targets import load_vision

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def editing_on(monkeypatch):
    """These tests edit targets: editing is on, with no login (tests/app/test_editing.py covers
    the roles)."""
    from ui import editing

    monkeypatch.setattr(editing, "settings", lambda: editing.Settings(enabled=True))


@pytest.fixture
def vision_copy(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "vision.toml"
    shutil.copy(ROOT / "vision.toml", path)
    monkeypatch.setenv("NORTHSTAR_VISION", str(path))
    return path


def run_app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    return "\n".join(parts).replace("\\", "")


def test_vision_and_north_star_come_first(vision_copy):
    vision = load_vision(vision_copy)
    at = run_app()
    assert at.title[0].value == f"Overview · {vision.product}"
    assert at.markdown[0].value.replace("\\", "") == f"## {vision.statement}"
    assert "NORTH STAR" in at.caption[1].value
    star = vision.north_star_kpi
    # The first metric on the page is the North Star's.
    assert at.metric[0].label == "Latest complete week"
    assert at.metric[0].value not in ("", "0", "No data")
    assert f"### {star.name}" in [m.value for m in at.markdown]


def test_scorecard_has_a_row_per_kpi_with_value_status_and_chart(vision_copy):
    vision = load_vision(vision_copy)
    at = run_app()
    body = texts(at)
    for kpi in vision.kpis:
        assert f"**{kpi.name}**" in body, kpi.name
        assert f"Owner: {kpi.owner}" in body, kpi.owner
    # North Star card + one metric per KPI, each with a number, never a silent zero.
    assert len(at.metric) == len(vision.kpis) + 1
    assert all(m.value != "No data" for m in at.metric)
    # North Star trend (a chart) + one sparkline per KPI (a drawing: light to open from a link).
    assert len(at.get("plotly_chart")) >= 1
    assert len(at.get("image")) == len(vision.kpis)
    # A rise is green for an up-is-good KPI and red for a down-is-good one (users lost: +191).
    colours = {
        kpi.id: Metric.MetricColor.Name(at.metric[i + 1].proto.color)
        for i, kpi in enumerate(vision.kpis)
    }
    assert at.metric[1 + 1].delta.startswith("+")  # weekly active users rose
    assert colours["weekly_active_users"] == "GREEN"
    lost = next(k for k in vision.kpis if k.direction == "down")
    assert at.metric[[k.id for k in vision.kpis].index(lost.id) + 1].delta.startswith("+")
    assert colours[lost.id] == "RED"
    badges = [b.proto.body for b in at.get("badge")] if at.get("badge") else []
    summary = next(m.value for m in at.markdown if m.value.startswith("**") and "KPIs**" in m.value)
    for status in ("Met", "On track", "At risk", "Off track"):
        assert status in summary or status in badges, status
    assert "What is driving the gap" in [e.label for e in at.expander]


def test_a_broken_vision_file_shows_every_problem(vision_copy):
    text = vision_copy.read_text()
    text = re.sub(r"^target = [0-9.]+$", 'target = "a lot"', text, count=1, flags=re.M)
    text = text.replace('direction = "down"', 'direction = "lower"', 1)
    text = text.replace('north_star = "weekly_buyers"', 'north_star = "weekly_buyer"')
    vision_copy.write_text(text)
    at = run_app()
    assert at.title[0].value == "Overview"
    shown = at.error[0].value.replace("\\", "")
    assert "has 3 problems" in shown
    assert "KPI 'weekly_buyers' (#1), field 'target': must be a number, got 'a lot'" in shown
    assert "KPI 'weekly_churned' (#4), field 'direction'" in shown
    assert "field 'north_star': 'weekly_buyer' is not the id of a KPI" in shown
    assert not at.metric  # no scorecard built on a broken file


def test_editing_a_target_rewrites_only_that_line(vision_copy):
    before = vision_copy.read_text()
    old_target = load_vision(vision_copy).kpi("weekly_buyers").target
    at = run_app()
    at.selectbox(key="ov_edit_kpi").set_value("weekly_buyers").run()
    at.number_input(key="ov_edit_target_weekly_buyers").set_value(950.0)
    at.button(key="ov_edit_save").click()
    at.run()
    assert not at.exception, at.exception
    after = vision_copy.read_text()
    changed = [
        (a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b
    ]
    # Comments, order, everything else kept.
    assert changed == [(f"target = {old_target:g}", "target = 950")]
    assert load_vision(vision_copy).kpi("weekly_buyers").target == 950
    assert any("Saved to" in s.value for s in at.success)


def test_adding_a_kpi_is_validated_then_appended(vision_copy):
    before = vision_copy.read_text()
    at = run_app()
    at.selectbox(key="ov_new_metric").set_value("event_count").run()
    at.text_input(key="ov_new_id").set_value("Weekly Searches")  # not a valid id
    at.text_input(key="ov_new_name").set_value("Weekly searches")
    at.button(key="ov_new_add").click()
    at.run()
    shown = at.error[0].value.replace("\\", "")
    assert "field 'id'" in shown and "field 'event': missing" in shown
    assert "field 'target': missing" in shown and "field 'owner': missing" in shown
    assert vision_copy.read_text() == before  # nothing written

    at.text_input(key="ov_new_id").set_value("weekly_searches")
    at.text_input(key="ov_new_description").set_value("Searches per calendar week.")
    at.text_input(key="ov_new_owner").set_value("Lena")
    at.selectbox(key="ov_new_event_count_event").set_value("search")
    at.number_input(key="ov_new_target").set_value(30000.0)
    at.button(key="ov_new_add").click()
    at.run()
    assert not at.exception, at.exception
    after = vision_copy.read_text()
    assert after.startswith(before)  # appended; the rest of the file untouched
    added = load_vision(vision_copy).kpi("weekly_searches")
    assert (added.metric, added.params.event, added.target) == ("event_count", "search", 30000)


def test_a_file_changed_on_disk_is_not_overwritten(vision_copy):
    at = run_app()
    edited_elsewhere = vision_copy.read_text() + "\n# edited by someone else\n"
    vision_copy.write_text(edited_elsewhere)
    at.number_input(key="ov_edit_target_weekly_buyers").set_value(950.0)
    at.button(key="ov_edit_save").click()
    at.run()
    assert vision_copy.read_text() == edited_elsewhere
    assert any("changed on disk" in w.value for w in at.warning)
    assert any("Download the edited" in d.proto.label for d in at.get("download_button"))


# --- in a real browser ------------------------------------------------------------------------


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def served_app(vision_copy, tmp_path):
    """The app served by Streamlit on a free port, reading the test's copy of the vision file."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless=true",
            "--server.address=127.0.0.1",
            f"--server.port={port}",
            "--browser.gatherUsageStats=false",
            "--server.fileWatcherType=none",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "NORTHSTAR_VISION": str(vision_copy)},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail(f"Streamlit did not start: {(tmp_path / 'server.log').read_text()}")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.mark.browser
def test_overview_in_a_browser_and_the_review_it_downloads(served_app, vision_copy, tmp_path):
    from playwright.sync_api import sync_playwright

    vision = load_vision(vision_copy)
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path="/usr/bin/chromium",
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 6400},
            accept_downloads=True,
        )
        page = context.new_page()
        page.goto(served_app)
        page.get_by_role("heading", name=f"Overview · {vision.product}").wait_for(timeout=180_000)
        review_button = page.get_by_role("button", name="Download the leadership review (HTML)")
        review_button.wait_for(timeout=180_000)
        page.wait_for_function(
            "document.querySelectorAll('[data-testid=\"stPlotlyChart\"]').length"
            " + document.querySelectorAll('[data-testid=\"stImage\"] img').length >= "
            f"{len(vision.kpis) + 1}",
            timeout=180_000,
        )
        assert page.locator('[data-testid="stException"]').count() == 0
        body = page.locator("section.main, [data-testid='stMain']").first.inner_text()
        assert vision.statement in body
        for kpi in vision.kpis:
            assert kpi.name in body, kpi.name
        for status in ("Met", "On track", "At risk", "Off track"):
            assert status in body, status
        assert "What is driving the gap" in body
        shots = ROOT / "screenshots"
        shots.mkdir(exist_ok=True)
        page.screenshot(path=str(shots / "overview_scorecard.png"))

        with page.expect_download(timeout=180_000) as download:
            review_button.click()
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        assert saved.name == f"{vision.product.lower()}-review-2026-11-01.html"
        html = saved.read_text(encoding="utf-8")
        assert all(kpi.name in html for kpi in vision.kpis)
        assert html.count('class="plotly-graph-div"') == len(vision.kpis)
        context.close()
