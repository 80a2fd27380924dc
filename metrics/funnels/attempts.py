"""Stage 3 of a funnel: every attempt of every user, of the funnel's order, and its exclusions.

An ordered or strict attempt starts at each step-1 event; an unordered one at each step event
(the rules are in :mod:`metrics.funnels` and docs/funnels.md). The compiled walks find each
attempt's steps; this stage then marks the attempts an exclusion spoils.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import polars as pl

from metrics import _funnel_kernels as kernels
from metrics.funnels.matching import Matcher, matcher
from metrics.funnels.parts import at_once, spans
from metrics.funnels.preparation import I64, Bools, Prepared, prepare
from metrics.funnels.query import FunnelQuery

#: "Never": a step an attempt did not reach, an exclusion that never happens.
INF = np.iinfo(np.int64).max


def _gather(values: I64, idx: I64, ok: Bools, fill: int = INF) -> I64:
    """``values[idx]`` where ``ok``, else ``fill`` (idx may be out of range where not ok)."""
    if values.size == 0:
        return np.full(idx.shape, fill, dtype=np.int64)
    safe = np.where(ok, idx, 0)
    return np.where(ok, values[np.clip(safe, 0, values.size - 1)], fill)


@dataclass
class Attempts:
    """One row per attempt: where it starts, how far it gets, when each step happened."""

    row: I64  # the attempt's first event (a row of Prepared)
    reached: I64  # steps reached (1..n)
    times: I64  # (attempts, n_steps) µs, INF past ``reached``
    spoiled: Bools


def _in_parts(
    prep: Prepared, starts: int, n_steps: int, with_ties: bool, walk: Callable[..., None]
) -> tuple[I64, I64, I64, I64]:
    """Run a compiled walk over each part of the rows at once (metrics.funnels.parts), each
    filling its own slice of the attempts: one per row matching a step in ``starts``.

    ``walk(start_row, end_row, rows, reached, times, ties)`` fills one part's attempts.
    """
    mask = np.uint64(starts)
    part_spans = spans(prep.bounds)
    counts = [kernels.count_starts(prep.sig, mask, lo, hi) for lo, hi in part_spans]
    offsets = [0, *np.cumsum(counts).tolist()]
    total = offsets[-1]
    rows = np.empty(total, dtype=np.int64)
    reached = np.empty(total, dtype=np.int64)
    times = np.empty((total, n_steps), dtype=np.int64)
    ties = np.empty((total if with_ties else 0, n_steps), dtype=np.int64)
    calls: list[Callable[[], None]] = []
    for (lo, hi), (k0, k1) in zip(part_spans, spans(offsets), strict=True):
        part_ties = ties[k0:k1] if with_ties else ties
        calls.append(partial(walk, lo, hi, rows[k0:k1], reached[k0:k1], times[k0:k1], part_ties))
    at_once(calls)
    return rows, reached, times, ties


def _ordered_attempts(prep: Prepared, m: Matcher, query: FunnelQuery) -> Attempts:
    """Each step at the earliest event that can fill it (one compiled pass per user)."""
    walk = partial(_walk_ordered, kernels.ordered_attempts, prep, m, query)
    rows, reached, times, tie_ends = _in_parts(prep, 1, query.n_steps, bool(query.exclusions), walk)
    spoiled = _spoiled_ordered(prep, query, rows, reached, times, tie_ends)
    return Attempts(rows, reached, times, spoiled)


def _walk_ordered(
    kernel: Callable[..., None],
    prep: Prepared,
    m: Matcher,
    query: FunnelQuery,
    start_row: int,
    end_row: int,
    *outputs: np.ndarray,
) -> None:
    """One part of an ordered or strict funnel's attempts (the kernels share their arguments)."""
    kernel(
        prep.ts,
        prep.sig,
        prep.tie_start,
        prep.tie_end,
        prep.user_end,
        start_row,
        end_row,
        query.n_steps,
        query.window_us,
        m.atom_sigs,
        m.step_ptr,
        m.step_atoms,
        m.comp_of,
        m.comp_ptr,
        m.sub_ptr,
        m.sub_atoms,
        m.sub_covered,
        bool(query.exclusions),
        *outputs,
    )


def _strict_attempts(prep: Prepared, m: Matcher, query: FunnelQuery) -> Attempts:
    """Strict order: a small exact search per attempt over (instant, first step placed at that
    instant) states; from one the next step either joins the instant (if the steps there can still
    each get their own event) or takes the user's very next instant. Per state the earliest history
    is kept."""
    walk = partial(_walk_ordered, kernels.strict_attempts, prep, m, query)
    rows, reached, times, tie_ends = _in_parts(prep, 1, query.n_steps, bool(query.exclusions), walk)
    spoiled = _spoiled_ordered(prep, query, rows, reached, times, tie_ends)
    return Attempts(rows, reached, times, spoiled)


def _exclusion_rows(prep: Prepared, x: int) -> tuple[I64, I64]:
    is_x = (prep.exc >> np.uint64(x)) & np.uint64(1) == 1
    prefix = np.zeros(prep.exc.size + 1, dtype=np.int64)
    np.cumsum(is_x, out=prefix[1:])
    return prefix, np.flatnonzero(is_x).astype(np.int64)


def _first_exclusion_after(prep: Prepared, x: int, after_row: I64, user_end: I64) -> I64:
    """Time of the user's first exclusion-x event at or after row ``after_row`` (INF: none)."""
    prefix, rows = _exclusion_rows(prep, x)
    pos = prefix[np.clip(after_row, 0, prefix.size - 1)]
    ok = (after_row >= 0) & (pos < rows.size)
    row = _gather(rows, pos, ok, fill=-1)
    ok &= (row >= 0) & (row < user_end)
    return np.where(ok, prep.ts[np.clip(row, 0, None)], INF)


def _spoiled_ordered(
    prep: Prepared,
    query: FunnelQuery,
    start_rows: I64,
    reached: I64,
    times: I64,
    tie_ends: I64,
) -> Bools:
    spoiled = np.zeros(start_rows.size, dtype=bool)
    if not query.exclusions or start_rows.size == 0:
        return spoiled
    user_end = prep.user_end[start_rows]
    window_end = times[:, 0] + query.window_us
    for x, (lo, hi) in enumerate(query.resolved):
        # Rows after the from-step's instant hold the events strictly after it.
        t_x = _first_exclusion_after(prep, x, tie_ends[:, lo], user_end)
        got_to = reached > hi
        hit = np.where(got_to, t_x < times[:, hi], t_x <= window_end)
        spoiled |= (reached > lo) & hit
    return spoiled


def _unordered_attempts(prep: Prepared, m: Matcher, query: FunnelQuery) -> Attempts:
    """Every step event anchors a window; a sliding pass per user counts the distinct steps done."""
    n_steps, window = query.n_steps, query.window_us

    def walk(start_row: int, end_row: int, *outputs: np.ndarray) -> None:
        kernels.unordered_attempts(
            prep.ts,
            prep.sig,
            prep.tie_start,
            prep.user_end,
            start_row,
            end_row,
            n_steps,
            window,
            m.atom_sigs,
            m.atom_steps,
            m.comp_ptr,
            m.sub_ptr,
            m.sub_atoms,
            m.sub_covered,
            m.comp_steps,
            *outputs[:3],
        )

    anchors, reached, times, _ = _in_parts(prep, (1 << n_steps) - 1, n_steps, False, walk)
    spoiled = np.zeros(anchors.size, dtype=bool)
    if query.exclusions:
        user_end = prep.user_end[anchors]
        a_t = prep.ts[anchors]
        complete = times[:, n_steps - 1]
        for x in range(len(query.exclusions)):
            t_x = _first_exclusion_after(prep, x, prep.tie_end[anchors], user_end)
            spoiled |= np.where(reached == n_steps, t_x < complete, t_x <= a_t + window)
    return Attempts(anchors, reached, times, spoiled)


@dataclass(frozen=True, eq=False)
class Run:
    """Every attempt of every user, as arrays (one entry per attempt). Frozen and never changed
    in place: the app shares one run between the answers of a funnel and between sessions."""

    query: FunnelQuery
    user_ids: pl.Series  # one per user (``user`` indexes it)
    user: I64
    breakdown: pl.Series | None
    reached: I64
    times: I64  # (attempts, n_steps) µs, INF past ``reached``
    spoiled: Bools
    horizon_us: int | None
    breakdown_dtype: pl.DataType | None = None  # what ``breakdown`` holds is decoded to


def run(events: pl.DataFrame | pl.LazyFrame, query: FunnelQuery) -> Run:
    """Every attempt of every user in the query's events."""
    prep = prepare(events, query)
    n = query.n_steps
    if prep.ts.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        bd = prep.breakdown.clear() if prep.breakdown is not None else None
        return Run(
            query,
            prep.user_ids,
            empty,
            bd,
            empty,
            np.zeros((0, n), dtype=np.int64),
            np.zeros(0, dtype=bool),
            prep.horizon_us,
            prep.breakdown_dtype,
        )
    m = matcher(prep, n)
    if query.order == "unordered":
        att = _unordered_attempts(prep, m, query)
    elif query.order == "strict":
        att = _strict_attempts(prep, m, query)
    else:
        att = _ordered_attempts(prep, m, query)
    bd = None
    if prep.breakdown is not None:
        bd = prep.breakdown_at(att.row)
    return Run(
        query,
        prep.user_ids,
        prep.user[att.row],
        bd,
        att.reached,
        att.times,
        att.spoiled,
        prep.horizon_us,
        prep.breakdown_dtype,
    )
