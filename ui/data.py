"""The one place the app loads data: the configured source, loaded once per process and cached.

Adapters in ``ui/<family>.py`` take the *source key* (:func:`source_key`: the source's name and its
load generation, a short string cheap to hash) and fetch the frame here, so ``st.cache_data`` never
hashes millions of events. The generation changes when the Data page's Reload is pressed and when a
file source's files (or sources.toml) change on disk, so every derived cache is keyed by the data
it was computed from: after a reload no page can show numbers of the old data.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import threading
import time
from pathlib import Path
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
def _load(name: str, generation: str) -> LoadedSource:
    # Cached as a resource: the frame is shared, never mutated, and not copied on every rerun.
    # Keyed by the generation too, so a changed file is read again.
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


#: Bumped by :func:`forget` (the Data page's Reload); shared by every session of the process,
#: as the loaded sources are.
_reloads = 0
_lock = threading.Lock()
#: How long a look at a file source's files on disk is trusted (a page asks many times a run).
STAMP_SECONDS = 1.0
_stamps: dict[str, tuple[float, str]] = {}


def _files_stamp(name: str) -> str:
    """A short digest of a file source's files (paths, sizes, modification times) and of
    sources.toml; empty for the demo and databases (their Reload is the Data page's button)."""
    now = time.monotonic()
    cached = _stamps.get(name)
    if cached is not None and now - cached[0] < STAMP_SECONDS:
        return cached[1]
    from connectors.config import config_path, read_config

    digest = hashlib.blake2b(digest_size=6)
    config = config_path()
    try:
        sources, _ = read_config(config)
    except connectors.ConnectorError:
        sources = {}
    for path in [config, *_source_files(sources.get(name))]:
        try:
            info = path.stat()
        except OSError:
            continue
        digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    stamp = digest.hexdigest()
    _stamps[name] = (now, stamp)
    return stamp


def _source_files(config: Any) -> list[Path]:
    if config is None or config.kind != "files":
        return []
    location = Path(str(config.settings["path"])).expanduser()
    if not location.is_absolute():
        location = config.base / location
    if location.is_dir():
        return sorted(p for p in location.rglob("*") if p.is_file())
    return sorted(Path(p) for p in glob.glob(str(location), recursive=True))


def generation(name: str | None = None) -> str:
    """Which load of the source the app shows: Reloads so far and the state of its files."""
    return f"{_reloads}.{_files_stamp(name or source_name())}"


def source_key() -> str:
    """What every cached adapter is keyed by: the source's name and its load generation.

    Pages pass it as the adapters' ``source`` argument; ``name@generation``.
    """
    name = source_name()
    return f"{name}@{generation(name)}"


def loaded() -> LoadedSource:
    """The current source, loaded; raises :class:`SourceError` with a message fit for the page."""
    shell.ensure()
    name = source_name()
    try:
        return _load(name, generation(name))
    except connectors.ConnectorError as exc:
        raise SourceError(str(exc)) from exc


def events() -> pl.DataFrame:
    """The current source's canonical events."""
    return loaded().events


def forget() -> None:
    """Read the source again on the next run (Data page's Reload): a new load generation, so every
    adapter's cache entry for the old data is left behind, and the loaded sources are dropped."""
    global _reloads
    with _lock:
        _reloads += 1
        _stamps.clear()
    _load.clear()
