"""ui/charts/experiments.py: the forest plot, the effect over time and the planning curve, built
without Streamlit."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

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
