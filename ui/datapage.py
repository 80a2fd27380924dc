"""Adapters for the Data page: the source list, the load report as tables, schema and sample.

The pure functions (``*_table``, :func:`describe_columns`) take a report or a frame and are tested
without Streamlit; the cached ones take the *source key* (:func:`ui.data.source_key`), like every
adapter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import streamlit as st

import connectors
from connectors.report import DROP_REASONS, LoadReport
from metrics.warehouse import Relation
from metrics.warehouse import catalogue as sql
from ui import data, engine
from ui.text import md

#: How the page names each drop reason.
REASON_LABELS: dict[str, str] = {
    "filtered_out": "Left out by the source's where condition",
    "no_user": "No user id",
    "no_event": "No event name",
    "unparseable_time": "Time missing or unreadable",
    "duplicate_event_id": "Repeated event_id",
}
#: What the canonical columns mean (docs/data.md); every other column is a property.
MEANINGS: dict[str, str] = {
    "user_id": "the person (after identity resolution)",
    "event": "event name",
    "timestamp": "when it happened (UTC)",
    "event_id": "unique id (repeats dropped)",
    "session_id": "session",
    "revenue": "money attached to the event",
    "anonymous_id": "device or cookie id before login",
}
SAMPLE_ROWS = 100

#: An absolute path in a text: /srv/data/events.csv, C:\\data\\events.csv, ~/exports/x.csv.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/\\])(?:[A-Za-z]:[\\/]|~/|/)[^\s'\"`,;()<>]+")


def without_server_paths(text: str, root: Path | None = None) -> str:
    """``text`` with every absolute path on the server made relative to the project folder
    (``root``, the working folder where sources.toml lives), or cut to its file name when it lies
    elsewhere: a page says ``data/events.csv``, never ``/home/ana/northstar/data/events.csv``.
    """
    base = (root or Path.cwd()).resolve()

    def shown(match: re.Match[str]) -> str:
        raw = match.group(0)
        trail = raw[len(raw.rstrip(".:")) :]  # a sentence's full stop is not part of the path
        path = Path(raw[: len(raw) - len(trail)]).expanduser()
        try:
            return path.resolve().relative_to(base).as_posix() + trail
        except ValueError:
            return (re.split(r"[\\/]", str(path))[-1] or "…") + trail

    return _ABSOLUTE_PATH.sub(shown, text)


#: The sources.toml example the page shows under "Connect your own data".
EXAMPLE_SOURCES = """\
[sources.shop]
path = "data/events/*.parquet"
tz = "Europe/Berlin"                     # zone of times written without one
mapping = { user_id = "customer_id" }    # canonical column = your column

[sources.warehouse]
url = "postgresql+psycopg://analyst@db.internal:5432/analytics"
password_env = "WAREHOUSE_PASSWORD"      # the password comes from the environment
table = "events"
"""


@dataclass(frozen=True)
class SourceChoices:
    """The sources the picker offers, how to label them, and a problem with the file, if any."""

    names: list[str]
    labels: dict[str, str]
    problem: str | None = None


def source_choices() -> SourceChoices:
    """Every configured source (the demo alone when sources.toml is missing or broken)."""
    from connectors.config import read_config

    try:
        sources, default = read_config()
    except connectors.ConnectorError as exc:
        return SourceChoices(["demo"], {"demo": "Built-in demo product"}, str(exc))
    names = [default, *[n for n in sources if n != default]]
    return SourceChoices(names, {n: sources[n].description for n in names})


def pick_source() -> None:
    """Widget callback: the picked source becomes the app's source (before app.py loads data)."""
    st.session_state["source"] = st.session_state["data_source"]


def reload_source() -> None:
    """Button callback: read the source again on the next run; every page's cached numbers are
    keyed by the load generation this starts (:func:`ui.data.source_key`)."""
    data.forget()


# -- the load report as tables ------------------------------------------------------------------


def dropped_table(report: LoadReport) -> pl.DataFrame:
    """One row per drop reason (zeros included): rows dropped and their share of rows read."""
    counts = [report.dropped.get(reason, 0) for reason in DROP_REASONS]
    return pl.DataFrame(
        {
            "reason": [REASON_LABELS[r] for r in DROP_REASONS],
            "rows": counts,
            "share_of_rows_read": [
                c / report.rows_read if report.rows_read else 0.0 for c in counts
            ],
        },
        schema={"reason": pl.String, "rows": pl.Int64, "share_of_rows_read": pl.Float64},
    )


def events_table(report: LoadReport) -> pl.DataFrame:
    """Events kept per event name, most frequent first, with their share of all kept events."""
    total = sum(report.events_by_name.values())
    frame = pl.DataFrame(
        {
            "event": list(report.events_by_name),
            "events": list(report.events_by_name.values()),
        },
        schema={"event": pl.String, "events": pl.Int64},
    )
    return frame.with_columns(
        share=pl.col("events") / total if total else pl.lit(0.0, dtype=pl.Float64)
    ).sort("events", "event", descending=[True, False])


def describe_columns(events: pl.DataFrame) -> pl.DataFrame:
    """The schema as a PM reads it: column, type, meaning, share of empty values, an example."""
    rows = []
    height = events.height
    for name, dtype in events.schema.items():
        column = events.get_column(name)
        present = column.drop_nulls()
        rows.append(
            {
                "column": name,
                "type": _type_name(dtype),
                "meaning": MEANINGS.get(name, "property"),
                "empty_share": column.null_count() / height if height else 0.0,
                "example": str(present[0]) if present.len() else "",
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "column": pl.String,
            "type": pl.String,
            "meaning": pl.String,
            "empty_share": pl.Float64,
            "example": pl.String,
        },
    )


def _type_name(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Datetime):
        return f"time ({dtype.time_zone})" if dtype.time_zone else "time (no zone)"
    if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
        return "text"
    if dtype.is_integer():
        return "whole number"
    if dtype.is_float() or dtype.is_decimal():
        return "number"
    if dtype == pl.Boolean:
        return "yes/no"
    if dtype == pl.Date:
        return "date"
    return str(dtype)


def markdown_text(text: str) -> str:
    """Text shown through st.markdown as written: "$insert_id" is no formula, "*" no emphasis."""
    return md(text)


# -- cached on the source name ------------------------------------------------------------------


@engine.cached(max_entries=4, show_spinner=False)
def schema_table(source: str) -> pl.DataFrame:
    """:func:`describe_columns` of the source's events (:func:`describe_relation` in an engine)."""
    events = data.loaded().events
    if isinstance(events, Relation):
        return describe_relation(events)
    return describe_columns(events)


def describe_relation(events: Relation) -> pl.DataFrame:
    """:func:`describe_columns` for events in an engine, counted there: one statement counts the
    values present per column, one fetches a single value of each (its type and an example)."""
    names = [c for c in events.columns or () if c != "timestamp"]  # ts_us in SQL: always set
    profile = sql.column_profile(events, names, 1)
    found = {column.name: column for column in profile.columns}
    first = sql.sample(events, 1)
    rows = []
    for name in events.columns or ():
        column = found.get(name)
        if column is None:  # the time: every kept event has one
            example = str(first.get_column("timestamp")[0]) if first.height else ""
            rows.append(("timestamp", "time (UTC)", 0.0, example))
            continue
        empty = 1 - column.present / profile.rows if profile.rows else 0.0
        example = str(column.values[0]) if column.values.len() else ""
        rows.append((name, _type_name(column.values.dtype), empty, example))
    return pl.DataFrame(
        {
            "column": [r[0] for r in rows],
            "type": [r[1] for r in rows],
            "meaning": [MEANINGS.get(r[0], "property") for r in rows],
            "empty_share": [r[2] for r in rows],
            "example": [r[3] for r in rows],
        },
        schema={
            "column": pl.String,
            "type": pl.String,
            "meaning": pl.String,
            "empty_share": pl.Float64,
            "example": pl.String,
        },
    )


@engine.cached(max_entries=4, show_spinner=False)
def sample_rows(source: str, rows: int = SAMPLE_ROWS) -> pl.DataFrame:
    """A fixed random sample of the source's events (the same on every run), in time order; in
    an engine, the first ``rows`` events it hands out (no events are loaded to pick from)."""
    events = data.loaded().events
    if isinstance(events, Relation):
        return sql.sample(events, rows)
    if events.height <= rows:
        return events.sort("timestamp")
    return events.sample(n=rows, seed=0).sort("timestamp")


@engine.cached(max_entries=4, show_spinner=False)
def assignment_table(source: str) -> pl.DataFrame | None:
    """Users per experiment and variant, with the first and last first exposure."""
    assignments = data.loaded().assignments
    if assignments is None:
        return None
    if isinstance(assignments, Relation):
        return sql.assignment_summary(assignments)
    return (
        assignments.group_by("experiment", "variant")
        .agg(
            pl.len().alias("users"),
            pl.col("timestamp").min().alias("first_exposure"),
            pl.col("timestamp").max().alias("last_exposure"),
        )
        .sort("experiment", "variant")
    )
