"""Slow, obviously-correct loading rules in plain Python, to check connectors.normalise against.

Rows are dicts with ``user_id``, ``anonymous_id``, ``event``, ``timestamp`` (ISO text with a zone,
or anything else, which counts as unreadable) and ``event_id``. The rules are those of
docs/data.md: identity first (links from every row), then each row is dropped for the first of
no user, no event, unreadable time, or an event_id already kept; the rest are kept in order.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

Row = dict[str, Any]


def read_time(text: Any) -> dt.datetime | None:
    """An ISO time with a zone, as UTC; None for anything else (the generator only makes these)."""
    if not isinstance(text, str):
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        return None
    return value.astimezone(dt.UTC)


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def load(rows: list[Row]) -> tuple[list[Row], dict[str, int], int]:
    """(kept rows with user_id, event, timestamp, event_id), drops by reason, ids merged."""
    # Links: every row with both ids (different) links the anonymous id to the user; the
    # earliest link wins (rows without a readable time come last, then in row order).
    links: dict[str, tuple[tuple[int, dt.datetime | None, int], str]] = {}
    for position, row in enumerate(rows):
        user, anon = row["user_id"], row["anonymous_id"]
        if blank(user) or blank(anon) or user == anon:
            continue
        when = read_time(row["timestamp"])
        order = (0 if when is not None else 1, when, position)
        best = links.get(anon)
        if best is None or _earlier(order, best[0]):
            links[anon] = (order, user)
    dropped = {
        "filtered_out": 0,  # the reference has no where condition
        "no_user": 0,
        "no_event": 0,
        "unparseable_time": 0,
        "duplicate_event_id": 0,
    }
    kept: list[Row] = []
    seen_ids: set[str] = set()
    for row in rows:
        person = row["user_id"] if not blank(row["user_id"]) else row["anonymous_id"]
        if blank(person):
            dropped["no_user"] += 1
            continue
        if person in links:
            person = links[person][1]
        if blank(row["event"]):
            dropped["no_event"] += 1
            continue
        when = read_time(row["timestamp"])
        if when is None:
            dropped["unparseable_time"] += 1
            continue
        if row["event_id"] is not None:
            if row["event_id"] in seen_ids:
                dropped["duplicate_event_id"] += 1
                continue
            seen_ids.add(row["event_id"])
        kept.append(
            {
                "user_id": person,
                "event": row["event"],
                "timestamp": when,
                "event_id": row["event_id"],
            }
        )
    return kept, dropped, len(links)


def _earlier(
    a: tuple[int, dt.datetime | None, int], b: tuple[int, dt.datetime | None, int]
) -> bool:
    if a[0] != b[0]:
        return a[0] < b[0]
    if a[1] is not None and b[1] is not None and a[1] != b[1]:
        return a[1] < b[1]
    return a[2] < b[2]
