"""What a reader sees of Markdown that went through ``ui.text.md``: the escapes read back."""

from __future__ import annotations

import re

_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def shown(markdown: str) -> str:
    """The text Streamlit draws for ``markdown`` whose values were escaped by ``ui.text.md``."""
    return _ESCAPE.sub(r"\1", markdown).replace("\u200b", "")
