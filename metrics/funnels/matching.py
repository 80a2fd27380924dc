"""Stage 2 of a funnel: which events can fill which steps, as the compiled walks take it.

Events with the same signature (the set of steps they match) are interchangeable; an "atom" is one
such signature. Whether a set of steps can each get their own event among given events is Hall's
condition, checked over subsets of atoms. The walks over each user's events are compiled
(metrics._funnel_kernels); this stage builds their tables once per query.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from metrics.funnels.preparation import I64, U64, Prepared

#: Bound on the subsets enumerated by the exact "can these steps each get their own event" check.
MAX_SUBSETS = 1 << 14


@dataclass
class Matcher:
    """The atoms and Hall's subsets as flat arrays, as the kernels take them."""

    atom_sigs: U64  # sorted signatures
    atom_steps: I64  # how many steps each atom matches
    step_ptr: I64  # step j's atoms: step_atoms[step_ptr[j]:step_ptr[j + 1]]
    step_atoms: I64
    comp_of: I64  # component of each step (steps linked by shared atoms)
    comp_steps: I64  # steps in each component
    comp_ptr: I64  # component c's subsets: comp_ptr[c]:comp_ptr[c + 1]
    sub_ptr: I64  # subset q's atoms: sub_atoms[sub_ptr[q]:sub_ptr[q + 1]]
    sub_atoms: I64
    sub_covered: U64  # bit j: every atom of step j is in the subset


def matcher(prep: Prepared, n_steps: int) -> Matcher:
    sigs = pl.Series(prep.sig).unique().sort().to_numpy().astype(np.uint64)
    sigs = sigs[sigs > 0]
    atom_steps = [frozenset(j for j in range(n_steps) if int(value) >> j & 1) for value in sigs]
    step_atoms = [
        tuple(a for a, steps in enumerate(atom_steps) if j in steps) for j in range(n_steps)
    ]
    # Union-find over steps joined by atoms.
    parent = list(range(n_steps))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for steps in atom_steps:
        first, *rest = sorted(steps)
        for other in rest:
            parent[find(other)] = find(first)
    roots: dict[int, list[int]] = {}
    for j in range(n_steps):
        roots.setdefault(find(j), []).append(j)
    comp_of = [0] * n_steps
    comp_steps: list[int] = []
    comp_ptr, sub_ptr = [0], [0]
    sub_atoms: list[int] = []
    sub_covered: list[int] = []
    for members in roots.values():
        comp_atoms = tuple(sorted({a for j in members for a in step_atoms[j]}))
        if (1 << len(comp_atoms)) > MAX_SUBSETS:
            raise ValueError(
                "steps: too many overlapping step definitions (the same event with different "
                "filters) to match exactly; simplify the steps' filters"
            )
        for size in range(len(comp_atoms) + 1):
            for chosen in itertools.combinations(comp_atoms, size):
                inside = set(chosen)
                covered = sum(1 << j for j in members if set(step_atoms[j]) <= inside)
                sub_atoms.extend(chosen)
                sub_ptr.append(len(sub_atoms))
                sub_covered.append(covered)
        for j in members:
            comp_of[j] = len(comp_steps)
        comp_steps.append(len(members))
        comp_ptr.append(len(sub_covered))
    step_ptr = np.zeros(n_steps + 1, dtype=np.int64)
    step_ptr[1:] = np.cumsum([len(atoms) for atoms in step_atoms])

    def i64(values: Sequence[int]) -> I64:
        return np.asarray(values, dtype=np.int64).reshape(-1)

    return Matcher(
        atom_sigs=sigs,
        atom_steps=i64([len(steps) for steps in atom_steps]),
        step_ptr=step_ptr,
        step_atoms=i64([a for atoms in step_atoms for a in atoms]),
        comp_of=i64(comp_of),
        comp_steps=i64(comp_steps),
        comp_ptr=i64(comp_ptr),
        sub_ptr=i64(sub_ptr),
        sub_atoms=i64(sub_atoms),
        sub_covered=np.asarray(sub_covered, dtype=np.uint64).reshape(-1),
    )
