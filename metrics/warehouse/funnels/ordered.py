"""Ordered funnels: each attempt fills its steps greedily, one instant (block of steps) a round.

The twin of metrics/funnels/attempts.py (ordered). From the block ending at step ``f`` at instant
T, step f+1 goes to the user's next instant strictly after T with an event of its class (``nc``),
if that is within the window; there the block grows while the steps can each get their own event
(``f<b>`` of ``ins``). Each round is one equality join of the attempts with ``ins``; an attempt
that cannot move keeps its row. ``n - 1`` rounds reach any step; the last one needs no join (it
can only place the last step, alone, at ``nt``).

Attempt columns: uid, t1, [bd], f (last step reached, 0-based), s<j> (step j's time or NULL),
e<x> (exclusion x's first event strictly after its from-step's instant), nt (where step f+1
would go, NULL when nowhere).
"""

from __future__ import annotations

from typing import Any

from metrics.warehouse.funnels.classes import StepClasses
from metrics.warehouse.funnels.events import BY_USER_LATEST_FIRST, FROM_HERE, distinct_steps
from metrics.warehouse.funnels.starts import spoiled, starts_ctes
from metrics.warehouse.relation import Sql


def _next_time(classes: StepClasses, query: Any, f: str, row: str, low: int = 0) -> str:
    """Where step f+1 goes from the instant ``row``: its class's next instant, in the window
    (``f`` is at least ``low``; NULL when f is the last step)."""
    n = classes.n_steps
    if low >= n - 1:
        return "NULL"
    whens = " ".join(f"WHEN {k} THEN {row}nc{classes.of_step[k + 1]}" for k in range(low, n - 1))
    nxt = f"(CASE {f} {whens} END)"
    return f"(CASE WHEN {nxt} - {row}t1 <= {query.window_us} THEN {nxt} END)"


def next_classes(classes: StepClasses, low: int = 1) -> list[int]:
    """The classes whose next instant an attempt looks up for steps ``low + 1`` .. n."""
    return sorted(set(classes.of_step[low:]))


def ordered_ctes(classes: StepClasses, query: Any) -> list[tuple[str, str]]:
    """The ``att`` CTE (uid, [bd], reached, s<j>, spoiled) and what it reads."""
    n = classes.n_steps
    excl = query.resolved
    ctes = starts_ctes(
        classes, query, nexts=next_classes(classes), from_events=distinct_steps(classes, query)
    )
    # Once started, an attempt is its user, start and breakdown value (the first event's class
    # flags only told attempts apart).
    carried = ["uid", "t1", *(["bd"] if query.breakdown is not None else [])]
    cols = [*(f"p.{c} AS {c}" for c in carried), "p.f AS f"]
    cols += [f"CASE WHEN p.f >= {j} THEN p.t1 END AS s{j}" for j in range(n)]
    cols += [f"CASE WHEN p.f >= {lo} THEN p.nx{x} END AS e{x}" for x, (lo, _) in enumerate(excl)]
    cols.append(f"{_next_time(classes, query, 'p.f', 'p.')} AS nt")
    ctes.append(("nsf_o0", f"SELECT {', '.join(cols)} FROM nsf_st AS p"))
    # An attempt still moving in round r has moved every round before (one step or more each):
    # its block ends at step r (f = r - 1) or later, and it looks for step r + 1 or a later one.
    for r in range(1, n - 1):
        later = " OR ".join(f"k{1 << c} > 0" for c in next_classes(classes, r))
        # Only the instants with an event of those steps' classes can be where it lands.
        targets = f"(SELECT * FROM nsf_ins WHERE {later})"
        blocks = " ".join(f"WHEN {b - 1} THEN i.f{b}" for b in range(r, n))
        moved = f"(CASE a.f {blocks} END)"
        land = [f"a.{c} AS {c}" for c in carried + ["f"]]
        land += [f"a.s{j} AS s{j}" for j in range(n)]
        land += [f"a.e{x} AS e{x}" for x in range(len(excl))]
        land += ["COALESCE(i.hit, 0) AS hit", "i.ts AS it"]
        land.append(f"CASE WHEN COALESCE(i.hit, 0) = 1 THEN {moved} ELSE a.f END AS nf")
        land += [f"i.nc{c} AS nc{c}" for c in next_classes(classes, r + 1)]
        land += [f"i.nx{x} AS nx{x}" for x in range(len(excl))]
        ctes.append(
            (
                f"nsf_l{r}",
                f"SELECT {', '.join(land)} FROM nsf_o{r - 1} AS a "
                f"LEFT JOIN {targets} AS i ON i.uid = a.uid AND i.ts = a.nt",
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
            f"CASE WHEN a.hit = 1 THEN {_next_time(classes, query, 'a.nf', 'a.', r)} END AS nt"
        )
        ctes.append((f"nsf_o{r}", f"SELECT {', '.join(step)} FROM nsf_l{r} AS a"))
    if n > 1:
        # The last round needs no join: an attempt still moving has its block end at step n - 1
        # (f = n - 2), and step n fills the whole block at ``nt``, an instant with an event of
        # its class; no exclusion starts at step n.
        step = [f"a.{c} AS {c}" for c in carried]
        step.append(f"CASE WHEN a.nt IS NULL THEN a.f ELSE {n - 1} END AS f")
        step += [f"a.s{j} AS s{j}" for j in range(n - 1)]
        step.append(f"CASE WHEN a.nt IS NULL THEN a.s{n - 1} ELSE a.nt END AS s{n - 1}")
        step += [f"a.e{x} AS e{x}" for x in range(len(excl))]
        ctes.append((f"nsf_o{n - 1}", f"SELECT {', '.join(step)} FROM nsf_o{n - 2} AS a"))
    last = f"nsf_o{n - 1}"
    out = ["uid", *(["bd"] if query.breakdown is not None else []), "f + 1 AS reached"]
    out += [f"s{j}" for j in range(n)]
    out.append(f"{spoiled(query, n)} AS spoiled")
    ctes.append(("nsf_att", f"SELECT {', '.join(out)} FROM {last}"))
    return ctes


def chained_ctes(sql: Sql, classes: StepClasses, query: Any) -> list[tuple[str, str]]:
    """The ``att`` CTE of a :func:`~metrics.warehouse.funnels.events.distinct_steps` funnel as
    ``n - 1`` layers of windows over ``ev``, without joins (engines where joins of a windowed
    CTE cost more: :attr:`~metrics.warehouse.dialect.Dialect.chains_with_joins`).

    There an attempt's step j + 1 is at M_{j+1}(step j's instant), the first instant at or
    after it with an event of its class (a block's instant never has the next step's class, or
    the block would have taken it); its times are F_j = M_j(...M_1(t1)), cut at the window's
    end (they never decrease). A composition is one window more: for g never decreasing,
    g(M_i(t)) is the least g(u) over the instants u >= t of step i's class. ``m<i>_<j>`` =
    M_j(...M_i(t)) is made in layer j - i + 1; each layer keeps only the events its windows or
    the later layers read (step 1's, and the classes of steps 2 .. n - layer).
    """
    d = sql.d
    n = classes.n_steps
    window = f"OVER ({BY_USER_LATEST_FIRST} {FROM_HERE})"
    first = f"c{classes.of_step[0]}"
    ctes: list[tuple[str, str]] = []
    source = "nsf_ev"
    for layer in range(1, n):
        cols = ["w.*"]
        for i in range(1, n - layer + 1):
            j = i + layer - 1
            value = "w.ts" if i == j else f"w.m{i + 1}_{j}"
            of_class = f"CASE WHEN w.c{classes.of_step[i]} = 1 THEN {value} END"
            cols.append(f"{d.latest_non_null(of_class, window)} AS m{i}_{j}")
        keep = " OR ".join(
            [f"w.{first} = 1", *(f"w.c{classes.of_step[i]} = 1" for i in range(1, n - layer + 1))]
        )
        ctes.append((f"nsf_ch{layer}", f"SELECT {', '.join(cols)} FROM {source} AS w WHERE {keep}"))
        source = f"nsf_ch{layer}"
    inside = [f"m1_{j} - ts <= {query.window_us}" for j in range(1, n)]
    out = ["uid", *(["bd"] if query.breakdown is not None else [])]
    steps = " + ".join(["1", *(f"(CASE WHEN {c} THEN 1 ELSE 0 END)" for c in inside)])
    out.append(f"{steps} AS reached")
    out.append("ts AS s0")
    out += [f"CASE WHEN {c} THEN m1_{j} END AS s{j}" for j, c in enumerate(inside, start=1)]
    out.append("0 AS spoiled")
    ctes.append(("nsf_att", f"SELECT {', '.join(out)} FROM {source} WHERE {first} = 1"))
    return ctes
