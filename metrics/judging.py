"""Judging a KPI's series against its target: value, trend, projection and status (docs/targets.md).

Pure arithmetic on a series (``period_start``, ``value``, ``complete``; :mod:`metrics.kpi_series`
makes them from events):

- **value**: the KPI over the latest *complete* period. Daily KPIs are judged on their 7-day
  average (the "level"), so a quiet Sunday is not a miss; weekly and monthly KPIs on the period's
  own value.
- **previous**: the same a period earlier (for a daily KPI, the 7-day average a week earlier, so a
  Monday is compared with a Monday).
- **trend**: the Theil–Sen slope (median of pairwise slopes; robust to one odd week) over the last
  :data:`TREND_POINTS` complete points, in units per period; fewer than :data:`MIN_TREND_POINTS`
  points leave the trend unknown and the projection flat.
- **projected**: the value carried to the deadline at the trend's pace, ``value + trend × periods
  left`` (a period's value sits at its last day), clipped to the metric's range (a rate stays in
  [0, 1], a count ≥ 0). So a KPI is on track exactly when its trend is at least the needed pace.
  A running estimate (an experiment's lift) is never extrapolated: its drift is the estimate
  converging, not the product moving, so the trend is unknown and the projection flat.
- **needed**: the change per period from the current value that would reach the target exactly on
  the deadline.
- **status**: ``met`` (the value is already at or beyond the target in the good direction),
  ``on_track`` (the projection reaches it by the deadline), ``at_risk`` (the projection falls short
  by less than :data:`AT_RISK_MARGIN` = 10% of the target's size), ``off_track`` (short by more, or
  the deadline has passed unmet), ``no_data`` (no complete period with data — never shown as zero).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import polars as pl

from metrics._common import Interval, add_periods, check_choice
from metrics.vision import DIRECTIONS, Direction

Status = Literal["met", "on_track", "at_risk", "off_track", "no_data"]

STATUSES: tuple[str, ...] = ("met", "on_track", "at_risk", "off_track", "no_data")

#: A projection that misses the target by less than this share of the target's size is "at risk".
AT_RISK_MARGIN = 0.10
#: How many complete points the trend is fitted on (daily KPIs: 28 days of 7-day averages).
TREND_POINTS: dict[str, int] = {"day": 28, "week": 8, "month": 6}
MIN_TREND_POINTS = 3
#: A daily KPI is judged on the mean of this many days, to take out the weekly cycle.
SMOOTHING_DAYS = 7
#: Length of a period in days, to place dates on the period axis (months: see _position).
PERIOD_DAYS: dict[str, float] = {"day": 1.0, "week": 7.0, "month": 365.25 / 12}


@dataclass(frozen=True)
class Assessment:
    """A KPI's standing: where it is, where it is heading, and whether that reaches the target."""

    value: float | None
    previous: float | None
    projected: float | None
    trend: float | None
    needed: float | None
    periods_left: float | None
    status: Status
    reason: str | None
    as_of: dt.date | None  # the last day of the latest complete period
    points: int  # complete points the trend was fitted on


def theil_sen(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Slope and intercept of the Theil–Sen line: median pairwise slope, median residual."""
    if len(x) != len(y) or len(x) < 2:
        raise ValueError("x and y: need two or more points of equal count")
    slopes = sorted(
        (y[j] - y[i]) / (x[j] - x[i])
        for i in range(len(x))
        for j in range(i + 1, len(x))
        if x[j] != x[i]
    )
    if not slopes:
        raise ValueError("x: needs at least two distinct values")
    slope = _median(slopes)
    intercept = _median([yi - slope * xi for xi, yi in zip(x, y, strict=True)])
    return slope, intercept


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _position(day: dt.date, period: Interval) -> float:
    """Where the end of ``day`` sits on the axis of periods (months count as equal steps)."""
    if period == "month":
        length = (add_periods(day.replace(day=1), "month", 1) - day.replace(day=1)).days
        return day.year * 12 + day.month - 1 + day.day / length
    return day.toordinal() / PERIOD_DAYS[period]


def levels(series: pl.DataFrame, period: Interval) -> pl.DataFrame:
    """The points a KPI is judged on: complete periods, with ``period_end`` and ``level``.

    For daily KPIs the level is the mean of the last :data:`SMOOTHING_DAYS` complete days (null
    until a full week is there, or when any of those days has no value); otherwise it is the value
    itself.
    """
    ends = {
        "day": pl.col("period_start"),
        "week": pl.col("period_start") + pl.duration(days=6),
        "month": pl.col("period_start").dt.month_end(),
    }
    complete = (
        series.filter(pl.col("complete"))
        .sort("period_start")
        .with_columns(ends[period].alias("period_end"))
    )
    if period == "day":
        # Complete days are consecutive, so a row window is a calendar window.
        level = pl.col("value").rolling_mean(SMOOTHING_DAYS, min_samples=SMOOTHING_DAYS)
    else:
        level = pl.col("value")
    return complete.with_columns(level.alias("level"))


def assess(
    series: pl.DataFrame,
    *,
    target: float,
    direction: Direction,
    deadline: dt.date,
    today: dt.date,
    period: Interval,
    bounds: tuple[float | None, float | None] = (None, None),
    no_data_reason: str | None = None,
    trends: bool = True,
) -> Assessment:
    """Judge one KPI's series (``period_start``, ``value``, ``complete``) against its target.

    See the module docstring for the method; ``bounds`` clip the projection (a rate's [0, 1]);
    ``trends=False`` (a running estimate) leaves the trend unknown and the projection flat.
    """
    check_choice("direction", direction, DIRECTIONS)
    check_choice("period", period, PERIOD_DAYS)
    points = levels(series, period).filter(pl.col("level").is_not_null())
    if points.height == 0:
        why = no_data_reason or f"no complete {period} with data before {today.isoformat()}"
        return Assessment(None, None, None, None, None, None, "no_data", why, None, 0)

    last = points.row(-1, named=True)
    value: float = last["level"]
    as_of: dt.date = last["period_end"]
    lag = SMOOTHING_DAYS if period == "day" else 1
    previous_start = add_periods(last["period_start"], period, -lag)
    previous_rows = points.filter(pl.col("period_start") == previous_start)
    previous = previous_rows.item(0, "level") if previous_rows.height else None

    window = points.tail(TREND_POINTS[period])
    origin = _position(as_of, period)
    x = [_position(day, period) - origin for day in window.get_column("period_end")]
    y = window.get_column("level").to_list()
    horizon = _position(deadline, period) - origin
    trend: float | None = None
    if trends and len(y) >= MIN_TREND_POINTS:
        trend, _ = theil_sen(x, y)
    # From where the KPI stands now, at the recent pace: on track exactly when trend >= needed.
    ahead = value + (trend or 0.0) * max(horizon, 0.0)
    lower, upper = bounds
    if lower is not None:
        ahead = max(lower, ahead)
    if upper is not None:
        ahead = min(upper, ahead)

    sign = 1.0 if direction == "up" else -1.0
    met = sign * (value - target) >= 0
    passed = deadline < today
    needed = None if passed or horizon <= 0 else (target - value) / horizon
    projected = value if passed else ahead
    reason: str | None = None
    if trends and len(y) < MIN_TREND_POINTS and not met:
        reason = (
            f"only {len(y)} complete point{'s' if len(y) != 1 else ''}: the trend is taken as flat"
        )
    if met:
        status: Status = "met"
    elif passed:
        status = "off_track"
        reason = f"the deadline ({deadline.isoformat()}) has passed without reaching the target"
    elif sign * (projected - target) >= 0:
        status = "on_track"
    else:
        shortfall = sign * (target - projected)
        base = abs(target) if target != 0 else abs(value)
        status = "at_risk" if shortfall < AT_RISK_MARGIN * base else "off_track"
    return Assessment(
        value=value,
        previous=previous,
        projected=projected,
        trend=trend,
        needed=needed,
        periods_left=None if passed else horizon,
        status=status,
        reason=reason,
        as_of=as_of,
        points=len(y),
    )


def point_at(
    series: pl.DataFrame, period: Interval, end: dt.date
) -> dict[str, float | None] | None:
    """The KPI at the point ending on ``end``: a period, or (daily KPIs) the 7 days up to it.

    ``value``, ``weight`` and ``volume`` are their means over those days and ``rate`` is value over
    volume; None when the point is incomplete or has no value.
    """
    span = SMOOTHING_DAYS if period == "day" else 1
    rows = levels(series, period).filter(pl.col("period_end") <= end).tail(span)
    if rows.height < span or rows.get_column("period_end").max() != end:
        return None
    means = rows.select(pl.col("value", "weight", "volume").mean()).row(0, named=True)
    if means["value"] is None:
        return None
    volume = means["volume"]
    rate = means["value"] / volume if volume else None
    return {"value": means["value"], "weight": means["weight"], "volume": volume, "rate": rate}
