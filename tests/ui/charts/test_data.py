"""ui/charts/data.py: the Data page's events by name, on a small hand-built table: bars with the
most frequent on top, the axis in events, event names shown as text."""

from __future__ import annotations

import polars as pl

from tests.ui.figures import HOSTILE, assert_shown_as_text
from ui.charts import data


def test_events_by_name_are_bars_with_the_most_frequent_on_top():
    table = pl.DataFrame({"event": ["signup", "page_view", HOSTILE], "events": [10, 200, 3]})
    figure = data.events_by_name_figure(table)
    (bars,) = figure.data
    assert list(bars.y) == [HOSTILE, "signup", "page_view"]  # drawn bottom up
    assert list(bars.x) == [3, 10, 200]
    assert figure.layout.xaxis.title.text == "Events kept"
    assert figure.layout.xaxis.tickformat == ","
    assert_shown_as_text(figure)
