"""Story-style builders shared by every test.

    events(
        ("alice", "signup", "2026-01-05 10:00"),
        ("alice", "purchase", "2026-01-07 09:30", {"revenue": 20.0, "platform": "ios"}),
    )

Times are UTC unless they carry an offset ("2026-01-05 10:00+01:00").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest
from hypothesis import settings

from metrics.schema import EVENT_REQUIRED

# The cross-engine matrix repeats each example on an engine: no per-example deadline.
settings.register_profile("northstar", deadline=None)
settings.load_profile("northstar")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups in the same hook
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that runs on Spark goes to one test worker (``--dist loadgroup``, pyproject's
    addopts): a worker's first Spark test starts the JVM, so this keeps one Spark session per
    run, and Spark's ``local[2]`` does not compete with a second Spark for the two cores."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "spark" in (params.get("engine"), params.get("engine_name")):
            item.add_marker(pytest.mark.xdist_group("spark"))


def ts(text: str) -> dt.datetime:
    """A UTC datetime from 'YYYY-MM-DD HH:MM[:SS][±HH:MM]' (naive means UTC)."""
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def make_events(*rows: tuple[Any, ...]) -> pl.DataFrame:
    """A canonical event frame from (user, event, time[, properties]) tuples."""
    records: list[dict[str, Any]] = []
    for row in rows:
        user, event, when = row[:3]
        props = row[3] if len(row) > 3 else {}
        records.append({"user_id": user, "event": event, "timestamp": ts(when), **props})
    if not records:
        return pl.DataFrame(schema=EVENT_REQUIRED)
    frame = pl.DataFrame(records, infer_schema_length=None)
    return frame.with_columns(
        pl.col("user_id").cast(pl.String),
        pl.col("event").cast(pl.String),
        pl.col("timestamp").cast(pl.Datetime("us", "UTC")),
    )


@pytest.fixture
def events():
    """The story builder as a fixture: ``events(("u1", "signup", "2026-01-05 10:00"), ...)``."""
    return make_events
