"""The Experiments page in AppTest: the demo's experiment, every method, and numbers typed by hand.

Nothing typed may crash the page: bad numbers get a sentence that says what to fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.app.opening import open_numbers

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(scope="module")
def page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page("pages/experiments.py").run()
    assert not at.exception, at.exception
    return at


def texts(elements) -> list[str]:
    return [element.value for element in elements]


def table(at: AppTest, column: str, metric: str | None = None):
    """The first table with ``column`` (and, if given, a row for ``metric``), as pandas."""
    for frame in at.dataframe:
        value = frame.value
        if column in value.columns and (metric is None or (value.get("Metric") == metric).any()):
            return value
    raise AssertionError(f"no table with a {column!r} column")


def hand_table(at: AppTest):
    """The typed-in tab's results."""
    return table(at, "Verdict", metric="typed in")


def test_demo_experiment_reads_as_a_winner_after_the_srm_check(page):
    assert page.title[0].value == "Experiments"
    assert page.selectbox(key="exp_experiment").value == "checkout_redesign"
    assert page.selectbox(key="exp_control").value == "control"
    # SRM first: a green banner naming the split, before any lift.
    assert any("Traffic split as planned" in text for text in texts(page.success))
    results = table(page, "Verdict")
    treated = results[results["Variant"] == "treatment"]
    assert set(treated["Metric"]) == {"purchase conversion", "revenue per user (purchase)"}
    assert treated["Verdict"].str.startswith("Winner").all()
    assert treated["Lift"].str.startswith("+").all()
    # The forest plot and the effect over time; the other tabs wait to be opened.
    assert len(page.get("plotly_chart")) == 2
    assert len(open_numbers(page).get("download_button")) >= 2  # every table downloadable
    assert "Effect over time" in texts(page.subheader)


@pytest.mark.parametrize(
    ("method", "evidence"),
    [("bayesian", "Chance to win"), ("sequential", "p-value"), ("frequentist", "p-value")],
)
def test_every_method(page, method, evidence):
    page.radio(key="exp_method").set_value(method).run()
    assert not page.exception, page.exception
    results = table(page, "Verdict")
    assert evidence in results.columns
    if method == "bayesian":
        chance = results[results["Variant"] == "treatment"]["Chance to win"]
        assert (chance != "").all()


def test_options_and_segments(page):
    page.toggle(key="exp_cuped").set_value(False)
    page.number_input(key="exp_window").set_value(14)
    page.selectbox(key="exp_winsorize").set_value(0.99)
    page.selectbox(key="exp_segment").set_value("platform")
    page.selectbox(key="exp_correction").set_value("holm")
    page.multiselect(key="exp_metrics").set_value(
        ["purchase conversion", "revenue per user (purchase)", "revenue per purchase"]
    )
    page.run()
    assert not page.exception, page.exception
    results = table(page, "Verdict")
    assert set(results["Segment"]) == {"web", "mobile"}
    assert "revenue per purchase" in set(results["Metric"])
    page.selectbox(key="exp_segment").set_value(None).run()
    page.multiselect(key="exp_inverse").set_value(["purchase conversion"]).run()
    assert not page.exception
    results = table(page, "Verdict")
    row = results[
        (results["Metric"] == "purchase conversion") & (results["Variant"] == "treatment")
    ]
    assert row["Verdict"].iloc[0].startswith("Loser")  # more purchases, but lower was better


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("exp_window", -3, "whole number of days"),
        ("exp_target", 0.0, "smallest lift"),
    ],
)
def test_bad_options_get_a_message(page, key, value, message):
    page.number_input(key=key).set_value(value).run()
    assert not page.exception, page.exception
    assert any(message in text for text in texts(page.warning))
    page.number_input(key=key).set_value(0 if key == "exp_window" else 5.0).run()


def test_no_metric_picked(page):
    page.multiselect(key="exp_metrics").set_value([]).run()
    assert not page.exception
    assert any("at least one metric" in text for text in texts(page.warning))
    page.multiselect(key="exp_metrics").set_value(["purchase conversion"]).run()


def test_the_sidebars_property_filters_count_only_matching_events():
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["f_platform"] = "web"
    at.switch_page("pages/experiments.py")
    at.run()
    assert not at.exception, at.exception
    said = " ".join(i.value for i in at.info).replace("\\", "")
    assert "platform = web" in said and "apply here" in said


def open_tab(at: AppTest, label: str) -> AppTest:
    """Open one of the page's lazy tabs as a link would (``exp_tab=<label>``)."""
    if at.query_params.get("exp_tab") != label:
        at.query_params["exp_tab"] = label
        at.run()
        assert not at.exception, at.exception
    return at


# --- typed in by hand ---------------------------------------------------------------------------


def test_the_typed_in_tab_draws_its_forest_plot_once_opened(page):
    open_tab(page, "Type in counts")
    drawn = [c.proto.id for c in page.get("plotly_chart")]
    assert len(drawn) == 1 and "exp_hand_forest" in drawn[0], drawn


def set_hand(at: AppTest, **values) -> AppTest:
    open_tab(at, "Type in counts")
    for key, value in values.items():
        at.number_input(key=f"exp_hand_{key}").set_value(value)
    at.run()
    assert not at.exception, at.exception
    return at


def reset_hand(at: AppTest) -> None:
    set_hand(
        at,
        control_users=10_000,
        treatment_users=10_000,
        control_conversions=1_000,
        treatment_conversions=1_080,
        share=50.0,
    )


def test_typed_in_counts(page):
    reset_hand(page)
    set_hand(
        page,
        control_users=20_000,
        treatment_users=20_000,
        control_conversions=2_000,
        treatment_conversions=2_300,
    )
    hand = hand_table(page)
    assert hand[hand["Variant"] == "treatment"]["Lift"].iloc[0] == "+15.0%"
    assert hand[hand["Variant"] == "treatment"]["Verdict"].iloc[0].startswith("Winner")
    reset_hand(page)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"control_conversions": 12_000}, "more than everyone"),
        ({"treatment_users": -5}, "users must be a whole number"),
        ({"control_users": 0, "control_conversions": 3}, "more than everyone"),
        ({"treatment_conversions": -1}, "conversions must be a whole number"),
        ({"share": 0.0}, "between 0% and 100%"),
        ({"share": 150.0}, "between 0% and 100%"),
    ],
)
def test_typed_in_bad_numbers_get_an_error(page, values, message):
    reset_hand(page)
    set_hand(page, **values)
    assert any(message in text for text in texts(page.error)), texts(page.error)
    reset_hand(page)


def test_typed_in_degenerate_counts_are_explained(page):
    reset_hand(page)
    set_hand(page, control_users=0, control_conversions=0)
    hand = hand_table(page)
    verdict = hand[(hand["Metric"] == "typed in") & (hand["Variant"] == "treatment")]["Verdict"]
    assert verdict.iloc[0] == "One of the groups has no users yet."
    set_hand(page, control_users=500, control_conversions=0)
    hand = hand_table(page)
    verdict = hand[(hand["Metric"] == "typed in") & (hand["Variant"] == "treatment")]["Verdict"]
    assert "nobody in control converted yet" in verdict.iloc[0]
    reset_hand(page)


def test_typed_in_split_mismatch_is_flagged(page):
    reset_hand(page)
    set_hand(page, treatment_users=11_000)
    assert any("Sample ratio mismatch" in text for text in texts(page.error))
    reset_hand(page)


def test_typed_in_averages(page):
    open_tab(page, "Type in counts")
    page.radio(key="exp_hand_kind").set_value("mean").run()
    assert not page.exception
    page.number_input(key="exp_hand_treatment_std").set_value(-2.0).run()
    assert any("standard deviation" in text for text in texts(page.error))
    page.number_input(key="exp_hand_treatment_std").set_value(15.0).run()
    page.number_input(key="exp_hand_treatment_mean").set_value(1e12).run()
    assert not page.exception
    page.number_input(key="exp_hand_treatment_mean").set_value(20.6)
    page.radio(key="exp_hand_kind").set_value("proportion").run()


# --- planning -------------------------------------------------------------------------------------


def test_plan_a_test(page):
    open_tab(page, "Plan a test")
    assert "exp_plan_curve" in page.get("plotly_chart")[0].proto.id
    plan = table(page, "Answer")
    answers = dict(zip(plan["Question"], plan["Answer"], strict=True))
    # 10% baseline, +5% relative, alpha 0.05, power 80%: 57,760 per arm; 115,520 at 1,000 a day.
    assert answers["Users needed in each variant"] == "57,760"
    assert answers["Days at this traffic"] == "116"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("exp_plan_rate", 150.0, "between 0% and 100%"),
        ("exp_plan_rate", 0.0, "between 0% and 100%"),
        ("exp_plan_mde", 0.0, "other than 0"),
        ("exp_plan_mde", 1000.0, "outside"),
        ("exp_plan_arms", 1, "at least 2 variants"),
        ("exp_plan_daily", -10, "0 or more"),
    ],
)
def test_plan_bad_numbers_get_an_error(page, key, value, message):
    open_tab(page, "Plan a test")
    before = page.number_input(key=key).value
    page.number_input(key=key).set_value(value).run()
    assert not page.exception, page.exception
    assert any(message in text for text in texts(page.error)), texts(page.error)
    page.number_input(key=key).set_value(before).run()


def test_plan_for_an_average_needs_a_spread(page):
    open_tab(page, "Plan a test")
    page.radio(key="exp_plan_kind").set_value("mean").run()
    page.number_input(key="exp_plan_std").set_value(0.0).run()
    assert not page.exception
    assert any("standard deviation" in text for text in texts(page.error))
    page.number_input(key="exp_plan_std").set_value(15.0).run()
    page.radio(key="exp_plan_kind").set_value("proportion").run()


# --- a source without experiments -----------------------------------------------------------------


def test_source_without_assignments(monkeypatch):
    import ui.experiments

    monkeypatch.setattr(ui.experiments, "_assignments", lambda: None)
    st.cache_data.clear()
    try:
        at = AppTest.from_file(APP, default_timeout=300)
        at.run()
        at.switch_page("pages/experiments.py").run()
        assert not at.exception, at.exception
        assert any("no experiment assignments" in text for text in texts(at.info))
        open_tab(at, "Plan a test")
        assert table(at, "Answer").shape[0] == 4  # the other tabs still work
    finally:
        st.cache_data.clear()
