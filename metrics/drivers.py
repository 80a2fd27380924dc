"""What moved a KPI: its change split into volume and rate, and the segments that moved it most.

Pure arithmetic on numbers the KPI evaluation already has (``metrics.targets.explain`` gathers them
from the events). Two decompositions, both exact:

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
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from metrics.annotations import Annotation, in_window

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
