"""The shared scope every family's query carries: one hashable form of dates, zone and filters."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from metrics.scope import Scope

NO_EVENTS = True


def test_equal_filters_written_differently_are_one_cache_key():
    a = Scope.build(start="2024-01-01", end="2024-01-31", filters={"os": {"ios", "web"}, "c": "DE"})
    b = Scope.build(
        start=dt.date(2024, 1, 1), end="2024-01-31", filters={"c": "DE", "os": ["ios", "web"]}
    )
    assert (a, hash(a)) == (b, hash(b))


def test_keep_drops_events_whose_property_does_not_match_and_keeps_not_set_when_asked():
    events = pl.LazyFrame({"os": ["ios", "web", None]})
    kept = Scope.build(filters={"os": ["ios", "(not set)"]}).keep(events).collect()
    assert kept["os"].to_list() == ["ios", None]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": "2024-02-01", "end": "2024-01-01"}, "end (2024-01-01) is before start"),
        ({"tz": "Mars/Olympus"}, "tz: 'Mars/Olympus'"),
        ({"filters": ["os"]}, "filters must be a mapping"),
    ],
)
def test_a_wrong_argument_is_named(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Scope.build(**kwargs)


def test_a_filter_on_a_missing_column_names_it():
    with pytest.raises(ValueError, match="no column 'plan'"):
        Scope.build(filters={"plan": "pro"}).keep(pl.LazyFrame({"os": ["ios"]}))


def test_the_order_of_a_membership_list_is_not_part_of_the_key():
    assert Scope.build(filters={"os": ["web", "ios"]}) == Scope.build(
        filters={"os": ["ios", "web"]}
    )
