"""The Experiments page in AppTest: the demo's experiment, every method, and numbers typed by hand.

Nothing typed may crash the page: bad numbers get a sentence that says what to fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

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
    # forest plot, effect over time, and (other tabs) the typed-in forest and the plan curve
    assert len(page.get("plotly_chart")) >= 4
    assert len(page.get("download_button")) >= 4  # every table downloadable
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


# --- typed in by hand ---------------------------------------------------------------------------


def set_hand(at: AppTest, **values) -> AppTest:
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
    before = page.number_input(key=key).value
    page.number_input(key=key).set_value(value).run()
    assert not page.exception, page.exception
    assert any(message in text for text in texts(page.error)), texts(page.error)
    page.number_input(key=key).set_value(before).run()


def test_plan_for_an_average_needs_a_spread(page):
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
        assert table(at, "Answer").shape[0] == 4  # the other tabs still work
    finally:
        st.cache_data.clear()


# --- chart builders and plain words, without Streamlit ------------------------------------------


def test_forest_plot_marks_rows_without_an_interval():
    import polars as pl

    from ui.charts.experiments import NO_TEST_COLOUR, VERDICT_COLOURS, forest_plot

    rows = pl.DataFrame(
        {
            "metric": ["conversion", "revenue"],
            "variant": ["treatment", "treatment"],
            "is_control": [False, False],
            "relative_effect": [0.10, None],
            "relative_ci_low": [0.05, None],
            "relative_ci_high": [0.16, None],
            "verdict": ["winner", None],
        },
        schema_overrides={
            "relative_effect": pl.Float64,
            "relative_ci_low": pl.Float64,
            "relative_ci_high": pl.Float64,
            "verdict": pl.String,
        },
    )
    trace = forest_plot(rows).data[0]
    assert list(trace.x) == pytest.approx([10.0, 0.0])  # percent; the untestable row sits at 0
    assert list(trace.error_x.arrayminus) == pytest.approx([5.0, 0.0])
    assert list(trace.error_x.array) == pytest.approx([6.0, 0.0])
    assert list(trace.marker.color) == [VERDICT_COLOURS["winner"], NO_TEST_COLOUR]
    assert forest_plot(rows.head(0)).layout.annotations  # an empty result says so


def test_cumulative_chart_and_sample_size_curve():
    import datetime as dt

    import polars as pl

    from ui.charts.experiments import cumulative_chart, sample_size_curve

    daily = pl.DataFrame(
        {
            "day": [dt.date(2026, 9, 1), dt.date(2026, 9, 2), dt.date(2026, 9, 3)],
            "variant": ["treatment"] * 3,
            "relative_effect": [None, 0.2, 0.1],
            "relative_ci_low": [None, -0.1, 0.02],
            "relative_ci_high": [None, 0.5, 0.18],
        },
        schema_overrides={
            c: pl.Float64 for c in ("relative_effect", "relative_ci_low", "relative_ci_high")
        },
    )
    band, line = cumulative_chart(daily).data
    assert list(line.y) == pytest.approx([20.0, 10.0])  # the day without an interval is skipped
    assert len(band.x) == 4
    assert cumulative_chart(daily.head(1)).layout.annotations
    curve = sample_size_curve(pl.DataFrame({"mde": [0.05, 0.1], "users_per_arm": [57760, 14749]}))
    assert list(curve.data[0].x) == pytest.approx([5.0, 10.0])


def test_verdicts_in_plain_words():
    from ui.experiments import Need, chance, verdict_words

    row = {"is_control": False, "verdict": "inconclusive", "status": "ok", "users": 1000}
    assert verdict_words(row, Need(57_760, 12), 0.05).startswith("Not enough data yet: about 12")
    assert verdict_words(row, Need(57_760, None), 0.05).endswith("needed to detect a 5% change")
    assert verdict_words(row, Need(800, None), 0.05).startswith("No clear difference")
    assert verdict_words(
        {**row, "verdict": None, "status": "zero_variance"}, Need(None, None), 0.05
    ).startswith("Every user in one group")
    assert chance(0.99996) == "> 99.9%" and chance(0.0) == "< 0.1%" and chance(0.5) == "50.0%"


def test_srm_banner_names_the_segment_whose_split_is_off():
    import polars as pl

    from ui.experiments import srm_banner

    frame = pl.DataFrame(
        {
            "segment": ["web", "web", "mobile", "mobile"],
            "metric": ["purchase conversion"] * 4,
            "variant": ["control", "treatment"] * 2,
            "users": [500, 510, 100, 300],
            "srm_p_value": [0.75, 0.75, 1e-9, 1e-9],
            "srm_mismatch": [False, False, True, True],
            "excluded_users": [3] * 4,
        }
    )
    banner = srm_banner(frame)
    assert banner["mismatch"] and banner["level"] == "error"
    assert "segment 'mobile'" in banner["message"]
    assert "control 600, treatment 810" in banner["message"]
    fine = srm_banner(frame.filter(pl.col("segment") == "web"))
    assert fine["level"] == "success" and "3 users saw several variants" in fine["message"]
