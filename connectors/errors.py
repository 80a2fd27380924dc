"""The one exception for bad input, and the masking that keeps secrets out of its message."""

from __future__ import annotations

import re

# scheme://user:password@host -> scheme://user:***@host (SQLAlchemy and libpq URLs alike).
_URL_PASSWORD = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<secret>[^@\s]*)(?=@)"
)
# key=value secrets in DSNs and query strings: password=..., pwd=..., secret=..., token=...
_KEY_SECRET = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd|secret|token|api_key|apikey)\s*=\s*)(?P<secret>[^&;\s]+)",
    re.IGNORECASE,
)


def mask_secrets(text: str) -> str:
    """``text`` with every URL password and ``password=...`` value replaced by ``***``."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + "***", text)
    return _KEY_SECRET.sub(lambda m: m.group("head") + "***", text)


class ConnectorError(Exception):
    """Bad input from outside: a file, column, row or source that cannot be read as events.

    The message names what is wrong and where (file, column, row or source) and is safe to show on a
    page: any password in it is masked when the error is created.
    """

    def __init__(self, message: str) -> None:
        super().__init__(mask_secrets(message))
