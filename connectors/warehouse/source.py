"""The one SELECT that reads a warehouse source as the canonical events (docs/warehouse.md).

The rules are the loading rules of docs/data.md, written as SQL: ``mapping`` renames, times become
UTC microseconds (a naive TIMESTAMP is a wall-clock time in the source's ``tz``; integer epochs
take their unit from their magnitude, row by row as the file reader does), events with no user,
event or time are left out (``connectors.warehouse.load_report`` counts them), a repeated
``event_id`` keeps its earliest event, and an ``anonymous_id`` linked to a user becomes that user
(the earliest link wins, links followed one step).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from connectors.errors import ConnectorError
from metrics.warehouse import Dialect
from metrics.warehouse.parts import utc_from_wall_us

#: Canonical columns a source may provide, and the names they are recognised by.
ALIASES: dict[str, tuple[str, ...]] = {
    "user_id": ("user_id", "distinct_id", "person_id", "userid", "user"),
    "event": ("event", "event_name", "event_type", "name"),
    "timestamp": ("timestamp", "event_time", "time", "ts", "created_at", "occurred_at"),
    "event_id": ("event_id", "uuid", "insert_id", "message_id"),
    "session_id": ("session_id",),
    "revenue": ("revenue", "amount", "value"),
    "anonymous_id": ("anonymous_id", "device_id", "anonymousid"),
}
REQUIRED = ("user_id", "event", "timestamp")
_TIME_KINDS = ("timestamp", "timestamptz", "int", "float", "text", "date")


@dataclass(frozen=True)
class SourceColumns:
    """The source's columns in order, each with the kind that decides how it is read."""

    kinds: tuple[tuple[str, str], ...]

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> SourceColumns:
        return cls(tuple((name, _kind(dtype)) for name, dtype in frame.schema.items()))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.kinds]

    def kind(self, name: str) -> str:
        return dict(self.kinds)[name]


def _kind(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Datetime):
        return "timestamptz" if dtype.time_zone else "timestamp"
    if dtype == pl.Date:
        return "date"
    if dtype.is_integer():
        return "int"
    if dtype.is_float() or isinstance(dtype, pl.Decimal):
        return "float"
    if dtype == pl.Boolean:
        return "bool"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        return "text"
    if dtype == pl.Null:
        return "null"
    return "other"


def _resolve(found: SourceColumns | None, mapping: Mapping[str, str]) -> dict[str, str]:
    """Canonical name -> source column, from ``mapping`` first, then the usual names.

    Keys of ``mapping`` that are not canonical columns name properties (``properties``).
    """
    mapping = {k: v for k, v in mapping.items() if k in ALIASES}
    if found is None:  # compile only: the names given, else the canonical ones
        return {c: mapping.get(c, c) for c in ALIASES if c in mapping or c in REQUIRED}
    names = found.names
    lowered = {name.lower(): name for name in names}
    chosen: dict[str, str] = {}
    for canonical, aliases in ALIASES.items():
        if canonical in mapping:
            column = mapping[canonical]
            if column not in names:
                raise ConnectorError(
                    f"warehouse: mapping {canonical}={column!r}: the source has no column "
                    f"{column!r} (columns: {', '.join(names)})"
                )
            chosen[canonical] = column
            continue
        for alias in aliases:
            if alias in lowered and lowered[alias] not in chosen.values():
                chosen[canonical] = lowered[alias]
                break
    missing = [c for c in REQUIRED if c not in chosen]
    if missing:
        raise ConnectorError(
            f"warehouse: no column for {missing[0]!r} in the source (columns: {', '.join(names)}); "
            f"name it with mapping={{'{missing[0]}': '<column>'}}"
        )
    return chosen


def _declared(found: SourceColumns | None, mapping: Mapping[str, str]) -> dict[str, str]:
    """Properties named in ``mapping`` (property -> source column): the only ones a relation
    that compiles SQL without seeing the source knows, and a way to rename any property."""
    declared = {k: v for k, v in mapping.items() if k not in ALIASES}
    for name, column in declared.items():
        if not isinstance(column, str) or not column:
            raise ConnectorError(f"warehouse: mapping {name}= must name a source column")
        if found is not None and column not in found.names:
            raise ConnectorError(
                f"warehouse: mapping {name}={column!r}: the source has no column {column!r} "
                f"(columns: {', '.join(found.names)})"
            )
    return declared


def _not_null(d: Dialect, column: str) -> str:
    """A kept column; ClickHouse is told the required ones are never NULL (they were filtered),
    which makes its exact distinct counts about 3x faster than on a Nullable column."""
    quoted = d.quote(column)
    if d.name == "clickhouse" and column in ("user_id", "event", "ts_us"):
        return f"assumeNotNull({quoted}) AS {quoted}"
    return quoted


def _epoch_expr(d: Dialect, column: str) -> str:
    """µs of an integer epoch whose unit follows from its magnitude (s, ms, µs, ns)."""
    x = f"CAST({column} AS {d.bigint})"
    size = f"ABS({x})"
    return (
        f"CASE WHEN {size} < 100000000000 THEN {x} * 1000000 "
        f"WHEN {size} < 100000000000000 THEN {x} * 1000 "
        f"WHEN {size} < 100000000000000000 THEN {x} "
        f"ELSE {d.idiv(x, 1000)} END"
    )


def time_expr(d: Dialect, column: str, kind: str, tz: str) -> str:
    """UTC microseconds of a source time column of the given kind."""
    if kind == "timestamptz":
        return d.epoch_us(column, "timestamptz")
    if kind in ("int", "float"):
        return _epoch_expr(d, column)
    if kind in ("timestamp", "date"):
        return utc_from_wall_us(d, d.epoch_us(column, "timestamp"), tz)
    if kind == "text":
        return utc_from_wall_us(d, d.epoch_us(column, "text"), tz)
    raise ConnectorError(
        f"warehouse: the time column {column!r} is neither a timestamp, an epoch nor text"
    )


def canonical_select(
    d: Dialect,
    base: str,
    found: SourceColumns | None,
    mapping: Mapping[str, str],
    tz: str,
    *,
    dedupe: bool = True,
) -> tuple[str, tuple[str, ...] | None, str]:
    """(the canonical SELECT, its column names or None when unknown, the rows as read).

    ``dedupe=False`` leaves out the duplicate-``event_id`` rule, for a source known to have none
    (a window over every event is most of a statement's time on a large table).
    """
    chosen = _resolve(found, mapping)
    q = d.quote
    time_kind = found.kind(chosen["timestamp"]) if found is not None else "timestamptz"
    if time_kind not in _TIME_KINDS:
        raise ConnectorError(
            f"warehouse: the time column {chosen['timestamp']!r} is neither a timestamp, "
            "an epoch nor text"
        )
    exprs: dict[str, str] = {
        "user_id": d.to_text(f"src.{q(chosen['user_id'])}"),
        "event": d.to_text(f"src.{q(chosen['event'])}"),
        "ts_us": time_expr(d, f"src.{q(chosen['timestamp'])}", time_kind, tz),
    }
    for optional in ("event_id", "session_id", "anonymous_id"):
        if optional in chosen:
            exprs[optional] = d.to_text(f"src.{q(chosen[optional])}")
    if "revenue" in chosen:
        exprs["revenue"] = d.to_double(f"src.{q(chosen['revenue'])}")
    used = set(chosen.values())
    properties: list[str] = []
    for name, column in _declared(found, mapping).items():
        exprs[name] = f"src.{q(column)}"
        properties.append(name)
        used.add(column)
    if found is not None:
        for name, kind in found.kinds:
            if (
                name in used
                or name in exprs
                or name.lower() in ("ts_us", *ALIASES)
                or kind == "other"
            ):
                continue
            properties.append(name)
            exprs[name] = f"src.{q(name)}"
    raw_where = " AND ".join(f"src.{q(chosen[c])} IS NOT NULL" for c in ("event", "timestamp"))
    raw = ", ".join(f"{e} AS {q(n)}" for n, e in exprs.items())
    inner = f"SELECT {raw} FROM {base} WHERE {raw_where}"
    out = (
        ["user_id", "event", "ts_us"]
        + [c for c in ("event_id", "session_id", "revenue") if c in exprs]
        + properties
    )
    if "anonymous_id" in exprs:
        person = f"COALESCE(r.{q('user_id')}, r.{q('anonymous_id')})"
        links = (
            f"SELECT {q('anonymous_id')} AS link_anon, {q('user_id')} AS link_user FROM ("
            f"SELECT {q('anonymous_id')}, {q('user_id')}, ROW_NUMBER() OVER (PARTITION BY "
            f"{q('anonymous_id')} ORDER BY {q('ts_us')}, {q('user_id')}) AS link_rank "
            f"FROM ({inner}) AS l WHERE {q('user_id')} IS NOT NULL AND "
            f"{q('anonymous_id')} IS NOT NULL AND {q('user_id')} <> {q('anonymous_id')}"
            ") AS ranked WHERE link_rank = 1"
        )
        cols = ", ".join(
            f"COALESCE(k.link_user, {person}) AS {q('user_id')}" if c == "user_id" else f"r.{q(c)}"
            for c in out
        )
        inner = (
            f"SELECT {cols} FROM ({inner}) AS r LEFT JOIN ({links}) AS k ON k.link_anon = {person}"
        )
    inner = f"SELECT * FROM ({inner}) AS i WHERE {q('user_id')} IS NOT NULL"
    listed = ", ".join(q(c) for c in out)
    final = ", ".join(_not_null(d, c) for c in out)
    if "event_id" in exprs and dedupe:
        inner = (
            f"SELECT {final} FROM (SELECT {listed}, ROW_NUMBER() OVER (PARTITION BY "
            f"{q('event_id')} ORDER BY {q('ts_us')}, {q('user_id')}, {q('event')}) AS dup_rank "
            f"FROM ({inner}) AS c) AS d WHERE {q('event_id')} IS NULL OR dup_rank = 1"
        )
    else:
        inner = f"SELECT {final} FROM ({inner}) AS c"
    columns = tuple(["user_id", "event", "timestamp"] + [c for c in out[3:]])
    person = exprs["user_id"]
    if "anonymous_id" in exprs:
        person = f"COALESCE({exprs['user_id']}, {exprs['anonymous_id']})"
    as_read = (
        f"SELECT {person} AS {q('user_id')}, src.{q(chosen['event'])} AS {q('event')}, "
        f"src.{q(chosen['timestamp'])} AS {q('timestamp')} FROM {base}"
    )
    return inner, columns, as_read


#: GA4's BigQuery export: one row per event, parameters in a repeated ``event_params`` record.
GA4_PARAMS = ("ga_session_id", "page_location", "page_title", "engagement_time_msec")


def ga4_select(
    d: Dialect, base: str, mapping: Mapping[str, str]
) -> tuple[str, tuple[str, ...] | None, str]:
    """The canonical SELECT of a GA4 export: ``user_id`` (else ``user_pseudo_id``), µs times,
    ``event_name``, revenue from ``ecommerce.purchase_revenue``, and common ``event_params``
    unnested as properties. Other parameters: ``mapping={"<property>": "<param key>"}``."""
    if d.name != "bigquery":
        raise ConnectorError("warehouse: preset='ga4' reads a BigQuery export (dialect='bigquery')")
    params = list(GA4_PARAMS) + [key for key in mapping.values() if key not in GA4_PARAMS]

    def param(key: str) -> str:
        lit = d.literal(key)
        return (
            "(SELECT COALESCE(p.value.string_value, CAST(p.value.int_value AS STRING), "
            "CAST(p.value.double_value AS STRING), CAST(p.value.float_value AS STRING)) "
            f"FROM UNNEST(src.event_params) AS p WHERE p.key = {lit})"
        )

    q = d.quote
    cols = [
        f"COALESCE(src.user_id, src.user_pseudo_id) AS {q('user_id')}",
        f"src.event_name AS {q('event')}",
        f"src.event_timestamp AS {q('ts_us')}",
        f"CAST(src.ecommerce.purchase_revenue AS FLOAT64) AS {q('revenue')}",
        f"src.platform AS {q('platform')}",
        f"src.geo.country AS {q('country')}",
        f"src.device.category AS {q('device_category')}",
    ]
    names = {key: key for key in GA4_PARAMS}
    names.update({prop: key for prop, key in mapping.items()})
    cols += [f"{param(key)} AS {q(prop)}" for prop, key in names.items() if key in params]
    sql = (
        f"SELECT {', '.join(cols)} FROM {base} WHERE src.event_name IS NOT NULL "
        "AND src.event_timestamp IS NOT NULL "
        "AND COALESCE(src.user_id, src.user_pseudo_id) IS NOT NULL"
    )
    return sql, None, ""
