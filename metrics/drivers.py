"""What moved a KPI: its change split into volume and rate, and the segments that moved it most.

:func:`explain` compares a KPI's latest complete point with an earlier one and recomputes the KPI
on each segment's events (:mod:`metrics.scorecard`); the rest is pure arithmetic on those numbers.
Two decompositions, both exact:

- **Volume × rate** (Shapley, two factors): a KPI that is a product ``y = v · r`` (weekly buyers
  = active users × share who buy) changes by ``Δy = v₁r₁ − v₀r₀``. The volume effect is
  ``(v₁ − v₀)·(r₀ + r₁)/2`` and the rate effect ``(r₁ − r₀)·(v₀ + v₁)/2``: each factor's change
  valued at the average of the other's two values. They sum to ``Δy`` exactly, are symmetric in
  time and, unlike the log (LMDI) split, stay defined when a factor is zero.
- **Segments** (shift-share): for an additive KPI (a count, revenue) a segment's contribution is
  its own change, ``after − before``. For a rate KPI (retention, conversion, ARPU) it is the change
  of the segment's term in the weighted average, ``(w₁/W₁)·r₁ − (w₀/W₀)·r₀``, with ``w`` the
  segment's denominator (cohort size, entrants, active users) and ``W`` the sum over the
  property's segments.
  When a property's segments partition the KPI's units the contributions sum to the KPI's change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from metrics._common import WeekStart, add_periods, to_date
from metrics.annotations import Annotation, in_window
from metrics.judging import levels, point_at
from metrics.kpi_series import Events
from metrics.scorecard import KpiQuery, coverage, prepared, series_of
from metrics.vision import Vision
from metrics.warehouse import Relation
from metrics.warehouse import targets as sql_targets

#: How far back :func:`explain` compares (daily: 28 days, weekly: 4 weeks, monthly: 3 months).
DRIVER_LOOKBACK: dict[str, int] = {"day": 28, "week": 4, "month": 3}

SEGMENT_SCHEMA: dict[str, pl.DataType] = {
    "property": pl.String(),
    "segment": pl.String(),
    "before": pl.Float64(),
    "after": pl.Float64(),
    "weight_before": pl.Float64(),
    "weight_after": pl.Float64(),
}


@dataclass(frozen=True)
class VolumeRateSplit:
    """A product KPI ``value = volume × rate`` at two points, its change split exactly in two."""

    volume_before: float
    rate_before: float
    volume_after: float
    rate_after: float
    volume_effect: float
    rate_effect: float

    @property
    def before(self) -> float:
        return self.volume_before * self.rate_before

    @property
    def after(self) -> float:
        return self.volume_after * self.rate_after

    @property
    def change(self) -> float:
        """The KPI's change; always equal to ``volume_effect + rate_effect``."""
        return self.after - self.before

    @property
    def main_driver(self) -> str:
        """``"volume"`` or ``"rate"``: the factor whose effect is larger in size."""
        return "volume" if abs(self.volume_effect) >= abs(self.rate_effect) else "rate"


def volume_rate_split(
    *, volume_before: float, rate_before: float, volume_after: float, rate_after: float
) -> VolumeRateSplit:
    """How much of a product KPI's change came from more (or fewer) units, how much from the rate.

    Shapley split of ``v₁r₁ − v₀r₀``: volume effect ``(v₁ − v₀)(r₀ + r₁)/2``, rate effect
    ``(r₁ − r₀)(v₀ + v₁)/2``; they add up to the change exactly.
    """
    volume_effect = (volume_after - volume_before) * (rate_before + rate_after) / 2
    rate_effect = (rate_after - rate_before) * (volume_before + volume_after) / 2
    return VolumeRateSplit(
        volume_before=volume_before,
        rate_before=rate_before,
        volume_after=volume_after,
        rate_after=rate_after,
        volume_effect=volume_effect,
        rate_effect=rate_effect,
    )


def segment_contributions(segments: pl.DataFrame, *, additive: bool) -> pl.DataFrame:
    """Each segment's share in a KPI's change, largest movers first within each property.

    ``segments`` has one row per property and segment value with ``before`` and ``after`` (the KPI
    computed on that segment's events) and, for a rate KPI, ``weight_before`` / ``weight_after``
    (the segment's denominator). Returns the input columns plus ``contribution`` (additive: the
    segment's own change; rate: the change of its term ``(w/W)·r`` in the weighted average) and
    ``share_of_change`` (the contribution over the sum of the property's contributions; null when
    that sum is zero). A segment missing at one point counts as 0 there for an additive KPI, and as
    weight 0 for a rate KPI.
    """
    missing = {"property", "segment", "before", "after"} - set(segments.columns)
    if not additive:
        missing |= {"weight_before", "weight_after"} - set(segments.columns)
    if missing:
        raise ValueError(f"segments: missing columns {sorted(missing)}")
    frame = segments.with_columns(
        pl.col("before", "after").cast(pl.Float64).fill_null(0.0),
    )
    if additive:
        contribution = pl.col("after") - pl.col("before")
    else:
        frame = frame.with_columns(
            pl.col("weight_before", "weight_after").cast(pl.Float64).fill_null(0.0)
        )
        total_before = pl.col("weight_before").sum().over("property")
        total_after = pl.col("weight_after").sum().over("property")
        contribution = (
            pl.col("after") * pl.col("weight_after") / total_after
            - pl.col("before") * pl.col("weight_before") / total_before
        )
    frame = frame.with_columns(contribution.fill_nan(None).fill_null(0.0).alias("contribution"))
    total = pl.col("contribution").sum().over("property")
    return frame.with_columns(
        pl.when(total != 0).then(pl.col("contribution") / total).alias("share_of_change")
    ).sort(
        pl.col("property"),
        pl.col("contribution").abs(),
        pl.col("segment"),
        descending=[False, True, False],
    )


def largest_mover(contributions: pl.DataFrame) -> dict[str, object] | None:
    """The segment, across all properties, with the largest contribution in size (None if empty)."""
    if contributions.height == 0:
        return None
    ranked = contributions.sort(
        pl.col("contribution").abs(),
        pl.col("property"),
        pl.col("segment"),
        descending=[True, False, False],
    )
    return ranked.row(0, named=True)


def notes_in_window(
    annotations: Iterable[Annotation], *, before_end: dt.date, after_end: dt.date, period: str
) -> tuple[Annotation, ...]:
    """What happened while the KPI moved: the annotations dated from the first day of the earlier
    point (its week, its month, or for a daily KPI its 7 days) to the last day of the later one."""
    start = before_end.replace(day=1) if period == "month" else before_end - dt.timedelta(days=6)
    return in_window(annotations, start, after_end)


# --- what drives a KPI, from the events ---------------------------------------------------------


@dataclass(frozen=True)
class Drivers:
    """What moved a KPI between two points: volume vs rate, and the segments that moved it most.

    ``status`` is "ok", "no_data" or "no_history" (fewer than two comparable points); ``reason``
    says why in plain words when it is not "ok".
    """

    kpi: str
    status: str
    reason: str | None
    before_end: dt.date | None
    after_end: dt.date | None
    before: float | None
    after: float | None
    split: VolumeRateSplit | None
    split_labels: tuple[str, str] | None
    segments: pl.DataFrame
    top: dict[str, Any] | None

    @property
    def change(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before


_EMPTY_SEGMENTS = pl.DataFrame(
    schema={**SEGMENT_SCHEMA, "contribution": pl.Float64(), "share_of_change": pl.Float64()}
)


def _segment_values(events: Events, prop: str, max_segments: int) -> list[str] | None:
    """The sorted values of a text property (at most ``max_segments`` + 1); None for no such text
    column. In an engine, the values' type tells text from numbers."""
    if isinstance(events, Relation):
        if events.columns is not None and prop not in events.columns:
            return None
        found = sql_targets.distinct_values(events, prop, max_segments + 1)
        if found.dtype not in (pl.String, pl.Categorical):
            return None
        return sorted(found.cast(pl.String).to_list())
    schema = events.collect_schema()
    if prop not in schema or schema[prop] not in (pl.String, pl.Categorical):
        return None
    values: list[str] = (
        events.select(pl.col(prop).drop_nulls().cast(pl.String).unique().sort())
        .head(max_segments + 1)
        .collect()
        .get_column(prop)
        .to_list()
    )
    return values


def explain(
    vision: Vision,
    kpi_id: str,
    events: pl.DataFrame | pl.LazyFrame | Relation,
    *,
    today: dt.date,
    tz: str = "UTC",
    week_start: WeekStart = "monday",
    assignments: pl.DataFrame | Relation | None = None,
    properties: Sequence[str] = ("platform", "country"),
    lookback: int | None = None,
    max_segments: int = 12,
) -> Drivers:
    """Why a KPI moved: its change over the last periods, split into volume and rate, by segment.

    Compares the latest complete point with the one ``lookback`` periods earlier (default
    :data:`DRIVER_LOOKBACK`: 4 weeks, 3 months, or for a daily KPI the 7-day average 28 days
    earlier; less when the history is shorter). The split applies where the KPI is a product
    (weekly buyers = active users × share who buy; revenue = payers × revenue per payer); the
    segments are each value of ``properties`` (string columns with at most ``max_segments``
    values), the KPI recomputed on that segment's events.
    """
    query = KpiQuery.build(
        vision.kpi(kpi_id), today=to_date(today, "today"), tz=tz, week_start=week_start
    )
    return explain_of(
        events,
        query,
        assignments=assignments,
        properties=properties,
        lookback=lookback,
        max_segments=max_segments,
    )


def explain_of(
    events: pl.DataFrame | pl.LazyFrame | Relation,
    query: KpiQuery,
    *,
    assignments: pl.DataFrame | Relation | None = None,
    properties: Sequence[str] = ("platform", "country"),
    lookback: int | None = None,
    max_segments: int = 12,
) -> Drivers:
    """Why the query's KPI moved (see :func:`explain`)."""
    kpi, period = query.kpi, query.period
    lazy = prepared(events, assignments)
    covered = coverage(lazy, query.today, query.tz)
    series, why = series_of(lazy, query, covered, assignments)
    points = levels(series, period).filter(pl.col("level").is_not_null())

    def empty(status: str, reason: str) -> Drivers:
        return Drivers(
            kpi.id, status, reason, None, None, None, None, None, None, _EMPTY_SEGMENTS, None
        )

    if points.height == 0:
        return empty("no_data", why or "no complete period with data")
    back = lookback if lookback is not None else DRIVER_LOOKBACK[period]
    if back < 1:
        raise ValueError(f"lookback must be at least 1 period, not {back}")
    after_end: dt.date = points.item(-1, "period_end")
    after_start: dt.date = points.item(-1, "period_start")
    wanted = add_periods(after_start, period, -back)
    earlier = points.filter(pl.col("period_start") >= wanted).filter(
        pl.col("period_start") < after_start
    )
    if earlier.height == 0:
        return empty("no_history", "only one complete point: nothing to compare with yet")
    before_end: dt.date = earlier.item(0, "period_end")
    after = point_at(series, period, after_end)
    before = point_at(series, period, before_end)
    if after is None or before is None:
        return empty("no_history", "not enough complete periods to compare")

    split = None
    labels = kpi.spec.split(kpi.params)
    if (
        labels is not None
        and before["volume"] is not None
        and after["volume"] is not None
        and before["rate"] is not None
        and after["rate"] is not None
    ):
        split = volume_rate_split(
            volume_before=before["volume"],
            rate_before=before["rate"],
            volume_after=after["volume"],
            rate_after=after["rate"],
        )

    rows: list[dict[str, Any]] = []
    filtered = {column for column, _ in query.scope.filters}
    for prop in properties:
        if prop in filtered:
            continue
        values = _segment_values(lazy, prop, max_segments)
        if not values or len(values) > max_segments:
            continue
        for segment in values:
            part, _ = series_of(lazy, query.narrowed({prop: segment}), covered, assignments)
            seg_before = point_at(part, period, before_end) if part.height else None
            seg_after = point_at(part, period, after_end) if part.height else None
            rows.append(
                {
                    "property": prop,
                    "segment": segment,
                    "before": seg_before["value"] if seg_before else None,
                    "after": seg_after["value"] if seg_after else None,
                    "weight_before": seg_before["weight"] if seg_before else None,
                    "weight_after": seg_after["weight"] if seg_after else None,
                }
            )
    segments = _EMPTY_SEGMENTS
    top = None
    if rows:
        segments = segment_contributions(
            pl.DataFrame(rows, schema=SEGMENT_SCHEMA), additive=kpi.spec.additive
        )
        top = largest_mover(segments)
    return Drivers(
        kpi=kpi.id,
        status="ok",
        reason=None,
        before_end=before_end,
        after_end=after_end,
        before=before["value"],
        after=after["value"],
        split=split,
        split_labels=labels if split is not None else None,
        segments=segments,
        top=top,
    )
