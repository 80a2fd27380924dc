"""What the KPI family reads from the events itself, computed in the engine.

A KPI's series comes from the families' public functions, which run in the engine by themselves
when given a relation. The little that the KPI family (``metrics.targets``) does on the events
directly lives here, each the twin of one Polars step in ``metrics/scorecard.py``,
``metrics/kpi_series.py`` or ``metrics/drivers.py``, so that no events travel:

- the data's coverage (first and last local day with events);
- a KPI's scope (its filters, or a segment in ``explain``), and an experiment's exposures: derived
  relations whose SQL carries its values as bound parameters (``Relation.params``);
- whether the events a KPI cannot do without exist at all;
- per-period event counts (``event_count``), on the same :class:`EngagementQuery` rows as
  ``active_users`` (``metrics.warehouse.engagement.matching_days``);
- the funnel KPI's entry-period tag, a column added in SQL (the period *number*; targets turns it
  back into the period's first day);
- the distinct values of a column (segments in ``explain``, an experiment's arms), at most a few.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import polars as pl

from metrics.warehouse.engagement import matching_days
from metrics.warehouse.parts import (
    date_of,
    day_of,
    event_condition,
    filter_condition,
    local_us,
    period_of_day,
    source,
)
from metrics.warehouse.relation import Plan, Relation, Sql, run

#: What a KPI needs to find in its events: ("event", names), ("revenue",) or ("any",).
Need = tuple[Any, ...]


def derived(
    relation: Relation,
    build: Callable[[Sql, str], str],
    columns: Sequence[str] | None,
    **changes: Any,
) -> Relation:
    """A relation whose rows are ``build(sql, source)``: a SELECT over the relation's rows.

    Values bound while building stay bound (they travel in ``params``, never in the text).
    """
    sql = Sql(relation)
    text = build(sql, source(sql))
    return dataclasses.replace(
        relation,
        source=text,
        columns=None if columns is None else tuple(columns),
        params=tuple(sql.params.items()),
        **changes,
    )


def scoped(relation: Relation, filters: Mapping[str, Any]) -> Relation:
    """The relation's events that match a KPI's filters (the twin of
    ``events.filter(filter_expr(filters))``: ``parts.filter_condition``)."""
    if not filters:
        return relation

    def build(sql: Sql, src: str) -> str:
        return f"SELECT * FROM {src} AS e WHERE {filter_condition(sql, filters)}"

    return derived(relation, build, relation.columns)


def coverage(relation: Relation, tz: str) -> tuple[dt.date, dt.date] | None:
    """The first and last local day with events (``None`` when there are none)."""
    found: tuple[dt.date, dt.date] | None = run(relation, coverage_plan(relation, tz))
    return found


def coverage_plan(relation: Relation, tz: str) -> Plan:
    """One row: the smallest and largest local day number."""
    sql = Sql(relation)
    d = sql.d
    day = day_of(d, local_us(d, sql.q("ts_us"), tz))
    text = (
        f"SELECT {d.to_bigint('MIN(day)')} AS lo, {d.to_bigint('MAX(day)')} AS hi "
        f"FROM (SELECT {day} AS day FROM {source(sql)} AS e) AS days"
    )

    def finish(frames: list[pl.DataFrame]) -> tuple[dt.date, dt.date] | None:
        lo, hi = frames[0].row(0) if frames[0].height else (None, None)
        if lo is None or hi is None:
            return None
        return date_of(int(lo)), date_of(int(hi))

    return Plan((sql.statement(text),), finish)


def need_condition(sql: Sql, need: Need) -> str:
    """The SQL of what a KPI needs (its parameters' ``need()``, ``metrics/kpi_params.py``)."""
    if need[0] == "event":
        return event_condition(sql, need[1])
    if need[0] == "revenue":
        return f"{sql.q('revenue')} IS NOT NULL"
    return "1 = 1"


def has_any(relation: Relation, need: Need) -> bool:
    """Whether at least one event matches ``need``."""
    found: bool = run(relation, has_any_plan(relation, need))
    return found


def has_any_plan(relation: Relation, need: Need) -> Plan:
    """One row: 1 when an event matches ``need``, else 0 (the engine may stop at the first)."""
    sql = Sql(relation)
    inner = sql.d.limit(
        f"SELECT 1 AS one FROM {source(sql)} AS e WHERE {need_condition(sql, need)}", 1
    )
    text = f"SELECT {sql.d.to_bigint('COUNT(*)')} AS n FROM ({inner}) AS found"
    return Plan((sql.statement(text),), lambda frames: bool(frames[0].item(0, "n")))


def period_counts(relation: Relation, query: Any) -> pl.DataFrame:
    """Events matching ``query`` per period of its range: ``period_start``, ``value`` (Int64)."""
    counted: pl.DataFrame = run(relation, period_counts_plan(relation, query))
    return counted


def period_counts_plan(relation: Relation, query: Any) -> Plan:
    """One row per period with events: its number and the count of events.

    ``query`` is an ``EngagementQuery``; the rows are those ``active_users`` counts users of.
    """
    sql = Sql(relation)
    rows = matching_days(sql, query, query.start, query.end, [])
    period = period_of_day(sql.d, "day", query.interval, query.week_start)
    text = (
        f"SELECT {sql.d.to_bigint(period)} AS period, {sql.d.to_bigint('COUNT(*)')} AS value "
        f"FROM ({rows}) AS m GROUP BY {period}"
    )

    def finish(frames: list[pl.DataFrame]) -> pl.DataFrame:
        found = frames[0]
        return pl.DataFrame(
            {
                "period_start": [query.first_day(int(n)) for n in found.get_column("period")],
                "value": found.get_column("value").cast(pl.Int64),
            },
            schema={"period_start": pl.Date(), "value": pl.Int64()},
        )

    return Plan((sql.statement(text),), finish)


def with_period(relation: Relation, name: str, interval: str, week_start: str, tz: str) -> Relation:
    """The events with a column ``name``: the number of the local period each happened in."""
    columns = None if relation.columns is None else (*relation.columns, name)

    def build(sql: Sql, src: str) -> str:
        d = sql.d
        day = day_of(d, local_us(d, sql.q("ts_us"), tz))
        number = d.to_bigint(period_of_day(d, day, interval, week_start))
        return f"SELECT e.*, {number} AS {sql.q(name)} FROM {src} AS e"

    return derived(relation, build, columns)


def exposures(relation: Relation, exposure_event: str, experiment: str) -> Relation:
    """An experiment's assignments read from its exposure events (``user_id``, ``experiment``,
    ``variant``, ``ts_us``), the twin of the Polars exposures in ``metrics/kpi_series.py``."""
    q_cols = ("user_id", "experiment", "variant", "ts_us")

    def build(sql: Sql, src: str) -> str:
        q = sql.q
        return (
            f"SELECT {', '.join(q(c) for c in q_cols)} FROM {src} AS e "
            f"WHERE {q('event')} = {sql.value(exposure_event)} "
            f"AND {q('experiment')} = {sql.value(experiment)}"
        )

    return derived(relation, build, q_cols, kind="assignments")


def of_experiment(assignments: Relation, experiment: str) -> Relation:
    """The assignments of one experiment."""

    def build(sql: Sql, src: str) -> str:
        return f"SELECT * FROM {src} AS a WHERE {sql.q('experiment')} = {sql.value(experiment)}"

    return derived(assignments, build, assignments.columns)


def distinct_values(relation: Relation, column: str, limit: int | None = None) -> pl.Series:
    """The distinct non-null values of ``column`` (at most ``limit``), in no particular order.

    The result keeps the engine's type for the column (a text column comes back as String),
    which is how ``explain`` tells a text property from a number.
    """
    values: pl.Series = run(relation, distinct_values_plan(relation, column, limit))
    return values


def distinct_values_plan(relation: Relation, column: str, limit: int | None = None) -> Plan:
    """At most ``limit`` rows: the distinct non-null values of ``column``."""
    sql = Sql(relation)
    col = sql.q(column)
    text = f"SELECT DISTINCT {col} AS value FROM {source(sql)} AS e WHERE {col} IS NOT NULL"
    if limit is not None:
        text = sql.d.limit(text, limit)
    return Plan((sql.statement(text),), lambda frames: frames[0].get_column("value"))


def variants(relation: Relation) -> list[Any]:
    """Every distinct ``variant`` of an assignments relation, a missing one included."""
    found: list[Any] = run(relation, variants_plan(relation))
    return found


def variants_plan(relation: Relation) -> Plan:
    """One row per distinct ``variant`` (the experiment's arms: a handful)."""
    sql = Sql(relation)
    text = f"SELECT DISTINCT {sql.q('variant')} AS variant FROM {source(sql)} AS a"
    return Plan((sql.statement(text),), lambda frames: frames[0].get_column("variant").to_list())
