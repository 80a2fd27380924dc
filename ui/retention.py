"""The Retention page's glue: cached adapters over :mod:`metrics.retention`, and its words.

The page builds one :class:`metrics.retention.RetentionQuery` from its controls and the sidebar's
scope. Every adapter takes the *source key* (name and load generation, :func:`ui.data.source_key`)
and that query (hashable, so it is the cache key), fetches the events with :func:`ui.data.events`
and calls one metric; ``st.cache_data`` sits on these adapters only. The helpers below them turn
results into what the page shows (headline numbers, the definition cards), so the page stays
layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

import polars as pl

from metrics import retention as metric
from metrics._common import Interval, WeekStart, period_starts
from metrics.retention import Mode, PeriodBasis, RetentionQuery, RetentionType
from ui import activity, catalogue, data, engine
from ui.text import code, md

#: Shown in the event pickers for "any event" (``None``).
ANY_EVENT = "Any event"
INTERVAL_LABELS: dict[Interval, str] = {"day": "Day", "week": "Week", "month": "Month"}
#: The page's views below the triangle, each in a tab drawn only while open; the label is the value
#: a link gives ``ret_more`` (renaming a label breaks saved links to that tab).
MORE_KEY = "ret_more"
MORE_TABS = {"curves": "Retention curves", "ltv": "Lifetime value"}
WEEK_START_LABELS: dict[WeekStart, str] = {"monday": "Monday", "sunday": "Sunday"}
TYPE_LABELS: dict[RetentionType, str] = {"first_time": "First time", "recurring": "Recurring"}
MODE_LABELS: dict[Mode, str] = {
    "exact": "Exactly in period k",
    "on_or_after": "In period k or later",
}
PERIOD_LABELS: dict[PeriodBasis, str] = {"calendar": "Calendar", "rolling": "Rolling"}
#: More cohorts than this make an unreadable triangle (and a slow page): the page asks for less.
MAX_COHORTS = 120

Choice = TypeVar("Choice", bound=str)


def choice(picked: str | None, labels: Mapping[Choice, str], default: Choice) -> Choice:
    """The option a control picked (one of ``labels``' keys), or ``default`` when it picked none."""
    for option in labels:
        if option == picked:
            return option
    return default


def event_of(label: str | None) -> str | None:
    """The event an event picker names (``None``: any event)."""
    return None if label is None or label == ANY_EVENT else label


# ---------------------------------------------------------------------------------------------
# Choices offered by the controls
# ---------------------------------------------------------------------------------------------


def event_names(source: str) -> list[str]:
    """The source's event names, most frequent first (ui.catalogue)."""
    return catalogue.event_names(source)


def has_revenue(source: str) -> bool:
    """Whether the source carries revenue at all (the LTV section needs it)."""
    return catalogue.has_revenue(source)


def cohort_count(query: RetentionQuery) -> int:
    """How many cohorts (periods) the query's range holds for its interval."""
    return len(period_starts(query.start, query.end, query.interval, query.week_start))


# ---------------------------------------------------------------------------------------------
# Cached adapters: one metric call each
# ---------------------------------------------------------------------------------------------


@engine.cached(max_entries=16, show_spinner="Following the cohorts…")
def cohorts(source: str, query: RetentionQuery) -> pl.DataFrame:
    """The cohort × offset table (:func:`metrics.retention.retention_of`); for calendar
    cohorts of one event, from the shared activity table (:func:`ui.activity.table`), so a new
    range, interval or cohort type reads no event (issue 12 item 5)."""
    if metric.answers_from_activity(query):
        table = activity.table(source, query.scope, query.start_event)
        if table is not None:
            return metric.retention_from(table, query)
    return metric.retention_of(data.events(), query)


@engine.cached(max_entries=16, show_spinner="Adding up what each cohort spent…")
def revenue(source: str, query: RetentionQuery) -> pl.DataFrame:
    """Revenue per cohort and offset (:func:`metrics.retention.revenue_retention_of`)."""
    return metric.revenue_retention_of(data.events(), query)


def average(table: pl.DataFrame) -> pl.DataFrame:
    """The size-weighted average curve across cohorts, incomplete cells left out."""
    return metric.average_curve(table)


def average_ltv(table: pl.DataFrame) -> pl.DataFrame:
    """The pooled LTV curve across cohorts, incomplete cells left out."""
    return metric.average_ltv(table)


# ---------------------------------------------------------------------------------------------
# What the page shows around the charts
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    """One number at the top of the page."""

    label: str
    value: int | float | None
    help: str
    percent: bool = False


def has_cohorts(table: pl.DataFrame) -> bool:
    """Whether any cohort has anyone in it (an empty range is a message, not a chart)."""
    return table.height > 0 and bool(table.filter(pl.col("offset") == 0)["cohort_size"].sum())


def headlines(table: pl.DataFrame, curve: pl.DataFrame, query: RetentionQuery) -> list[Headline]:
    """Users followed, retention one period on, and at the latest offset some cohort finished."""
    noun = query.interval
    users = int(table.filter(pl.col("offset") == 0)["cohort_size"].sum())
    if query.retention_type == "recurring":
        first = Headline(
            "Cohort memberships",
            users,
            f"Cohort sizes added up. Recurring cohorts: a user active in several {noun}s is in "
            f"each of their cohorts, so this counts them once per cohort, not once per person.",
        )
    else:
        first = Headline(
            "Users in cohorts",
            users,
            "People followed: each is in one cohort, the period of their first qualifying event.",
        )
    out = [first]
    complete = curve.filter(~pl.col("incomplete") & (pl.col("offset") >= 1))
    if complete.height == 0:
        out.append(
            Headline(
                f"{noun.capitalize()} 1 retention",
                None,
                f"No cohort has finished its first {noun} after the start yet.",
            )
        )
        return out
    offsets = complete["offset"].to_list()
    # One period on, and the furthest period any cohort has finished (when that is further).
    for offset in sorted({1, offsets[-1]} & set(offsets)):
        row = complete.filter(pl.col("offset") == offset)
        out.append(
            Headline(
                f"{noun.capitalize()} {offset} retention",
                float(row["rate"][0]),
                f"Average over the {int(row['cohorts'][0])} cohort(s) that have finished "
                f"{noun} {offset}, weighted by their size ({int(row['users'][0]):,} users).",
                percent=True,
            )
        )
    return out


def _events_words(event: str | tuple[str, ...] | None) -> str:
    if event is None:
        return "any event"
    if isinstance(event, str):
        return code(event)
    return " or ".join(map(code, event))


def _values_words(wanted: object) -> str:
    values = wanted if isinstance(wanted, tuple) else (wanted,)
    return ", ".join(md(str(v)) for v in values)


def describe(query: RetentionQuery, what: str = "retention") -> str:
    """The definition card: counting unit, cohorts, periods, time zone, and what counts as back."""
    noun = query.interval
    tz = query.tz
    where = ""
    if query.filters:
        parts = [f"{md(k)} = {_values_words(v)}" for k, v in query.filters]
        where = f" Only events with {'; '.join(parts)} count."
    start = _events_words(query.start_event)
    if query.retention_type == "first_time":
        cohort = (
            f"**First-time** cohorts: a user belongs to the {noun} of their first-ever {start} "
            "(all history counts, so someone who started before the range is in no cohort)."
        )
    else:
        cohort = f"**Recurring** cohorts: a user belongs to every {noun} in which they did {start}."
    if query.periods == "calendar":
        weeks = f", starting {WEEK_START_LABELS[query.week_start]}" if noun == "week" else ""
        periods = (
            f"**Calendar** {noun}s in **{md(tz)}**{weeks}; {noun} k is the k-th {noun} after the "
            "cohort's."
        )
    else:
        length = {"day": "24 hours", "week": "7×24 hours", "month": "a whole calendar month"}[noun]
        periods = (
            f"**Rolling** periods: {noun} k starts k × {length} after the user's own start time "
            f"(their first {start} in the cohort {noun}); cohorts are calendar {noun}s in "
            f"**{md(tz)}**."
        )
    if what == "revenue":
        measure = (
            "Revenue: the sum of `revenue` on the cohort users' events in each period, "
            f"accumulated and divided by the cohort size ({noun} 0 is the start {noun})."
        )
    else:
        back = _events_words(query.return_event)
        timing = (
            f"in {noun} k exactly" if query.mode == "exact" else f"in {noun} k or any later one"
        )
        measure = (
            f"Retained at k: cohort users who did {back} {timing}; {noun} 0 is the whole cohort."
        )
    return (
        f"Counting unit: a user (`user_id`). {cohort} {periods} {measure}{where} "
        "Faded, dashed or hatched: the period is not over yet at the end of the range, so its "
        "number can still grow; averages leave those cells out."
    )
