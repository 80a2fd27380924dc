"""The Retention page's glue: cached adapters over :mod:`metrics.retention`, and its words.

Every adapter takes the *source key* (name and load generation, :func:`ui.data.source_key`) and the
metric parameters (cheap to hash), fetches the events with :func:`ui.data.events` and calls one
metric; ``st.cache_data`` sits on these adapters only. The helpers below them turn results into
what the page shows (headline numbers, the definition cards), so the page stays layout.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from metrics import retention as metric
from metrics._common import period_starts
from ui import catalogue, data, engine
from ui.text import code, md

#: Shown in the event pickers for "any event" (``None``).
ANY_EVENT = "Any event"
INTERVAL_LABELS = {"day": "Day", "week": "Week", "month": "Month"}
WEEK_START_LABELS = {"monday": "Monday", "sunday": "Sunday"}
TYPE_LABELS = {"first_time": "First time", "recurring": "Recurring"}
MODE_LABELS = {"exact": "Exactly in period k", "on_or_after": "In period k or later"}
PERIOD_LABELS = {"calendar": "Calendar", "rolling": "Rolling"}
#: More cohorts than this make an unreadable triangle (and a slow page): the page asks for less.
MAX_COHORTS = 120

Filters = Mapping[str, list[str]]


@dataclass(frozen=True)
class View:
    """What the page's controls say: every parameter of :func:`metrics.retention.retention`."""

    interval: str = "week"
    start_event: str | None = None
    return_event: str | None = None
    retention_type: str = "recurring"
    mode: str = "exact"
    periods: str = "calendar"
    week_start: str = "monday"

    @property
    def noun(self) -> str:
        return self.interval


# ---------------------------------------------------------------------------------------------
# Choices offered by the controls
# ---------------------------------------------------------------------------------------------


def event_names(source: str) -> list[str]:
    """The source's event names, most frequent first (ui.catalogue)."""
    return catalogue.event_names(source)


def has_revenue(source: str) -> bool:
    """Whether the source carries revenue at all (the LTV section needs it)."""
    return catalogue.has_revenue(source)


def cohort_count(start: dt.date, end: dt.date, view: View) -> int:
    """How many cohorts (periods) the range holds for this interval."""
    return len(period_starts(start, end, view.interval, view.week_start))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Cached adapters: one metric call each
# ---------------------------------------------------------------------------------------------


@engine.cached(max_entries=16, show_spinner="Following the cohorts…")
def cohorts(
    source: str, start: dt.date, end: dt.date, tz: str, filters: Filters, view: View
) -> pl.DataFrame:
    """The cohort × offset table (:func:`metrics.retention.retention`)."""
    return metric.retention(
        data.events(),
        start=start,
        end=end,
        interval=view.interval,  # type: ignore[arg-type]
        start_event=view.start_event,
        return_event=view.return_event,
        retention_type=view.retention_type,  # type: ignore[arg-type]
        mode=view.mode,  # type: ignore[arg-type]
        periods=view.periods,  # type: ignore[arg-type]
        week_start=view.week_start,  # type: ignore[arg-type]
        tz=tz,
        filters=dict(filters) or None,
    )


@engine.cached(max_entries=16, show_spinner="Adding up what each cohort spent…")
def revenue(
    source: str, start: dt.date, end: dt.date, tz: str, filters: Filters, view: View
) -> pl.DataFrame:
    """Revenue per cohort and offset (:func:`metrics.retention.revenue_retention`)."""
    return metric.revenue_retention(
        data.events(),
        start=start,
        end=end,
        interval=view.interval,  # type: ignore[arg-type]
        start_event=view.start_event,
        retention_type=view.retention_type,  # type: ignore[arg-type]
        periods=view.periods,  # type: ignore[arg-type]
        week_start=view.week_start,  # type: ignore[arg-type]
        tz=tz,
        filters=dict(filters) or None,
    )


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


def headlines(table: pl.DataFrame, curve: pl.DataFrame, view: View) -> list[Headline]:
    """Users followed, retention one period on, and at the latest offset some cohort finished."""
    noun = view.noun
    users = int(table.filter(pl.col("offset") == 0)["cohort_size"].sum())
    if view.retention_type == "recurring":
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


def _events_words(event: str | None) -> str:
    return "any event" if event is None else code(event)


def describe(view: View, tz: str, filters: Filters, what: str = "retention") -> str:
    """The definition card: counting unit, cohorts, periods, time zone, and what counts as back."""
    noun = view.noun
    where = ""
    if filters:
        parts = [f"{md(k)} = {', '.join(map(md, v))}" for k, v in sorted(filters.items())]
        where = f" Only events with {'; '.join(parts)} count."
    start = _events_words(view.start_event)
    if view.retention_type == "first_time":
        cohort = (
            f"**First-time** cohorts: a user belongs to the {noun} of their first-ever {start} "
            "(all history counts, so someone who started before the range is in no cohort)."
        )
    else:
        cohort = f"**Recurring** cohorts: a user belongs to every {noun} in which they did {start}."
    if view.periods == "calendar":
        weeks = f", starting {WEEK_START_LABELS[view.week_start]}" if noun == "week" else ""
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
        back = _events_words(view.return_event)
        timing = f"in {noun} k exactly" if view.mode == "exact" else f"in {noun} k or any later one"
        measure = (
            f"Retained at k: cohort users who did {back} {timing}; {noun} 0 is the whole cohort."
        )
    return (
        f"Counting unit: a user (`user_id`). {cohort} {periods} {measure}{where} "
        "Faded, dashed or hatched: the period is not over yet at the end of the range, so its "
        "number can still grow; averages leave those cells out."
    )
