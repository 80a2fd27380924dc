"""Small widgets every page uses: a chart's numbers a click away, a definition card."""

from __future__ import annotations

import polars as pl
import streamlit as st


def numbers(
    frame: pl.DataFrame,
    *,
    name: str,
    key: str,
    column_config: dict | None = None,
    label: str = "Numbers behind this chart",
) -> None:
    """The chart's table in an expander, with a CSV download named after the chart."""
    with st.expander(label):
        st.dataframe(frame, hide_index=True, column_config=column_config, width="stretch")
        st.download_button(
            "Download CSV",
            frame.write_csv().encode(),
            file_name=f"{name}.csv",
            mime="text/csv",
            key=f"dl_{key}",
        )


def definition(text: str) -> None:
    """A short card that says exactly what the chart counts, so two readers mean the same thing."""
    st.caption(f":material/info: {text}")
