"""The events a funnel reads, and one row per (user, instant) with what the attempts ask of it.

``ev``: one row per event inside the date range that matches a step class or an exclusion (a
strict funnel keeps every event: any event between two steps breaks it), with 0/1 flags ``c<i>``
per step class and ``x<i>`` per exclusion, and the breakdown value ``bd``.

``ins``: one row per (user, instant): ``k<mask>`` counts the instant's events matching a union of
classes (for Hall's condition), ``x<i>`` whether an exclusion event happens then, ``ix`` the
instant's number among the user's, ``nc<i>`` / ``nx<i>`` the user's next instant strictly later
with an event of class i / exclusion i, and ``f<b>`` the last step of the largest block starting
at step b that fits there. Times are ``ts`` (µs since 1970 UTC), users ``uid``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from metrics._common import NOT_SET
from metrics.warehouse.funnels.classes import StepClasses
from metrics.warehouse.parts import filter_condition, source
from metrics.warehouse.relation import Sql

LATER = "ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING"


def matches(sql: Sql, event: str | None, filters: Mapping[str, Any] | None) -> str:
    """The event matches a step or exclusion: its name (None: any) and every filter.

    As in the Polars path (``event_expr & filter_expr``, nulls false): equality or membership,
    and ``None`` or ``"(not set)"`` matches an event without the property (as
    ``metrics.warehouse.parts.filter_condition``).
    """
    q = sql.q
    terms = []
    if event is not None:
        terms.append(f"e.{q('event')} = {sql.value(event)}")
    for column, wanted in (filters or {}).items():
        values = list(wanted) if isinstance(wanted, list | tuple | set | frozenset) else [wanted]
        present = [v for v in values if v is not None and v != NOT_SET]
        col = f"e.{q(column)}"
        either = []
        if len(present) == 1:
            either.append(f"{col} = {sql.value(present[0])}")
        elif present:
            either.append(f"{col} IN ({', '.join(sql.value(v) for v in present)})")
        if len(present) < len(values):
            either.append(f"{col} IS NULL")
        terms.append(" OR ".join(either) if either else "1 = 0")
    # Any event: still a condition on the row, not a constant (ClickHouse fails on constant
    # columns that later meet non-constant ones in a GROUP BY or a join).
    return " AND ".join(f"({t})" for t in terms) if terms else f"e.{q('ts_us')} = e.{q('ts_us')}"


def flag(condition: str) -> str:
    return f"CASE WHEN {condition} THEN 1 ELSE 0 END"


def scoped_source(sql: Sql, query: Any) -> str:
    """The relation's events that the query's global filters keep, as a derived table (the
    twin of ``metrics.scope.Scope.keep``): every step, exclusion, the horizon and the next
    events read these."""
    if not query.filters:
        return source(sql)
    return f"(SELECT * FROM {source(sql)} AS g WHERE {filter_condition(sql, query.filters)})"


def range_condition(sql: Sql, query: Any, column: str) -> str:
    lo, hi = query.bounds_us()
    terms = ["1 = 1"]
    if lo is not None:
        terms.append(f"{column} >= {sql.value(lo)}")
    if hi is not None:
        terms.append(f"{column} < {sql.value(hi)}")
    return " AND ".join(terms)


def events_cte(sql: Sql, query: Any, classes: StepClasses, *, every_event: bool) -> str:
    """SELECT uid, ts, c<i>, x<i>[, bd] of the events that matter (see the module docstring)."""
    q = sql.q
    cols = [f"e.{q('user_id')} AS uid", f"e.{q('ts_us')} AS ts"]
    conditions = []
    for i, (event, filters) in enumerate(classes.definitions):
        cond = matches(sql, event, dict(filters))
        conditions.append(cond)
        cols.append(f"{flag(cond)} AS c{i}")
    for i, ex in enumerate(query.exclusions):
        cond = matches(sql, ex.event, ex.filter_mapping)
        conditions.append(cond)
        cols.append(f"{flag(cond)} AS x{i}")
    if query.breakdown is not None:
        cols.append(f"e.{q(query.breakdown)} AS bd")
    where = [range_condition(sql, query, f"e.{q('ts_us')}")]
    if not every_event:
        names = [d[0] for d in classes.definitions] + [ex.event for ex in query.exclusions]
        if all(name is not None for name in names):
            unique = sorted({name for name in names if name is not None})
            where.append(f"e.{q('event')} IN ({', '.join(sql.value(v) for v in unique)})")
        else:
            where.append("(" + " OR ".join(f"({c})" for c in conditions) + ")")
    src = scoped_source(sql, query)
    return f"SELECT {', '.join(cols)} FROM {src} AS e WHERE {' AND '.join(where)}"


def union_of(mask: int, prefix: str = "") -> str:
    """The 0/1 test that an event (columns ``c<i>``) matches some class of ``mask``."""
    bits = [i for i in range(mask.bit_length()) if mask >> i & 1]
    return "(" + " OR ".join(f"{prefix}c{i} = 1" for i in bits) + ")"


def instants_ctes(
    sql: Sql, query: Any, classes: StepClasses, *, fits: bool = True, running: bool = False
) -> list[tuple[str, str]]:
    """The ``inst`` (grouped) and ``ins`` (with windows and fits) CTEs, reading ``ev``.

    ``running`` adds ``r<mask>``: the user's events matching the union up to and including the
    instant (an unordered attempt counts its window's events as a difference of two).
    """
    d = sql.d
    masks = classes.masks()
    counts = [f"{d.to_bigint('SUM(' + flag(union_of(m)) + ')')} AS k{m}" for m in masks]
    excl = [f"MAX(x{i}) AS x{i}" for i in range(len(query.exclusions))]
    inst = f"SELECT uid, ts, {', '.join(counts + excl)} FROM nsf_ev GROUP BY uid, ts"
    over = f"OVER (PARTITION BY uid ORDER BY ts {LATER})"
    cols = ["uid", "ts", "1 AS hit"]
    cols += [f"k{m}" for m in masks]
    cols += [f"x{i}" for i in range(len(query.exclusions))]
    cols.append(f"{d.to_bigint('ROW_NUMBER() OVER (PARTITION BY uid ORDER BY ts)')} AS ix")
    for c in range(len(classes.definitions)):
        cols.append(f"MIN(CASE WHEN k{1 << c} > 0 THEN ts END) {over} AS nc{c}")
    for i in range(len(query.exclusions)):
        cols.append(f"MIN(CASE WHEN x{i} > 0 THEN ts END) {over} AS nx{i}")
    if fits:
        for b in range(1, classes.n_steps):
            cols.append(f"{classes.fit(b, lambda m: f'k{m}')} AS f{b}")
    if running:
        upto = "OVER (PARTITION BY uid ORDER BY ts ROWS UNBOUNDED PRECEDING)"
        cols += [f"{d.to_bigint(f'SUM(k{m}) {upto}')} AS r{m}" for m in masks]
    ins = f"SELECT {', '.join(cols)} FROM nsf_inst"
    return [("nsf_inst", inst), ("nsf_ins", ins)]


def horizon_cte(sql: Sql, query: Any) -> str:
    """SELECT hz: the last instant the data show (the last event, or the range's end first)."""
    q = sql.q
    top = f"(SELECT MAX(e.{q('ts_us')}) AS mx FROM {scoped_source(sql, query)} AS e)"
    _, hi = query.bounds_us()
    if hi is None:
        return f"SELECT m.mx AS hz FROM {top} AS m"
    last = sql.value(hi - 1)
    return (
        f"SELECT CASE WHEN m.mx IS NULL OR m.mx > {last} THEN {last} ELSE m.mx END AS hz "
        f"FROM {top} AS m"
    )


def numbers(count: int, start: int = 0) -> str:
    """A derived table of the integers ``start .. start + count - 1`` in column ``k``."""
    rows = " UNION ALL ".join(f"SELECT {i} AS k" for i in range(start, start + count))
    return f"({rows})"


def with_ctes(ctes: list[tuple[str, str]], final: str) -> str:
    """``WITH a AS (...), b AS (...) <final>``."""
    return "WITH " + ", ".join(f"{name} AS ({body})" for name, body in ctes) + " " + final
