"""Each user's active days, counted once for every range: the (user, day) activity table.

The Engagement page asks for DAU, WAU and MAU, active users per week or month, stickiness and
the lifecycle over the picked days, over a headline's earlier day and over the range it compares
with: questions that differ only in their days and periods. The distinct (user, local day) pairs
of the whole log answer each of them by keeping the days asked for, without reading the events
again (10M events: 0.7 s per range from the events, 0.03 s from the table; issue 12 item 5).
Users are held as the hash codes of :mod:`metrics.engagement.windows`, sorted by code then day;
a second hash tells apart two users who share a code, and then there is no table
(:func:`activity_of` returns ``None``) and the question goes to the events.

Polars only: on a relation, each question is one statement the engine answers where the events
are.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from metrics._common import as_lazy, event_expr, local_date
from metrics.engagement.query import (
    EngagementQuery,
    Events,
    EventSelector,
    day_number,
    normalise_event,
)
from metrics.engagement.windows import user_check, user_code
from metrics.scope import Scope


@dataclass(frozen=True, eq=False)
class Activity:
    """The distinct (``code``: Int64 user code, ``day``: Int32 local day number) pairs of the
    events ``scope``'s filters keep and ``event`` matches (any event when ``None``), on every
    day, sorted by code then day. ``scope`` has no days: it says the zone and the filters."""

    scope: Scope
    event: str | tuple[str, ...] | None
    pairs: pl.DataFrame

    def rows(
        self, query: EngagementQuery, first_day: dt.date | None, last_day: dt.date
    ) -> pl.LazyFrame:
        """What :func:`~metrics.engagement.query.matching` gives for ``query`` between two local
        days (``None``: from the first), from the table: ``user_id`` (the user's code) and
        ``day``, once per user and day, sorted by user then day. ``ValueError`` when ``query``
        counts other events or asks for a breakdown (the table holds no property)."""
        self.check(query)
        days = pl.col("day") <= day_number(last_day)
        if first_day is not None:
            days = days & (pl.col("day") >= day_number(first_day))
        return self.pairs.lazy().filter(days).select(user_id="code", day="day")

    def check(self, query: EngagementQuery) -> None:
        """``ValueError`` unless the table answers ``query``: the same zone, filters and event
        (its days, windows and interval are the question asked), and no breakdown."""
        if query.breakdown is not None:
            raise ValueError("breakdown: an activity table holds no property; ask the events")
        if query.scope.undated() != self.scope or query.event != self.event:
            raise ValueError(
                "activity: counted for another zone, filters or event than the query's "
                f"({self.scope.tz}, {self.scope.filters}, {self.event!r})"
            )


def activity_of(events: Events, scope: Scope, event: EventSelector = None) -> Activity | None:
    """The activity table of ``events`` in ``scope``'s zone and filters (its days are not read:
    the table holds every day), for ``event`` (a name, names or ``None``, as a query's);
    ``None`` when two users share a code (one in about 10^10 logs of ten million users)."""
    kept = scope.keep(as_lazy(events)).filter(pl.col("user_id").is_not_null())
    if event is not None:
        kept = kept.filter(event_expr(event))
    pairs = (
        kept.select(code=user_code(), day=local_date(scope.tz).cast(pl.Int32), check=user_check())
        .unique()
        .sort("code", "day")
        .collect()
    )
    # Sorted by code, two users sharing one sit next to each other somewhere with other checks.
    same_code = pl.col("code") == pl.col("code").shift(1)
    if pairs.select((same_code & (pl.col("check") != pl.col("check").shift(1))).any()).item():
        return None
    return Activity(scope.undated(), normalise_event(event), pairs.drop("check"))
