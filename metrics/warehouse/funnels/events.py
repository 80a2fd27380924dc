"""The events a funnel reads, and one row per (user, instant) with what the attempts ask of it.

``ev``: one row per event inside the date range that matches a step class or an exclusion (a
strict funnel keeps every event: any event between two steps breaks it), with 0/1 flags ``c<i>``
per step class and ``x<i>`` per exclusion, and the breakdown value ``bd``.

``ins``: one row per (user, instant): ``k<mask>`` counts the instant's events matching a union of
classes (for Hall's condition), ``x<i>`` whether an exclusion event happens then, ``ix`` the
instant's number among the user's counted from their last (1 = the last), ``nc<i>`` / ``nx<i>``
the user's next instant strictly later with an event of class i / exclusion i, and ``f<b>`` the
last step of the largest block starting at step b that fits there. Times are ``ts`` (µs since
1970 UTC), users ``uid``. Only the columns the funnel's order reads are computed (an engine that
does not prune unused window columns would otherwise sort and scan for nothing). An ordered
funnel of :func:`distinct_steps` needs no counts: :func:`presence_ctes` makes its ``ins`` from
the events without grouping them (or ``metrics.warehouse.funnels.ordered.chained_ctes`` needs
no ``ins`` at all).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from metrics._common import NOT_SET
from metrics.warehouse.funnels.classes import StepClasses
from metrics.warehouse.parts import filter_condition, source
from metrics.warehouse.relation import Sql

#: The user's instants after this one, walking their instants from the last: the frame grows from
#: the partition's start (strictly later = the rows before this one, latest first). Against
#: ``ORDER BY ts ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING`` (a frame whose start moves,
#: so PostgreSQL recomputes its MIN row by row), a 4-step funnel with an exclusion took 2.9 s
#: instead of 5.8 s on PostgreSQL (1M events), about 7% less on chdb, the same on DuckDB.
LATER = "OVER (PARTITION BY uid ORDER BY ts DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
#: The same rows in ascending order, beside running sums that need that order (one sort, not two).
LATER_ASC = "OVER (PARTITION BY uid ORDER BY ts ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)"


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
    sql: Sql,
    query: Any,
    classes: StepClasses,
    *,
    fits: bool = True,
    running: bool = False,
    nexts: Sequence[int] = (),
    ordinal: bool = False,
) -> list[tuple[str, str]]:
    """The ``inst`` (grouped) and ``ins`` (with windows and fits) CTEs, reading ``ev``.

    ``nexts``: the classes whose next instant (``nc<i>``) the attempts look up; ``ordinal``
    adds ``ix``; ``running`` adds ``r<mask>``: the user's events matching the union up to and
    including the instant (an unordered attempt counts its window's events as a difference of
    two). ``nx<i>`` are always there.
    """
    d = sql.d
    masks = classes.masks()
    counts = [f"{d.to_bigint('SUM(' + flag(union_of(m)) + ')')} AS k{m}" for m in masks]
    excl = [f"MAX(x{i}) AS x{i}" for i in range(len(query.exclusions))]
    inst = f"SELECT uid, ts, {', '.join(counts + excl)} FROM nsf_ev GROUP BY uid, ts"
    cols = ["uid", "ts", "1 AS hit"]
    cols += [f"k{m}" for m in masks]
    cols += [f"x{i}" for i in range(len(query.exclusions))]
    if ordinal:
        # Numbered from the last instant, in the same order as the LATER windows (one sort).
        cols.append(f"{d.to_bigint('ROW_NUMBER() OVER (PARTITION BY uid ORDER BY ts DESC)')} AS ix")
    later = LATER_ASC if running else LATER
    for c in sorted(set(nexts)):
        cols.append(f"MIN(CASE WHEN k{1 << c} > 0 THEN ts END) {later} AS nc{c}")
    for i in range(len(query.exclusions)):
        cols.append(f"MIN(CASE WHEN x{i} > 0 THEN ts END) {later} AS nx{i}")
    if fits:
        for b in range(1, classes.n_steps):
            cols.append(f"{classes.fit(b, lambda m: f'k{m}')} AS f{b}")
    if running:
        upto = "OVER (PARTITION BY uid ORDER BY ts ROWS UNBOUNDED PRECEDING)"
        cols += [f"{d.to_bigint(f'SUM(k{m}) {upto}')} AS r{m}" for m in masks]
    ins = f"SELECT {', '.join(cols)} FROM nsf_inst"
    return [("nsf_inst", inst), ("nsf_ins", ins)]


#: A user's events from this instant on: the rows before this one, latest first, and the
#: instant's other events (its peers). ROW_NUMBER and RANK take the same order without a frame.
FROM_HERE = "RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
BY_USER_LATEST_FIRST = "PARTITION BY uid ORDER BY ts DESC"


def distinct_steps(classes: StepClasses, query: Any) -> bool:
    """Whether every step has a class of its own that no other class can share an event with,
    and no exclusion: then a block of steps fits at an instant when each has an event of its
    class there (no counting), and the class of the step after a block never has an event at
    the block's instant (or the block would have taken it)."""
    return (
        not query.exclusions
        and len(classes.definitions) == classes.n_steps
        and all(len(comp) == 1 for comp in classes.comps)
    )


def present(mask: int, row: str = "") -> str:
    """1 when the instant of a ``nsf_evw`` row has an event of the class ``mask`` (a single
    class: :func:`distinct_steps`), that is when the class's first instant from there on is
    the row's own."""
    c = mask.bit_length() - 1
    return f"(CASE WHEN {row}m{c} = {row}ts THEN 1 ELSE 0 END)"


def presence_ctes(
    sql: Sql, classes: StepClasses, query: Any, nexts: Sequence[int]
) -> list[tuple[str, str]]:
    """``evw`` and ``ins`` for a :func:`distinct_steps` ordered funnel, straight from ``ev``
    (no grouping of the events by instant: that and its windows were most of the time).

    ``evw``: every event with ``m<c>`` for the classes ``nexts``, the first instant at or after
    the event's with an event of class c (one pass of windows over the user's events, latest
    first; peers included, so every event of an instant sees the same values). The attempts
    start at its step-1 events (:func:`~metrics.warehouse.funnels.starts.starts_ctes`).
    ``ins``: its first row of each instant (ROW_NUMBER = RANK), with ``k<2^c>`` (1 when the
    instant has an event of class c) and the fits; ``nc<c>`` is m<c>: the next instant of
    class c strictly after a block's, since by :func:`distinct_steps` the block's instant has
    none.
    """
    over = f"OVER ({BY_USER_LATEST_FIRST} {FROM_HERE})"
    rank = f"OVER ({BY_USER_LATEST_FIRST})"
    wanted = sorted(set(nexts))
    cols = ["uid", "ts", f"c{classes.of_step[0]}"]
    cols += ["bd"] if query.breakdown is not None else []
    for c in wanted:  # the class's instants fall along the window's order: the latest is least
        cols.append(f"{sql.d.latest_non_null(f'CASE WHEN c{c} = 1 THEN ts END', over)} AS m{c}")
    cols += [f"ROW_NUMBER() {rank} AS rn", f"RANK() {rank} AS rk"]
    evw = f"SELECT {', '.join(cols)} FROM nsf_ev"
    cols = ["uid", "ts", "1 AS hit"]
    cols += [f"{present(1 << c)} AS k{1 << c}" for c in wanted]
    cols += [f"m{c} AS nc{c}" for c in wanted]
    cols += [f"{classes.fit(b, present)} AS f{b}" for b in range(1, classes.n_steps)]
    ins = f"SELECT {', '.join(cols)} FROM nsf_evw WHERE rn = rk"
    return [("nsf_evw", evw), ("nsf_ins", ins)]


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
