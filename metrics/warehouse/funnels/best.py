"""Each user's best clean attempt (per breakdown value, per period): the ``best`` CTE.

The twin of metrics/funnels/best.py: among the attempts no exclusion spoiled, the furthest
reaching, then the earliest times (the earliest start first); ``isopen`` is 1 when any of those
clean attempts still has its window open at the horizon (``hz``).
Columns: uid, [bd], [pd], reached, s<j>, isopen.
"""

from __future__ import annotations

from typing import Any

from metrics.warehouse.parts import day_of, local_us, period_of_day
from metrics.warehouse.relation import Sql


def period_cte(sql: Sql, query: Any, interval: str, week_start: str) -> tuple[str, str]:
    """``attp``: the attempts with ``pd``, the period (engagement's numbering) of their start in
    the reporting zone."""
    d = sql.d
    day = day_of(d, local_us(d, "s0", query.tz))
    period = d.to_bigint(period_of_day(d, day, interval, week_start))
    return "nsf_attp", f"SELECT a.*, {period} AS pd FROM nsf_att AS a"


def best_cte(
    sql: Sql, query: Any, n: int, *, source: str = "nsf_att", period: bool = False
) -> tuple[str, str]:
    d = sql.d
    group = ["uid"]
    if query.breakdown is not None:
        group.append("bd")
    if period:
        group.append("pd")
    times = [f"s{j}" for j in range(n)]
    by = ", ".join(group)
    # A scalar subquery, not a cross join: PostgreSQL evaluates it once (an InitPlan), where a
    # joined one-row CTE was re-scanned per attempt (a 40k-event funnel took minutes).
    still = f"CASE WHEN t.s0 + {query.window_us} > (SELECT hz FROM nsf_hz) THEN 1 ELSE 0 END"
    clean = f"FROM {source} AS t WHERE t.spoiled = 0"
    # The furthest step first, then the earliest times: s<j> is NULL exactly from step
    # ``reached`` on, so attempts that tie up to a NULL are the same row.
    best = d.smallest_row(["0 - t.reached", *(f"t.{s}" for s in times)])
    if best is not None:
        cols = [*group, f"0 - {d.row_field('b', 0)} AS reached"]
        cols += [f"{d.row_field('b', j + 1)} AS {s}" for j, s in enumerate(times)]
        grouped = f"SELECT {by}, {best} AS b, MAX({still}) AS isopen {clean} GROUP BY {by}"
        return "nsf_best", f"SELECT {', '.join(cols)}, isopen FROM ({grouped}) AS g"
    rank = f"ROW_NUMBER() OVER (PARTITION BY {by} ORDER BY reached DESC, {', '.join(times)})"
    ranked = f"SELECT t.*, {rank} AS rk, MAX({still}) OVER (PARTITION BY {by}) AS isopen {clean}"
    cols = [*group, "reached", *times, "isopen"]
    return "nsf_best", f"SELECT {', '.join(cols)} FROM ({ranked}) AS r WHERE rk = 1"
