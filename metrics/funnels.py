"""Funnels (docs/funnels.md): where do we lose people on the way from one step to the next?

Rule by rule these are PostHog's funnels; docs/funnels.md says the same in a PM's words, with the
few places where we deliberately differ. The definitions the code implements, precisely:

- **Events that count.** Only events inside the date range ``start..end`` (local calendar days in
  ``tz``, both inclusive) count, for every step and every exclusion. A step matches an event by
  name (``None`` matches any event) and by its property ``filters``.
- **Attempts.** In an ordered or strict funnel an attempt starts at each step-1 event. Step k+1 is
  reached by a matching event at or after step k's time (equal timestamps count) and no later than
  step 1's time + ``window`` (inclusive). One event fills at most one step of an attempt, so a
  step that repeats the previous step's event needs a second occurrence. Of all the ways to fill
  the steps the attempt takes the earliest one (each step at its earliest possible time); its
  times are the attempt's conversion times and the events its exclusions are judged against.
- **Strict.** Each next step must be the user's very next event, of any name: no event of the user
  may fall strictly between two consecutive steps. Events sharing a timestamp have no order among
  themselves, so an event at the same instant as a step never breaks the chain. Among the chains
  that reach the attempt's furthest step the attempt takes the one with the earliest times.
- **Unordered.** An attempt starts at each of the user's step events and covers the window [start,
  start + ``window``]; it reaches k when k distinct steps can each be given their own event inside
  that window. Its k-th step is reached at the earliest instant by which k distinct steps are
  done; conversion times are the gaps between those instants.
- **Exclusions.** An exclusion event strictly after the attempt's from-step event and strictly
  before its to-step event, or, when the attempt never reached the to-step, no later than step 1's
  time + ``window``, spoils the attempt. In an unordered funnel an exclusion spans the whole
  attempt (from its first event to its completion, or to the end of its window), whatever its
  from/to steps say. A spoiled attempt does not count; a user all of whose attempts are spoiled is
  not in the funnel. (PostHog drops the user whenever their *furthest* attempt is spoiled, even
  when a shorter clean attempt exists; we keep the clean attempt.)
- **Best attempt.** A user counts once, at the furthest step of their best clean attempt: the
  earliest-starting one among those reaching the furthest step. ``users`` at step k counts users
  who reached step k or beyond; conversion times come from the best attempt.
- **Breakdown (first touch).** Each attempt takes the breakdown property of its first event (the
  step-1 event; the anchor in an unordered funnel). A user counts once per value, at their best
  attempt with that value.
- **Still in window.** The data are seen up to the *horizon*: the last event in the data, or the
  end of the date range when that comes first. An attempt is *open* when its window (step 1's time
  plus ``window``) ends after the horizon: it could still convert. ``still_in_window`` at step k
  counts the users who reached step k-1 but not step k and have an open clean attempt;
  ``dropped_off`` at step k counts the others who reached step k-1 but not step k. So users(k-1) -
  users(k) = dropped_off(k) + still_in_window(k).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from metrics import _funnel_kernels as kernels
from metrics._common import (
    INTERVALS,
    WEEK_STARTS,
    Interval,
    WeekStart,
    add_periods,
    as_lazy,
    check_choice,
    check_filters,
    check_tz,
    event_expr,
    filter_expr,
    local_date,
    period_of,
    period_start,
    to_date,
    utc_bounds,
)
from metrics.intervals import wilson_exprs
from metrics.warehouse import Plan, Relation, pushdown
from metrics.warehouse import funnels as sql_funnels
from metrics.warehouse.parts import WEEK_SHIFT

Order = Literal["ordered", "strict", "unordered"]
ORDERS: tuple[str, ...] = ("ordered", "strict", "unordered")

#: Conversion-window units a page offers, PostHog's (a month is 31 days there too).
WINDOW_UNITS: dict[str, dt.timedelta] = {
    "second": dt.timedelta(seconds=1),
    "minute": dt.timedelta(minutes=1),
    "hour": dt.timedelta(hours=1),
    "day": dt.timedelta(days=1),
    "week": dt.timedelta(weeks=1),
    "month": dt.timedelta(days=31),
}

#: Label of the next-event row for dropped users who did nothing afterwards.
NO_LATER_EVENT = "(no later event)"
#: What :func:`next_events_after_drop` reports for a user whose later events were all passed over.
ONLY_IGNORED_EVENTS = "(only passed-over events)"

__all__ = [
    "NO_LATER_EVENT",
    "ONLY_IGNORED_EVENTS",
    "ORDERS",
    "WINDOW_UNITS",
    "Exclusion",
    "FunnelQuery",
    "Order",
    "Step",
    "conversion_window",
    "dropped_users",
    "funnel",
    "funnel_trends",
    "funnel_users",
    "next_events_after_drop",
    "time_to_convert",
]

_US = 1_000_000
_INF = np.iinfo(np.int64).max
#: Steps are bits of a UInt64 signature.
_MAX_STEPS = 60
#: Rows that cannot matter to an ordered or strict funnel are dropped when fewer than this share
#: of the rows would be left (else the copies cost more than the rows they save).
_NARROW_BELOW = 0.8
#: Bound on the subsets enumerated by the exact "can these steps each get their own event" check.
_MAX_SUBSETS = 1 << 14

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
Bools = npt.NDArray[np.bool_]


# --------------------------------------------------------------------------------------------------
# Parameters


@dataclass(frozen=True)
class Step:
    """One funnel step: an event name (``None`` = any event), optional property filters, a label."""

    event: str | None
    filters: Mapping[str, Any] | None = None
    label: str | None = None

    @property
    def name(self) -> str:
        """The label shown for the step: ``label``, else the event name."""
        if self.label:
            return self.label
        return self.event if self.event is not None else "Any event"


@dataclass(frozen=True)
class Exclusion:
    """An event that spoils an attempt between two steps (0-based; ``to_step=None``: the last)."""

    event: str
    from_step: int = 0
    to_step: int | None = None
    filters: Mapping[str, Any] | None = None


def conversion_window(value: float, unit: str) -> dt.timedelta:
    """A conversion window from a number and a unit (second, minute, hour, day, week, month)."""
    check_choice("unit", unit, WINDOW_UNITS)
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"value must be a positive number, not {value!r}")
    return WINDOW_UNITS[unit] * value


@dataclass(frozen=True)
class FunnelQuery:
    """Everything that defines a funnel, checked once (the public functions build one)."""

    steps: tuple[Step, ...]
    window: dt.timedelta = dt.timedelta(days=14)
    order: Order = "ordered"
    exclusions: tuple[Exclusion, ...] = ()
    breakdown: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    tz: str = "UTC"
    _resolved: tuple[tuple[int, int], ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def build(
        cls,
        steps: Sequence[str | Step],
        *,
        window: dt.timedelta = dt.timedelta(days=14),
        order: str = "ordered",
        exclusions: Iterable[Exclusion] = (),
        breakdown: str | None = None,
        start: dt.date | dt.datetime | str | None = None,
        end: dt.date | dt.datetime | str | None = None,
        tz: str = "UTC",
    ) -> FunnelQuery:
        """Check and normalise the arguments of the public functions (ValueError names the one)."""
        if isinstance(steps, str | Step) or not isinstance(steps, Sequence):
            raise ValueError("steps must be a list of event names or Step objects")
        norm: list[Step] = []
        for i, step in enumerate(steps):
            if isinstance(step, str):
                norm.append(Step(step))
            elif isinstance(step, Step):
                if step.event is not None and not isinstance(step.event, str):
                    raise ValueError(f"steps[{i}].event must be an event name or None")
                _check_filters(f"steps[{i}].filters", step.filters)
                norm.append(step)
            else:
                raise ValueError(f"steps[{i}] must be an event name or a Step, not {step!r}")
        if not norm:
            raise ValueError("steps must name at least one step")
        if len(norm) > _MAX_STEPS:
            raise ValueError(f"steps: at most {_MAX_STEPS} steps, not {len(norm)}")
        if not isinstance(window, dt.timedelta) or window <= dt.timedelta(0):
            raise ValueError(f"window must be a positive timedelta, not {window!r}")
        check_choice("order", order, ORDERS)
        if breakdown is not None and (not isinstance(breakdown, str) or not breakdown):
            raise ValueError(f"breakdown must be a property (column) name, not {breakdown!r}")
        check_tz(tz)
        first = to_date(start, "start") if start is not None else None
        last = to_date(end, "end") if end is not None else None
        if first is not None and last is not None and last < first:
            raise ValueError(f"end ({last}) is before start ({first})")
        excl = tuple(exclusions)
        resolved: list[tuple[int, int]] = []
        n = len(norm)
        for i, ex in enumerate(excl):
            if not isinstance(ex, Exclusion):
                raise ValueError(f"exclusions[{i}] must be an Exclusion, not {ex!r}")
            if not isinstance(ex.event, str) or not ex.event:
                raise ValueError(f"exclusions[{i}].event must be an event name")
            _check_filters(f"exclusions[{i}].filters", ex.filters)
            lo = ex.from_step
            hi = n - 1 if ex.to_step is None else ex.to_step
            if not isinstance(lo, int) or not isinstance(hi, int) or not 0 <= lo < hi <= n - 1:
                raise ValueError(
                    f"exclusions[{i}]: from_step ({ex.from_step}) and to_step ({ex.to_step}) "
                    f"must be 0-based step indices with from_step < to_step <= {n - 1}"
                )
            for j, step in enumerate(norm):
                if step.event == ex.event and _same_filters(step.filters, ex.filters):
                    raise ValueError(
                        f"exclusions[{i}]: {ex.event!r} with these filters is step {j + 1} itself"
                    )
            resolved.append((lo, hi))
        return cls(
            steps=tuple(norm),
            window=window,
            order=order,  # type: ignore[arg-type]
            exclusions=excl,
            breakdown=breakdown,
            start=first,
            end=last,
            tz=tz,
            _resolved=tuple(resolved),
        )

    @property
    def n_steps(self) -> int:
        return len(self.steps)

    @property
    def labels(self) -> list[str]:
        return [step.name for step in self.steps]

    @property
    def window_us(self) -> int:
        return self.window // dt.timedelta(microseconds=1)

    def bounds_us(self) -> tuple[int | None, int | None]:
        """UTC microseconds [lo, hi) of the date range; None for an open side."""
        lo = hi = None
        if self.start is not None:
            lo = _epoch_us(utc_bounds(self.start, self.start, self.tz)[0])
        if self.end is not None:
            hi = _epoch_us(utc_bounds(self.end, self.end, self.tz)[1])
        return lo, hi

    def columns_needed(self) -> set[str]:
        cols = {"user_id", "event", "timestamp"}
        for step in self.steps:
            cols |= set((step.filters or {}).keys())
        for ex in self.exclusions:
            cols |= set((ex.filters or {}).keys())
        if self.breakdown is not None:
            cols.add(self.breakdown)
        return cols


def _check_filters(name: str, filters: object) -> None:
    if filters is not None and not isinstance(filters, Mapping):
        raise ValueError(f"{name} must be a mapping property -> value(s), not {filters!r}")


def _norm_filters(filters: Mapping[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    out = []
    for key, value in (filters or {}).items():
        if isinstance(value, list | tuple | set | frozenset):
            value = tuple(sorted(map(repr, value)))
        out.append((key, value))
    return tuple(sorted(out))


def _same_filters(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    return _norm_filters(a) == _norm_filters(b)


def _epoch_us(value: dt.datetime) -> int:
    return (value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


def _step_expr(step: Step) -> pl.Expr:
    return (event_expr(step.event) & filter_expr(step.filters)).fill_null(False)


def _exclusion_expr(ex: Exclusion) -> pl.Expr:
    return (event_expr(ex.event) & filter_expr(ex.filters)).fill_null(False)


# --------------------------------------------------------------------------------------------------
# Stage 1: the events that matter, per user in time order


@dataclass
class _Prepared:
    """The relevant events sorted by (user, time) as arrays, plus what the attempts need."""

    user_ids: pl.Series  # one per user run, in run order
    user: I64  # run index of each row
    ts: I64
    sig: U64  # bit j: the event matches step j (0-based)
    exc: U64  # bit x: the event matches exclusion x
    user_end: I64  # one past the user's last row
    tie_start: I64  # first row with the same (user, timestamp)
    tie_end: I64  # one past the last row with the same (user, timestamp)
    breakdown: pl.Series | None  # breakdown values, in the order the rows were read
    source_row: I64  # each row's position in the order read (strings are never sorted)
    horizon_us: int | None  # the last instant the data show (None: no data)

    def breakdown_at(self, rows: I64) -> pl.Series | None:
        """The breakdown value of the given rows (None without a breakdown)."""
        if self.breakdown is None:
            return None
        return self.breakdown.gather(pl.Series(self.source_row[rows], dtype=pl.Int64))


def _in_range(query: FunnelQuery) -> pl.Expr:
    ts = pl.col("timestamp").dt.epoch("us")
    lo, hi = query.bounds_us()
    keep = pl.lit(True)
    if lo is not None:
        keep = keep & (ts >= lo)
    if hi is not None:
        keep = keep & (ts < hi)
    return keep


def _relevant(query: FunnelQuery) -> pl.Expr:
    """Events that match some step or exclusion (a cheap name test when every matcher has one)."""
    names = [step.event for step in query.steps] + [ex.event for ex in query.exclusions]
    if all(name is not None for name in names):
        return pl.col("event").is_in(sorted({name for name in names if name is not None}))
    any_match = pl.lit(False)
    for step in query.steps:
        any_match = any_match | _step_expr(step)
    for ex in query.exclusions:
        any_match = any_match | _exclusion_expr(ex)
    return any_match


def _prepare(events: pl.DataFrame | pl.LazyFrame, query: FunnelQuery) -> _Prepared:
    lf = as_lazy(events)
    schema = lf.collect_schema()
    missing = sorted(c for c in query.columns_needed() if c not in schema)
    if missing:
        what = "breakdown" if query.breakdown in missing else "a step or exclusion filter"
        raise ValueError(f"{what} names column(s) {missing} that the events do not have")
    for j, step in enumerate(query.steps, start=1):
        check_filters(schema, step.filters, f"step {j} filters")
    for ex in query.exclusions:
        check_filters(schema, ex.filters, f"exclusion {ex.event!r} filters")
    sig = pl.lit(0, dtype=pl.UInt64)
    for j, step in enumerate(query.steps):
        sig = sig | pl.when(_step_expr(step)).then(pl.lit(1 << j, dtype=pl.UInt64)).otherwise(0)
    exc = pl.lit(0, dtype=pl.UInt64)
    for x, ex in enumerate(query.exclusions):
        exc = exc | pl.when(_exclusion_expr(ex)).then(pl.lit(1 << x, dtype=pl.UInt64)).otherwise(0)
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
    if query.breakdown is not None:
        cols.append(pl.col(query.breakdown).alias("_bd"))
    keep = pl.col("user_id").is_not_null() & pl.col("timestamp").is_not_null() & _in_range(query)
    # A strict funnel needs every event (any event between two steps breaks it); the others only
    # the events that match a step or an exclusion, picked before anything is computed on them.
    if query.order != "strict":
        keep = keep & _relevant(query)
    rows = lf.filter(keep).select(cols)
    horizon = lf.select(pl.col("timestamp").dt.epoch("us").max().alias("max_ts"))
    read, last = pl.collect_all([rows, horizon])
    # Grouped by user, then by time: far cheaper than sorting by (user, time), and only numbers
    # move: the ids and breakdown values stay where they were read, fetched through
    # ``source_row`` where needed.
    source_row, new_user, collided = kernels.group_sort(
        read.get_column("_h").to_numpy(),
        read.get_column("_h2").to_numpy(),
        read.get_column("ts").to_numpy(),
    )
    read = read.drop("_h", "_h2")
    if _shared_hash(collided):
        # Two users share a hash (astronomically rare): read every row's id and sort by them.
        read = lf.filter(keep).select(user.alias("_id"), *cols).collect()
        by_id = read.select("_id", "ts", _row=pl.int_range(pl.len(), dtype=pl.Int64))
        by_id = by_id.sort("_id", "ts")
        users = by_id.get_column("_id")
        source_row = by_id.get_column("_row").to_numpy()
        new_user = np.ones(by_id.height, dtype=bool)
        new_user[1:] = (users.slice(1) != users.slice(0, by_id.height - 1)).to_numpy()
    # Each column is dropped as soon as it is gathered in order (the peak memory is here).
    tsv = read.get_column("ts").to_numpy()[source_row].astype(np.int64, copy=False)
    read = read.drop("ts")
    sigv = read.get_column("sig").to_numpy()[source_row].astype(np.uint64, copy=False)
    read = read.drop("sig")
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
        if keep.sum() < _NARROW_BELOW * keep.size:
            tsv, sigv, source_row = tsv[keep], sigv[keep], source_row[keep]
            excv = excv[keep] if excv is not None else None
            new_user = kernels.kept_starts(new_user, keep)
        del keep
    if excv is None:
        excv = np.zeros(tsv.size, dtype=np.uint64)  # never read: no pages are touched
    user_of, user_end, tie_start, tie_end = kernels.layout(new_user, tsv)
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
    return _Prepared(
        user_ids=user_ids,
        user=user_of,
        ts=tsv,
        sig=sigv,
        exc=excv,
        user_end=user_end,
        tie_start=tie_start,
        tie_end=tie_end,
        breakdown=read.get_column("_bd") if query.breakdown is not None else None,
        source_row=source_row,
        horizon_us=horizon_us,
    )


def _shared_hash(collided: bool) -> bool:
    """Whether two users' ids share a hash (as the grouping found; a seam for tests)."""
    return collided


# --------------------------------------------------------------------------------------------------
# Stage 2: matching steps to events. Events with the same signature (the set of steps they match)
# are interchangeable; an "atom" is one such signature. Whether a set of steps can each get their
# own event among given events is Hall's condition, checked over subsets of atoms. The walks over
# each user's events are compiled (metrics._funnel_kernels); this stage builds their tables.


@dataclass
class _Matcher:
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

    def walk_args(self) -> tuple[Any, ...]:
        return (
            self.atom_sigs,
            self.step_ptr,
            self.step_atoms,
            self.comp_of,
            self.comp_ptr,
            self.sub_ptr,
            self.sub_atoms,
            self.sub_covered,
        )

    def matching_args(self) -> tuple[Any, ...]:
        return (
            self.atom_sigs,
            self.atom_steps,
            self.comp_ptr,
            self.sub_ptr,
            self.sub_atoms,
            self.sub_covered,
            self.comp_steps,
        )


def _matcher(prep: _Prepared, n_steps: int) -> _Matcher:
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
        if (1 << len(comp_atoms)) > _MAX_SUBSETS:
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

    return _Matcher(
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


def _gather(values: I64, idx: I64, ok: Bools, fill: int = _INF) -> I64:
    """``values[idx]`` where ``ok``, else ``fill`` (idx may be out of range where not ok)."""
    if values.size == 0:
        return np.full(idx.shape, fill, dtype=np.int64)
    safe = np.where(ok, idx, 0)
    return np.where(ok, values[np.clip(safe, 0, values.size - 1)], fill)


@dataclass
class _Attempts:
    """One row per attempt: where it starts, how far it gets, when each step happened."""

    row: I64  # the attempt's first event (a row of _Prepared)
    reached: I64  # steps reached (1..n)
    times: I64  # (attempts, n_steps) µs, _INF past ``reached``
    spoiled: Bools


def _ordered_attempts(prep: _Prepared, m: _Matcher, query: FunnelQuery) -> _Attempts:
    """Each step at the earliest event that can fill it (one compiled pass per user)."""
    rows, reached, times, tie_ends = kernels.ordered_attempts(
        prep.ts,
        prep.sig,
        prep.tie_start,
        prep.tie_end,
        prep.user_end,
        query.n_steps,
        query.window_us,
        *m.walk_args(),
        bool(query.exclusions),
    )
    spoiled = _spoiled_ordered(prep, query, rows, reached, times, tie_ends)
    return _Attempts(rows, reached, times, spoiled)


def _strict_attempts(prep: _Prepared, m: _Matcher, query: FunnelQuery) -> _Attempts:
    """Strict order: a small exact search per attempt over (instant, first step placed at that
    instant) states; from one the next step either joins the instant (if the steps there can still
    each get their own event) or takes the user's very next instant. Per state the earliest history
    is kept."""
    rows, reached, times, tie_ends = kernels.strict_attempts(
        prep.ts,
        prep.sig,
        prep.tie_start,
        prep.tie_end,
        prep.user_end,
        query.n_steps,
        query.window_us,
        *m.walk_args(),
        bool(query.exclusions),
    )
    spoiled = _spoiled_ordered(prep, query, rows, reached, times, tie_ends)
    return _Attempts(rows, reached, times, spoiled)


def _exclusion_rows(prep: _Prepared, x: int) -> tuple[I64, I64]:
    is_x = (prep.exc >> np.uint64(x)) & np.uint64(1) == 1
    prefix = np.zeros(prep.exc.size + 1, dtype=np.int64)
    np.cumsum(is_x, out=prefix[1:])
    return prefix, np.flatnonzero(is_x).astype(np.int64)


def _first_exclusion_after(prep: _Prepared, x: int, after_row: I64, user_end: I64) -> I64:
    """Time of the user's first exclusion-x event at or after row ``after_row`` (INF: none)."""
    prefix, rows = _exclusion_rows(prep, x)
    pos = prefix[np.clip(after_row, 0, prefix.size - 1)]
    ok = (after_row >= 0) & (pos < rows.size)
    row = _gather(rows, pos, ok, fill=-1)
    ok &= (row >= 0) & (row < user_end)
    return np.where(ok, prep.ts[np.clip(row, 0, None)], _INF)


def _spoiled_ordered(
    prep: _Prepared,
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
    for x, (lo, hi) in enumerate(query._resolved):
        # Rows after the from-step's instant hold the events strictly after it.
        t_x = _first_exclusion_after(prep, x, tie_ends[:, lo], user_end)
        got_to = reached > hi
        hit = np.where(got_to, t_x < times[:, hi], t_x <= window_end)
        spoiled |= (reached > lo) & hit
    return spoiled


def _unordered_attempts(prep: _Prepared, m: _Matcher, query: FunnelQuery) -> _Attempts:
    """Every step event anchors a window; a sliding pass per user counts the distinct steps done."""
    n_steps, window = query.n_steps, query.window_us
    anchors, reached, times = kernels.unordered_attempts(
        prep.ts,
        prep.sig,
        prep.tie_start,
        prep.user_end,
        n_steps,
        window,
        *m.matching_args(),
    )
    spoiled = np.zeros(anchors.size, dtype=bool)
    if query.exclusions:
        user_end = prep.user_end[anchors]
        a_t = prep.ts[anchors]
        complete = times[:, n_steps - 1]
        for x in range(len(query.exclusions)):
            t_x = _first_exclusion_after(prep, x, prep.tie_end[anchors], user_end)
            spoiled |= np.where(reached == n_steps, t_x < complete, t_x <= a_t + window)
    return _Attempts(anchors, reached, times, spoiled)


@dataclass
class _Run:
    """Every attempt of every user, as arrays (one entry per attempt)."""

    query: FunnelQuery
    user_ids: pl.Series  # one per user (``user`` indexes it)
    user: I64
    breakdown: pl.Series | None
    reached: I64
    times: I64  # (attempts, n_steps) µs, _INF past ``reached``
    spoiled: Bools
    horizon_us: int | None


def _run(events: pl.DataFrame | pl.LazyFrame, query: FunnelQuery) -> _Run:
    prep = _prepare(events, query)
    n = query.n_steps
    if prep.ts.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        bd = prep.breakdown.clear() if prep.breakdown is not None else None
        return _Run(
            query,
            prep.user_ids,
            empty,
            bd,
            empty,
            np.zeros((0, n), dtype=np.int64),
            np.zeros(0, dtype=bool),
            prep.horizon_us,
        )
    m = _matcher(prep, n)
    if query.order == "unordered":
        att = _unordered_attempts(prep, m, query)
    elif query.order == "strict":
        att = _strict_attempts(prep, m, query)
    else:
        att = _ordered_attempts(prep, m, query)
    bd = None
    if prep.breakdown is not None:
        bd = prep.breakdown_at(att.row)
    return _Run(
        query,
        prep.user_ids,
        prep.user[att.row],
        bd,
        att.reached,
        att.times,
        att.spoiled,
        prep.horizon_us,
    )


def _keys(query: FunnelQuery) -> list[str]:
    return ["_bd"] if query.breakdown is not None else []


def _codes(values: pl.Series) -> I64:
    """Equal values get equal integers (null included), for grouping with numpy."""
    if values.dtype == pl.Null:
        return np.zeros(values.len(), dtype=np.int64)
    if values.dtype == pl.String:
        # Hash-based codes (a fresh, private set of categories): ranking sorts the strings.
        codes = values.cast(pl.Categorical(pl.Categories.random())).to_physical()
        return (codes.cast(pl.Int64) + 1).fill_null(0).to_numpy()
    ranks = values.rank("dense").fill_null(0)
    return ranks.to_numpy().astype(np.int64)


def _best(run: _Run, period: I64 | None = None) -> pl.DataFrame:
    """One row per user (per breakdown value, per period if given): their best clean attempt (the
    furthest step, then the earliest start, then the earliest times) and ``open``: whether any of
    their clean attempts is still inside its window at the horizon.

    Columns: user_id, [_bd], [_period], reached, t_1..t_n (µs, null past ``reached``), open.
    """
    n = run.query.n_steps
    clean = np.flatnonzero(~run.spoiled)
    everyone = clean.size == run.spoiled.size
    user = run.user if everyone else run.user[clean]
    reached = run.reached if everyone else run.reached[clean]
    times = run.times if everyone else run.times[clean]
    groups = [user]
    bd = None
    if run.breakdown is not None:
        bd = run.breakdown if everyone else run.breakdown.gather(pl.Series(clean, dtype=pl.Int64))
        groups.append(_codes(bd))
    if period is not None:
        groups.append(period[clean])
    # Group the attempts (a stable sort keeps each group's attempts in time order; without a
    # breakdown or period they already come grouped, user by user), then take, per group, the
    # furthest-reaching attempt with the earliest times: one compiled pass.
    key = _group_key(groups)
    if key is None:
        order = np.lexsort(groups[::-1]) if clean.size else clean
        new = np.zeros(order.size, dtype=bool)
        new[:1] = True
        for g in groups:
            sorted_g = g[order]
            new[1:] |= sorted_g[1:] != sorted_g[:-1]
        key = np.empty(order.size, dtype=np.int64)
        key[order] = np.cumsum(new)
    elif key.size and bool((key[1:] >= key[:-1]).all()):
        order = np.arange(key.size, dtype=np.int64)
    else:
        order = np.argsort(key, kind="stable")
    horizon = run.horizon_us if run.horizon_us is not None else np.iinfo(np.int64).min
    pick, is_open = kernels.best_attempts(order, key, reached, times, run.query.window_us, horizon)
    first = order[pick]
    cols: list[pl.Series] = [run.user_ids.gather(pl.Series(user[first], dtype=pl.Int64))]
    if bd is not None:
        cols.append(bd.gather(pl.Series(first, dtype=pl.Int64)).alias("_bd"))
    if period is not None:
        cols.append(pl.Series("_period", period[clean][first], dtype=pl.Int64))
    cols.append(pl.Series("reached", reached[first], dtype=pl.Int64))
    for k in range(n):
        t = times[first, k]
        cols.append(pl.Series(f"t_{k + 1}", np.where(t == _INF, 0, t), dtype=pl.Int64))
    cols.append(pl.Series("open", is_open, dtype=pl.Boolean))
    frame = pl.DataFrame(cols).rename({cols[0].name: "user_id"})
    return frame.with_columns(
        pl.when(pl.col("reached") > k).then(pl.col(f"t_{k + 1}")).alias(f"t_{k + 1}")
        for k in range(n)
    )


def _group_key(groups: list[I64]) -> I64 | None:
    """One integer per combination of the group codes (None when it would not fit in 62 bits)."""
    if not groups or groups[0].size == 0:
        return None
    key = np.zeros(groups[0].size, dtype=np.int64)
    top = 1
    for g in groups:
        low = int(g.min())
        size = int(g.max()) - low + 1
        top *= size
        if top >= 1 << 62:
            return None
        key = key * size + (g - low)
    return key


def _stats(best: pl.DataFrame, query: FunnelQuery, keys: list[str]) -> pl.DataFrame:
    return _step_table(_step_rows(best, query, keys), query, keys)


def _step_rows(best: pl.DataFrame, query: FunnelQuery, keys: list[str]) -> pl.DataFrame:
    """Per (breakdown value, step): ``users`` who reached it, ``still_in_window`` (reached the
    step before, window open), the median and mean seconds from the previous step."""
    n = query.n_steps
    aggs: list[pl.Expr] = []
    for k in range(1, n + 1):
        aggs.append((pl.col("reached") >= k).sum().cast(pl.Int64).alias(f"users_{k}"))
        if k == 1:
            continue
        aggs.append(
            ((pl.col("reached") == k - 1) & pl.col("open")).sum().cast(pl.Int64).alias(f"still_{k}")
        )
        gap = (pl.col(f"t_{k}") - pl.col(f"t_{k - 1}")).cast(pl.Float64) / _US
        aggs += [gap.median().alias(f"median_{k}"), gap.mean().alias(f"mean_{k}")]
    wide = best.group_by(keys, maintain_order=True).agg(aggs) if keys else best.select(aggs)
    parts = []
    for k in range(1, n + 1):
        parts.append(
            wide.select(
                *keys,
                pl.lit(k, dtype=pl.Int64).alias("step"),
                pl.col(f"users_{k}").alias("users"),
                (pl.col(f"still_{k}") if k > 1 else pl.lit(0, dtype=pl.Int64)).alias(
                    "still_in_window"
                ),
                (pl.col(f"median_{k}") if k > 1 else pl.lit(None, dtype=pl.Float64)).alias(
                    "median_seconds_to_convert"
                ),
                (pl.col(f"mean_{k}") if k > 1 else pl.lit(None, dtype=pl.Float64)).alias(
                    "mean_seconds_to_convert"
                ),
            )
        )
    return pl.concat(parts, how="vertical")


def _step_table(rows: pl.DataFrame, query: FunnelQuery, keys: list[str]) -> pl.DataFrame:
    """The funnel table from :func:`_step_rows` (computed by Polars or by an engine): labels,
    rates with their intervals, drop-offs, sorted by breakdown value and step. Without a
    breakdown every step has a row, zeros when nobody entered."""
    n = query.n_steps
    if not keys:
        grid = pl.DataFrame({"step": list(range(1, n + 1))}, schema={"step": pl.Int64})
        rows = grid.join(rows, on="step", how="left").with_columns(
            pl.col("users", "still_in_window").fill_null(0)
        )
    labels = pl.Series(query.labels, dtype=pl.String)
    long = rows.sort([*keys, "step"], nulls_last=True, maintain_order=True).with_columns(
        pl.col("step")
        .map_batches(lambda s: labels.gather(s - 1), return_dtype=pl.String)
        .alias("event"),
        (
            pl.col("users").shift(1).over(keys).fill_null(pl.col("users"))
            if keys
            else pl.col("users").shift(1).fill_null(pl.col("users"))
        ).alias("_prev"),
        (pl.col("users").first().over(keys) if keys else pl.col("users").first()).alias("_first"),
    )
    rate = _rate("users", "_first")
    step_rate = _rate("users", "_prev")
    out = long.with_columns(
        rate.alias("conversion_rate"),
        *wilson_exprs("users", "_first", prefix="conversion_rate"),
        step_rate.alias("step_conversion_rate"),
        *wilson_exprs("users", "_prev", prefix="step_conversion_rate"),
        pl.when(pl.col("step") > 1)
        .then(pl.col("_prev") - pl.col("users") - pl.col("still_in_window"))
        .otherwise(0)
        .cast(pl.Int64)
        .alias("dropped_off"),
    )
    columns = [
        *keys,
        "step",
        "event",
        "users",
        "conversion_rate",
        "conversion_rate_ci_low",
        "conversion_rate_ci_high",
        "step_conversion_rate",
        "step_conversion_rate_ci_low",
        "step_conversion_rate_ci_high",
        "median_seconds_to_convert",
        "mean_seconds_to_convert",
        "dropped_off",
        "still_in_window",
    ]
    return out.select(columns)


def _rate(num: str, den: str) -> pl.Expr:
    # Nobody in the denominator is a 0% rate (never 100%); its interval is null.
    return (
        pl.when(pl.col(den) > 0)
        .then(pl.col(num).cast(pl.Float64) / pl.col(den).cast(pl.Float64))
        .otherwise(0.0)
    )


def _rename_breakdown(frame: pl.DataFrame, query: FunnelQuery) -> pl.DataFrame:
    if query.breakdown is None or "_bd" not in frame.columns:
        return frame
    return frame.rename({"_bd": query.breakdown})


# --------------------------------------------------------------------------------------------------
# Warehouse planners: the same query, compiled to SQL (metrics/warehouse/funnels), finished here


def _engine_rows(frame: pl.DataFrame, types: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """An engine's result with the breakdown as ``_bd`` and the Polars path's column types."""
    if "bd" in frame.columns:
        frame = frame.rename({"bd": "_bd"})
    return frame.with_columns(pl.col(c).cast(t) for c, t in types.items())


def _funnel_plan(events: Relation, steps: Sequence[str | Step], **options: Any) -> Plan:
    query = FunnelQuery.build(steps, **options)
    keys = _keys(query)
    types = {
        "step": pl.Int64(),
        "users": pl.Int64(),
        "still_in_window": pl.Int64(),
        "median_seconds_to_convert": pl.Float64(),
        "mean_seconds_to_convert": pl.Float64(),
    }

    def finish(rows: pl.DataFrame) -> pl.DataFrame:
        return _rename_breakdown(_step_table(_engine_rows(rows, types), query, keys), query)

    return sql_funnels.steps_plan(events, query, finish)


def _funnel_users_plan(events: Relation, steps: Sequence[str | Step], **options: Any) -> Plan:
    query = FunnelQuery.build(steps, **options)
    n = query.n_steps
    types: dict[str, pl.DataType] = {"user_id": pl.String(), "reached": pl.Int64()}
    types |= {f"s{j}": pl.Int64() for j in range(n)}

    def finish(rows: pl.DataFrame) -> pl.DataFrame:
        best = _engine_rows(rows, types).rename({f"s{j}": f"t_{j + 1}" for j in range(n)})
        best = best.with_columns((pl.col("isopen") == 1).alias("open"))
        return _users_from_best(best, query)

    return sql_funnels.users_plan(events, query, finish)


def _dropped_users_plan(
    events: Relation, steps: Sequence[str | Step], *, step: int, **options: Any
) -> Plan:
    query = FunnelQuery.build(steps, **options)
    _check_drop_step(query, step)
    types = {"user_id": pl.String(), "last_step_at": pl.Int64()}

    def finish(rows: pl.DataFrame) -> pl.DataFrame:
        return _dropped_table(_engine_rows(rows, types), query, step)

    return sql_funnels.dropped_plan(events, query, step, finish)


def _period_day(number: int, interval: str, week_start: str) -> dt.date:
    """The first day of period ``number`` as ``metrics.warehouse.parts.period_of_day`` numbers
    them (days since 1970; weeks shifted to their first day; months as year * 12 + month - 1)."""
    if interval == "day":
        return dt.date(1970, 1, 1) + dt.timedelta(days=number)
    if interval == "week":
        return dt.date(1970, 1, 1) + dt.timedelta(days=number * 7 - WEEK_SHIFT[week_start])
    return dt.date(number // 12, number % 12 + 1, 1)


def _funnel_trends_plan(
    events: Relation,
    steps: Sequence[str | Step],
    *,
    interval: Interval = "day",
    week_start: WeekStart = "monday",
    from_step: int = 1,
    to_step: int | None = None,
    **options: Any,
) -> Plan:
    check_choice("interval", interval, INTERVALS)
    check_choice("week_start", week_start, WEEK_STARTS)
    query = FunnelQuery.build(steps, **options)
    lo, hi = _step_range(query, from_step, to_step)
    types = {"entered": pl.Int64(), "converted": pl.Int64(), "still_in_window": pl.Int64()}

    def finish(rows: pl.DataFrame) -> pl.DataFrame:
        counts = _engine_rows(rows, types)
        days = [_period_day(int(p), interval, week_start) for p in counts.get_column("pnum")]
        counts = counts.with_columns(pl.Series("period_start", days, dtype=pl.Date())).drop("pnum")
        return _trend_table(counts, query, interval, week_start)

    return sql_funnels.trends_plan(events, query, interval, week_start, lo, hi, finish)


def _time_to_convert_plan(
    events: Relation,
    steps: Sequence[str | Step],
    *,
    from_step: int = 1,
    to_step: int | None = None,
    bins: int | None = None,
    **options: Any,
) -> Plan:
    query = FunnelQuery.build(steps, **options)
    lo, hi = _step_range(query, from_step, to_step)
    _check_bins(lo, hi, bins)
    keys = _keys(query)

    def finish(rows: pl.DataFrame) -> pl.DataFrame:
        counts = _engine_rows(rows, {"bn": pl.Int64(), "users": pl.Int64()}).rename({"bn": "_bin"})
        if counts.height == 0:
            return _rename_breakdown(_empty_histogram(counts.select(keys)), query)
        low, high = float(counts["low"][0]), float(counts["high"][0])
        count = int(counts["nbins"][0])
        return _histogram_table(counts.select(*keys, "_bin", "users"), query, low, high, count)

    return sql_funnels.histogram_plan(events, query, lo, hi, bins, finish)


def _next_events_plan(
    events: Relation,
    steps: Sequence[str | Step],
    *,
    step: int,
    top: int = 10,
    ignore: Iterable[str] = (),
    **options: Any,
) -> Plan:
    query = FunnelQuery.build(steps, **options)
    skipped = _check_next_events(query, step, top, ignore)
    keys = [query.breakdown] if query.breakdown is not None else []

    def finish(rows: pl.DataFrame) -> pl.DataFrame:
        if "bd" in rows.columns:
            rows = rows.rename({"bd": keys[0]})
        counts = rows.with_columns(
            pl.col("event").cast(pl.String), pl.col("users").cast(pl.Int64), pl.col("share")
        )
        return _top_next_events(counts, keys, top)

    labels = (NO_LATER_EVENT, ONLY_IGNORED_EVENTS)
    return sql_funnels.next_events_plan(events, query, step, top, skipped, labels, finish)


# --------------------------------------------------------------------------------------------------
# Public functions


@pushdown(_funnel_plan)
def funnel(
    events: pl.DataFrame | pl.LazyFrame,
    steps: Sequence[str | Step],
    *,
    window: dt.timedelta = dt.timedelta(days=14),
    order: Order = "ordered",
    exclusions: Iterable[Exclusion] = (),
    breakdown: str | None = None,
    start: dt.date | dt.datetime | str | None = None,
    end: dt.date | dt.datetime | str | None = None,
    tz: str = "UTC",
) -> pl.DataFrame:
    """How many users reached each step of the funnel, and how many of them went on to the next.

    One row per step (per breakdown value): ``users`` who reached the step or beyond, the share of
    step-1 users (``conversion_rate``) and of the previous step's users (``step_conversion_rate``),
    each with a 95% Wilson interval, the median and mean seconds from the previous step (over users
    who reached this step; null at step 1), and of the users who reached the previous step but not
    this one, how many have ``dropped_off`` and how many are ``still_in_window`` (their conversion
    window is still open at the end of the data). The rules are in the module docstring.
    """
    query = FunnelQuery.build(
        steps,
        window=window,
        order=order,
        exclusions=exclusions,
        breakdown=breakdown,
        start=start,
        end=end,
        tz=tz,
    )
    best = _best(_run(events, query))
    return _rename_breakdown(_stats(best, query, _keys(query)), query)


@pushdown(_funnel_users_plan)
def funnel_users(
    events: pl.DataFrame | pl.LazyFrame,
    steps: Sequence[str | Step],
    *,
    window: dt.timedelta = dt.timedelta(days=14),
    order: Order = "ordered",
    exclusions: Iterable[Exclusion] = (),
    breakdown: str | None = None,
    start: dt.date | dt.datetime | str | None = None,
    end: dt.date | dt.datetime | str | None = None,
    tz: str = "UTC",
) -> pl.DataFrame:
    """Each user in the funnel: how far they got and when they reached each step.

    One row per user (per breakdown value) with ``reached`` (the furthest step of their best
    attempt), ``step_1_at`` .. ``step_n_at`` (UTC; null past ``reached``) and ``still_in_window``
    (a clean attempt of theirs is still inside its conversion window at the end of the data).
    """
    query = FunnelQuery.build(
        steps,
        window=window,
        order=order,
        exclusions=exclusions,
        breakdown=breakdown,
        start=start,
        end=end,
        tz=tz,
    )
    return _user_table(events, query)


def _user_table(events: pl.DataFrame | pl.LazyFrame, query: FunnelQuery) -> pl.DataFrame:
    return _users_from_best(_best(_run(events, query)), query)


def _users_from_best(best: pl.DataFrame, query: FunnelQuery) -> pl.DataFrame:
    """``funnel_users``' table from the best attempts (computed by Polars or by an engine)."""
    keys = _keys(query)
    stamp = pl.Datetime("us", "UTC")
    out = best.select(
        "user_id",
        *keys,
        "reached",
        *[pl.col(f"t_{k}").cast(stamp).alias(f"step_{k}_at") for k in range(1, query.n_steps + 1)],
        pl.col("open").alias("still_in_window"),
    )
    return _rename_breakdown(out.sort(["user_id", *keys], nulls_last=True), query)


@pushdown(_funnel_trends_plan)
def funnel_trends(
    events: pl.DataFrame | pl.LazyFrame,
    steps: Sequence[str | Step],
    *,
    interval: Interval = "day",
    week_start: WeekStart = "monday",
    from_step: int = 1,
    to_step: int | None = None,
    window: dt.timedelta = dt.timedelta(days=14),
    order: Order = "ordered",
    exclusions: Iterable[Exclusion] = (),
    breakdown: str | None = None,
    start: dt.date | dt.datetime | str | None = None,
    end: dt.date | dt.datetime | str | None = None,
    tz: str = "UTC",
) -> pl.DataFrame:
    """Conversion over time: of the users who entered the funnel in each day/week/month, the share
    who went on to convert.

    A user enters in a period when an attempt of theirs starts there (in ``tz``) and reaches
    ``from_step`` (1-based, default 1); they count once per period, at their best attempt started in
    it, and ``converted`` when that attempt reaches ``to_step`` (default: the last step). Columns:
    ``period_start`` (Date), [breakdown], ``entered``, ``converted``, ``conversion_rate`` with its
    Wilson interval, and ``still_in_window`` (entered, not converted, conversion window still open).
    Periods without entries appear with zeros, from the period holding ``start`` (else the first
    entry) to the one holding ``end`` (else the last entry).
    """
    check_choice("interval", interval, INTERVALS)
    check_choice("week_start", week_start, WEEK_STARTS)
    query = FunnelQuery.build(
        steps,
        window=window,
        order=order,
        exclusions=exclusions,
        breakdown=breakdown,
        start=start,
        end=end,
        tz=tz,
    )
    lo, hi = _step_range(query, from_step, to_step)
    run = _run(events, query)
    keys = _keys(query)
    # Each attempt's period: the local day (in tz) of its first event, as days since 1970-01-01.
    starts = pl.Series("t", run.times[:, 0], dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))
    periods = (
        pl.DataFrame([starts])
        .select(period_start(local_date(tz, "t"), interval, week_start).cast(pl.Int32))
        .to_series()
        .to_numpy()
        .astype(np.int64)
    )
    per_user = _best(run, periods).with_columns(
        pl.col("_period").cast(pl.Int32).cast(pl.Date).alias("period_start")
    )
    entered = pl.col("reached") >= lo
    converted = pl.col("reached") >= hi
    agg = [
        entered.sum().cast(pl.Int64).alias("entered"),
        (entered & converted).sum().cast(pl.Int64).alias("converted"),
        (entered & ~converted & pl.col("open")).sum().cast(pl.Int64).alias("still_in_window"),
    ]
    counts = per_user.group_by([*keys, "period_start"]).agg(agg)
    return _trend_table(counts, query, interval, week_start)


def _trend_table(
    counts: pl.DataFrame, query: FunnelQuery, interval: Interval, week_start: WeekStart
) -> pl.DataFrame:
    """``funnel_trends``' table from the counts per (breakdown value, period_start): the period
    grid with zeros, rates and their intervals."""
    keys = _keys(query)
    grid = _period_grid(counts, query, interval, week_start)
    if keys:
        values = counts.select(keys).unique()
        grid = values.join(grid, how="cross")
    out = grid.join(counts, on=[*keys, "period_start"], how="left", nulls_equal=True).with_columns(
        pl.col("entered", "converted", "still_in_window").fill_null(0)
    )
    out = out.with_columns(
        _rate("converted", "entered").alias("conversion_rate"),
        *wilson_exprs("converted", "entered", prefix="conversion_rate"),
    ).select(
        "period_start",
        *keys,
        "entered",
        "converted",
        "conversion_rate",
        "conversion_rate_ci_low",
        "conversion_rate_ci_high",
        "still_in_window",
    )
    out = out.sort(["period_start", *keys], nulls_last=True)
    return _rename_breakdown(out, query)


def _period_grid(
    counts: pl.DataFrame, query: FunnelQuery, interval: Interval, week_start: WeekStart
) -> pl.DataFrame:
    seen = counts.get_column("period_start").drop_nulls()
    first = query.start if query.start is not None else (seen.min() if seen.len() else None)
    last = query.end if query.end is not None else (seen.max() if seen.len() else None)
    if first is None or last is None:
        return pl.DataFrame(schema={"period_start": pl.Date()})
    assert isinstance(first, dt.date) and isinstance(last, dt.date)
    current = period_of(first, interval, week_start)
    stop = period_of(last, interval, week_start)
    days: list[dt.date] = []
    while current <= stop:
        days.append(current)
        current = add_periods(current, interval, 1)
    return pl.DataFrame({"period_start": days}, schema={"period_start": pl.Date()})


def _step_range(query: FunnelQuery, from_step: int, to_step: int | None) -> tuple[int, int]:
    n = query.n_steps
    hi = n if to_step is None else to_step
    if not isinstance(from_step, int) or not 1 <= from_step <= n:
        raise ValueError(f"from_step must be a step number between 1 and {n}, not {from_step!r}")
    if not isinstance(hi, int) or not from_step <= hi <= n:
        raise ValueError(
            f"to_step must be a step number between {from_step} and {n}, not {to_step!r}"
        )
    return from_step, hi


@pushdown(_time_to_convert_plan)
def time_to_convert(
    events: pl.DataFrame | pl.LazyFrame,
    steps: Sequence[str | Step],
    *,
    from_step: int = 1,
    to_step: int | None = None,
    bins: int | None = None,
    window: dt.timedelta = dt.timedelta(days=14),
    order: Order = "ordered",
    exclusions: Iterable[Exclusion] = (),
    breakdown: str | None = None,
    start: dt.date | dt.datetime | str | None = None,
    end: dt.date | dt.datetime | str | None = None,
    tz: str = "UTC",
) -> pl.DataFrame:
    """How long converting users took from one step to another, as a histogram.

    Over users whose best attempt reached ``to_step`` (default: the last step), the seconds from its
    ``from_step`` (default 1) to its ``to_step``, in ``bins`` equal-width bins from the fastest to
    the slowest (default: Sturges' rule, at most 30). Columns: [breakdown], ``bin_start_seconds``,
    ``bin_end_seconds`` (each bin holds [start, end), the last one also its end), ``users``.
    """
    query = FunnelQuery.build(
        steps,
        window=window,
        order=order,
        exclusions=exclusions,
        breakdown=breakdown,
        start=start,
        end=end,
        tz=tz,
    )
    lo, hi = _step_range(query, from_step, to_step)
    _check_bins(lo, hi, bins)
    run = _run(events, query)
    keys = _keys(query)
    best = _best(run)
    secs = best.filter(pl.col("reached") >= hi).select(
        *keys,
        ((pl.col(f"t_{hi}") - pl.col(f"t_{lo}")).cast(pl.Float64) / _US).alias("seconds"),
    )
    if secs.height == 0:
        return _rename_breakdown(_empty_histogram(best.select(keys)), query)
    low = float(secs.get_column("seconds").min())  # type: ignore[arg-type]
    high = float(secs.get_column("seconds").max())  # type: ignore[arg-type]
    count = bins if bins is not None else min(30, math.ceil(math.log2(secs.height)) + 1)
    count, width, _ = _bin_edges(low, high, count)
    binned = secs.with_columns(
        ((pl.col("seconds") - low) / width).floor().cast(pl.Int64).clip(0, count - 1).alias("_bin")
    )
    counts = binned.group_by([*keys, "_bin"]).agg(pl.len().cast(pl.Int64).alias("users"))
    return _histogram_table(counts, query, low, high, count)


def _check_bins(lo: int, hi: int, bins: int | None) -> None:
    if lo == hi:
        raise ValueError("to_step must come after from_step to measure a time to convert")
    if bins is not None and (not isinstance(bins, int) or bins < 1):
        raise ValueError(f"bins must be a positive number of bins, not {bins!r}")


def _empty_histogram(keys: pl.DataFrame) -> pl.DataFrame:
    """No user converted: the histogram's columns (the breakdown's type kept), no rows."""
    schema: dict[str, pl.DataType] = {
        "bin_start_seconds": pl.Float64(),
        "bin_end_seconds": pl.Float64(),
        "users": pl.Int64(),
    }
    return pl.DataFrame(schema={**keys.schema, **schema})


def _bin_edges(low: float, high: float, count: int) -> tuple[int, float, list[float]]:
    """(bins, width, edges) of ``count`` equal bins from ``low`` to ``high``."""
    if high == low:
        # Everyone took the same time: one bin of no width.
        return 1, 1.0, [low, high]
    width = (high - low) / count
    return count, width, [low + i * width for i in range(count)] + [high]


def _histogram_table(
    counts: pl.DataFrame, query: FunnelQuery, low: float, high: float, count: int
) -> pl.DataFrame:
    """``time_to_convert``'s table from the users per (breakdown value, ``_bin``): every bin of
    every breakdown value, with its edges."""
    keys = _keys(query)
    count, _, edges = _bin_edges(low, high, count)
    grid = pl.DataFrame(
        {
            "_bin": list(range(count)),
            "bin_start_seconds": edges[:-1],
            "bin_end_seconds": edges[1:],
        },
        schema={
            "_bin": pl.Int64(),
            "bin_start_seconds": pl.Float64(),
            "bin_end_seconds": pl.Float64(),
        },
    )
    if keys:
        grid = counts.select(keys).unique().join(grid, how="cross")
    out = (
        grid.join(counts, on=[*keys, "_bin"], how="left", nulls_equal=True)
        .with_columns(pl.col("users").fill_null(0))
        .sort([*keys, "_bin"], nulls_last=True)
        .select(*keys, "bin_start_seconds", "bin_end_seconds", "users")
    )
    return _rename_breakdown(out, query)


@pushdown(_dropped_users_plan)
def dropped_users(
    events: pl.DataFrame | pl.LazyFrame,
    steps: Sequence[str | Step],
    *,
    step: int,
    window: dt.timedelta = dt.timedelta(days=14),
    order: Order = "ordered",
    exclusions: Iterable[Exclusion] = (),
    breakdown: str | None = None,
    start: dt.date | dt.datetime | str | None = None,
    end: dt.date | dt.datetime | str | None = None,
    tz: str = "UTC",
) -> pl.DataFrame:
    """The users who dropped off at ``step``: they reached the step before it but not this one, and
    their conversion window has closed (users still inside it are not dropped off).

    ``step`` is 1-based, from 2 to the number of steps. Columns: ``user_id``, [breakdown],
    ``last_step`` (the step they reached), ``last_step_at`` (UTC), for export.
    """
    query = FunnelQuery.build(
        steps,
        window=window,
        order=order,
        exclusions=exclusions,
        breakdown=breakdown,
        start=start,
        end=end,
        tz=tz,
    )
    _check_drop_step(query, step)
    return _dropped(events, query, step)


def _check_drop_step(query: FunnelQuery, step: int) -> None:
    n = query.n_steps
    if not isinstance(step, int) or isinstance(step, bool) or not 2 <= step <= n:
        raise ValueError(
            f"step must be a step number between 2 and {n} (users drop off on the way to a step), "
            f"not {step!r}"
        )


def _dropped(events: pl.DataFrame | pl.LazyFrame, query: FunnelQuery, step: int) -> pl.DataFrame:
    keys = _keys(query)
    best = _best(_run(events, query))
    rows = best.filter((pl.col("reached") == step - 1) & ~pl.col("open")).select(
        "user_id", *keys, pl.col(f"t_{step - 1}").alias("last_step_at")
    )
    return _dropped_table(rows, query, step)


def _dropped_table(rows: pl.DataFrame, query: FunnelQuery, step: int) -> pl.DataFrame:
    """``dropped_users``' table from (user_id, [_bd], last_step_at in µs) of the dropped users."""
    keys = _keys(query)
    out = rows.select(
        "user_id",
        *keys,
        pl.lit(step - 1, dtype=pl.Int64).alias("last_step"),
        pl.col("last_step_at").cast(pl.Datetime("us", "UTC")),
    )
    return _rename_breakdown(out.sort(["user_id", *keys], nulls_last=True), query)


@pushdown(_next_events_plan)
def next_events_after_drop(
    events: pl.DataFrame | pl.LazyFrame,
    steps: Sequence[str | Step],
    *,
    step: int,
    top: int = 10,
    ignore: Iterable[str] = (),
    window: dt.timedelta = dt.timedelta(days=14),
    order: Order = "ordered",
    exclusions: Iterable[Exclusion] = (),
    breakdown: str | None = None,
    start: dt.date | dt.datetime | str | None = None,
    end: dt.date | dt.datetime | str | None = None,
    tz: str = "UTC",
) -> pl.DataFrame:
    """Where the users who dropped off at ``step`` went instead: their most common next events.

    For each dropped user (see :func:`dropped_users`), the first event they did strictly after the
    last step they reached (inside the date range; at one instant the alphabetically first name),
    or ``"(no later event)"``. Events named in ``ignore`` are passed over, so bookkeeping events
    that follow almost anything (``session_start``, ``page_view``) do not hide what the user chose
    to do; a user whose later events were all passed over shows as ``"(only passed-over
    events)"``. Columns: [breakdown], ``event``, ``users``, ``share`` (of the dropped users),
    the ``top`` most common per breakdown value, most common first.
    """
    query = FunnelQuery.build(
        steps,
        window=window,
        order=order,
        exclusions=exclusions,
        breakdown=breakdown,
        start=start,
        end=end,
        tz=tz,
    )
    skipped = _check_next_events(query, step, top, ignore)
    dropped = _dropped(events, query, step)
    keys = [query.breakdown] if query.breakdown is not None else []
    lf = as_lazy(events)
    lo, hi = query.bounds_us()
    ts = pl.col("timestamp").dt.epoch("us")
    in_range = pl.lit(True)
    if lo is not None:
        in_range = in_range & (ts >= lo)
    if hi is not None:
        in_range = in_range & (ts < hi)
    who = dropped.select(
        "user_id", *keys, pl.col("last_step_at").dt.epoch("us").alias("_after")
    ).lazy()
    later = (
        lf.filter(in_range & pl.col("user_id").is_in(dropped.get_column("user_id").implode()))
        .select(pl.col("user_id").cast(pl.String), pl.col("event").cast(pl.String), ts.alias("_ts"))
        .join(who, on="user_id", how="inner")
        .filter(pl.col("_ts") > pl.col("_after"))
        .with_columns(_chosen=~pl.col("event").is_in(skipped))
        .group_by(["user_id", *keys])
        .agg(
            pl.col("event")
            .filter("_chosen")
            .sort_by([pl.col("_ts").filter("_chosen"), pl.col("event").filter("_chosen")])
            .first(),
            _any=pl.lit(True),
        )
    )
    nxt = (
        who.join(later, on=["user_id", *keys], how="left", nulls_equal=True)
        .with_columns(
            pl.when(pl.col("event").is_not_null())
            .then(pl.col("event"))
            .when(pl.col("_any"))
            .then(pl.lit(ONLY_IGNORED_EVENTS))
            .otherwise(pl.lit(NO_LATER_EVENT))
            .alias("event")
        )
        .collect()
    )
    total = nxt.group_by(keys).agg(pl.len().alias("_total")) if keys else None
    counts = nxt.group_by([*keys, "event"]).agg(pl.len().cast(pl.Int64).alias("users"))
    if total is not None:
        counts = counts.join(total, on=keys, how="left", nulls_equal=True)
    else:
        counts = counts.with_columns(pl.lit(nxt.height).alias("_total"))
    shares = counts.with_columns((pl.col("users") / pl.col("_total")).alias("share"))
    return _top_next_events(shares.select(*keys, "event", "users", "share"), keys, top)


def _check_next_events(query: FunnelQuery, step: int, top: int, ignore: Iterable[str]) -> list[str]:
    """Check the arguments of :func:`next_events_after_drop`; the names passed over, sorted."""
    _check_drop_step(query, step)
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise ValueError(f"top must be a positive number of events, not {top!r}")
    if isinstance(ignore, str):
        raise TypeError(f"ignore must be a list of event names, not the string {ignore!r}")
    return sorted(set(ignore))


def _top_next_events(counts: pl.DataFrame, keys: list[str], top: int) -> pl.DataFrame:
    """The ``top`` next events per breakdown value, most common first (then by name)."""
    rank = pl.int_range(pl.len()).over(keys) if keys else pl.int_range(pl.len())
    out = (
        counts.sort(
            [*keys, "users", "event"],
            descending=[*([False] * len(keys)), True, False],
            nulls_last=True,
        )
        .with_columns(rank.alias("_rank"))
        .filter(pl.col("_rank") < top)
        .select(*keys, "event", "users", "share")
    )
    return out
