"""The Funnels page's glue: cached adapters over :mod:`metrics.funnels`, and its words.

Every adapter takes the *source key* (:func:`ui.data.source_key`), the shared filters and a
:class:`View` (all cheap to hash), fetches the events with :func:`ui.data.events`, applies the
sidebar's property filters and calls one metric; ``st.cache_data`` sits on these adapters only. The
helpers below them turn results into what the page shows (headline numbers, definition cards), so
the page stays layout.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from metrics import funnels as metric
from metrics._common import filter_expr
from metrics.warehouse import Relation
from metrics.warehouse.catalogue import filtered
from ui import catalogue, data, engine
from ui.text import code, md

#: The demo product's purchase funnel, offered first when its events are there.
DEMO_STEPS = ("signup", "onboarding_complete", "add_to_cart", "checkout_start", "purchase")
ORDER_LABELS = {"ordered": "Ordered", "strict": "Strict", "unordered": "Any order"}
UNIT_LABELS = {
    "minute": "minutes",
    "hour": "hours",
    "day": "days",
    "week": "weeks",
    "month": "months (31 days)",
}
INTERVAL_LABELS = {"day": "Day", "week": "Week", "month": "Month"}
NO_BREAKDOWN = "No breakdown"
#: A funnel needs at least two steps to say anything about conversion; more is unreadable.
MIN_STEPS, MAX_STEPS = 2, 10
#: Step pickers per row on the page.
STEPS_PER_ROW = 3  # step pickers stay readable at 800 px

Filters = Mapping[str, list[str]]


@dataclass(frozen=True)
class View:
    """What the page's controls say: every parameter of the funnel."""

    steps: tuple[str, ...]
    order: str = "ordered"
    window_value: int = 14
    window_unit: str = "day"
    exclusions: tuple[str, ...] = ()
    exclude_from: int = 1  # 1-based steps, as the page shows them
    exclude_to: int = 0  # 0: the last step
    breakdown: str | None = None

    @property
    def window(self) -> dt.timedelta:
        return metric.conversion_window(self.window_value, self.window_unit)

    @property
    def last_exclusion_step(self) -> int:
        return self.exclude_to or len(self.steps)

    def exclusion_objects(self) -> list[metric.Exclusion]:
        lo, hi = self.exclude_from - 1, self.last_exclusion_step - 1
        return [metric.Exclusion(name, lo, hi) for name in self.exclusions]

    def window_words(self) -> str:
        unit = UNIT_LABELS[self.window_unit].split(" ")[0]
        if self.window_value == 1:
            unit = unit.rstrip("s")
        return f"{self.window_value} {unit}"


@dataclass(frozen=True)
class Choices:
    """What the controls offer: event names (most frequent first) and breakdown properties."""

    events: list[str]
    properties: list[str]


def choices(source: str) -> Choices:
    """Event names (most frequent first) and properties worth breaking down by (ui.catalogue:
    from the engine for a source computed there)."""
    return Choices(
        events=catalogue.event_names(source), properties=sorted(catalogue.properties(source))
    )


def default_steps(events: list[str]) -> list[str]:
    """The demo's purchase funnel where its events exist, else the two most frequent events."""
    demo = [name for name in DEMO_STEPS if name in events]
    if len(demo) >= MIN_STEPS:
        return demo
    return events[:MIN_STEPS]


def problem(view: View) -> str | None:
    """What stops this view from being computed, in plain words (None when it can be)."""
    if len(view.steps) < MIN_STEPS:
        return "Pick at least two steps, in the order users should do them."
    if len(view.steps) > MAX_STEPS:
        return f"Pick at most {MAX_STEPS} steps."
    overlap = sorted(set(view.exclusions) & set(view.steps))
    if overlap:
        return (
            f"{', '.join(map(code, overlap))} is a step of the funnel, so it cannot also be an "
            "exclusion. Remove it from one of the two lists."
        )
    if view.exclusions and view.exclude_from >= view.last_exclusion_step:
        return "Exclusions need a range of at least two steps: pick where it starts and ends."
    return None


# ---------------------------------------------------------------------------------------------
# Cached adapters: one metric call each
# ---------------------------------------------------------------------------------------------


def _events(filters: Filters) -> Any:
    events = data.events()
    # The sidebar's property filters apply to every event the funnel reads (as PostHog's global
    # filters do): a filtered-out event neither fills a step nor breaks a strict chain.
    if not filters:
        return events
    if isinstance(events, Relation):
        return filtered(events, dict(filters))  # the same filter, in SQL (values bound)
    return events.filter(filter_expr(dict(filters)))


def _options(start: dt.date, end: dt.date, tz: str, view: View) -> dict:
    return {
        "window": view.window,
        "order": view.order,
        "exclusions": view.exclusion_objects(),
        "breakdown": view.breakdown,
        "start": start,
        "end": end,
        "tz": tz,
    }


@engine.cached(max_entries=16, show_spinner="Following users through the funnel…")
def steps(source: str, start: dt.date, end: dt.date, tz: str, filters: Filters, view: View):
    """Users, conversion and time to convert per step (:func:`metrics.funnels.funnel`)."""
    return metric.funnel(_events(filters), list(view.steps), **_options(start, end, tz, view))


@engine.cached(max_entries=16, show_spinner="Following users through the funnel…")
def overall(source: str, start: dt.date, end: dt.date, tz: str, filters: Filters, view: View):
    """The same funnel without its breakdown (the headline numbers and the step bars)."""
    return steps(source, start, end, tz, filters, replace(view, breakdown=None))


@engine.cached(max_entries=16, show_spinner="Computing conversion over time…")
def trends(
    source: str,
    start: dt.date,
    end: dt.date,
    tz: str,
    filters: Filters,
    view: View,
    interval: str,
) -> pl.DataFrame:
    """Conversion by the day/week users entered (:func:`metrics.funnels.funnel_trends`)."""
    options = _options(start, end, tz, view) | {"breakdown": None}
    return metric.funnel_trends(
        _events(filters),
        list(view.steps),
        interval=interval,  # type: ignore[arg-type]
        **options,
    )


@engine.cached(max_entries=16, show_spinner="Measuring how long users took…")
def time_to_convert(
    source: str, start: dt.date, end: dt.date, tz: str, filters: Filters, view: View
) -> pl.DataFrame:
    """Time from step 1 to the last step, binned (:func:`metrics.funnels.time_to_convert`)."""
    options = _options(start, end, tz, view) | {"breakdown": None}
    return metric.time_to_convert(_events(filters), list(view.steps), **options)


@engine.cached(max_entries=16, show_spinner="Finding who dropped off…")
def dropped(
    source: str, start: dt.date, end: dt.date, tz: str, filters: Filters, view: View, step: int
) -> pl.DataFrame:
    """The users who dropped off on the way to ``step`` (:func:`metrics.funnels.dropped_users`)."""
    options = _options(start, end, tz, view) | {"breakdown": None}
    return metric.dropped_users(_events(filters), list(view.steps), step=step, **options)


@engine.cached(max_entries=16, show_spinner="Looking at what they did next…")
def next_events(
    source: str,
    start: dt.date,
    end: dt.date,
    tz: str,
    filters: Filters,
    view: View,
    step: int,
    ignore: tuple[str, ...] = (),
) -> pl.DataFrame:
    """Dropped users' most common next events (:func:`metrics.funnels.next_events_after_drop`)."""
    options = _options(start, end, tz, view) | {"breakdown": None}
    return metric.next_events_after_drop(
        _events(filters), list(view.steps), step=step, top=10, ignore=ignore, **options
    )


#: Events that analytics tools record on their own and that follow almost anything a user does
#: (Amplitude's and GA4's session events, page and screen views, PostHog's automatic capture).
#: Passed over by default when asking what drop-offs did next, so the answer is a choice.
BOOKKEEPING_EVENTS = frozenset(
    {
        "session_start",
        "session_end",
        "page_view",
        "screen_view",
        "user_engagement",
        "first_visit",
        "$pageview",
        "$pageleave",
        "$screen",
        "$autocapture",
        "$identify",
    }
)


def default_ignored(events: list[str]) -> list[str]:
    """The bookkeeping events present in the data, to pass over by default."""
    return [name for name in events if name in BOOKKEEPING_EVENTS]


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


def entered(table: pl.DataFrame) -> int:
    """How many users entered the funnel (step 1)."""
    return int(table.filter(pl.col("step") == 1)["users"].sum()) if table.height else 0


def headlines(table: pl.DataFrame) -> list[Headline]:
    """Users who entered, who converted, the overall conversion, and who may still convert."""
    last = table.filter(pl.col("step") == table["step"].max())
    converted = int(last["users"][0])
    still = int(table["still_in_window"].sum())
    return [
        Headline("Entered", entered(table), "Users who did step 1 in the date range."),
        Headline("Converted", converted, "Users who went on to do the last step in their window."),
        Headline(
            "Conversion",
            float(last["conversion_rate"][0]),
            "Converted users as a share of those who entered.",
            percent=True,
        ),
        Headline(
            "Still in window",
            still,
            "Users who have not converted yet but whose conversion window was still open at the "
            "end of the data: not counted as dropped off.",
        ),
    ]


def step_options(view: View) -> dict[int, str]:
    """Steps users can drop off on the way to (2..n), labelled for a picker."""
    return {k: f"{k}. {name}" for k, name in enumerate(view.steps, start=1) if k >= 2}


def biggest_drop(table: pl.DataFrame) -> int:
    """Index (among steps 2..n) of the step most users dropped off on the way to: the default."""
    later = table.filter(pl.col("step") >= 2)
    if later.height == 0:
        return 0
    return int(later["dropped_off"].arg_max() or 0)


def scope(view: View, tz: str, filters: Filters) -> str:
    """The part every definition card shares: who counts, which events, which window."""
    where = ""
    if filters:
        parts = [f"{md(k)} = {', '.join(map(md, v))}" for k, v in sorted(filters.items())]
        where = f" Only events with {'; '.join(parts)} count."
    order = {
        "ordered": "in this order (other events may happen in between)",
        "strict": "in this order with nothing else in between (each step is the user's very "
        "next event)",
        "unordered": "in any order",
    }[view.order]
    excluded = ""
    if view.exclusions:
        names = ", ".join(code(e) for e in view.exclusions)
        between = (
            "anywhere in the attempt"
            if view.order == "unordered"
            else f"between step {view.exclude_from} and step {view.last_exclusion_step}"
        )
        excluded = f" An attempt with {names} {between} does not count."
    return (
        f"Counting unit: a user (`user_id`). Steps done {order}, within **{view.window_words()}** "
        f"of step 1 (elapsed time), inside the date range in **{md(tz)}**.{excluded}{where}"
    )


def describe_steps(view: View, tz: str, filters: Filters) -> str:
    """The definition card of the step bars."""
    return (
        f"{scope(view, tz, filters)} Each user counts once, at the furthest step of their best "
        "attempt; a bar counts users who reached that step or beyond. Conversion is from step 1; "
        "the drop-off above each bar is from the previous step. **Still in window**: users who "
        "have not made the next step yet but whose window was still open at the end of the data."
    )


def describe_breakdown(view: View, tz: str, filters: Filters, breakdown: str) -> str:
    return (
        f"{scope(view, tz, filters)} Split by **{md(breakdown)}** on each attempt's first event "
        "(first touch): a user who started attempts with two values counts once under each. "
        "Conversion is from step 1 within each value; the table has the 95% intervals."
    )


def describe_trends(view: View, tz: str, filters: Filters, interval: str) -> str:
    return (
        f"{scope(view, tz, filters)} Users are grouped by the {interval} (in {md(tz)}) in which an "
        "attempt of theirs started; conversion is the share of them whose best attempt started "
        f"that {interval} reached the last step. The band is the 95% Wilson interval. Hollow "
        f"points: some of that {interval}'s users are still inside their window, so the rate can "
        "still rise."
    )


def describe_time(view: View, tz: str, filters: Filters) -> str:
    return (
        f"{scope(view, tz, filters)} Over users who reached the last step: the time from their "
        "step 1 to their last step (in their best attempt), in equal-width bins. It never "
        f"exceeds the {view.window_words()} window."
    )


def describe_next(
    view: View, tz: str, filters: Filters, step: int, ignore: tuple[str, ...] = ()
) -> str:
    passed = (
        f" Passed over: {', '.join(code(name) for name in ignore)}; users who did only those "
        "afterwards show as *(only passed-over events)*, users who did nothing at all as "
        "*(no later event)*."
        if ignore
        else " No event is passed over."
    )
    return (
        f"{scope(view, tz, filters)} Users who dropped off on the way to step {step}: they reached "
        f"step {step - 1} and not step {step}, and their window has closed (users still inside it "
        f"are not dropped off). For each, the first event they did after reaching step {step - 1}."
        + passed
    )


def has_users(table: pl.DataFrame) -> bool:
    """Whether anybody entered the funnel (an empty one is a message, not a chart)."""
    return entered(table) > 0
