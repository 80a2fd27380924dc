"""Experiment assignments in a warehouse, read as the canonical rows of docs/data.md in SQL.

An assignments source has an experiment and a variant column and no event column (GrowthBook's
exposure tables: ``user_id``, ``timestamp``, ``experiment_id``, ``variation_id``). Its relation
(``Relation.kind == "assignments"``) yields ``user_id``, ``experiment``, ``variant`` (as text),
``ts_us`` (UTC microseconds, read like an event time: any timestamp type, epochs, ISO text) and
every other column as a property (a segment such as ``platform``). Rows without a user, an
experiment, a variant or a time are left out. ``metrics.experiments.analyze`` takes it beside an
events relation on the same connection.
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.errors import ConnectorError
from connectors.warehouse.source import ALIASES, SourceColumns, time_expr
from metrics.warehouse import Dialect

KINDS = ("events", "assignments")

#: Canonical assignment columns and the names they are recognised by.
ASSIGNMENT_ALIASES: dict[str, tuple[str, ...]] = {
    "user_id": ALIASES["user_id"],
    "experiment": ("experiment", "experiment_id", "experiment_key", "experiment_name"),
    "variant": ("variant", "variation", "variation_id", "variant_id", "variant_name", "arm"),
    "timestamp": ALIASES["timestamp"],
}
_TIME_KINDS = ("timestamp", "timestamptz", "int", "float", "text", "date")
#: Table names taken for assignments when a compile-only relation cannot look at the columns.
_NAME_HINTS = ("assignment", "exposure")


def _lookup(names: list[str], mapping: Mapping[str, str], canonical: str) -> str | None:
    if canonical in mapping:
        return mapping[canonical]
    lowered = {name.lower(): name for name in names}
    for alias in ASSIGNMENT_ALIASES.get(canonical, ALIASES.get(canonical, ())):
        if alias in lowered:
            return lowered[alias]
    return None


def source_kind(
    found: SourceColumns | None, mapping: Mapping[str, str], table: str | None, kind: str | None
) -> str:
    """The source's kind, "events" or "assignments": as given, else from the columns (experiment
    and variant and no event column), else (compile only) from a table named like assignments or
    exposures."""
    if kind is not None:
        if kind not in KINDS:
            raise ConnectorError(f"warehouse: kind must be 'events' or 'assignments', not {kind!r}")
        return kind
    if found is None:  # a mapping key may name an events property (experiment), so not by it
        last = (table or "").split(".")[-1].lower()
        return "assignments" if any(h in last for h in _NAME_HINTS) else "events"
    names = found.names
    if _lookup(names, mapping, "event") is not None:
        return "events"
    has_both = all(_lookup(names, mapping, c) is not None for c in ("experiment", "variant"))
    return "assignments" if has_both else "events"


def assignments_select(
    d: Dialect, base: str, found: SourceColumns | None, mapping: Mapping[str, str], tz: str
) -> tuple[str, tuple[str, ...] | None]:
    """(the canonical assignments SELECT, its column names).

    Keys of ``mapping`` that are not canonical name properties (a segment), as for events: the
    only properties a compile-only relation knows.
    """
    declared = {k: v for k, v in mapping.items() if k not in ASSIGNMENT_ALIASES}
    mapping = {k: v for k, v in mapping.items() if k in ASSIGNMENT_ALIASES}
    names = found.names if found is not None else []
    for name, given in declared.items():
        if not isinstance(given, str) or not given or (found is not None and given not in names):
            raise ConnectorError(
                f"warehouse: mapping {name}={given!r}: the source has no column {given!r} "
                f"(columns: {', '.join(names)})"
            )
    chosen: dict[str, str] = {}
    for canonical in ASSIGNMENT_ALIASES:
        column = _lookup(names, mapping, canonical) if found is not None else None
        if found is None:
            column = mapping.get(canonical, canonical)
        if column is None:
            raise ConnectorError(
                f"warehouse: no column for {canonical!r} in the assignments (columns: "
                f"{', '.join(names)}); name it with mapping={{'{canonical}': '<column>'}}"
            )
        if found is not None and column not in names:
            raise ConnectorError(
                f"warehouse: mapping {canonical}={column!r}: the source has no column "
                f"{column!r} (columns: {', '.join(names)})"
            )
        chosen[canonical] = column
    q = d.quote
    time_kind = found.kind(chosen["timestamp"]) if found is not None else "timestamptz"
    if time_kind not in _TIME_KINDS:
        raise ConnectorError(
            f"warehouse: the time column {chosen['timestamp']!r} is neither a timestamp, "
            "an epoch nor text"
        )
    exprs = {
        "user_id": d.to_text(f"src.{q(chosen['user_id'])}"),
        "experiment": d.to_text(f"src.{q(chosen['experiment'])}"),
        "variant": d.to_text(f"src.{q(chosen['variant'])}"),
        "ts_us": time_expr(d, f"src.{q(chosen['timestamp'])}", time_kind, tz),
    }
    if d.name == "clickhouse":
        # As for the events (source.py's _not_null): the four are never NULL (filtered below),
        # and ClickHouse groups and joins by a non-Nullable user much faster (an experiment's
        # read-out on 10M events and 1M assignments: about 1.9 s -> 1.3 s on chdb).
        exprs = {name: f"assumeNotNull({expr})" for name, expr in exprs.items()}
    used = set(chosen.values())
    properties: list[str] = []
    for name, given in declared.items():
        exprs[name] = f"src.{q(given)}"
        properties.append(name)
        used.add(given)
    if found is not None:
        reserved = {"ts_us", *ASSIGNMENT_ALIASES}
        for name, column_kind in found.kinds:
            if name in used or name in exprs or name.lower() in reserved or column_kind == "other":
                continue
            properties.append(name)
            exprs[name] = f"src.{q(name)}"
    present = " AND ".join(f"src.{q(column)} IS NOT NULL" for column in chosen.values())
    listed = ", ".join(f"{e} AS {q(n)}" for n, e in exprs.items())
    sql = f"SELECT {listed} FROM {base} WHERE {present}"
    return sql, ("user_id", "experiment", "variant", "timestamp", *properties)
