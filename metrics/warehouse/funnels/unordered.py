"""Unordered funnels: an attempt at each instant with a step event, over [T, T + window].

The twin of metrics/funnels/attempts.py (unordered). Step k is reached at the first instant by
which k distinct steps can each be given their own event of the window. Two ways to get there:

- no two step classes can share an event (distinct events, repeats allowed): the attempt's
  candidates are, per class, its first ``multiplicity`` events from T on (found by their ordinal
  among the user's events of that class, an equality join); step k is the k-th earliest of
  them inside the window (the Polars path's fast branch). Linear in the attempts.
- otherwise, for every instant t of the window, the steps matched among its events up to t
  (Kőnig: steps minus the largest Hall deficiency, over the running counts ``r<mask>``) say how
  many are done by t (a join of each attempt with its window's instants).

An exclusion event strictly after T spoils the attempt when it comes before the attempt's
completion, or, if it never completes, within its window.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from metrics.warehouse.funnels.classes import StepClasses
from metrics.warehouse.funnels.events import flag
from metrics.warehouse.relation import Sql


def unordered_ctes(sql: Sql, classes: StepClasses, query: Any) -> list[tuple[str, str]]:
    """The ``nsf_att`` CTE (uid, [bd], reached, s<j>, spoiled) and what it reads."""
    if all(len(comp) == 1 for comp in classes.comps):
        ctes = _by_ordinals(sql, classes, query)
    else:
        ctes = _by_window_instants(sql, classes, query)
    return [*ctes, *_spoiled_attempts(classes, query)]


def _anchor(classes: StepClasses, row: str) -> str:
    return " OR ".join(f"{row}k{sum(1 << c for c in comp)} > 0" for comp in classes.comps)


def _by_ordinals(sql: Sql, classes: StepClasses, query: Any) -> list[tuple[str, str]]:
    d = sql.d
    n = classes.n_steps
    mult = Counter(classes.of_step)
    nx = [f"nx{x}" for x in range(len(query.exclusions))]
    which = " ".join(f"WHEN c{c} = 1 THEN {c}" for c in mult)
    ordinal = d.to_bigint("ROW_NUMBER() OVER (PARTITION BY uid, cls ORDER BY ts)")
    events = (
        f"SELECT uid, ts, cls, {ordinal} AS o FROM (SELECT uid, ts, CASE {which} END AS cls "
        f"FROM nsf_ev) AS e WHERE cls IS NOT NULL"
    )
    wanted = " UNION ALL ".join(
        f"SELECT {c} AS cls, {r} AS r" for c, m in mult.items() for r in range(1, m + 1)
    )
    before = " ".join(f"WHEN {c} THEN a.r{1 << c} - a.k{1 << c}" for c in mult)
    asks = (
        f"SELECT a.uid AS uid, a.ts AS ta, {''.join(f'a.{c} AS {c}, ' for c in nx)}"
        f"w.cls AS cls, {d.to_bigint(f'(CASE w.cls {before} END) + w.r')} AS want "
        f"FROM nsf_ins AS a CROSS JOIN ({wanted}) AS w WHERE {_anchor(classes, 'a.')}"
    )
    found = (
        f"SELECT x.uid AS uid, x.ta AS ta, {''.join(f'x.{c} AS {c}, ' for c in nx)}"
        "e.ts AS tb FROM nsf_un_asks AS x JOIN nsf_un_events AS e "
        "ON e.uid = x.uid AND e.cls = x.cls AND e.o = x.want "
        f"WHERE e.ts <= x.ta + {query.window_us}"
    )
    place = "ROW_NUMBER() OVER (PARTITION BY uid, ta ORDER BY tb)"
    ranked = f"SELECT f.*, {place} AS place FROM nsf_un_found AS f"
    cols = ["uid", "ta", *nx, d.to_bigint("COUNT(*)") + " AS reached"]
    cols += [f"MAX(CASE WHEN place = {j + 1} THEN tb END) AS s{j}" for j in range(n)]
    group = ", ".join(["uid", "ta", *nx])
    return [
        ("nsf_un_events", events),
        ("nsf_un_asks", asks),
        ("nsf_un_found", found),
        ("nsf_un_reach", f"SELECT {', '.join(cols)} FROM ({ranked}) AS g GROUP BY {group}"),
    ]


def _by_window_instants(sql: Sql, classes: StepClasses, query: Any) -> list[tuple[str, str]]:
    n = classes.n_steps
    nx = [f"nx{x}" for x in range(len(query.exclusions))]

    def within(mask: int) -> str:
        return f"(b.r{mask} - a.r{mask} + a.k{mask})"

    done = classes.matched(within, sql.d.greatest)
    pairs = (
        f"SELECT a.uid AS uid, a.ts AS ta, {''.join(f'a.{c} AS {c}, ' for c in nx)}"
        f"b.ts AS tb, {done} AS m FROM nsf_ins AS a JOIN nsf_ins AS b ON b.uid = a.uid "
        f"WHERE ({_anchor(classes, 'a.')}) AND b.ts >= a.ts AND b.ts <= a.ts + {query.window_us}"
    )
    cols = ["uid", "ta", *nx, "MAX(m) AS reached"]
    cols += [f"MIN(CASE WHEN m >= {j + 1} THEN tb END) AS s{j}" for j in range(n)]
    group = ", ".join(["uid", "ta", *nx])
    return [
        ("nsf_un_pairs", pairs),
        ("nsf_un_reach", f"SELECT {', '.join(cols)} FROM nsf_un_pairs GROUP BY {group}"),
    ]


def _spoiled_attempts(classes: StepClasses, query: Any) -> list[tuple[str, str]]:
    """``nsf_att`` from ``nsf_un_reach`` (uid, ta, nx<i>, reached, s<j>): spoiled, breakdown."""
    n = classes.n_steps
    window = query.window_us
    nx = [f"nx{x}" for x in range(len(query.exclusions))]
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
        ("nsf_un_spoiled", f"SELECT r.*, {spoil} AS spoiled FROM nsf_un_reach AS r"),
        ("nsf_att", att),
    ]
