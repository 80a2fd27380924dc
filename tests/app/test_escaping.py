"""Nothing from the data or from files is rendered as Markdown or HTML (issue 13, item 3).

Every page opens a product whose event names, property values, experiment and variant, KPI names,
descriptions and owners and source name hold Markdown images, HTML links and script tags
(tests/app/hostile.py). Each Markdown element the pages send must carry them escaped (no
unescaped ``http://evil.example``, no live ``<a``/``<img``/``<script``, outside inline code), and
no figure may carry a live tag. The same product in a real browser: tests/app/test_browser.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from tests.app import hostile
from ui import text

APP = str(Path(__file__).resolve().parents[2] / "app.py")
#: A live tag in Markdown or in a figure: "<a href", "<img", "<script" not escaped.
LIVE_TAG = re.compile(r"(?<![\\&])<\s*(a|img|script)\b", re.IGNORECASE)
#: An outside address Markdown could link or fetch: the "://" escaped by ui.text.md is not one.
LIVE_URL = re.compile(r"https?://evil\.example")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")


@pytest.fixture(scope="module")
def product(tmp_path_factory) -> Path:
    return hostile.write_product(tmp_path_factory.mktemp("hostile"))


@pytest.fixture
def app(product, monkeypatch) -> AppTest:
    monkeypatch.setenv("NORTHSTAR_SOURCES", str(product))
    monkeypatch.delenv("NORTHSTAR_VISION", raising=False)
    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    assert not at.exception, at.exception
    return at


def markdown_texts(at: AppTest) -> list[str]:
    """Every string the page hands Streamlit's Markdown renderer."""
    out: list[str] = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "header",
                 "subheader", "toast"):  # fmt: skip
        out += [element.value for element in at.get(kind)]
    for metric in at.metric:
        out += [metric.label, metric.proto.help]
    for kind in ("selectbox", "multiselect", "text_input", "number_input", "button", "radio",
                 "checkbox", "toggle", "date_input", "text_area", "expander", "tab"):  # fmt: skip
        for widget in at.get(kind):
            out.append(getattr(widget, "label", "") or "")
            out.append(getattr(widget, "help", "") or "")
    return [value for value in out if value]


def figures(at: AppTest) -> list[str]:
    # The spec is JSON with "<" and "/" written as \\u escapes: read it back to plain text.
    return [
        json.dumps(json.loads(chart.proto.spec), ensure_ascii=False)
        for chart in at.get("plotly_chart")
    ]


def check_page(at: AppTest) -> str:
    """Fail on anything rendered live; return all the page's Markdown (for presence checks)."""
    assert not at.exception, at.exception
    texts = markdown_texts(at)
    for value in texts:
        outside_code = CODE_SPAN.sub("", value)
        assert not LIVE_URL.search(outside_code), value
        assert not LIVE_TAG.search(outside_code), value
    for spec in figures(at):
        assert not LIVE_TAG.search(spec), LIVE_TAG.search(spec)
    return "\n".join(texts)


def test_overview_shows_kpi_names_descriptions_owners_and_drivers_as_text(app, product):
    shown = check_page(app)
    assert text.md(hostile.KPI_NAME) in shown  # the North Star's name, escaped
    assert text.md(hostile.OWNER) in shown
    assert text.md(hostile.DESCRIPTION) in shown
    # The drivers' charts are drawn once "What is driving the gap" is opened: open them all.
    from metrics.targets import load_vision

    for kpi in load_vision(product.parent / "vision.toml").kpis:
        app.session_state[f"ov_drivers_{kpi.id}"] = True
    app.run()
    check_page(app)
    charts = "\n".join(figures(app))
    # The segments chart of an off-track KPI labels each platform's and country's bar.
    assert f"platform = {text.plot(hostile.PLATFORM)}" in charts
    assert f"country = {text.plot(hostile.COUNTRY)}" in charts


def test_engagement_with_a_hostile_event_filter_and_breakdown(product, monkeypatch):
    monkeypatch.setenv("NORTHSTAR_SOURCES", str(product))
    app = AppTest.from_file(APP, default_timeout=600)
    app.query_params["f_platform"] = [hostile.PLATFORM, "mobile"]  # a shared link's filter
    app.run()
    check_page(app)
    app.switch_page("pages/engagement.py").run()
    app.selectbox(key="eng_event").set_value(hostile.EVENT).run()
    app.selectbox(key="eng_breakdown").set_value("country").run()
    shown = check_page(app)
    assert text.md(hostile.PLATFORM) in shown  # the filter, in the definition cards
    assert text.code(hostile.EVENT) in shown
    assert text.plot(hostile.COUNTRY) in "\n".join(figures(app))  # a legend entry


def test_retention_and_funnels_with_a_hostile_event(app):
    app.switch_page("pages/retention.py").run()
    app.selectbox(key="ret_start_event").set_value(hostile.EVENT).run()
    assert text.code(hostile.EVENT) in check_page(app)
    app.switch_page("pages/funnels.py").run()
    app.selectbox(key="fun_step_1").set_value(hostile.EVENT).run()
    app.selectbox(key="fun_breakdown").set_value("platform").run()
    check_page(app)
    charts = "\n".join(figures(app))
    assert text.plot(hostile.EVENT) in charts  # a step's label
    assert text.plot(hostile.PLATFORM) in charts  # a breakdown value


def test_experiments_with_a_hostile_experiment_and_variant(app):
    app.switch_page("pages/experiments.py").run()
    assert app.selectbox(key="exp_experiment").value == hostile.EXPERIMENT
    app.selectbox(key="exp_segment").set_value("platform").run()
    shown = check_page(app)
    assert text.md(hostile.VARIANT) in shown  # the split check names the variants
    assert text.plot(hostile.VARIANT) in "\n".join(figures(app))


def test_data_page_with_a_hostile_source_name(app):
    app.switch_page("pages/data.py").run()
    check_page(app)
    assert text.plot(hostile.EVENT) in "\n".join(figures(app))  # events by name


# -- the helpers themselves -------------------------------------------------------------------


@pytest.mark.parametrize("value", hostile.ALL)
def test_md_escapes_every_markdown_construct(value):
    escaped = text.md(value)
    assert not LIVE_URL.search(escaped)
    assert not LIVE_TAG.search(escaped)
    shown = escaped.replace("\\", "").replace("\u200b", "")
    assert shown == value.replace("\\", "")  # nothing lost, only escaped


def test_md_keeps_a_value_on_one_line_and_code_fences_any_backticks():
    assert text.md("a\n# b") == r"a \# b"
    assert text.code("a`b") == "``a`b``"
    assert text.code("`x") == "`` `x ``"


def test_safe_figure_escapes_text_but_not_templates():
    figure = go.Figure(
        go.Bar(
            x=[hostile.COUNTRY, "b & c"],
            y=[1, 2],
            name=hostile.VARIANT,
            hovertemplate="%{x}<br>%{y}<extra></extra>",
        )
    )
    figure.update_layout(title={"text": hostile.KPI_NAME}, xaxis_title=hostile.OWNER)
    safe = text.safe_figure(figure)
    assert safe.data[0].x == (text.plot(hostile.COUNTRY), "b &amp; c")
    assert safe.data[0].name == text.plot(hostile.VARIANT)
    assert safe.data[0].hovertemplate == "%{x}<br>%{y}<extra></extra>"
    assert safe.layout.title.text == text.plot(hostile.KPI_NAME)
    assert not LIVE_TAG.search(json.dumps(safe.to_plotly_json(), default=str))
    assert figure.data[0].name == hostile.VARIANT  # the builder's figure is left alone


def test_the_unchecked_figure_is_what_plotlys_own_check_makes():
    """``safe_figure`` skips Plotly's check of each property (it was checked when built); the
    figure must be the same as a checked one, and still pass the check."""
    figure = go.Figure(go.Scatter(x=[hostile.COUNTRY, "b"], y=[1, 2], name=hostile.VARIANT))
    figure.update_layout(title={"text": hostile.KPI_NAME}, height=300, yaxis={"tickformat": ",d"})
    safe = text.safe_figure(figure)
    checked = go.Figure(safe.to_plotly_json())  # raises on any property Plotly would refuse
    assert safe.to_plotly_json() == checked.to_plotly_json()
    assert safe.layout.height == 300 and safe.data[0].name == text.plot(hostile.VARIANT)


def test_the_review_shows_hostile_kpi_names_as_text(product, monkeypatch):
    from review import build

    monkeypatch.setenv("NORTHSTAR_SOURCES", str(product))
    import datetime as dt

    page = build(
        start=dt.date(2026, 8, 1),
        end=dt.date(2026, 10, 31),
        vision_path=product.parent / "vision.toml",
        source=hostile.SOURCE,
    )
    assert not LIVE_TAG.search(page.split("<script", 1)[0])  # before Plotly's own script
    for found in re.finditer(r"<(a|img)\b[^>]*>", page, re.IGNORECASE):
        assert "evil.example" not in found.group(0)
    assert "window.__pwned" not in page.replace("&lt;script&gt;window.__pwned", "")
    assert text.html(hostile.KPI_NAME) in page
    assert text.plot(hostile.KPI_NAME) in page  # the chart titles, as Plotly text


def test_pages_draw_figures_only_through_the_escaping_door():
    root = Path(__file__).resolve().parents[2]
    direct = [
        path.name
        for path in [root / "app.py", *sorted((root / "pages").glob("*.py"))]
        if "st.plotly_chart(" in path.read_text()
    ]
    assert direct == []
