"""ui/charts/funnels.py: each builder on a small hand-built table, as metrics.funnels returns it:
its bars and lines, axis titles and units, users still in their window kept apart from the dropped,
and event names and breakdown values from the data shown as text."""

from __future__ import annotations

import datetime as dt

import polars as pl

from tests.ui.figures import HOSTILE, assert_shown_as_text, names
from ui.charts import funnels as charts

D = dt.date


def steps(events: list[str]) -> pl.DataFrame:
    """Two steps: 10 users, then 6 (3 dropped off, 1 still in their window)."""
    return pl.DataFrame(
        {
            "step": [1, 2],
            "event": events,
            "users": [10, 6],
            "conversion_rate": [1.0, 0.6],
            "conversion_rate_ci_low": [0.72, 0.31],
            "conversion_rate_ci_high": [1.0, 0.83],
            "step_conversion_rate": [1.0, 0.6],
            "median_seconds_to_convert": [None, 5400.0],
            "mean_seconds_to_convert": [None, 6000.0],
            "dropped_off": [0, 3],
            "still_in_window": [0, 1],
        }
    )


def test_steps_stack_reached_dropped_and_still_in_window():
    figure = charts.steps_figure(steps(["signup", "purchase"]))
    reached, dropped, still = figure.data
    assert names(figure) == ["Reached the step", "Dropped off", "Still in window"]
    assert list(reached.x) == ["1. signup", "2. purchase"]
    assert (list(reached.y), list(dropped.y), list(still.y)) == ([10, 6], [0, 3], [0, 1])
    assert list(reached.text) == ["100.0%", "60.0%"]
    assert reached.customdata[1][2] == "1.5 h"  # the median time, in words
    assert still.marker.pattern.shape == "/"
    assert figure.layout.barmode == "stack"
    assert figure.layout.yaxis.title.text == "Users"


def test_steps_show_event_names_as_text():
    assert_shown_as_text(charts.steps_figure(steps(["signup", HOSTILE])))


def test_breakdown_groups_a_bar_per_value_with_its_interval():
    table = pl.concat(
        [
            steps(["signup", "purchase"]).with_columns(platform=pl.lit("web")),
            steps(["signup", "purchase"])
            .with_columns(platform=pl.lit(HOSTILE), users=pl.Series([20, 6]))
            .with_columns(conversion_rate=pl.Series([1.0, 0.3])),
        ]
    )
    figure = charts.breakdown_figure(table, breakdown="platform")
    # The value with the most step-1 users first; each name carries its step-1 users.
    assert names(figure) == [f"{HOSTILE} (20)", "web (10)"]
    web = figure.data[1]
    assert list(web.y) == [1.0, 0.6]
    assert list(web.error_y.array) == [0.0, 0.83 - 0.6]
    assert list(web.error_y.arrayminus) == [1.0 - 0.72, 0.6 - 0.31]
    assert figure.layout.yaxis.title.text == "Converted from step 1"
    assert figure.layout.yaxis.tickformat == ".0%"
    assert figure.layout.legend.title.text == "platform"
    assert_shown_as_text(figure)


def test_trends_leave_gaps_for_empty_days_and_hollow_points_for_open_windows():
    trends = pl.DataFrame(
        {
            "period_start": [D(2026, 1, 5), D(2026, 1, 6), D(2026, 1, 7)],
            "entered": [4, 0, 2],
            "converted": [2, 0, 1],
            "conversion_rate": [0.5, 0.0, 0.5],
            "conversion_rate_ci_low": [0.15, None, 0.09],
            "conversion_rate_ci_high": [0.85, None, 0.91],
            "still_in_window": [0, 0, 1],
        }
    )
    figure = charts.trends_figure(trends, interval="day")
    band, line = figure.data
    assert names(figure) == ["95% interval", "Conversion"]
    assert list(band.y) == [0.85, 0.91, 0.09, 0.15]  # the days somebody entered, there and back
    assert list(line.y) == [0.5, None, 0.5]  # nobody entered on the 6th: a gap, not 0%
    assert list(line.marker.color) == [charts.CONVERTED_COLOR, charts.CONVERTED_COLOR, "white"]
    assert figure.layout.yaxis.title.text == "Converted"
    assert figure.layout.yaxis.tickformat == ".2~%"
    assert figure.layout.xaxis.title.text == "Day users entered"


def test_time_to_convert_labels_each_bin_in_words():
    histogram = pl.DataFrame(
        {
            "bin_start_seconds": [60.0, 3600.0],
            "bin_end_seconds": [3600.0, 172800.0],
            "users": [5, 2],
        }
    )
    figure = charts.time_to_convert_figure(histogram)
    (bars,) = figure.data
    assert list(bars.x) == ["60 s–60.0 min", "60.0 min–2.0 days"]  # under 90 min: minutes
    assert list(bars.y) == [5, 2]
    assert figure.layout.xaxis.title.text == "Time from step 1 to the last step"
    assert figure.layout.yaxis.title.text == "Users"


def test_next_events_put_the_most_common_on_top_and_show_names_as_text():
    table = pl.DataFrame({"event": ["help", HOSTILE], "users": [2, 1], "share": [2 / 3, 1 / 3]})
    figure = charts.next_events_figure(table)
    (bars,) = figure.data
    assert bars.orientation == "h"
    assert list(bars.y) == [HOSTILE, "help"]  # drawn bottom up: the most common last, on top
    assert list(bars.x) == [1, 2] and list(bars.text) == ["33%", "67%"]
    assert figure.layout.xaxis.title.text == "Users who dropped off"
    assert_shown_as_text(figure)
