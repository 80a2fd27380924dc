"""The answers' final SELECTs over ``best``: only the rows each public function returns.

- :func:`steps`: per (breakdown value, step) the users, still-in-window count, median and mean
  seconds from the previous step (``metrics.funnels.tables.step_rows``, before the rates);
- :func:`trends`: per (breakdown value, period) entered, converted, still in window;
- :func:`histogram`: per (breakdown value, bin) the users, with the bins' range and count;
- :func:`users` / :func:`dropped`: one row per user (the answer is a list of users);
- :func:`next_events`: per (breakdown value, next event) the dropped users, top N.
"""

from __future__ import annotations

from typing import Any

from metrics.warehouse.funnels.events import numbers, range_condition, scoped_source
from metrics.warehouse.median import median, ranks
from metrics.warehouse.relation import Sql

_US = 1_000_000


def _keys(query: Any) -> list[str]:
    return ["bd"] if query.breakdown is not None else []


def _seconds(sql: Sql, later: str, earlier: str) -> str:
    d = sql.d
    return f"{d.to_double(f'{later} - {earlier}')} / {d.to_double(str(_US))}"


def steps(sql: Sql, query: Any, n: int) -> str:
    d = sql.d
    keys = _keys(query)
    kb = "".join(f"b.{k} AS {k}, " for k in keys)
    gaps = " ".join(
        f"WHEN {k} THEN {_seconds(sql, f'b.s{k - 1}', f'b.s{k - 2}')}" for k in range(2, n + 1)
    )
    gap = d.to_double("NULL")
    if gaps:
        gap = f"CASE WHEN b.reached >= k.k AND k.k >= 2 THEN (CASE k.k {gaps} END) END"
    unpivot = (
        f"SELECT {kb}k.k AS step, CASE WHEN b.reached >= k.k THEN 1 ELSE 0 END AS hit, "
        "CASE WHEN b.reached = k.k - 1 AND b.isopen = 1 THEN 1 ELSE 0 END AS still, "
        f"{gap} AS gap FROM nsf_best AS b CROSS JOIN {numbers(n, 1)} AS k"
    )
    exact = d.exact_median("gap")
    if exact is None:
        position, count = ranks("gap", [*keys, "step"])
        rows = f"SELECT u.*, {position} AS pos, {count} AS cnt FROM ({unpivot}) AS u"
        middle = median(d, "gap", "pos", "cnt")
    else:
        rows, middle = unpivot, d.to_double(exact)
    by = ", ".join([*keys, "step"])
    return (
        f"SELECT {''.join(k + ', ' for k in keys)}{d.to_bigint('step')} AS step, "
        f"{d.to_bigint('SUM(hit)')} AS users, {d.to_bigint('SUM(still)')} AS still_in_window, "
        f"{middle} AS median_seconds_to_convert, "
        f"{d.to_double('AVG(gap)')} AS mean_seconds_to_convert "
        f"FROM ({rows}) AS r GROUP BY {by}"
    )


def users(sql: Sql, query: Any, n: int) -> str:
    d = sql.d
    cols = [f"{d.to_text('uid')} AS user_id", *_keys(query), f"{d.to_bigint('reached')} AS reached"]
    cols += [f"{d.to_bigint(f's{j}')} AS s{j}" for j in range(n)]
    cols.append(f"{d.to_bigint('isopen')} AS isopen")
    return f"SELECT {', '.join(cols)} FROM nsf_best"


def dropped(sql: Sql, query: Any, step: int) -> str:
    d = sql.d
    cols = [f"{d.to_text('uid')} AS user_id", *_keys(query)]
    cols.append(f"{d.to_bigint(f's{step - 2}')} AS last_step_at")
    return f"SELECT {', '.join(cols)} FROM nsf_best WHERE reached = {step - 1} AND isopen = 0"


def trends(sql: Sql, query: Any, lo: int, hi: int) -> str:
    d = sql.d
    keys = _keys(query)
    entered = f"CASE WHEN reached >= {lo} THEN 1 ELSE 0 END"
    converted = f"CASE WHEN reached >= {lo} AND reached >= {hi} THEN 1 ELSE 0 END"
    still = f"CASE WHEN reached >= {lo} AND reached < {hi} AND isopen = 1 THEN 1 ELSE 0 END"
    return (
        f"SELECT {''.join(k + ', ' for k in keys)}{d.to_bigint('pd')} AS pnum, "
        f"{d.to_bigint(f'SUM({entered})')} AS entered, "
        f"{d.to_bigint(f'SUM({converted})')} AS converted, "
        f"{d.to_bigint(f'SUM({still})')} AS still_in_window "
        f"FROM nsf_best GROUP BY {', '.join([*keys, 'pd'])}"
    )


def _bin_count(d: Any, rows: str) -> str:
    """Sturges' rule as the Polars path computes it: min(30, ceil(log2(rows)) + 1), exactly
    (ceil(log2 N) is the bit length of N - 1)."""
    whens = " ".join(f"WHEN {rows} <= {1 << b} THEN {b + 1}" for b in range(29))
    return f"(CASE {whens} ELSE 30 END)"


def histogram(sql: Sql, query: Any, lo: int, hi: int, bins: int | None) -> str:
    d = sql.d
    keys = _keys(query)
    secs = (
        f"SELECT {''.join(k + ', ' for k in keys)}{_seconds(sql, f's{hi - 1}', f's{lo - 1}')} "
        f"AS secs FROM nsf_best WHERE reached >= {hi}"
    )
    spread = (
        "SELECT s.*, MIN(secs) OVER () AS low, MAX(secs) OVER () AS high, "
        "COUNT(*) OVER () AS total FROM (" + secs + ") AS s"
    )
    count = str(bins) if bins is not None else _bin_count(d, "total")
    sized = f"SELECT p.*, {count} AS nbins FROM ({spread}) AS p"
    width = f"((high - low) / {d.to_double('nbins')})"
    index = d.to_bigint(f"FLOOR((secs - low) / {width})")
    clipped = (
        f"CASE WHEN high = low THEN 0 WHEN {index} < 0 THEN 0 "
        f"WHEN {index} > nbins - 1 THEN nbins - 1 ELSE {index} END"
    )
    binned = f"SELECT z.*, {clipped} AS bn FROM ({sized}) AS z"
    by = ", ".join([*keys, "bn", "low", "high", "nbins"])
    return (
        f"SELECT {''.join(k + ', ' for k in keys)}{d.to_bigint('bn')} AS bn, "
        f"{d.to_bigint('COUNT(*)')} AS users, {d.to_double('low')} AS low, "
        f"{d.to_double('high')} AS high, {d.to_bigint('nbins')} AS nbins "
        f"FROM ({binned}) AS y GROUP BY {by}"
    )


def next_events(
    sql: Sql, query: Any, step: int, top: int, ignore: list[str], labels: tuple[str, str]
) -> str:
    """The dropped users' first later event (inside the range; at one instant the first name
    in binary order, as Polars sorts), passing over ``ignore``; counted per event, top N."""
    d = sql.d
    q = sql.q
    keys = _keys(query)
    no_later, only_ignored = labels
    who = f"SELECT uid, {''.join(k + ', ' for k in keys)}s{step - 2} AS since FROM nsf_best " + (
        f"WHERE reached = {step - 1} AND isopen = 0"
    )
    # An event without a name is never chosen (Polars' is_in gives null there: filtered out).
    passed = f"WHEN e.{q('event')} IN ({', '.join(sql.value(v) for v in ignore)}) THEN 0 "
    chosen = f"CASE WHEN e.{q('event')} IS NULL THEN 0 {passed if ignore else ''}ELSE 1 END"
    kw = "".join(f"w.{k} AS {k}, " for k in keys)
    ts, name = f"e.{q('ts_us')}", d.to_text(f"e.{q('event')}")
    later = (
        f"SELECT w.uid AS uid, {kw}1 AS later, {chosen} AS chosen, {ts} AS ts, "
        f"{name} AS name FROM ({who}) AS w JOIN {scoped_source(sql, query)} AS e "
        f"ON e.{q('user_id')} = w.uid "
        f"WHERE {ts} > w.since AND {range_condition(sql, query, ts)}"
    )
    none = d.to_text("NULL")
    itself = (
        f"SELECT uid, {''.join(k + ', ' for k in keys)}0 AS later, 0 AS chosen, "
        f"{d.to_bigint('NULL')} AS ts, {none} AS name FROM ({who}) AS w0"
    )
    part = ", ".join(["uid", *keys])
    order = f"CASE WHEN chosen = 1 THEN 0 ELSE 1 END, ts, {d.binary(d.to_text('name'))}"
    ranked = (
        f"SELECT a.*, ROW_NUMBER() OVER (PARTITION BY {part} ORDER BY {order}) AS rk "
        f"FROM ({later} UNION ALL {itself}) AS a"
    )
    first = "MAX(CASE WHEN rk = 1 AND chosen = 1 THEN name END)"
    label = (
        f"CASE WHEN {first} IS NOT NULL THEN {first} "
        f"WHEN MAX(later) = 1 THEN {sql.value(only_ignored)} ELSE {sql.value(no_later)} END"
    )
    per_user = (
        f"SELECT {''.join(k + ', ' for k in keys)}{label} AS event "
        f"FROM ({ranked}) AS r GROUP BY {part}"
    )
    by = ", ".join([*keys, "event"])
    counted = (
        f"SELECT {''.join(k + ', ' for k in keys)}event, COUNT(*) AS users FROM ({per_user}) AS p "
        f"GROUP BY {by}"
    )
    kp = f"PARTITION BY {', '.join(keys)} " if keys else ""
    shares = (
        f"SELECT c.*, SUM(users) OVER ({kp[:-1] if kp else ''}) AS total, "
        f"ROW_NUMBER() OVER ({kp}ORDER BY users DESC, {d.binary('event')}) AS place "
        f"FROM ({counted}) AS c"
    )
    return (
        f"SELECT {''.join(k + ', ' for k in keys)}{d.to_text('event')} AS event, "
        f"{d.to_bigint('users')} AS users, "
        f"{d.to_double('users')} / {d.to_double('total')} AS share "
        f"FROM ({shares}) AS s WHERE place <= {top}"
    )
