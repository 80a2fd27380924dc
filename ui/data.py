"""The one place the app loads data: the configured source, loaded once per process and cached.

Adapters in ``ui/<family>.py`` take the *source name* (a short string, cheap to hash) and fetch the
frame here, so ``st.cache_data`` never hashes millions of events.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import streamlit as st

import connectors
from connectors.report import LoadReport

DEFAULT_SOURCE = "demo"


@dataclass(frozen=True)
class LoadedSource:
    """Everything one source gave the app: events, experiment assignments and the load report."""

    name: str
    events: pl.DataFrame
    assignments: pl.DataFrame | None
    report: LoadReport


class SourceError(Exception):
    """A source could not be loaded; the message names the source and is safe to show."""


@st.cache_resource(max_entries=2, show_spinner="Loading events…")
def _load(name: str) -> LoadedSource:
    # Cached as a resource: the frame is shared, never mutated, and not copied on every rerun.
    from connectors.config import load_source

    return load_source(name)


def source_name() -> str:
    """The source the user picked (Data page), the demo by default."""
    return st.session_state.get("source", DEFAULT_SOURCE)


def loaded() -> LoadedSource:
    """The current source, loaded; raises :class:`SourceError` with a message fit for the page."""
    try:
        return _load(source_name())
    except connectors.ConnectorError as exc:  # type: ignore[attr-defined]
        raise SourceError(str(exc)) from exc


def events() -> pl.DataFrame:
    """The current source's canonical events."""
    return loaded().events
