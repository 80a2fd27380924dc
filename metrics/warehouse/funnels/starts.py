"""Attempts of ordered and strict funnels start at step-1 events: the ``st`` CTE.

Attempts whose first events share (user, instant, the classes that event matches, breakdown
value) are the same attempt (same steps, times and spoiling), so they are one row. ``f`` is the
last step (0-based) placed at the first instant: step 0 is the attempt's own event, set aside
with it, and the following steps join while they can each get another event of that instant.
The row carries the instant's number and next-instant columns (``ix``, ``nc<i>``, ``nx<i>``).

When no other step's class can share an event with step 1's and there is no breakdown, every
step-1 event of an instant is the same attempt: the starts are then the instants with such an
event, read straight from ``ins`` (no grouping of the events, no join). Over the ungrouped
``evw`` of :func:`~metrics.warehouse.funnels.events.presence_ctes`, each step-1 event starts one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from metrics.warehouse.funnels.classes import StepClasses
from metrics.warehouse.funnels.events import flag, present, union_of


def one_per_instant(classes: StepClasses, query: Any) -> bool:
    """Whether a user's instant holds at most one attempt (its identity is then uid, t1)."""
    first = classes.of_step[0]
    return query.breakdown is None and classes.comp_of(first) == (first,)


def key_columns(classes: StepClasses, query: Any) -> list[str]:
    """An attempt's identity besides uid and t1: its first event's class flags, breakdown."""
    if one_per_instant(classes, query):
        return []
    cols = [f"c{i}" for i in range(len(classes.definitions))]
    if query.breakdown is not None:
        cols.append("bd")
    return cols


def starts_ctes(
    classes: StepClasses,
    query: Any,
    *,
    nexts: Sequence[int] = (),
    ordinal: bool = False,
    from_events: bool = False,
) -> list[tuple[str, str]]:
    """``st``: one row per attempt with ``nc<i>`` for the classes ``nexts`` (and ``ix``).

    ``from_events``: the step-1 events of ``evw`` (:func:`~metrics.warehouse.funnels.events.
    presence_ctes`) are the starts, one row per event: an attempt repeated (two step-1 events
    of one instant) is the same row twice, which changes no best attempt and no ``isopen``.
    """
    first = classes.of_step[0]
    if from_events:
        cols = [
            "w.uid AS uid",
            "w.ts AS t1",
            *(["w.bd AS bd"] if query.breakdown is not None else []),
        ]
        fit0 = classes.fit(0, lambda m: present(m, "w."), lambda m: "1" if m >> first & 1 else "0")
        cols.append(f"{fit0} AS f")
        cols += [f"w.m{c} AS nc{c}" for c in sorted(set(nexts))]
        return [("nsf_st", f"SELECT {', '.join(cols)} FROM nsf_evw AS w WHERE w.c{first} = 1")]
    keys = key_columns(classes, query)
    carried = ["i.ix AS ix"] if ordinal else []
    carried += [f"i.nc{c} AS nc{c}" for c in sorted(set(nexts))]
    carried += [f"i.nx{x} AS nx{x}" for x in range(len(query.exclusions))]
    if not keys:
        # The first event matches step 1's class and no other.
        fit0 = classes.fit(0, lambda m: f"i.k{m}", lambda m: "1" if m >> first & 1 else "0")
        cols = ["i.uid AS uid", "i.ts AS t1", f"{fit0} AS f", *carried]
        return [("nsf_st", f"SELECT {', '.join(cols)} FROM nsf_ins AS i WHERE i.k{1 << first} > 0")]
    grouped = (
        f"SELECT uid, ts, {', '.join(keys)} FROM nsf_ev WHERE c{first} = 1 "
        f"GROUP BY uid, ts, {', '.join(keys)}"
    )
    fit0 = classes.fit(0, lambda m: f"i.k{m}", lambda m: flag(union_of(m, "s.")))
    cols = ["s.uid AS uid", "s.ts AS t1", *(f"s.{k} AS {k}" for k in keys), f"{fit0} AS f"]
    body = (
        f"SELECT {', '.join(cols + carried)} FROM ({grouped}) AS s "
        "JOIN nsf_ins AS i ON i.uid = s.uid AND i.ts = s.ts"
    )
    return [("nsf_st", body)]


def spoiled(query: Any, n: int) -> str:
    """1 when an exclusion spoils the attempt (columns f, s<j>, e<x>), as the Polars path says:
    an exclusion event strictly after the from-step's instant and strictly before the to-step's,
    or, when the attempt never reached the to-step, no later than its window's end."""
    terms = []
    window = query.window_us
    for x, (lo, hi) in enumerate(query.resolved):
        terms.append(
            f"(f >= {lo} AND e{x} IS NOT NULL AND "
            f"(CASE WHEN f >= {hi} THEN (CASE WHEN e{x} < s{hi} THEN 1 ELSE 0 END) "
            f"ELSE (CASE WHEN e{x} <= s0 + {window} THEN 1 ELSE 0 END) END) = 1)"
        )
    if not terms:
        return "0"
    return flag(" OR ".join(terms))
