"""The canonical event and assignment frames (docs/data.md), declared once for every package."""

from __future__ import annotations

import polars as pl

UTC_MICROS = pl.Datetime("us", "UTC")

#: Required columns of the event frame and their types.
EVENT_REQUIRED: dict[str, pl.DataType] = {
    "user_id": pl.String(),
    "event": pl.String(),
    "timestamp": UTC_MICROS,
}

#: Optional columns with a fixed meaning; any other column is a flat event/user property.
EVENT_OPTIONAL: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "session_id": pl.String(),
    "revenue": pl.Float64(),
}

EVENT_SCHEMA: dict[str, pl.DataType] = {**EVENT_REQUIRED, **EVENT_OPTIONAL}

#: Experiment exposures: one row per user and experiment, at the first exposure.
ASSIGNMENT_SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.String(),
    "experiment": pl.String(),
    "variant": pl.String(),
    "timestamp": UTC_MICROS,
}


def empty_events() -> pl.DataFrame:
    """An event frame with no rows and the required columns."""
    return pl.DataFrame(schema=EVENT_REQUIRED)
