"""What the app's pickers and the Data page read from events that stay in an engine.

A page offers event names, property values and experiments, and the Data page describes the
columns; with the events in an engine these come from small statements, never from the events:

- :func:`event_counts`: each event name with its number of events (and of events carrying a
  revenue), most frequent first, at most ``limit`` names;
- :func:`column_profile`: per column, how many events carry a value, and at most ``limit``
  distinct values with the engine's type (so a text property is told from a number);
- :func:`event_users`: the most common event names with their events and users, and
  :func:`any_positive` (whether a column has a value above zero), for KPI suggestions;
- :func:`sample`: a few events as they are, for the Data page's sample;
- :func:`exposure_assignments`: the experiments' exposures read from exposure events (the
  assignments relation the experiment functions take), and :func:`assignment_summary`, users per
  experiment and variant with their first and last exposure.

Values are bound, identifiers quoted, every counted column cast in SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from metrics.warehouse.parts import source
from metrics.warehouse.relation import Plan, Relation, Sql, run
from metrics.warehouse.targets import derived

_EPOCH = pl.datetime(1970, 1, 1, time_zone="UTC")


def event_counts(relation: Relation, limit: int | None = None) -> pl.DataFrame:
    """``event``, ``n`` (events), ``with_revenue`` (events with a revenue): most frequent first,
    ties by name; at most ``limit`` rows."""
    found: pl.DataFrame = run(relation, event_counts_plan(relation, limit))
    return found


def event_counts_plan(relation: Relation, limit: int | None = None) -> Plan:
    """One row per event name (the engine groups; only the names travel)."""
    sql = Sql(relation)
    q, d = sql.q, sql.d
    revenue = (
        f"SUM(CASE WHEN {q('revenue')} IS NOT NULL THEN 1 ELSE 0 END)"
        if relation.has("revenue")
        else "0"
    )
    text = (
        f"SELECT {q('event')} AS event, {d.to_bigint('COUNT(*)')} AS n, "
        f"{d.to_bigint(revenue)} AS with_revenue FROM {source(sql)} AS e "
        f"WHERE {q('event')} IS NOT NULL GROUP BY {q('event')}"
    )
    text = f"SELECT * FROM ({text}) AS c ORDER BY n DESC, event"
    if limit is not None:
        text = d.limit(text, limit)

    def finish(frames: list[pl.DataFrame]) -> pl.DataFrame:
        found = frames[0]
        return pl.DataFrame(
            {
                "event": found.get_column("event").cast(pl.String),
                "n": found.get_column("n").cast(pl.Int64),
                "with_revenue": found.get_column("with_revenue").cast(pl.Int64),
            },
            schema={"event": pl.String, "n": pl.Int64, "with_revenue": pl.Int64},
        )

    return Plan((sql.statement(text),), finish)


def event_users(relation: Relation, exclude: Sequence[str], limit: int) -> pl.DataFrame:
    """``event``, ``events``, ``users`` of the ``limit`` most common event names not in
    ``exclude`` (ties by name): ``metrics.suggest``'s counts, computed in the engine."""
    found: pl.DataFrame = run(relation, event_users_plan(relation, exclude, limit))
    return found


def event_users_plan(relation: Relation, exclude: Sequence[str], limit: int) -> Plan:
    sql = Sql(relation)
    q, d = sql.q, sql.d
    where = f"{q('event')} IS NOT NULL"
    if exclude:
        where += f" AND {q('event')} NOT IN ({', '.join(sql.value(e) for e in exclude)})"
    text = (
        f"SELECT {q('event')} AS event, {d.to_bigint('COUNT(*)')} AS events, "
        f"{d.to_bigint(d.count_distinct(q('user_id')))} AS users FROM {source(sql)} AS e "
        f"WHERE {where} GROUP BY {q('event')}"
    )
    text = d.limit(f"SELECT * FROM ({text}) AS c ORDER BY events DESC, event", limit)

    def finish(frames: list[pl.DataFrame]) -> pl.DataFrame:
        found = frames[0]
        return pl.DataFrame(
            {
                "event": found.get_column("event").cast(pl.String),
                "events": found.get_column("events").cast(pl.UInt32),
                "users": found.get_column("users").cast(pl.UInt32),
            },
            schema={"event": pl.String, "events": pl.UInt32, "users": pl.UInt32},
        )

    return Plan((sql.statement(text),), finish)


def any_positive(relation: Relation, column: str) -> bool:
    """Whether some event has ``column`` above zero (False when the events lack the column)."""
    if not relation.has(column):
        return False
    found: bool = run(relation, any_positive_plan(relation, column))
    return found


def any_positive_plan(relation: Relation, column: str) -> Plan:
    sql = Sql(relation)
    inner = sql.d.limit(f"SELECT 1 AS one FROM {source(sql)} AS e WHERE {sql.q(column)} > 0", 1)
    text = f"SELECT {sql.d.to_bigint('COUNT(*)')} AS n FROM ({inner}) AS found"
    return Plan((sql.statement(text),), lambda frames: bool(frames[0].item(0, "n")))


@dataclass(frozen=True)
class ColumnProfile:
    """One column of the events: values present, and its first distinct values (engine's type)."""

    name: str
    present: int
    values: pl.Series


@dataclass(frozen=True)
class Profile:
    """The events' row count and a :class:`ColumnProfile` per column asked for."""

    rows: int
    columns: tuple[ColumnProfile, ...]


def column_profile(relation: Relation, columns: Sequence[str], limit: int) -> Profile:
    """Rows, values present per column, and at most ``limit`` distinct values of each."""
    found: Profile = run(relation, column_profile_plan(relation, columns, limit))
    return found


def column_profile_plan(relation: Relation, columns: Sequence[str], limit: int) -> Plan:
    """One statement of counts, then one ``SELECT DISTINCT ... LIMIT`` per column (the engine
    may stop early on a column with many values)."""
    sql = Sql(relation)
    q, d = sql.q, sql.d
    names = list(columns)
    counts = ", ".join(
        [f"{d.to_bigint('COUNT(*)')} AS n_rows"]
        + [f"{d.to_bigint(f'COUNT({q(c)})')} AS {q(f'n_{i}')}" for i, c in enumerate(names)]
    )
    statements = [sql.statement(f"SELECT {counts} FROM {source(sql)} AS e")]
    for column in names:
        col = q(column)
        distinct = f"SELECT DISTINCT {col} AS value FROM {source(sql)} AS e WHERE {col} IS NOT NULL"
        statements.append(sql.statement(d.limit(distinct, limit)))

    def finish(frames: list[pl.DataFrame]) -> Profile:
        row = frames[0].row(0, named=True)
        return Profile(
            rows=int(row["n_rows"] or 0),
            columns=tuple(
                ColumnProfile(c, int(row[f"n_{i}"] or 0), frames[i + 1].get_column("value"))
                for i, c in enumerate(names)
            ),
        )

    return Plan(tuple(statements), finish)


def sample(relation: Relation, rows: int) -> pl.DataFrame:
    """At most ``rows`` events in the canonical columns (``timestamp`` as a UTC time), earliest
    first among those the engine hands out first: a look at the data, not a random sample."""
    found: pl.DataFrame = run(relation, sample_plan(relation, rows))
    return found


def sample_plan(relation: Relation, rows: int) -> Plan:
    sql = Sql(relation)
    text = sql.d.limit(f"SELECT * FROM {source(sql)} AS e", rows)

    def finish(frames: list[pl.DataFrame]) -> pl.DataFrame:
        found = frames[0]
        if "ts_us" not in found.columns:
            return found
        stamp = (_EPOCH + pl.duration(microseconds=pl.col("ts_us").cast(pl.Int64))).alias(
            "timestamp"
        )
        ordered = [c if c != "ts_us" else "timestamp" for c in found.columns]
        return found.with_columns(stamp).select(ordered).sort("timestamp")

    return Plan((sql.statement(text),), finish)


def exposure_assignments(
    relation: Relation, exposure_event: str, experiment: str, variant: str
) -> Relation:
    """Every experiment's exposures from exposure events: ``user_id``, ``experiment``,
    ``variant``, ``ts_us`` (an assignments relation; the experiment functions keep each user's
    first exposure and leave out users who saw several variants)."""
    q_cols = ("user_id", "experiment", "variant", "ts_us")

    def build(sql: Sql, src: str) -> str:
        q, d = sql.q, sql.d
        return (
            f"SELECT {q('user_id')}, {d.to_text(q(experiment))} AS {q('experiment')}, "
            f"{d.to_text(q(variant))} AS {q('variant')}, {q('ts_us')} FROM {src} AS e "
            f"WHERE {q('event')} = {sql.value(exposure_event)} AND {q(experiment)} IS NOT NULL "
            f"AND {q(variant)} IS NOT NULL"
        )

    return derived(relation, build, q_cols, kind="assignments")


def assignment_summary(assignments: Relation) -> pl.DataFrame:
    """Per experiment and variant: ``users`` (first exposures) and the first and last of them."""
    found: pl.DataFrame = run(assignments, assignment_summary_plan(assignments))
    return found


def assignment_summary_plan(assignments: Relation) -> Plan:
    """Each user's first exposure per experiment (its variant), then counted per variant."""
    sql = Sql(assignments)
    q, d = sql.q, sql.d
    ranked = (
        f"SELECT {q('experiment')} AS experiment, {q('variant')} AS variant, {q('ts_us')} AS ts, "
        f"ROW_NUMBER() OVER (PARTITION BY {q('user_id')}, {q('experiment')} "
        f"ORDER BY {q('ts_us')}, {q('variant')}) AS rk FROM {source(sql)} AS a"
    )
    text = (
        f"SELECT experiment, variant, {d.to_bigint('COUNT(*)')} AS users, "
        f"{d.to_bigint('MIN(ts)')} AS first_us, {d.to_bigint('MAX(ts)')} AS last_us "
        f"FROM ({ranked}) AS r WHERE rk = 1 GROUP BY experiment, variant"
    )

    def finish(frames: list[pl.DataFrame]) -> pl.DataFrame:
        found = frames[0]
        schema = pl.Schema(
            {
                "experiment": pl.String(),
                "variant": pl.String(),
                "users": pl.UInt32(),
                "first_exposure": pl.Datetime("us", "UTC"),
                "last_exposure": pl.Datetime("us", "UTC"),
            }
        )
        if found.height == 0:
            return pl.DataFrame(schema=schema)
        return (
            found.select(
                pl.col("experiment").cast(pl.String),
                pl.col("variant").cast(pl.String),
                pl.col("users").cast(pl.UInt32),
                (_EPOCH + pl.duration(microseconds=pl.col("first_us").cast(pl.Int64))).alias(
                    "first_exposure"
                ),
                (_EPOCH + pl.duration(microseconds=pl.col("last_us").cast(pl.Int64))).alias(
                    "last_exposure"
                ),
            )
            .cast(schema)
            .sort("experiment", "variant")
        )

    return Plan((sql.statement(text),), finish)
