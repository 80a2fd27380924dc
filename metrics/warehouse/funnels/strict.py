"""Strict funnels: each next step is at the user's very next instant or at the current one.

The twin of metrics/funnels/attempts.py (strict). A strict chain puts its steps on consecutive
instants of the user (any event counts as an instant: one between two steps breaks the chain),
a block of one or more steps on each. A *live state* is (attempt, f) after round r: the chain's
last step f sits on the attempt's r-th next instant. Each round, the block f+1..f' goes to the
next instant for every f' that fits there; of the live states with the same (attempt, f) only the
earliest history is kept (they have the same futures). A state that has had its round becomes a
finished chain; per attempt only the best finished chain (furthest, then earliest) is kept. The
rounds form one chain of CTEs, each reading the previous once (engines that inline CTEs, such
as ClickHouse, then plan a statement that grows linearly with the steps).
"""

from __future__ import annotations

from typing import Any

from metrics.warehouse.funnels.classes import StepClasses
from metrics.warehouse.funnels.events import numbers
from metrics.warehouse.funnels.starts import key_columns, spoiled, starts_ctes


def strict_ctes(classes: StepClasses, query: Any) -> list[tuple[str, str]]:
    """The ``att`` CTE (uid, keys, reached, s<j>, spoiled) and what it reads."""
    n = classes.n_steps
    excl = query.resolved
    identity = ["uid", "t1", *key_columns(classes, query)]
    times = [f"s{j}" for j in range(n)]
    marks = [f"e{x}" for x in range(len(excl))]
    ctes = starts_ctes(classes, query, ordinal=True)
    cols = [f"p.{c} AS {c}" for c in identity] + ["k.k AS f", "p.ix AS ix", "1 AS live"]
    cols += [f"CASE WHEN k.k >= {j} THEN p.t1 END AS s{j}" for j in range(n)]
    cols += [f"CASE WHEN k.k >= {lo} THEN p.nx{x} END AS e{x}" for x, (lo, _) in enumerate(excl)]
    first = (
        f"SELECT {', '.join(cols)} FROM nsf_st AS p CROSS JOIN {numbers(n)} AS k WHERE k.k <= p.f"
    )
    ctes.append(("nsf_z0", _kept(first, identity, times, marks, n)))
    blocks = " ".join(f"WHEN {b - 1} THEN i.f{b}" for b in range(1, n))
    for r in range(1, n):
        grow = "k.k > a.f"
        cols = [f"a.{c} AS {c}" for c in identity] + ["k.k AS f"]
        cols += [f"CASE WHEN {grow} THEN i.ix ELSE a.ix END AS ix"]
        cols += [f"CASE WHEN {grow} THEN 1 ELSE 0 END AS live"]
        cols += [
            f"CASE WHEN {grow} AND a.f < {j} AND k.k >= {j} THEN i.ts ELSE a.s{j} END AS s{j}"
            for j in range(n)
        ]
        cols += [
            f"CASE WHEN {grow} AND a.f < {lo} AND k.k >= {lo} THEN i.nx{x} ELSE a.e{x} END AS e{x}"
            for x, (lo, _) in enumerate(excl)
        ]
        moved = (
            f"COALESCE(i.hit, 0) = 1 AND i.ts - a.t1 <= {query.window_us} "
            f"AND k.k > a.f AND k.k <= (CASE a.f {blocks} END)"
        )
        grown = (
            f"SELECT {', '.join(cols)} FROM nsf_z{r - 1} AS a "
            "LEFT JOIN nsf_ins AS i ON i.uid = a.uid AND i.ix = a.nix "
            f"CROSS JOIN {numbers(n)} AS k "
            f"WHERE k.k = a.f OR ({moved})"
        )
        ctes.append((f"nsf_z{r}", _kept(grown, identity, times, marks, n)))
    best = (
        f"ROW_NUMBER() OVER (PARTITION BY {', '.join(identity)} "
        f"ORDER BY f DESC, {', '.join(times)})"
    )
    ctes.append(("nsf_zall", f"SELECT u.*, {best} AS rk FROM nsf_z{n - 1} AS u"))
    out = ["uid", *(["bd"] if query.breakdown is not None else []), "f + 1 AS reached", *times]
    out.append(f"{spoiled(query, n)} AS spoiled")
    ctes.append(("nsf_att", f"SELECT {', '.join(out)} FROM nsf_zall WHERE rk = 1"))
    return ctes


def _kept(rows: str, identity: list[str], times: list[str], marks: list[str], n: int) -> str:
    """Of ``rows``: per attempt the earliest live state per f, and the best finished chain;
    ``nix`` is the instant a live state moves to next (NULL when it cannot move)."""
    order = ", ".join(times)
    rank = (
        f"ROW_NUMBER() OVER (PARTITION BY {', '.join(identity)}, live, "
        f"CASE WHEN live = 1 THEN f ELSE -1 END "
        f"ORDER BY CASE WHEN live = 1 THEN 0 ELSE {n} - f END, {order})"
    )
    state = [*identity, "f", "ix", "live", *times, *marks]
    # ``ix`` counts the user's instants from their last: the next one is ix - 1 (0: none).
    nix = f"CASE WHEN live = 1 AND f < {n - 1} THEN ix - 1 END AS nix"
    return (
        f"SELECT {', '.join(state)}, {nix} FROM (SELECT g.*, {rank} AS rk FROM ({rows}) AS g) "
        "AS w WHERE rk = 1"
    )
