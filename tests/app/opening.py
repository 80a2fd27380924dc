"""Opening what a page keeps closed until a reader asks for it, as a reader would."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from ui.components import NUMBERS_KEY


def open_numbers(at: AppTest) -> AppTest:
    """Every "Numbers behind this chart" expander of the page opened (their tables and CSV
    downloads are drawn only then), and the page run again."""
    closed = [key for key in at.session_state if str(key).startswith(NUMBERS_KEY)]
    for key in closed:
        at.session_state[key] = True
    return at.run()
