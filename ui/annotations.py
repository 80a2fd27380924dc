"""The product's annotations in the app: read, merged with the automatic ones, and edited.

The notes file sits beside the product's vision file (``vision.annotations.toml``,
:mod:`metrics.annotations`). The Overview adds and edits notes where editing is allowed (the same
role as for targets, ``ui/editing.py``); every time chart draws them (``ui.components.chart``
with ``ui/charts/annotations.py``). Experiment starts and ends come from the current source's
assignments and target changes from the vision's change log, so nobody has to write them.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import streamlit as st
import tomlkit

from metrics import annotations as notes
from metrics.annotations import Annotation


@dataclass(frozen=True)
class NotesFile:
    """The notes file as read: its path, the notes it holds, and its problems (all at once)."""

    path: Path
    written: tuple[Annotation, ...]
    problems: tuple[str, ...] = ()


def notes_path() -> Path:
    """The current product's notes file (beside its vision file)."""
    from ui import product

    return notes.annotations_path(product.vision_path())


def read(path: Path | None = None) -> NotesFile:
    """The notes file (the current product's by default), read again only when it changes."""
    path = path or notes_path()
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = None
    return _read(str(path), stamp)


@functools.lru_cache(maxsize=8)
def _read(path: str, stamp: int | None) -> NotesFile:
    try:
        return NotesFile(Path(path), notes.load_annotations(path))
    except notes.AnnotationError as exc:
        return NotesFile(Path(path), (), tuple(exc.problems))


@st.cache_data(max_entries=8, show_spinner=False)
def _experiment_notes(source: str, tz: str) -> tuple[Annotation, ...]:
    """Each experiment's first and last exposure (an engine's assignments are not read here)."""
    from ui import data

    assignments = data.assignments()
    events = data.events()
    if not isinstance(assignments, pl.DataFrame | pl.LazyFrame) or not isinstance(
        events, pl.DataFrame | pl.LazyFrame
    ):
        return ()
    last = events.lazy().select(pl.col("timestamp").max()).collect().item()
    data_end = last.astimezone(dt.UTC).date() if last is not None else None
    return notes.from_assignments(assignments, tz=tz, data_end=data_end)


def current(tz: str = "UTC") -> tuple[Annotation, ...]:
    """Every note of the current product: the file's, the experiments', the target changes'.
    A broken notes file gives none of its own (the Overview lists its problems)."""
    from ui import data, editing, product

    try:
        found = _experiment_notes(data.source_key(), tz)
    except Exception:  # noqa: BLE001 - a source that does not load has no experiments to mark
        found = ()
    log = editing.read_log(product.vision_path())
    return notes.timeline(read().written, found, notes.from_change_log(log))


# --- writing the file ---------------------------------------------------------------------------


def _document(path: Path) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        document = tomlkit.document()
        document.add(tomlkit.comment("Dated notes on this product's timeline (docs/app.md)."))
        return document


def _table(note: Annotation) -> tomlkit.items.Table:
    table = tomlkit.table()
    table.add("date", note.date)
    table.add("kind", note.kind)
    table.add("text", note.text)
    return table


def _write(path: Path, document: tomlkit.TOMLDocument) -> None:
    """Write in one step: a temporary file in the same folder moved into place."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".annotations-", suffix=".toml")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(tomlkit.dumps(document))
    os.replace(temporary, path)


def check(day: dt.date | None, kind: str | None, text: str) -> tuple[Annotation | None, list[str]]:
    """A note from the form's fields, or every problem with them."""
    problems: list[str] = []
    item = {"date": day, "kind": kind, "text": text}
    note = notes.check_annotation(
        {k: v for k, v in item.items() if v is not None},
        lambda field, message: problems.append(f"{field}: {message}"),
    )
    return note, problems


def add(path: Path, note: Annotation) -> None:
    """Append a note to the notes file (created on first use); comments and order are kept."""
    document = _document(path)
    array = document.get("annotations")
    if array is None:
        array = tomlkit.aot()
        document.append("annotations", array)
    array.append(_table(note))
    _write(path, document)


def replace(path: Path, index: int, was: Annotation, note: Annotation | None) -> bool:
    """Change (or, with ``note=None``, remove) the file's note at ``index``, if it is still
    ``was``; False, and nothing written, when the file changed since the page read it."""
    document = _document(path)
    array = document.get("annotations")
    written = read(path).written
    if array is None or index >= len(written) or written[index] != was:
        return False
    if note is None:
        del array[index]
    else:
        array[index] = _table(note)
    _write(path, document)
    return True
