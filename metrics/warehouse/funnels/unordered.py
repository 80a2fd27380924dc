"""Unordered funnels: an attempt at each instant with a step event, over [T, T + window].

The twin of ``metrics.funnels._unordered_attempts``. For every instant t of the attempt's window
the steps matched among its events up to t (Kőnig: steps minus the largest Hall deficiency, over
the running counts ``r<mask>``) say how many distinct steps are done by t; step k is reached at
the first t where k are done. An exclusion event strictly after T spoils the attempt when it
comes before the attempt's completion, or, if it never completes, within its window.
"""

from __future__ import annotations

from typing import Any

from metrics.warehouse.funnels.classes import StepClasses
from metrics.warehouse.funnels.events import flag
from metrics.warehouse.relation import Sql


def unordered_ctes(sql: Sql, classes: StepClasses, query: Any) -> list[tuple[str, str]]:
    """The ``att`` CTE (uid, [bd], reached, s<j>, spoiled) and what it reads."""
    n = classes.n_steps
    window = query.window_us
    nx = [f"nx{x}" for x in range(len(query.exclusions))]
    anchor = " OR ".join(f"a.k{sum(1 << c for c in comp)} > 0" for comp in classes.comps)

    def within(mask: int) -> str:
        return f"(b.r{mask} - a.r{mask} + a.k{mask})"

    done = classes.matched(within, sql.d.greatest)
    pairs = (
        f"SELECT a.uid AS uid, a.ts AS ta, {''.join(f'a.{c} AS {c}, ' for c in nx)}"
        f"b.ts AS tb, {done} AS m FROM nsf_ins AS a JOIN nsf_ins AS b ON b.uid = a.uid "
        f"WHERE ({anchor}) AND b.ts >= a.ts AND b.ts <= a.ts + {window}"
    )
    cols = ["uid", "ta", *nx, "MAX(m) AS reached"]
    cols += [f"MIN(CASE WHEN m >= {j + 1} THEN tb END) AS s{j}" for j in range(n)]
    group = ", ".join(["uid", "ta", *nx])
    reach = f"SELECT {', '.join(cols)} FROM nsf_un_pairs GROUP BY {group}"
    terms = [
        f"({c} IS NOT NULL AND (CASE WHEN reached = {n} THEN (CASE WHEN {c} < s{n - 1} THEN 1 "
        f"ELSE 0 END) ELSE (CASE WHEN {c} <= ta + {window} THEN 1 ELSE 0 END) END) = 1)"
        for c in nx
    ]
    spoil = flag(" OR ".join(terms)) if terms else "0"
    times = ", ".join(f"w.s{j} AS s{j}" for j in range(n))
    if query.breakdown is None:
        att = (
            f"SELECT w.uid AS uid, w.reached AS reached, {times}, w.spoiled AS spoiled "
            "FROM nsf_un_spoiled AS w"
        )
    else:
        step_event = " OR ".join(f"c{c} = 1" for c in range(len(classes.definitions)))
        values = f"SELECT uid, ts, bd FROM nsf_ev WHERE {step_event} GROUP BY uid, ts, bd"
        att = (
            f"SELECT w.uid AS uid, v.bd AS bd, w.reached AS reached, {times}, "
            f"w.spoiled AS spoiled FROM nsf_un_spoiled AS w JOIN ({values}) AS v "
            "ON v.uid = w.uid AND v.ts = w.ta"
        )
    return [
        ("nsf_un_pairs", pairs),
        ("nsf_un_reach", reach),
        ("nsf_un_spoiled", f"SELECT r.*, {spoil} AS spoiled FROM nsf_un_reach AS r"),
        ("nsf_att", att),
    ]
