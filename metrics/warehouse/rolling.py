"""Rolling windows (DAU, WAU, MAU) in SQL: the interval union of ``metrics.engagement.windows``.

Each distinct (user, active day) covers the days ``[day, day + N - 1]`` of the N-day windows
that hold it; cut short where the same user's next active day begins (``LEAD``), the pieces of
one user never overlap. A ``+1`` where a piece starts and a ``-1`` where it ends, summed per day,
are the changes whose running sum is the number of distinct users in the window ending that day.

The engine does the heavy part (one sort of the distinct pairs for every window) and returns the
summed changes per ([breakdown], window, day): at most one row per day of the range and series,
since a change before ``start`` is moved onto ``start`` (the running sum there is the same). The
running sum over the zero-filled day grid is the Polars path's own (``metrics.engagement.windows``).

Why not a join of the distinct pairs with the day grid: that makes N rows of every pair (30 for
MAU) and needs a grid of days, which every engine generates its own way; the pieces need neither.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import polars as pl

from metrics.warehouse.engagement import matching_days
from metrics.warehouse.relation import Plan, Relation, Sql

if TYPE_CHECKING:  # metrics.engagement imports this module to plan its queries
    from metrics.engagement.query import EngagementQuery


def rolling_plan(
    relation: Relation,
    query: EngagementQuery,
    windows: tuple[int, ...],
    keys: list[str],
    *,
    first_day: dt.date,
    first_number: int,
    last_number: int,
    finish: Callable[[pl.LazyFrame], Any],
) -> Plan:
    """([breakdown], window_days, day, delta): the changes of each window's distinct users.

    ``first_day`` is the earliest day any window reaches back to; ``first_number`` and
    ``last_number`` are the day numbers of ``start`` and ``end``.
    """
    relation.require([c for c, _ in query.scope.filters], "filters")
    relation.require(keys, "breakdown")
    sql = Sql(relation)
    d, q = sql.d, sql.q
    longest = int(max(windows))
    rows = matching_days(sql, query, first_day, query.end, keys)
    key_cols = [q(k) for k in keys]
    k = "".join(f"{c}, " for c in key_cols)
    partition = ", ".join([*key_cols, q("user_id")])
    # Gap to the same user's next active day, capped at the longest window: beyond it every
    # piece ends alike, so a few small integers summarise all pairs.
    following = f"LEAD({d.nullable('day')}) OVER (PARTITION BY {partition} ORDER BY day)"
    gap = d.least(f"COALESCE({following} - day, {longest})", str(longest))
    pairs = f"SELECT DISTINCT {k}{q('user_id')}, day FROM ({rows}) AS m"
    gaps = f"SELECT {k}day AS piece_day, {gap} AS gap FROM ({pairs}) AS p"
    pieces = (
        f"SELECT {k}piece_day, gap, {d.to_bigint(d.count())} AS pieces "
        f"FROM ({gaps}) AS g GROUP BY {k}piece_day, gap"
    )
    # One row per (window, side): side 0 is where a piece starts, side 1 where it ends.
    sides = " UNION ALL ".join(
        f"SELECT {d.to_bigint(str(int(n)))} AS w_days, {d.to_bigint(str(side))} AS side"
        for n in windows
        for side in (0, 1)
    )
    at = (
        "CASE WHEN w.side = 0 THEN s.piece_day "
        f"ELSE s.piece_day + {d.least('s.gap', 'w.w_days')} END"
    )
    changes = (
        f"SELECT {''.join(f's.{c}, ' for c in key_cols)}w.w_days AS w_days, "
        f"{d.greatest(at, str(int(first_number)))} AS at_day, "
        "CASE WHEN w.side = 0 THEN s.pieces ELSE -s.pieces END AS piece_delta "
        f"FROM ({pieces}) AS s CROSS JOIN ({sides}) AS w "
        f"WHERE {at} <= {int(last_number)}"
    )
    text = (
        f"SELECT {k}{d.to_bigint('w_days')} AS window_days, {d.to_bigint('at_day')} AS day, "
        f"{d.to_bigint('SUM(piece_delta)')} AS delta "
        f"FROM ({changes}) AS c GROUP BY {k}w_days, at_day"
    )

    def done(frames: list[pl.DataFrame]) -> Any:
        deltas = (
            frames[0]
            .lazy()
            .with_columns(
                pl.col("window_days").cast(pl.Int64),
                pl.col("day").cast(pl.Int32),
                pl.col("delta").cast(pl.Int64),
            )
        )
        return finish(deltas)

    return Plan((sql.statement(text),), done)
