"""ui/charts/experiments.py: the forest plot, the effect over time and the planning curve, built
without Streamlit.
Also the figures on small hand-built tables: markers and traces, axis titles and units, and
names from the data shown as text."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from tests.ui.figures import HOSTILE, assert_shown_as_text, names
from ui.charts import experiments as charts
from ui.charts.experiments import (
    NO_TEST_COLOUR,
    VERDICT_COLOURS,
    cumulative_chart,
    forest_plot,
    sample_size_curve,
)


def test_forest_plot_marks_rows_without_an_interval():
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


D = dt.date
FLOAT = pl.Float64


def results(variant: str = "treatment", segment: str | None = None) -> pl.DataFrame:
    """One control row and two treatment rows: a winner, and one without an interval yet."""
    return pl.DataFrame(
        {
            "metric": ["conversion", "conversion", "revenue"],
            "variant": ["control", variant, variant],
            "segment": [segment] * 3,
            "is_control": [True, False, False],
            "relative_effect": [None, 0.10, None],
            "relative_ci_low": [None, 0.05, None],
            "relative_ci_high": [None, 0.16, None],
            "absolute_effect": [None, 0.02, None],
            "absolute_ci_low": [None, 0.01, None],
            "absolute_ci_high": [None, 0.03, None],
            "verdict": [None, "winner", None],
        },
        schema_overrides={
            "segment": pl.String,
            "verdict": pl.String,
            **{
                f"{s}_{p}": FLOAT
                for s in ("relative", "absolute")
                for p in ("effect", "ci_low", "ci_high")
            },
        },
    )


def test_forest_plot_puts_each_treatment_row_at_its_lift_with_its_interval():
    figure = charts.forest_plot(results())
    (dots,) = figure.data
    assert list(dots.y) == ["conversion · treatment", "revenue · treatment"]  # no control row
    assert list(dots.x) == pytest.approx([10.0, 0.0])  # percent; no interval yet: at 0
    assert list(dots.error_x.arrayminus) == pytest.approx([5.0, 0.0])
    assert list(dots.error_x.array) == pytest.approx([6.0, 0.0])
    assert list(dots.marker.color) == [charts.VERDICT_COLOURS["winner"], charts.NO_TEST_COLOUR]
    assert list(dots.marker.symbol) == ["circle", "circle-open"]
    assert list(dots.text) == ["+10.00% [+5.00, +16.00]", "no interval yet"]
    assert figure.layout.xaxis.title.text == "Lift vs control (%)"
    assert figure.layout.shapes[0].x0 == 0  # no change, marked


def test_forest_plot_on_the_absolute_scale():
    figure = charts.forest_plot(results(), scale="absolute")
    assert list(figure.data[0].x) == pytest.approx([0.02, 0.0])
    assert figure.data[0].text[0] == "+0.02 [+0.01, +0.03]"
    assert figure.layout.xaxis.title.text == "Difference vs control"


def test_forest_plot_without_a_treatment_row_says_so():
    figure = charts.forest_plot(results().filter(pl.col("is_control")))
    assert names(figure) == []
    assert [a.text for a in figure.layout.annotations] == ["No treatment variant to compare yet"]


def test_forest_plot_shows_variant_and_segment_names_as_text():
    assert_shown_as_text(charts.forest_plot(results(variant=HOSTILE)))
    assert_shown_as_text(charts.forest_plot(results(segment=HOSTILE)))


def daily(variant: str = "treatment") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "day": [D(2026, 9, 1), D(2026, 9, 2), D(2026, 9, 3)],
            "variant": [variant] * 3,
            "relative_effect": [None, 0.2, 0.1],
            "relative_ci_low": [None, -0.1, 0.02],
            "relative_ci_high": [None, 0.5, 0.18],
        },
        schema_overrides={"relative_effect": FLOAT, "relative_ci_low": FLOAT},
    )


def test_cumulative_chart_draws_each_variant_with_its_band_from_the_first_day_with_one():
    figure = charts.cumulative_chart(daily())
    band, line = figure.data
    assert names(figure) == ["treatment interval", "treatment"]
    assert list(band.x) == [D(2026, 9, 2), D(2026, 9, 3), D(2026, 9, 3), D(2026, 9, 2)]
    assert list(band.y) == pytest.approx([50.0, 18.0, 2.0, -10.0])
    assert list(line.y) == pytest.approx([20.0, 10.0])  # the day without an interval is left out
    assert figure.layout.yaxis.title.text == "Lift vs control (%)"
    assert figure.layout.xaxis.title.text == "Day (results as of the end of the day)"


def test_cumulative_chart_without_an_interval_on_any_day_says_so():
    figure = charts.cumulative_chart(daily().head(1))
    assert [a.text for a in figure.layout.annotations] == ["Not enough data on any day yet"]


def test_cumulative_chart_shows_variant_names_as_text():
    assert_shown_as_text(charts.cumulative_chart(daily(variant=HOSTILE)))


def test_sample_size_curve_is_users_per_arm_on_a_log_scale_with_the_chosen_lift():
    plan = pl.DataFrame({"mde": [0.05, 0.1], "users_per_arm": [57760, 14749]})
    figure = charts.sample_size_curve(plan, chosen_mde=0.1)
    assert list(figure.data[0].x) == pytest.approx([5.0, 10.0])
    assert list(figure.data[0].y) == [57760, 14749]
    assert figure.layout.yaxis.type == "log"
    assert figure.layout.yaxis.title.text == "Users needed per arm"
    assert figure.layout.xaxis.title.text == "Smallest lift worth detecting (% of the baseline)"
    assert figure.layout.shapes[0].x0 == pytest.approx(10.0)
    empty = charts.sample_size_curve(plan.head(0))
    assert [a.text for a in empty.layout.annotations] == ["No plan to draw"]
