"""Make sure every page runs inside the app shell (navigation, layout, shared filters).

On a freshly started server, Streamlit's legacy multipage mode sees the ``pages/`` folder and, for a
link straight to a page (``/funnels?...``), runs that page file on its own, without ``app.py``: no
filters, no navigation, file names in the sidebar. That mode is switched off for good the first time
``st.navigation`` runs; until then :func:`ensure` switches it off and reruns, so the request goes
through ``app.py`` and lands on the page the link asked for.
"""

from __future__ import annotations

import streamlit as st

_MARK = "_northstar_shell_ran"


def mark_ran() -> None:
    """Called by app.py at the top of every run."""
    st.session_state[_MARK] = True


def ensure() -> None:
    """Rerun through app.py when a page file was started on its own (see the module docstring)."""
    if st.session_state.get(_MARK):
        return
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False
    mark_ran()
    st.rerun()


def source_line() -> None:
    """Every page says which source its numbers come from (in the sidebar, above the filters)
    and, when it is not the configured default because sources.toml is broken, why (on the page
    itself): a broken configuration is never silent."""
    from ui import data, product, text

    name = data.source_name()
    with st.sidebar:
        st.caption(f":material/database: Data: **{text.md(product.describe(name))}**")
    why = product.notice(name)
    if why:
        st.warning(text.md(why), icon=":material/warning:")
