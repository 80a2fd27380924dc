"""The leadership review export (review/): one self-contained HTML file, opened in a browser."""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from pathlib import Path

import polars as pl
import pytest

import review
from metrics import targets
from review.__main__ import main
from ui.charts import targets as charts

D = dt.date.fromisoformat
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

VISION = """
# The story shop: ten weeks of data, three KPIs.
[product]
name = "Story Shop"
vision = "Groceries in two taps."
north_star = "weekly_buyers"

[[kpis]]
id = "weekly_buyers"
name = "Weekly buyers"
metric = "active_users"
event = "purchase"
period = "week"
target = 14
direction = "up"
deadline = 2026-11-29
owner = "Priya"
description = "People who bought in a calendar week."

[[kpis]]
id = "weekly_active"
name = "Weekly active users"
metric = "active_users"
period = "week"
target = 18
direction = "up"
deadline = 2026-11-29
owner = "Tom"
description = "People who came in a calendar week."

[[kpis]]
id = "weekly_searches"
name = "Weekly searches"
metric = "event_count"
event = "search"
period = "week"
target = 100
direction = "up"
deadline = 2026-11-29
owner = "Lena"
description = "Searches in a calendar week."

[[kpis]]
id = "weekly_lost"
name = "Users lost per week"
metric = "lifecycle"
state = "dormant"
period = "week"
target = 0
direction = "down"
deadline = 2026-11-29
owner = "Tom"
description = "People active last week who did nothing this week."

[[kpis]]
id = "refunds"
name = "Refunds"
metric = "event_count"
event = "refund"
period = "week"
target = 1
direction = "down"
deadline = 2026-11-29
owner = "Sam"
description = "Refund requests per week."
"""


def story_events() -> pl.DataFrame:
    """Ten weeks from Monday 2026-08-03: week w has 10 + w visitors, w + 2 buyers, 8 searches.

    Buyers grow by one a week (on track for 14 by the deadline), visitors reach 19 (18 is met),
    searches stay at 8 against 100 (off track), nobody leaves (0 lost: met) and nobody asks for
    a refund (no data: the event never happened, which is not the same as zero).
    """
    rows = []
    monday = dt.datetime(2026, 8, 3, 9, tzinfo=dt.UTC)
    for week in range(10):
        start = monday + dt.timedelta(weeks=week)
        for n in range(10 + week):
            platform = "web" if n % 2 else "mobile"
            rows.append((f"u{n}", "page_view", start + dt.timedelta(hours=n), platform, None))
        for n in range(week + 2):
            rows.append((f"u{n}", "purchase", start + dt.timedelta(days=2), "web", 12.5))
        for n in range(8):
            rows.append((f"u{n}", "search", start + dt.timedelta(days=3), "mobile", None))
        rows.append(("u0", "page_view", start + dt.timedelta(days=6, hours=10), "web", None))
    return pl.DataFrame(
        rows,
        schema={
            "user_id": pl.String,
            "event": pl.String,
            "timestamp": pl.Datetime("us", "UTC"),
            "platform": pl.String,
            "revenue": pl.Float64,
        },
        orient="row",
    )


@pytest.fixture(scope="module")
def html() -> str:
    vision = targets.parse_vision(VISION, source="vision.toml")
    events = story_events()
    today = D("2026-10-12")
    card = targets.scorecard(vision, events, today=today)
    drivers = {
        kpi: targets.explain(vision, kpi, events, today=today)
        for kpi, status in card.table.select("kpi", "status").iter_rows()
        if status == "off_track"
    }
    assert drivers, "the story needs an off-track KPI to show drivers"
    return review.render(vision, card, drivers, start=D("2026-08-03"), end=D("2026-10-11"))


def test_review_is_one_self_contained_file(html):
    # Plotly's library is inlined exactly once (its basic bundle: the review draws lines only),
    # in the head before any chart, and nothing is fetched from the network.
    assert len(re.findall(r"plotly\.js (\([^)]*\) )?v\d", html)) == 1
    assert "plotly.js (basic - minified) v" in html
    assert html.index("plotly.js (basic") < html.index("</head>")
    assert not re.search(r"<script[^>]+src=", html)
    assert not re.search(r"<link[^>]+href=", html)
    assert html.count('class="plotly-graph-div"') == 4  # North Star + 3 KPIs with data
    assert len(html.encode()) < 1.5e6


def test_a_figure_the_basic_bundle_cannot_draw_brings_the_full_one():
    import plotly.graph_objects as go

    figures = review._Figures()
    figures(go.Figure(go.Scatter(x=[1, 2], y=[3, 4])), "a")
    assert "(basic - minified)" in figures.script()
    figures(go.Figure(go.Waterfall(x=["a", "b"], y=[1, 2])), "b")
    script = figures.script()
    assert "(basic - minified)" not in script and re.search(r"plotly\.js v\d", script)
    assert review._Figures().script() == ""  # no figure, no library


def test_review_states_vision_scorecard_and_statuses(html):
    assert "<h1>Story Shop</h1>" in html
    assert "Groceries in two taps." in html
    for name, status in [
        ("Weekly buyers", "On track"),
        ("Weekly active users", "Met"),
        ("Weekly searches", "Off track"),
        ("Users lost per week", "Met"),
        ("Refunds", "No data"),
    ]:
        row = re.search(rf'<tr data-kpi="[a-z_]+"><td><strong>{name}</strong>.*?</tr>', html)
        assert row, name
        assert f">{status}</span>" in row.group(0), (name, row.group(0))
    assert "no &#x27;refund&#x27; events in the data" in html  # missing, not zero
    assert "What is driving the off-track KPIs" in html


def test_command_line_writes_the_review(tmp_path, monkeypatch, capsys):
    data = tmp_path / "events.parquet"
    story_events().write_parquet(data)
    (tmp_path / "sources.toml").write_text(
        f'default = "story"\n[sources.story]\npath = "{data}"\nvision = "vision.toml"\n'
    )
    (tmp_path / "vision.toml").write_text(VISION)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "review.html"
    code = main(["--start", "2026-08-03", "--end", "2026-10-11", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    text = out.read_text()
    assert "Story Shop" in text and "as of 12 Oct 2026" in text
    assert "Wrote" in capsys.readouterr().out


def test_command_line_reports_every_vision_problem(tmp_path, monkeypatch, capsys):
    (tmp_path / "vision.toml").write_text(VISION.replace("target = 14", 'target = "14"'))
    (tmp_path / "vision.toml").write_text(
        (tmp_path / "vision.toml").read_text().replace('owner = "Tom"', "")
    )
    monkeypatch.chdir(tmp_path)
    code = main(["--start", "2026-08-03", "--end", "2026-10-11", "--out", "r.html"])
    err = capsys.readouterr().err
    assert code == 2
    assert "3 problem(s)" in err
    assert "field 'target': must be a number" in err
    assert err.count("field 'owner': missing") == 2
    assert not (tmp_path / "r.html").exists()


def test_command_line_rejects_a_backwards_range(capsys):
    with pytest.raises(SystemExit):
        main(["--start", "2026-10-11", "--end", "2026-08-03"])
    assert "before --start" in capsys.readouterr().err


@pytest.mark.browser
def test_review_opens_offline_in_a_real_browser(html, tmp_path):
    from playwright.sync_api import sync_playwright

    path = tmp_path / "review.html"
    path.write_text(html, encoding="utf-8")
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path="/usr/bin/chromium",
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 2400},
        )
        context.set_offline(True)  # as in an email attachment opened on a plane
        errors: list[str] = []
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(path.as_uri())
        page.wait_for_function(
            "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 4", timeout=30000
        )
        assert errors == []
        assert page.title() == "Story Shop: leadership review, 03 Aug 2026 – 11 Oct 2026"
        assert page.locator("h1").inner_text() == "Story Shop"
        rows = page.locator("#scorecard tbody tr")
        assert rows.count() == 5
        table = {
            rows.nth(i).locator("td").nth(0).inner_text().split("\n")[0]: rows.nth(i)
            .locator("td")
            .nth(1)
            .inner_text()
            for i in range(rows.count())
        }
        assert table == {
            "Weekly buyers": "On track",
            "Weekly active users": "Met",
            "Weekly searches": "Off track",
            "Users lost per week": "Met",
            "Refunds": "No data",
        }
        # Every chart was drawn by the inlined Plotly: lines and the target line are there.
        assert page.evaluate("typeof window.Plotly") == "object"
        charts = page.locator(".js-plotly-plot")
        assert charts.count() == 4
        for i in range(charts.count()):
            assert charts.nth(i).locator(".scatterlayer .trace").count() >= 1
            assert charts.nth(i).locator(".shapelayer path").count() >= 1  # target and deadline
        page.screenshot(path=str(Path(tmp_path) / "review.png"), full_page=True)
        context.close()


# --- the figures and number formats the page and the review share (ui/charts/targets.py) -------


@pytest.mark.parametrize(
    "value,unit,text",
    [
        (14207.0, "users", "14,207"),
        (4.5, "users", "4.5"),
        (7.0, "events", "7"),
        (0.18699, "ratio", "18.7%"),
        (0.1173, "lift", "+11.7%"),
        (241627.31, "currency", "$241,627"),
        (8.953, "currency", "$8.95"),
        (-12.5, "currency", "-$12.50"),
        (None, "users", "—"),
    ],
)
def test_values_read_as_a_pm_reads_them(value, unit, text):
    assert charts.format_value(value, unit) == text


def test_deltas_and_paces():
    assert charts.format_delta(56.0, "users") == "+56"
    assert charts.format_delta(-191.0, "users") == "-191"
    assert charts.format_delta(0.0104, "ratio") == "+1.0 pp"  # rates move in points
    assert charts.format_delta(0.0004, "ratio") == "+0.04 pp"  # tiny moves keep a digit
    assert charts.format_delta(None, "users") is None
    assert charts.format_value(950.0, "currency", "EUR") == "€950"
    assert charts.pace(0.0001, "ratio", "day") == "+0.07 pp/week"  # daily KPIs: per week
    assert charts.pace(13.77, "users", "week") == "+13.8/week"


def test_sparkline_draws_the_level_the_target_and_the_latest_point():
    points = pl.DataFrame(
        {
            "period_end": [D("2026-09-13"), D("2026-09-20"), D("2026-09-27")],
            "level": [100.0, 110.0, 120.0],
        }
    )
    fig = charts.sparkline(points, target=150, status="at_risk", unit="users")
    assert list(fig.data[0].y) == [100.0, 110.0, 120.0]
    assert fig.data[1].marker.color == charts.STATUS_COLORS["at_risk"]
    assert [shape.y0 for shape in fig.layout.shapes] == [150]
    assert not fig.layout.annotations  # no stray label on a sparkline


def test_the_scorecard_sparkline_is_a_small_drawing_of_the_same_line():
    points = pl.DataFrame(
        {
            "period_end": [D("2026-09-13"), D("2026-09-20"), D("2026-09-27")],
            "level": [100.0, 110.0, 120.0],
        }
    )
    svg = charts.sparkline_svg(points, target=150, status="at_risk", width=200, height=50)
    assert svg.startswith("<svg") and svg.endswith("</svg>") and 'width="200"' in svg
    line = re.search(r'<polyline points="([^"]+)"', svg).group(1).split()
    ys = [float(point.split(",")[1]) for point in line]
    assert len(line) == 3 and ys[0] > ys[1] > ys[2]  # rising (SVG's y grows downwards)
    target_y = float(re.search(r'<line [^>]*y1="([\d.]+)"', svg).group(1))
    assert target_y < ys[-1]  # the target is above the latest value
    assert charts.STATUS_COLORS["at_risk"] in svg  # the latest point in the status colour
    assert "<text" not in svg  # numbers only: nothing from the data is written in it


def test_segment_bars_are_green_where_they_helped():
    segments = pl.DataFrame(
        {"property": ["platform"] * 2, "segment": ["web", "mobile"], "contribution": [437.0, -50.0]}
    )
    up = charts.segments_chart(segments, "users", direction="up")
    down = charts.segments_chart(segments, "users", direction="down")
    # Bars are drawn smallest first: mobile (-50), then web (+437).
    assert list(up.data[0].marker.color) == [charts.STATUS_COLORS["off_track"], "#1a7f37"]
    assert list(down.data[0].marker.color) == ["#1a7f37", charts.STATUS_COLORS["off_track"]]


def test_trend_chart_projects_to_the_deadline():
    row = {
        "name": "Weekly buyers",
        "unit": "users",
        "period": "week",
        "status": "on_track",
        "value": 130.0,
        "projected": 170.0,
        "target": 160.0,
        "as_of": D("2026-10-04"),
        "deadline": D("2026-11-01"),
        "periods_left": 4.0,
    }
    points = pl.DataFrame(
        {"period_end": [D("2026-09-27"), D("2026-10-04")], "level": [120.0, 130.0]}
    )
    fig = charts.trend_chart(points, row)
    projection = fig.data[1]
    assert list(projection.x) == [D("2026-10-04"), D("2026-11-01")]
    assert list(projection.y) == [130.0, 170.0]
    assert "projection: 170" in projection.name


def test_a_met_kpi_whose_trend_falls_back_is_drawn_heading_there_in_amber_or_red():
    row = {
        "name": "Weekly active users",
        "unit": "users",
        "period": "week",
        "status": "met",
        "direction": "up",
        "value": 150.0,
        "projected": 120.0,
        "trend": -7.5,
        "target": 140.0,
        "as_of": D("2026-10-04"),
        "deadline": D("2026-11-01"),
        "periods_left": 4.0,
    }
    points = pl.DataFrame({"period_end": [D("2026-10-04")], "level": [150.0]})
    # 120 is 20 short of 140: more than 10% of the target (14), so off track, not green.
    assert charts.projection_status(row) == "off_track"
    fig = charts.trend_chart(points, row)
    assert fig.data[1].line.color == charts.STATUS_COLORS["off_track"]
    assert charts.verdict(row) == (
        "Target 140 reached, but at its trend (-7.5/week) it would fall back to 120 by Nov 1, 2026."
    )
    assert charts.projection_status({**row, "projected": 135.0}) == "at_risk"  # 5 < 14
    held = {**row, "projected": 160.0, "trend": 2.5}
    assert charts.projection_status(held) == "met"
    assert charts.trend_chart(points, held).data[1].line.color == charts.STATUS_COLORS["met"]
    assert charts.verdict(held) == "Target 140 reached (deadline Nov 1, 2026)."
    # Down is good: 3,900 meets 4,000, but heading for 4,200 is 200 over (within 10%): at risk.
    down = {**row, "direction": "down", "value": 3900.0, "target": 4000.0, "projected": 4200.0}
    assert charts.projection_status(down) == "at_risk"


def test_trend_chart_keeps_room_for_its_tick_labels():
    row = {
        "name": "Weekly buyers", "unit": "users", "period": "week", "status": "on_track",
        "value": 1710.0, "projected": 2413.0, "target": 2000.0, "as_of": D("2026-10-25"),
        "deadline": D("2026-12-31"), "periods_left": 9.6,
    }  # fmt: skip
    points = pl.DataFrame({"period_end": [D("2026-10-25")], "level": [1710.0]})
    layout = charts.trend_chart(points, row).layout
    # Whatever the template: labels like "2.5k" fit (automargin) and a margin is kept anyway.
    assert layout.yaxis.automargin is True and layout.margin.l >= 48
    assert layout.legend.yref == "container"  # below the dates, never over them
    ratio = charts.trend_chart(points, {**row, "unit": "ratio"}).layout
    assert ratio.yaxis.tickformat == ".1~%"  # 17.5%, never two ticks both reading 18%


def test_review_of_a_source_with_no_events_says_no_data_everywhere():
    vision = targets.parse_vision(VISION, source="vision.toml")
    empty = story_events().clear()
    card = targets.scorecard(vision, empty, today=D("2026-10-12"))
    text = review.render(vision, card, {}, start=D("2026-08-03"), end=D("2026-10-11"))
    # The North Star card, the summary ("No data × 5") and each row of the scorecard.
    assert text.count(">No data</span>") == 2 + len(vision.kpis)
    assert "plotly-graph-div" not in text  # nothing drawn from nothing, and no zeros
    values = re.findall(r'</span></td><td class="num">([^<]*)</td>', text)  # the Value column
    assert values == ["—"] * len(vision.kpis)  # missing, never 0
