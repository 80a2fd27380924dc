"""The Engagement page's glue without a page: its query, the cached adapters keyed by it, and the
targets it reads from the vision file."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from metrics import engagement
from metrics.engagement import EngagementQuery
from metrics.scope import Scope
from tests.conftest import make_events
from ui import engagement as eng

D = dt.date

#: ann on the web and the app, bob on the app, in the first week of March 2026.
STORY = make_events(
    ("ann", "page_view", "2026-03-02 09:00", {"platform": "web"}),
    ("ann", "purchase", "2026-03-02 10:00", {"platform": "ios", "revenue": 12.5}),
    ("bob", "page_view", "2026-03-03 11:00", {"platform": "ios"}),
    ("ann", "page_view", "2026-03-05 08:00", {"platform": "web"}),
)

MARCH = Scope.build(start=D(2026, 3, 2), end=D(2026, 3, 8))


class Source:
    """The current source as the adapters see it: a fresh key, and how often events were read."""

    def __init__(self) -> None:
        self.key = f"story-{uuid.uuid4().hex}"  # a key no earlier test has cached under
        self.reads = 0
        self.events: pl.DataFrame | object = STORY

    def read(self) -> pl.DataFrame | object:
        self.reads += 1
        return self.events


@pytest.fixture
def source(monkeypatch: pytest.MonkeyPatch) -> Iterator[Source]:
    current = Source()
    monkeypatch.setattr("ui.data.events", current.read)
    yield current


def test_an_adapter_answers_as_the_query_function(source):
    query = eng.page_query(MARCH, event="page_view", interval="week", week_start="sunday")
    assert_frame_equal(eng.periodic(source.key, query), engagement.active_users_of(STORY, query))


def test_equal_questions_are_one_cache_entry(source):
    eng.rolling(
        source.key,
        eng.daily(eng.page_query(MARCH, event=None, interval="week", week_start="sunday")),
    )
    reads = source.reads
    eng.rolling(source.key, EngagementQuery.build(start="2026-03-02", end="2026-03-08"))
    assert source.reads == reads


def test_a_new_range_reads_the_shared_activity_table_not_the_events(source):
    first = eng.daily(eng.page_query(MARCH, event=None, interval="day", week_start=None))
    eng.rolling(source.key, first)
    reads = source.reads
    later = eng.over(first, D(2026, 3, 4), D(2026, 3, 6))
    got = eng.rolling(source.key, later)
    assert source.reads == reads + 1  # the adapter looked at the source; the table was cached
    assert_frame_equal(got, engagement.rolling_active_users_of(STORY, later))


def test_periods_stickiness_and_lifecycle_read_the_shared_table(source):
    query = eng.page_query(MARCH, event=None, interval="week", week_start="sunday")
    eng.rolling(source.key, eng.daily(query))
    reads = source.reads
    for adapter, metric in (
        (eng.periodic, engagement.active_users_of),
        (eng.stickiness, engagement.stickiness_of),
        (eng.lifecycle, engagement.lifecycle_of),
    ):
        assert_frame_equal(adapter(source.key, query), metric(STORY, query))
    assert source.reads == reads + 3  # each adapter looked at the source; none counted events
    first_seen = replace(query, new_means="first_seen")  # reads every event: not the table
    assert_frame_equal(
        eng.lifecycle(source.key, first_seen), engagement.lifecycle_of(STORY, first_seen)
    )


def test_a_breakdown_reads_its_own_table(source):
    split = replace(
        eng.daily(eng.page_query(MARCH, event=None, interval="day", week_start=None)),
        breakdown="platform",
    )
    got = eng.rolling(source.key, split)
    assert_frame_equal(got, engagement.rolling_active_users_of(STORY, split))
    reads = source.reads
    weekly = replace(split, interval="week")
    got = eng.periodic(source.key, weekly)
    assert source.reads == reads + 1  # the table by platform was cached
    assert_frame_equal(got, engagement.active_users_of(STORY, weekly))


def test_events_not_in_a_frame_are_asked_directly(source, monkeypatch):
    source.events = STORY.lazy()  # not a frame in memory (a relation is not either)
    monkeypatch.setattr("ui.activity._table", lambda *a: pytest.fail("no table for this"))
    query = eng.daily(eng.page_query(MARCH, event=None, interval="day", week_start=None))
    assert_frame_equal(
        eng.rolling(source.key, query), engagement.rolling_active_users_of(STORY, query)
    )


def test_the_page_query_is_the_sidebar_scope_and_the_controls():
    scope = Scope.build(
        start=D(2026, 3, 2), end=D(2026, 3, 8), tz="Europe/Berlin", filters={"platform": ["web"]}
    )
    got = eng.page_query(scope, event="purchase", interval="month", week_start=None)
    assert got == EngagementQuery.build(
        start="2026-03-02",
        end="2026-03-08",
        tz="Europe/Berlin",
        filters={"platform": ["web"]},
        event="purchase",
        interval="month",
    )


def test_a_link_naming_no_known_interval_asks_per_day():
    got = eng.page_query(MARCH, event=None, interval="fortnight", week_start="friday")
    assert (got.interval, got.week_start) == ("day", "monday")


def test_the_earlier_range_is_the_same_question_over_other_days():
    query = eng.page_query(MARCH, event="purchase", interval="week", week_start="sunday")
    earlier = eng.over(query, D(2026, 2, 23), D(2026, 3, 1))
    assert earlier == EngagementQuery.build(
        start="2026-02-23", end="2026-03-01", event="purchase", interval="week", week_start="sunday"
    )


def test_headlines_before_the_first_day_of_data_are_missing_not_zero(source):
    daily = eng.daily(eng.page_query(MARCH, event=None, interval="day", week_start=None))
    before = eng.headlines_before(source.key, daily, first_day=D(2026, 2, 1))
    # The previous period's lined-up day (1 March) has data; a year before (3 March 2025) none.
    assert (before["previous"] is not None, before["year"]) == (True, None)


def test_an_adapter_on_a_relation_keeps_the_sql_it_ran(source):
    from tests.warehouse.engines import DuckDBHarness

    harness = DuckDBHarness()
    try:
        source.events = harness.relation(STORY)
        query = eng.page_query(MARCH, event=None, interval="week", week_start=None)
        eng.periodic(source.key, query)
        (statement,) = eng.periodic.sql(source.key, query)
    finally:
        harness.close()
    assert statement.startswith("SELECT")


def test_the_definition_card_names_the_event_the_filters_and_the_zone():
    query = EngagementQuery.build(
        scope=Scope.build(
            start=D(2026, 3, 2), end=D(2026, 3, 8), tz="Asia/Tokyo", filters={"platform": ["web"]}
        ),
        event="purchase",
    )
    assert eng.describe_scope(query) == (
        "Counting unit: a user (`user_id`) with at least one `purchase` event with platform = web. "
        r"Days are calendar days in **Asia\/Tokyo**."  # Markdown-escaped (ui.text.md)
    )


VISION = """
[product]
name = "Story"
vision = "Come back every week."
north_star = "weekly_web_users"
currency = "EUR"

[[kpis]]
id = "weekly_web_users"
name = "Weekly web users"
metric = "active_users"
period = "week"
filters = { platform = "web" }
target = 100
direction = "up"
deadline = 2026-12-31
owner = "Ann"
description = "People on the web in a calendar week."

[[kpis]]
id = "mau"
name = "MAU"
metric = "active_users"
window_days = 30
target = 400
direction = "up"
deadline = 2026-12-31
owner = "Ann"
description = "People in the last 30 days."
"""


@pytest.fixture
def vision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "vision.toml"
    path.write_text(VISION, encoding="utf-8")
    monkeypatch.setattr("ui.product.vision_path", lambda name=None: path)
    monkeypatch.setattr("ui.product.source_currency", lambda name=None: None)
    return path


def test_a_kpi_with_the_page_filters_written_as_one_value_is_a_target(vision):
    query = eng.page_query(
        MARCH.with_filters({"platform": ["web"]}), event=None, interval="week", week_start=None
    )
    assert eng.vision_targets(query) == eng.Targets(periodic={"week": 100}, currency="EUR")


def test_a_changed_vision_file_is_read_again(vision):
    query = eng.page_query(MARCH, event=None, interval="day", week_start=None)
    eng.vision_targets(query)
    vision.write_text(VISION.replace("target = 400", "target = 4000"), encoding="utf-8")
    assert eng.vision_targets(query).rolling == {30: 4000}
