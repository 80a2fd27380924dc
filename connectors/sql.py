"""SQL sources: a SQLAlchemy URL and a table or a query, read through Arrow into canonical events.

    events, report = load_sql(
        "postgresql+psycopg://analyst@db:5432/shop", table="events",
        start="2026-09-01", end="2026-09-30", password=os.environ["PGPASSWORD"],
    )

What reaches the database is one SELECT built with SQLAlchemy Core: quoted identifiers, only the
columns the canonical frame needs (the ``columns`` asked for, plus those feeding ``user_id``,
``event``, ``timestamp``, ``event_id``, ``session_id``, ``revenue`` and ``anonymous_id``), and the
date range as bound parameters. A ``query=`` is wrapped as a subquery, so the same pushdown applies
to it. Values are never formatted into SQL text.

The date predicate is a *superset* of the rows in range, exact where the column's type allows it:

- ``timestamptz``: the exact UTC instants;
- ``timestamp``, ``date`` and ISO text: one day of margin each side (wall-clock times and written
  offsets are within 14 hours of UTC); text that does not start with ``YYYY-MM-DD`` is always read;
- numbers (epochs): one range per unit (s, ms, µs, ns), as the unit comes from each value's size;
- SQLite (any value in any column): all of the above at once, by storage class;
- rows with no time, and rows that link an anonymous id to a user (identity resolution needs the
  links from all history), are always read.

:func:`connectors.normalise.to_canonical` then applies the exact range and counts what it drops, so
the frame and the load report are the same as without pushdown (the tests check it).

Drivers: ADBC (Arrow, no Python object per row) for PostgreSQL and SQLite; SQLAlchemy row fetch for
every other dialect, or on request (``engine="sqlalchemy"``). connectorx is not used: it takes no
bound parameters. PostgreSQL's rows arrive in batches, read by a thread of their own while each
batch read so far is canonicalised (:func:`connectors.normalise.to_canonical_batches`: the same
frame and report as canonicalising them all at once).

Safety: PostgreSQL sessions are ``READ ONLY`` with a ``statement_timeout``; SQLite files are opened
with ``mode=ro`` and a busy timeout (ADBC's SQLite driver cannot interrupt a running statement; the
SQLAlchemy path has a progress handler that does). Every failure is one
:class:`~connectors.errors.ConnectorError` naming the source (password masked) and the table.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import queue
import re
import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.sql.elements import ColumnElement

from connectors.errors import ConnectorError, mask_secrets
from connectors.normalise import _instant, _plan_columns, to_canonical, to_canonical_batches
from connectors.report import LoadReport

log = logging.getLogger(__name__)

Engine = Literal["auto", "adbc", "sqlalchemy"]
ENGINES: tuple[str, ...] = ("auto", "adbc", "sqlalchemy")

#: How the timestamp column's values are stored, which decides the date predicate.
TimeKind = Literal["instant", "wall", "date", "number", "text", "dynamic"]

#: PostgreSQL types Arrow carries as they are; anything else is cast in the SELECT (see _pg_select).
_PG_PLAIN = {
    "int2",
    "int4",
    "int8",
    "float4",
    "float8",
    "bool",
    "text",
    "varchar",
    "bpchar",
    "char",
    "name",
    "timestamptz",
    "timestamp",
    "date",
}
_PG_TIME_KINDS: dict[str, TimeKind] = {
    "timestamptz": "instant",
    "timestamp": "wall",
    "date": "date",
    **dict.fromkeys(("int2", "int4", "int8", "float4", "float8", "numeric"), "number"),
    **dict.fromkeys(("text", "varchar", "bpchar", "name"), "text"),
}
#: Canonical targets that hold ids: never turned into floats, whatever their SQL type.
_ID_TARGETS = ("user_id", "anonymous_id", "event_id", "session_id")
#: Epoch units and microseconds per unit, as the normaliser reads them (by magnitude).
_EPOCH_PER_US = {"s": 1e-6, "ms": 1e-3, "us": 1.0, "ns": 1e3}
#: Margin around wall-clock and written times: no UTC offset is more than 14 hours.
_MARGIN = dt.timedelta(days=1)
_ISO_DATE_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*"
_ISO_DATE_REGEX = r"^\d{4}-\d{2}-\d{2}"
#: The size of the batches PostgreSQL's rows arrive in through ADBC, in bytes (``None``: the
#: driver's default, 16 MiB); each batch is canonicalised while the next one is read. Each batch
#: costs Polars a fixed amount of work besides its rows, taken from the cores the reading and the
#: server need: 10M events loaded in 1.40x ADBC's raw fetch with 4 MiB batches, 1.24-1.28x with
#: 16 MiB, 1.19-1.21x with 64 MiB and 1.19x with 256 MiB (benchmarks/bench_load.py); larger ones
#: leave more of the work after the last batch and hold more rows at once. Tests make it small,
#: so a few thousand rows come in many batches.
PG_BATCH_BYTES: int | None = 64 * 1024 * 1024


def load_sql(
    url: str,
    *,
    mapping: Mapping[str, str] | None = None,
    tz: str = "UTC",
    table: str | None = None,
    query: str | None = None,
    start: dt.date | dt.datetime | str | None = None,
    end: dt.date | dt.datetime | str | None = None,
    columns: Sequence[str] | None = None,
    timeout_seconds: float = 60,
    password: str | None = None,
    **options: Any,
) -> tuple[pl.LazyFrame, LoadReport]:
    """The canonical events of one SQL table or query, and the load report.

    ``url`` is a SQLAlchemy URL (``postgresql+psycopg://user@host/db``, ``sqlite:///events.db``);
    ``password`` is given apart so it never sits in a config file. Exactly one of ``table`` (a name,
    optionally ``schema.table``) or ``query`` (a SELECT, run as a subquery). ``start``/``end`` keep
    the events of those days in ``tz`` (inclusive; a datetime is an instant) and are pushed into
    the SQL; ``columns`` names the property columns needed besides the canonical ones (``None``:
    all). ``mapping`` and ``tz`` are as in :func:`connectors.normalise.to_canonical`.

    Options: ``engine`` = ``"auto"`` (ADBC where there is a driver) | ``"adbc"`` | ``"sqlalchemy"``;
    ``schema`` = the database schema holding ``table``.

    Raises :class:`~connectors.errors.ConnectorError` when the database cannot be reached, refuses
    the login, has no such table, rejects the query or runs out of time.
    """
    engine = options.pop("engine", "auto")
    schema = options.pop("schema", None)
    plausible: dict[str, Any] = {
        k: options.pop(k) for k in ("plausible_start", "plausible_end") if k in options
    }
    target = resolve_target(url, password, table, query, schema)
    if options:
        raise ConnectorError(
            f"{target.label}: unknown option {', '.join(map(repr, sorted(options)))} "
            "(SQL sources take table, query, schema, engine, start, end, columns, timeout_seconds)"
        )
    if engine not in ENGINES:
        raise ConnectorError(
            f"{target.label}: engine must be one of {', '.join(map(repr, ENGINES))}, not {engine!r}"
        )
    if not (isinstance(timeout_seconds, int | float) and timeout_seconds > 0):
        raise ConnectorError(
            f"{target.label}: timeout_seconds must be a positive number of seconds"
        )
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConnectorError(
            f"{target.label}: time zone {tz!r} is not an IANA zone name (e.g. 'Europe/Berlin')"
        ) from None
    try:
        bounds = _bounds(start, end, tz)
    except (ValueError, TypeError) as exc:
        raise ConnectorError(f"{target.label}: {exc}") from None

    reader = _reader(target, engine, timeout_seconds)
    began = time.perf_counter()
    with reader:
        names, pg_types = reader.probe()
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise ConnectorError(
                f"{target.label}: the result has more than one column named "
                f"{', '.join(map(repr, twice))}; give each column its own name (AS ...)"
            )
        plan = _plan_columns(
            pl.Schema(dict.fromkeys(names, pl.String())), mapping, target.label, columns
        )
        needed = [n for n in names if n in set(plan.chosen.values()) | set(plan.renamed)]
        source = source_clause(target, names)
        kind = reader.time_kind(source, plan.chosen["timestamp"], pg_types)
        stmt = _select(source, needed, plan.chosen, pg_types, target.dialect)
        where = None
        if bounds is not None and kind is not None:
            where = _range_predicate(source, plan.chosen, kind, bounds, tz, target.dialect)
            stmt = stmt.where(where)
        canonical: dict[str, Any] = {
            "mapping": mapping,
            "tz": tz,
            "start": start,
            "end": end,
            "columns": columns,
            **plausible,
        }
        raw: pl.DataFrame | None = None
        if isinstance(reader, _AdbcPostgres):
            # Each batch is canonicalised while the next one is fetched; closing the batches
            # ends the reading thread before the connection closes, whatever happened.
            with closing(reader.fetch_batches(stmt)) as batches:
                events, report = to_canonical_batches(
                    batches, source=target.label, format=target.dialect, **canonical
                )
            rows, seconds = reader.fetched, reader.fetch_ended - began
        else:
            raw = reader.fetch(stmt)
            rows, seconds = raw.height, time.perf_counter() - began
    if raw is not None:
        events, report = to_canonical(
            raw.lazy(),
            source=target.label,
            format=target.dialect,
            collect=True,  # the rows are in memory already: normalise them once, for both
            **canonical,
        )
    pushed = []
    if where is not None:
        pushed.append("the date range")
    if len(needed) < len(names):
        pushed.append(f"{len(needed)} of {len(names)} columns")
    note = f"Fetched {rows:,} rows from {target.dialect} through {reader.name}"
    note += f" in {seconds:.2f} s"
    note += f" ({' and '.join(pushed)} pushed into the SQL)." if pushed else "."
    if bounds is not None and kind is None:
        note += " The date range was applied after fetching: SQL cannot compare this time column."
    return events, dataclasses.replace(report, notes=(*report.notes, *reader.notes, note))


# -- where to read ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    url: URL
    label: str  # the source as messages name it: masked URL and table (or "query")
    dialect: str  # "postgresql", "sqlite", or another SQLAlchemy backend name
    secret: str | None
    table: str | None
    schema: str | None
    query: str | None


def resolve_target(
    url: str, password: str | None, table: str | None, query: str | None, schema: str | None
) -> _Target:
    shown = mask_secrets(str(url))
    if password:
        shown = shown.replace(password, "***")
    try:
        parsed = make_url(url)
    except Exception:
        raise ConnectorError(
            f"{shown}: not a SQLAlchemy database URL (e.g. postgresql+psycopg://user@host/db "
            "or sqlite:///events.db)"
        ) from None
    if password is not None:
        parsed = parsed.set(password=password)
    backend = parsed.get_backend_name()
    if backend == "postgres":  # Heroku-style scheme
        backend = "postgresql"
        parsed = parsed.set(drivername="postgresql")
    label = parsed.render_as_string(hide_password=True)
    if (table is None) == (query is None):
        raise ConnectorError(f"{label}: give either table= or query= (exactly one)")
    if table is not None:
        if not isinstance(table, str) or not table.strip():
            raise ConnectorError(f"{label}: table must be a table name, not {table!r}")
        if schema is None and "." in table:
            schema, table = table.rsplit(".", 1)
        where = f"{schema}.{table}" if schema else table
        label += f" (table {where!r})"
    else:
        if not isinstance(query, str) or not query.strip():
            raise ConnectorError(f"{label}: query must be a SELECT statement, not {query!r}")
        query = query.strip().rstrip(";").rstrip()
        label += " (query)"
        if _NUMBERED_MARKER.search(_code_only(query)):
            # On PostgreSQL's Arrow path our own values are $1, $2, ...: a user's $1 would be
            # bound to the date range without a word. Refused before anything runs.
            raise ConnectorError(
                f"{label}: the query has a parameter marker of its own ($1, ?, :name or %s); "
                "write the values into the query: Northstar binds only the date range"
            )
    return _Target(parsed, label, backend, parsed.password, table, schema, query)


_NUMBERED_MARKER = re.compile(r"\$\d+")
#: What is not SQL code in a query: string literals, quoted names, dollar-quoted bodies, comments.
_NOT_CODE = re.compile(
    r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|(\$\w*\$).*?\1|--[^\n]*|/\*.*?\*/", re.DOTALL
)


def _code_only(query: str) -> str:
    """``query`` with its literals, quoted names and comments blanked out."""
    return _NOT_CODE.sub(" ", query)


def source_clause(target: _Target, names: Sequence[str]) -> sa.TableClause | sa.Subquery:
    """The table, or the user's query as a subquery ``q``, with its columns known by name."""
    cols: list[sa.ColumnClause[Any]] = [sa.column(n) for n in names]
    if target.table is not None:
        return sa.table(target.table, *cols, schema=target.schema)
    assert target.query is not None
    # Colons escaped: ':name' in the user's SQL is text, not a bind parameter. The newline ends a
    # trailing '-- comment' before the closing parenthesis.
    text = sa.text(target.query.replace(":", "\\:") + "\n")
    return text.columns(*cols).subquery("q")


def _probe_statement(target: _Target) -> sa.Select[Any]:
    """``SELECT * FROM <source> LIMIT 0``: column names (and PostgreSQL types) without rows."""
    if target.table is not None:
        source: Any = sa.table(target.table, schema=target.schema)
    else:
        assert target.query is not None
        source = sa.text(target.query.replace(":", "\\:") + "\n").columns().subquery("q")
    return sa.select(sa.literal_column("*")).select_from(source).limit(0)


# -- the SELECT -------------------------------------------------------------------------------


def _select(
    source: sa.TableClause | sa.Subquery,
    needed: Sequence[str],
    chosen: Mapping[str, str],
    pg_types: Mapping[str, str] | None,
    dialect: str,
) -> sa.Select[Any]:
    ids = {chosen[t] for t in _ID_TARGETS if t in chosen}
    exprs: list[ColumnElement[Any]] = []
    for name in needed:
        col = source.c[name]
        kind = (pg_types or {}).get(name)
        if dialect != "postgresql" or kind is None or kind in _PG_PLAIN or kind[1:] in _PG_PLAIN:
            exprs.append(col)  # arrays of plain types arrive as lists (kept as JSON text later)
        elif kind.startswith("_"):
            # Arrays of uuid, json, numeric...: as JSON text, which is what a list becomes anyway.
            exprs.append(sa.cast(sa.func.to_jsonb(col), sa.Text).label(name))
        elif kind == "numeric" and name not in ids:
            exprs.append(sa.cast(col, sa.Double).label(name))
        else:
            # uuid, json, numeric ids, inet, interval, money...: their text is what a PM reads.
            exprs.append(sa.cast(col, sa.Text).label(name))
    return sa.select(*exprs)


@dataclass(frozen=True)
class _Bounds:
    lo: dt.datetime | None  # UTC, inclusive
    hi: dt.datetime | None  # UTC, exclusive


def _bounds(
    start: dt.date | dt.datetime | str | None, end: dt.date | dt.datetime | str | None, tz: str
) -> _Bounds | None:
    """The range as UTC instants, computed exactly as the normaliser computes it."""
    if start is None and end is None:
        return None
    lo = None if start is None else _instant(start, tz, end_of_day=False)
    hi = None if end is None else _instant(end, tz, end_of_day=True)
    return _Bounds(lo, hi)


def _between(col: Any, lo: Any, hi: Any, type_: Any = None) -> ColumnElement[bool]:
    parts = []
    if lo is not None:
        parts.append(col >= sa.bindparam(None, lo, type_=type_))
    if hi is not None:
        parts.append(col < sa.bindparam(None, hi, type_=type_))
    return sa.and_(*parts)


def _range_predicate(
    source: sa.TableClause | sa.Subquery,
    chosen: Mapping[str, str],
    kind: TimeKind,
    bounds: _Bounds,
    tz: str,
    dialect: str,
) -> ColumnElement[bool]:
    """Rows that may be in range (a superset; see the module docstring), as bound parameters."""
    ts = source.c[chosen["timestamp"]]
    keep: list[ColumnElement[bool]] = [ts.is_(None)]
    if kind == "instant":
        keep.append(_between(ts, bounds.lo, bounds.hi, sa.DateTime(timezone=True)))
    if kind == "wall":
        zone = ZoneInfo(tz)
        lo, hi = (
            None if b is None else b.astimezone(zone).replace(tzinfo=None) + shift
            for b, shift in ((bounds.lo, -_MARGIN), (bounds.hi, _MARGIN))
        )
        keep.append(_between(ts, lo, hi, sa.DateTime()))
    if kind == "date":
        lo_day = None if bounds.lo is None else (bounds.lo - _MARGIN).date()
        hi_day = None if bounds.hi is None else (bounds.hi + _MARGIN).date() + dt.timedelta(days=1)
        keep.append(_between(ts, lo_day, hi_day, sa.Date()))
    if kind in ("number", "dynamic"):
        for per_us in _EPOCH_PER_US.values():
            lo_n = None if bounds.lo is None else math.floor(_epoch_us(bounds.lo) * per_us) - 1
            hi_n = None if bounds.hi is None else math.ceil(_epoch_us(bounds.hi) * per_us) + 1
            keep.append(_between(ts, lo_n, hi_n, sa.BigInteger()))
    if kind in ("text", "dynamic"):
        # ISO text compares as text: its first ten characters are a date within a day of UTC.
        lo_s = None if bounds.lo is None else (bounds.lo - _MARGIN).date().isoformat()
        hi_s = (
            None
            if bounds.hi is None
            else ((bounds.hi + _MARGIN).date() + dt.timedelta(days=1)).isoformat()
        )
        if kind == "dynamic":  # SQLite: text sorts after every number, so numbers never match
            keep.append(_between(ts, lo_s, hi_s, sa.String()))
            keep.append(
                sa.and_(sa.func.typeof(ts) == "text", sa.not_(ts.op("GLOB")(_ISO_DATE_GLOB)))
            )
        else:
            # Byte order, not the database's collation (which may ignore the dashes).
            text = sa.collate(ts, "C") if dialect == "postgresql" else ts
            keep.append(_between(text, lo_s, hi_s, sa.String()))
            keep.append(sa.not_(ts.regexp_match(_ISO_DATE_REGEX)))
    user, anon = chosen.get("user_id"), chosen.get("anonymous_id")
    if user is not None and anon is not None:
        keep.append(sa.and_(source.c[user].is_not(None), source.c[anon].is_not(None)))
    return sa.or_(*keep)


def _epoch_us(instant: dt.datetime) -> int:
    delta = instant - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


# -- readers ----------------------------------------------------------------------------------


def _close_quietly(conn: Any) -> None:
    with suppress(Exception):
        conn.close()


def _reader(target: _Target, engine: str, timeout: float) -> _Reader:
    if engine in ("auto", "adbc"):
        if target.dialect == "postgresql":
            return _AdbcPostgres(target, timeout)
        if target.dialect == "sqlite":
            return AdbcSqliteReader(target, timeout)
        if engine == "adbc":
            raise ConnectorError(
                f"{target.label}: no ADBC driver for {target.dialect}; use engine='sqlalchemy'"
            )
    return RowReader(target, timeout)


class _Reader:
    """One connection for one load: probe the source's columns, then fetch one SELECT."""

    name = ""
    dialect: Dialect
    conn: Any = None

    def __init__(self, target: _Target, timeout: float) -> None:
        self.target = target
        self.timeout = timeout
        self.notes: list[str] = []

    def __enter__(self) -> _Reader:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def probe(self) -> tuple[list[str], dict[str, str] | None]:
        """Column names, and PostgreSQL type names (``None`` for other databases)."""
        raise NotImplementedError

    def time_kind(
        self, source: sa.TableClause | sa.Subquery, column: str, pg_types: Mapping[str, str] | None
    ) -> TimeKind | None:
        if self.target.dialect == "sqlite":
            return "dynamic"
        if pg_types is not None:
            return _PG_TIME_KINDS.get(pg_types.get(column, ""))
        return self.sample_kind(source, column)

    def sample_kind(self, source: sa.TableClause | sa.Subquery, column: str) -> TimeKind | None:
        return None

    def fetch(self, stmt: sa.Select[Any]) -> pl.DataFrame:
        raise NotImplementedError

    def compile(self, stmt: sa.Select[Any]) -> tuple[str, tuple[Any, ...]]:
        """SQL text with positional placeholders, and the values bound to them in order."""
        compiled = stmt.compile(dialect=self.dialect)
        names = compiled.positiontup or []
        log.debug("%s: %s", self.target.label, compiled)
        return str(compiled), tuple(compiled.params[n] for n in names)

    def error(self, exc: BaseException, stage: str) -> ConnectorError:
        return _translate(exc, self.target, stage, self.timeout, self.table_names)

    def table_names(self) -> list[str]:
        """The tables and views there are, for the message about a missing one (best effort)."""
        return []

    def _names_from(self, sql: str) -> list[str]:
        with suppress(Exception), self.conn.cursor() as cur:
            cur.execute(sql)
            return [str(n) for n in cur.fetch_arrow_table().column(0).to_pylist()]
        return []


class _AdbcPostgres(_Reader):
    name = "ADBC"
    _tables = (
        "SELECT CASE WHEN table_schema = 'public' THEN table_name"
        " ELSE table_schema || '.' || table_name END AS name FROM information_schema.tables"
        " WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1 LIMIT 51"
    )

    def __init__(self, target: _Target, timeout: float) -> None:
        super().__init__(target, timeout)
        # psycopg's dialect writes typed placeholders ($1::TIMESTAMP WITH TIME ZONE), which ADBC
        # binds by position.
        self.dialect = postgresql.psycopg.dialect(paramstyle="numeric_dollar")
        self.conn: Any = None

    def connect(self) -> None:
        import adbc_driver_postgresql.dbapi as adbc_pg

        url = self.target.url.set(drivername="postgresql")
        if "connect_timeout" not in url.query:
            url = url.update_query_dict({"connect_timeout": str(max(1, math.ceil(self.timeout)))})
        try:
            # Not autocommit: every read runs in a READ ONLY transaction that is rolled back,
            # so even what PostgreSQL allows there (large objects: lo_from_bytea, lo_create)
            # leaves nothing behind.
            self.conn = adbc_pg.connect(url.render_as_string(hide_password=False), autocommit=False)
            millis = max(1, round(self.timeout * 1000))
            self._run(
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
                f"SET statement_timeout = {millis}",  # an int we computed; SET takes no parameters
                "SET TIME ZONE 'UTC'",
            )
            self.conn.commit()  # the session's settings only; nothing else was run
        except Exception as exc:
            raise self.error(exc, "connect") from None

    def _run(self, *statements: str) -> None:
        with self.conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)

    def close(self) -> None:
        if self.conn is not None:
            with suppress(Exception):
                self.conn.close()

    def table_names(self) -> list[str]:
        self._roll_back()  # a failed statement leaves its transaction aborted
        try:
            return self._names_from(self._tables)
        finally:
            self._roll_back()

    def probe(self) -> tuple[list[str], dict[str, str] | None]:
        sql, params = self.compile(_probe_statement(self.target))
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, parameters=params or None)
                schema = cur.fetch_arrow_table().schema
        except Exception as exc:
            raise self.error(exc, "probe") from None
        finally:
            self._roll_back()
        types = {}
        for fld in schema:
            meta = fld.metadata or {}
            types[fld.name] = meta.get(b"POSTGRESQL:type", b"").decode()
        return list(schema.names), types

    def fetch(self, stmt: sa.Select[Any]) -> pl.DataFrame:
        batches = list(self.fetch_batches(stmt))
        return pl.concat(batches, how="vertical", rechunk=False)

    def fetch_batches(self, stmt: sa.Select[Any]) -> Generator[pl.DataFrame, None, None]:
        """The rows of ``stmt`` batch by batch (at least one frame, empty for no rows), read by a
        thread of its own, so the caller works on one batch while the next one arrives.

        ``fetched`` and ``fetch_ended`` then give the rows read and the moment (``perf_counter``)
        the last batch had arrived. A caller that stops early (closes the generator) stops the
        reading after the batch under way.
        """
        sql, params = self.compile(stmt)
        arrived: queue.SimpleQueue[pa.RecordBatch | pa.Schema | BaseException | None]
        arrived = queue.SimpleQueue()
        stop = threading.Event()

        def read() -> None:
            # The driver releases the GIL while it reads, so this runs beside Polars' work.
            try:
                with self.conn.cursor() as cur:
                    if PG_BATCH_BYTES is not None:
                        hint = {"adbc.postgresql.batch_size_hint_bytes": str(PG_BATCH_BYTES)}
                        cur.adbc_statement.set_options(**hint)
                    cur.execute(sql, parameters=params or None)
                    stream = cur.fetch_record_batch()
                    # The driver manager's reader around it turns a failure mid-stream (statement
                    # timeout, a write refused) into its DB-API error with the SQLSTATE, as
                    # fetch_arrow_table does; the bare Arrow reader raises an OSError without it.
                    stream = getattr(getattr(cur, "_results", None), "reader", stream)
                    for batch in stream:
                        arrived.put(batch)
                        if stop.is_set():
                            break
                    arrived.put(stream.schema)  # the last item: an empty result still has columns
            except BaseException as exc:  # the caller's thread raises it
                arrived.put(exc)
            finally:
                self.fetch_ended = time.perf_counter()
                arrived.put(None)

        self.fetched = 0
        reader = threading.Thread(target=read, name="northstar-postgresql-fetch", daemon=True)
        reader.start()
        try:
            while (item := arrived.get()) is not None:
                if isinstance(item, BaseException):
                    raise self.error(item, "fetch") from None
                if isinstance(item, pa.Schema):
                    if not self.fetched:
                        yield _from_arrow(item.empty_table())
                    continue
                self.fetched += item.num_rows
                yield _from_arrow(pa.Table.from_batches([item]))
        finally:
            stop.set()
            reader.join()
            self._roll_back()

    def _roll_back(self) -> None:
        with suppress(Exception):
            self.conn.rollback()


class AdbcSqliteReader(_Reader):
    name = "ADBC"
    _tables = (
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
        " AND name NOT LIKE 'sqlite!_%' ESCAPE '!' ORDER BY name LIMIT 51"
    )

    def __init__(self, target: _Target, timeout: float) -> None:
        super().__init__(target, timeout)
        self.dialect = sqlite.dialect(paramstyle="qmark")
        self.conn: Any = None

    def connect(self) -> None:
        import adbc_driver_sqlite.dbapi as adbc_sqlite

        path = _sqlite_path(self.target)
        self._running: Any = None
        try:
            self.conn = adbc_sqlite.connect(f"file:{quote(str(path))}?mode=ro")
            with self.conn.cursor() as cur:
                cur.execute(f"PRAGMA busy_timeout = {max(1, round(self.timeout * 1000))}")
        except Exception as exc:
            raise self.error(exc, "connect") from None

    def close(self) -> None:
        conn = self.conn
        if conn is None:
            return
        running = getattr(self, "_running", None)
        if running is not None and not running.done():
            # A statement given up at the deadline still runs: close once it has ended.
            running.add_done_callback(lambda _: _close_quietly(conn))
            return
        _close_quietly(conn)

    def table_names(self) -> list[str]:
        return self._names_from(self._tables)

    def probe(self) -> tuple[list[str], dict[str, str] | None]:
        sql, params = self.compile(_probe_statement(self.target))
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, parameters=params or None)
                names = list(cur.fetch_arrow_table().schema.names)
        except Exception as exc:
            raise self.error(exc, "probe") from None
        return names, None

    def fetch(self, stmt: sa.Select[Any]) -> pl.DataFrame:
        sql, params = self.compile(stmt)

        def read() -> Any:
            with self.conn.cursor() as cur:
                # The driver types each column from the first batch of rows: one batch holding
                # every row means a column that is empty for a million rows still gets its type.
                cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(2**30)})
                cur.execute(sql, parameters=params or None)
                return cur.fetch_arrow_table()

        # ADBC's SQLite driver cannot interrupt a statement: the read runs in a worker and the
        # load gives up at the deadline (the worker's statement then ends by itself).
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="northstar-sqlite")
        future = pool.submit(read)
        try:
            table = future.result(timeout=self.timeout)
        except FutureTimeout:
            self._running = future  # close() must wait for it: closing under it crashes
            raise ConnectorError(
                f"{self.target.label}: the statement ran longer than {self.timeout:g} s "
                "(timeout_seconds); raise it, or narrow the query"
            ) from None
        except Exception as exc:
            raise self.error(exc, "fetch") from None
        finally:
            pool.shutdown(wait=False)
        return _from_arrow(table)


class RowReader(_Reader):
    """SQLAlchemy row fetch: every dialect SQLAlchemy has a driver for; the slow path."""

    name = "SQLAlchemy rows"
    chunk = 100_000

    def __init__(self, target: _Target, timeout: float) -> None:
        super().__init__(target, timeout)
        self.engine: sa.Engine | None = None
        self.conn: sa.Connection | None = None
        self.deadline = math.inf

    def connect(self) -> None:
        url = self.target.url
        connect_args: dict[str, Any] = {}
        if self.target.dialect == "postgresql":
            if url.drivername == "postgresql":
                url = url.set(drivername="postgresql+psycopg")  # psycopg 3 is what we install
            connect_args["connect_timeout"] = max(1, math.ceil(self.timeout))
        if self.target.dialect == "sqlite":
            path = _sqlite_path(self.target)
            url = url.set(database=f"file:{quote(str(path))}?mode=ro", query={"uri": "true"})
            connect_args["timeout"] = self.timeout  # busy timeout
        try:
            self.engine = sa.create_engine(url, poolclass=sa.NullPool, connect_args=connect_args)
            self.dialect = self.engine.dialect
            self.conn = self.engine.connect()
            self._guard()
        except ConnectorError:
            raise
        except Exception as exc:
            raise self.error(exc, "connect") from None

    def _guard(self) -> None:
        assert self.conn is not None
        if self.target.dialect == "postgresql":
            self.conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            self.conn.execute(
                sa.text("SELECT set_config('statement_timeout', :ms, true)"),
                {"ms": str(max(1, round(self.timeout * 1000)))},
            )
            self.conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
        elif self.target.dialect == "sqlite":
            raw = self.conn.connection.dbapi_connection
            # SQLite checks the handler every 10k VM steps; a non-zero return interrupts.
            raw.set_progress_handler(lambda: int(time.monotonic() > self.deadline), 10_000)  # type: ignore[union-attr]
        else:
            self.notes.append(
                f"{self.target.dialect}: no read-only transaction or statement timeout is set "
                "for this database; use a read-only login."
            )

    def close(self) -> None:
        if self.conn is not None:
            with suppress(Exception):
                self.conn.rollback()
                self.conn.close()
        if self.engine is not None:
            self.engine.dispose()

    def table_names(self) -> list[str]:
        if self.conn is None:
            return []
        with suppress(Exception):
            self.conn.rollback()  # a failed statement leaves PostgreSQL's transaction aborted
            inspector = sa.inspect(self.conn)
            names = inspector.get_table_names(self.target.schema)
            names += inspector.get_view_names(self.target.schema)
            return sorted(names)[:51]
        return []

    def probe(self) -> tuple[list[str], dict[str, str] | None]:
        assert self.conn is not None
        self.deadline = time.monotonic() + self.timeout
        try:
            result = self.conn.execute(_probe_statement(self.target))
            names = list(result.keys())
            types = None
            if self.target.dialect == "postgresql":
                types = _psycopg_type_names(result.cursor.description)
            result.close()
        except Exception as exc:
            raise self.error(exc, "probe") from None
        return names, types

    def sample_kind(self, source: sa.TableClause | sa.Subquery, column: str) -> TimeKind | None:
        assert self.conn is not None
        col = source.c[column]
        try:
            value = self.conn.execute(sa.select(col).where(col.is_not(None)).limit(1)).scalar()
        except Exception as exc:
            raise self.error(exc, "probe") from None
        if isinstance(value, dt.datetime):
            return "instant" if value.tzinfo is not None else "wall"
        if isinstance(value, dt.date):
            return "date"
        if isinstance(value, str):
            return "text"
        if isinstance(value, int | float) or type(value).__name__ == "Decimal":
            return "number"
        return None

    def fetch(self, stmt: sa.Select[Any]) -> pl.DataFrame:
        assert self.conn is not None
        self.compile(stmt)  # for the debug log only; SQLAlchemy binds the parameters itself
        self.deadline = time.monotonic() + self.timeout
        chunks: list[pl.DataFrame] = []
        try:
            result = self.conn.execution_options(stream_results=True).execute(stmt)
            names = list(result.keys())
            while rows := result.fetchmany(self.chunk):
                chunks.append(self._frame(names, rows))
        except ConnectorError:
            raise
        except Exception as exc:
            raise self.error(exc, "fetch") from None
        if not chunks:
            return pl.DataFrame(schema=dict.fromkeys(names, pl.Null()))
        return pl.concat(chunks, how="vertical_relaxed")

    def _frame(self, names: list[str], rows: Sequence[Any]) -> pl.DataFrame:
        series = []
        for name, values in zip(names, zip(*rows, strict=True), strict=True):
            try:
                series.append(pl.Series(name, values, strict=True))
            except (TypeError, pl.exceptions.PolarsError):
                note = f"Column '{name}' mixes kinds of values (text and numbers); read as text."
                if note not in self.notes:
                    self.notes.append(note)
                series.append(pl.Series(name, [None if v is None else str(v) for v in values]))
        return pl.DataFrame(series)


def _psycopg_type_names(description: Any) -> dict[str, str] | None:
    try:
        from psycopg.postgres import types as pg_types
    except ImportError:
        return None
    names = {}
    for col in description or ():
        info = pg_types.get(col.type_code)  # an array's oid finds its element type's info
        if info is None:
            names[col.name] = ""
        elif info.array_oid == col.type_code:
            names[col.name] = "_" + info.name  # the catalog's name for arrays, as ADBC gives it
        else:
            names[col.name] = info.name
    return names


def _sqlite_path(target: _Target) -> Path:
    database = target.url.database
    if not database or database == ":memory:":
        raise ConnectorError(f"{target.label}: name a SQLite file (sqlite:///path/to/events.db)")
    path = Path(database).expanduser().resolve()
    if not path.is_file():
        raise ConnectorError(f"{target.label}: database file {str(path)!r} not found")
    return path


def _from_arrow(table: pa.Table) -> pl.DataFrame:
    """A Polars frame from ADBC's Arrow table; extension types (JSON, opaque) as their storage."""
    for index, fld in enumerate(table.schema):
        if isinstance(fld.type, pa.ExtensionType):
            chunks = [chunk.storage for chunk in table.column(index).chunks]
            storage = pa.chunked_array(chunks, type=fld.type.storage_type)
            table = table.set_column(index, fld.name, storage)
    frame = pl.from_arrow(table, rechunk=False)
    assert isinstance(frame, pl.DataFrame)
    # Widths as the row fetch gives them (Python ints and floats), so both paths agree.
    return frame.with_columns(
        pl.col(pl.Int8, pl.Int16, pl.Int32).cast(pl.Int64), pl.col(pl.Float32).cast(pl.Float64)
    )


# -- errors -----------------------------------------------------------------------------------


_PARAMETER_MISMATCH = re.compile(
    r"parameter count mismatch|number of bindings|bind message supplies|"
    r"could not determine data type of parameter|there is no parameter \$|"
    r"query parameter|not all arguments converted|the query has \d+ placeholders"
)


def _translate(
    exc: BaseException,
    target: _Target,
    stage: str,
    timeout: float,
    table_names: Callable[[], list[str]] = list,
) -> ConnectorError:
    """One ConnectorError naming the source, with the driver's reason and no secret in it."""
    raw = str(getattr(exc, "orig", None) or exc)
    if target.secret:
        raw = raw.replace(target.secret, "***")
    raw = mask_secrets(raw)
    state = getattr(exc, "sqlstate", None) or getattr(getattr(exc, "orig", None), "sqlstate", None)
    reason = _reason(raw)
    lowered = raw.lower()
    label = target.label
    if state == "57014" or "interrupted" in lowered:
        return ConnectorError(
            f"{label}: the query ran longer than {timeout:g} s (timeout_seconds) and was stopped"
        )
    if state == "25006":
        return ConnectorError(f"{label}: the query tried to change data; SQL sources are read only")
    if stage == "connect":
        return ConnectorError(f"{label}: cannot connect: {reason}")
    if stage != "connect" and target.query is not None and _PARAMETER_MISMATCH.search(lowered):
        # The query holds a parameter marker of its own ($1, ?, :name, %s): only Northstar's
        # date range is bound, so the driver counts one value too few.
        return ConnectorError(
            f"{label}: the query has a parameter marker of its own ($1, ?, :name or %s); "
            "write the values into the query: Northstar binds only the date range"
        )
    missing = state == "42P01" or "no such table" in lowered
    if missing and target.table is not None:
        where = f"{target.schema}.{target.table}" if target.schema else target.table
        tables = table_names()
        there = ", ".join(repr(t) for t in tables[:50]) + (", …" if len(tables) > 50 else "")
        return ConnectorError(
            f"{label}: table {where!r} does not exist. "
            + (f"Tables: {there}." if tables else "The database has no tables.")
        )
    if state == "42601" or "syntax error" in lowered:
        return ConnectorError(f"{label}: the query has a syntax error: {reason}")
    return ConnectorError(f"{label}: the query failed: {reason}")


_NOISE = re.compile(
    r"^(?:[A-Z_]+: )?(?:\[\w+\] )?(?:Failed to (?:connect|prepare query|step query|execute query)"
    r"(?: \([^)]*\))?: )?(?:Execution error \[\w+\]: )?",
)


_ECHO = ("LINE ", "^", "Query was:", "(Background", "[SQL:", "[parameters:")


def _reason(raw: str) -> str:
    """The driver's message without its codes, SQL echo and hints: one line, at most 300 chars."""
    line = ""
    for candidate in raw.splitlines():
        candidate = candidate.strip()
        if candidate and not candidate.startswith(
            ("LINE ", "^", "Query was:", "(Background", "[SQL:")
        ):
            line = candidate
            break
    line = _NOISE.sub("", line)
    line = re.sub(r"\b(?:FATAL|ERROR):\s+", "", line)
    line = re.sub(r"^\([\w.]+\) ", "", line)  # SQLAlchemy's "(psycopg.OperationalError) "
    line = re.sub(r"\. SQLSTATE: \w+$", "", line)
    line = re.sub(r"\s+", " ", line).strip()
    return line[:300] or "unknown error"
