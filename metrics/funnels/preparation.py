"""Stage 1 of a funnel: the events that matter, per user in time order, as plain arrays.

The global filters (the query's ``scope``) drop the events that do not match before anything
else; the date range keeps the events inside it. What is left is grouped by user and sorted by
time (metrics._funnel_kernels), each event carrying a bit per step it matches (its *signature*)
and a bit per exclusion.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np
import numpy.typing as npt
import polars as pl

from metrics import _funnel_kernels as kernels
from metrics._common import as_lazy, check_filters, event_expr, filter_expr
from metrics.funnels.parts import at_once, how_many, spans
from metrics.funnels.query import Exclusion, FunnelQuery, Step

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
Bools = npt.NDArray[np.bool_]

#: Rows that cannot matter to an ordered or strict funnel are dropped when fewer than this share
#: of the rows would be left (else the copies cost more than the rows they save).
NARROW_BELOW = 0.8


def scoped(events: pl.DataFrame | pl.LazyFrame, query: FunnelQuery) -> pl.LazyFrame:
    """The events the query's global filters keep (all of them without filters), in canonical
    types; ``ValueError`` names a filter column the events lack."""
    return query.scope.keep(as_lazy(events))


def step_expr(step: Step) -> pl.Expr:
    return (event_expr(step.event) & filter_expr(step.filter_mapping)).fill_null(False)


def exclusion_expr(ex: Exclusion) -> pl.Expr:
    return (event_expr(ex.event) & filter_expr(ex.filter_mapping)).fill_null(False)


@dataclass
class Prepared:
    """The relevant events sorted by (user, time) as arrays, plus what the attempts need."""

    user_ids: pl.Series  # one per user run, in run order
    user: I64  # run index of each row
    ts: I64
    sig: U64  # bit j: the event matches step j (0-based)
    exc: U64  # bit x: the event matches exclusion x
    user_end: I64  # one past the user's last row
    tie_start: I64  # first row with the same (user, timestamp)
    tie_end: I64  # one past the last row with the same (user, timestamp)
    breakdown: pl.Series | None  # breakdown values, in the order the rows were read (text as
    # a private categorical: gathering it moves integers, not strings)
    breakdown_dtype: pl.DataType | None  # the breakdown column's own type
    source_row: I64  # each row's position in the order read (strings are never sorted)
    bounds: list[int]  # the parts' row bounds (metrics.funnels.parts): users never straddle one
    horizon_us: int | None  # the last instant the data show (None: no data)

    def breakdown_at(self, rows: I64) -> pl.Series | None:
        """The breakdown value of the given rows (None without a breakdown)."""
        if self.breakdown is None:
            return None
        return self.breakdown.gather(pl.Series(self.source_row[rows], dtype=pl.Int64))


def in_range(query: FunnelQuery) -> pl.Expr:
    ts = pl.col("timestamp").dt.epoch("us")
    lo, hi = query.bounds_us()
    keep = pl.lit(True)
    if lo is not None:
        keep = keep & (ts >= lo)
    if hi is not None:
        keep = keep & (ts < hi)
    return keep


def relevant(query: FunnelQuery) -> pl.Expr:
    """Events that match some step or exclusion (a cheap name test when every matcher has one)."""
    names = [step.event for step in query.steps] + [ex.event for ex in query.exclusions]
    if all(name is not None for name in names):
        return pl.col("event").is_in(sorted({name for name in names if name is not None}))
    any_match = pl.lit(False)
    for step in query.steps:
        any_match = any_match | step_expr(step)
    for ex in query.exclusions:
        any_match = any_match | exclusion_expr(ex)
    return any_match


def prepare(events: pl.DataFrame | pl.LazyFrame, query: FunnelQuery) -> Prepared:
    """The query's events, grouped by user and in time order (see :class:`Prepared`)."""
    lf = scoped(events, query)
    schema = lf.collect_schema()
    missing = sorted(c for c in query.columns_needed() if c not in schema)
    if missing:
        what = "breakdown" if query.breakdown in missing else "a step or exclusion filter"
        raise ValueError(f"{what} names column(s) {missing} that the events do not have")
    for j, step in enumerate(query.steps, start=1):
        check_filters(schema, step.filter_mapping, f"step {j} filters")
    for ex in query.exclusions:
        check_filters(schema, ex.filter_mapping, f"exclusion {ex.event!r} filters")
    sig = pl.lit(0, dtype=pl.UInt64)
    for j, step in enumerate(query.steps):
        sig = sig | pl.when(step_expr(step)).then(pl.lit(1 << j, dtype=pl.UInt64)).otherwise(0)
    exc = pl.lit(0, dtype=pl.UInt64)
    for x, ex in enumerate(query.exclusions):
        exc = exc | pl.when(exclusion_expr(ex)).then(pl.lit(1 << x, dtype=pl.UInt64)).otherwise(0)
    user = pl.col("user_id").cast(pl.String)
    # Rows that can start an attempt (a step-1 event; any step event in an any-order funnel).
    start_mask = 1 if query.order != "unordered" else (1 << query.n_steps) - 1
    can_start = (sig & pl.lit(start_mask, dtype=pl.UInt64)) > 0
    cols = [
        # The id is kept only where an attempt can start (strings are costly to hold and move):
        # the users are named from their first such row at the end.
        pl.when(can_start).then(user).alias("user_id"),
        # Users are grouped by a hash of their id (numbers group far faster than strings); a
        # second, independent hash catches the astronomically rare collision.
        user.hash(seed=0).alias("_h"),
        user.hash(seed=0x5EED_F00D).alias("_h2"),
        pl.col("timestamp").dt.epoch("us").alias("ts"),
        sig.cast(pl.UInt64).alias("sig"),
    ]
    if query.exclusions:
        cols.append(exc.cast(pl.UInt64).alias("exc"))
    breakdown_dtype = schema[query.breakdown] if query.breakdown is not None else None
    if query.breakdown is not None:
        bd = pl.col(query.breakdown)
        if breakdown_dtype == pl.String:
            bd = bd.cast(pl.Categorical(pl.Categories.random()))
        cols.append(bd.alias("_bd"))
    keep = pl.col("user_id").is_not_null() & pl.col("timestamp").is_not_null() & in_range(query)
    # A strict funnel needs every event (any event between two steps breaks it); the others only
    # the events that match a step or an exclusion, picked before anything is computed on them.
    if query.order != "strict":
        keep = keep & relevant(query)
    rows = lf.filter(keep).select(cols)
    horizon = lf.select(pl.col("timestamp").dt.epoch("us").max().alias("max_ts"))
    read, last = _collect_while_loading([rows, horizon])
    # Grouped by user, then by time: far cheaper than sorting by (user, time), and only numbers
    # move: the ids and breakdown values stay where they were read, fetched through
    # ``source_row`` where needed. The times and signatures come back in that order.
    source_row, tsv, sigv, new_user, bounds, collided = _group_sort(read)
    read = read.drop("_h", "_h2", "ts", "sig")
    if shared_hash(collided):
        # Two users share a hash (astronomically rare): read every row's id and sort by them.
        read = lf.filter(keep).select(user.alias("_id"), *cols).collect()
        by_id = read.select("_id", "ts", _row=pl.int_range(pl.len(), dtype=pl.Int64))
        by_id = by_id.sort("_id", "ts")
        users = by_id.get_column("_id")
        source_row = by_id.get_column("_row").to_numpy()
        new_user = np.ones(by_id.height, dtype=bool)
        new_user[1:] = (users.slice(1) != users.slice(0, by_id.height - 1)).to_numpy()
        tsv = read.get_column("ts").to_numpy()[source_row].astype(np.int64, copy=False)
        sigv = read.get_column("sig").to_numpy()[source_row].astype(np.uint64, copy=False)
        bounds = [0, tsv.size]
    excv = None
    if query.exclusions:
        excv = read.get_column("exc").to_numpy()[source_row].astype(np.uint64, copy=False)
    read = read.select("user_id", *(["_bd"] if query.breakdown is not None else []))
    if query.order != "unordered":
        # Ordered and strict attempts live between a step-1 event and its window's end: the rest
        # cannot matter (cheaper to drop after the sort, in one pass, than to join before it).
        # Dropping them is only worth its copies when there are many (a funnel starting on a
        # frequent event keeps nearly everything).
        keep = kernels.within_attempts(new_user, tsv, sigv, query.window_us)
        if keep.sum() < NARROW_BELOW * keep.size:
            tsv, sigv, source_row = tsv[keep], sigv[keep], source_row[keep]
            excv = excv[keep] if excv is not None else None
            new_user = kernels.kept_starts(new_user, keep)
            bounds = [int(np.count_nonzero(keep[:bound])) for bound in bounds]
        del keep
    if excv is None:
        excv = np.zeros(tsv.size, dtype=np.uint64)  # never read: no pages are touched
    user_of, user_end, tie_start, tie_end = _layout(new_user, tsv, bounds)
    # Each user's id from their first row that can start an attempt (a user with none has no
    # attempt to name: any row will do).
    start_rows = np.flatnonzero(sigv & np.uint64(start_mask))
    firsts = np.zeros(int(user_of[-1]) + 1 if user_of.size else 0, dtype=np.int64)
    firsts[user_of[start_rows[::-1]]] = start_rows[::-1]
    user_ids = read.get_column("user_id").gather(pl.Series(source_row[firsts], dtype=pl.Int64))
    max_ts = last.item(0, 0)
    _, hi = query.bounds_us()
    horizon_us: int | None = None
    if max_ts is not None:
        horizon_us = int(max_ts) if hi is None else min(int(max_ts), hi - 1)
    elif hi is not None:
        horizon_us = hi - 1
    return Prepared(
        user_ids=user_ids,
        user=user_of,
        ts=tsv,
        sig=sigv,
        exc=excv,
        user_end=user_end,
        tie_start=tie_start,
        tie_end=tie_end,
        breakdown=read.get_column("_bd") if query.breakdown is not None else None,
        breakdown_dtype=breakdown_dtype,
        source_row=source_row,
        bounds=bounds,
        horizon_us=horizon_us,
    )


def _group_sort(read: pl.DataFrame) -> tuple[I64, I64, U64, Bools, list[int], bool]:
    """The read rows grouped by user and in time order (kernels.group_sort), one part per core:
    their rows, times and signatures in that order, where each user starts, the parts' row
    bounds, and whether two users share a hash."""
    h = read.get_column("_h").to_numpy()
    h2 = read.get_column("_h2").to_numpy()
    ts = read.get_column("ts").to_numpy().astype(np.int64, copy=False)
    sig = read.get_column("sig").to_numpy().astype(np.uint64, copy=False)
    n = h.size
    count = how_many(n)
    sizes = kernels.part_sizes(h, count) if count > 1 else np.array([n])
    bounds = [0, *np.cumsum(sizes).tolist()]
    rows = np.empty(n, dtype=np.int64)
    tsv = np.empty(n, dtype=np.int64)
    sigv = np.empty(n, dtype=np.uint64)
    new_user = np.empty(n, dtype=np.bool_)
    collided = at_once(
        [
            partial(
                kernels.group_sort,
                h,
                h2,
                ts,
                sig,
                part,
                count,
                rows[lo:hi],
                tsv[lo:hi],
                sigv[lo:hi],
                new_user[lo:hi],
            )
            for part, (lo, hi) in enumerate(spans(bounds))
        ]
    )
    return rows, tsv, sigv, new_user, bounds, any(collided)


def _layout(new_user: Bools, tsv: I64, bounds: list[int]) -> tuple[I64, I64, I64, I64]:
    """Per row: its user's index, its user's end, and its instant's first and end rows."""
    n = tsv.size
    user, user_end = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    tie_start, tie_end = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    at_once(
        [
            partial(
                kernels.layout,
                new_user,
                tsv,
                lo,
                hi,
                int(np.count_nonzero(new_user[:lo])),
                user,
                user_end,
                tie_start,
                tie_end,
            )
            for lo, hi in spans(bounds)
        ]
    )
    return user, user_end, tie_start, tie_end


def _collect_while_loading(frames: list[pl.LazyFrame]) -> list[pl.DataFrame]:
    """Collect the frames; the first time in a process, load the compiled passes meanwhile (Polars
    reads in its own threads, without Python's lock)."""
    if kernels.loaded():
        return pl.collect_all(frames)
    with ThreadPoolExecutor(max_workers=1) as pool:
        reading = pool.submit(pl.collect_all, frames)
        kernels.load()
        return reading.result()


def shared_hash(collided: bool) -> bool:
    """Whether two users' ids share a hash (as the grouping found; a seam for tests)."""
    return collided
