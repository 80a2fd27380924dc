"""The one place the app loads data: the configured source, loaded once per process and cached.

Adapters in ``ui/<family>.py`` take the *source name* (a short string, cheap to hash) and fetch the
frame here, so ``st.cache_data`` never hashes millions of events.
"""

from __future__ import annotations

import functools
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


#: The URL parameter that carries a picked source, so a shared link shows the same data.
SOURCE_PARAM = "source"


def _configured() -> tuple[frozenset[str], str]:
    """The configured source names and the default, read again only when sources.toml changes
    (every page asks several times per run)."""
    from connectors.config import config_path

    path = config_path()
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = None
    return _read_sources(str(path.resolve()), stamp)


@functools.lru_cache(maxsize=4)
def _read_sources(path: str, stamp: int | None) -> tuple[frozenset[str], str]:
    from connectors.config import read_config

    try:
        sources, default = read_config(path)
    except connectors.ConnectorError:
        return frozenset(), DEFAULT_SOURCE  # a broken sources.toml is shown on the Data page
    return frozenset(sources), default


def source_name() -> str:
    """The source the user picked (Data page, or a shared link), else the configured default.

    A source other than the default is kept in the URL. A link can only name a source listed in
    sources.toml (never a path or URL): any other name is ignored, with a notice.
    """
    sources, default = _configured()
    picked = st.session_state.get("source")
    if not picked:
        linked = st.query_params.get(SOURCE_PARAM)
        if linked and linked in sources:
            picked = st.session_state["source"] = linked
        elif linked:
            st.query_params.pop(SOURCE_PARAM, None)
            st.toast(f"The link names a source that is not configured here; showing {default}.")
    name = picked or default
    if name != default:
        st.query_params[SOURCE_PARAM] = name
    else:
        st.query_params.pop(SOURCE_PARAM, None)
    return name


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
