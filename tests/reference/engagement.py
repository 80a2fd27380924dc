"""Slow, obviously-correct engagement metrics in plain Python, to check metrics.engagement against.

Everything is spelled out with sets and loops over events and calendar days; nothing is shared
with the Polars code except the meaning (docs/engagement.md). Inputs are lists of event dicts
(``frame.to_dicts()``); outputs are lists of row dicts in the same order and with the same columns
as the real functions.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

Row = dict[str, Any]
ONE_DAY = dt.timedelta(days=1)


def local_day(row: Row, tz: str) -> dt.date:
    """The calendar day on the reporting zone's wall clock when the event happened."""
    return row["timestamp"].astimezone(ZoneInfo(tz)).date()


def period_first_day(day: dt.date, interval: str, week_start: str = "monday") -> dt.date:
    """The first day of the day, week or month holding ``day``."""
    if interval == "day":
        return day
    if interval == "month":
        return day.replace(day=1)
    days_since_week_start = day.weekday() if week_start == "monday" else (day.weekday() + 1) % 7
    return day - dt.timedelta(days=days_since_week_start)


def next_period(first_day: dt.date, interval: str) -> dt.date:
    """The first day of the period after the one starting on ``first_day``."""
    if interval == "day":
        return first_day + ONE_DAY
    if interval == "week":
        return first_day + dt.timedelta(days=7)
    if first_day.month == 12:
        return dt.date(first_day.year + 1, 1, 1)
    return dt.date(first_day.year, first_day.month + 1, 1)


def periods(
    start: dt.date, end: dt.date, interval: str, week_start: str = "monday"
) -> list[dt.date]:
    """First days of every period from the one holding ``start`` to the one holding ``end``."""
    out = [period_first_day(start, interval, week_start)]
    last = period_first_day(end, interval, week_start)
    while out[-1] < last:
        out.append(next_period(out[-1], interval))
    return out


def is_partial(first_day: dt.date, interval: str, start: dt.date, end: dt.date) -> bool:
    """Does the period stick out of ``start..end``?"""
    last_day = next_period(first_day, interval) - ONE_DAY
    return first_day < start or last_day > end


def matches(row: Row, event: Any, filters: dict[str, Any] | None) -> bool:
    """Is this event one the metric counts?"""
    if event is not None:
        names = [event] if isinstance(event, str) else list(event)
        if row["event"] not in names:
            return False
    for column, wanted in (filters or {}).items():
        allowed = list(wanted) if isinstance(wanted, list | tuple | set) else [wanted]
        value = row.get(column)
        if value is None or value not in allowed:
            return False
    return True


def sort_values(values: set[Any]) -> list[Any]:
    """Breakdown values ascending, missing value last."""
    present = sorted(v for v in values if v is not None)
    return present + ([None] if None in values else [])


def active_users(
    rows: list[Row],
    *,
    start: dt.date,
    end: dt.date,
    interval: str = "day",
    window_days: int | None = None,
    event: Any = None,
    filters: dict[str, Any] | None = None,
    breakdown: str | None = None,
    week_start: str = "monday",
    tz: str = "UTC",
) -> list[Row]:
    """Distinct active users per period, or in the N days ending on each day."""
    counted = [(r, local_day(r, tz)) for r in rows if matches(r, event, filters)]
    out: list[Row] = []
    if window_days is not None:
        # Every day of the range, and every event within the N days ending on it.
        earliest = start - dt.timedelta(days=window_days - 1)
        in_reach = [(r, d) for r, d in counted if earliest <= d <= end]
        values = sort_values({r.get(breakdown) for r, _ in in_reach}) if breakdown else [None]
        day = start
        while day <= end:
            window_start = day - dt.timedelta(days=window_days - 1)
            for value in values:
                users = {
                    r["user_id"]
                    for r, d in in_reach
                    if window_start <= d <= day and (breakdown is None or r.get(breakdown) == value)
                }
                row: Row = {"period_start": day}
                if breakdown:
                    row[breakdown] = value
                row.update(active_users=len(users), is_partial=False)
                out.append(row)
            day += ONE_DAY
        return out

    in_range = [(r, d) for r, d in counted if start <= d <= end]
    values = sort_values({r.get(breakdown) for r, _ in in_range}) if breakdown else [None]
    for first in periods(start, end, interval, week_start):
        for value in values:
            users = {
                r["user_id"]
                for r, d in in_range
                if period_first_day(d, interval, week_start) == first
                and (breakdown is None or r.get(breakdown) == value)
            }
            row = {"period_start": first}
            if breakdown:
                row[breakdown] = value
            row.update(active_users=len(users), is_partial=is_partial(first, interval, start, end))
            out.append(row)
    return out


def dau_mau(
    rows: list[Row],
    *,
    start: dt.date,
    end: dt.date,
    event: Any = None,
    filters: dict[str, Any] | None = None,
    window_days: int = 30,
    tz: str = "UTC",
) -> list[Row]:
    """Daily actives over the actives of the window ending that day."""
    out = []
    day = start
    counted = [(r["user_id"], local_day(r, tz)) for r in rows if matches(r, event, filters)]
    while day <= end:
        dau = len({u for u, d in counted if d == day})
        mau = len({u for u, d in counted if day - dt.timedelta(days=window_days - 1) <= d <= day})
        out.append(
            {"period_start": day, "dau": dau, "mau": mau, "ratio": dau / mau if mau else None}
        )
        day += ONE_DAY
    return out


def stickiness(
    rows: list[Row],
    *,
    start: dt.date,
    end: dt.date,
    interval: str = "day",
    interval_count: int = 1,
    event: Any = None,
    filters: dict[str, Any] | None = None,
    week_start: str = "monday",
    tz: str = "UTC",
) -> list[Row]:
    """Users by the number of intervals of the range in which they were active."""
    firsts = periods(start, end, interval, week_start)
    # Interval k holds periods k*count .. (k+1)*count - 1 of the range.
    interval_of = {first: i // interval_count for i, first in enumerate(firsts)}
    intervals = math.ceil(len(firsts) / interval_count)
    seen: dict[str, set[int]] = defaultdict(set)
    for r in rows:
        day = local_day(r, tz)
        if matches(r, event, filters) and start <= day <= end:
            seen[r["user_id"]].add(interval_of[period_first_day(day, interval, week_start)])
    out = []
    for k in range(1, intervals + 1):
        exactly = sum(1 for s in seen.values() if len(s) == k)
        at_least = sum(1 for s in seen.values() if len(s) >= k)
        out.append({"intervals_active": k, "users": exactly, "users_at_least": at_least})
    return out


def lifecycle(
    rows: list[Row],
    *,
    start: dt.date,
    end: dt.date,
    interval: str = "day",
    event: Any = None,
    filters: dict[str, Any] | None = None,
    week_start: str = "monday",
    tz: str = "UTC",
    new_means: str = "first_active",
) -> list[Row]:
    """New, returning, resurrecting and dormant users per period, over the user's whole history."""
    active: dict[str, set[dt.date]] = defaultdict(set)
    first_seen: dict[str, dt.date] = {}
    for r in rows:
        first = period_first_day(local_day(r, tz), interval, week_start)
        first_seen[r["user_id"]] = min(first, first_seen.get(r["user_id"], first))
        if matches(r, event, filters):
            active[r["user_id"]].add(first)
    out = []
    previous = None
    for first in periods(start, end, interval, week_start):
        # The period before this one: step back one day, then to that day's period.
        previous = period_first_day(first - ONE_DAY, interval, week_start)
        new = returning = resurrecting = dormant = 0
        for user, history in active.items():
            now, before = first in history, previous in history
            if new_means == "first_seen":
                brand_new = first_seen[user] == first
            else:
                brand_new = not any(p < first for p in history)
            if now and brand_new:
                new += 1
            elif now and before:
                returning += 1
            elif now:
                resurrecting += 1
            elif before:
                dormant += 1
        out.append(
            {
                "period_start": first,
                "new": new,
                "returning": returning,
                "resurrecting": resurrecting,
                "dormant": dormant,
                "is_partial": is_partial(first, interval, start, end),
            }
        )
    return out


def revenue(
    rows: list[Row],
    *,
    start: dt.date,
    end: dt.date,
    interval: str = "day",
    filters: dict[str, Any] | None = None,
    breakdown: str | None = None,
    week_start: str = "monday",
    tz: str = "UTC",
) -> list[Row]:
    """Revenue, paying and active users, and revenue per (paying) active user per period."""
    in_range = [
        (r, local_day(r, tz))
        for r in rows
        if matches(r, None, filters) and start <= local_day(r, tz) <= end
    ]
    values = sort_values({r.get(breakdown) for r, _ in in_range}) if breakdown else [None]
    out = []
    for first in periods(start, end, interval, week_start):
        for value in values:
            these = [
                r
                for r, d in in_range
                if period_first_day(d, interval, week_start) == first
                and (breakdown is None or r.get(breakdown) == value)
            ]
            money = sum(r.get("revenue") or 0.0 for r in these)
            active = {r["user_id"] for r in these}
            paying = {r["user_id"] for r in these if (r.get("revenue") or 0.0) > 0}
            row: Row = {"period_start": first}
            if breakdown:
                row[breakdown] = value
            row.update(
                revenue=float(money),
                paying_users=len(paying),
                active_users=len(active),
                arpu=money / len(active) if active else None,
                arppu=money / len(paying) if paying else None,
                is_partial=is_partial(first, interval, start, end),
            )
            out.append(row)
    return out
