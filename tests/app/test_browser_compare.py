"""Compare with the previous period in Chromium (issue 15 items 1 and 5): the sidebar's choice goes
into the URL, and Engagement's DAU/WAU/MAU chart draws a second, grey dashed line per window with
the legend entry "Previous period".

Saves ``screenshots/compare-engagement.png`` (git-ignored) so a person can see the overlay.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.app.test_browser import (  # noqa: F401 - the server and browser fixtures
    SHOTS,
    app_url,
    browser_page,
    playwright_api,
    wait_until_idle,
)
from ui.charts.compare import COLOR

pytestmark = pytest.mark.browser

#: The traces of the first chart on the page: (name, line colour, dash, point count).
TRACES = """() => {
  const plot = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
  return plot.data.map(t => [t.name || null, (t.line || {}).color || null,
                             (t.line || {}).dash || null, (t.y || []).length]);
}"""


def first_chart(page) -> list[list]:
    page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first.wait_for(timeout=60_000)
    page.wait_for_timeout(800)  # Plotly finishes drawing
    return page.evaluate(TRACES)


def test_the_choice_is_in_the_url_and_the_previous_period_is_drawn(app_url, browser_page):  # noqa: F811
    page = browser_page
    page.goto(f"{app_url}/engagement")
    wait_until_idle(page, timeout_s=180)  # the first run may generate the demo data
    assert [t[0] for t in first_chart(page)].count("Previous period") == 0

    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_role("radio", name="Previous period").click()
    page.wait_for_timeout(300)
    wait_until_idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert parse_qs(urlparse(page.url).query).get("compare") == ["Previous period"]

    traces = first_chart(page)
    earlier = [t for t in traces if t[0] == "Previous period"]
    assert len(earlier) == 3, traces  # DAU, WAU and MAU of the previous 90 days
    assert all(t[1] == COLOR and t[2] == "dash" and t[3] > 80 for t in earlier), earlier
    legend = page.locator('[data-testid="stPlotlyChart"]').first.locator(".legendtext")
    assert "Previous period" in legend.all_text_contents()  # SVG text
    SHOTS.mkdir(exist_ok=True)
    page.locator('[data-testid="stPlotlyChart"]').first.screenshot(
        path=str(SHOTS / "compare-engagement.png")
    )


def test_a_link_with_the_choice_opens_with_the_overlay(app_url, browser_page):  # noqa: F811
    page = browser_page
    page.goto(f"{app_url}/engagement?compare=previous")
    wait_until_idle(page)
    names = [t[0] for t in first_chart(page)]
    assert names.count("Previous period") == 3, names
    assert page.locator('[data-testid="stException"]').count() == 0
    assert playwright_api is not None
