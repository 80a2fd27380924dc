"""Opening a shared link: seconds from a fresh tab's ``goto`` to the page fully drawn, per page.

    python -m benchmarks.shared_link [--repeat 3] [--width 1400] [--same-browser]

Issue 14 item 8: a shared link on a view the server has already computed must be drawn within 3 s
on the demo. The app is started once and every page is opened once to warm its caches (the
"already computed view"); then each page is opened in a fresh tab (a new browser context: a new
Streamlit session, as a colleague clicking the link) and timed from ``goto`` until the script run
is over, no spinner or skeleton is left and every Plotly chart on the page has drawn its SVG.
Charts inside collapsed expanders or unopened tabs that the page has not drawn are not waited for:
a reader has not asked for them yet. Printed as a Markdown table (median of the repeats), with the
time the script run ended (the server's part), the charts drawn and the number of points they carry.

By default every tab is in a browser with an empty cache, the worst case: Streamlit's Plotly chunk
(4.7 MB) is fetched and compiled each time, a fixed cost of any page with one chart.
``--same-browser`` opens each tab in a browser that has opened Northstar before, as a colleague's
usually has.
"""

from __future__ import annotations

import argparse
import statistics
import time

from benchmarks.browser import (
    CHARTS_JS,
    DRAWN_JS,
    RUN_OVER_JS,
    free_port,
    launch,
    start_server,
    stop_server,
)

PAGES = ["", "engagement", "retention", "funnels", "experiments", "data"]


def open_page(
    browser, url: str, width: int, timeout_s: float = 300, context=None
) -> tuple[float, float, int, int, int]:
    """(seconds to drawn, seconds to the script run's end, charts drawn, points, error boxes)
    for ``url`` in a new tab of ``context``, or of a fresh context (an empty browser cache)."""
    own = context is None
    if own:
        context = browser.new_context(viewport={"width": width, "height": 1000})
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": 1000})
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_timeout(300)  # let the first script run begin
    page.wait_for_function(RUN_OVER_JS, timeout=timeout_s * 1000, polling=50)
    served = time.perf_counter() - started
    page.wait_for_function(DRAWN_JS, timeout=timeout_s * 1000, polling=50)
    took = time.perf_counter() - started
    charts, points, errors = page.evaluate(CHARTS_JS)
    page.close()
    if own:
        context.close()
    return took, served, charts, points, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="fresh tabs per page")
    parser.add_argument("--width", type=int, default=1400, help="window width in px")
    parser.add_argument(
        "--same-browser",
        action="store_true",
        help="each tab a new tab of one browser that has opened the app before (its cache holds "
        "Streamlit's and Plotly's code), not a browser with an empty cache",
    )
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    port = free_port()
    server = start_server(port)
    base = f"http://127.0.0.1:{port}/"
    try:
        with sync_playwright() as pw:
            browser = launch(pw)
            shared = browser.new_context() if args.same_browser else None
            for name in PAGES:  # warm the caches: the view is already computed
                open_page(browser, base + name, args.width, context=shared)
            print(
                "| page | fresh tab to drawn (median) | runs | script run over (median) "
                "| charts drawn | points | errors |"
            )
            print("|---|---|---|---|---|---|---|")
            for name in PAGES:
                runs = [
                    open_page(browser, base + name, args.width, context=shared)
                    for _ in range(args.repeat)
                ]
                times = [run[0] for run in runs]
                served = statistics.median(run[1] for run in runs)
                text = ", ".join(f"{t:.1f}" for t in times)
                _, _, charts, points, errors = runs[-1]
                print(
                    f"| {name or 'overview'} | {statistics.median(times):.1f} s | {text} | "
                    f"{served:.1f} s | {charts} | {points:,} | {errors} |",
                    flush=True,
                )
            browser.close()
    finally:
        stop_server(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
