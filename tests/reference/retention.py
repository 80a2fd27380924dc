"""Slow, obviously-correct retention in plain Python, to check metrics.retention against.

Everything is spelled out one user and one event at a time, straight from docs/retention.md and the
notes in
metrics/retention/, with the standard library's zoneinfo for local time. No Polars, no shared
helpers: if the fast code and this disagree, one of them misread the definition.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable
from zoneinfo import ZoneInfo

DAY = dt.timedelta(days=1)


def period_start(day: dt.date, interval: str, week_start: str) -> dt.date:
    if interval == "day":
        return day
    if interval == "month":
        return dt.date(day.year, day.month, 1)
    first_weekday = 0 if week_start == "monday" else 6  # Monday = 0, Sunday = 6
    while day.weekday() != first_weekday:
        day -= DAY
    return day


def periods_between(start: dt.date, end: dt.date, interval: str, week_start: str):
    """The cohort periods (their first days) and the first day after the last period."""
    starts: list[dt.date] = []
    day = start
    while day <= end:
        p = period_start(day, interval, week_start)
        if not starts or starts[-1] != p:
            starts.append(p)
        day += DAY
    after = starts[-1]
    while period_start(after, interval, week_start) == starts[-1]:
        after += DAY
    return starts, after


def local_midnight_utc(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(dt.UTC)


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + (day.month - 1) + months
    return dt.date(index // 12, index % 12 + 1, 1)


def months_between(t: dt.datetime, r: dt.datetime) -> int:
    """MySQL's TIMESTAMPDIFF(MONTH, t, r) on naive wall-clock datetimes, for r >= t."""
    months = (r.year - t.year) * 12 + (r.month - t.month)
    r_into = (r.day, r.hour, r.minute, r.second, r.microsecond)
    t_into = (t.day, t.hour, t.minute, t.second, t.microsecond)
    if months > 0 and r_into < t_into:
        months -= 1
    return months


def matches(event: str, spec) -> bool:
    if spec is None:
        return True
    if isinstance(spec, str):
        return event == spec
    return event in spec


class _Setup:
    def __init__(self, rows, *, start, end, interval, week_start, tz, filters):
        self.zone = ZoneInfo(tz)
        self.interval = interval
        self.week_start = week_start
        self.starts, self.after = periods_between(start, end, interval, week_start)
        self.index = {p: i for i, p in enumerate(self.starts)}
        self.n = len(self.starts)
        self.lo = local_midnight_utc(self.starts[0], self.zone)
        self.hi = local_midnight_utc(self.after, self.zone)
        self.end = end
        self.rows = [row for row in rows if passes(row, filters)]

    def local(self, ts: dt.datetime) -> dt.datetime:
        return ts.astimezone(self.zone)

    def period(self, ts: dt.datetime) -> int:
        return self.index[period_start(self.local(ts).date(), self.interval, self.week_start)]

    def in_window(self, ts: dt.datetime) -> bool:
        return self.lo <= ts < self.hi

    def cohorts(self, start_event, retention_type):
        """{user: {cohort index: start time t}}."""
        out: dict[str, dict[int, dt.datetime]] = defaultdict(dict)
        if retention_type == "recurring":
            for row in self.rows:
                if matches(row["event"], start_event) and self.in_window(row["timestamp"]):
                    c = self.period(row["timestamp"])
                    if c not in out[row["user_id"]] or row["timestamp"] < out[row["user_id"]][c]:
                        out[row["user_id"]][c] = row["timestamp"]
        else:
            first: dict[str, dt.datetime] = {}
            for row in self.rows:
                if matches(row["event"], start_event):
                    user = row["user_id"]
                    if user not in first or row["timestamp"] < first[user]:
                        first[user] = row["timestamp"]
            for user, t in first.items():
                if self.in_window(t):
                    out[user][self.period(t)] = t
        return out

    def offset(self, c: int, t: dt.datetime, ts: dt.datetime, periods: str):
        """Offset of an event at ``ts`` for a member of cohort ``c`` who started at ``t``.

        None for an event before ``t`` in rolling periods (it belongs to no offset).
        """
        if periods == "calendar":
            return self.period(ts) - c
        if ts < t:
            return None
        if self.interval == "day":
            return math.floor((ts - t) / dt.timedelta(hours=24))
        if self.interval == "week":
            return math.floor((ts - t) / dt.timedelta(hours=24 * 7))
        wall = lambda x: self.local(x).replace(tzinfo=None)  # noqa: E731
        return months_between(wall(t), wall(ts))

    def incomplete(self, c: int, k: int, periods: str, money: bool = False) -> bool:
        last_day = self.after - DAY
        calendar = c + k == self.n - 1 and self.end < last_day
        if periods == "calendar" or (k == 0 and not money):
            # The offset's calendar period must be over by the end of `end`.
            return calendar
        if calendar:
            return True
        # Rolling: a user who started at the last instant of cohort period c is in offset k until
        # (k + 1) units after the cohort period ends.
        cohort_end = self.starts[c + 1] if c + 1 < self.n else self.after
        if self.interval == "month":
            latest = local_midnight_utc(add_months(cohort_end, k + 1), self.zone)
        else:
            unit = dt.timedelta(hours=24 if self.interval == "day" else 24 * 7)
            latest = local_midnight_utc(cohort_end, self.zone) + (k + 1) * unit
        return latest > self.hi


def passes(row: dict, filters) -> bool:
    for column, wanted in (filters or {}).items():
        value = row.get(column)
        if isinstance(wanted, list | tuple | set):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


def retention(
    rows: Iterable[dict],
    *,
    start: dt.date,
    end: dt.date,
    interval: str = "week",
    start_event=None,
    return_event=None,
    retention_type: str = "recurring",
    mode: str = "exact",
    periods: str = "calendar",
    week_start: str = "monday",
    tz: str = "UTC",
    filters=None,
) -> list[dict]:
    """Rows (cohort_start, cohort_size, offset, retained, rate, incomplete), cohort by cohort."""
    s = _Setup(
        rows, start=start, end=end, interval=interval, week_start=week_start, tz=tz, filters=filters
    )
    cohorts = s.cohorts(start_event, retention_type)
    # For every user and cohort: the set of offsets k >= 1 (inside the triangle) with a return.
    hits: dict[tuple[str, int], set[int]] = defaultdict(set)
    for row in s.rows:
        ts = row["timestamp"]
        if not (matches(row["event"], return_event) and s.in_window(ts)):
            continue
        for c, t in cohorts.get(row["user_id"], {}).items():
            k = s.offset(c, t, ts, periods)
            if k is not None and 1 <= k <= s.n - 1 - c:
                hits[(row["user_id"], c)].add(k)
    out = []
    for c, cohort_start in enumerate(s.starts):
        members = [user for user, cs in cohorts.items() if c in cs]
        for k in range(s.n - c):
            if k == 0:
                retained = len(members)
            elif mode == "exact":
                retained = sum(1 for user in members if k in hits[(user, c)])
            else:
                retained = sum(1 for user in members if any(j >= k for j in hits[(user, c)]))
            out.append(
                {
                    "cohort_start": cohort_start,
                    "cohort_size": len(members),
                    "offset": k,
                    "retained": retained,
                    "rate": retained / len(members) if members else None,
                    "incomplete": s.incomplete(c, k, periods),
                }
            )
    return out


def revenue_retention(
    rows: Iterable[dict],
    *,
    start: dt.date,
    end: dt.date,
    interval: str = "week",
    start_event=None,
    revenue_column: str = "revenue",
    retention_type: str = "first_time",
    periods: str = "calendar",
    week_start: str = "monday",
    tz: str = "UTC",
    filters=None,
) -> list[dict]:
    """One row per cohort and offset: size, revenue, paying users, cumulative revenue per user."""
    s = _Setup(
        rows, start=start, end=end, interval=interval, week_start=week_start, tz=tz, filters=filters
    )
    cohorts = s.cohorts(start_event, retention_type)
    money: dict[tuple[int, int], float] = defaultdict(float)
    per_user: dict[tuple[str, int, int], float] = defaultdict(float)
    paid: set[tuple[str, int, int]] = set()
    for row in s.rows:
        ts, value = row["timestamp"], row.get(revenue_column)
        if value is None or not s.in_window(ts):
            continue
        for c, t in cohorts.get(row["user_id"], {}).items():
            k = s.offset(c, t, ts, periods)
            if k is not None and 0 <= k <= s.n - 1 - c:
                money[(c, k)] += value
                per_user[(row["user_id"], c, k)] += value
                if value > 0:
                    paid.add((row["user_id"], c, k))
    out = []
    for c, cohort_start in enumerate(s.starts):
        size = sum(1 for cs in cohorts.values() if c in cs)
        running = 0.0
        for k in range(s.n - c):
            running += money[(c, k)]
            out.append(
                {
                    "cohort_start": cohort_start,
                    "cohort_size": size,
                    "offset": k,
                    "revenue": money[(c, k)],
                    "paying_users": sum(1 for (_, cc, kk) in paid if (cc, kk) == (c, k)),
                    "cumulative_revenue_per_user": running / size if size else None,
                    # Money accrues over rolling offset 0's window too: it can be unfinished.
                    "incomplete": s.incomplete(c, k, periods, money=True),
                }
            )
    return out
