"""Text files checked before Polars reads them: compression, encoding, line ends and CSV shape.

Polars reads what it is given without asking: a file named ``.gz`` that is not gzip, UTF-16, a
NUL byte, lines ending in a lone CR or a row with too few fields are read as *something*, and
rows silently change. Each text file therefore goes through :func:`prepare` first:

- a ``.gz`` name must hold gzip data, whole (a truncated stream is an error, not fewer rows);
- the encoding: UTF-8 (a BOM is fine), or the one a UTF-16/UTF-32 BOM or the ``encoding`` option
  names, decoded in memory with a note; bytes that are not UTF-8 are an error naming the row and
  suggesting ``encoding``; NUL bytes (binary data, or UTF-16 without a BOM) are an error;
- lines ending in a lone CR (classic Mac) are read as lines, with a note;
- CSV/TSV: every row must have the header's number of fields (a short row is an error naming it,
  as a long one is) and well-formed quotes; blank and repeated header names get names of their
  own (``column_3``, ``country_2``) with a note; names Northstar keeps for itself are refused.

The check reads a CSV once with Python's ``csv`` module (about 0.3 s per million short rows), the
price of never reading a misaligned row.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import gzip
import io
import json
import math
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from connectors.errors import ConnectorError

#: Column names Northstar uses for its own bookkeeping while loading.
RESERVED_PREFIX = "__"
_GZIP_MAGIC = b"\x1f\x8b"
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_HEAD = 1 << 16


@dataclasses.dataclass(frozen=True)
class TextFile:
    """A text file as Polars should read it: its path, or its UTF-8 bytes when it was decoded."""

    path: Path
    data: Path | bytes
    notes: tuple[str, ...] = ()
    columns: tuple[str, ...] | None = None  # CSV header names to read with, when any changed


def is_gzip_name(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def _gzipped(path: Path, raw: bytes) -> bool:
    """Whether the file holds gzip data (Polars reads it so whatever its name says)."""
    if raw.startswith(_GZIP_MAGIC):
        return True
    if is_gzip_name(path):
        raise ConnectorError(f"{path}: is named .gz but does not hold gzip data")
    return False


def read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed when its name ends in .gz; ConnectorError when they cannot."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConnectorError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if not _gzipped(path, raw):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise ConnectorError(f"{path}: the gzip data is damaged or cut short ({exc})") from exc


def _first_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(2)
    except OSError as exc:
        raise ConnectorError(f"{path}: cannot be read ({exc.strerror or exc})") from exc


def read_head(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(_HEAD)
    except OSError as exc:
        raise ConnectorError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if not _gzipped(path, raw):
        return raw
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read(_HEAD)
    except (OSError, EOFError, zlib.error) as exc:
        raise ConnectorError(f"{path}: the gzip data is damaged or cut short ({exc})") from exc


def prepare(path: Path, *, format: str, separator: str, encoding: str | None) -> TextFile:
    """``path`` checked (see the module docstring), decoded to UTF-8 in memory where needed."""
    head = read_head(path)
    codec = _codec(path, head, encoding)
    lone_cr = b"\r" in head and b"\n" not in head and codec is None
    if codec is None and format == "ndjson" and head.startswith(codecs.BOM_UTF8):
        codec = "utf-8-sig"  # Polars' JSON reader stops at a BOM
    notes: list[str] = []
    data: Path | bytes = path
    if codec is not None or lone_cr:
        raw = read_bytes(path)
        text = _decode(path, raw, codec or "utf-8-sig")
        if codec not in (None, "utf-8-sig"):
            notes.append(f"{path.name}: text decoded from {codec}.")
        if lone_cr or ("\r" in text and "\n" not in text):
            text = text.replace("\r", "\n")
            notes.append(f"{path.name}: lines end with a lone CR (classic Mac); read as lines.")
        data = text.encode("utf-8")
    columns: tuple[str, ...] | None = None
    if format in ("csv", "tsv"):
        header = check_csv(path, data, separator)
        named, renames = _header_names(path, header)
        notes.extend(renames)
        if renames:
            columns = tuple(named)
    return TextFile(path=path, data=data, notes=tuple(notes), columns=columns)


def _codec(path: Path, head: bytes, encoding: str | None) -> str | None:
    """The codec to decode with in Python, or None when Polars reads the bytes as they are."""
    if encoding is not None:
        try:
            name = codecs.lookup(encoding).name
        except (LookupError, TypeError) as exc:
            raise ConnectorError(
                f"{path}: encoding {encoding!r} is not a text encoding Python knows "
                "(e.g. 'utf-8', 'cp1252', 'latin-1', 'utf-16')"
            ) from exc
        return None if name == "utf-8" and not head.startswith(codecs.BOM_UTF8) else name
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    return None


def _decode(path: Path, raw: bytes, codec: str) -> str:
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as exc:
        row = raw[: exc.start].decode(codec, errors="replace").count("\n")
        raise ConnectorError(
            f"{path}: is not {codec} text (byte 0x{raw[exc.start]:02x} on line {row + 1}); "
            "give the source its encoding (encoding = 'cp1252', 'latin-1', 'utf-16', ...)"
        ) from exc


@contextlib.contextmanager
def _text(path: Path, data: Path | bytes) -> Iterator[IO[str]]:
    """The file's text, checked to be UTF-8 without NUL bytes (an error names the line)."""
    _check_nul(path, data)
    if isinstance(data, bytes):
        stream: IO[str] = io.StringIO(data.decode("utf-8"), newline="")
    elif _gzipped(path, _first_bytes(path)):
        stream = io.TextIOWrapper(
            gzip.open(path, "rb"),  # noqa: SIM115 (closed with the wrapper below)
            encoding="utf-8-sig",
            newline="",
        )
    else:
        stream = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed below)
    try:
        with stream:
            yield stream
    except UnicodeDecodeError as exc:
        bad_line, byte = _first_bad_line(path)
        raise ConnectorError(
            f"{path}: is not UTF-8 text (byte 0x{byte:02x} on line {bad_line}); give the source "
            "its encoding (encoding = 'cp1252', 'latin-1', ...)"
        ) from exc
    except (OSError, EOFError, zlib.error) as exc:
        raise ConnectorError(f"{path}: cannot be read whole ({exc})") from exc


def _check_nul(path: Path, data: Path | bytes) -> None:
    """A NUL byte means binary data or UTF-16 without a BOM, which Polars would misread."""
    found: int | None = None
    if isinstance(data, bytes):
        at = data.find(b"\x00")
        found = None if at < 0 else data.count(b"\n", 0, at) + 1
    else:
        lines = 0
        opener = gzip.open if _gzipped(path, _first_bytes(path)) else open
        try:
            with opener(path, "rb") as handle:
                while chunk := handle.read(1 << 22):
                    at = chunk.find(b"\x00")
                    if at >= 0:
                        found = lines + chunk.count(b"\n", 0, at) + 1
                        break
                    lines += chunk.count(b"\n")
        except (OSError, EOFError, zlib.error) as exc:
            raise ConnectorError(f"{path}: cannot be read whole ({exc})") from exc
    if found is not None:
        raise ConnectorError(
            f"{path}: line {found} holds a NUL byte: a binary file, or UTF-16 without a byte "
            "order mark (give the source encoding = 'utf-16-le')"
        )


def _first_bad_line(path: Path) -> tuple[int, int]:
    """The first line that is not UTF-8 and its first bad byte (read again, as bytes)."""
    raw = read_bytes(path)
    for number, line in enumerate(raw.splitlines(), start=1):
        try:
            line.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            return number, line[exc.start]
    return 1, 0


def check_csv(path: Path, data: Path | bytes, separator: str) -> list[str]:
    """The header of a CSV/TSV file, after checking every row has its number of fields.

    Raises one ConnectorError naming the file and row for a malformed one.
    """
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    if len(separator) != 1:
        raise ConnectorError(f"{path}: separator must be one character, not {separator!r}")
    with _text(path, data) as stream:
        return _check_rows(path, csv.reader(stream, delimiter=separator, strict=True))


def _check_rows(path: Path, reader: Any) -> list[str]:
    try:
        header: list[str] = next(reader)
    except StopIteration:
        raise ConnectorError(f"{path}: the file is empty") from None
    except csv.Error as exc:
        raise ConnectorError(f"{path}: the header row is malformed ({exc})") from exc
    width = len(header)
    try:
        for row_number, row in enumerate(reader, start=1):
            if len(row) != width and row:
                if len(row) > width and any("\n" in field for field in row):
                    raise ConnectorError(
                        f"{path}: row {row_number} opens a quote that is never closed"
                    )
                raise ConnectorError(
                    f"{path}: row {row_number} has {len(row)} field{'s' * (len(row) != 1)}, "
                    f"the header has {width}"
                )
    except csv.Error as exc:
        raise ConnectorError(
            f"{path}: row {reader.line_num - 1} is malformed ({exc})"
            if "field larger" not in str(exc)
            else f"{path}: row {reader.line_num - 1} has a field over 2 GB"
        ) from exc
    return header


def _header_names(path: Path, header: list[str]) -> tuple[list[str], list[str]]:
    """Header names, blank and repeated ones given their own; notes for each change."""
    names: list[str] = []
    notes: list[str] = []
    taken = set(header)
    for position, name in enumerate(header, start=1):
        if name.startswith(RESERVED_PREFIX):
            raise ConnectorError(
                f"{path}: column {name!r} (column {position}) starts with '__', which Northstar "
                "keeps for itself; rename it"
            )
        new = name
        if not name.strip():
            new = _unique(f"column_{position}", taken)
            notes.append(f"{path.name}: column {position} has no name; read as '{new}'.")
        elif name in names:
            new = _unique(f"{name}_2", taken)
            notes.append(
                f"{path.name}: the header names '{name}' more than once; column {position} "
                f"was read as '{new}'."
            )
        taken.add(new)
        names.append(new)
    return names, notes


def _unique(name: str, taken: set[str]) -> str:
    base, candidate, n = name, name, 2
    if base.endswith("_2"):
        base = base[:-2]
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    return candidate


def check_names(path: Path | str, names: list[str]) -> None:
    """Refuse source columns whose names Northstar keeps for itself."""
    for name in names:
        if name.startswith(RESERVED_PREFIX):
            raise ConnectorError(
                f"{path}: column {name!r} starts with '__', which Northstar keeps for itself; "
                "rename it"
            )


def json_problem(path: Path, data: Path | bytes) -> str | None:
    """Where an NDJSON file stops being one JSON object per line, in words; None when it is."""
    try:
        with _text(path, data) as stream:
            return _first_bad_json(stream)
    except ConnectorError as exc:
        return str(exc).removeprefix(f"{path}: ")


def _first_bad_json(stream: IO[str]) -> str | None:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(
                line, parse_constant=_no_constant, parse_float=_float, parse_int=_int
            )
        except json.JSONDecodeError as exc:
            return f"line {number} is not JSON ({exc.msg}): {line.strip()[:80]!r}"
        except ValueError as exc:
            return f"line {number}: {exc}: {line.strip()[:80]!r}"
        if not isinstance(value, dict):
            return f"line {number} is not a JSON object: {line.strip()[:80]!r}"
    return None


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _int(text: str) -> int:
    value = int(text)
    if abs(value) >= 2**127:  # past Int128, the widest integer Polars reads
        raise ValueError(f"the number {text[:40]} is too large for an integer")
    return value


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text} is too large for a float")
    return value
