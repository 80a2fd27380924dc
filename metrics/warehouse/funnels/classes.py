"""Which steps can share an event, and Hall's condition over step classes, as SQL expressions.

One event fills at most one step of an attempt, so whether steps ``b..k`` can all be placed at one
instant is a matching question (the Polars path answers it over "atoms", the signatures seen in
the data). SQL must decide it without seeing the data first, so it works over *classes*: the
distinct step definitions (event name and filters). Steps of one class are interchangeable; two
classes whose events may coincide (same name or an any-event step, and filters that can agree)
are in one *component*. Hall's theorem per component: the steps fit iff for every set ``Y`` of
classes present, the events matching some class of ``Y`` are at least the steps of ``Y``. The
instants table counts, per (user, instant), the events matching each such union (``k<mask>``).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from metrics._common import NOT_SET

#: The largest component (classes that may share an event) compiled exactly; 2^8 - 1 unions.
MAX_COMPONENT = 8

Definition = tuple[str | None, tuple[tuple[str, Any], ...]]


def _definition(event: str | None, filters: Mapping[str, Any] | None) -> Definition:
    items = []
    for key, value in (filters or {}).items():
        if isinstance(value, list | tuple | set | frozenset):
            value = tuple(sorted(value, key=repr))
        items.append((key, value))
    return event, tuple(sorted(items, key=lambda kv: kv[0]))


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, tuple) else [value]


def _may_share(a: Definition, b: Definition) -> bool:
    """Whether one event can match both definitions (True when unsure: only costs subsets)."""
    if a[0] is not None and b[0] is not None and a[0] != b[0]:
        return False
    theirs = dict(b[1])
    for key, value in a[1]:
        if key not in theirs:
            continue
        # None and "(not set)" both select events without the property.
        mine = [NOT_SET if v is None else v for v in _values(value)]
        other = [NOT_SET if v is None else v for v in _values(theirs[key])]
        if all(isinstance(v, str) for v in mine + other) and not set(mine) & set(other):
            return False
    return True


@dataclass(frozen=True)
class StepClasses:
    """The distinct step definitions, the class of each step, and the components of classes."""

    definitions: tuple[Definition, ...]
    of_step: tuple[int, ...]
    comps: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, steps: Sequence[Any]) -> StepClasses:
        defs: list[Definition] = []
        of_step: list[int] = []
        for step in steps:
            d = _definition(step.event, step.filter_mapping)
            if d not in defs:
                defs.append(d)
            of_step.append(defs.index(d))
        parent = list(range(len(defs)))

        def find(x: int) -> int:
            while parent[x] != x:
                x = parent[x]
            return x

        for i, j in itertools.combinations(range(len(defs)), 2):
            if _may_share(defs[i], defs[j]):
                parent[find(j)] = find(i)
        groups: dict[int, list[int]] = {}
        for c in range(len(defs)):
            groups.setdefault(find(c), []).append(c)
        comps = tuple(tuple(g) for g in groups.values())
        if max(len(c) for c in comps) > MAX_COMPONENT:
            raise ValueError(
                "steps: too many overlapping step definitions (the same event with different "
                f"filters, or any-event steps) to compile to SQL (at most {MAX_COMPONENT} that "
                "can share an event); simplify the steps' filters"
            )
        return cls(tuple(defs), tuple(of_step), comps)

    @property
    def n_steps(self) -> int:
        return len(self.of_step)

    def comp_of(self, c: int) -> tuple[int, ...]:
        return next(comp for comp in self.comps if c in comp)

    def masks(self) -> list[int]:
        """Every union of classes the conditions count: non-empty subsets of each component."""
        out = []
        for comp in self.comps:
            for size in range(1, len(comp) + 1):
                for chosen in itertools.combinations(comp, size):
                    out.append(sum(1 << c for c in chosen))
        return out

    def _violated(
        self,
        mult: Counter[int],
        last: int,
        count: Callable[[int], str],
        first: Callable[[int], str] | None,
    ) -> str:
        """SQL true when some Y holding class ``last`` has fewer events than steps (Hall)."""
        comp = [c for c in self.comp_of(last) if mult[c] and c != last]
        terms = []
        for size in range(len(comp) + 1):
            for others in itertools.combinations(comp, size):
                chosen = (last, *others)
                mask = sum(1 << c for c in chosen)
                need = sum(mult[c] for c in chosen)
                have = count(mask)
                if first is not None and first(mask) != "0":
                    have = f"({have} - {first(mask)})"
                terms.append(f"{have} < {need}")
        return " OR ".join(terms)

    def fit(
        self,
        b: int,
        count: Callable[[int], str],
        first: Callable[[int], str] | None = None,
    ) -> str:
        """The last step (0-based) of the largest block ``b..k`` that fits at one instant.

        ``count(mask)`` is the SQL count of the instant's events matching the union ``mask``.
        With ``first`` (b = 0, the attempt's own instant), step 0 is the attempt's first event:
        it is set aside with that event, ``first(mask)`` being 1 when it matches ``mask``. The
        result is ``b - 1`` when not even step ``b`` fits. Blocks grow one step at a time and
        only the conditions holding the new step's class can turn false, so each WHEN tests
        just those.
        """
        n = self.n_steps
        mult: Counter[int] = Counter()
        whens = []
        begin = b
        if first is not None:
            assert b == 0
            begin = 1
        for k in range(begin, n):
            mult[self.of_step[k]] += 1
            whens.append(f"WHEN {self._violated(mult, self.of_step[k], count, first)} THEN {k - 1}")
        if not whens:
            return str(n - 1)
        return f"(CASE {' '.join(whens)} ELSE {n - 1} END)"

    def matched(self, count: Callable[[int], str], greatest: Callable[[str, str], str]) -> str:
        """How many steps can each get their own event among counted events (Kőnig: the steps
        minus the largest Hall deficiency, per component)."""
        need: Counter[int] = Counter(self.of_step)
        parts = []
        for comp in self.comps:
            worst = "0"
            for size in range(1, len(comp) + 1):
                for chosen in itertools.combinations(comp, size):
                    mask = sum(1 << c for c in chosen)
                    short = f"({sum(need[c] for c in chosen)} - {count(mask)})"
                    worst = greatest(worst, short)
            parts.append(worst)
        return f"({self.n_steps} - " + " - ".join(f"({p})" for p in parts) + ")"
