"""Ordered funnels of distinct steps as per-user arrays (ClickHouse): the ``best`` CTE, in one
pass over the events.

The same chain as :func:`~metrics.warehouse.funnels.ordered.chained_ctes`, where an attempt's
step j + 1 is at M_{j+1}(step j's instant), the first instant at or after it with an event of
that step's class, and a composition of those is one more "first at or after" over the values
of the step before; but over each user's events gathered once (``groupArray``) and sorted once
(``arraySort``), each "first at or after" being one ``arrayReverseFill`` over the user's array
instead of one window (one more sort of all the events) per layer. Engines: where
:attr:`~metrics.warehouse.dialect.Dialect.chains_in_arrays` says so.

Ties: a window's RANGE frame includes the row's peers (same time). Here the array is sorted by
time, then by the step of the event's class (``p``: time * 2^bits + step), so among the events of
one instant those of later steps come after those of earlier steps. Each ``m<i>_<j>`` is read only
at events of step i - 1's class (by the layer after it, or by the attempts when i = 1), and the
events it takes (step i's class) sort after those at the same time: a reverse fill from there
sees every one of them. (Packing needs |time| < 2^63 / 2^bits µs: with 64 steps, 4,500 years
around 1970; ClickHouse's DateTime64 spans 1900-2299.)

Each user's attempts (one per step-1 event) are tuples (keys, 0 - reached, s0, s1, ...), times past
the window or never reached being ``INF`` (the largest Int64): the smallest tuple of a key is the
best attempt, as :func:`~metrics.warehouse.funnels.best.best_cte`'s ``smallest_row`` orders them.
Without keys that is one ``arrayReduce('min', ...)``; with a breakdown value or a period (first
touch: the step-1 event's value, or the period of its time), the attempts are sorted and split
where the key changes, one row per (user, key) out of ``ARRAY JOIN``. ``isopen`` comes from the
key's latest start. No attempt is ever spoiled (no exclusions: a distinct-steps funnel).
"""

from __future__ import annotations

from typing import Any

from metrics.warehouse.funnels.classes import StepClasses
from metrics.warehouse.parts import day_of, local_us, period_of_day
from metrics.warehouse.relation import Sql

#: Where no event of the class follows (ClickHouse's literal would be a UInt64).
INF = "toInt64(9223372036854775807)"


def _first_at_or_after(step: int, values: str) -> str:
    """Per element, ``values`` at the first element from here on of step ``step``'s class."""
    of_step = f"arrayMap((c, v) -> if(c = {step}, v, {INF}), k, {values})"
    return f"arrayReverseFill((v, c) -> c = {step}, {of_step}, k)"


def _distinct(a: str, b: str) -> str:
    """1 when two values differ, NULL being a value (equal to NULL only)."""
    return f"(isNull({a}) != isNull({b}) OR ifNull({a} != {b}, 0))"


def array_ctes(
    sql: Sql,
    classes: StepClasses,
    query: Any,
    period: tuple[str, str] | None = None,
) -> list[tuple[str, str]]:
    """``ua`` (each user's events, sorted), ``ub`` (the best attempt per key, as a tuple) and
    ``best`` (uid, [bd], [pd], reached, s<j>, isopen), reading ``ev`` and ``hz``."""
    d = sql.d
    n = classes.n_steps
    assert len(set(classes.of_step)) == n, "a distinct-steps funnel: one class per step"
    flags = [f"c{c}" for c in classes.of_step]  # step s's class flag
    bits = max(1, (n - 1).bit_length())
    window = query.window_us
    breakdown = query.breakdown is not None
    step = " + ".join(f"{s} * {flag}" for s, flag in enumerate(flags))
    packed = f"ts * {1 << bits} + {step}"
    any_step = " OR ".join(f"{flag} = 1" for flag in flags)
    cols = ["uid", f"arraySort(groupArray({packed})) AS p"]
    if breakdown:
        # Sorted by the same keys: events that tie on them differ in nothing else that is read.
        # In a tuple, as groupArray leaves NULLs out.
        by_time = f"arraySort((v, q) -> q, groupArray(tuple(bd)), groupArray({packed}))"
        cols.append(f"arrayMap(v -> tupleElement(v, 1), {by_time}) AS bds")
    starts = f"HAVING max({flags[0]}) = 1"  # users without a step-1 event have no attempt
    ua = f"SELECT {', '.join(cols)} FROM nsf_ev WHERE {any_step} GROUP BY uid {starts}"

    arrays = [
        f"arrayMap(x -> bitShiftRight(x, {bits}), p) AS t",
        f"arrayMap(x -> bitAnd(x, {(1 << bits) - 1}), p) AS k",
    ]
    for layer in range(1, n):
        for i in range(1, n - layer + 1):
            j = i + layer - 1
            value = "t" if i == j else f"m{i + 1}_{j}"
            arrays.append(f"{_first_at_or_after(i, value)} AS m{i}_{j}")
    # One attempt per step-1 event: its keys, 0 - reached, then its steps' times.
    later = [f"a{j}" for j in range(1, n)]
    inside = [f"{a} <= s0 + {window}" for a in later]
    keys = []
    if breakdown:
        keys.append("bd")
    if period is not None:
        day = day_of(d, local_us(d, "s0", query.tz))
        keys.append(d.to_bigint(period_of_day(d, day, *period)))
    reached = f"0 - (1{''.join(f' + ({c})' for c in inside)})"
    at = [f"if({c}, {a}, {INF})" for c, a in zip(inside, later, strict=True)]
    fields = [*keys, reached, "s0", *at]
    params = ["s0", *later, *(["bd"] if breakdown else [])]
    per_event = ", ".join(["t", *(f"m1_{j}" for j in range(1, n)), *(["bds"] if breakdown else [])])
    attempt = f"arrayMap(({', '.join(params)}) -> tuple({', '.join(fields)}), {per_event})"
    arrays.append(f"arrayFilter((x, c) -> c = 0, {attempt}, k) AS att")
    nk = len(keys)
    start = nk + 2  # the tuple's field (1-based) holding s0
    if not keys:
        latest = "arrayMax(arrayMap(x -> tupleElement(x, 2), att))"
        best = f"arrayReduce('min', att) AS b, {latest} AS last"
        ub = f"SELECT uid, {', '.join(arrays)}, {best} FROM nsf_ua"
        key_cols: list[str] = []
    else:
        # Sorted, the attempts of one key are together and its best comes first.
        arrays.append("arraySort(att) AS sorted")
        prev = "arrayPushFront(arrayPopBack(sorted), sorted[1])"
        changed = " OR ".join(
            _distinct(f"tupleElement(x, {f})", f"tupleElement(y, {f})") for f in range(1, nk + 1)
        )
        arrays.append(f"arrayMap((x, y) -> {changed}, sorted, {prev}) AS cut")
        groups = "arraySplit((x, s) -> s, sorted, cut)"
        latest = f"arrayMax(arrayMap(x -> tupleElement(x, {start}), g))"
        per_key = f"arrayMap(g -> tuple(g[1], {latest}), {groups})"
        ub = (
            f"SELECT uid, tupleElement(r, 1) AS b, tupleElement(r, 2) AS last FROM "
            f"(SELECT uid, {', '.join(arrays)} FROM nsf_ua) ARRAY JOIN {per_key} AS r"
        )
        names = [*(["bd"] if breakdown else []), *(["pd"] if period is not None else [])]
        key_cols = [f"tupleElement(b, {f + 1}) AS {name}" for f, name in enumerate(names)]
    times = [f"tupleElement(b, {start}) AS s0"]
    for j in range(1, n):
        field = f"tupleElement(b, {start + j})"
        times.append(f"if({field} = {INF}, NULL, {field}) AS s{j}")
    still = f"CASE WHEN last + {window} > (SELECT hz FROM nsf_hz) THEN 1 ELSE 0 END"
    best_cols = ["uid", *key_cols, f"0 - tupleElement(b, {nk + 1}) AS reached", *times]
    best_cols.append(f"{still} AS isopen")
    return [
        ("nsf_ua", ua),
        ("nsf_ub", ub),
        ("nsf_best", f"SELECT {', '.join(best_cols)} FROM nsf_ub"),
    ]
