"""ui/funnels.py: the page's query from its widgets and the sidebar, and the cached adapters.

The adapters run outside a Streamlit app here (``st.cache_data`` works without one); the
current source's events are a story frame (``ui.data.events`` replaced). Each test uses its own
source key, so cache entries never leak between tests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from metrics import funnels as metric
from metrics.funnels import Exclusion, FunnelQuery
from metrics.scope import Scope
from tests.conftest import make_events
from ui import data
from ui import funnels as fun

EVENTS = make_events(
    ("ann", "signup", "2026-03-02 09:00", {"platform": "web"}),
    ("ann", "purchase", "2026-03-02 09:30", {"platform": "web"}),
    ("bob", "signup", "2026-03-02 10:00", {"platform": "ios"}),
    ("bob", "purchase", "2026-03-02 11:00", {"platform": "ios"}),
    ("cat", "signup", "2026-03-03 10:00", {"platform": "web"}),
    ("dan", "page_view", "2026-03-31 10:00", {"platform": "web"}),
)
MARCH = Scope.build(start="2026-03-01", end="2026-03-31", tz="UTC")


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """The story is the current source; how many times an adapter fetched its events."""
    count = {"reads": 0}

    def events() -> pl.DataFrame:
        count["reads"] += 1
        return EVENTS

    monkeypatch.setattr(data, "events", events)
    return lambda: count["reads"]


def picked(scope: Scope = MARCH, **widgets: object) -> FunnelQuery:
    """The query of a page whose widgets say ``widgets`` (the rest as the page starts)."""
    values: dict[str, object] = {
        "order": "ordered",
        "view": fun.View(),
        "exclusions": [],
        "exclude_from": 1,
        "exclude_to": 0,
        "breakdown": None,
    }
    values.update(widgets)
    return fun.query(["signup", "purchase"], scope=scope, **values)


def test_the_page_query_carries_the_sidebar_scope():
    scope = MARCH.with_filters({"platform": ["web"]})
    assert picked(scope).scope == scope


def test_the_page_numbers_exclusion_steps_from_one_and_zero_is_the_last():
    query = fun.query(
        ["signup", "cart", "purchase"],
        order="ordered",
        view=fun.View(),
        exclusions=["help"],
        exclude_from=2,
        exclude_to=0,
        breakdown=None,
        scope=MARCH,
    )
    assert query.exclusions == (Exclusion("help", 1, 2),)


def test_the_window_is_the_number_and_unit_typed():
    query = picked(view=fun.View(window_value=36, window_unit="hour"))
    assert query.window == dt.timedelta(hours=36)


def test_the_steps_adapter_answers_as_the_metric(reads):
    query = picked()
    assert_frame_equal(fun.steps("story-steps", query), metric.funnel_of(EVENTS, query))


def test_a_sidebar_filter_reaches_the_metric_through_the_query(reads):
    query = picked(MARCH.with_filters({"platform": "web"}))
    # Only web events: ann and cat sign up, ann buys; bob (iOS) is not there at all.
    assert fun.steps("story-filtered", query)["users"].to_list() == [2, 1]


def test_equal_queries_share_one_cache_entry(reads):
    fun.steps("story-cache", picked(MARCH.with_filters({"platform": ["web"]})))
    before = reads()
    fun.steps("story-cache", picked(MARCH.with_filters({"platform": ("web",)})))
    assert reads() == before


def test_the_steps_trend_time_and_drop_offs_match_the_attempts_once(reads, monkeypatch):
    query = fun.whole(picked())
    matched: list[FunnelQuery] = []
    real = metric.funnel_run

    def funnel_run(events: pl.DataFrame, asked: FunnelQuery) -> metric.Run:
        matched.append(asked)
        return real(events, asked)

    monkeypatch.setattr(metric, "funnel_run", funnel_run)
    got = (
        fun.steps("story-once", query),
        fun.trends("story-once", query, "week"),
        fun.time_to_convert("story-once", query),
        fun.dropped("story-once", query, 2),
    )
    assert matched == [query]
    want = (
        metric.funnel_of(EVENTS, query),
        metric.funnel_trends_of(EVENTS, query, interval="week"),
        metric.time_to_convert_of(EVENTS, query),
        metric.dropped_users_of(EVENTS, query, step=2),
    )
    for frame, expected in zip(got, want, strict=True):
        assert_frame_equal(frame, expected)


def test_events_not_in_a_frame_are_asked_directly(reads, monkeypatch):
    monkeypatch.setattr(data, "events", lambda: EVENTS.lazy())
    monkeypatch.setattr(fun, "_attempts", lambda *a: pytest.fail("no shared match for this"))
    query = picked()
    assert_frame_equal(fun.steps("story-lazy", query), metric.funnel_of(EVENTS, query))


def test_the_trends_adapter_groups_by_the_interval_asked(reads):
    table = fun.trends("story-trends", fun.whole(picked()), "week")
    # Monday weeks from the one holding 1 March (a Sunday: 23 February) to the one of 30 March;
    # ann, bob and cat entered in the week of 2 March.
    assert table["entered"].to_list() == [0, 3, 0, 0, 0, 0]


def test_the_drop_off_adapters_name_who_dropped_and_what_they_did_next(reads):
    query = fun.whole(picked())
    gone = fun.dropped("story-drop", query, 2)
    went = fun.next_events("story-drop", query, 2, ())
    assert (gone["user_id"].to_list(), went["event"].to_list()) == (["cat"], ["(no later event)"])


def test_the_time_to_convert_adapter_bins_the_converted_users(reads):
    table = fun.time_to_convert("story-time", fun.whole(picked()))
    # ann took 30 minutes and bob an hour: two bins by Sturges' rule.
    assert table["users"].to_list() == [1, 1]


def test_the_whole_funnel_has_no_breakdown():
    assert fun.whole(picked(breakdown="platform")) == picked()


def test_the_definition_card_names_the_sidebar_filters():
    words = fun.describe_steps(picked(MARCH.with_filters({"platform": ["web", "ios"]})), fun.View())
    assert "Only events with platform = ios, web count." in words


def test_the_definition_card_says_the_window_as_typed():
    view = fun.View(window_value=36, window_unit="hour")
    assert "within **36 hours** of step 1" in fun.describe_time(picked(view=view), view)


@pytest.mark.parametrize(
    ("steps", "exclusions", "between", "words"),
    [
        (["signup"], [], (1, 0), "Pick at least two steps"),
        (["signup", "purchase"], ["signup"], (1, 0), "is a step of the funnel"),
        (["signup", "purchase"], ["help"], (2, 0), "Exclusions need a range"),
    ],
)
def test_what_stops_a_funnel_is_worded_for_the_page(steps, exclusions, between, words):
    assert words in (fun.problem(steps, exclusions, *between) or "")
