"""What differs between SQL engines, in one table: quoting, placeholders, integer division, types.

Northstar writes its warehouse SQL in a small portable subset (integer arithmetic, CASE, GROUP BY,
COUNT(DISTINCT), window functions, joins) and asks this module for the few pieces each engine
spells its own way. We do not let a transpiler rewrite whole statements: measured with sqlglot
30, ``a // b`` becomes float division then a cast on ClickHouse, Snowflake and Trino (wrong for
microsecond timestamps, which need 53+ bits), and an exact median becomes an approximate one on
Spark and Trino. sqlglot is still used for what it does well: quoting identifiers and string
literals the way each dialect wants them, and parsing our output in every dialect in the tests.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

#: Dialects a relation can name; the first four run here, the others compile only.
DIALECTS: tuple[str, ...] = (
    "duckdb",
    "postgres",
    "clickhouse",
    "spark",
    "sqlite",
    "mysql",
    "bigquery",
    "snowflake",
    "trino",
    "databricks",
)


@dataclass(frozen=True)
class Dialect:
    """One engine's spelling of the pieces that are not portable."""

    name: str

    def __post_init__(self) -> None:
        if self.name not in DIALECTS:
            raise ValueError(f"dialect: one of {', '.join(DIALECTS)}, not {self.name!r}")

    @property
    def sqlglot_name(self) -> str:
        return self.name

    # -- names and values ------------------------------------------------------------------------

    def quote(self, name: str) -> str:
        """An identifier quoted as the dialect wants it (so any column name is safe)."""
        return exp.to_identifier(name, quoted=True).sql(dialect=self.sqlglot_name)

    def table(self, name: str) -> str:
        """A possibly schema-qualified table name (``schema.table``), each part quoted."""
        parts = [part for part in name.split(".")]
        if not all(parts):
            raise ValueError(f"table: {name!r} is not a table name")
        return ".".join(self.quote(part) for part in parts)

    def literal(self, value: Any) -> str:
        """A value written inline, for reading (execution binds values instead)."""
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError(f"{value!r} cannot be written in SQL")
            return repr(value)
        if isinstance(value, dt.datetime | dt.date):
            value = value.isoformat()
        return exp.Literal.string(str(value)).sql(dialect=self.sqlglot_name)

    def placeholder(self, name: str, value: Any) -> str:
        """The bound-parameter marker of ``name`` as the engine's driver expects it."""
        if self.name == "duckdb":
            return f"${name}"
        if self.name == "clickhouse":
            return "{" + name + ":" + _clickhouse_type(value) + "}"
        if self.name == "bigquery":
            return f"@{name}"
        # SQLAlchemy text() (PostgreSQL, SQLite, MySQL, Snowflake, Trino), Spark's args=
        return f":{name}"

    # -- arithmetic and types --------------------------------------------------------------------

    def idiv(self, a: str, b: str | int) -> str:
        """Integer division of non-negative integers (truncation and floor agree there)."""
        if self.name == "duckdb":
            return f"(({a}) // {b})"
        if self.name == "clickhouse":
            return f"intDiv({a}, {b})"
        if self.name in ("spark", "databricks", "mysql"):
            return f"(({a}) DIV {b})"
        if self.name == "bigquery":
            return f"DIV({a}, {b})"
        if self.name == "snowflake":
            return f"FLOOR(({a}) / {b})"
        return f"(({a}) / {b})"  # postgres, sqlite, trino: integer operands divide as integers

    def mod(self, a: str, b: str | int) -> str:
        if self.name in ("bigquery", "clickhouse"):
            return f"MOD({a}, {b})"
        return f"(({a}) % {b})"

    @property
    def bigint(self) -> str:
        return {
            "clickhouse": "Int64",
            "bigquery": "INT64",
            "mysql": "SIGNED",
            "sqlite": "INTEGER",
        }.get(self.name, "BIGINT")

    @property
    def double(self) -> str:
        return {
            "clickhouse": "Float64",
            "bigquery": "FLOAT64",
            "mysql": "DOUBLE",
            "sqlite": "REAL",
            "postgres": "DOUBLE PRECISION",
        }.get(self.name, "DOUBLE")

    @property
    def text(self) -> str:
        return {
            "clickhouse": "String",
            "bigquery": "STRING",
            "spark": "STRING",
            "databricks": "STRING",
            "mysql": "CHAR",
            "sqlite": "TEXT",
        }.get(self.name, "VARCHAR")

    def to_bigint(self, expr: str) -> str:
        if self.name == "clickhouse":
            # toInt64 keeps NULL as NULL for Nullable values; CAST(NULL AS Int64) fails.
            return f"toInt64({expr})"
        return f"CAST({expr} AS {self.bigint})"

    def to_double(self, expr: str) -> str:
        if self.name == "clickhouse":
            # toFloat64 keeps NULL as NULL for Nullable values; CAST(NULL AS Float64) fails.
            return f"toFloat64({expr})"
        return f"CAST({expr} AS {self.double})"

    def to_text(self, expr: str) -> str:
        if self.name == "clickhouse":
            # toString keeps NULL as NULL for Nullable columns; CAST(NULL AS String) fails.
            return f"toString({expr})"
        return f"CAST({expr} AS {self.text})"

    def binary(self, text: str) -> str:
        """A text expression that sorts by code point, as Polars sorts strings (PostgreSQL and
        MySQL would otherwise follow the database's locale collation)."""
        if self.name == "postgres":
            return f'({text}) COLLATE "C"'
        if self.name == "mysql":
            return f"CAST({text} AS BINARY)"
        return text

    def count_distinct(self, expr: str) -> str:
        if self.name == "clickhouse":
            return f"uniqExact({expr})"
        return f"COUNT(DISTINCT {expr})"

    def count(self) -> str:
        return "COUNT(*)"

    def nullable(self, expr: str) -> str:
        """``expr`` as a value that may be NULL, for LAG/LEAD past a partition's edge.

        ClickHouse's ``lag``/``lead`` give the type's default (0) there unless the argument is
        Nullable; every other engine gives NULL.
        """
        if self.name == "clickhouse":
            return f"toNullable({expr})"
        return expr

    def latest_non_null(self, value: str, window: str) -> str:
        """The frame's last non-NULL ``value`` (in the window's order), for callers whose
        values never increase along that order: then it is the frame's minimum.

        DuckDB: ``LAST_VALUE(... IGNORE NULLS)``, at 3.5M rows 0.18 s of CPU a column where
        MIN over a growing frame took 0.33 s (a segment tree). Elsewhere MIN, which every engine
        has (PostgreSQL has no IGNORE NULLS).
        """
        if self.name == "duckdb":
            return f"LAST_VALUE({value} IGNORE NULLS) {window}"
        return f"MIN({value}) {window}"

    @property
    def chains_with_joins(self) -> bool:
        """Whether an ordered funnel finds each next step by joining the attempts with a table
        of the user's instants (DuckDB), rather than by one more layer of windows over the events
        per step (metrics/warehouse/funnels/ordered.py, ``chained_ctes``).

        Measured on the 4-step benchmark funnel (load average under 2 on 2 cores): DuckDB (10M
        events) 1.6 s (3.1 s of CPU) with joins, 2.0 s (3.9 s) with layers, each layer being
        another sort of all the events there; chdb (10M) 2.7 s with layers against 6.4 s with
        joins (ClickHouse evaluates a CTE again at each reference: the windowed instants once
        per join); PostgreSQL (1M) 1.2 s against 1.9 s. The engines not measured take the
        layers (Spark keeps a window's partitioning and order for the next one; BigQuery and
        Trino evaluate CTEs per reference).
        """
        return self.name == "duckdb"

    @property
    def chains_in_arrays(self) -> bool:
        """Whether an ordered funnel of distinct steps (no exclusions) gathers each user's events
        into one sorted array and chains its steps and picks the best attempts with array
        functions (``groupArray``, ``arrayReverseFill``, ``arraySplit``; ClickHouse only:
        metrics/warehouse/funnels/arrays.py), rather than with :attr:`chains_with_joins`' joins
        or layers of windows. Other funnels keep those.

        Measured on the 4-step benchmark funnel at 10M events on chdb, the statements back to
        back with ClickHouse's own ``windowFunnel`` in one session, best of 3 (load average about
        6 on 2 cores): 5.86 s of CPU with the layers of windows (each another sort of all the
        events), 2.37 s with arrays, ``windowFunnel`` 2.03 s. Sorting arrays of (time, step)
        tuples cost 3 s more (at load 11) than sorting one Int64 per event, time and step packed.
        """
        return self.name == "clickhouse"

    @property
    def pairs_in_user_arrays(self) -> bool:
        """Whether retention pairs each user's cohorts with their returns inside one row per
        user (ClickHouse: one GROUP BY gathers the user's start and return periods into arrays,
        ``ARRAY JOIN`` unrolls a row per cohort and per cell), rather than by joining a table
        of cohorts to a table of returns on the user (metrics/warehouse/retention.py).

        ClickHouse evaluates a CTE again at each reference, so the join read the events three
        times and hashed the pairs once more; the arrays read them once, as ClickHouse's own
        "week arrays" query does. Weekly retention of the benchmark (10M events, chdb, old and
        new statements alternating in one session, load average 8-10 on 2 cores): 1.8-2.9 s of
        CPU with arrays against 5.3-7.8 s with the join; the hand-written week arrays 1.4-2.5 s.
        Rolling weeks: 3.9-5.7 s against 14.6-15.4 s, once the events are first reduced per
        (user, period, bucket) with plain MIN/MAX (``minMap`` over every event took 30-35 s).
        DuckDB keeps the join: the same arrays (``list(DISTINCT ...)``, ``unnest``) took
        2.2-2.6 s of CPU there against 1.2-1.5 s for the join (hand-written self-join 0.9-1.2 s).
        """
        return self.name == "clickhouse"

    def exact_median(self, value: str) -> str | None:
        """An aggregate: the exact median of the group's non-NULL values, the mean of the two
        middle ones for an even count, NULL without values; None where the engine has no exact
        one (the portable ranking of metrics/warehouse/median.py is used instead).

        DuckDB's ``median`` and PostgreSQL's ``percentile_cont(0.5)`` sort the values and take
        lo + (hi - lo) * 0.5 of the two middle ones, which may differ from their mean in the
        last bit only (the benchmark funnel's medians came out identical); ClickHouse's
        ``median`` is approximate, so it averages its exact low and high medians. Spark's and
        the others' medians are approximate or missing: they keep the ranking.
        """
        if self.name == "duckdb":
            return f"median({value})"
        if self.name == "postgres":
            return f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {value})"
        if self.name == "clickhouse":
            return f"(quantileExactLow(0.5)({value}) + quantileExactHigh(0.5)({value})) / 2"
        return None

    def smallest_row(self, values: Sequence[str]) -> str | None:
        """An aggregate: of the group's rows, the smallest ``(values...)`` compared field by
        field, as one value (its fields read with :meth:`row_field`); None where the engine has
        no such aggregate (the caller ranks the rows with ROW_NUMBER instead).

        DuckDB (``MIN`` of a STRUCT) and ClickHouse (``min`` of a Tuple) order rows field by
        field; one hash GROUP BY then replaces a sort of every row on all the fields (DuckDB
        2.0, a funnel's best attempts at 10M events: about twice as fast). A field that is
        NULL must be NULL in every row equal to it on the fields before (ties are then the same
        row), so where a NULL sorts never matters.
        """
        if self.name == "duckdb":
            fields = ", ".join(f"v{i} := {v}" for i, v in enumerate(values))
            return f"MIN(struct_pack({fields}))"
        if self.name == "clickhouse":
            return f"min(tuple({', '.join(values)}))"
        return None

    def row_field(self, row: str, i: int) -> str:
        """Field ``i`` (0-based) of a value :meth:`smallest_row` made."""
        if self.name == "clickhouse":
            return f"tupleElement({row}, {i + 1})"
        return f"struct_extract({row}, 'v{i}')"

    def least(self, a: str, b: str) -> str:
        if self.name == "sqlite":
            return f"MIN({a}, {b})"
        return f"LEAST({a}, {b})"

    def greatest(self, a: str, b: str) -> str:
        if self.name == "sqlite":
            return f"MAX({a}, {b})"
        return f"GREATEST({a}, {b})"

    def epoch_us(self, column: str, kind: str) -> str:
        """Microseconds since 1970-01-01 UTC of a timestamp column.

        ``kind`` is "timestamptz" (an instant), "timestamp" (naive: its wall time read as UTC,
        the caller shifts it from the source's zone) or "text" (ISO text, cast by the engine).
        """
        n = self.name
        if kind == "text":
            column = self.cast_timestamp(column)
            kind = "timestamp"
        if n == "duckdb":
            if kind == "timestamptz":
                return f"epoch_us({column})"
            return f"epoch_us(CAST({column} AS TIMESTAMP))"
        if n == "postgres":
            source = column if kind == "timestamptz" else f"({column} AT TIME ZONE 'UTC')"
            # EXTRACT(EPOCH ...) is numeric (exact) since PostgreSQL 14.
            return f"CAST(EXTRACT(EPOCH FROM {source}) * 1000000 AS BIGINT)"
        if n == "clickhouse":
            # ClickHouse times are instants whatever the column's display zone.
            return f"toUnixTimestamp64Micro(toDateTime64({column}, 6, 'UTC'))"
        if n in ("spark", "databricks"):
            return f"unix_micros(CAST({column} AS TIMESTAMP))"
        if n == "bigquery":
            if kind == "timestamptz":
                return f"UNIX_MICROS({column})"
            return f"UNIX_MICROS(TIMESTAMP({column}, 'UTC'))"
        if n == "snowflake":
            return f"DATE_PART(EPOCH_MICROSECOND, {column})"
        if n == "trino":
            if kind == "timestamptz":
                return f"CAST(to_unixtime({column}) * 1000000 AS BIGINT)"
            return f"CAST(to_unixtime(with_timezone({column}, 'UTC')) * 1000000 AS BIGINT)"
        if n == "sqlite":
            return f"CAST(ROUND((julianday({column}) - 2440587.5) * 86400000000) AS INTEGER)"
        if n == "mysql":
            zone = "@@session.time_zone"
            return (
                f"CAST(UNIX_TIMESTAMP(CONVERT_TZ({column}, '+00:00', {zone})) * 1000000 AS SIGNED)"
            )
        raise AssertionError(n)

    def cast_timestamp(self, column: str) -> str:
        if self.name == "clickhouse":
            return f"parseDateTime64BestEffort({column}, 6, 'UTC')"
        return f"CAST({column} AS TIMESTAMP)"

    def limit(self, sql: str, rows: int) -> str:
        """``sql`` returning at most ``rows`` rows (the row cap asks for cap + 1)."""
        return f"SELECT * FROM ({sql}) AS capped LIMIT {rows}"


def _clickhouse_type(value: Any) -> str:
    if isinstance(value, bool):
        return "Bool"
    if isinstance(value, int):
        return "Int64"
    if isinstance(value, float):
        return "Float64"
    return "String"
