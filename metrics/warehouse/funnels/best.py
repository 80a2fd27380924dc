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
    query: Any, n: int, *, source: str = "nsf_att", period: bool = False
) -> tuple[str, str]:
    group = ["uid"]
    if query.breakdown is not None:
        group.append("bd")
    if period:
        group.append("pd")
    times = [f"s{j}" for j in range(n)]
    by = ", ".join(group)
    rank = f"ROW_NUMBER() OVER (PARTITION BY {by} ORDER BY reached DESC, {', '.join(times)})"
    # A scalar subquery, not a cross join: PostgreSQL evaluates it once (an InitPlan), where a
    # joined one-row CTE was re-scanned per attempt (a 40k-event funnel took minutes).
    still = f"CASE WHEN t.s0 + {query.window_us} > (SELECT hz FROM nsf_hz) THEN 1 ELSE 0 END"
    ranked = (
        f"SELECT t.*, {rank} AS rk, MAX({still}) OVER (PARTITION BY {by}) AS isopen "
        f"FROM {source} AS t WHERE t.spoiled = 0"
    )
    cols = [*group, "reached", *times, "isopen"]
    return "nsf_best", f"SELECT {', '.join(cols)} FROM ({ranked}) AS r WHERE rk = 1"
