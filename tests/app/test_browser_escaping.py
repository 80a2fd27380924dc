"""Hostile text from the data, in the real browser: shown as text, and nothing leaves the app.

The app serves the product of tests/app/hostile.py (Markdown images, HTML links and script tags in
an event name, property values, the experiment and a variant, KPI names, descriptions and owners,
the source's name). Every page is opened in Debian's Chromium with links that pick the hostile
values; every request the browser makes is recorded, and none may go anywhere but 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from tests.app import hostile
from tests.app.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    free_port,
    playwright_api,
    wait_until_idle,
)

pytestmark = pytest.mark.browser

#: (path and query, a hostile value the page must show as text)
VISITS = [
    ("/", hostile.KPI_NAME),
    (
        "/engagement?"
        + urllib.parse.urlencode(
            {"eng_event": hostile.EVENT, "eng_breakdown": "country", "f_platform": hostile.PLATFORM}
        ),
        hostile.PLATFORM,
    ),
    ("/funnels?" + urllib.parse.urlencode({"fun_breakdown": "platform"}), None),
    ("/experiments?" + urllib.parse.urlencode({"exp_segment": "platform"}), "window.__pwned"),
    ("/data", None),
]


#: Every link or source on the page whose address leads to evil.example (links inside the app that
#: carry a hostile value in their query, such as "Explain this number", are fine).
LIVE_ADDRESSES = """() => Array.from(document.querySelectorAll('[href], [src]'))
    .map(e => e.getAttribute('href') || e.getAttribute('src'))
    .filter(u => { try { return new URL(u, location.href).hostname.endsWith('evil.example') }
                   catch (error) { return false } })"""


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    sources = hostile.write_product(folder)
    port = free_port()
    log = open(folder / "server.log", "w")  # noqa: SIM115
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NORTHSTAR_SOURCES": str(sources)}
    env.pop("NORTHSTAR_VISION", None)
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
        env=env,
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


def test_hostile_values_are_shown_as_text_and_nothing_leaves_the_app(hostile_app, tmp_path):
    requests: list[str] = []
    with playwright_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 1000},
        )
        page = context.new_page()
        page.on("request", lambda request: requests.append(request.url))
        problems: list[str] = []
        try:
            for path, shown in VISITS:
                page.goto(hostile_app + path)
                wait_until_idle(page, timeout_s=180)
                page.locator("h1").first.wait_for(timeout=30_000)
                page.wait_for_timeout(1500)  # Plotly draws after the run
                if page.locator('[data-testid="stException"]').count():
                    problems.append(f"{path}: an exception box")
                live = page.evaluate(LIVE_ADDRESSES)
                if live:
                    problems.append(f"{path}: links or sources to evil.example: {live[:5]}")
                if page.evaluate("() => window.__pwned") is not None:
                    problems.append(f"{path}: a script from the data ran")
                if shown is not None and page.get_by_text(shown, exact=False).count() == 0:
                    problems.append(f"{path}: {shown!r} is not shown as text")
        finally:
            context.close()
    outside = [
        url
        for url in requests
        if urllib.parse.urlsplit(url).scheme not in ("data", "blob")
        and urllib.parse.urlsplit(url).hostname != "127.0.0.1"
    ]
    assert problems == []
    assert sorted(set(outside)) == []
    assert any("127.0.0.1" in url for url in requests)
