"""Public metric functions name the bad input (issue 13, item 6): a missing column, a filter value
of the wrong type, an unknown experiment each raise a ValueError saying which; a filter can pick
the events without a value ("(not set)"), as breakdowns show them."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from metrics import engagement, funnels, retention
from metrics import experiments as ex
from metrics.scope import Scope

NOT_SET = "(not set)"  # the value a filter uses for "no value" (docs/metrics.md)

DAY = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
EVENTS = pl.DataFrame(
    {
        "user_id": ["ann", "ann", "bob", "cat"],
        "event": ["signup", "purchase", "signup", "signup"],
        "timestamp": [DAY, DAY + dt.timedelta(hours=1), DAY, DAY],
        "plan": ["pro", "pro", None, "free"],
        "visits": [1, 2, 3, 4],
    }
)
RANGE = {"start": "2026-03-01", "end": "2026-03-03"}

CALLS = {
    "active_users": lambda events, **kw: engagement.active_users(events, **RANGE, **kw),
    "rolling_active_users": lambda events, **kw: engagement.rolling_active_users(
        events, **RANGE, **kw
    ),
    "stickiness": lambda events, **kw: engagement.stickiness(events, **RANGE, **kw),
    "lifecycle": lambda events, **kw: engagement.lifecycle(events, **RANGE, **kw),
    "retention": lambda events, **kw: retention.retention(events, **RANGE, **kw),
    "funnel": lambda events, **kw: funnels.funnel(
        events, [funnels.Step("signup", filters=kw.get("filters")), "purchase"]
    ),
}


@pytest.mark.parametrize("name", CALLS)
@pytest.mark.parametrize("missing", ["user_id", "timestamp"])
def test_a_missing_canonical_column_is_named(name, missing):
    with pytest.raises(ValueError, match=missing):
        CALLS[name](EVENTS.drop(missing))


@pytest.mark.parametrize("name", CALLS)
def test_a_filter_on_a_missing_column_is_named(name):
    with pytest.raises(ValueError, match="'nope'"):
        CALLS[name](EVENTS, filters={"nope": ["x"]})


@pytest.mark.parametrize("name", CALLS)
@pytest.mark.parametrize(
    ("column", "value"), [("visits", "many"), ("plan", 3), ("plan", [True]), ("visits", [True])]
)
def test_a_filter_value_of_the_wrong_type_is_named(name, column, value):
    with pytest.raises(ValueError, match=f"'{column}'"):
        CALLS[name](EVENTS, filters={column: value})


def test_a_breakdown_on_a_missing_column_is_named():
    with pytest.raises(ValueError, match="'nope'"):
        engagement.active_users(EVENTS, **RANGE, breakdown="nope")


def kept_users(filters):
    """The users whose events a family keeps under ``filters`` (the shared scope's rule)."""
    kept = Scope.build(filters=filters).keep(EVENTS.lazy()).collect()
    return sorted(kept["user_id"].to_list())


def test_the_missing_value_can_be_filtered_on():
    assert kept_users({"plan": [NOT_SET]}) == ["bob"]
    assert kept_users({"plan": ["free", NOT_SET]}) == ["bob", "cat"]
    assert kept_users({"plan": NOT_SET}) == ["bob"]
    # Numbers too: "(not set)" is never compared with a number.
    assert kept_users({"visits": [NOT_SET, 4]}) == ["cat"]


def test_a_metric_filtered_on_the_missing_value():
    table = engagement.active_users(EVENTS, **RANGE, filters={"plan": [NOT_SET]})
    assert table["active_users"].sum() == 1  # bob


def test_an_unknown_experiment_is_named_with_the_known_ones():
    assignments = pl.DataFrame(
        {
            "user_id": ["ann", "bob"],
            "experiment": ["checkout", "checkout"],
            "variant": ["control", "treatment"],
            "timestamp": [DAY, DAY],
        }
    )
    with pytest.raises(ValueError, match="'typo'.*'checkout'"):
        ex.analyze(EVENTS, assignments, experiment="typo", metrics=[ex.Conversion("purchase")])
