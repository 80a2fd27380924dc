"""Ordered funnels: each attempt fills its steps greedily, one instant (block of steps) a round.

The twin of metrics/funnels/attempts.py (ordered). From the block ending at step ``f`` at instant
T, step f+1 goes to the user's next instant strictly after T with an event of its class (``nc``),
if that is within the window; there the block grows while the steps can each get their own event
(``f<b>`` of ``ins``). Each round is one equality join of the attempts with ``ins``; an attempt
that cannot move keeps its row. ``n - 1`` rounds reach any step.

Attempt columns: uid, t1, keys, f (last step reached, 0-based), s<j> (step j's time or NULL),
e<x> (exclusion x's first event strictly after its from-step's instant), nt (where step f+1
would go, NULL when nowhere).
"""

from __future__ import annotations

from typing import Any

from metrics.warehouse.funnels.classes import StepClasses
from metrics.warehouse.funnels.starts import key_columns, spoiled, starts_ctes


def _next_time(classes: StepClasses, query: Any, f: str, row: str) -> str:
    """Where step f+1 goes from the instant ``row``: its class's next instant, in the window."""
    n = classes.n_steps
    if n == 1:
        return "NULL"
    whens = " ".join(f"WHEN {k} THEN {row}nc{classes.of_step[k + 1]}" for k in range(n - 1))
    nxt = f"(CASE {f} {whens} END)"
    return f"(CASE WHEN {nxt} - {row}t1 <= {query.window_us} THEN {nxt} END)"


def ordered_ctes(classes: StepClasses, query: Any) -> list[tuple[str, str]]:
    """The ``att`` CTE (uid, keys, reached, s<j>, spoiled) and what it reads."""
    n = classes.n_steps
    excl = query.resolved
    keys = key_columns(classes, query)
    ctes = starts_ctes(classes, query)
    cols = ["p.uid AS uid", "p.t1 AS t1", *(f"p.{k} AS {k}" for k in keys), "p.f AS f"]
    cols += [f"CASE WHEN p.f >= {j} THEN p.t1 END AS s{j}" for j in range(n)]
    cols += [f"CASE WHEN p.f >= {lo} THEN p.nx{x} END AS e{x}" for x, (lo, _) in enumerate(excl)]
    cols.append(f"{_next_time(classes, query, 'p.f', 'p.')} AS nt")
    ctes.append(("nsf_o0", f"SELECT {', '.join(cols)} FROM nsf_st AS p"))
    carried = ["uid", "t1", *keys]
    for r in range(1, n):
        # Where the attempt lands this round, and the block it fills there.
        blocks = " ".join(f"WHEN {b - 1} THEN i.f{b}" for b in range(1, n))
        moved = f"(CASE a.f {blocks} END)"
        land = [f"a.{c} AS {c}" for c in carried + ["f"]]
        land += [f"a.s{j} AS s{j}" for j in range(n)]
        land += [f"a.e{x} AS e{x}" for x in range(len(excl))]
        land += ["COALESCE(i.hit, 0) AS hit", "i.ts AS it"]
        land.append(f"CASE WHEN COALESCE(i.hit, 0) = 1 THEN {moved} ELSE a.f END AS nf")
        land += [f"i.nc{c} AS nc{c}" for c in range(len(classes.definitions))]
        land += [f"i.nx{x} AS nx{x}" for x in range(len(excl))]
        ctes.append(
            (
                f"nsf_l{r}",
                f"SELECT {', '.join(land)} FROM nsf_o{r - 1} AS a "
                "LEFT JOIN nsf_ins AS i ON i.uid = a.uid AND i.ts = a.nt",
            )
        )
        step = [f"a.{c} AS {c}" for c in carried] + ["a.nf AS f"]
        step += [
            f"CASE WHEN a.hit = 1 AND a.f < {j} AND a.nf >= {j} THEN a.it ELSE a.s{j} END AS s{j}"
            for j in range(n)
        ]
        step += [
            f"CASE WHEN a.hit = 1 AND a.f < {lo} AND a.nf >= {lo} THEN a.nx{x} "
            f"ELSE a.e{x} END AS e{x}"
            for x, (lo, _) in enumerate(excl)
        ]
        step.append(
            f"CASE WHEN a.hit = 1 THEN {_next_time(classes, query, 'a.nf', 'a.')} END AS nt"
        )
        ctes.append((f"nsf_o{r}", f"SELECT {', '.join(step)} FROM nsf_l{r} AS a"))
    last = f"nsf_o{n - 1}"
    out = ["uid", *(["bd"] if query.breakdown is not None else []), "f + 1 AS reached"]
    out += [f"s{j}" for j in range(n)]
    out.append(f"{spoiled(query, n)} AS spoiled")
    ctes.append(("nsf_att", f"SELECT {', '.join(out)} FROM {last}"))
    return ctes
