"""Events that stay in a warehouse: :func:`warehouse` returns a relation every metric computes on.

    rel = warehouse(duckdb.connect("events.duckdb"), table="events")
    engagement.active_users(rel, start="2026-10-01", end="2026-10-31")   # runs in DuckDB
    metrics.sql(engagement.active_users, rel, start=..., end=...)        # the SQL, for reading

The relation holds no rows: one SELECT that reads the source's columns as the canonical ones
(``mapping`` renames in the SQL; times become microseconds since 1970 UTC whatever their type:
TIMESTAMP in ``tz``, TIMESTAMP WITH TIME ZONE, integer epochs in s/ms/µs/ns detected by magnitude,
ISO text), drops events with no user, event or time, drops repeated ``event_id`` s (the earliest
is kept), and follows identity links when the source has an ``anonymous_id`` column. See
docs/warehouse.md.
"""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Mapping
from typing import Any

from connectors.errors import ConnectorError
from connectors.report import LoadReport
from connectors.warehouse.assignments import assignments_select, source_kind
from connectors.warehouse.engines import (
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT,
    ChdbEngine,
    DuckDBEngine,
    ResultTooLarge,
    SparkEngine,
    SQLAlchemyEngine,
)
from connectors.warehouse.report import sql_load_report
from connectors.warehouse.source import SourceColumns, canonical_select, ga4_select
from metrics._common import check_tz
from metrics.warehouse import Dialect, Relation

__all__ = ["Relation", "ResultTooLarge", "warehouse", "load_report"]

_SQLALCHEMY_DIALECTS = {
    "postgresql": "postgres",
    "sqlite": "sqlite",
    "mysql": "mysql",
    "mariadb": "mysql",
    "duckdb": "duckdb",
    "snowflake": "snowflake",
    "trino": "trino",
    "bigquery": "bigquery",
    "databricks": "databricks",
    "clickhouse": "clickhouse",
}


def warehouse(
    connection: Any,
    *,
    table: str | None = None,
    query: str | None = None,
    mapping: Mapping[str, str] | None = None,
    tz: str = "UTC",
    dialect: str | None = None,
    preset: str | None = None,
    kind: str | None = None,
    timeout_seconds: float = DEFAULT_TIMEOUT,
    max_rows: int = DEFAULT_MAX_ROWS,
    duplicates: str = "check",
) -> Relation:
    """A relation over the events in ``table`` (or ``query``) on ``connection``.

    ``connection``: a SQLAlchemy URL or Engine, a ``duckdb`` connection, a ``chdb`` session, a
    ``pyspark.sql.SparkSession``, or ``None`` with ``dialect=`` for a relation that only compiles
    SQL ("bigquery", "snowflake", "trino", "clickhouse", "databricks", "postgres", "duckdb",
    "spark"). ``preset="ga4"`` reads a GA4 BigQuery export (``events_*``). Every statement has a
    timeout and a row cap; a bad argument is a ``ConnectorError`` naming it.

    ``kind="assignments"`` reads experiment assignments (``user_id``, ``experiment``, ``variant``,
    a time) instead of events; without ``kind`` a source with experiment and variant columns and
    no event column is read so (connectors/warehouse/assignments.py).
    """
    if (table is None) == (query is None) and preset is None:
        raise ConnectorError("warehouse: name the events with table= or query= (one of them)")
    if table is not None and (not isinstance(table, str) or not table.strip()):
        raise ConnectorError(f"warehouse: table= must be a table name, not {table!r}")
    if query is not None and (not isinstance(query, str) or not query.strip()):
        raise ConnectorError("warehouse: query= must be a SELECT statement")
    try:
        check_tz(tz)
    except ValueError as exc:
        raise ConnectorError(f"warehouse: {exc}") from exc
    limits = {"timeout_seconds": timeout_seconds, "max_rows": max_rows}
    engine, name, label = _engine(connection, dialect, limits)
    try:
        sql_dialect = Dialect(name)
    except ValueError as exc:
        raise ConnectorError(f"warehouse: {exc}") from exc
    if query is not None:
        query = query.strip().rstrip(";")
        base = f"({query}) AS src"
        where = "query"
    else:
        assert table is not None or preset is not None
        base = f"{sql_dialect.table(table or 'events_*')} AS src"
        where = table or "events_*"
    if preset is None:
        found_columns = _probe(engine, sql_dialect, base) if engine is not None else None
        if source_kind(found_columns, mapping or {}, table, kind) == "assignments":
            source, columns = assignments_select(
                sql_dialect, base, found_columns, mapping or {}, tz
            )
            return Relation(
                dialect=sql_dialect,
                source=source,
                columns=columns,
                engine=engine,
                kind="assignments",
                description=f"{label} ({where}, assignments)",
            )
    if preset == "ga4":
        source, columns, raw = ga4_select(sql_dialect, base, mapping or {})
    elif preset is not None:
        raise ConnectorError(f"warehouse: preset must be 'ga4', not {preset!r}")
    else:
        found = _probe(engine, sql_dialect, base) if engine is not None else None
        source, columns, raw = canonical_select(sql_dialect, base, found, mapping or {}, tz)
        if engine is not None and columns is not None and "event_id" in columns:
            undeduped = canonical_select(sql_dialect, base, found, mapping or {}, tz, dedupe=False)
            keep_all = duplicates == "trust" or (
                duplicates == "check" and not _has_duplicates(engine, sql_dialect, undeduped[0])
            )
            if keep_all:
                source, columns, raw = undeduped
    return Relation(
        dialect=sql_dialect,
        source=source,
        columns=columns,
        engine=engine,
        description=f"{label} ({where})",
        raw=raw,
    )


def _engine(connection: Any, dialect: str | None, limits: dict[str, Any]) -> tuple[Any, str, str]:
    """(engine or None, dialect name, a label without secrets) for the connection given."""
    if connection is None:
        if dialect is None:
            raise ConnectorError("warehouse: a relation without a connection needs dialect=")
        return None, dialect, f"{dialect} (compile only)"
    module = type(connection).__module__
    kind = type(connection).__name__
    if module.startswith("duckdb") or kind == "DuckDBPyConnection":
        return DuckDBEngine(connection, **limits), "duckdb", "DuckDB"
    if module.startswith("chdb"):
        return ChdbEngine(connection, **limits), "clickhouse", "ClickHouse (chdb)"
    if module.startswith("pyspark"):
        return SparkEngine(connection, **limits), "spark", "Spark"
    if isinstance(connection, str) and connection.startswith("duckdb:///"):
        import duckdb

        path = connection.removeprefix("duckdb:///")
        try:
            con = duckdb.connect(path, read_only=True)
        except Exception as exc:
            raise ConnectorError(f"warehouse: cannot open the DuckDB file {path}: {exc}") from exc
        return DuckDBEngine(con, **limits), "duckdb", f"DuckDB file {path}"
    import sqlalchemy as sa

    if isinstance(connection, str):
        try:
            connection = sa.create_engine(connection)
        except Exception as exc:
            raise ConnectorError(f"warehouse: not a database URL ({type(exc).__name__})") from exc
    if isinstance(connection, sa.engine.Engine):
        name = _SQLALCHEMY_DIALECTS.get(connection.dialect.name)
        if name is None:
            raise ConnectorError(
                f"warehouse: no SQL dialect for {connection.dialect.name!r} "
                f"(known: {', '.join(sorted(_SQLALCHEMY_DIALECTS))})"
            )
        label = connection.url.render_as_string(hide_password=True)
        return SQLAlchemyEngine(connection, name, **limits), name, label
    raise ConnectorError(
        f"warehouse: connection must be a SQLAlchemy URL or Engine, a duckdb connection, a chdb "
        f"session or a SparkSession, not {kind}"
    )


def _has_duplicates(engine: Any, d: Dialect, source: str) -> bool:
    """Whether any ``event_id`` repeats among the canonical events (one aggregation)."""
    ids = d.quote("event_id")
    repeated = d.to_bigint(f"COUNT(*) - {d.count_distinct(ids)}")
    frame = engine.run(
        f"SELECT {repeated} AS repeated FROM ({source}) AS c WHERE {ids} IS NOT NULL", {}
    )
    return bool(frame.item(0, 0))


def _probe(engine: Any, d: Dialect, base: str) -> SourceColumns:
    """The source's column names and the kind of each (from one row; LIMIT 0 when empty)."""
    try:
        frame = engine.run(f"SELECT * FROM {base} LIMIT 1", {})
    except ConnectorError as exc:
        raise ConnectorError(f"warehouse: cannot read the events: {exc}") from exc
    return SourceColumns.from_frame(frame)


def load_report(relation: Relation) -> LoadReport:
    """The load report of a relation (docs/data.md), every figure counted in the engine."""
    return sql_load_report(relation)


class _CallableModule(types.ModuleType):
    """``connectors.warehouse`` is this package and also the function of the same name, so the
    public call reads as written (``connectors.warehouse(connection, table=...)``) while
    ``connectors.warehouse.engines`` and ``from connectors.warehouse import warehouse`` work too.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Relation:
        return warehouse(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:
        """The function's own parameters, so ``help`` and ``inspect`` show the documented call."""
        return inspect.signature(warehouse)


sys.modules[__name__].__class__ = _CallableModule
