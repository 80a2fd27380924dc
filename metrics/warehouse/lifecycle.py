"""Lifecycle in SQL: each user's active periods, and the period before and after each one.

The twin of ``metrics.engagement.lifecycle``: the distinct (user, period) pairs of the counted
events over the user's whole history up to the last period's end; ``LAG``/``LEAD`` over each
user's periods give the previous and next active period. A pair is *new* (no previous period, or
with ``new_means="first_seen"`` the period of the user's first event of any kind), *returning*
(previous period is the one before), else *resurrecting*; a pair whose next active period is not
the following one makes the user *dormant* in the following period. The engine counts these per
period (one row per period); the period grid and zeros are the Polars path's own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import polars as pl

from metrics.warehouse.engagement import matching_days
from metrics.warehouse.parts import period_of_day
from metrics.warehouse.relation import Plan, Relation, Sql

if TYPE_CHECKING:  # metrics.engagement imports this module to plan its queries
    from metrics.engagement.query import EngagementQuery

#: The statuses in the order of the public frame.
STATUSES = ("new", "returning", "resurrecting", "dormant")


def lifecycle_plan(
    relation: Relation,
    query: EngagementQuery,
    new_means: str,
    *,
    first: int,
    last: int,
    last_day: dt.date,
    finish: Callable[[pl.LazyFrame], Any],
) -> Plan:
    """Counts of each status per period number ``first..last``."""
    sql = Sql(relation)
    relation.require([c for c, _ in query.scope.filters], "filters")
    d, q = sql.d, sql.q
    user = q("user_id")

    def period(day: str) -> str:
        return period_of_day(d, day, query.interval, query.week_start)

    rows = matching_days(sql, query, None, last_day, [])
    active = f"SELECT DISTINCT {user}, {period('day')} AS period FROM ({rows}) AS m"
    if new_means == "first_seen":
        everything = matching_days(
            sql, query, None, last_day, [], use_event=False, use_filters=False
        )
        seen = f"SELECT {user}, MIN(day) AS first_day FROM ({everything}) AS e GROUP BY {user}"
        active = (
            f"SELECT a.{user} AS {user}, a.period AS period, "
            f"{period('s.first_day')} AS first_seen "
            f"FROM ({active}) AS a LEFT JOIN ({seen}) AS s ON a.{user} = s.{user}"
        )
        is_new = "period = first_seen"
        seen_column = ", first_seen"
    else:
        is_new = "prev_period IS NULL"
        seen_column = ""
    over = f"OVER (PARTITION BY {user} ORDER BY period)"
    neighbours = (
        f"SELECT period{seen_column}, LAG({d.nullable('period')}) {over} AS prev_period, "
        f"LEAD({d.nullable('period')}) {over} AS next_period FROM ({active}) AS a"
    )
    marked = (
        "SELECT period, next_period, "
        f"CASE WHEN {is_new} THEN 0 WHEN prev_period = period - 1 THEN 1 ELSE 2 END AS status "
        f"FROM ({neighbours}) AS n"
    )
    # side 0: the pair's own status in its period; side 1: dormant in the following period.
    sides = f"SELECT {d.to_bigint('0')} AS side UNION ALL SELECT {d.to_bigint('1')} AS side"
    moved = (
        "SELECT CASE WHEN x.side = 0 THEN k.period ELSE k.period + 1 END AS at_period, "
        "CASE WHEN x.side = 0 THEN k.status ELSE 3 END AS status "
        f"FROM ({marked}) AS k CROSS JOIN ({sides}) AS x "
        "WHERE x.side = 0 OR k.next_period IS NULL OR k.next_period <> k.period + 1"
    )
    counts = ", ".join(
        f"{d.to_bigint(f'SUM(CASE WHEN status = {code} THEN 1 ELSE 0 END)')} AS {q(name)}"
        for code, name in enumerate(STATUSES)
    )
    text = (
        f"SELECT {d.to_bigint('at_period')} AS period, {counts} FROM ({moved}) AS t "
        f"WHERE at_period BETWEEN {int(first)} AND {int(last)} GROUP BY at_period"
    )

    def done(frames: list[pl.DataFrame]) -> Any:
        return finish(
            frames[0]
            .lazy()
            .with_columns(pl.col("period").cast(pl.Int32), pl.col(STATUSES).cast(pl.Int64))
        )

    return Plan((sql.statement(text),), done)
