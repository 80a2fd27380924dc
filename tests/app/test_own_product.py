"""Your own product: its own vision (or a guided setup to write one), its own currency.

A retail-like file source (orders in pounds, 2010-2011) is configured in a sources.toml written
per test (NORTHSTAR_SOURCES points at it). Nothing of the demo's vision may show on its pages.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from metrics.targets import load_vision

APP = str(Path(__file__).resolve().parents[2] / "app.py")
DEMO_KPIS = ("Weekly buyers", "Checkout conversion", "Basketly")


def retail_csv(path: Path) -> None:
    """Twelve weeks of a small shop's orders: 60 customers, browsing and buying, prices in GBP."""
    rng = random.Random(7)
    lines = ["user_id,event,timestamp,revenue,country"]
    start = dt.datetime(2010, 9, 6, 9, 0)
    for day in range(84):
        for customer in rng.sample(range(60), 12):
            when = start + dt.timedelta(days=day, minutes=customer)
            country = "United Kingdom" if customer % 3 else "France"
            lines.append(f"c{customer},view_item,{when:%Y-%m-%d %H:%M},,{country}")
            if customer % 2 == 0:
                price = 10 + customer % 7
                lines.append(f"c{customer},purchase,{when:%Y-%m-%d %H:%M},{price}.50,{country}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def configure(tmp_path: Path, monkeypatch, name: str, extra: str = "") -> Path:
    retail_csv(tmp_path / "orders.csv")
    config = tmp_path / "sources.toml"
    config.write_text(
        f'default = "{name}"\n[sources.{name}]\npath = "orders.csv"\ncurrency = "GBP"\n'
        f'description = "Online shop orders"\n{extra}',
        encoding="utf-8",
    )
    monkeypatch.setenv("NORTHSTAR_SOURCES", str(config))
    monkeypatch.delenv("NORTHSTAR_VISION", raising=False)
    return config


def run_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    return at


def page_text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [t.value for t in at.title] + [i.value for i in at.info] + [m.value for m in at.metric]
    parts += [c.label for c in at.checkbox]
    return "\n".join(parts).replace("\\", "")


def test_a_source_without_a_vision_opens_on_the_guided_setup(tmp_path, monkeypatch):
    configure(tmp_path, monkeypatch, "own_setup")
    at = run_app()
    text = page_text(at)
    assert at.title[0].value.replace("\\", "") == "Overview · set up own_setup"
    for demo in DEMO_KPIS:
        assert demo not in text, demo
    # Suggestions come from this data: its events and its revenue, in its currency.
    labels = [c.label.replace("\\", "") for c in at.checkbox]
    assert "**Weekly active users**" in labels
    assert "**Weekly users doing view_item**" in labels
    assert "**Monthly revenue**" in labels
    assert "£" in text and "$" not in text
    assert at.text_input(key="setup_currency").value == "GBP"

    # Saving without a vision statement or owner says what is missing and writes nothing.
    at.button(key="setup_save").click().run()
    assert not at.exception
    problems = " ".join(e.value for e in at.error)
    assert "Write the vision" in problems and "owner" in problems
    assert not (tmp_path / "visions" / "own_setup.toml").exists()

    at.text_area(key="setup_vision").input("Everything for the home, delivered tomorrow.")
    at.text_input(key="setup_owner").input("Ana (Head of Product)")
    at.selectbox(key="setup_north_star").set_value("monthly_revenue")
    at.checkbox(key="setup_pick_stickiness").uncheck()
    at.button(key="setup_save").click().run()
    assert not at.exception, at.exception
    saved = tmp_path / "visions" / "own_setup.toml"
    vision = load_vision(saved)
    assert vision.north_star == "monthly_revenue"
    assert vision.currency == "GBP"
    assert "stickiness" not in [k.id for k in vision.kpis]
    # The Overview now judges the product against its own KPIs.
    assert at.title[0].value == f"Overview · {vision.product}"
    text = page_text(at)
    assert "Weekly users doing view_item" in text
    assert "£" in at.metric[0].value
    assert str(tmp_path) not in text


def test_a_source_with_a_vision_shows_its_kpis_in_its_currency(tmp_path, monkeypatch):
    configure(tmp_path, monkeypatch, "own_vision", 'vision = "shop-vision.toml"\n')
    (tmp_path / "shop-vision.toml").write_text(
        """
[product]
name = "Homewares"
vision = "Everything for the home, delivered tomorrow."
north_star = "monthly_revenue"

[[kpis]]
id = "monthly_revenue"
name = "Monthly sales"
metric = "revenue"
period = "month"
target = 1000
direction = "up"
deadline = 2011-03-31
owner = "Ana"

[[kpis]]
name = "Weekly shoppers"
metric = "active_users"
event = "purchase"
target = 30
direction = "up"
deadline = 2011-03-31
owner = "Ana"
""",
        encoding="utf-8",
    )
    at = run_app()
    assert at.title[0].value == "Overview · Homewares"
    text = page_text(at)
    assert "Monthly sales" in text and "Weekly shoppers" in text
    for demo in DEMO_KPIS:
        assert demo not in text, demo
    # The North Star is money: in pounds, as sources.toml says (the vision names no currency).
    assert at.metric[0].value.startswith("£"), at.metric[0].value
    assert "USD" not in text and "$" not in text

    # Engagement: revenue in pounds, and no target line of any other product.
    at.query_params["eng_more"] = "Revenue"
    at.switch_page("pages/engagement.py").run()
    assert not at.exception, at.exception
    figures = " ".join(json.dumps(json.loads(c.proto.spec)) for c in at.get("plotly_chart"))
    assert "GBP" in figures or "£" in figures
    assert "Target" not in figures


@pytest.mark.parametrize("page", ["pages/retention.py", "pages/funnels.py"])
def test_other_pages_run_on_the_own_product(tmp_path, monkeypatch, page):
    configure(tmp_path, monkeypatch, f"own_{Path(page).stem}")
    at = run_app()
    at.switch_page(page).run()
    assert not at.exception, at.exception
