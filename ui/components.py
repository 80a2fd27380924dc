"""Small widgets every page uses: a chart, its numbers a click away, a definition card."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from ui import text


def chart(figure: go.Figure, *, annotate: bool = True, **options: Any) -> None:
    """``st.plotly_chart`` of the figure with every text from the data shown as text
    (:func:`ui.text.safe_figure`): pages draw figures through here only.

    A time chart also shows the product's annotations (releases, incidents, experiment starts
    and ends, target changes: ``ui/annotations.py``) as labelled vertical lines;
    ``annotate=False`` leaves them off."""
    if annotate:
        from ui import annotations
        from ui.charts.annotations import annotate as draw_notes

        figure = draw_notes(figure, annotations.current(_zone()))
    st.plotly_chart(text.safe_figure(figure), **options)


def lazy_tabs(labels: list[str], *, key: str) -> list[tuple[Any, bool]]:
    """Tabs whose content is drawn only when open: ``[(tab, is_open), ...]``.

    A shared link opens fast when the browser draws only what the reader looks at (issue 14 item
    8): secondary charts go in a tab, and the page draws a tab's chart only while it is the
    selected one (Streamlit reruns on a switch). The selected tab is part of the link
    (``bind="query-params"``), so a colleague opens the same tab.
    """
    tabs = st.tabs(labels, key=key, on_change="rerun", bind="query-params")
    return [(tab, bool(tab.open)) for tab in tabs]


def lazy_sections(sections: Mapping[str, Callable[[], None]], *, key: str) -> None:
    """Tabs named by ``sections``' keys; only the open tab's function runs, so only its charts
    are computed and drawn (see ``lazy_tabs``)."""
    tabs = lazy_tabs(list(sections), key=key)
    for (tab, is_open), draw in zip(tabs, sections.values(), strict=True):
        if is_open:
            with tab:
                draw()


def lazy_expander(label: str, *, key: str, icon: str | None = None) -> tuple[Any, bool]:
    """A closed expander whose content is drawn only once opened: ``(expander, is_open)``."""
    box = st.expander(label, key=key, icon=icon, on_change="rerun")
    return box, bool(box.open)


def _zone() -> str:
    """The sidebar's reporting zone, for the days of experiment starts and ends."""
    from ui import state

    try:
        return state.shared().tz
    except Exception:  # noqa: BLE001 - no sidebar yet (a page under test): UTC
        return "UTC"


#: Width of a headline card in pixels: the number and its change fit whole; cards wrap onto a new
#: row in a narrow window rather than shrink and cut the number short ("14,2…").
HEADLINE_WIDTH = 190


def headline_row() -> st.delta_generator.DeltaGenerator:
    """A wrapping row for headline cards (``st.metric(..., width=HEADLINE_WIDTH)``)."""
    return st.container(horizontal=True, gap="small")


#: The prefix of every "Numbers behind this chart" expander's key in ``st.session_state``.
NUMBERS_KEY = "numbers_"


def numbers(
    frame: pl.DataFrame,
    *,
    name: str,
    key: str,
    column_config: dict | None = None,
    label: str = "Numbers behind this chart",
) -> None:
    """The chart's table in an expander, with a CSV download named after the chart.

    The table and the CSV are made and sent only while the expander is open (its state is
    ``st.session_state["numbers_" + key]``): every rerun of a page used to send every chart's
    table and CSV although nobody had opened them (issue 12 item 5, redraws; issue 14 item 8,
    shared links). Whole numbers show with the reader's thousands separators (6,321, not 6321)
    unless ``column_config`` says otherwise; the CSV keeps plain numbers."""
    box, opened = lazy_expander(label, key=f"{NUMBERS_KEY}{key}")
    if not opened:
        return
    config: dict[str, Any] = {
        column: st.column_config.NumberColumn(format="localized")
        for column, dtype in frame.schema.items()
        if dtype.is_integer()
    }
    config.update(column_config or {})
    with box:
        st.dataframe(frame, hide_index=True, column_config=config or None, width="stretch")
        st.download_button(
            "Download CSV",
            frame.write_csv().encode(),
            file_name=f"{name}.csv",
            mime="text/csv",
            key=f"dl_{key}",
        )


def definition(text: str) -> None:
    """A short card that says exactly what the chart counts, so two readers mean the same thing.

    ``text`` is Markdown written by the app: values from the data in it go through
    :func:`ui.text.md` or :func:`ui.text.code` first."""
    st.caption(f":material/info: {text}")


def filters_text(filters: dict[str, list[str]]) -> str:
    """The sidebar's property filters in words ("country = DE; platform = web, mobile"), escaped."""
    return "; ".join(
        f"{text.md(name)} = {', '.join(text.md(v) for v in values)}"
        for name, values in sorted(filters.items())
    )
