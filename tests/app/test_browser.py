"""The real thing: the app served by Streamlit, every page opened in Debian's Chromium.

Fails on any exception box; saves full-page screenshots of each page at 1400 and 800 px wide to
``screenshots/`` (git-ignored, ``<page>-<width>.png``) so a person can read the pages as a PM would.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "screenshots"
CHROMIUM = "/usr/bin/chromium"
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
#: (navigation label, screenshot name, text that proves the page rendered)
PAGES = [
    ("Overview", "overview", None),
    ("Engagement", "engagement", None),
    ("Retention", "retention", None),
    ("Funnels", "funnels", None),
    ("Experiments", "experiments", None),
    ("Data", "data", None),
]

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    port = free_port()
    log = open(tmp_path_factory.mktemp("streamlit") / "server.log", "w")  # noqa: SIM115
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
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"streamlit did not start; see {log.name}")
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory):
    with playwright_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium")),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 1000},
        )
        page = context.new_page()
        yield page
        context.close()


def wait_until_idle(page, timeout_s: float = 120) -> None:
    """Wait until the script run is over: Streamlit marks the app root while a script runs."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_s * 1000)
    deadline = time.monotonic() + timeout_s
    quiet_since = None
    while time.monotonic() < deadline:
        state = page.get_attribute('[data-testid="stApp"]', "data-test-script-state")
        running = state == "running" or page.locator('[data-testid="stStatusWidget"]').count() > 0
        if running:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 1.5:
            return
        time.sleep(0.25)
    raise TimeoutError("the page kept running")


#: Window widths every page is photographed at: a desktop and a narrow laptop window / tablet.
WIDTHS = (1400, 800)


def screenshot_whole_page(page, path: Path, width: int = 1440) -> None:
    """Streamlit scrolls inside its main block, so grow the window to the content, then shoot."""
    page.set_viewport_size({"width": width, "height": 1000})
    page.wait_for_timeout(600)  # the layout settles at the new width
    height = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
        " return m ? m.scrollHeight : document.body.scrollHeight; }"
    )
    page.set_viewport_size({"width": width, "height": max(1000, min(int(height) + 40, 16000))})
    page.wait_for_timeout(1200)  # charts redraw at the new size
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": 1440, "height": 1000})


def test_a_shared_link_opens_its_page_inside_the_app(app_url, browser_page):
    """A link straight to a page, as the first request of a fresh server, still gets the shell.

    Runs first in this module, on the fresh server (see ui/shell.py for why it matters).
    """
    page = browser_page
    page.goto(f"{app_url}/funnels?tz=Asia%2FTokyo")
    wait_until_idle(page, timeout_s=180)  # the first run may generate the demo data
    page.locator("h1").first.wait_for(timeout=30_000)
    assert "Funnels" in page.locator("h1").first.inner_text()
    nav = page.get_by_test_id("stSidebarNavLink").all_inner_texts()
    assert [label.split()[-1] for label in nav] == [label for label, _, _ in PAGES]
    assert page.get_by_text("Reporting time zone").count() == 1
    assert page.locator('[data-testid="stException"]').count() == 0


def test_every_page_renders_without_exceptions(app_url, browser_page):
    page = browser_page
    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    SHOTS.mkdir()
    page.goto(app_url)
    wait_until_idle(page, timeout_s=180)  # the first run may generate the demo data
    problems: list[str] = []
    for label, name, proof in PAGES:
        link = page.get_by_test_id("stSidebarNavLink").filter(has_text=label)
        link.first.click()
        page.wait_for_timeout(300)
        wait_until_idle(page)
        heading = page.locator("h1").first
        try:
            heading.wait_for(timeout=20_000)
        except playwright_api.TimeoutError:
            problems.append(f"{label}: no page heading")
        page.wait_for_timeout(800)  # let Plotly finish drawing before the screenshot
        for width in WIDTHS:
            screenshot_whole_page(page, SHOTS / f"{name}-{width}.png", width)
        errors = page.locator('[data-testid="stException"]')
        if errors.count():
            problems.append(f"{label}: {errors.first.inner_text()[:500]}")
        if proof is not None and page.get_by_text(proof).count() == 0:
            problems.append(f"{label}: expected text {proof!r} not found")
    assert problems == []
