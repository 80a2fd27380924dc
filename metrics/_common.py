"""Shared building blocks for the metric families: inputs, filters and calendar periods.

Every metric works in one reporting time zone: a "day" is a calendar day there (docs/metrics.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import polars as pl

Interval = Literal["day", "week", "month"]
WeekStart = Literal["monday", "sunday"]
Filters = Mapping[str, Any] | None

INTERVALS: tuple[str, ...] = ("day", "week", "month")
WEEK_STARTS: tuple[str, ...] = ("monday", "sunday")


def as_lazy(events: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """The event frame as a LazyFrame in canonical types, whatever was passed in.

    Frames built by hand (a notebook, a test translated from another tool) often carry naive or
    non-UTC datetimes, other time units or integer ids. They are brought to the canonical types
    here, once for every metric: a naive ``timestamp`` is read as UTC (the canonical frame's zone;
    connectors have already applied a source's own zone), a zoned one is converted to UTC, a date
    is its midnight in UTC, ISO texts are parsed (see :func:`_parse_text_times`), and ``user_id``
    / ``event`` become strings. The input is never mutated.
    """
    if isinstance(events, pl.DataFrame):
        lazy = events.lazy()
    elif isinstance(events, pl.LazyFrame):
        lazy = events
    else:
        raise TypeError(
            f"events must be a Polars DataFrame or LazyFrame, not {type(events).__name__}"
        )
    schema = lazy.collect_schema()
    missing = [name for name in ("user_id", "timestamp") if name not in schema]
    if missing:
        raise ValueError(
            f"events: no column {', '.join(map(repr, missing))} (the columns are "
            f"{', '.join(schema.names())}); name the source's columns with mapping="
        )
    if schema.get("timestamp") == pl.String:
        lazy = _parse_text_times(lazy)
        schema = lazy.collect_schema()
    return lazy.with_columns(_canonical_casts(schema))


#: Spellings of text times a hand-built frame may carry: (format, whether it has its own zone).
_TEXT_TIMES = (
    ("%Y-%m-%dT%H:%M:%S%.f%z", True),
    ("%Y-%m-%d %H:%M:%S%.f%z", True),
    ("%Y-%m-%dT%H:%M:%S%.fZ", False),
    ("%Y-%m-%dT%H:%M:%S%.f", False),
    ("%Y-%m-%d %H:%M:%S%.f", False),
    ("%Y-%m-%d", False),
)


def _parse_text_times(lazy: pl.LazyFrame) -> pl.LazyFrame:
    """A ``timestamp`` column of ISO texts read as UTC instants (texts without a zone are UTC).

    For frames built by hand; data from outside comes through :mod:`connectors`, which reads
    many more spellings and reports what it changed. A text that is not a time raises rather
    than becoming a missing value, so no event is silently lost.
    """
    frame = lazy.collect()
    text = pl.col("timestamp").str.strip_chars()
    readings = []
    for fmt, zoned in _TEXT_TIMES:
        parsed = text.str.to_datetime(fmt, strict=False, time_unit="us")
        readings.append(
            parsed.dt.convert_time_zone("UTC") if zoned else parsed.dt.replace_time_zone("UTC")
        )
    read = frame.select(pl.coalesce(readings).alias("timestamp")).to_series()
    bad = frame.get_column("timestamp").filter(read.is_null() & frame["timestamp"].is_not_null())
    if bad.len():
        raise ValueError(
            f"events: column 'timestamp' holds text that is not an ISO time, e.g. {bad[0]!r} "
            "(write times as 2026-03-01T09:30:00Z, or load files with connectors.load_events)"
        )
    return frame.with_columns(read).lazy()


def _canonical_casts(schema: pl.Schema) -> list[pl.Expr]:
    casts: list[pl.Expr] = []
    stamp = schema.get("timestamp")
    if stamp == pl.Date:
        casts.append(pl.col("timestamp").cast(pl.Datetime("us")).dt.replace_time_zone("UTC"))
    if isinstance(stamp, pl.Datetime) and (stamp.time_zone != "UTC" or stamp.time_unit != "us"):
        column = pl.col("timestamp")
        if stamp.time_zone is None:
            column = column.dt.replace_time_zone("UTC")
        elif stamp.time_zone != "UTC":
            column = column.dt.convert_time_zone("UTC")
        casts.append(column.dt.cast_time_unit("us"))
    for name in ("user_id", "event"):
        dtype = schema.get(name)
        if dtype is not None and dtype != pl.String:
            casts.append(pl.col(name).cast(pl.String))
    return casts


def check_choice(name: str, value: object, choices: Iterable[object]) -> None:
    """Raise ValueError naming the argument when ``value`` is not one of ``choices``."""
    allowed = tuple(choices)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, not {value!r}")


def to_date(value: dt.date | dt.datetime | str, name: str = "date") -> dt.date:
    """A calendar date from a date, a datetime (its date part) or an ISO string."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError as exc:
            raise ValueError(f"{name}: {value!r} is not an ISO date (YYYY-MM-DD)") from exc
    raise TypeError(f"{name} must be a date or an ISO date string, not {type(value).__name__}")


def date_range(
    start: dt.date | dt.datetime | str, end: dt.date | dt.datetime | str
) -> tuple[dt.date, dt.date]:
    """The inclusive calendar range ``start..end``, checked."""
    first, last = to_date(start, "start"), to_date(end, "end")
    if last < first:
        raise ValueError(f"end ({last}) is before start ({first})")
    return first, last


#: How a breakdown names the events without a value; a filter on it selects them (PostHog's "is not
#: set"), so every series a breakdown shows can be picked in a filter.
NOT_SET = "(not set)"


def filter_expr(filters: Filters) -> pl.Expr:
    """One boolean expression for a mapping property -> value or list of values.

    A list means membership; a scalar means equality; :data:`NOT_SET` (or ``None``) matches events
    without a value. ``None`` or an empty mapping keeps everything.
    """
    expr = pl.lit(True)
    for column, wanted in (filters or {}).items():
        many = isinstance(wanted, list | tuple | set | frozenset)
        values = list(wanted) if many else [wanted]
        present = [v for v in values if v is not None and v != NOT_SET]
        if not many and present:
            match = pl.col(column) == present[0]
        else:
            match = pl.col(column).is_in(present) if present else pl.lit(False)
        if len(present) < len(values):
            expr = expr & (match | pl.col(column).is_null())
        else:
            expr = expr & match
    return expr


def check_filters(schema: Mapping[str, pl.DataType], filters: Filters, argument: str) -> None:
    """Raise ValueError naming the column when ``filters`` names a column the events do not have,
    or a value that cannot be one of the column's (text for a number column, a number for text)."""
    for column, wanted in (filters or {}).items():
        if column not in schema:
            raise ValueError(f"{argument}: the events have no column {column!r}")
        dtype = schema[column]
        values = list(wanted) if isinstance(wanted, list | tuple | set | frozenset) else [wanted]
        for value in values:
            if value is None or value == NOT_SET or _fits(dtype, value):
                continue
            raise ValueError(
                f"{argument}: column {column!r} holds {dtype} values, so {value!r} "
                f"({type(value).__name__}) can never match it"
            )


def _fits(dtype: pl.DataType, value: object) -> bool:
    if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
        return isinstance(value, str)
    if dtype == pl.Boolean:
        return isinstance(value, bool)
    if dtype.is_numeric():
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(dtype, pl.Datetime):
        return isinstance(value, dt.datetime)
    if dtype == pl.Date:
        return isinstance(value, dt.date) and not isinstance(value, dt.datetime)
    return True  # other types: left to Polars


def event_expr(event: str | Iterable[str] | None) -> pl.Expr:
    """Match one event name, any of several, or (``None``) any event."""
    if event is None:
        return pl.lit(True)
    if isinstance(event, str):
        return pl.col("event") == event
    return pl.col("event").is_in(list(event))


def local_timestamp(tz: str, column: str = "timestamp") -> pl.Expr:
    """The UTC timestamp column seen on the reporting zone's wall clock."""
    return pl.col(column).dt.convert_time_zone(tz)


def local_date(tz: str, column: str = "timestamp") -> pl.Expr:
    """The calendar day, in the reporting zone, on which each event happened."""
    return local_timestamp(tz, column).dt.date()


def period_start(day: pl.Expr, interval: Interval, week_start: WeekStart = "monday") -> pl.Expr:
    """The first day of the day/week/month that holds each date in ``day`` (a Date expression)."""
    if interval == "day":
        return day
    if interval == "month":
        return day.dt.truncate("1mo")
    if interval == "week":
        if week_start == "monday":
            return day.dt.truncate("1w")
        # Sunday weeks: shift so Sunday lands on Monday, truncate, shift back.
        return (day + pl.duration(days=1)).dt.truncate("1w") - pl.duration(days=1)
    raise ValueError(f"interval must be 'day', 'week' or 'month', not {interval!r}")


def period_of(day: dt.date, interval: Interval, week_start: WeekStart = "monday") -> dt.date:
    """The first day of the period holding ``day`` (plain-Python twin of :func:`period_start`)."""
    if interval == "day":
        return day
    if interval == "month":
        return day.replace(day=1)
    offset = day.weekday() if week_start == "monday" else (day.weekday() + 1) % 7
    return day - dt.timedelta(days=offset)


def add_periods(day: dt.date, interval: Interval, count: int) -> dt.date:
    """The period start ``count`` periods after the period starting at ``day``."""
    if interval == "day":
        return day + dt.timedelta(days=count)
    if interval == "week":
        return day + dt.timedelta(weeks=count)
    months = day.year * 12 + day.month - 1 + count
    return dt.date(months // 12, months % 12 + 1, 1)


def period_starts(
    start: dt.date, end: dt.date, interval: Interval, week_start: WeekStart = "monday"
) -> list[dt.date]:
    """Every period start from the period holding ``start`` to the one holding ``end``."""
    first, last = period_of(start, interval, week_start), period_of(end, interval, week_start)
    out: list[dt.date] = []
    current = first
    while current <= last:
        out.append(current)
        current = add_periods(current, interval, 1)
    return out


def utc_bounds(start: dt.date, end: dt.date, tz: str) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants [from, to) covering local calendar days ``start..end`` in ``tz``.

    Used to prune events early (and to push the range into SQL) before local dates are computed.
    """
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    lo = dt.datetime.combine(start, dt.time(), zone).astimezone(dt.UTC)
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    return lo, hi


def check_tz(tz: str) -> None:
    """Raise ValueError when ``tz`` is not an IANA time zone name."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"tz: {tz!r} is not an IANA time zone name (e.g. 'Europe/Berlin')"
        ) from exc
