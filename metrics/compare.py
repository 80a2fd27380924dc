"""Comparing a chart with an earlier period: which range to compute, and how to lay it on the axis.

A PM asks "is this better than last time?" in two ways: against the **previous period** (the same
number of days just before the range) and against **a year before** (the same days last year).
Both are computed by the same metric functions on an earlier range (:func:`earlier`), then moved
forward onto the current dates (:func:`align`) so the two lines share one x axis.

Alignment keeps weekdays where the data is daily: a year before is 364 days back (52 weeks), so
Mondays meet Mondays and the weekly cycle does not show up as a difference. Weekly data moves by
whole weeks (weeks meet weeks), monthly data by whole months. Days of the earlier range before
the first day of data are *missing*, not zero: :func:`align` drops them, and :func:`covered`
says whether anything is left to draw.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import polars as pl

from metrics._common import Interval, check_choice, to_date

Compare = Literal["none", "previous", "year"]
COMPARES: tuple[str, ...] = ("none", "previous", "year")
#: The legend entry of the earlier series.
LABELS: dict[str, str] = {"previous": "Previous period", "year": "A year before"}
#: A year before, for daily and weekly data: 52 weeks, so weekdays line up.
YEAR_DAYS = 364


@dataclass(frozen=True)
class Shift:
    """An earlier range and how far its dates move to land on the current range.

    ``start``/``end`` are the earlier range (inclusive local days, like the sidebar's); an
    earlier date ``d`` is drawn at ``d + days`` days and ``months`` months.
    """

    compare: Compare
    start: dt.date
    end: dt.date
    days: int = 0
    months: int = 0

    @property
    def label(self) -> str:
        """The legend entry: "Previous period" or "A year before"."""
        return LABELS[self.compare]

    def forward(self, day: dt.date) -> dt.date:
        """Where an earlier day is drawn on the current axis."""
        return _add_months(day, self.months) + dt.timedelta(days=self.days)

    def back(self, day: dt.date) -> dt.date:
        """The earlier day drawn at ``day`` (the inverse of :meth:`forward`)."""
        return _add_months(day - dt.timedelta(days=self.days), -self.months)


def earlier(
    start: dt.date | str,
    end: dt.date | str,
    compare: Compare,
    *,
    interval: Interval = "day",
) -> Shift | None:
    """The range to compute for a comparison with ``start``..``end`` (``None`` for "none").

    - ``previous``: the same number of days just before ``start`` (a 90-day range is compared
      with the 90 days before it); weekly data moves by the whole weeks that cover them, monthly
      data by the number of calendar months the range touches, so periods meet periods.
    - ``year``: 364 days back for daily and weekly data (weekdays meet), 12 months for monthly.
    """
    start, end = to_date(start, "start"), to_date(end, "end")
    check_choice("compare", compare, COMPARES)
    check_choice("interval", interval, ("day", "week", "month"))
    if end < start:
        raise ValueError(f"end ({end}) is before start ({start})")
    if compare == "none":
        return None
    days = months = 0
    if compare == "year":
        if interval == "month":
            months = 12
        else:
            days = YEAR_DAYS
    elif interval == "month":
        months = (end.year - start.year) * 12 + end.month - start.month + 1
    else:
        length = (end - start).days + 1
        days = -(-length // 7) * 7 if interval == "week" else length
    shift = Shift(compare, start, end, days, months)
    return Shift(compare, shift.back(start), shift.back(end), days, months)


def align(
    frame: pl.DataFrame,
    shift: Shift,
    *,
    column: str = "period_start",
    first_day: dt.date | None = None,
    interval: Interval = "day",
) -> pl.DataFrame:
    """The earlier series moved onto the current axis: ``column`` moved forward by the shift, the
    earlier date kept as ``earlier_<column>``; periods that end before ``first_day`` (the first
    day with data) are dropped, so missing history is never drawn as zero. The input is not
    changed; the rest of the columns are kept as they are."""
    check_choice("interval", interval, ("day", "week", "month"))
    moved = pl.col(column).dt.offset_by(f"{shift.months}mo") if shift.months else pl.col(column)
    kept = frame.lazy()
    if first_day is not None:
        kept = kept.filter(_period_end(pl.col(column), interval) >= first_day)
    return (
        kept.with_columns(
            pl.col(column).alias(f"earlier_{column}"),
            (moved + pl.duration(days=shift.days)).alias(column),
        )
        .sort(column)
        .collect()
    )


def align_points(
    points: pl.DataFrame,
    shift: Shift,
    *,
    period: Interval = "day",
    first_day: dt.date | None = None,
) -> pl.DataFrame:
    """A KPI's points (``period_start``, ``period_end``, ...) whose period ends inside the earlier
    range, moved onto the current one: ``period_start`` by the shift, ``period_end`` to the end of
    the moved period (a month ends on its own last day); the earlier end is kept as
    ``earlier_period_end``."""
    inside = points.filter(pl.col("period_end").is_between(shift.start, shift.end))
    return (
        align(inside, shift, column="period_start", first_day=first_day, interval=period)
        .with_columns(
            pl.col("period_end").alias("earlier_period_end"),
            _period_end(pl.col("period_start"), period).alias("period_end"),
        )
        .sort("period_end")
    )


def covered(shift: Shift, first_day: dt.date | None, last_day: dt.date | None = None) -> bool:
    """Whether any day of the earlier range has data (``first_day``..``last_day``); unknown
    bounds count as covered."""
    if first_day is not None and shift.end < first_day:
        return False
    return not (last_day is not None and shift.start > last_day)


def value_before(
    series: pl.DataFrame,
    day: dt.date,
    shift: Shift,
    *,
    column: str = "value",
    date_column: str = "period_start",
) -> float | None:
    """The value of ``series`` on the earlier day that lines up with ``day`` (``None`` when the
    series has no such row or its value is missing)."""
    found = series.filter(pl.col(date_column) == shift.back(day)).get_column(column)
    if found.len() == 0 or found[0] is None:
        return None
    return float(found[0])


def change(now: float | None, before: float | None) -> float | None:
    """``now - before``, or ``None`` when either is missing (never a change from zero)."""
    if now is None or before is None:
        return None
    return now - before


def _period_end(start: pl.Expr, interval: Interval) -> pl.Expr:
    if interval == "day":
        return start
    if interval == "week":
        return start + pl.duration(days=6)
    return start.dt.offset_by("1mo") - pl.duration(days=1)


def _add_months(day: dt.date, months: int) -> dt.date:
    if not months:
        return day
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    # The 31st of a shorter month is its last day (31 Mar - 1 month = 28/29 Feb).
    following = dt.date(year + (month == 12), month % 12 + 1, 1)
    return dt.date(year, month, min(day.day, (following - dt.timedelta(days=1)).day))
