"""Text from the data or from files is shown as text: the app's one escaping boundary.

Event names, property values, variant and experiment names, column names, KPI names and
descriptions, owners, source names, paths and error messages that quote any of them come from
outside. None of them may be read as Markdown by Streamlit (a ``![x](http://…)`` would make the
browser fetch an outside address, a ``[x](…)`` would be a live link, ``$…$`` a formula,
``:red[…]`` coloured) or as HTML by Plotly (``<a href=…>`` in a title is a live link). So every
such value goes through one of these helpers on its way to the screen:

- :func:`md` in anything Streamlit renders as Markdown: ``st.markdown``, ``st.caption``,
  ``st.info``/``warning``/``error``/``success``, ``st.write`` of a string, ``st.title``, widget and
  button labels, ``help=`` tooltips, ``st.toast``;
- :func:`code` for a value shown as inline code (an event name in a definition card);
- :func:`plot` for a value written into a Plotly *template* (``hovertemplate``); everything else
  a figure shows (titles, trace names, category labels, text, annotations) is escaped once, at
  the door, by :func:`safe_figure` (``ui.components.chart`` on the pages, the review's figures);
- :func:`html` in the leadership review's hand-written HTML.

Tables (``st.dataframe``) and the options of select boxes show plain text and need nothing.
No Streamlit import: the chart builders and the offline review use this module too.
"""

from __future__ import annotations

import html as _html
import re
from typing import Any

import plotly.graph_objects as go

#: Every ASCII punctuation character: CommonMark lets a backslash escape each of them, and with all
#: of them escaped no Markdown (or GFM, math, directive, autolink) construct can start.
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
#: Where GFM's autolink literals start (http://, www., an e-mail's @): a zero-width space breaks
#: each.
_AUTOLINK = re.compile(r":(?=//)|(?i:www)(?=\.)|@")
_ZWSP = "\u200b"
#: Plotly properties that are templates (their ``%{…}`` and markup are the builder's own).
_TEMPLATES = frozenset({"hovertemplate", "texttemplate", "hovertemplatefallback"})


def _one_line(value: Any) -> str:
    return " ".join(str(value).split("\n")).replace("\r", " ")


def md(value: Any) -> str:
    """``value`` as literal text inside Markdown: every punctuation mark backslash-escaped and line
    breaks made spaces, so it can neither start a Markdown construct nor a new block; a zero-width
    space after ``://``'s colon, ``www`` and ``@`` keeps GFM from turning a bare address into a
    link (it finds them in the text after escapes are read, so escaping alone is not enough)."""
    text = _AUTOLINK.sub(lambda found: found.group(0) + _ZWSP, _one_line(value))
    return _PUNCTUATION.sub(r"\\\1", text)


def code(value: Any) -> str:
    """``value`` as an inline code span (shown as typed, in a monospace font)."""
    text = _one_line(value)
    if not text.strip():
        return md(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def plot(value: Any) -> str:
    """``value`` as literal text for Plotly, which reads a subset of HTML (``<a>``, ``<b>``,
    ``<br>``, entities) in every text it draws."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def html(value: Any) -> str:
    """``value`` as literal text in HTML (the leadership review), quotes included."""
    return _html.escape(str(value), quote=True)


def _escape_strings(node: Any, key: str = "") -> Any:
    if key in _TEMPLATES or key == "template":
        return node
    if isinstance(node, str):
        return plot(node)
    if isinstance(node, dict):
        return {k: _escape_strings(v, k) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_escape_strings(v, key) for v in node]
    if hasattr(node, "dtype") and getattr(node.dtype, "kind", "") in ("O", "U", "S"):
        return [_escape_strings(v, key) for v in node.tolist()]
    return node


def safe_figure(figure: go.Figure) -> go.Figure:
    """A copy of ``figure`` whose every displayed string is literal text for Plotly.

    Every string except the templates (``hovertemplate``, ``texttemplate``) and the theme is
    escaped with :func:`plot`: colours, modes and formats contain no ``<``, ``>`` or ``&``, so only
    text from the data changes. Call it once per figure, where it is shown.
    """
    escaped = _escape_strings(figure.to_plotly_json())
    return unchecked_figure(escaped)


def unchecked_figure(spec: dict[str, Any]) -> go.Figure:
    """A figure of ``spec``, which was made from a figure Plotly already checked, without
    Plotly checking every property again: that check cost about 13 ms a chart, most of a warm
    redraw's chart time (issue 12 item 5). ``_validate`` is Plotly's own switch for this (its
    templates are built so); tests/app/test_escaping.py checks the result equals a checked one."""
    return go.Figure(spec, _validate=False)
