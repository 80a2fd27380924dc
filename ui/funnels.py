"""The Funnels page's glue: cached adapters over :mod:`metrics.funnels`, and its words.

The page builds one :class:`~metrics.funnels.FunnelQuery` from its widgets and the sidebar's
:class:`~metrics.scope.Scope` (:func:`query`); every adapter takes the *source key*
(:func:`ui.data.source_key`) and that query (both cheap to hash: the query is the cache key),
fetches the events with :func:`ui.data.events` and calls one metric's query function, which
applies the sidebar's property filters itself; ``st.cache_data`` sits on these adapters only. The
helpers below them turn results into what the page shows (headline numbers, definition cards), so
the page stays layout.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace

import polars as pl
import streamlit as st

from metrics import funnels as metric
from metrics._common import Interval
from metrics.funnels import FunnelQuery, Order, WindowUnit
from metrics.scope import Scope
from ui import catalogue, data, engine
from ui.text import code, md

#: The demo product's purchase funnel, offered first when its events are there.
DEMO_STEPS = ("signup", "onboarding_complete", "add_to_cart", "checkout_start", "purchase")
ORDER_LABELS: dict[Order, str] = {
    "ordered": "Ordered",
    "strict": "Strict",
    "unordered": "Any order",
}
UNIT_LABELS: dict[WindowUnit, str] = {
    "minute": "minutes",
    "hour": "hours",
    "day": "days",
    "week": "weeks",
    "month": "months (31 days)",
}
INTERVAL_LABELS: dict[Interval, str] = {"day": "Day", "week": "Week", "month": "Month"}
#: The page's views below the steps, each in a tab drawn only while open; the label is the value a
#: link gives ``fun_more`` (renaming a label breaks saved links to that tab).
MORE_KEY = "fun_more"
MORE_TABS = {
    "trends": "Conversion over time",
    "time": "Time to convert",
    "drops": "Where drop-offs went",
}
NO_BREAKDOWN = "No breakdown"
#: A funnel needs at least two steps to say anything about conversion; more is unreadable.
MIN_STEPS, MAX_STEPS = 2, 10
#: Step pickers per row on the page.
STEPS_PER_ROW = 3  # step pickers stay readable at 800 px


@dataclass(frozen=True)
class View:
    """The page's own choice beside the query: the conversion window as typed, so the cards say
    "36 hours" where the query holds a timedelta of a day and a half."""

    window_value: int = 14
    window_unit: WindowUnit = "day"

    @property
    def window(self) -> dt.timedelta:
        return metric.conversion_window(self.window_value, self.window_unit)

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


def problem(
    steps: Sequence[str], exclusions: Sequence[str], exclude_from: int, exclude_to: int
) -> str | None:
    """What stops the picked funnel from being computed, in plain words (None when it can be).

    ``exclude_from``/``exclude_to`` are the page's 1-based steps (``exclude_to`` 0: the last).
    """
    if len(steps) < MIN_STEPS:
        return "Pick at least two steps, in the order users should do them."
    if len(steps) > MAX_STEPS:
        return f"Pick at most {MAX_STEPS} steps."
    overlap = sorted(set(exclusions) & set(steps))
    if overlap:
        return (
            f"{', '.join(map(code, overlap))} is a step of the funnel, so it cannot also be an "
            "exclusion. Remove it from one of the two lists."
        )
    if exclusions and exclude_from >= (exclude_to or len(steps)):
        return "Exclusions need a range of at least two steps: pick where it starts and ends."
    return None


def query(
    steps: Sequence[str],
    *,
    order: Order,
    view: View,
    exclusions: Sequence[str],
    exclude_from: int,
    exclude_to: int,
    breakdown: str | None,
    scope: Scope,
) -> FunnelQuery:
    """The funnel the page's widgets and the sidebar describe (``exclude_from``/``exclude_to``
    as the page numbers steps: 1-based, ``exclude_to`` 0 for the last); ``ValueError`` lists
    every problem :func:`problem` does not word."""
    lo, hi = exclude_from - 1, (exclude_to or len(steps)) - 1
    return FunnelQuery.build(
        list(steps),
        window=view.window,
        order=order,
        exclusions=[metric.Exclusion(name, lo, hi) for name in exclusions],
        breakdown=breakdown,
        scope=scope,
    )


def whole(query: FunnelQuery) -> FunnelQuery:
    """The same funnel without its breakdown (the headline numbers, the step bars and every
    chart but the split one: one cache entry whatever the breakdown)."""
    return replace(query, breakdown=None)


# ---------------------------------------------------------------------------------------------
# Cached adapters: one metric call each
# ---------------------------------------------------------------------------------------------


@st.cache_resource(max_entries=4, show_spinner="Following users through the funnel…")
def _attempts(source: str, query: FunnelQuery) -> metric.Run:
    return metric.funnel_run(data.events(), query)


def attempts(source: str, query: FunnelQuery) -> metric.Run | None:
    """Every attempt of ``query`` matched once (:func:`metrics.funnels.funnel_run`), shared by
    the steps, the trend, the time to convert and the drop-offs, and held as it is (a resource:
    never copied per read); ``None`` when the events are not a frame in memory (a relation's
    engine answers each question where the events are)."""
    if not isinstance(data.events(), pl.DataFrame):
        return None
    return _attempts(source, query)


@engine.cached(max_entries=16, show_spinner="Following users through the funnel…")
def steps(source: str, query: FunnelQuery) -> pl.DataFrame:
    """Users, conversion and time to convert per step (:func:`metrics.funnels.funnel`)."""
    matched = attempts(source, query)
    if matched is not None:
        return metric.funnel_from(matched)
    return metric.funnel_of(data.events(), query)


@engine.cached(max_entries=16, show_spinner="Computing conversion over time…")
def trends(source: str, query: FunnelQuery, interval: Interval) -> pl.DataFrame:
    """Conversion by the day/week users entered (:func:`metrics.funnels.funnel_trends`)."""
    matched = attempts(source, query)
    if matched is not None:
        return metric.funnel_trends_from(matched, interval=interval)
    return metric.funnel_trends_of(data.events(), query, interval=interval)


@engine.cached(max_entries=16, show_spinner="Measuring how long users took…")
def time_to_convert(source: str, query: FunnelQuery) -> pl.DataFrame:
    """Time from step 1 to the last step, binned (:func:`metrics.funnels.time_to_convert`)."""
    matched = attempts(source, query)
    if matched is not None:
        return metric.time_to_convert_from(matched)
    return metric.time_to_convert_of(data.events(), query)


@engine.cached(max_entries=16, show_spinner="Finding who dropped off…")
def dropped(source: str, query: FunnelQuery, step: int) -> pl.DataFrame:
    """The users who dropped off on the way to ``step`` (:func:`metrics.funnels.dropped_users`)."""
    matched = attempts(source, query)
    if matched is not None:
        return metric.dropped_users_from(matched, step=step)
    return metric.dropped_users_of(data.events(), query, step=step)


@engine.cached(max_entries=16, show_spinner="Looking at what they did next…")
def next_events(
    source: str, query: FunnelQuery, step: int, ignore: tuple[str, ...] = ()
) -> pl.DataFrame:
    """Dropped users' most common next events (:func:`metrics.funnels.next_events_after_drop`)."""
    return metric.next_events_after_drop_of(data.events(), query, step=step, top=10, ignore=ignore)


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


def step_options(query: FunnelQuery) -> dict[int, str]:
    """Steps users can drop off on the way to (2..n), labelled for a picker."""
    return {k: f"{k}. {name}" for k, name in enumerate(query.labels, start=1) if k >= 2}


def biggest_drop(table: pl.DataFrame) -> int:
    """Index (among steps 2..n) of the step most users dropped off on the way to: the default."""
    later = table.filter(pl.col("step") >= 2)
    if later.height == 0:
        return 0
    return int(later["dropped_off"].arg_max() or 0)


ORDER_WORDS: dict[Order, str] = {
    "ordered": "in this order (other events may happen in between)",
    "strict": "in this order with nothing else in between (each step is the user's very next "
    "event)",
    "unordered": "in any order",
}


def scope_words(query: FunnelQuery, view: View) -> str:
    """The part every definition card shares: who counts, which events, which window."""
    where = ""
    if query.filters:
        parts = [
            f"{md(column)} = {', '.join(map(md, value if isinstance(value, tuple) else (value,)))}"
            for column, value in query.filters
        ]
        where = f" Only events with {'; '.join(parts)} count."
    excluded = ""
    if query.exclusions:
        names = ", ".join(code(ex.event) for ex in query.exclusions)
        lo, hi = query.resolved[0]
        between = (
            "anywhere in the attempt"
            if query.order == "unordered"
            else f"between step {lo + 1} and step {hi + 1}"
        )
        excluded = f" An attempt with {names} {between} does not count."
    return (
        f"Counting unit: a user (`user_id`). Steps done {ORDER_WORDS[query.order]}, within "
        f"**{view.window_words()}** of step 1 (elapsed time), inside the date range in "
        f"**{md(query.tz)}**.{excluded}{where}"
    )


def describe_steps(query: FunnelQuery, view: View) -> str:
    """The definition card of the step bars."""
    return (
        f"{scope_words(query, view)} Each user counts once, at the furthest step of their best "
        "attempt; a bar counts users who reached that step or beyond. Conversion is from step 1; "
        "the drop-off above each bar is from the previous step. **Still in window**: users who "
        "have not made the next step yet but whose window was still open at the end of the data."
    )


def describe_breakdown(query: FunnelQuery, view: View, breakdown: str) -> str:
    return (
        f"{scope_words(query, view)} Split by **{md(breakdown)}** on each attempt's first event "
        "(first touch): a user who started attempts with two values counts once under each. "
        "Conversion is from step 1 within each value; the table has the 95% intervals."
    )


def describe_trends(query: FunnelQuery, view: View, interval: Interval) -> str:
    return (
        f"{scope_words(query, view)} Users are grouped by the {interval} (in {md(query.tz)}) in "
        "which an attempt of theirs started; conversion is the share of them whose best attempt "
        f"started that {interval} reached the last step. The band is the 95% Wilson interval. "
        f"Hollow points: some of that {interval}'s users are still inside their window, so the "
        "rate can still rise."
    )


def describe_time(query: FunnelQuery, view: View) -> str:
    return (
        f"{scope_words(query, view)} Over users who reached the last step: the time from their "
        "step 1 to their last step (in their best attempt), in equal-width bins. It never "
        f"exceeds the {view.window_words()} window."
    )


def describe_next(query: FunnelQuery, view: View, step: int, ignore: tuple[str, ...] = ()) -> str:
    passed = (
        f" Passed over: {', '.join(code(name) for name in ignore)}; users who did only those "
        "afterwards show as *(only passed-over events)*, users who did nothing at all as "
        "*(no later event)*."
        if ignore
        else " No event is passed over."
    )
    return (
        f"{scope_words(query, view)} Users who dropped off on the way to step {step}: they "
        f"reached step {step - 1} and not step {step}, and their window has closed (users still "
        f"inside it are not dropped off). For each, the first event they did after reaching step "
        f"{step - 1}." + passed
    )


def has_users(table: pl.DataFrame) -> bool:
    """Whether anybody entered the funnel (an empty one is a message, not a chart)."""
    return entered(table) > 0
