"""Strict funnels: each next step is at the user's very next instant or at the current one.

The twin of ``metrics.funnels._strict_attempts``. A strict chain puts its steps on consecutive
instants of the user (any event counts as an instant: one between two steps breaks the chain),
a block of one or more steps on each. A *state* is (attempt, round r, f): the chain's last step f
sits on the attempt's r-th next instant. From it, the block of steps f+1..f' goes to the next
instant for every f' that fits there; of the states with the same (attempt, round, f) only the
earliest history is kept (they have the same futures). The best chain is the furthest, then the
earliest, over all rounds.
"""

from __future__ import annotations

from typing import Any

from metrics.warehouse.funnels.classes import StepClasses
from metrics.warehouse.funnels.events import numbers
from metrics.warehouse.funnels.starts import key_columns, spoiled, starts_ctes


def strict_ctes(classes: StepClasses, query: Any) -> list[tuple[str, str]]:
    """The ``att`` CTE (uid, keys, reached, s<j>, spoiled) and what it reads."""
    n = classes.n_steps
    excl = query._resolved
    keys = key_columns(classes, query)
    identity = ["uid", "t1", *keys]
    times = [f"s{j}" for j in range(n)]
    state = [*identity, "f", "ix", *times, *(f"e{x}" for x in range(len(excl)))]
    ctes = starts_ctes(classes, query)
    cols = [f"p.{c} AS {c}" for c in identity] + ["k.k AS f", "p.ix AS ix"]
    cols += [f"CASE WHEN k.k >= {j} THEN p.t1 END AS s{j}" for j in range(n)]
    cols += [f"CASE WHEN k.k >= {lo} THEN p.nx{x} END AS e{x}" for x, (lo, _) in enumerate(excl)]
    ctes.append(
        (
            "z0",
            f"SELECT {', '.join(cols)} FROM st AS p CROSS JOIN {numbers(n)} AS k WHERE k.k <= p.f",
        )
    )
    for r in range(1, n):
        blocks = " ".join(f"WHEN {b - 1} THEN i.f{b}" for b in range(1, n))
        cols = [f"a.{c} AS {c}" for c in identity] + ["k.k AS f", "i.ix AS ix"]
        cols += [
            f"CASE WHEN k.k >= {j} AND a.f < {j} THEN i.ts ELSE a.s{j} END AS s{j}"
            for j in range(n)
        ]
        cols += [
            f"CASE WHEN k.k >= {lo} AND a.f < {lo} THEN i.nx{x} ELSE a.e{x} END AS e{x}"
            for x, (lo, _) in enumerate(excl)
        ]
        grown = (
            f"SELECT {', '.join(cols)} FROM z{r - 1} AS a "
            "JOIN ins AS i ON i.uid = a.uid AND i.ix = a.ix + 1 "
            f"CROSS JOIN {numbers(n)} AS k "
            f"WHERE a.f < {n - 1} AND i.ts - a.t1 <= {query.window_us} "
            f"AND k.k > a.f AND k.k <= (CASE a.f {blocks} END)"
        )
        rank = (
            f"ROW_NUMBER() OVER (PARTITION BY {', '.join(identity)}, f ORDER BY {', '.join(times)})"
        )
        ctes.append(
            (
                f"z{r}",
                f"SELECT {', '.join(state)} FROM (SELECT g.*, {rank} AS rk FROM ({grown}) AS g) "
                "AS w WHERE rk = 1",
            )
        )
    every = " UNION ALL ".join(f"SELECT {', '.join(state)} FROM z{r}" for r in range(n))
    best = (
        f"ROW_NUMBER() OVER (PARTITION BY {', '.join(identity)} "
        f"ORDER BY f DESC, {', '.join(times)})"
    )
    ctes.append(("zall", f"SELECT u.*, {best} AS rk FROM ({every}) AS u"))
    out = ["uid", *(["bd"] if query.breakdown is not None else []), "f + 1 AS reached", *times]
    out.append(f"{spoiled(query, n)} AS spoiled")
    ctes.append(("att", f"SELECT {', '.join(out)} FROM zall WHERE rk = 1"))
    return ctes
