"""The demo's leadership review as a reader gets it: written by ``python -m review``, opened in
Debian's Chromium at a desktop and a narrow width, and printed.

The file must stay small enough to attach (under 1.5 MB: one copy of plotly.js's basic bundle, the
figures as divs sharing it) and every axis label of its charts must read in full: a left margin
that clips "2.5k" to "5k" turns the North Star's scale into nonsense.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
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

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)

#: Every y tick label of one chart: its text and its box against the chart's own box.
TICKS_JS = """(id) => {
  const chart = document.getElementById(id);
  const box = chart.getBoundingClientRect();
  return [...chart.querySelectorAll('.yaxislayer-above .ytick text, .ytick text')].map(t => {
    const r = t.getBoundingClientRect();
    return {text: t.textContent, left: r.left - box.left, right: box.right - r.right,
            top: r.top - box.top, y: (r.top + r.bottom) / 2};
  });
}"""


def number(label: str) -> float:
    """A tick label in Plotly's ",~s" format as a number: "2.5k" -> 2500, "500" -> 500."""
    match = re.fullmatch(r"(-?[\d,]*\.?\d+)([kMG]?)", label.replace("\u2212", "-"))
    assert match, f"tick label {label!r} is not a number"
    scale = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}[match.group(2)]
    return float(match.group(1).replace(",", "")) * scale


@pytest.fixture(scope="module")
def review_file(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("review") / "review.html"
    subprocess.run(
        [sys.executable, "-m", "review", "--start", "2026-08-01", "--end", "2026-10-31",
         "--out", str(out)],
        cwd=ROOT, check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with playwright_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium")),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        context.set_offline(True)  # an attachment opened on a plane
        yield context
        context.close()


def open_review(browser, path: Path, width: int):
    page = browser.new_page()
    page.set_viewport_size({"width": width, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    started = time.perf_counter()
    page.goto(path.as_uri())
    page.wait_for_function(
        "document.querySelectorAll('.plotly-graph-div').length > 0 &&"
        " [...document.querySelectorAll('.plotly-graph-div')]"
        ".every(d => d.querySelector('.main-svg .ytick'))",
        timeout=60_000,
    )
    drawn = time.perf_counter() - started
    assert errors == []
    return page, drawn


def test_the_demo_review_is_one_small_file(review_file):
    text = review_file.read_text(encoding="utf-8")
    size = review_file.stat().st_size
    assert size < 1.5e6, f"{size / 1e6:.2f} MB"
    assert len(re.findall(r"plotly\.js (\([^)]*\) )?v\d", text)) == 1  # the library once
    assert text.count('class="plotly-graph-div"') == 10  # North Star + 9 KPIs, one library


@pytest.mark.parametrize("width", [1200, 800])
def test_every_y_axis_label_reads_in_full(review_file, browser, width):
    page, drawn = open_review(browser, review_file, width)
    print(f"review drawn in {drawn:.2f} s at {width} px")
    charts = page.eval_on_selector_all(".plotly-graph-div", "els => els.map(e => e.id)")
    assert "chart-north-star" in charts
    for chart in charts:
        ticks = page.evaluate(TICKS_JS, chart)
        assert len(ticks) >= 3, chart
        for tick in ticks:
            # Inside the chart's box on every side: nothing cut by the margin.
            assert tick["left"] >= 0 and tick["right"] >= 0 and tick["top"] >= 0, (chart, tick)
        # Read bottom to top, the labels are evenly spaced numbers from zero up: a clipped
        # "2.5k" ("5k") or two ticks both reading "18%" break the progression.
        ticks.sort(key=lambda tick: -tick["y"])
        if chart == "chart-north-star":
            values = [number(tick["text"]) for tick in ticks]
            steps = {round(b - a, 6) for a, b in zip(values, values[1:], strict=False)}
            assert values[0] == 0 and len(steps) == 1 and steps.pop() > 0, values
        texts = [tick["text"] for tick in ticks]
        assert len(set(texts)) == len(texts), (chart, texts)
    page.close()


def test_printed_charts_stay_on_the_paper(review_file, browser):
    page, _ = open_review(browser, review_file, 1200)
    page.emulate_media(media="print")
    page.set_viewport_size({"width": 718, "height": 1000})  # A4 less 12 mm margins, at 96 dpi
    page.wait_for_timeout(300)
    overflow = page.evaluate(
        """() => [...document.querySelectorAll('.plotly-graph-div')]
             .filter(d => d.getBoundingClientRect().right > window.innerWidth + 1)
             .map(d => d.id)"""
    )
    assert overflow == []
    page.close()
