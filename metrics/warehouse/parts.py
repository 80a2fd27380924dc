"""SQL pieces every family's planner shares: local time, days and periods, events and filters.

Time follows the same rules as the Polars path (docs/metrics.md "Time"): the engine turns each
event's UTC instant (``ts_us``, microseconds) into the wall clock of the reporting zone with its
own time-zone functions (so DST is the engine's tz database, tested across both 2026 changes);
from there everything is integer arithmetic on microseconds and day numbers (days since
1970-01-01), which every engine computes exactly alike. Weeks are ``(day + shift) / 7`` as in
``metrics.engagement``; months are ``year * 12 + month - 1`` of the local date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from metrics._common import NOT_SET
from metrics.warehouse.dialect import Dialect
from metrics.warehouse.relation import Sql

DAY_US = 86_400_000_000
#: 1970-01-01 was a Thursday; shifted by these, a week's first day number is a multiple of 7.
WEEK_SHIFT = {"monday": 3, "sunday": 4}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def instant_us(moment: dt.datetime) -> int:
    """Microseconds since 1970 UTC of an aware datetime (exact integer arithmetic)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def local_us(d: Dialect, ts_us: str, tz: str) -> str:
    """The wall-clock time in ``tz`` of ``ts_us``, as microseconds since 1970 on that clock.

    ``tz`` has been checked against the IANA database (``check_tz``) before it gets here, so it
    is written inline as a string literal: ClickHouse wants a constant zone argument.
    """
    if tz == "UTC":
        return ts_us
    zone = d.literal(tz)
    n = d.name
    if n == "duckdb":
        return f"epoch_us(timezone({zone}, make_timestamptz({ts_us})))"
    if n == "postgres":
        return (
            "CAST(EXTRACT(EPOCH FROM ((TIMESTAMPTZ '1970-01-01 00:00:00+00' + "
            f"({ts_us}) * INTERVAL '1 microsecond') AT TIME ZONE {zone})) * 1000000 AS BIGINT)"
        )
    if n == "clickhouse":
        return (
            f"(({ts_us}) + 1000000 * toInt64(timeZoneOffset("
            f"toDateTime(intDiv({ts_us}, 1000000), {zone}))))"
        )
    if n in ("spark", "databricks"):
        # The engine's session zone is UTC while Northstar runs (connectors.warehouse sets it).
        return f"unix_micros(from_utc_timestamp(timestamp_micros({ts_us}), {zone}))"
    if n == "bigquery":
        return f"UNIX_MICROS(TIMESTAMP(DATETIME(TIMESTAMP_MICROS({ts_us}), {zone})))"
    if n == "snowflake":
        return (
            "DATE_PART(EPOCH_MICROSECOND, CONVERT_TIMEZONE('UTC', "
            f"{zone}, TO_TIMESTAMP_NTZ({ts_us}, 6)))"
        )
    if n == "trino":
        return (
            "CAST(to_unixtime(CAST(CAST(from_unixtime_nanos(CAST("
            f"{ts_us} AS BIGINT) * 1000) AT TIME ZONE {zone} AS TIMESTAMP(6)) AS "
            "TIMESTAMP(6) WITH TIME ZONE)) * 1000000 AS BIGINT)"
        )
    raise ValueError(
        f"tz: {n} has no time-zone database for SQL; use tz='UTC' with this engine, "
        "or load the events into Polars"
    )


def utc_from_wall_us(d: Dialect, wall_us: str, tz: str) -> str:
    """The UTC instant (µs) of a wall-clock time in ``tz`` (a naive source column's zone)."""
    if tz == "UTC":
        return wall_us
    zone = d.literal(tz)
    n = d.name
    if n == "duckdb":
        return f"epoch_us(timezone({zone}, make_timestamp({wall_us})))"
    if n == "postgres":
        return (
            "CAST(EXTRACT(EPOCH FROM ((TIMESTAMP '1970-01-01 00:00:00' + "
            f"({wall_us}) * INTERVAL '1 microsecond') AT TIME ZONE {zone})) * 1000000 AS BIGINT)"
        )
    if n == "clickhouse":
        return (
            "toUnixTimestamp64Micro(toDateTime64(toString(fromUnixTimestamp64Micro("
            f"{wall_us}, 'UTC')), 6, {zone}))"
        )
    if n in ("spark", "databricks"):
        return f"unix_micros(to_utc_timestamp(timestamp_micros({wall_us}), {zone}))"
    if n == "bigquery":
        return f"UNIX_MICROS(TIMESTAMP(DATETIME(TIMESTAMP_MICROS({wall_us})), {zone}))"
    if n == "snowflake":
        return (
            "DATE_PART(EPOCH_MICROSECOND, CONVERT_TIMEZONE("
            f"{zone}, 'UTC', TO_TIMESTAMP_NTZ({wall_us}, 6)))"
        )
    if n == "trino":
        return (
            "CAST(to_unixtime(with_timezone(CAST(from_unixtime_nanos(CAST("
            f"{wall_us} AS BIGINT) * 1000) AT TIME ZONE 'UTC' AS TIMESTAMP(6)), {zone})) "
            "* 1000000 AS BIGINT)"
        )
    raise ValueError(f"tz: {n} has no time-zone database for SQL; use tz='UTC'")


def day_of(d: Dialect, local: str) -> str:
    """The day number (days since 1970-01-01) of a local wall-clock time in µs."""
    return d.idiv(local, DAY_US)


def month_of_day(d: Dialect, day: str) -> str:
    """``year * 12 + month - 1`` of a day number (the month numbering of the Polars path)."""
    n = d.name
    if n == "duckdb":
        date = f"(DATE '1970-01-01' + CAST({day} AS INTEGER))"
        return f"(year({date}) * 12 + month({date}) - 1)"
    if n == "postgres":
        date = f"(DATE '1970-01-01' + CAST({day} AS INTEGER))"
        return f"CAST(EXTRACT(YEAR FROM {date}) * 12 + EXTRACT(MONTH FROM {date}) - 1 AS BIGINT)"
    if n == "clickhouse":
        date = f"addDays(toDate32('1970-01-01'), toInt32({day}))"
        return f"(toInt64(toYear({date})) * 12 + toInt64(toMonth({date})) - 1)"
    if n in ("spark", "databricks"):
        date = f"date_add(DATE '1970-01-01', CAST({day} AS INT))"
        return f"(year({date}) * 12 + month({date}) - 1)"
    if n == "bigquery":
        date = f"DATE_ADD(DATE '1970-01-01', INTERVAL {day} DAY)"
        return f"(EXTRACT(YEAR FROM {date}) * 12 + EXTRACT(MONTH FROM {date}) - 1)"
    if n == "snowflake":
        date = f"DATEADD(DAY, {day}, DATE '1970-01-01')"
        return f"(YEAR({date}) * 12 + MONTH({date}) - 1)"
    if n == "trino":
        date = f"date_add('day', {day}, DATE '1970-01-01')"
        return f"(year({date}) * 12 + month({date}) - 1)"
    if n == "sqlite":
        date = f"date('1970-01-01', '+' || ({day}) || ' days')"
        return (
            f"(CAST(strftime('%Y', {date}) AS INTEGER) * 12 "
            f"+ CAST(strftime('%m', {date}) AS INTEGER) - 1)"
        )
    date = f"DATE_ADD(DATE '1970-01-01', INTERVAL {day} DAY)"
    return f"(YEAR({date}) * 12 + MONTH({date}) - 1)"


def day_of_month(d: Dialect, day: str) -> str:
    """The day of the month (1..31) of a day number, as a BIGINT-compatible integer."""
    n = d.name
    if n == "duckdb":
        return f"CAST(day(DATE '1970-01-01' + CAST({day} AS INTEGER)) AS BIGINT)"
    if n == "postgres":
        date = f"(DATE '1970-01-01' + CAST({day} AS INTEGER))"
        return f"CAST(EXTRACT(DAY FROM {date}) AS BIGINT)"
    if n == "clickhouse":
        return f"toInt64(toDayOfMonth(addDays(toDate32('1970-01-01'), toInt32({day}))))"
    if n in ("spark", "databricks"):
        return f"CAST(dayofmonth(date_add(DATE '1970-01-01', CAST({day} AS INT))) AS BIGINT)"
    if n == "bigquery":
        return f"EXTRACT(DAY FROM DATE_ADD(DATE '1970-01-01', INTERVAL {day} DAY))"
    if n == "snowflake":
        return f"DAYOFMONTH(DATEADD(DAY, {day}, DATE '1970-01-01'))"
    if n == "trino":
        return f"day_of_month(date_add('day', {day}, DATE '1970-01-01'))"
    if n == "sqlite":
        return f"CAST(strftime('%d', date('1970-01-01', '+' || ({day}) || ' days')) AS INTEGER)"
    return f"DAYOFMONTH(DATE_ADD(DATE '1970-01-01', INTERVAL {day} DAY))"


def period_of_day(d: Dialect, day: str, interval: str, week_start: str = "monday") -> str:
    """The period number of a day number, numbered as ``metrics.engagement`` numbers them."""
    if interval == "day":
        return day
    if interval == "week":
        return d.idiv(f"{day} + {WEEK_SHIFT[week_start]}", 7)
    if interval == "month":
        return month_of_day(d, day)
    raise ValueError(f"interval must be 'day', 'week' or 'month', not {interval!r}")


def event_condition(sql: Sql, event: str | Iterable[str] | None, column: str = "event") -> str:
    """Match one event name, any of several, or (``None``) any event; names are bound values."""
    if event is None:
        return "1 = 1"
    col = sql.q(column)
    if isinstance(event, str):
        return f"{col} = {sql.value(event)}"
    names = list(event)
    if not names:
        return "1 = 0"
    return f"{col} IN ({', '.join(sql.value(n) for n in names)})"


def filter_condition(sql: Sql, filters: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    """Equality or membership per property, values bound; ``None`` or ``NOT_SET`` ("(not set)",
    as the sidebar offers it) matches a missing value, as ``metrics._common.filter_expr``."""
    items = filters.items() if isinstance(filters, Mapping) else filters
    parts: list[str] = []
    for column, wanted in items:
        col = sql.q(column)
        values = list(wanted) if isinstance(wanted, list | tuple | set | frozenset) else [wanted]
        present = [v for v in values if v is not None and v != NOT_SET]
        terms = []
        if present:
            if len(present) == 1:
                terms.append(f"{col} = {sql.value(present[0])}")
            else:
                terms.append(f"{col} IN ({', '.join(sql.value(v) for v in present)})")
        if len(present) < len(values):
            terms.append(f"{col} IS NULL")
        parts.append("(" + (" OR ".join(terms) if terms else "1 = 0") + ")")
    return " AND ".join(parts) if parts else "1 = 1"


def source(sql: Sql) -> str:
    """The relation's canonical events as a derived table."""
    return f"({sql.relation.source})"


def date_of(day: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=day)
