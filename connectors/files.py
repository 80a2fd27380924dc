"""Event files: CSV/TSV, Parquet, NDJSON (also .gz), one file, a glob or a folder, scanned lazily.

A folder of Parquet is scanned, never read whole: the date range and the columns a caller asks for
are pushed into the scan. Text files are read twice, once to learn the column types from every row
(a type guessed from the first rows breaks on a later value) and once for the data; id and time
columns are always read as text, so "00123" keeps its zeros.

Known exports (Segment, Amplitude, Mixpanel, GA4, PostHog, Snowplow) are recognised from their
columns (:mod:`connectors.exports`) and reshaped before the canonical normalisation.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import glob
import gzip
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import polars as pl

from connectors import exports
from connectors.errors import ConnectorError
from connectors.normalise import ALIASES, column_key, polars_message, to_canonical
from connectors.report import LoadReport

#: File name endings we read (before an optional ``.gz``) and the format each means.
SUFFIXES: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "ndjson",
}
_SEPARATORS = {"csv": ",", "tsv": "\t"}
#: Canonical targets whose source columns are read as text.
_TEXT_TARGETS = ("user_id", "anonymous_id", "event_id", "session_id", "timestamp")
_ROW, _FILE = "__row", "__file"


@dataclasses.dataclass(frozen=True)
class Scanned:
    """A lazy scan of one source's files, before any normalisation."""

    frame: pl.LazyFrame
    format: str  # csv, tsv, parquet or ndjson
    files: tuple[Path, ...]
    label: str  # how messages name the source


def file_format(path: str | Path) -> str | None:
    """The format a file name says (``events.csv.gz`` -> "csv"), or None when we do not read it."""
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return SUFFIXES.get(Path(name).suffix)


def resolve(source: str | Path, format: str | None = None) -> list[Path]:
    """The event files a path, glob or folder names, sorted; ConnectorError when there are none.

    Files are those whose name says a format we read, or any file when ``format`` is given.
    """
    text = str(source)

    def readable(p: Path) -> bool:
        return bool(format or file_format(p))

    if any(ch in text for ch in "*?["):
        found = [Path(p) for p in sorted(glob.glob(text, recursive=True)) if Path(p).is_file()]
        files = [p for p in found if readable(p)]
        if not files:
            raise ConnectorError(f"{text}: no event files match (read: {_suffix_list()})")
        return files
    path = Path(text).expanduser()
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and file_format(p) and not p.name.startswith((".", "_"))
        )
        if not files:
            raise ConnectorError(
                f"{text}: the folder holds no event files (read: {_suffix_list()})"
            )
        return files
    if not path.exists():
        raise ConnectorError(f"{text}: no such file or folder")
    if not readable(path):
        raise ConnectorError(f"{text}: unknown file type (read: {_suffix_list()})")
    if not os.access(path, os.R_OK):
        raise ConnectorError(f"{text}: cannot be read (permission denied)")
    return [path]


def _suffix_list() -> str:
    return ", ".join(sorted({*SUFFIXES, ".gz"}))


def scan(
    source: str | Path,
    *,
    format: str | None = None,
    separator: str | None = None,
    mapping: Mapping[str, str] | None = None,
) -> Scanned:
    """A lazy scan of the files ``source`` names (see :func:`resolve`)."""
    files = resolve(source, format)
    label = str(source)
    formats = {format or file_format(p) for p in files}
    if len(formats) > 1:
        raise ConnectorError(
            f"{label}: mixes file types ({', '.join(sorted(str(f) for f in formats))}); "
            "point the source at one type"
        )
    fmt = formats.pop()
    if fmt not in {*SUFFIXES.values()}:
        raise ConnectorError(f"{label}: unknown format {fmt!r} (csv, tsv, parquet, ndjson)")
    for path in files:
        if path.stat().st_size == 0:
            raise ConnectorError(f"{path}: the file is empty")
    if fmt == "parquet":
        frame = _scan_parquet(files, label)
    elif fmt == "ndjson":
        frame = _concat([_scan_json(p, len(files) > 1) for p in files])
    else:
        sep = separator or _SEPARATORS[fmt]
        frame = _concat([_scan_csv(p, sep, mapping, len(files) > 1) for p in files])
    return Scanned(frame=frame, format=fmt, files=tuple(files), label=label)


def _concat(frames: list[pl.LazyFrame]) -> pl.LazyFrame:
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")


def _scan_parquet(files: list[Path], label: str) -> pl.LazyFrame:
    hive = any("=" in part for p in files for part in p.parts[:-1])
    try:
        return pl.scan_parquet(
            files, hive_partitioning=hive, missing_columns="insert", extra_columns="ignore"
        )
    except Exception as exc:
        raise ConnectorError(f"{label}: cannot be read as Parquet ({polars_message(exc)})") from exc


def _text_columns(names: Sequence[str], mapping: Mapping[str, str] | None) -> set[str]:
    """Columns read as text: ids and times by their usual names, the mapping's, the export's."""
    keys = {column_key(alias) for target in _TEXT_TARGETS for alias in ALIASES[target]}
    chosen = {c for c in names if column_key(c) in keys}
    chosen |= {c for t, c in (mapping or {}).items() if t in _TEXT_TARGETS}
    export = exports.detect(list(names))
    if export:
        chosen |= set(exports.TEXT_COLUMNS[export])
    return chosen & set(names)


def _scan_csv(
    path: Path, separator: str, mapping: Mapping[str, str] | None, many: bool
) -> pl.LazyFrame:
    try:
        names = list(
            pl.scan_csv(path, separator=separator, infer_schema=False).collect_schema().names()
        )
    except pl.exceptions.NoDataError as exc:
        raise ConnectorError(f"{path}: the file is empty") from exc
    except Exception as exc:
        raise ConnectorError(f"{path}: cannot be read ({polars_message(exc)})") from exc
    frame = pl.scan_csv(
        path,
        separator=separator,
        infer_schema_length=None,
        schema_overrides=dict.fromkeys(_text_columns(names, mapping), pl.String),
        row_index_name=_ROW,
        row_index_offset=1,
    )
    return frame.with_columns(pl.lit(path.name).alias(_FILE)) if many else frame


def _scan_json(path: Path, many: bool) -> pl.LazyFrame:
    with _open_text(path) as handle:
        head = handle.read(4096).lstrip()
    if not head:
        raise ConnectorError(f"{path}: the file is empty")
    if head.startswith("["):
        # A JSON array (some exports): read whole, it is small by nature.
        try:
            frame = pl.read_json(path, infer_schema_length=None).lazy()
        except Exception as exc:
            raise ConnectorError(
                f"{path}: not a JSON array of events ({polars_message(exc)})"
            ) from exc
        frame = frame.with_row_index(_ROW, offset=1)
    else:
        # Every line is read for the schema: keys that first appear late are kept, not dropped.
        # That pass is made once, here; given the schema, later plans do not repeat it.
        try:
            schema = pl.scan_ndjson(path, infer_schema_length=None).collect_schema()
        except Exception as exc:
            where = _json_problem(path) or f"cannot be read ({polars_message(exc)})"
            raise ConnectorError(f"{path}: {where}") from exc
        frame = pl.scan_ndjson(path, schema=schema, row_index_name=_ROW, row_index_offset=1)
    return frame.with_columns(pl.lit(path.name).alias(_FILE)) if many else frame


def _open_text(path: Path) -> IO[str]:
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def load_files(
    source: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    tz: str = "UTC",
    format: str | None = None,
    separator: str | None = None,
    start: dt.date | dt.datetime | str | None = None,
    end: dt.date | dt.datetime | str | None = None,
    columns: Sequence[str] | None = None,
    time_format: str | None = None,
    collect: bool = False,
    event: str | Mapping[str, Any] | None = None,
    compute: Mapping[str, str] | None = None,
    where: str | None = None,
    plausible_start: dt.date | dt.datetime | str | None = None,
    plausible_end: dt.date | dt.datetime | str | None = None,
) -> tuple[pl.LazyFrame, LoadReport]:
    """The canonical events in the files ``source`` names, and the load report.

    ``format`` overrides the type the file names say; ``separator`` the CSV delimiter. ``event``,
    ``compute`` and ``where`` make events of rows that are not yet events
    (:mod:`connectors.derive`). The other options are those of
    :func:`connectors.normalise.to_canonical`.
    """
    scanned = scan(source, format=format, separator=separator, mapping=mapping)
    try:
        schema = scanned.frame.collect_schema()
    except Exception as exc:
        raise _located(scanned, exc) from exc
    if not [c for c in schema if c not in (_ROW, _FILE)]:
        raise ConnectorError(f"{scanned.label}: the file is empty")
    frame, fmt = scanned.frame, scanned.format
    notes: list[str] = []
    prepared = exports.prepare(frame, source=scanned.label)
    if prepared is not None:
        frame, fmt = prepared.frame, f"{prepared.format} ({scanned.format})"
        mapping = {**prepared.mapping, **(mapping or {})}
        notes.extend(prepared.notes)
    if len(scanned.files) > 1:
        within = "; rows are counted within each file" if scanned.format != "parquet" else ""
        notes.insert(0, f"{len(scanned.files)} files read{within}.")
    try:
        events, report = to_canonical(
            frame,
            source=scanned.label,
            format=fmt,
            mapping=mapping,
            tz=tz,
            start=start,
            end=end,
            time_format=time_format,
            columns=columns,
            collect=collect,
            event=event,
            compute=compute,
            where=where,
            plausible_start=plausible_start,
            plausible_end=plausible_end,
        )
    except ConnectorError as exc:
        if str(exc).startswith(f"{scanned.label}: cannot be read ("):
            raise _located(scanned, exc.__cause__ or exc) from exc
        raise
    return events, dataclasses.replace(report, notes=(*notes, *report.notes))


def _located(scanned: Scanned, exc: BaseException) -> ConnectorError:
    """The reading error of a text file, with the file and row where it happens when we find it."""
    if scanned.format in ("csv", "tsv", "ndjson"):
        for path in scanned.files:
            where = (
                _json_problem(path)
                if scanned.format == "ndjson"
                else _csv_problem(path, _SEPARATORS[scanned.format])
            )
            if where:
                return ConnectorError(f"{path}: {where}")
    return ConnectorError(f"{scanned.label}: cannot be read ({polars_message(exc)})")


def _csv_problem(path: Path, separator: str) -> str | None:
    with _open_text(path) as handle:
        reader = csv.reader(handle, delimiter=separator, strict=True)
        try:
            header = next(reader)
        except (StopIteration, csv.Error):
            return "the file is empty or has no header row"
        try:
            for row_number, row in enumerate(reader, start=1):
                if len(row) != len(header) and row:
                    if any("\n" in field for field in row):
                        return f"row {row_number} opens a quote that is never closed"
                    return f"row {row_number} has {len(row)} fields, the header has {len(header)}"
        except csv.Error as exc:
            return f"row {reader.line_num - 1} is malformed ({exc})"
    return None


def _json_problem(path: Path) -> str | None:
    with _open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                return f"line {line_number} is not JSON ({exc.msg}): {line.strip()[:80]!r}"
            if not isinstance(value, dict):
                return f"line {line_number} is not a JSON object: {line.strip()[:80]!r}"
    return None
