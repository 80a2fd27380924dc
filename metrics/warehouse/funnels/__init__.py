"""Funnels compiled to SQL: the same :class:`~metrics.funnels.FunnelQuery` as the Polars path.

One statement per call: the events that matter (``ev``: those the global filters keep, as
``Scope.keep`` does on a frame, inside the date range, matching a step or an exclusion), one row
per user instant (``ins``), the attempts of the funnel's order (``att``: ordered, strict or
unordered, each module the twin of its Polars function), each user's best clean attempt
(``best``) and the answer's rows (``answers``). An ordered funnel whose steps cannot share events
(and without exclusions) skips the counting: on most engines its attempts are layers of windows
over ``ev`` alone (``ordered.chained_ctes``); on ClickHouse each user's events are one sorted
array, and the chain and the best attempts are passes over it (``arrays.array_ctes``). The
engine does all of it; the finishing steps that need no events (rates, Wilson intervals, period
grids, histogram edges, sorting) are the Polars path's own functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from metrics.warehouse.funnels import answers
from metrics.warehouse.funnels.arrays import array_ctes
from metrics.warehouse.funnels.best import best_cte, period_cte
from metrics.warehouse.funnels.classes import StepClasses
from metrics.warehouse.funnels.events import (
    distinct_steps,
    events_cte,
    horizon_cte,
    instants_ctes,
    presence_ctes,
    with_ctes,
)
from metrics.warehouse.funnels.ordered import chained_ctes, next_classes, ordered_ctes
from metrics.warehouse.funnels.strict import strict_ctes
from metrics.warehouse.funnels.unordered import unordered_ctes
from metrics.warehouse.relation import Plan, Relation, Sql

Finish = Callable[[pl.DataFrame], Any]


def _check_columns(relation: Relation, query: Any) -> None:
    relation.require(sorted(column for column, _ in query.filters), "filters")
    filters = {c for step in query.steps for c in step.filter_mapping}
    filters |= {c for ex in query.exclusions for c in ex.filter_mapping}
    relation.require(sorted(filters), "a step or exclusion filter")
    if query.breakdown is not None:
        relation.require([query.breakdown], "breakdown")


def attempts_ctes(sql: Sql, query: Any) -> list[tuple[str, str]]:
    """``ev``, the instants (``inst``, ``ins``) if the plan reads them, ``hz`` and ``att`` (every
    attempt, spoiled or not)."""
    _check_columns(sql.relation, query)
    classes = StepClasses.of(query.steps)
    unordered = query.order == "unordered"
    ctes = [("nsf_ev", events_cte(sql, query, classes, every_event=query.order == "strict"))]
    hz = ("nsf_hz", horizon_cte(sql, query))
    if query.order == "ordered" and distinct_steps(classes, query):
        if not sql.d.chains_with_joins:
            return [*ctes, hz, *chained_ctes(sql, classes, query)]
        ctes += presence_ctes(sql, classes, query, next_classes(classes))
    else:
        ctes += instants_ctes(
            sql,
            query,
            classes,
            fits=not unordered,
            running=unordered,
            nexts=next_classes(classes) if query.order == "ordered" else (),
            ordinal=query.order == "strict",
        )
    ctes.append(hz)
    if unordered:
        ctes += unordered_ctes(sql, classes, query)
    elif query.order == "strict":
        ctes += strict_ctes(classes, query)
    else:
        ctes += ordered_ctes(classes, query)
    return ctes


def _plan(
    relation: Relation,
    query: Any,
    final: Callable[[Sql], str],
    finish: Finish,
    *,
    period: tuple[str, str] | None = None,
) -> Plan:
    sql = Sql(relation)
    classes = StepClasses.of(query.steps)
    if sql.d.chains_in_arrays and query.order == "ordered" and distinct_steps(classes, query):
        _check_columns(relation, query)
        ctes = [
            ("nsf_ev", events_cte(sql, query, classes, every_event=False)),
            ("nsf_hz", horizon_cte(sql, query)),
            *array_ctes(sql, classes, query, period),
        ]
        text = with_ctes(ctes, final(sql))
        return Plan((sql.statement(text),), lambda frames: finish(frames[0]))
    ctes = attempts_ctes(sql, query)
    if period is not None:
        ctes.append(period_cte(sql, query, *period))
        ctes.append(best_cte(sql, query, query.n_steps, source="nsf_attp", period=True))
    else:
        ctes.append(best_cte(sql, query, query.n_steps))
    text = with_ctes(ctes, final(sql))
    return Plan((sql.statement(text),), lambda frames: finish(frames[0]))


def steps_plan(relation: Relation, query: Any, finish: Finish) -> Plan:
    """``funnel``: per (breakdown value, step) users, still in window, median and mean."""
    return _plan(relation, query, lambda sql: answers.steps(sql, query, query.n_steps), finish)


def users_plan(relation: Relation, query: Any, finish: Finish) -> Plan:
    """``funnel_users``: each user's best attempt."""
    return _plan(relation, query, lambda sql: answers.users(sql, query, query.n_steps), finish)


def dropped_plan(relation: Relation, query: Any, step: int, finish: Finish) -> Plan:
    """``dropped_users``: the users who stopped before ``step`` with their window closed."""
    return _plan(relation, query, lambda sql: answers.dropped(sql, query, step), finish)


def trends_plan(
    relation: Relation,
    query: Any,
    interval: str,
    week_start: str,
    lo: int,
    hi: int,
    finish: Finish,
) -> Plan:
    """``funnel_trends``: per (breakdown value, period of the attempt's start) the counts."""
    return _plan(
        relation,
        query,
        lambda sql: answers.trends(sql, query, lo, hi),
        finish,
        period=(interval, week_start),
    )


def histogram_plan(
    relation: Relation, query: Any, lo: int, hi: int, bins: int | None, finish: Finish
) -> Plan:
    """``time_to_convert``: users per bin, with the bins' range and count."""
    return _plan(relation, query, lambda sql: answers.histogram(sql, query, lo, hi, bins), finish)


def next_events_plan(
    relation: Relation,
    query: Any,
    step: int,
    top: int,
    ignore: list[str],
    labels: tuple[str, str],
    finish: Finish,
) -> Plan:
    """``next_events_after_drop``: per (breakdown value, next event) the dropped users."""
    return _plan(
        relation,
        query,
        lambda sql: answers.next_events(sql, query, step, top, ignore, labels),
        finish,
    )
