"""The one place the app loads data: the configured source, loaded once per process and cached.

Adapters in ``ui/<family>.py`` take the *source key* (:func:`source_key`: the source's name and its
load generation, a short string cheap to hash) and fetch the frame here, so ``st.cache_data`` never
hashes millions of events. The generation changes when the Data page's Reload is pressed and when a
file source's files (or sources.toml) change on disk, so every derived cache is keyed by the data
it was computed from: after a reload no page can show numbers of the old data.

A source computed in its engine (``compute = "warehouse"`` in sources.toml; a DuckDB file by
default) is opened, not loaded: :func:`loaded` then gives an :class:`EngineSource` whose events
(and assignments) are relations, and whose load report was counted in SQL. Adapters pass
:func:`events` to the metric functions either way; what a page needs beyond them (event names,
property values, experiments) comes from small statements (``ui.catalogue``), never the events.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import hashlib
import threading
import time
from pathlib import Path
from typing import Any

import streamlit as st

import connectors
from connectors.config import LoadedData
from connectors.report import LoadReport
from metrics.warehouse import Relation
from ui import shell

DEFAULT_SOURCE = "demo"

#: What one source gave the app (events, assignments, load report): connectors.config.LoadedData.
LoadedSource = LoadedData


class SourceError(Exception):
    """A source could not be loaded; the message names the source and is safe to show."""


@dataclasses.dataclass(frozen=True)
class EngineSource:
    """A source computed where its events live: relations, and the load report counted there.

    ``report_sql``: the statements that counted the report (values inline), for the Data page.
    """

    name: str
    events: Relation
    assignments: Relation | None
    report: LoadReport
    report_sql: tuple[str, ...] = ()

    @property
    def dialect(self) -> str:
        return self.events.dialect.name


@st.cache_resource(max_entries=2, show_spinner="Connecting to the database…")
def _open(name: str, generation: str) -> EngineSource:
    # The relations hold a connection, never rows; keyed by the generation like _load.
    from connectors.config import read_config
    from connectors.warehouse import load_report
    from connectors.warehouse.configured import open_source
    from ui.engine import recording

    sources, _ = read_config()
    opened = open_source(sources[name], secrets=_secrets())
    with recording() as statements:
        report = load_report(opened.events)
    from ui.product import without_folders  # the server's folders are not shown

    report = dataclasses.replace(
        report,
        source=without_folders(report.source),
        notes=(*report.notes, *opened.notes),
    )
    return EngineSource(name, opened.events, opened.assignments, report, tuple(statements))


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


def in_engine(name: str | None = None) -> bool:
    """Whether the source (the current one by default) computes in its engine (SQL)."""
    from connectors.config import config_path

    path = config_path()
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = None
    return (name or source_name()) in _engine_sources(str(path.resolve()), stamp)


@functools.lru_cache(maxsize=4)
def _engine_sources(path: str, stamp: int | None) -> frozenset[str]:
    from connectors.config import read_config

    try:
        sources, _ = read_config(path)
    except connectors.ConnectorError:
        return frozenset()
    return frozenset(name for name, c in sources.items() if c.compute == "warehouse")


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
    if config is not None and config.kind == "sql" and str(config.url).startswith("duckdb:///"):
        return [Path(str(config.url).removeprefix("duckdb:///"))]  # a DuckDB file changed
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


def loaded() -> LoadedSource | EngineSource:
    """The current source, loaded (or opened in its engine); raises :class:`SourceError` with a
    message fit for the page."""
    shell.ensure()
    name = source_name()
    try:
        if in_engine(name):
            return _open(name, generation(name))
        return _load(name, generation(name))
    except connectors.ConnectorError as exc:
        raise SourceError(str(exc)) from exc


def events() -> Any:
    """The current source's canonical events: a ``pl.DataFrame``, or a :class:`Relation` in its
    engine. Typed ``Any`` on purpose: the families' signatures name frames, and their
    ``@pushdown`` takes a relation in the same place."""
    return loaded().events


def assignments() -> Any:
    """The current source's experiment assignments: a frame, a relation beside a relation's
    events, or None (typed ``Any`` as :func:`events` is)."""
    return loaded().assignments


def forget() -> None:
    """Read the source again on the next run (Data page's Reload): a new load generation, so every
    adapter's cache entry for the old data is left behind, and the loaded sources are dropped."""
    global _reloads
    with _lock:
        _reloads += 1
        _stamps.clear()
    _load.clear()
    _open.clear()
