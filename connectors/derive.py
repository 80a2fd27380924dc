"""Rows that are not yet events: the ``event``, ``compute`` and ``where`` options (docs/data.md).

An export such as UCI's Online Retail has one row per order line and no event column:

    load_events(
        "online_retail.csv",
        event="purchase",
        compute={"revenue": "Price * Quantity"},
        where="Quantity > 0",
        mapping={"user_id": "Customer ID", "timestamp": "InvoiceDate"},
    )

- ``compute`` adds columns, each an SQL expression over the source's columns, read with
  :func:`polars.sql_expr` (never ``eval``); later ones may use earlier ones;
- ``where`` is an SQL condition over the source's and the computed columns: the rows it does not
  hold for (false or unknown, as in SQL) are dropped and counted as ``filtered_out``;
- ``event`` names the event of every row (``"purchase"``), or maps a column's values to event
  names (``{"column": "type", "values": {"O": "order", "C": "cancellation"}}``). A value the map
  does not name keeps its own text as the event name (or ``default``, when given) and is counted in
  a note with the values seen; nothing is dropped for it.

Every problem is one :class:`~connectors.errors.ConnectorError` naming the source, the option and
the expression.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from connectors.errors import ConnectorError

#: The column that holds the event name the ``event`` option gives (mapped as ``event``).
EVENT = "__event"
#: Helper columns: whether ``where`` holds for the row; the value the event map did not name.
KEEP = "__where"
UNMAPPED = "__event_unmapped"


@dataclass
class Derived:
    """The frame with the options applied, the mapping that reads them, and the notes."""

    frame: pl.LazyFrame
    schema: pl.Schema
    mapping: dict[str, str]
    notes: list[str] = field(default_factory=list)
    #: How the report words rows whose value the event map does not name (None: no map).
    unmapped_words: str | None = None
    #: Each expression as the option wrote it ("compute 'revenue' = 'Price * Quantity'").
    expressions: list[tuple[str, pl.Expr]] = field(default_factory=list)

    def blame(self) -> str | None:
        """The first expression that fails on the data (a CAST of a text, a string compared with
        a number), in words; None when each reads alone. Called only once reading has failed."""
        from connectors.normalise import polars_message

        for what, expr in self.expressions:
            try:
                self.frame.select(expr).collect()
            except Exception as exc:
                return f"{what} fails on the data ({polars_message(exc)})"
        return None


def apply(
    frame: pl.LazyFrame,
    schema: pl.Schema,
    *,
    source: str,
    mapping: Mapping[str, str] | None,
    event: str | Mapping[str, Any] | None = None,
    compute: Mapping[str, str] | None = None,
    where: str | None = None,
) -> Derived:
    """``frame`` with the computed columns, the ``where`` flag and the event column added."""
    derived = Derived(frame, schema, dict(mapping or {}))
    if compute is not None:
        _compute(derived, compute, source)
    if where is not None:
        _where(derived, where, source)
    if event is not None:
        _event(derived, event, source)
    return derived


def _sql(derived: Derived, text: object, source: str, what: str) -> tuple[pl.Expr, pl.DataType]:
    """An SQL expression over the frame's columns and the type it gives; one error naming it."""
    if not isinstance(text, str) or not text.strip():
        raise ConnectorError(f"{source}: {what} must be an SQL expression (text), not {text!r}")
    try:
        expr = pl.sql_expr(text)
        dtype = derived.frame.select(expr.alias("__probe")).collect_schema()["__probe"]
    except Exception as exc:  # Polars' SQL parser and planner raise many kinds
        from connectors.normalise import polars_message

        raise ConnectorError(
            f"{source}: {what} = {text!r} cannot be read ({polars_message(exc)}). "
            f"Columns: {', '.join(repr(c) for c in derived.schema if not c.startswith('__'))}"
        ) from exc
    derived.expressions.append((f"{what} = {text!r}", expr))
    return expr, dtype


def _compute(derived: Derived, compute: Mapping[str, str], source: str) -> None:
    if not isinstance(compute, Mapping):
        raise ConnectorError(
            f'{source}: compute must map column names to SQL, e.g. {{revenue = "Price * Quantity"}}'
        )
    for name, text in compute.items():
        if not isinstance(name, str) or not name or name.startswith("__"):
            raise ConnectorError(f"{source}: compute: {name!r} is not a column name")
        expr, _ = _sql(derived, text, source, f"compute {name!r}")
        replaced = name in derived.schema
        derived.frame = derived.frame.with_columns(expr.alias(name))
        derived.schema = derived.frame.collect_schema()
        how = "replaced by" if replaced else "computed as"
        derived.notes.append(f"Column '{name}' {how} {text}.")


def _where(derived: Derived, text: str, source: str) -> None:
    expr, dtype = _sql(derived, text, source, "where")
    if dtype not in (pl.Boolean, pl.Null):
        raise ConnectorError(
            f"{source}: where = {text!r} is not a condition (it gives {dtype}); "
            "write one such as 'Quantity > 0'"
        )
    # SQL's WHERE: a row is kept only where the condition is true (not false, not unknown).
    derived.frame = derived.frame.with_columns(expr.fill_null(False).alias(KEEP))
    derived.schema = derived.frame.collect_schema()


def _event(derived: Derived, event: str | Mapping[str, Any], source: str) -> None:
    if "event" in derived.mapping:
        raise ConnectorError(
            f"{source}: give the event either in the mapping or as the event option, not both"
        )
    if isinstance(event, str):
        if not event.strip():
            raise ConnectorError(f"{source}: event must be an event name, not {event!r}")
        derived.frame = derived.frame.with_columns(pl.lit(event).alias(EVENT))
        derived.notes.append(f"Every row is the event {event!r} (event option).")
    elif isinstance(event, Mapping):
        _event_map(derived, event, source)
    else:
        raise ConnectorError(
            f"{source}: event must be an event name or "
            f'{{column = "...", values = {{...}}}}, not {event!r}'
        )
    derived.mapping["event"] = EVENT
    derived.schema = derived.frame.collect_schema()


def _event_map(derived: Derived, event: Mapping[str, Any], source: str) -> None:
    unknown = sorted(set(event) - {"column", "values", "default"})
    if unknown:
        raise ConnectorError(
            f"{source}: event: unknown key {', '.join(map(repr, unknown))} "
            "(use column, values and default)"
        )
    column = event.get("column")
    if not isinstance(column, str) or column not in derived.schema:
        raise ConnectorError(
            f"{source}: event names column {column!r}, but the source has no such column. "
            f"Columns: {', '.join(repr(c) for c in derived.schema if not c.startswith('__'))}"
        )
    values = event.get("values", {})
    default = event.get("default")
    if not isinstance(values, Mapping) or not all(
        isinstance(v, str) and v.strip() for v in values.values()
    ):
        raise ConnectorError(
            f'{source}: event values must map a value to an event name, e.g. {{O = "order"}}'
        )
    if default is not None and (not isinstance(default, str) or not default.strip()):
        raise ConnectorError(f"{source}: event default must be an event name, not {default!r}")
    raw = pl.col(column).cast(pl.String)
    keys = pl.Series([str(k) for k in values], dtype=pl.String)
    named = raw.replace_strict(keys, pl.Series(list(values.values())), default=None)
    unmapped = pl.when(raw.is_not_null() & ~raw.is_in(keys.implode())).then(raw)
    fallback = raw if default is None else pl.when(raw.is_not_null()).then(pl.lit(default))
    became = "kept its own value as the event name" if default is None else f"became {default!r}"
    derived.unmapped_words = f"of '{column}' that the event map does not name; each {became}"
    derived.frame = derived.frame.with_columns(
        pl.coalesce(named, fallback).alias(EVENT), unmapped.alias(UNMAPPED)
    )
    derived.notes.append(f"Event names read from column '{column}' through the event map.")
