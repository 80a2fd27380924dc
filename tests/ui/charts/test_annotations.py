"""ui/charts/annotations.py: the product's notes on a small time chart: a dashed line per day,
labels stepped down and cut to their length, sparklines and non-time charts left alone, and the
notes' text (from a file) shown as text."""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go

from metrics.annotations import Annotation
from tests.ui.figures import HOSTILE, assert_shown_as_text
from ui.charts import annotations as notes_chart

D = dt.date
DAYS = [D(2026, 3, 2), D(2026, 3, 3), D(2026, 3, 4)]


def daily_figure(height: int | None = None) -> go.Figure:
    figure = go.Figure(go.Scatter(x=DAYS, y=[1, 2, 3]))
    if height is not None:
        figure.update_layout(height=height)
    return figure


def test_a_note_in_the_charts_dates_is_a_dashed_line_with_its_label():
    notes = [
        Annotation(D(2026, 3, 3), "release", "v2"),
        Annotation(D(2026, 3, 3), "incident", "outage"),  # the same day: one line
        Annotation(D(2026, 4, 1), "campaign", "later"),  # outside the chart: left out
    ]
    figure = notes_chart.annotate(daily_figure(), notes)
    (line,) = figure.layout.shapes
    assert (line.x0, line.line.dash) == ("2026-03-03", "dash")
    assert line.line.color == notes_chart.KIND_COLORS["release"]
    labels = [(a.text, a.hovertext) for a in figure.layout.annotations]
    assert labels == [
        ("Release: v2", "03 Mar 2026 · Release: v2"),
        ("Incident: outage", "03 Mar 2026 · Incident: outage"),
    ]
    assert figure.layout.annotations[0].y != figure.layout.annotations[1].y  # stepped down


def test_the_lines_and_labels_pass_plotlys_own_check():
    """``annotate`` adds plain properties without Plotly checking them again: a checked copy of
    the figure must be equal (and the check must not refuse any of them)."""
    notes = [Annotation(D(2026, 3, 3), "release", "v2"), Annotation(D(2026, 3, 4), "incident", "x")]
    figure = notes_chart.annotate(daily_figure(), notes)
    checked = go.Figure(figure.to_plotly_json())
    assert figure.to_plotly_json() == checked.to_plotly_json()
    assert [shape.name for shape in checked.layout.shapes] == [
        "annotation-release",
        "annotation-incident",
    ]


def test_a_sparkline_gets_lines_without_labels_and_other_charts_come_back_unchanged():
    note = [Annotation(D(2026, 3, 3), "release", "v2")]
    small = notes_chart.annotate(daily_figure(height=90), note)
    assert len(small.layout.shapes) == 1 and small.layout.annotations == ()
    bars = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]))
    assert notes_chart.annotate(bars, note) is bars  # no time axis


def test_a_long_note_is_cut_on_the_chart_and_whole_in_its_hover():
    text = "a very long note about the release of the new checkout"
    figure = notes_chart.annotate(daily_figure(), [Annotation(D(2026, 3, 2), "release", text)])
    (label,) = figure.layout.annotations
    assert len(label.text) == notes_chart.LABEL_CHARS and label.text.endswith("…")
    assert label.hovertext == f"02 Mar 2026 · Release: {text}"


def test_a_notes_text_is_shown_as_text():
    note = Annotation(D(2026, 3, 3), "release", HOSTILE)
    figure = notes_chart.annotate(daily_figure(), [note])
    # The label is cut to its length on the chart; the hover holds the whole note.
    assert_shown_as_text(figure)
