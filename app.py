"""Northstar: the Streamlit entry point. Page config, navigation and the shared filters.

Run it with ``streamlit run app.py``; with no configuration it opens on the built-in demo product.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui import data, engine, product, shell, state, text, views

# A favicon served by the app itself: a Material icon name would make every browser fetch it from
# fonts.gstatic.com, and nothing the app shows may need an outside address.
FAVICON = Path(__file__).resolve().parent / "ui" / "assets" / "favicon.png"
st.set_page_config(page_title="Northstar", page_icon=str(FAVICON), layout="wide")

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/star:", default=True),
    st.Page("pages/engagement.py", title="Engagement", icon=":material/monitoring:"),
    st.Page("pages/retention.py", title="Retention", icon=":material/event_repeat:"),
    st.Page("pages/funnels.py", title="Funnels", icon=":material/filter_alt:"),
    st.Page("pages/experiments.py", title="Experiments", icon=":material/science:"),
    st.Page("pages/data.py", title="Data", icon=":material/database:"),
]

shell.mark_ran()
page = st.navigation(PAGES)
shell.source_line()

try:
    data.loaded()
except data.SourceError as exc:
    # The Data page is where a broken source gets fixed, so it still runs without filters.
    st.error(text.md(product.load_failure(data.source_name(), str(exc))))
    if page.title != "Data":
        st.info("Open the Data page to pick another source.")
        st.stop()
else:
    try:
        views.open_from_link(page.title)  # ?view=<name>: a saved view, before its controls
        state.render_sidebar()
        views.sidebar(page.title)
    except engine.ENGINE_ERRORS as exc:
        if not data.in_engine():
            raise
        st.error(engine.failure(exc))  # e.g. the database went away since the source opened
        st.stop()

try:
    page.run()
except engine.ENGINE_ERRORS as exc:
    # A source computed in its engine: whatever the engine cannot answer (a missing column, a
    # function its dialect lacks or not computed in SQL yet, a lost connection) is said in words
    # where the page got to, never as a traceback (ui/engine.py).
    if not data.in_engine():
        raise
    st.error(engine.failure(exc), icon=":material/database:")
