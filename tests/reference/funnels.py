"""Slow, obviously-correct funnels in plain Python, to check metrics.funnels against.

Straight from docs/funnels.md and the rules in metrics/funnels.py, one user and one attempt at a
time:
every attempt is enumerated literally and every way of filling its steps is tried (a depth-first
search over the user's events), so nothing here relies on a greedy argument or on Hall's theorem.
No Polars (only to read the rows in), no shared helpers; exponential, so keep the logs small.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from metrics.funnels import Exclusion, Step

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Event:
    index: int  # position in the input, only to tell events apart
    user: str
    name: str
    at: dt.datetime  # UTC
    props: Mapping[str, Any]


@dataclass(frozen=True)
class Attempt:
    start: dt.datetime
    times: tuple[dt.datetime, ...]  # one per step reached
    value: Any  # breakdown value
    spoiled: bool
    window_end: dt.datetime


def _matches(event: Event, name: str | None, filters: Mapping[str, Any] | None) -> bool:
    if name is not None and event.name != name:
        return False
    for key, wanted in (filters or {}).items():
        have = event.props.get(key)
        if have is None:
            return False
        if isinstance(wanted, list | tuple | set | frozenset):
            if have not in wanted:
                return False
        elif have != wanted:
            return False
    return True


def _steps(steps: Sequence[str | Step]) -> list[Step]:
    return [Step(s) if isinstance(s, str) else s for s in steps]


def read_rows(rows: list[dict[str, Any]], tz: str, start: dt.date | None, end: dt.date | None):
    """The events inside the date range (local days in ``tz``), and the last instant seen."""
    zone = ZoneInfo(tz)
    events = []
    last = None
    for i, row in enumerate(rows):
        at = row["timestamp"]
        if at is None or row["user_id"] is None:
            continue
        at = at.astimezone(dt.UTC)
        last = at if last is None or at > last else last
        day = at.astimezone(zone).date()
        if start is not None and day < start:
            continue
        if end is not None and day > end:
            continue
        props = {k: v for k, v in row.items() if k not in ("user_id", "event", "timestamp")}
        events.append(Event(i, row["user_id"], row["event"], at, props))
    horizon = last
    if end is not None:
        after_end = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), zone)
        end_instant = after_end.astimezone(dt.UTC) - dt.timedelta(microseconds=1)
        horizon = end_instant if horizon is None else min(horizon, end_instant)
    return events, horizon


def _ordered_attempt(
    e1: Event,
    mine: list[Event],
    steps: list[Step],
    window: dt.timedelta,
    strict: bool,
) -> tuple[tuple[dt.datetime, ...], tuple[Event, ...]]:
    """The furthest way to fill the steps from ``e1``; among those, the earliest times."""
    best: list[Any] = [(e1.at,), (e1,)]

    def better(times: tuple[dt.datetime, ...]) -> bool:
        have = best[0]
        return len(times) > len(have) or (len(times) == len(have) and times < have)

    def grow(chain: tuple[Event, ...]) -> None:
        times = tuple(e.at for e in chain)
        if better(times):
            best[0], best[1] = times, chain
        j = len(chain)
        if j == len(steps):
            return
        prev = chain[-1].at
        for e in mine:
            if e in chain or e.at < prev or e.at > e1.at + window:
                continue
            if not _matches(e, steps[j].event, steps[j].filters):
                continue
            if strict and any(prev < o.at < e.at for o in mine):
                continue
            grow((*chain, e))

    grow((e1,))
    return best[0], best[1]


def _matching(events: list[Event], steps: list[Step]) -> int:
    """How many steps can each get their own event (tries every assignment)."""
    best = 0

    def assign(j: int, used: frozenset[int], got: int) -> None:
        nonlocal best
        if got + (len(steps) - j) <= best:
            return
        if j == len(steps):
            best = max(best, got)
            return
        assign(j + 1, used, got)
        for e in events:
            if e.index not in used and _matches(e, steps[j].event, steps[j].filters):
                assign(j + 1, used | {e.index}, got + 1)

    assign(0, frozenset(), 0)
    return best


def attempts(
    rows: list[dict[str, Any]],
    steps: Sequence[str | Step],
    *,
    window: dt.timedelta,
    order: str = "ordered",
    exclusions: Sequence[Exclusion] = (),
    breakdown: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    tz: str = "UTC",
):
    """Every attempt of every user: {user: [Attempt, ...]}, and the horizon."""
    plain = _steps(steps)
    n = len(plain)
    events, horizon = read_rows(rows, tz, start, end)
    by_user: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        by_user[e.user].append(e)
    out: dict[str, list[Attempt]] = {}
    for user, mine in by_user.items():
        mine.sort(key=lambda e: (e.at, e.index))
        found: list[Attempt] = []
        if order == "unordered":
            for anchor in mine:
                if not any(_matches(anchor, s.event, s.filters) for s in plain):
                    continue
                inside = [e for e in mine if anchor.at <= e.at <= anchor.at + window]
                reached = _matching(inside, plain)
                instants = sorted({e.at for e in inside})
                times = []
                for k in range(1, reached + 1):
                    for t in instants:
                        if _matching([e for e in inside if e.at <= t], plain) >= k:
                            times.append(t)
                            break
                spoiled = False
                for x in exclusions:
                    for e in mine:
                        if not _matches(e, x.event, x.filters) or not e.at > anchor.at:
                            continue
                        if reached == n and e.at < times[-1]:
                            spoiled = True
                        if reached < n and e.at <= anchor.at + window:
                            spoiled = True
                value = anchor.props.get(breakdown) if breakdown else None
                found.append(Attempt(anchor.at, tuple(times), value, spoiled, anchor.at + window))
        else:
            for e1 in mine:
                if not _matches(e1, plain[0].event, plain[0].filters):
                    continue
                times, chain = _ordered_attempt(e1, mine, plain, window, order == "strict")
                spoiled = False
                for x in exclusions:
                    lo = x.from_step
                    hi = n - 1 if x.to_step is None else x.to_step
                    if len(chain) <= lo:
                        continue
                    for e in mine:
                        if not _matches(e, x.event, x.filters) or not e.at > times[lo]:
                            continue
                        if len(chain) > hi and e.at < times[hi]:
                            spoiled = True
                        if len(chain) <= hi and e.at <= e1.at + window:
                            spoiled = True
                value = e1.props.get(breakdown) if breakdown else None
                found.append(Attempt(e1.at, times, value, spoiled, e1.at + window))
        out[user] = found
    return out, horizon


def users(rows: list[dict[str, Any]], steps: Sequence[str | Step], **options: Any):
    """Each user (and breakdown value) in the funnel: (reached, step times, still in window)."""
    found, horizon = attempts(rows, steps, **options)
    table: dict[tuple[str, Any], tuple[int, tuple[dt.datetime, ...], bool]] = {}
    for user, mine in found.items():
        values = {a.value for a in mine}
        for value in values:
            clean = [a for a in mine if a.value == value and not a.spoiled]
            if not clean:
                continue
            furthest = max(len(a.times) for a in clean)
            best = min(
                (a for a in clean if len(a.times) == furthest), key=lambda a: (a.start, a.times)
            )
            still = any(horizon is not None and a.window_end > horizon for a in clean)
            table[(user, value)] = (furthest, best.times, still)
    return table


def funnel(rows: list[dict[str, Any]], steps: Sequence[str | Step], **options: Any):
    """The funnel table as a list of dicts, one per (breakdown value, step)."""
    n = len(_steps(steps))
    labels = [s.name for s in _steps(steps)]
    table = users(rows, steps, **options)
    values = sorted({v for (_, v) in table}, key=lambda v: (v is None, v))
    if not options.get("breakdown"):
        values = [None]
    out = []
    for value in values:
        mine = [t for (u, v), t in table.items() if v == value]
        counts = [sum(1 for r, _, _ in mine if r >= k) for k in range(1, n + 1)]
        for k in range(1, n + 1):
            users_k = counts[k - 1]
            prev = counts[k - 2] if k > 1 else users_k
            gaps = (
                [(times[k - 1] - times[k - 2]).total_seconds() for r, times, _ in mine if r >= k]
                if k > 1
                else []
            )
            still = sum(1 for r, _, s in mine if r == k - 1 and s) if k > 1 else 0
            low, high = wilson(users_k, counts[0])
            step_low, step_high = wilson(users_k, prev)
            row = {
                "step": k,
                "event": labels[k - 1],
                "users": users_k,
                "conversion_rate": users_k / counts[0] if counts[0] else 0.0,
                "conversion_rate_ci_low": low,
                "conversion_rate_ci_high": high,
                "step_conversion_rate": users_k / prev if prev else 0.0,
                "step_conversion_rate_ci_low": step_low,
                "step_conversion_rate_ci_high": step_high,
                "median_seconds_to_convert": statistics.median(gaps) if gaps else None,
                "mean_seconds_to_convert": statistics.fmean(gaps) if gaps else None,
                "dropped_off": prev - users_k - still if k > 1 else 0,
                "still_in_window": still,
            }
            if options.get("breakdown"):
                row = {options["breakdown"]: value, **row}
            out.append(row)
    return out


def wilson(successes: int, trials: int, z: float = 1.959963984540054):
    """The Wilson score interval, from its textbook formula."""
    if trials == 0:
        return None, None
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = (
        z / (1 + z * z / trials) * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    )
    return max(0.0, centre - half), min(1.0, centre + half)
