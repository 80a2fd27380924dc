"""One small story of events that every connector must turn into the same canonical frame.

    alice browses anonymously (device anon-a) on Monday 2 March 2026 at 08:00 UTC, signs up five
    minutes later (now known as alice, still on anon-a), and buys for 20.50 on Tuesday at 19:30.
    bob signs up on Wednesday at 12:00, identified from his first event (device anon-b).
    carol only browses, anonymously (anon-c), on Thursday at 23:59:59, and is never identified.

Identity resolution attributes alice's anonymous page view to alice; carol stays her own person
under her anonymous id. So the canonical frame has 5 events and 3 users.

Connector tests write :data:`STORY` in their format (a CSV, a Segment export, a PostgreSQL
table, ...) and compare the loaded events with :data:`EXPECTED` through :func:`assert_story`, on the
columns the format carries (:data:`COMPARED`; GA4 has no event ids, Snowplow no plan).
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from polars.testing import assert_frame_equal

UTC = dt.UTC


def _t(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


#: The story as a source would hold it before identity resolution: ``user_id`` is empty until the
#: person is known; every event carries the device's ``anonymous_id``. Times are whole seconds
#: (Mixpanel exports keep no more).
STORY = pl.DataFrame(
    {
        "user_id": [None, "alice", "alice", "bob", None],
        "anonymous_id": ["anon-a", "anon-a", "anon-a", "anon-b", "anon-c"],
        "event": ["page_view", "signup", "purchase", "signup", "page_view"],
        "timestamp": [_t(2, 8), _t(2, 8, 5), _t(3, 19, 30), _t(4, 12), _t(5, 23, 59, 59)],
        "event_id": ["e1", "e2", "e3", "e4", "e5"],
        "revenue": [None, None, 20.5, None, None],
        "plan": [None, "free", "pro", "free", None],
    },
    schema={
        "user_id": pl.String,
        "anonymous_id": pl.String,
        "event": pl.String,
        "timestamp": pl.Datetime("us", "UTC"),
        "event_id": pl.String,
        "revenue": pl.Float64,
        "plan": pl.String,
    },
)

#: The canonical frame every connector must produce from the story (sorted by time).
EXPECTED = STORY.with_columns(
    # alice's anonymous page view is hers once anon-a is linked to her; carol stays anon-c.
    user_id=pl.Series(["alice", "alice", "alice", "bob", "anon-c"]),
).select("user_id", "event", "timestamp", "event_id", "revenue", "plan")

#: Columns compared by default; a format without event ids or properties drops those.
COMPARED: tuple[str, ...] = tuple(EXPECTED.columns)


def assert_story(events: pl.DataFrame | pl.LazyFrame, columns: tuple[str, ...] = COMPARED) -> None:
    """Fail unless ``events`` holds exactly the story's canonical rows in ``columns``."""
    frame = events.collect() if isinstance(events, pl.LazyFrame) else events
    got = frame.select(columns).sort("timestamp", "user_id", "event")
    assert_frame_equal(got, EXPECTED.select(columns))
