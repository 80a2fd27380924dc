"""The Overview's glue: the vision file on disk, the cached scorecard, and editing targets safely.

The vision file is the current source's (:mod:`ui.product`): the demo's is ``vision.toml`` next to
``app.py`` (or ``$NORTHSTAR_VISION``), another source's is the one its ``vision`` key names. Edits
go through :mod:`tomlkit`, so comments, order and layout survive; the candidate text is validated
with :func:`metrics.targets.parse_vision` before anything is written, and it is written only when
the file on disk is still the one the page read (otherwise, or where the file cannot be written,
the page offers the new file as a download).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import tempfile
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import tomlkit
import tomlkit.exceptions

from metrics import compare, targets
from ui import data, engine, product

VISION_ENV = product.VISION_ENV
ROOT = product.ROOT


def vision_path() -> Path:
    """The current source's vision file (:func:`ui.product.vision_path`); the demo's is
    ``$NORTHSTAR_VISION`` or ``vision.toml`` beside app.py."""
    return product.vision_path()


@dataclass(frozen=True)
class VisionFile:
    """The vision file as read: its text, the validated vision, or every problem found."""

    path: Path
    text: str
    vision: targets.Vision | None
    problems: tuple[str, ...]


def read_vision(path: Path | None = None) -> VisionFile:
    """Read and validate the vision file; never raises (problems are returned for the page)."""
    where = path or vision_path()
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError:
        return VisionFile(where, "", None, (f"{where}: the file does not exist",))
    except (OSError, UnicodeDecodeError) as exc:
        return VisionFile(where, "", None, (f"{where}: cannot be read ({exc})",))
    try:
        vision = targets.parse_vision(text, source=where.name)
    except targets.VisionError as exc:
        return VisionFile(where, text, None, tuple(exc.problems))
    return VisionFile(where, text, vision, ())


def as_of(end: dt.date) -> dt.date:
    """The scorecard's "today": the day after the last day shown, but never after the real today.

    With the sidebar's default range (ending on the data's last day) that is the day after the
    data ends, so the demo product reads as of 2026-11-01; on live data it is the real date, and
    today itself, still in progress, is never judged.
    """
    return min(end + dt.timedelta(days=1), dt.date.today())


@engine.cached(max_entries=8, show_spinner="Checking every KPI against its target…")
def scorecard(source: str, vision: targets.Vision, today: dt.date, tz: str) -> targets.Scorecard:
    """Every KPI judged as of ``today`` (cached on the source key and the vision itself: editing a
    comment in the file computes nothing again, changing a KPI does)."""
    loaded = data.loaded()
    return targets.scorecard(
        vision, loaded.events, today=today, tz=tz, assignments=loaded.assignments
    )


@engine.cached(max_entries=32, show_spinner="Finding what moved it…")
def drivers(source: str, query: targets.KpiQuery) -> targets.Drivers:
    """What moved one KPI: volume vs rate and the segment that moved it most (cached)."""
    loaded = data.loaded()
    return targets.explain_of(loaded.events, query, assignments=loaded.assignments)


def kpi_query(vision: targets.Vision, kpi_id: str, today: dt.date, tz: str) -> targets.KpiQuery:
    """One KPI of the vision as the Overview computes it: the whole product (the sidebar's
    property filters do not apply to targets), in the reporting zone, as of ``today``."""
    return targets.KpiQuery.build(vision.kpi(kpi_id), today=today, tz=tz)


def event_names(source: str) -> list[str]:
    """The event names in the current source, most frequent first (for the KPI form)."""
    from ui import catalogue

    return catalogue.event_names(source)


def points(card: targets.Scorecard, kpi_id: str) -> pl.DataFrame:
    """One KPI's judged points (``period_end``, ``value``, ``level``) for its charts."""
    return card.series.filter(pl.col("kpi") == kpi_id)


def rows_before(
    source: str, vision: targets.Vision, today: dt.date, tz: str
) -> dict[str, dict[str, Any]]:
    """Every KPI as it was judged a year before (364 days earlier, so a daily KPI's week ends on
    the same weekday), by the same cached scorecard: the value beside "vs a year before"."""
    earlier = today - dt.timedelta(days=compare.YEAR_DAYS)
    card = scorecard(source, vision, earlier, tz)
    return {row["kpi"]: row for row in card.table.iter_rows(named=True)}


def year_text(row: Mapping[str, Any], before: Mapping[str, Any] | None, currency: str) -> str:
    """The KPI's change against a year before, or that there was no data then (never zero)."""
    from ui.charts.targets import format_delta

    change = compare.change(row["value"], None if before is None else before["value"])
    if change is None:
        return "No data a year before"
    return f"{format_delta(change, row['unit'], currency)} vs a year before"


def off_track_drivers(
    source: str, vision: targets.Vision, card: targets.Scorecard, tz: str
) -> dict[str, targets.Drivers]:
    """The drivers of every off-track KPI (each cached), for the page and the review export."""
    return {
        kpi_id: drivers(source, kpi_query(vision, kpi_id, card.today, tz))
        for kpi_id, status in card.table.select("kpi", "status").iter_rows()
        if status == "off_track"
    }


def target_input(kpi: targets.Kpi) -> tuple[float, str]:
    """Step and format of a KPI's target box: rates to 0.001, money to cents, counts whole."""
    if kpi.spec.rate or kpi.unit == "lift":
        return 0.01, "%.3f"
    if kpi.unit == "currency":
        return 1.0, "%.2f"
    return 1.0, "%.0f"


def metric_kinds() -> dict[targets.MetricKind, str]:
    """The closed list of metric kinds and their labels, in the registry's order."""
    return {kind: spec.label for kind, spec in targets.METRICS.items()}


# --- editing the file -----------------------------------------------------------------------------


def _toml_value(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    if isinstance(value, tuple | list):
        array = tomlkit.array()
        array.extend(list(value))
        return array
    if isinstance(value, Mapping):
        table = tomlkit.inline_table()
        table.update({k: _toml_value(v) for k, v in value.items()})
        return table
    return value


def set_kpi_fields(text: str, kpi_id: str, changes: Mapping[str, Any]) -> str:
    """The vision file's text with one KPI's fields changed, every comment and line kept.

    Raises ValueError naming the KPI when the file has no such KPI or cannot be parsed.
    """
    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise ValueError(f"vision file: not valid TOML ({exc})") from exc
    for table in document.get("kpis", []):
        if table.get("id") == kpi_id:
            for key, value in changes.items():
                if value is None:
                    table.pop(key, None)
                else:
                    table[key] = _toml_value(value)
            return tomlkit.dumps(document)
    raise ValueError(f"kpi_id: no KPI {kpi_id!r} in the vision file")


def add_kpi(text: str, fields: Mapping[str, Any]) -> str:
    """The vision file's text with one more ``[[kpis]]`` table at the end, the rest untouched."""
    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise ValueError(f"vision file: not valid TOML ({exc})") from exc
    table = tomlkit.table()
    for key, value in fields.items():
        if value is not None:
            table[key] = _toml_value(value)
    table.trivia.indent = "\n"  # a blank line before the new [[kpis]], like the others
    if "kpis" in document:
        document["kpis"].append(table)
    else:
        kpis = tomlkit.aot()
        kpis.append(table)
        document["kpis"] = kpis
    return tomlkit.dumps(document)


def check(text: str, name: str = "vision.toml") -> list[str]:
    """Every problem in a candidate vision file (empty when it is valid)."""
    try:
        targets.parse_vision(text, source=name)
    except targets.VisionError as exc:
        return list(exc.problems)
    return []


@dataclass(frozen=True)
class Saved:
    """What happened to an edit: written to disk, or offered as a download, and why."""

    written: bool
    message: str
    text: str


def save(path: Path, original: str, new_text: str) -> Saved:
    """Write ``new_text`` over the vision file if it is still ``original`` on disk and writable.

    The write goes to a temporary file in the same folder, then replaces the file in one step, so
    a reader never sees half a file. Otherwise nothing is written and the message says why.
    """
    problems = check(new_text, path.name)
    if problems:
        return Saved(False, "Not saved: the new file would have problems.", new_text)
    try:
        current = path.read_text(encoding="utf-8")
    except OSError:
        current = None
    if current is not None and current != original:
        return Saved(
            False,
            f"{path} changed on disk since this page read it, so it was not overwritten. "
            "Download the edited file below, or reload the page and edit again.",
            new_text,
        )
    folder = path.parent
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return Saved(
            False, f"{path} cannot be written here: download the new file below.", new_text
        )
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".vision-", suffix=".toml")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(new_text)
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except OSError as exc:
        return Saved(
            False, f"{path} could not be written ({exc}): download the new file below.", new_text
        )
    return Saved(True, f"Saved to {path}.", new_text)


# --- the "add a KPI" form, derived from the metric kinds' parameters ------------------------------


@dataclass(frozen=True)
class ParamField:
    """One parameter of a metric kind as a form widget: its name, widget kind and choices."""

    name: str
    widget: str  # "choice", "event", "events", "optional_event", "number", "text"
    options: tuple[Any, ...]
    default: Any
    required: bool


def param_fields(metric: targets.MetricKind) -> list[ParamField]:
    """The form fields for a metric kind, read from its parameter dataclass."""
    cls = targets.METRICS[metric].params
    hints = typing.get_type_hints(cls)
    out: list[ParamField] = []
    for spec in dataclasses.fields(cls):
        hint = hints[spec.name]
        required = spec.default is dataclasses.MISSING
        default = None if required else spec.default
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if typing.get_origin(hint) is typing.Literal:
            widget, options = "choice", typing.get_args(hint)
        elif spec.name == "steps":
            widget, options = "events", ()
        elif spec.name in ("event", "start_event", "return_event"):
            widget, options = ("event" if required else "optional_event"), ()
        elif hint is int or args == [int]:
            widget, options = "number", ()
        else:
            widget, options = "text", ()
        out.append(ParamField(spec.name, widget, options, default, required))
    return out
