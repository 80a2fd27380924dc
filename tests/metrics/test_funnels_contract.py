"""Funnel cases from the SPEC conformance file (tests/test_spec_interface.py, which now checks
only the shape of each public call): rules of docs/funnels.md that test_funnels.py tells with
other stories, told here with that file's own, and one more of PostHog's cases.
"""

from __future__ import annotations

import datetime as dt

from metrics.funnels import Exclusion, Step, funnel
from tests.conftest import make_events


def test_posthog_funnel_events():
    # PostHog test_funnel.py, test_funnel_events (events created one after another;
    # "had_anonymous_id" and "completed_movie" are one person).
    times = iter(f"2021-05-01 10:{m:02d}" for m in range(60))
    events = make_events(
        ("stopped_after_signup", "user signed up", next(times)),
        ("stopped_after_pay", "user signed up", next(times)),
        ("stopped_after_pay", "paid", next(times)),
        ("completed_movie", "user signed up", next(times)),
        ("completed_movie", "paid", next(times)),
        ("completed_movie", "watched movie", next(times)),
        ("just_did_movie", "watched movie", next(times)),
        ("wrong_order", "paid", next(times)),
        ("wrong_order", "user signed up", next(times)),
        ("wrong_order", "watched movie", next(times)),
    )
    result = funnel(events, ["user signed up", "paid", "watched movie"]).sort("step")
    assert result["users"].to_list() == [4, 2, 1]


def test_step_filters_labels_exclusions_and_a_breakdown_together():
    events = make_events(
        ("ann", "visit", "2026-01-05 10:00", {"plan": "pro", "country": "DE"}),
        ("ann", "buy", "2026-01-05 11:00", {"plan": "pro", "country": "DE"}),
        ("ben", "visit", "2026-01-05 10:00", {"plan": "free", "country": "FR"}),
        ("ben", "buy", "2026-01-05 11:00", {"plan": "free", "country": "FR"}),  # not a pro buy
        ("cat", "visit", "2026-01-05 10:00", {"plan": "pro", "country": "DE"}),
        ("cat", "cancel", "2026-01-05 10:30", {"plan": "pro", "country": "DE"}),  # spoils it
        ("cat", "buy", "2026-01-05 11:00", {"plan": "pro", "country": "DE"}),
    )
    steps = [Step("visit"), Step("buy", filters={"plan": ["pro"]}, label="Pro purchase")]
    plain = funnel(events, steps).sort("step")
    assert plain["event"].to_list() == ["visit", "Pro purchase"]
    assert plain["users"].to_list() == [3, 2]  # ann, cat
    excluded = funnel(events, steps, exclusions=[Exclusion("cancel", from_step=0, to_step=1)])
    # cat's only attempt is spoiled: she is removed
    assert excluded.sort("step")["users"].to_list() == [2, 1]
    by_country = funnel(events, steps, breakdown="country")
    got = {(r["country"], r["step"]): r["users"] for r in by_country.iter_rows(named=True)}
    assert got == {("DE", 1): 2, ("DE", 2): 2, ("FR", 1): 1, ("FR", 2): 0}


def test_of_two_attempts_that_get_as_far_the_earliest_gives_the_time():
    events = make_events(
        ("ann", "a", "2026-01-05 10:00"),
        ("ann", "a", "2026-01-05 11:00"),
        ("ann", "b", "2026-01-05 12:00"),
    )
    result = funnel(events, ["a", "b"]).sort("step")
    # Both attempts reach step 2; the one starting at 10:00 gives the time (2 h, not 1 h).
    assert result["users"].to_list() == [1, 1]
    assert result["median_seconds_to_convert"].to_list() == [None, 7200.0]


def test_an_exclusion_before_an_unreached_step_looks_to_the_window_end():
    day = dt.timedelta(days=1)
    inside = make_events(("ann", "a", "2026-01-05 10:00"), ("ann", "cancel", "2026-01-06 10:00"))
    after = make_events(("ann", "a", "2026-01-05 10:00"), ("ann", "cancel", "2026-01-06 10:00:01"))
    excl = [Exclusion("cancel", from_step=0, to_step=None)]
    # never reached b: an exclusion no later than step 1 + window spoils the only attempt
    assert funnel(inside, ["a", "b"], window=day, exclusions=excl)["users"].to_list() == [0, 0]
    assert funnel(after, ["a", "b"], window=day, exclusions=excl)["users"].to_list() == [1, 0]


def test_one_later_step_completes_attempts_under_two_breakdown_values():
    events = make_events(
        ("ann", "a", "2026-01-05 10:00", {"country": "DE"}),
        ("ann", "a", "2026-01-05 11:00", {"country": "FR"}),
        ("ann", "b", "2026-01-05 12:00", {"country": "US"}),  # step 2's own value is ignored
    )
    result = funnel(events, ["a", "b"], breakdown="country")
    got = {(r["country"], r["step"]): r["users"] for r in result.iter_rows(named=True)}
    assert got == {("DE", 1): 1, ("DE", 2): 1, ("FR", 1): 1, ("FR", 2): 1}
