"""KPI suggestions for a product that has no vision file yet, computed on its own data.

A product's first vision file starts from what its data can answer: how many people use it each
week, who does its most common events, how often they come back and, when the events carry
money, its revenue. :func:`suggest_kpis` proposes those KPIs, each with its current value (the
value the Overview's scorecard will show for it) as the starting target; :func:`vision_document`
turns the ones a PM picks into a vision file (docs/targets.md) that
:func:`metrics.vision.parse_vision`
accepts.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from metrics._common import as_lazy
from metrics.targets import Vision, parse_vision, scorecard
from metrics.warehouse import Relation

#: How many of the most common events get a "weekly users who did it" suggestion.
TOP_EVENTS = 3
#: The starting deadline: this many days after the evaluation day.
DEADLINE_DAYS = 90
#: Events that record the product's bookkeeping rather than what people do with it.
BOOKKEEPING = frozenset({"experiment_exposure", "$exposure", "$feature_flag_called"})


@dataclass(frozen=True)
class Suggestion:
    """One KPI the data can answer, with its value now and a starting target.

    ``fields`` are the KPI's keys as the vision file writes them (id, name, metric, its
    parameters, direction, description); ``value`` is the latest complete period's value (None:
    the data cannot answer it yet); ``target`` starts at that value, rounded; ``why`` says in plain
    words why it is suggested.
    """

    id: str
    name: str
    fields: Mapping[str, Any]
    unit: Literal["users", "events", "ratio", "currency", "lift"]
    period: str
    value: float | None
    target: float
    why: str


def suggest_kpis(
    events: pl.DataFrame | pl.LazyFrame | Relation,
    *,
    today: dt.date,
    tz: str = "UTC",
    top_events: int = TOP_EVENTS,
) -> list[Suggestion]:
    """KPIs worth tracking for these events, with each one's current value as of ``today``.

    Weekly active users always; weekly users of the ``top_events`` most common events; DAU/MAU and
    week-1 retention; monthly revenue, revenue per active user and weekly paying users when the
    events carry a ``revenue`` column with money in it. Values come from
    :func:`metrics.targets.scorecard`, so they are the numbers the Overview will show.
    """
    if isinstance(events, Relation):
        return _suggest_in_engine(events, today=today, tz=tz, top_events=top_events)
    lazy = as_lazy(events)
    columns = set(lazy.collect_schema().names())
    counts = (
        lazy.filter(~pl.col("event").is_in(sorted(BOOKKEEPING)))
        .group_by("event")
        .agg(pl.len().alias("events"), pl.col("user_id").n_unique().alias("users"))
        .sort(["events", "event"], descending=[True, False])
        .head(top_events)
        .collect()
    )
    has_money = (
        "revenue" in columns and lazy.select((pl.col("revenue") > 0).any()).collect().item() is True
    )
    total = int(lazy.select(pl.len()).collect().item())
    return _suggestions(_candidates(counts, total, has_money), lazy, today=today, tz=tz)


def _suggest_in_engine(
    events: Relation, *, today: dt.date, tz: str, top_events: int
) -> list[Suggestion]:
    """The same suggestions for events in an engine: the counts come from small statements
    (``metrics.warehouse.catalogue``), the values from the scorecard computed there."""
    from metrics.warehouse import catalogue

    counts = catalogue.event_users(events, sorted(BOOKKEEPING), top_events)
    has_money = catalogue.any_positive(events, "revenue")
    total = catalogue.column_profile(events, [], 1).rows
    return _suggestions(_candidates(counts, total, has_money), events, today=today, tz=tz)


def _suggestions(
    candidates: list[tuple[dict[str, Any], str]],
    events: pl.LazyFrame | Relation,
    *,
    today: dt.date,
    tz: str,
) -> list[Suggestion]:
    """Each candidate with its scorecard value as of ``today``; those without one dropped."""
    if not candidates:
        return []
    deadline = today + dt.timedelta(days=DEADLINE_DAYS)
    draft = {
        "product": {"name": "draft", "vision": "draft", "north_star": candidates[0][0]["id"]},
        "kpis": [
            {**fields, "target": 0, "deadline": deadline, "owner": "draft"}
            for fields, _ in candidates
        ],
    }
    vision = parse_vision(draft, source="suggestions")
    card = scorecard(vision, events, today=today, tz=tz).table
    values = dict(card.select("kpi", "value").iter_rows())
    out = []
    for (fields, why), kpi in zip(candidates, vision.kpis, strict=True):
        value = values.get(kpi.id)
        if value is None and kpi.id != "weekly_active_users":
            continue  # the data cannot answer it (too short, no such events): not worth offering
        out.append(
            Suggestion(
                id=kpi.id,
                name=kpi.name,
                fields=fields,
                unit=kpi.unit,
                period=kpi.period,
                value=value,
                target=starting_target(value, rate=kpi.spec.rate),
                why=why,
            )
        )
    return out


def _candidates(
    counts: pl.DataFrame, total: int, has_money: bool
) -> list[tuple[dict[str, Any], str]]:
    """The suggested KPIs' fields and why each is suggested, North Star candidate first."""
    out: list[tuple[dict[str, Any], str]] = [
        (
            {
                "id": "weekly_active_users",
                "name": "Weekly active users",
                "metric": "active_users",
                "period": "week",
                "direction": "up",
                "description": "People who did anything in a calendar week.",
            },
            "How many people use the product: the usual North Star to start from.",
        )
    ]
    taken = {"weekly_active_users"}
    for name, events_done, users in counts.iter_rows():
        kpi_id = f"weekly_{_slug(name)}_users"
        if kpi_id in taken:
            continue
        taken.add(kpi_id)
        share = f"{events_done / total:.0%} of all events" if total else "all events"
        out.append(
            (
                {
                    "id": kpi_id,
                    "name": f"Weekly users doing {name}",
                    "metric": "active_users",
                    "event": name,
                    "period": "week",
                    "direction": "up",
                    "description": f"People who did {name} at least once in a calendar week.",
                },
                f"One of the most common events: {events_done:,} {name} events by {users:,} "
                f"people ({share}).",
            )
        )
    out.append(
        (
            {
                "id": "stickiness",
                "name": "Stickiness (DAU/MAU)",
                "metric": "dau_mau",
                "direction": "up",
                "description": "Share of the last 30 days' users who come on a given day.",
            },
            "How often people come back: daily users over monthly users.",
        )
    )
    out.append(
        (
            {
                "id": "week1_retention",
                "name": "Week-1 retention",
                "metric": "retention",
                "offset": 1,
                "period": "week",
                "direction": "up",
                "description": "Share of a week's active users who come back the following week.",
            },
            "Whether people keep coming: the share back a week later.",
        )
    )
    if has_money:
        out += [
            (
                {
                    "id": "monthly_revenue",
                    "name": "Monthly revenue",
                    "metric": "revenue",
                    "period": "month",
                    "direction": "up",
                    "description": "Money taken in a calendar month (sum of revenue).",
                },
                "The events carry revenue: money taken per month.",
            ),
            (
                {
                    "id": "arpu",
                    "name": "Revenue per active user",
                    "metric": "arpu",
                    "period": "month",
                    "direction": "up",
                    "description": "A month's revenue divided by the people active that month.",
                },
                "The events carry revenue: what an active person is worth per month.",
            ),
            (
                {
                    "id": "weekly_paying_users",
                    "name": "Weekly paying users",
                    "metric": "paying_users",
                    "period": "week",
                    "direction": "up",
                    "description": "People who paid at least once in a calendar week.",
                },
                "The events carry revenue: how many people pay each week.",
            ),
        ]
    return out


def starting_target(value: float | None, *, rate: bool) -> float:
    """A round starting target at the current value: rates to a whole percent, other numbers to
    two significant figures (12,345 -> 12,000; 18.37 -> 18); zero when there is no value yet."""
    if value is None or not math.isfinite(value) or value <= 0:
        return 0.0
    if rate:
        return min(1.0, round(value, 2))
    digits = 1 - int(math.floor(math.log10(abs(value))))
    rounded = round(value, digits)
    return float(int(rounded)) if rounded >= 10 else float(rounded)


def vision_document(
    *,
    product: str,
    statement: str,
    north_star: str,
    kpis: Sequence[Suggestion],
    targets: Mapping[str, float] | None = None,
    deadline: dt.date,
    owner: str,
    currency: str | None = None,
) -> dict[str, Any]:
    """The vision file for the picked suggestions, as a mapping ready to write as TOML.

    ``targets`` overrides a suggestion's starting target by KPI id. Validate the result with
    :func:`metrics.vision.parse_vision` (:func:`check_document` does) before writing it.
    """
    head: dict[str, Any] = {"name": product.strip(), "vision": statement.strip()}
    head["north_star"] = north_star
    if currency:
        head["currency"] = currency.strip().upper()
    chosen = dict(targets or {})
    kpis_out = []
    for suggestion in kpis:
        fields = dict(suggestion.fields)
        target = chosen.get(suggestion.id, suggestion.target)
        kpis_out.append(
            {
                "id": fields.pop("id"),
                "name": fields.pop("name"),
                "metric": fields.pop("metric"),
                **{k: v for k, v in fields.items() if k not in ("direction", "description")},
                "target": _number(target),
                "direction": fields["direction"],
                "deadline": deadline,
                "owner": owner.strip(),
                "description": fields["description"],
            }
        )
    return {"product": head, "kpis": kpis_out}


def check_document(document: Mapping[str, Any], *, source: str = "vision.toml") -> Vision:
    """The vision a document describes; raises :class:`metrics.vision.VisionError` with every
    problem (an empty name, a North Star not among the KPIs, ...)."""
    return parse_vision(document, source=source)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() and abs(value) < 1e15 else float(value)


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")
    return slug or "event"


__all__ = [
    "Suggestion",
    "check_document",
    "starting_target",
    "suggest_kpis",
    "vision_document",
]
