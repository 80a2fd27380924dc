"""Everything that reads data from outside into the canonical schema (SPEC §2).

The one entry point is :func:`load_events`. See docs/data.md for sources and options.
"""

from __future__ import annotations

from connectors.errors import ConnectorError
from connectors.report import LoadReport

__all__ = ["ConnectorError", "LoadReport", "load_events"]


def load_events(source, *, mapping=None, tz="UTC", **options):  # type: ignore[no-untyped-def]
    """Placeholder replaced by the connectors work of issue 2."""
    raise NotImplementedError
