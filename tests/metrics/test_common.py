"""Hand-built event frames in other shapes than docs/data.md (dates, ISO texts, times without a
zone or in another zone, integer user ids) give the same numbers as the canonical frame, in every
family; text that is not a time is an error, never a lost event."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from metrics import engagement, funnels, retention

UTC = dt.UTC
ROWS = [
    ("ann", "signup", dt.datetime(2026, 3, 2, tzinfo=UTC)),
    ("ann", "buy", dt.datetime(2026, 3, 3, tzinfo=UTC)),
    ("bob", "signup", dt.datetime(2026, 3, 3, tzinfo=UTC)),
    ("bob", "signup", dt.datetime(2026, 3, 10, tzinfo=UTC)),
    ("cy", "buy", dt.datetime(2026, 3, 11, tzinfo=UTC)),
]


def canonical() -> pl.DataFrame:
    return pl.DataFrame(
        ROWS,
        schema={"user_id": pl.String, "event": pl.String, "timestamp": pl.Datetime("us", "UTC")},
        orient="row",
    )


def as_dates() -> pl.DataFrame:
    return canonical().with_columns(pl.col("timestamp").dt.date())


def as_texts() -> pl.DataFrame:
    spellings = [
        "2026-03-02T00:00:00Z",
        "2026-03-03 00:00:00",
        "2026-03-03T01:00:00+01:00",
        "2026-03-10",
        "2026-03-11T00:00:00.000000",
    ]
    return canonical().with_columns(pl.Series("timestamp", spellings))


def naive_times() -> pl.DataFrame:
    """Times without a zone: read as UTC."""
    return canonical().with_columns(pl.col("timestamp").dt.replace_time_zone(None))


def paris_times() -> pl.DataFrame:
    """The same instants written in another zone."""
    return canonical().with_columns(pl.col("timestamp").dt.convert_time_zone("Europe/Paris"))


def integer_ids() -> pl.DataFrame:
    return canonical().with_columns(
        pl.col("user_id").replace_strict({"ann": 1, "bob": 2, "cy": 3}, return_dtype=pl.Int64)
    )


CALLS = [
    lambda ev: engagement.active_users(ev, start="2026-03-01", end="2026-03-14"),
    lambda ev: engagement.active_users(ev, start="2026-03-01", end="2026-03-14", window_days=7),
    lambda ev: engagement.stickiness(ev, start="2026-03-01", end="2026-03-14"),
    lambda ev: engagement.lifecycle(ev, start="2026-03-01", end="2026-03-14"),
    lambda ev: retention.retention(ev, start="2026-03-01", end="2026-03-14", interval="day"),
    lambda ev: funnels.funnel(ev, ["signup", "buy"]),
]


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("shape", [as_dates, as_texts, naive_times, paris_times, integer_ids])
def test_other_shapes_count_like_the_canonical_frame(call, shape):
    assert_frame_equal(call(shape()), call(canonical()))


def test_text_that_is_not_a_time_is_an_error_naming_the_column():
    events = as_texts().with_columns(
        pl.when(pl.col("user_id") == "cy")
        .then(pl.lit("next tuesday"))
        .otherwise(pl.col("timestamp"))
        .alias("timestamp")
    )
    with pytest.raises(ValueError, match=r"'timestamp'.*'next tuesday'"):
        engagement.active_users(events, start="2026-03-01", end="2026-03-14")
