"""Funnels (docs/funnels.md): where do we lose people on the way from one step to the next?

Rule by rule these are PostHog's funnels; docs/funnels.md says the same in a PM's words, with the
few places where we deliberately differ. The definitions the code implements, precisely:

- **Events that count.** Only events that match the global property filters (the query's
  ``scope``; the events that do not match are dropped before anything else, so they neither fill
  a step nor break a strict chain) and fall inside the date range ``start..end`` (local calendar
  days in ``tz``, both inclusive) count, for every step and every exclusion. A step matches an
  event by name (``None`` matches any event) and by its own property ``filters``.
- **Attempts.** In an ordered or strict funnel an attempt starts at each step-1 event. Step k+1 is
  reached by a matching event at or after step k's time (equal timestamps count) and no later than
  step 1's time + ``window`` (inclusive). One event fills at most one step of an attempt, so a
  step that repeats the previous step's event needs a second occurrence. Of all the ways to fill
  the steps the attempt takes the earliest one (each step at its earliest possible time); its
  times are the attempt's conversion times and the events its exclusions are judged against.
- **Strict.** Each next step must be the user's very next event, of any name: no event of the user
  may fall strictly between two consecutive steps. Events sharing a timestamp have no order among
  themselves, so an event at the same instant as a step never breaks the chain. Among the chains
  that reach the attempt's furthest step the attempt takes the one with the earliest times.
- **Unordered.** An attempt starts at each of the user's step events and covers the window [start,
  start + ``window``]; it reaches k when k distinct steps can each be given their own event inside
  that window. Its k-th step is reached at the earliest instant by which k distinct steps are
  done; conversion times are the gaps between those instants.
- **Exclusions.** An exclusion event strictly after the attempt's from-step event and strictly
  before its to-step event, or, when the attempt never reached the to-step, no later than step 1's
  time + ``window``, spoils the attempt. In an unordered funnel an exclusion spans the whole
  attempt (from its first event to its completion, or to the end of its window), whatever its
  from/to steps say. A spoiled attempt does not count; a user all of whose attempts are spoiled is
  not in the funnel. (PostHog drops the user whenever their *furthest* attempt is spoiled, even
  when a shorter clean attempt exists; we keep the clean attempt.)
- **Best attempt.** A user counts once, at the furthest step of their best clean attempt: the
  earliest-starting one among those reaching the furthest step. ``users`` at step k counts users
  who reached step k or beyond; conversion times come from the best attempt.
- **Breakdown (first touch).** Each attempt takes the breakdown property of its first event (the
  step-1 event; the anchor in an unordered funnel). A user counts once per value, at their best
  attempt with that value.
- **Still in window.** The data are seen up to the *horizon*: the last event in the data, or the
  end of the date range when that comes first. An attempt is *open* when its window (step 1's time
  plus ``window``) ends after the horizon: it could still convert. ``still_in_window`` at step k
  counts the users who reached step k-1 but not step k and have an open clean attempt;
  ``dropped_off`` at step k counts the others who reached step k-1 but not step k. So users(k-1) -
  users(k) = dropped_off(k) + still_in_window(k).

Every function comes twice: with keyword arguments (``funnel(events, steps, window=...)``), which
builds one :class:`FunnelQuery` and computes it, and taking a built query
(``funnel_of(events, query)``: the app's cached adapters key on the query). On a warehouse
:class:`~metrics.warehouse.Relation` both compile to SQL (:mod:`metrics.funnels.plans`). On a
frame, :func:`funnel_run` matches the attempts once and the ``_from`` functions read several
answers off that one matching.
The stages live in this package's modules: the query and its checks (``query``), the events per
user (``preparation``), which events can fill which steps (``matching``), the attempts and their
exclusions (``attempts``), each user's best attempt (``best``), the answers' counts (``answers``)
and tables (``tables``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import polars as pl

from metrics._common import Interval, WeekStart
from metrics.funnels import answers, plans
from metrics.funnels.attempts import Run, run
from metrics.funnels.query import (
    ORDERS,
    WINDOW_UNITS,
    Exclusion,
    FunnelQuery,
    FunnelQueryError,
    Order,
    Step,
    WindowUnit,
    conversion_window,
    drop_step_problems,
    histogram_problems,
    next_event_problems,
    raise_problems,
    steps_between,
    trend_problems,
)
from metrics.funnels.tables import NO_LATER_EVENT, ONLY_IGNORED_EVENTS
from metrics.warehouse import pushdown

__all__ = [
    "NO_LATER_EVENT",
    "ONLY_IGNORED_EVENTS",
    "ORDERS",
    "WINDOW_UNITS",
    "Exclusion",
    "FunnelQuery",
    "FunnelQueryError",
    "Order",
    "Run",
    "Step",
    "WindowUnit",
    "conversion_window",
    "dropped_users",
    "dropped_users_from",
    "dropped_users_of",
    "funnel",
    "funnel_from",
    "funnel_of",
    "funnel_run",
    "funnel_trends",
    "funnel_trends_from",
    "funnel_trends_of",
    "funnel_users",
    "funnel_users_of",
    "next_events_after_drop",
    "next_events_after_drop_of",
    "time_to_convert",
    "time_to_convert_from",
    "time_to_convert_of",
]

Events = pl.DataFrame | pl.LazyFrame

# Each keyword function builds its query and calls the body its ``_of`` twin calls (not the twin
# itself), so that each call is one metric call: the cross-engine test matrix repeats every
# ``@pushdown`` call once on each engine.


@pushdown(plans.funnel_of)
def funnel_of(events: Events, query: FunnelQuery) -> pl.DataFrame:
    """:func:`funnel` of a built :class:`FunnelQuery`."""
    return answers.steps(events, query)


def funnel_run(events: Events, query: FunnelQuery) -> Run:
    """Every attempt of every user in ``events`` for ``query``, matched once: the ``_from``
    functions read it, so the steps, the trend, the time to convert and the drop-offs of one
    funnel match the events once between them (the app does this; Polars only: on a relation
    each answer is one statement)."""
    return run(events, query)


def funnel_from(attempts: Run) -> pl.DataFrame:
    """:func:`funnel_of`'s frame from a :func:`funnel_run` of the same query."""
    return answers.steps(attempts, attempts.query)


@pushdown(plans.funnel)
def funnel(
    events: Events,
    steps: Sequence[str | Step],
    *,
    window: dt.timedelta = dt.timedelta(days=14),
    order: Order = "ordered",
    exclusions: Iterable[Exclusion] = (),
    breakdown: str | None = None,
    start: dt.date | dt.datetime | str | None = None,
    end: dt.date | dt.datetime | str | None = None,
    tz: str = "UTC",
) -> pl.DataFrame:
    """How many users reached each step of the funnel, and how many of them went on to the next.

    One row per step (per breakdown value): ``users`` who reached the step or beyond, the share of
    step-1 users (``conversion_rate``) and of the previous step's users (``step_conversion_rate``),
    each with a 95% Wilson interval, the median and mean seconds from the previous step (over users
    who reached this step; null at step 1), and of the users who reached the previous step but not
    this one, how many have ``dropped_off`` and how many are ``still_in_window`` (their conversion
    window is still open at the end of the data). The rules are in the module docstring.
    """
    query = FunnelQuery.build(
        steps,
        window=window,
        order=order,
        exclusions=exclusions,
        breakdown=breakdown,
        start=start,
        end=end,
        tz=tz,
    )
    return answers.steps(events, query)


@pushdown(plans.funnel_users_of)
def funnel_users_of(events: Events, query: FunnelQuery) -> pl.DataFrame:
    """:func:`funnel_users` of a built :class:`FunnelQuery`."""
    return answers.users(events, query)


@pushdown(plans.funnel_users)
def funnel_users(
    events: Events,
    steps: Sequence[str | Step],
    *,
    window: dt.timedelta = dt.timedelta(days=14),
    order: Order = "ordered",
    exclusions: Iterable[Exclusion] = (),
    breakdown: str | None = None,
    start: dt.date | dt.datetime | str | None = None,
    end: dt.date | dt.datetime | str | None = None,
    tz: str = "UTC",
) -> pl.DataFrame:
    """Each user in the funnel: how far they got and when they reached each step.

    One row per user (per breakdown value) with ``reached`` (the furthest step of their best
    attempt), ``step_1_at`` .. ``step_n_at`` (UTC; null past ``reached``) and ``still_in_window``
    (a clean attempt of theirs is still inside its conversion window at the end of the data).
    """
    query = FunnelQuery.build(
        steps,
        window=window,
        order=order,
        exclusions=exclusions,
        breakdown=breakdown,
        start=start,
        end=end,
        tz=tz,
    )
    return answers.users(events, query)


@pushdown(plans.funnel_trends_of)
def funnel_trends_of(
    events: Events,
    query: FunnelQuery,
    *,
    interval: Interval = "day",
    week_start: WeekStart = "monday",
    from_step: int = 1,
    to_step: int | None = None,
) -> pl.DataFrame:
    """:func:`funnel_trends` of a built :class:`FunnelQuery`."""
    return _trends(events, query, interval, week_start, from_step, to_step)


def funnel_trends_from(
    attempts: Run,
    *,
    interval: Interval = "day",
    week_start: WeekStart = "monday",
    from_step: int = 1,
    to_step: int | None = None,
) -> pl.DataFrame:
    """:func:`funnel_trends_of`'s frame from a :func:`funnel_run` of the same query."""
    return _trends(attempts, attempts.query, interval, week_start, from_step, to_step)


@pushdown(plans.funnel_trends)
def funnel_trends(
    events: Events,
    steps: Sequence[str | Step],
    *,
    interval: Interval = "day",
    week_start: WeekStart = "monday",
    from_step: int = 1,
    to_step: int | None = None,
    window: dt.timedelta = dt.timedelta(days=14),
    order: Order = "ordered",
    exclusions: Iterable[Exclusion] = (),
    breakdown: str | None = None,
    start: dt.date | dt.datetime | str | None = None,
    end: dt.date | dt.datetime | str | None = None,
    tz: str = "UTC",
) -> pl.DataFrame:
    """Conversion over time: of the users who entered the funnel in each day/week/month, the share
    who went on to convert.

    A user enters in a period when an attempt of theirs starts there (in ``tz``) and reaches
    ``from_step`` (1-based, default 1); they count once per period, at their best attempt started in
    it, and ``converted`` when that attempt reaches ``to_step`` (default: the last step). Columns:
    ``period_start`` (Date), [breakdown], ``entered``, ``converted``, ``conversion_rate`` with its
    Wilson interval, and ``still_in_window`` (entered, not converted, conversion window still open).
    Periods without entries appear with zeros, from the period holding ``start`` (else the first
    entry) to the one holding ``end`` (else the last entry).
    """
    query = FunnelQuery.build(
        steps,
        window=window,
        order=order,
        exclusions=exclusions,
        breakdown=breakdown,
        start=start,
        end=end,
        tz=tz,
    )
    return _trends(events, query, interval, week_start, from_step, to_step)


def _trends(
    events: Events | Run,
    query: FunnelQuery,
    interval: Interval,
    week_start: WeekStart,
    from_step: int,
    to_step: int | None,
) -> pl.DataFrame:
    raise_problems(trend_problems(query, interval, week_start, from_step, to_step))
    lo, hi = steps_between(query, from_step, to_step)
    return answers.trends(events, query, interval, week_start, lo, hi)


@pushdown(plans.time_to_convert_of)
def time_to_convert_of(
    events: Events,
    query: FunnelQuery,
    *,
    from_step: int = 1,
    to_step: int | None = None,
    bins: int | None = None,
) -> pl.DataFrame:
    """:func:`time_to_convert` of a built :class:`FunnelQuery`."""
    return _histogram(events, query, from_step, to_step, bins)


def time_to_convert_from(
    attempts: Run, *, from_step: int = 1, to_step: int | None = None, bins: int | None = None
) -> pl.DataFrame:
    """:func:`time_to_convert_of`'s frame from a :func:`funnel_run` of the same query."""
    return _histogram(attempts, attempts.query, from_step, to_step, bins)


@pushdown(plans.time_to_convert)
def time_to_convert(
    events: Events,
    steps: Sequence[str | Step],
    *,
    from_step: int = 1,
    to_step: int | None = None,
    bins: int | None = None,
    window: dt.timedelta = dt.timedelta(days=14),
    order: Order = "ordered",
    exclusions: Iterable[Exclusion] = (),
    breakdown: str | None = None,
    start: dt.date | dt.datetime | str | None = None,
    end: dt.date | dt.datetime | str | None = None,
    tz: str = "UTC",
) -> pl.DataFrame:
    """How long converting users took from one step to another, as a histogram.

    Over users whose best attempt reached ``to_step`` (default: the last step), the seconds from its
    ``from_step`` (default 1) to its ``to_step``, in ``bins`` equal-width bins from the fastest to
    the slowest (default: Sturges' rule, at most 30). Columns: [breakdown], ``bin_start_seconds``,
    ``bin_end_seconds`` (each bin holds [start, end), the last one also its end), ``users``.
    """
    query = FunnelQuery.build(
        steps,
        window=window,
        order=order,
        exclusions=exclusions,
        breakdown=breakdown,
        start=start,
        end=end,
        tz=tz,
    )
    return _histogram(events, query, from_step, to_step, bins)


def _histogram(
    events: Events | Run, query: FunnelQuery, from_step: int, to_step: int | None, bins: int | None
) -> pl.DataFrame:
    raise_problems(histogram_problems(query, from_step, to_step, bins))
    lo, hi = steps_between(query, from_step, to_step)
    return answers.histogram(events, query, lo, hi, bins)


@pushdown(plans.dropped_users_of)
def dropped_users_of(events: Events, query: FunnelQuery, *, step: int) -> pl.DataFrame:
    """:func:`dropped_users` of a built :class:`FunnelQuery`."""
    return _dropped(events, query, step)


def dropped_users_from(attempts: Run, *, step: int) -> pl.DataFrame:
    """:func:`dropped_users_of`'s frame from a :func:`funnel_run` of the same query."""
    return _dropped(attempts, attempts.query, step)


@pushdown(plans.dropped_users)
def dropped_users(
    events: Events,
    steps: Sequence[str | Step],
    *,
    step: int,
    window: dt.timedelta = dt.timedelta(days=14),
    order: Order = "ordered",
    exclusions: Iterable[Exclusion] = (),
    breakdown: str | None = None,
    start: dt.date | dt.datetime | str | None = None,
    end: dt.date | dt.datetime | str | None = None,
    tz: str = "UTC",
) -> pl.DataFrame:
    """The users who dropped off at ``step``: they reached the step before it but not this one, and
    their conversion window has closed (users still inside it are not dropped off).

    ``step`` is 1-based, from 2 to the number of steps. Columns: ``user_id``, [breakdown],
    ``last_step`` (the step they reached), ``last_step_at`` (UTC), for export.
    """
    query = FunnelQuery.build(
        steps,
        window=window,
        order=order,
        exclusions=exclusions,
        breakdown=breakdown,
        start=start,
        end=end,
        tz=tz,
    )
    return _dropped(events, query, step)


def _dropped(events: Events | Run, query: FunnelQuery, step: int) -> pl.DataFrame:
    raise_problems(drop_step_problems(query, step))
    return answers.dropped(events, query, step)


@pushdown(plans.next_events_after_drop_of)
def next_events_after_drop_of(
    events: Events,
    query: FunnelQuery,
    *,
    step: int,
    top: int = 10,
    ignore: Iterable[str] = (),
) -> pl.DataFrame:
    """:func:`next_events_after_drop` of a built :class:`FunnelQuery`."""
    return _next_events(events, query, step, top, ignore)


@pushdown(plans.next_events_after_drop)
def next_events_after_drop(
    events: Events,
    steps: Sequence[str | Step],
    *,
    step: int,
    top: int = 10,
    ignore: Iterable[str] = (),
    window: dt.timedelta = dt.timedelta(days=14),
    order: Order = "ordered",
    exclusions: Iterable[Exclusion] = (),
    breakdown: str | None = None,
    start: dt.date | dt.datetime | str | None = None,
    end: dt.date | dt.datetime | str | None = None,
    tz: str = "UTC",
) -> pl.DataFrame:
    """Where the users who dropped off at ``step`` went instead: their most common next events.

    For each dropped user (see :func:`dropped_users`), the first event they did strictly after the
    last step they reached (inside the date range; at one instant the alphabetically first name),
    or ``"(no later event)"``. Events named in ``ignore`` are passed over, so bookkeeping events
    that follow almost anything (``session_start``, ``page_view``) do not hide what the user chose
    to do; a user whose later events were all passed over shows as ``"(only passed-over
    events)"``. Columns: [breakdown], ``event``, ``users``, ``share`` (of the dropped users),
    the ``top`` most common per breakdown value, most common first.
    """
    query = FunnelQuery.build(
        steps,
        window=window,
        order=order,
        exclusions=exclusions,
        breakdown=breakdown,
        start=start,
        end=end,
        tz=tz,
    )
    return _next_events(events, query, step, top, ignore)


def _next_events(
    events: Events, query: FunnelQuery, step: int, top: int, ignore: Iterable[str]
) -> pl.DataFrame:
    raise_problems(next_event_problems(query, step, top, ignore))
    return answers.next_events(events, query, step, top, sorted(set(ignore)))
