"""The engines a relation runs on: one small class each, the same promises for all.

Every engine runs one statement with bound values and returns its rows as a Polars frame, and
keeps three promises (docs/warehouse.md "Safety"): a statement timeout (``timeout_seconds``), a
row cap (a result with more rows than ``max_rows`` is an error, never a silent truncation), and a
read-only session where the engine has one (PostgreSQL: a READ ONLY transaction that is rolled
back; ClickHouse: ``readonly``; a DuckDB file: opened read-only). Spark has no read-only mode:
Northstar only ever sends SELECTs, and a timed-out statement's jobs are cancelled.
"""

from __future__ import annotations

import contextlib
import copy
import math
import threading
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from typing import Any

import polars as pl
import pyarrow as pa

from connectors.errors import ConnectorError

DEFAULT_TIMEOUT = 300.0
DEFAULT_MAX_ROWS = 1_000_000


class ResultTooLarge(ConnectorError):
    """A statement returned more rows than the cap (nothing is truncated silently)."""


class _Base:
    dialect: str = ""

    def __init__(self, *, timeout_seconds: float, max_rows: int) -> None:
        if not (isinstance(timeout_seconds, int | float) and timeout_seconds > 0):
            raise ValueError("timeout_seconds must be a positive number of seconds")
        if not (isinstance(max_rows, int) and max_rows > 0):
            raise ValueError("max_rows must be a positive whole number")
        self.timeout = float(timeout_seconds)
        self.max_rows = max_rows

    def with_limits(self, *, timeout_seconds: float, max_rows: int) -> _Base:
        """The same engine with other limits (a page may allow a longer statement)."""
        other = copy.copy(self)
        _Base.__init__(other, timeout_seconds=timeout_seconds, max_rows=max_rows)
        return other

    def _capped(self, sql: str) -> str:
        return f"SELECT * FROM ({sql}) AS capped LIMIT {self.max_rows + 1}"

    def _check_size(self, frame: pl.DataFrame) -> pl.DataFrame:
        if frame.height > self.max_rows:
            raise ResultTooLarge(
                f"{self.dialect}: the result has more than {self.max_rows:,} rows "
                "(raise max_rows, or narrow the query: a shorter range, fewer breakdown values)"
            )
        return frame

    def _failed(self, exc: BaseException) -> ConnectorError:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return ConnectorError(f"{self.dialect}: the statement failed: {message[:500]}")


def _arrow_to_polars(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


@contextmanager
def _deadline(seconds: float, cancel: Any) -> Iterator[threading.Event]:
    """Call ``cancel()`` once ``seconds`` have passed, unless the block finished first."""
    fired = threading.Event()

    def fire() -> None:
        fired.set()
        cancel()

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


class DuckDBEngine(_Base):
    dialect = "duckdb"

    def __init__(self, connection: Any, **limits: Any) -> None:
        super().__init__(**limits)
        self.connection = connection

    def run(self, sql: str, params: Mapping[str, Any]) -> pl.DataFrame:
        cursor = (
            self.connection.cursor()
        )  # its own cursor: interrupting it stops only this statement
        try:
            with _deadline(self.timeout, cursor.interrupt) as fired:
                try:
                    table = cursor.sql(self._capped(sql), params=dict(params)).to_arrow_table()
                except Exception as exc:
                    if fired.is_set():
                        raise _timed_out(self.dialect, self.timeout) from exc
                    raise self._failed(exc) from exc
        finally:
            cursor.close()
        return self._check_size(_arrow_to_polars(table))


class ChdbEngine(_Base):
    dialect = "clickhouse"

    def __init__(self, session: Any, **limits: Any) -> None:
        super().__init__(**limits)
        self.session = session

    def run(self, sql: str, params: Mapping[str, Any]) -> pl.DataFrame:
        settings = (
            f" SETTINGS readonly = 2, max_execution_time = {math.ceil(self.timeout)}, "
            f"max_result_rows = {self.max_rows}, result_overflow_mode = 'throw', "
            "join_use_nulls = 1, aggregate_functions_null_for_empty = 1"
        )
        try:
            table = self.session.query(sql + settings, "ArrowTable", params=dict(params))
        except Exception as exc:
            # chdb 4.4 garbles the result that follows a failed query (seen: "Invalid
            # flatbuffers message", or an empty table): a throwaway query takes that slot.
            with contextlib.suppress(Exception):
                self.session.query("SELECT 1", "CSV")
            text = str(exc)
            if "TIMEOUT_EXCEEDED" in text or "Timeout exceeded" in text:
                raise _timed_out(self.dialect, self.timeout) from exc
            if "TOO_MANY_ROWS" in text or "Limit for result exceeded" in text:
                raise ResultTooLarge(
                    f"clickhouse: the result has more than {self.max_rows:,} rows "
                    "(raise max_rows, or narrow the query)"
                ) from exc
            raise self._failed(exc) from exc
        return self._check_size(_arrow_to_polars(table))


class SparkEngine(_Base):
    """Spark: the statement runs in a job group that is cancelled at the deadline.

    Spark cannot interrupt every task at once (a tight generated loop runs on until its
    partition ends), so the call itself returns at the deadline with the error and the
    cancelled jobs stop in the background.
    """

    dialect = "spark"

    def __init__(self, spark: Any, **limits: Any) -> None:
        super().__init__(**limits)
        self.spark = spark

    def run(self, sql: str, params: Mapping[str, Any]) -> pl.DataFrame:
        context = self.spark.sparkContext
        group = f"northstar-{uuid.uuid4().hex}"
        capped = self._capped(sql)

        def collect() -> pa.Table:
            # Job groups are per thread: set it in the thread that runs the job.
            context.setJobGroup(group, "Northstar metric", interruptOnCancel=True)
            conf = self.spark.conf
            zone = conf.get("spark.sql.session.timeZone")
            conf.set("spark.sql.session.timeZone", "UTC")  # the SQL's time functions assume it
            try:
                return self.spark.sql(capped, args=dict(params) or None).toArrow()
            finally:
                conf.set("spark.sql.session.timeZone", zone)

        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="northstar-spark")
        future = pool.submit(collect)
        try:
            table = future.result(timeout=self.timeout)
        except FutureTimeout as exc:
            context.cancelJobGroup(group)
            raise _timed_out(self.dialect, self.timeout) from exc
        except Exception as exc:
            raise self._failed(exc) from exc
        finally:
            pool.shutdown(wait=False)
        return self._check_size(_arrow_to_polars(table))


class SQLAlchemyEngine(_Base):
    """Any database SQLAlchemy reaches; PostgreSQL in a READ ONLY transaction, rolled back."""

    def __init__(self, engine: Any, dialect: str, **limits: Any) -> None:
        super().__init__(**limits)
        self.engine = engine
        self.dialect = dialect

    def run(self, sql: str, params: Mapping[str, Any]) -> pl.DataFrame:
        import sqlalchemy as sa

        try:
            with self.engine.connect() as conn:
                conn.begin()
                try:
                    if self.dialect == "postgres":
                        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                        conn.execute(
                            sa.text("SELECT set_config('statement_timeout', :ms, true)"),
                            {"ms": str(max(1, round(self.timeout * 1000)))},
                        )
                        # Our statements are whole-table aggregations whose CTE row estimates
                        # are often 1: PostgreSQL then nests loops over 100k x 100k rows (a
                        # rolling retention on 40k events ran past 300 s). Hash joins instead.
                        conn.exec_driver_sql("SET LOCAL enable_nestloop = off")
                        # That penalty inflates costs past jit_above_cost, and compiling the
                        # plan then took 8 of a funnel's 8.4 s: our statements are not JIT's case.
                        conn.exec_driver_sql("SET LOCAL jit = off")
                        # Disabled nested loops still cost 1e10 each, which lifts every plan
                        # over the JIT thresholds: a funnel on 8 rows then spent 60 s compiling.
                        conn.exec_driver_sql("SET LOCAL jit = off")
                    result = conn.execute(sa.text(self._capped(sql)), dict(params))
                    names = list(result.keys())
                    oids = _type_codes(result)
                    rows = result.fetchall()
                finally:
                    conn.rollback()
        except ConnectorError:
            raise
        except Exception as exc:
            if "statement timeout" in str(exc) or "canceling statement" in str(exc):
                raise _timed_out(self.dialect, self.timeout) from exc
            raise self._failed(exc) from exc
        columns = {name: [row[i] for row in rows] for i, name in enumerate(names)}
        frame = (
            pl.DataFrame(columns, strict=False)
            if rows
            else pl.DataFrame({name: [] for name in names})
        )
        if self.dialect == "postgres":
            frame = _postgres_typed(frame, oids)
        return self._check_size(frame)


def _timed_out(dialect: str, seconds: float) -> ConnectorError:
    return ConnectorError(
        f"{dialect}: the statement ran longer than {seconds:g} s and was cancelled "
        "(raise timeout_seconds, or narrow the query)"
    )


#: PostgreSQL type OIDs -> Polars types, for columns Python values cannot type (no rows, or
#: only NULLs): an empty table's time column must still read as a time (``_probe``).
_PG_TYPES: dict[int, pl.DataType] = {
    16: pl.Boolean(),
    20: pl.Int64(),
    21: pl.Int64(),
    23: pl.Int64(),
    700: pl.Float64(),
    701: pl.Float64(),
    1700: pl.Float64(),
    25: pl.String(),
    1042: pl.String(),
    1043: pl.String(),
    1082: pl.Date(),
    1114: pl.Datetime("us"),
    1184: pl.Datetime("us", "UTC"),
}


def _type_codes(result: Any) -> list[Any]:
    cursor = getattr(result, "cursor", None)
    description = getattr(cursor, "description", None) or []
    return [column[1] for column in description]


def _postgres_typed(frame: pl.DataFrame, oids: list[Any]) -> pl.DataFrame:
    """Null-typed columns (no rows, or only NULLs) cast to the type the server reported."""
    if len(oids) != frame.width:
        return frame
    casts = [
        pl.col(name).cast(_PG_TYPES[oid])
        for name, oid in zip(frame.columns, oids, strict=True)
        if frame.schema[name] == pl.Null and oid in _PG_TYPES
    ]
    return frame.with_columns(casts) if casts else frame
