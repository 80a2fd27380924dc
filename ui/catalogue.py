"""What the pages' pickers offer, read from the data wherever it lives.

Event names with their counts, the properties worth filtering and breaking down by (with their
values), and whether the data carries revenue. From a frame they are computed in Polars; from a
relation by small statements in the engine (:mod:`metrics.warehouse.catalogue`: a GROUP BY of
event names, counts and ``SELECT DISTINCT ... LIMIT`` per column), never by loading the events.
Cached on the source key, like every adapter.
"""

from __future__ import annotations

import polars as pl

from metrics._common import NOT_SET
from metrics.warehouse import Relation
from metrics.warehouse import catalogue as sql
from ui import data, engine, state

#: At most this many event names are offered from an engine (most frequent first).
MAX_EVENT_NAMES = 1000


@engine.cached(max_entries=4, show_spinner=False)
def event_counts(source: str) -> pl.DataFrame:
    """``event``, ``n`` (events) and ``with_revenue`` (those with a revenue), most frequent first
    (ties by name)."""
    events = data.events()
    if isinstance(events, Relation):
        return sql.event_counts(events, MAX_EVENT_NAMES)
    revenue = pl.col("revenue").is_not_null().sum() if "revenue" in events.columns else pl.lit(0)
    return (
        events.drop_nulls("event")
        .group_by("event")
        .agg(pl.len().cast(pl.Int64).alias("n"), revenue.cast(pl.Int64).alias("with_revenue"))
        .sort(["n", "event"], descending=[True, False])
    )


def event_names(source: str) -> list[str]:
    """The source's event names, most frequent first."""
    return event_counts(source).get_column("event").to_list()


def has_revenue(source: str) -> bool:
    """Whether any event carries a revenue."""
    return bool(event_counts(source).get_column("with_revenue").sum())


@engine.cached(max_entries=4, show_spinner=False)
def properties(source: str) -> dict[str, list[str]]:
    """The properties offered as filters and breakdowns, with their values
    (:func:`ui.state.filterable_properties`'s rule, computed in the engine for a relation)."""
    events = data.events()
    if isinstance(events, Relation):
        return filterable_in_engine(events)
    return state.filterable_properties(events)


def filterable_in_engine(events: Relation) -> dict[str, list[str]]:
    """Text properties most events carry, with few distinct values: one statement counts the
    values present per column, one ``SELECT DISTINCT`` per column fetches at most one value more
    than a picker offers."""
    candidates = [c for c in events.columns or () if c not in state.NOT_PROPERTIES]
    if not candidates:
        return {}
    profile = sql.column_profile(events, candidates, state.MAX_FILTER_VALUES + 1)
    out: dict[str, list[str]] = {}
    for column in profile.columns:
        values = column.values
        if values.dtype not in (pl.String, pl.Categorical) and not isinstance(
            values.dtype, pl.Enum
        ):
            continue
        missing = profile.rows - column.present
        if profile.rows == 0 or missing > (1 - state.MIN_FILTER_COVERAGE) * profile.rows:
            continue
        if 0 < values.len() <= state.MAX_FILTER_VALUES:
            out[column.name] = sorted(values.cast(pl.String).to_list()) + (
                [NOT_SET] if missing else []
            )
    return out
