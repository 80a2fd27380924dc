"""The scorecard: every KPI of the vision computed from the events and judged (docs/targets.md).

One KPI's computation is a :class:`KpiQuery`: the KPI (its kind, parameters and filters), the
:class:`~metrics.scope.Scope` it is computed in (reporting zone and property filters: the KPI's own,
and a segment's when :func:`metrics.drivers.explain` recomputes it on one) and the day it is
judged as of. Its series comes from its kind (:mod:`metrics.kinds`) over the history the data has
(at most :data:`HISTORY_DAYS`, up to the last complete day: the day before ``today`` or the data's
last day); :func:`metrics.judging.assess` judges it.

Expected data situations are results: a KPI whose event is absent from the data, whose filter names
a missing property, or whose periods are all incomplete comes back as ``no_data`` with a ``reason``
in plain words. ``today`` is always a parameter; nothing here reads the clock.

Events may be a :class:`~metrics.warehouse.Relation` (docs/warehouse.md): each KPI's series then
comes from the families' functions computing in the engine, and what is read from the events
itself (coverage, filters, needed events, event counts, funnel entry periods, exposures, segments)
is compiled by :mod:`metrics.warehouse.targets`; the frames are the same as in Polars. A KPI kind
whose family does not compute in SQL yet raises :class:`NotPushedDown`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from metrics._common import (
    Interval,
    WeekStart,
    as_lazy,
    check_choice,
    check_tz,
    event_expr,
    local_date,
    period_of,
    to_date,
)
from metrics.judging import assess, levels
from metrics.kinds import MetricSpec, not_pushed_down
from metrics.kpi_series import Events, NoData, SeriesContext, empty_series
from metrics.scope import FilterItems, Scope, normalise_filters
from metrics.vision import Kpi, Vision
from metrics.warehouse import Relation
from metrics.warehouse import targets as sql_targets

#: At most this many days of history are computed for a KPI (trend, sparkline, drivers).
HISTORY_DAYS = 400


@dataclass(frozen=True)
class KpiQuery:
    """One KPI's computation: which KPI, over which events and in which zone, as of which day.

    ``scope`` carries the reporting zone and the property filters the events must match: the KPI's
    own (``filters`` in the vision file) and any narrower ones (a segment). Its dates stay open: a
    KPI's history is the data's, at most :data:`HISTORY_DAYS`, up to the day before ``today``.
    Frozen and hashable: the app's cached adapters use it as their key.
    """

    kpi: Kpi
    scope: Scope
    today: dt.date
    week_start: WeekStart = "monday"

    @classmethod
    def build(
        cls,
        kpi: Kpi,
        *,
        today: dt.date | dt.datetime | str,
        tz: str = "UTC",
        week_start: WeekStart = "monday",
        filters: Mapping[str, Any] | FilterItems | None = None,
    ) -> KpiQuery:
        """A checked query; ``filters`` narrow the KPI's own (``ValueError`` names a property
        the KPI already filters, or the argument that is wrong)."""
        check_choice("week_start", week_start, ("monday", "sunday"))
        narrower = dict(normalise_filters(filters))
        clash = sorted(set(narrower) & {column for column, _ in kpi.filters})
        if clash:
            raise ValueError(
                f"filters: KPI {kpi.id!r} already filters {', '.join(map(repr, clash))}"
            )
        scope = Scope.build(tz=tz, filters={**dict(kpi.filters), **narrower})
        return cls(kpi, scope, to_date(today, "today"), week_start)

    def narrowed(self, filters: Mapping[str, Any]) -> KpiQuery:
        """The same KPI on the events that also match ``filters`` (a segment)."""
        clash = sorted(set(filters) & {column for column, _ in self.scope.filters})
        if clash:
            raise ValueError(f"filters: already filtered on {', '.join(map(repr, clash))}")
        return dataclasses.replace(
            self, scope=self.scope.with_filters({**dict(self.scope.filters), **filters})
        )

    @property
    def tz(self) -> str:
        return self.scope.tz

    @property
    def period(self) -> Interval:
        return self.kpi.period

    @property
    def spec(self) -> MetricSpec[Any]:
        return self.kpi.spec


class NotPushedDown(NotImplementedError):
    """A KPI kind asked of a relation whose family cannot compute in the engine yet."""


def _check_pushed_down(kpi: Kpi) -> None:
    missing = not_pushed_down(kpi.metric)
    if missing:
        raise NotPushedDown(
            f"KPI {kpi.id!r}: {kpi.metric} KPIs cannot be computed in the engine yet "
            f"({', '.join(missing)} has no SQL form); load the events into Polars for it"
        )


# --- the events and the days a KPI is computed on ------------------------------------------------


def prepared(
    events: pl.DataFrame | pl.LazyFrame | Relation,
    assignments: pl.DataFrame | Relation | None,
) -> Events:
    """A relation as it is; a frame in the canonical types (``as_lazy``).

    Events and assignments are both frames or both relations (on one connection): a TypeError
    otherwise, since one side would have to travel to the other.
    """
    if assignments is not None and isinstance(events, Relation) != isinstance(
        assignments, Relation
    ):
        raise TypeError(
            "assignments: give events and assignments both as Polars frames or both as "
            "relations on one connection (connectors.warehouse), not one of each"
        )
    return events if isinstance(events, Relation) else as_lazy(events)


Coverage = tuple[dt.date, dt.date] | None


def coverage(events: Events, today: dt.date, tz: str) -> Coverage:
    """First day with data and the last complete day (at most the day before ``today``), or None."""
    if isinstance(events, Relation):
        found = sql_targets.coverage(events, tz)
        lo, hi = found if found is not None else (None, None)
    else:
        bounds = events.select(
            local_date(tz).min().alias("lo"),
            local_date(tz).max().alias("hi"),
        ).collect()
        lo, hi = bounds.row(0)
    if lo is None or hi is None:
        return None
    last = min(hi, today - dt.timedelta(days=1))
    if last < lo:
        return None
    return lo, last


def _need_expr(need: sql_targets.Need) -> pl.Expr:
    """The Polars twin of ``metrics.warehouse.targets.need_condition``."""
    if need[0] == "event":
        return event_expr(need[1])
    if need[0] == "revenue":
        return pl.col("revenue").is_not_null()
    return pl.lit(True)


def series_of(
    events: Events,
    query: KpiQuery,
    covered: Coverage,
    assignments: pl.DataFrame | Relation | None,
) -> tuple[pl.DataFrame, str | None]:
    """The KPI's series on prepared events and, when it is empty, the reason in plain words."""
    kpi = query.kpi
    in_engine = isinstance(events, Relation)
    if in_engine:
        _check_pushed_down(kpi)
    if covered is None:
        return empty_series(), "no data before today in the loaded source"
    first_day, last_day = covered
    filters = query.scope.filter_mapping

    def has(column: str) -> bool:
        if isinstance(events, Relation):
            return events.has(column)
        return column in events.collect_schema().names()

    missing = sorted(c for c in set(filters) if not has(c))
    if missing:
        return empty_series(), f"the data has no {', '.join(map(repr, missing))} property"
    need, why = kpi.params.need()
    if need == ("revenue",) and not has("revenue"):
        return empty_series(), "the data has no revenue column"
    scoped: Events
    try:
        if isinstance(events, Relation):
            scoped = sql_targets.scoped(events, filters)
            found = sql_targets.has_any(scoped, need)
        else:
            scoped = query.scope.keep(events)
            found = scoped.filter(_need_expr(need)).select(pl.len()).collect().item() > 0
        if not found:
            return empty_series(), why + (" for these filters" if filters else "")
        start = period_of(
            max(first_day, last_day - dt.timedelta(days=HISTORY_DAYS)), kpi.period, query.week_start
        )
        ctx = SeriesContext(start, first_day, last_day, query.tz, query.week_start, assignments)
        series = kpi.spec.compute(scoped, kpi.params, ctx)
    except NoData as exc:
        return empty_series(), str(exc)
    except NotImplementedError as exc:
        if in_engine:
            raise  # an engine that cannot compute a KPI says so; it is never a quiet no_data
        return empty_series(), f"could not be computed ({type(exc).__name__}: {exc})"
    except (ValueError, pl.exceptions.PolarsError) as exc:
        # A KPI the data cannot answer (e.g. a filter value of the wrong type) must not break the
        # whole scorecard: it is reported on its own row.
        return empty_series(), f"could not be computed: {exc}"
    except Exception as exc:  # noqa: BLE001 - one KPI's failure must not take the scorecard down
        return empty_series(), f"could not be computed ({type(exc).__name__}: {exc})"
    return series, None


def kpi_series_of(
    events: pl.DataFrame | pl.LazyFrame | Relation,
    query: KpiQuery,
    *,
    assignments: pl.DataFrame | Relation | None = None,
) -> pl.DataFrame:
    """A KPI's value in every period of its history (see :func:`kpi_series`), for a query."""
    lazy = prepared(events, assignments)
    series, _ = series_of(lazy, query, coverage(lazy, query.today, query.tz), assignments)
    return series


def kpi_series(
    kpi: Kpi,
    events: pl.DataFrame | pl.LazyFrame | Relation,
    *,
    today: dt.date,
    tz: str = "UTC",
    week_start: WeekStart = "monday",
    assignments: pl.DataFrame | Relation | None = None,
) -> pl.DataFrame:
    """A KPI's value in every period of its history, and whether each period is complete.

    Columns: ``period_start``, ``value`` (null where there is nothing to measure), ``weight`` (a
    rate's denominator), ``volume`` and ``rate`` (the two factors when value = volume × rate),
    ``complete``. Raises nothing for missing data: an empty result means no data (see
    :func:`evaluate`'s ``reason`` for why).
    """
    query = KpiQuery.build(kpi, today=today, tz=tz, week_start=week_start)
    return kpi_series_of(events, query, assignments=assignments)


# --- the scorecard -------------------------------------------------------------------------------

SCORECARD_SCHEMA: dict[str, pl.DataType] = {
    "kpi": pl.String(),
    "name": pl.String(),
    "metric": pl.String(),
    "north_star": pl.Boolean(),
    "value": pl.Float64(),
    "target": pl.Float64(),
    "previous": pl.Float64(),
    "delta": pl.Float64(),
    "projected": pl.Float64(),
    "trend": pl.Float64(),
    "needed": pl.Float64(),
    "periods_left": pl.Float64(),
    "status": pl.String(),
    "reason": pl.String(),
    "direction": pl.String(),
    "unit": pl.String(),
    "period": pl.String(),
    "as_of": pl.Date(),
    "deadline": pl.Date(),
    "owner": pl.String(),
    "description": pl.String(),
}

SPARK_SCHEMA: dict[str, pl.DataType] = {
    "kpi": pl.String(),
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "value": pl.Float64(),
    "level": pl.Float64(),
}


@dataclass(frozen=True)
class Scorecard:
    """Every KPI judged (``table``, one row each) and the points behind it (``series``)."""

    table: pl.DataFrame
    series: pl.DataFrame
    today: dt.date


def _row(query: KpiQuery, series: pl.DataFrame, why: str | None) -> dict[str, Any]:
    """One KPI's scorecard row: its series judged against its target."""
    kpi = query.kpi
    result = assess(
        series,
        target=kpi.target,
        direction=kpi.direction,
        deadline=kpi.deadline,
        today=query.today,
        period=kpi.period,
        bounds=kpi.spec.bounds,
        no_data_reason=why,
        trends=kpi.spec.trends,
    )
    delta = None
    if result.value is not None and result.previous is not None:
        delta = result.value - result.previous
    return {
        "kpi": kpi.id,
        "name": kpi.name,
        "metric": kpi.metric,
        "value": result.value,
        "target": kpi.target,
        "previous": result.previous,
        "delta": delta,
        "projected": result.projected,
        "trend": result.trend,
        "needed": result.needed,
        "periods_left": result.periods_left,
        "status": result.status,
        "reason": result.reason,
        "direction": kpi.direction,
        "unit": kpi.unit,
        "period": kpi.period,
        "as_of": result.as_of,
        "deadline": kpi.deadline,
        "owner": kpi.owner,
        "description": kpi.description,
    }


def scorecard(
    vision: Vision,
    events: pl.DataFrame | pl.LazyFrame | Relation,
    *,
    today: dt.date,
    tz: str = "UTC",
    week_start: WeekStart = "monday",
    assignments: pl.DataFrame | Relation | None = None,
) -> Scorecard:
    """Every KPI of the vision judged against its target as of ``today``, with its series.

    ``events`` (and ``assignments``) may be relations: the KPIs are then computed in the engine.
    """
    today = to_date(today, "today")
    check_tz(tz)
    check_choice("week_start", week_start, ("monday", "sunday"))
    queries = [
        KpiQuery.build(kpi, today=today, tz=tz, week_start=week_start) for kpi in vision.kpis
    ]
    lazy = prepared(events, assignments)
    covered = coverage(lazy, today, tz)
    rows: list[dict[str, Any]] = []
    sparks: list[pl.DataFrame] = [pl.DataFrame(schema=SPARK_SCHEMA)]
    for query in queries:
        series, why = series_of(lazy, query, covered, assignments)
        rows.append({**_row(query, series, why), "north_star": query.kpi.id == vision.north_star})
        points = levels(series, query.period).with_columns(pl.lit(query.kpi.id).alias("kpi"))
        sparks.append(points.select(list(SPARK_SCHEMA)).cast(pl.Schema(SPARK_SCHEMA)))
    table = pl.DataFrame(rows, schema=SCORECARD_SCHEMA)
    return Scorecard(table=table, series=pl.concat(sparks, how="vertical"), today=today)


def evaluate(
    vision: Vision,
    events: pl.DataFrame | pl.LazyFrame | Relation,
    *,
    today: dt.date,
    tz: str = "UTC",
    week_start: WeekStart = "monday",
    assignments: pl.DataFrame | Relation | None = None,
) -> pl.DataFrame:
    """How each KPI stands against its target as of ``today``: one row per KPI, in the file's order.

    Columns: ``kpi`` (id), ``name``, ``metric``, ``north_star``, ``value`` (latest complete
    period; daily KPIs: 7-day average), ``target``, ``previous`` (a period earlier), ``delta``,
    ``projected`` (at the deadline), ``trend`` (Theil–Sen slope per period), ``needed`` (change per
    period that would reach the target on the deadline), ``periods_left``, ``status`` ("met",
    "on_track", "at_risk", "off_track", "no_data"), ``reason`` (plain words for no data, a flat
    trend or a passed deadline),
    ``direction``, ``unit``, ``period``, ``as_of`` (last day of the latest complete period),
    ``deadline``, ``owner``, ``description``.
    Missing data is ``no_data`` with nulls, never zero. The series are in :func:`scorecard`.
    ``events`` (and ``assignments``) may be relations in an engine (docs/warehouse.md): same frame.
    """
    return scorecard(
        vision, events, today=today, tz=tz, week_start=week_start, assignments=assignments
    ).table
