"""Event files: CSV/TSV, Parquet, NDJSON (also .gz), one file, a glob or a folder, scanned lazily.

A folder of Parquet is scanned, never read whole: the date range and the columns a caller asks for
are pushed into the scan. Text files are read twice, once to learn the column types from every row
(a type guessed from the first rows breaks on a later value) and once for the data; id and time
columns are always read as text, so "00123" keeps its zeros.

Known exports (Segment, Amplitude, Mixpanel, GA4, PostHog, Snowplow) are recognised from their
columns (:mod:`connectors.exports`) and reshaped before the canonical normalisation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import glob
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from connectors import exports, textfiles
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
    texts: tuple[textfiles.TextFile, ...] = ()  # the text files, checked (not Parquet)
    notes: tuple[str, ...] = ()  # what reading the files changed (decoding, header names)


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
        files = _once([p for p in found if readable(p)])
        if not files:
            raise ConnectorError(f"{text}: no event files match (read: {_suffix_list()})")
        return files
    path = Path(text).expanduser()
    if path.is_dir():
        files = _once(
            sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and file_format(p) and not p.name.startswith((".", "_"))
            )
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


def _once(files: list[Path]) -> list[Path]:
    """Each file once, though links reach it by several paths (a ``**`` glob through a link to a
    parent folder reaches the same file at every depth)."""
    seen: set[str] = set()
    kept = []
    for path in files:
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            kept.append(path)
    return kept


def _suffix_list() -> str:
    return ", ".join(sorted({*SUFFIXES, ".gz"}))


def scan(
    source: str | Path,
    *,
    format: str | None = None,
    separator: str | None = None,
    mapping: Mapping[str, str] | None = None,
    encoding: str | None = None,
) -> Scanned:
    """A lazy scan of the files ``source`` names (see :func:`resolve`); text files are checked
    first (:mod:`connectors.textfiles`)."""
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
        return Scanned(frame=frame, format=fmt, files=tuple(files), label=label)
    if separator is not None and not (isinstance(separator, str) and len(separator) <= 1):
        raise ConnectorError(f"{label}: separator must be one character, not {separator!r}")
    sep = separator or _SEPARATORS.get(fmt, ",")
    texts = [textfiles.prepare(p, format=fmt, separator=sep, encoding=encoding) for p in files]
    many = len(files) > 1
    scan_notes: list[str] = []
    if fmt == "ndjson":
        frame = _concat([_scan_json(t, many) for t in texts])
    else:
        frame = _concat([_scan_csv(t, sep, mapping, many, scan_notes) for t in texts])
    notes = (*(note for t in texts for note in t.notes), *scan_notes)
    return Scanned(
        frame=frame, format=fmt, files=tuple(files), label=label, texts=tuple(texts), notes=notes
    )


def _concat(frames: list[pl.LazyFrame]) -> pl.LazyFrame:
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")


def _scan_parquet(files: list[Path], label: str) -> pl.LazyFrame:
    hive = any("=" in part for p in files for part in p.parts[:-1])
    try:
        frame = pl.scan_parquet(
            files, hive_partitioning=hive, missing_columns="insert", extra_columns="ignore"
        )
        names = frame.collect_schema().names()
    except Exception as exc:
        raise ConnectorError(f"{label}: cannot be read as Parquet ({polars_message(exc)})") from exc
    textfiles.check_names(label, names)
    return frame


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
    text: textfiles.TextFile,
    separator: str,
    mapping: Mapping[str, str] | None,
    many: bool,
    notes: list[str],
) -> pl.LazyFrame:
    path = text.path
    new_columns = list(text.columns) if text.columns else None
    try:
        names = list(
            pl.scan_csv(text.data, separator=separator, infer_schema=False, new_columns=new_columns)
            .collect_schema()
            .names()
        )
    except pl.exceptions.NoDataError as exc:
        raise ConnectorError(f"{path}: the file is empty") from exc
    except Exception as exc:
        raise ConnectorError(f"{path}: cannot be read ({polars_message(exc)})") from exc
    frame = pl.scan_csv(
        text.data,
        separator=separator,
        infer_schema_length=None,
        schema_overrides=dict.fromkeys(_text_columns(names, mapping), pl.String),
        row_index_name=_ROW,
        row_index_offset=1,
        new_columns=new_columns,
    )
    try:
        schema = frame.collect_schema()  # the types pass; Polars keeps it with the plan
    except Exception:  # located, with its row, by load_files
        return frame
    wide = [name for name, dtype in schema.items() if dtype == pl.Int128]
    if wide:
        # Integers too large for Int64 are read as Int128, and one too large for that fails the
        # whole read: such columns are read as text (ids, properties), every digit kept.
        fixed = {n: pl.String if n in wide else t for n, t in schema.items() if n != _ROW}
        frame = pl.scan_csv(
            text.data,
            separator=separator,
            schema=fixed,
            row_index_name=_ROW,
            row_index_offset=1,
        )
        notes.append(
            f"{path.name}: {', '.join(repr(n) for n in wide)} hold{'s' * (len(wide) == 1)} "
            "integers too large for 64 bits; read as text, every digit kept."
        )
    return frame.with_columns(pl.lit(path.name).alias(_FILE)) if many else frame


def _scan_json(text: textfiles.TextFile, many: bool) -> pl.LazyFrame:
    path, data = text.path, text.data
    head = (data if isinstance(data, bytes) else textfiles.read_head(path))[:4096]
    head = head.lstrip(b" \t\r\n\xef\xbb\xbf")
    if not head:
        raise ConnectorError(f"{path}: the file is empty")
    if head.startswith(b"["):
        # A JSON array (some exports): read whole, it is small by nature.
        whole = data if isinstance(data, bytes) else textfiles.read_bytes(path)
        try:
            frame = pl.read_json(whole, infer_schema_length=None).lazy()
        except Exception as exc:
            raise ConnectorError(
                f"{path}: not a JSON array of events ({polars_message(exc)})"
            ) from exc
        textfiles.check_names(path, frame.collect_schema().names())
        frame = frame.with_row_index(_ROW, offset=1)
    else:
        # Every line is read for the schema: keys that first appear late are kept, not dropped.
        # That pass is made once, here; given the schema, later plans do not repeat it.
        try:
            schema = pl.scan_ndjson(data, infer_schema_length=None).collect_schema()
        except Exception as exc:
            where = textfiles.json_problem(path, data) or (
                f"cannot be read ({polars_message(exc)})"
            )
            raise ConnectorError(f"{path}: {where}") from exc
        textfiles.check_names(path, schema.names())
        frame = pl.scan_ndjson(data, schema=schema, row_index_name=_ROW, row_index_offset=1)
    return frame.with_columns(pl.lit(path.name).alias(_FILE)) if many else frame


def load_files(
    source: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    tz: str = "UTC",
    format: str | None = None,
    separator: str | None = None,
    encoding: str | None = None,
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

    ``format`` overrides the type the file names say; ``separator`` the CSV delimiter;
    ``encoding`` the text's encoding when it is not UTF-8 (a BOM says so by itself). ``event``,
    ``compute`` and ``where`` make events of rows that are not yet events
    (:mod:`connectors.derive`). The other options are those of
    :func:`connectors.normalise.to_canonical`.
    """
    scanned = scan(source, format=format, separator=separator, mapping=mapping, encoding=encoding)
    try:
        schema = scanned.frame.collect_schema()
    except Exception as exc:
        raise _located(scanned, exc) from exc
    if not [c for c in schema if c not in (_ROW, _FILE)]:
        raise ConnectorError(f"{scanned.label}: the file is empty")
    frame, fmt = scanned.frame, scanned.format
    notes: list[str] = list(scanned.notes)
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
    if scanned.format == "ndjson":
        for text in scanned.texts:
            where = textfiles.json_problem(text.path, text.data)
            if where:
                return ConnectorError(f"{text.path}: {where}")
    return ConnectorError(f"{scanned.label}: cannot be read ({polars_message(exc)})")
