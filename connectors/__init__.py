"""Everything that reads data from outside into the canonical schema (docs/data.md).

The one entry point is :func:`load_events`. See docs/data.md for sources and options.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from connectors.errors import ConnectorError
from connectors.report import LoadReport

__all__ = ["ConnectorError", "LoadReport", "is_url", "load_events", "warehouse"]


def __getattr__(name: str) -> Any:
    """``connectors.warehouse(...)`` (docs/warehouse.md), imported on first use: the SQL tier
    brings sqlglot and the engines' code, which a file source never needs."""
    if name == "warehouse":
        import connectors.warehouse as tier

        return tier
    raise AttributeError(f"module 'connectors' has no attribute {name!r}")


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def is_url(source: str | Path) -> bool:
    """Whether ``source`` is a database URL (``postgresql+psycopg://...``, ``sqlite:///...``)."""
    return isinstance(source, str) and bool(_URL.match(source)) and not source.startswith("file://")


def load_events(
    source: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    tz: str = "UTC",
    **options: Any,
) -> tuple[pl.LazyFrame, LoadReport]:
    """The canonical events of ``source`` (docs/data.md) and the report of what loading them did.

    ``source`` is ``"demo"`` (the built-in demo product), a SQLAlchemy URL (with ``table=`` or
    ``query=``), or a file path, glob or folder of CSV/TSV, Parquet or NDJSON files (also .gz),
    including the exports of Segment, Amplitude, Mixpanel, GA4, PostHog and Snowplow, recognised
    from their columns. ``mapping`` names the source column for a canonical one
    (``{"user_id": "customer"}``); ``tz`` is the zone of times that carry none.

    Options: ``start``/``end`` (keep those days only, pushed into the scan or the SQL), ``columns``
    (the property columns to keep); for files ``format`` and ``separator``; for SQL ``table``,
    ``query`` and the options of :func:`connectors.sql.load_sql`; for the demo ``cache_dir``,
    ``seed`` and ``users``. Raises :class:`ConnectorError` for bad input, naming the file, column,
    row or source.
    """
    if isinstance(source, str) and source == "demo":
        from connectors.demo import load_demo

        events, _, report = load_demo(tz=tz, **options)
        return events.lazy(), report
    if is_url(source):
        from connectors.sql import load_sql  # written alongside; imported only when used

        return load_sql(str(source), mapping=mapping, tz=tz, **options)  # type: ignore[no-any-return]
    import inspect

    from connectors.files import load_files

    known = set(inspect.signature(load_files).parameters) - {"source", "mapping", "tz"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConnectorError(
            f"{source}: unknown option {', '.join(map(repr, unknown))} "
            f"(files take {', '.join(sorted(known - {'collect'}))})"
        )
    return load_files(source, mapping=mapping, tz=tz, **options)
