"""Annotations on a time chart: a dashed vertical line on each note's day, labelled.

:func:`annotate` takes any figure whose x axis is time and the product's notes
(:mod:`metrics.annotations`) and returns a copy with a marker for each note inside the chart's
dates. The label (kind and text, cut to :data:`LABEL_CHARS`) is a layout annotation and the
whole note its hover text; both are escaped at the door like every text a figure shows
(``ui.text.safe_figure``, in ``ui.components.chart`` and in the review), never here, so nothing
is escaped twice. No Streamlit here: the pages and the review both use it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

import plotly.graph_objects as go

from metrics.annotations import Annotation
from ui.text import unchecked_figure

#: Each kind's colour: releases green, incidents red, campaigns purple, experiments blue.
KIND_COLORS: dict[str, str] = {
    "release": "#1a7f37",
    "incident": "#cf222e",
    "campaign": "#8250df",
    "experiment_start": "#0969da",
    "experiment_end": "#0969da",
    "target_change": "#6e7781",
}
#: Figures less tall than this (sparklines) get lines without labels.
SMALL_HEIGHT = 150
#: How many rows the labels step through, top down.
LABEL_ROWS = 3
#: The longest label drawn on the chart; the hover has the whole note.
LABEL_CHARS = 32
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _day(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if hasattr(value, "dtype") and str(getattr(value, "dtype", "")).startswith("datetime64"):
        return dt.date.fromisoformat(str(value)[:10])
    if hasattr(value, "to_pydatetime"):  # a pandas Timestamp
        return value.to_pydatetime().date()
    if isinstance(value, str) and _ISO_DAY.match(value):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def date_span(figure: go.Figure) -> tuple[dt.date, dt.date] | None:
    """The first and last day a figure's traces draw on its first x axis, or None when that axis
    is not time (categories, numbers)."""
    days: list[dt.date] = []
    for trace in figure.data:
        if getattr(trace, "xaxis", None) not in (None, "x"):
            continue
        xs = getattr(trace, "x", None)
        if xs is None or len(xs) == 0:
            continue
        first, last = _day(xs[0]), _day(xs[-1])
        if first is None or last is None:
            continue
        found = [d for d in (_day(x) for x in xs) if d is not None]
        days += [min(found), max(found)]
    if not days:
        return None
    return min(days), max(days)


def _label(note: Annotation) -> str:
    text = note.label
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def annotate(figure: go.Figure, annotations: Iterable[Annotation]) -> go.Figure:
    """A copy of a time chart with each note inside its dates drawn as a labelled vertical line.

    A figure whose x axis is not time, or with no note in its span, comes back unchanged. Several
    notes on one day share one line; labels step down in turn so neighbours stay legible.
    """
    span = date_span(figure)
    if span is None:
        return figure
    start, end = span
    chosen = [n for n in annotations if start <= n.date <= end]
    if not chosen:
        return figure
    spec = figure.to_plotly_json()
    layout = spec.setdefault("layout", {})
    shapes = layout.setdefault("shapes", [])
    labels = layout.setdefault("annotations", [])
    # A sparkline (under SMALL_HEIGHT px) gets the lines only: labels would cover it.
    labelled = (layout.get("height") or 450) >= SMALL_HEIGHT
    per_day: dict[dt.date, int] = {}
    for note in chosen:
        row = per_day.get(note.date, 0)
        per_day[note.date] = row + 1
        color = KIND_COLORS[note.kind]
        if row == 0:
            shapes.append(
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "paper",
                    "x0": note.date.isoformat(),
                    "x1": note.date.isoformat(),
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": color, "width": 1.5, "dash": "dash"},
                    "layer": "above",
                    "name": f"annotation-{note.kind}",
                }
            )
        if not labelled:
            continue
        labels.append(
            {
                "x": note.date.isoformat(),
                "xref": "x",
                "yref": "paper",
                # Labels step down in turn (three rows), so neighbouring notes do not overlap.
                "y": 1 - 0.07 * (len(labels) % LABEL_ROWS),
                "yanchor": "top",
                "xanchor": "left",
                "showarrow": False,
                "text": _label(note),
                "hovertext": f"{note.date:%d %b %Y} · {note.label}",
                "font": {"size": 10, "color": color},
                "bgcolor": "rgba(255,255,255,0.8)",
                "name": "annotation",
            }
        )
    # Plain properties added to a checked figure: no second check (ui.text.unchecked_figure).
    return unchecked_figure(spec)
