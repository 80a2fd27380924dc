"""What the chart-builder tests share: a hostile value, and the check that a value from the data is
shown as text in a figure, never read as HTML (docs/app.md; ui/text.py is the one escaping door).

A builder writes a value into its hover *templates* escaped (``ui.text.plot``), because the door
leaves templates alone; every other string a figure shows (trace names, category labels, titles,
text, annotations) is escaped once, at the door, by ``ui.text.safe_figure``, which is how
``ui.components.chart`` and the review draw every figure.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import plotly.graph_objects as go

from ui.text import plot, safe_figure

#: Live HTML for Plotly (a link and bold text) and an ampersand.
HOSTILE = '<a href="http://evil.example/x">x</a> & <b>bold</b>'
TEMPLATES = frozenset({"hovertemplate", "texttemplate", "hovertemplatefallback"})


def strings(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(property, text) for every string a figure's JSON holds, the theme left out."""
    if hasattr(node, "tolist") and not isinstance(node, str):
        node = node.tolist()
    if isinstance(node, str):
        yield key, node
    elif isinstance(node, dict):
        for k, v in node.items():
            if k != "template":
                yield from strings(v, k)
    elif isinstance(node, list | tuple):
        for v in node:
            yield from strings(v, key)


def assert_shown_as_text(figure: go.Figure, value: str = HOSTILE) -> None:
    """``value`` reaches the figure, and only as literal text, escaped exactly once."""
    templates = [text for key, text in strings(figure.to_plotly_json()) if key in TEMPLATES]
    assert not any(value in text for text in templates), "a raw value in a hover template"
    shown = [text for _, text in strings(safe_figure(figure).to_plotly_json())]
    assert not any(value in text for text in shown), "a raw value after the escaping door"
    assert any(plot(value) in text for text in shown), "the value is not shown at all"
    assert not any(plot(plot(value)) in text for text in shown), "the value is escaped twice"


def names(figure: go.Figure) -> list[str | None]:
    """The traces' names, in drawing order."""
    return [trace.name for trace in figure.data]


def shown_names(figure: go.Figure) -> list[str]:
    """The names of the traces that have a legend entry."""
    return [t.name for t in figure.data if t.name is not None and t.showlegend is not False]
