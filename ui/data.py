"""The one place the app loads data: the configured source, loaded once per process and cached.

Adapters in ``ui/<family>.py`` take the *source name* (a short string, cheap to hash) and fetch the
frame here, so ``st.cache_data`` never hashes millions of events.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

import connectors
from connectors.config import LoadedData
from ui import shell

DEFAULT_SOURCE = "demo"

#: What one source gave the app (events, assignments, load report): connectors.config.LoadedData.
LoadedSource = LoadedData


class SourceError(Exception):
    """A source could not be loaded; the message names the source and is safe to show."""


@st.cache_resource(max_entries=2, show_spinner="Loading events…")
def _load(name: str) -> LoadedSource:
    # Cached as a resource: the frame is shared, never mutated, and not copied on every rerun.
    from connectors.config import load_source

    return load_source(name, secrets=_secrets())


def _secrets() -> dict[str, Any]:
    # Streamlit's secrets.toml, for sources with password_secret; absent is fine.
    try:
        return st.secrets.to_dict()
    except Exception:
        return {}


def source_name() -> str:
    """The source the user picked (Data page), else the configured default, else the demo."""
    picked = st.session_state.get("source")
    if picked:
        return picked
    from connectors.config import default_source

    try:
        return default_source()
    except connectors.ConnectorError:
        return DEFAULT_SOURCE  # a broken sources.toml is shown on the Data page


def loaded() -> LoadedSource:
    """The current source, loaded; raises :class:`SourceError` with a message fit for the page."""
    shell.ensure()
    try:
        return _load(source_name())
    except connectors.ConnectorError as exc:
        raise SourceError(str(exc)) from exc


def events() -> pl.DataFrame:
    """The current source's canonical events."""
    return loaded().events


def forget() -> None:
    """Drop every loaded source from the cache, so the next run reads it again (Data page)."""
    _load.clear()
