"""The Overview's adapters (ui/targets.py) and the links that explain a KPI (ui/explain.py).

The adapters are called as the page calls them, with the source replaced by a small story; their
key is the query (:class:`metrics.targets.KpiQuery`, or the vision for the whole scorecard).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from types import SimpleNamespace

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from metrics import kinds, targets
from tests.metrics.test_kinds import TODAY, demo_like_story, kpi_of
from tests.metrics.test_targets import activation_vision, one_kpi
from ui import data, explain
from ui import targets as tg

D = dt.date.fromisoformat


@pytest.fixture
def story(monkeypatch):
    """The demo-like story as the current source; counts how often the adapters load it."""
    loads = []
    events = demo_like_story()

    def loaded():
        loads.append(1)
        return SimpleNamespace(events=events, assignments=None)

    monkeypatch.setattr(data, "loaded", loaded)
    tg.scorecard.clear()
    tg.drivers.clear()
    explain.kpi_value.clear()
    yield SimpleNamespace(events=events, loads=loads)
    tg.scorecard.clear()
    tg.drivers.clear()
    explain.kpi_value.clear()


def _vision_of_every_kind() -> targets.Vision:
    return dataclasses.replace(
        activation_vision(), kpis=tuple(kpi_of(kind) for kind in kinds.KINDS)
    )


# --- the page that explains a kind ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "page"),
    [
        ("active_users", "engagement"),
        ("dau_mau", "engagement"),
        ("lifecycle", "engagement"),
        ("revenue", "engagement"),
        ("arpu", "engagement"),
        ("paying_users", "engagement"),
        ("event_count", "engagement"),
        ("retention", "retention"),
        ("funnel_conversion", "funnels"),
        ("experiment", "experiments"),
    ],
)
def test_a_kind_is_explained_on_its_familys_page(kind, page):
    assert explain.page_of(kind) == page


@pytest.mark.parametrize("kind", kinds.KINDS)
def test_every_kinds_link_opens_an_existing_page(kind):
    row = {"as_of": D("2026-09-27")}
    page, _ = explain.link(kpi_of(kind), row, tz="UTC", first_day=None, last_day=TODAY)
    assert (tg.ROOT / page).exists()


def test_a_funnel_kpis_link_sets_the_funnels_widgets():
    kpi = activation_vision().kpis[0]
    _, params = explain.link(
        kpi, {"as_of": D("2026-09-13")}, tz="UTC", first_day=D("2026-08-01"), last_day=TODAY
    )
    assert {k: params[k] for k in ("fun_step_count", "fun_step_1", "fun_step_2", "fun_window")} == {
        "fun_step_count": "2",
        "fun_step_1": "signup",
        "fun_step_2": "onboarding_complete",
        "fun_window": "7",
    }


# --- the query that keys the cached adapters -----------------------------------------------------


def test_a_kpi_query_carries_the_kpis_own_filters():
    vision = one_kpi(filters={"platform": "web"})
    query = tg.kpi_query(vision, "weekly_buyers", D("2026-10-05"), "Europe/Berlin")
    assert (query.scope.filters, query.tz) == ((("platform", "web"),), "Europe/Berlin")


def test_equal_kpi_queries_are_one_cache_key():
    one = tg.kpi_query(one_kpi(), "weekly_buyers", D("2026-10-05"), "UTC")
    again = tg.kpi_query(one_kpi(), "weekly_buyers", D("2026-10-05"), "UTC")
    assert hash(one) == hash(again) and one == again


def test_a_segment_narrows_the_query_and_keeps_the_kpis_filters():
    query = tg.kpi_query(one_kpi(filters={"plan": "pro"}), "weekly_buyers", TODAY, "UTC")
    narrowed = query.narrowed({"platform": "web"})
    assert narrowed.scope.filters == (("plan", "pro"), ("platform", "web"))


def test_a_segment_on_a_property_the_kpi_filters_is_refused():
    query = tg.kpi_query(one_kpi(filters={"platform": "web"}), "weekly_buyers", TODAY, "UTC")
    with pytest.raises(ValueError, match="already filtered on 'platform'"):
        query.narrowed({"platform": "mobile"})


# --- the cached adapters ------------------------------------------------------------------------


def test_the_scorecard_adapter_is_the_metrics_scorecard(story):
    vision = _vision_of_every_kind()
    card = tg.scorecard("story", vision, TODAY, "UTC")
    expected = targets.scorecard(vision, story.events, today=TODAY, tz="UTC")
    assert_frame_equal(card.table, expected.table)


def test_the_scorecard_adapter_computes_once_per_vision(story):
    vision = _vision_of_every_kind()
    tg.scorecard("story", vision, TODAY, "UTC")
    tg.scorecard("story", dataclasses.replace(vision), TODAY, "UTC")  # an equal vision
    assert len(story.loads) == 1


def test_the_drivers_adapter_explains_the_querys_kpi(story):
    vision = _vision_of_every_kind()
    found = tg.drivers("story", tg.kpi_query(vision, "revenue", TODAY, "UTC"))
    expected = targets.explain(vision, "revenue", story.events, today=TODAY)
    assert (found.before, found.after, found.split) == (
        expected.before,
        expected.after,
        expected.split,
    )


def test_off_track_drivers_are_those_of_the_off_track_kpis(story):
    vision = _vision_of_every_kind()
    card = tg.scorecard("story", vision, TODAY, "UTC")
    off = card.table.filter(pl.col("status") == "off_track").get_column("kpi").to_list()
    assert list(tg.off_track_drivers("story", vision, card, "UTC")) == off


def test_a_kpis_value_for_a_period_is_the_scorecards(story):
    """Explain this number: the value for the period the Overview shows, computed alone."""
    vision = _vision_of_every_kind()
    row = tg.scorecard("story", vision, TODAY, "UTC").table.row(
        by_predicate=pl.col("kpi") == "experiment", named=True
    )
    query = targets.KpiQuery.build(vision.kpi("experiment"), today=TODAY, tz="UTC")
    assert explain.kpi_value("story", query) == row["value"]


def test_the_kind_menu_is_the_registry_in_order():
    assert tg.metric_kinds() == {kind: spec.label for kind, spec in kinds.METRICS.items()}


def test_a_funnels_form_asks_for_its_steps_in_order():
    fields = {field.name: field for field in tg.param_fields("funnel_conversion")}
    assert (fields["steps"].widget, fields["steps"].required) == ("events", True)
