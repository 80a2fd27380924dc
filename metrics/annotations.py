"""Annotations: dated notes on a product's timeline (a release, an incident, a campaign, ...).

A PM reading "weekly buyers fell 8% in week 37" wants to know what else happened that week.
Annotations are kept per product in a small TOML file beside its vision file
(``vision.toml`` -> ``vision.annotations.toml``)::

    [[annotations]]
    date = 2026-09-01            # a TOML date (the day it happened, in the reporting zone)
    kind = "release"             # one of KINDS
    text = "Checkout v2 shipped to everyone"

Two kinds are also found without anyone writing them down: an experiment's start and end (its
first and last exposure in the assignments) and a change of a target (a row of the vision's
change log, ``vision.changes.csv``). :func:`timeline` merges the three. Reading the file reports
every problem at once (:class:`AnnotationError`), each naming the file, the note and the field.
Nothing here draws or writes: ``ui/annotations.py`` edits the file, ``ui/charts/annotations.py``
draws the markers.
"""

from __future__ import annotations

import datetime as dt
import tomllib
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl

from metrics._common import check_tz, local_date

AnnotationKind = Literal[
    "release", "incident", "campaign", "experiment_start", "experiment_end", "target_change"
]
#: The closed list of kinds, in the order forms offer them.
KINDS: tuple[str, ...] = typing.get_args(AnnotationKind)
#: How each kind is named in words (legends, tables, the digest).
KIND_LABELS: dict[str, str] = {
    "release": "Release",
    "incident": "Incident",
    "campaign": "Campaign",
    "experiment_start": "Experiment start",
    "experiment_end": "Experiment end",
    "target_change": "Target change",
}
#: Where an annotation comes from: the annotations file (editable), the experiments'
#: assignments, or the vision's change log.
Origin = Literal["file", "experiments", "change_log"]
#: The longest note the file accepts: a label on a chart, not an essay.
MAX_TEXT = 200
_FIELDS = {"date", "kind", "text"}


@dataclass(frozen=True, order=True)
class Annotation:
    """One dated note: what happened on ``date`` (a calendar day), of which ``kind``."""

    date: dt.date
    kind: AnnotationKind
    text: str
    origin: Origin = "file"
    #: The KPI a target change concerns, when known.
    kpi: str | None = None

    @property
    def label(self) -> str:
        """The note as a chart labels it: its kind and text."""
        return f"{KIND_LABELS[self.kind]}: {self.text}"


class AnnotationError(ValueError):
    """The annotations file has problems; ``problems`` lists each, naming file, note and field."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: list[str] = list(problems)
        count = len(self.problems)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in the annotations file:\n- "
            + "\n- ".join(self.problems)
        )


def annotations_path(vision_path: str | Path) -> Path:
    """The annotations file beside a vision file: ``vision.toml`` -> ``vision.annotations.toml``."""
    path = Path(vision_path)
    return path.with_name(f"{path.stem}.annotations.toml")


def load_annotations(path: str | Path) -> tuple[Annotation, ...]:
    """The notes of an annotations file, by date; none when the file does not exist yet.

    Raises one :class:`AnnotationError` listing every problem.
    """
    where = Path(path)
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ()
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationError([f"{where}: cannot be read ({exc})"]) from None
    return parse_annotations(text, source=where.name)


def parse_annotations(
    text: str | Mapping[str, Any], *, source: str = "annotations.toml"
) -> tuple[Annotation, ...]:
    """The notes of an annotations file's text (or parsed mapping), in the file's order."""
    if isinstance(text, str):
        try:
            document: Mapping[str, Any] = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise AnnotationError([f"{source}: not valid TOML: {exc}"]) from None
    else:
        document = text
    problems: list[str] = []
    for key in sorted(set(document) - {"annotations"}):
        problems.append(f"{source}: unknown top-level key {key!r} (expected [[annotations]])")
    raw = document.get("annotations", [])
    if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
        problems.append(f"{source}: 'annotations' must be an array of tables ([[annotations]])")
        raw = []
    found: list[Annotation] = []
    for index, item in enumerate(raw, start=1):

        def problem(field: str, message: str, number: int = index) -> None:
            problems.append(f"{source}: annotation #{number}, field {field!r}: {message}")

        note = check_annotation(item, problem)
        if note is not None:
            found.append(note)
    if problems:
        raise AnnotationError(problems)
    return tuple(found)


def check_annotation(
    item: Mapping[str, Any], problem: typing.Callable[[str, str], None]
) -> Annotation | None:
    """One ``[[annotations]]`` table as a note, each problem passed to ``problem(field, message)``
    (the app's form checks its input with this too)."""
    failed: list[str] = []

    def fail(field: str, message: str) -> None:
        failed.append(field)
        problem(field, message)

    for key in sorted(set(item) - _FIELDS):
        fail(key, "unknown key (allowed: date, kind, text)")
    for key in ("date", "kind", "text"):
        if key not in item:
            fail(key, "missing")
    day = item.get("date")
    if isinstance(day, str):
        try:
            day = dt.date.fromisoformat(day.strip())
        except ValueError:
            fail("date", f"must be a date written as 2026-09-01, got {day!r}")
            day = None
    elif "date" in item and (not isinstance(day, dt.date) or isinstance(day, dt.datetime)):
        fail("date", f"must be a date written as 2026-09-01, got {day!r}")
    kind = item.get("kind")
    if "kind" in item and kind not in KINDS:
        fail("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    text = item.get("text")
    if "text" in item:
        if not isinstance(text, str) or not text.strip():
            fail("text", f"must be a non-empty string, got {text!r}")
        elif len(text.strip()) > MAX_TEXT:
            fail("text", f"at most {MAX_TEXT} characters, got {len(text.strip())}")
    if failed:
        return None
    return Annotation(
        date=typing.cast(dt.date, day),
        kind=typing.cast(AnnotationKind, kind),
        text=" ".join(typing.cast(str, text).split()),
    )


# --- the notes nobody has to write ---------------------------------------------------------------


def from_assignments(
    assignments: pl.DataFrame | pl.LazyFrame | None,
    *,
    tz: str = "UTC",
    data_end: dt.date | None = None,
) -> tuple[Annotation, ...]:
    """Each experiment's start (its first exposure's day) and end (its last exposure's day).

    With ``data_end`` (the last day of the events), an experiment still exposing users on that
    day has no end yet: it is still running.
    """
    if assignments is None:
        return ()
    check_tz(tz)
    spans = (
        assignments.lazy()
        .group_by("experiment")
        .agg(
            local_date(tz).min().alias("first"),
            local_date(tz).max().alias("last"),
        )
        .sort("first", "experiment")
        .collect()
    )
    notes: list[Annotation] = []
    for name, first, last in spans.iter_rows():
        if name is None or first is None:
            continue
        notes.append(Annotation(first, "experiment_start", f"{name} started", origin="experiments"))
        if data_end is None or last < data_end:
            notes.append(Annotation(last, "experiment_end", f"{name} ended", origin="experiments"))
    return tuple(notes)


def from_change_log(log: pl.DataFrame | None) -> tuple[Annotation, ...]:
    """One note per KPI and save in the vision's change log (``when``, ``who``, ``kpi``,
    ``field``, ``old``, ``new``: ui/editing.py), dated on the save's day (UTC)."""
    if log is None or log.height == 0:
        return ()
    grouped: dict[tuple[str, str], list[str]] = {}
    for row in log.iter_rows(named=True):
        when = str(row.get("when") or "")
        try:
            day = dt.datetime.fromisoformat(when).astimezone(dt.UTC).date().isoformat()
        except ValueError:
            continue
        field, old, new = row.get("field") or "", row.get("old") or "", row.get("new") or ""
        if field == "(added)":
            change = f"added ({new})"
        elif field == "(removed)":
            change = "removed"
        else:
            change = f"{field} {old or '—'} → {new or '—'}"
        grouped.setdefault((day, str(row.get("kpi") or "")), []).append(change)
    notes = [
        Annotation(
            dt.date.fromisoformat(day),
            "target_change",
            f"{kpi}: {'; '.join(changes)}",
            origin="change_log",
            kpi=kpi or None,
        )
        for (day, kpi), changes in grouped.items()
    ]
    return tuple(sorted(notes))


def timeline(*groups: Iterable[Annotation]) -> tuple[Annotation, ...]:
    """Every note of the groups once, by date (then kind and text)."""
    seen: dict[tuple[dt.date, str, str], Annotation] = {}
    for group in groups:
        for note in group:
            seen.setdefault((note.date, note.kind, note.text), note)
    return tuple(sorted(seen.values(), key=lambda n: (n.date, KINDS.index(n.kind), n.text)))


def in_window(
    annotations: Iterable[Annotation], start: dt.date | None, end: dt.date | None
) -> tuple[Annotation, ...]:
    """The notes dated ``start`` .. ``end`` (inclusive; None leaves that side open)."""
    return tuple(
        note
        for note in annotations
        if (start is None or note.date >= start) and (end is None or note.date <= end)
    )


FRAME_SCHEMA: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "kind": pl.String(),
    "text": pl.String(),
    "origin": pl.String(),
    "kpi": pl.String(),
}


def as_frame(annotations: Iterable[Annotation]) -> pl.DataFrame:
    """The notes as a table: ``date``, ``kind``, ``text``, ``origin``, ``kpi``."""
    rows = [
        {"date": n.date, "kind": n.kind, "text": n.text, "origin": n.origin, "kpi": n.kpi}
        for n in annotations
    ]
    return pl.DataFrame(rows, schema=FRAME_SCHEMA)
