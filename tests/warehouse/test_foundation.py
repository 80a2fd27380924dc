"""The relation itself on each engine: a source read as the canonical events."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from metrics import engagement
from tests.conftest import make_events
from tests.metrics.test_common import (
    as_dates,
    as_texts,
    canonical,
    integer_ids,
    naive_times,
    paris_times,
)

SHAPES = (as_dates, as_texts, naive_times, paris_times, integer_ids)

MARCH = make_events(
    ("a", "x", "2026-03-08 06:30"),
    ("a", "y", "2026-03-09 04:00", {"platform": "ios"}),
    ("b", "x", "2026-03-10 12:00", {"platform": "web"}),
    ("c", "x", "2026-03-29 00:30"),
)


@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_weekly_active_users_across_the_march_dst_change_match_polars(on_engine, tz):
    args = dict(start="2026-03-01", end="2026-03-31", interval="week", tz=tz)
    expected = engagement.active_users(MARCH, **args)
    assert_frame_equal(engagement.active_users(on_engine(MARCH), **args), expected)


def _daily(events, **kw):
    return engagement.active_users(events, start="2026-03-07", end="2026-03-09", **kw)


@pytest.mark.parametrize(
    "unit,scale", [("s", 1), ("ms", 1_000), ("us", 1_000_000), ("ns", 1_000_000_000)]
)
def test_integer_epochs_take_their_unit_from_their_magnitude(on_engine, unit, scale):
    # 2026-03-08 06:30 UTC = 1772951400 s.
    frame = pl.DataFrame(
        {
            "user_id": ["a", "b"],
            "event": ["x", "x"],
            "timestamp": [1772951400 * scale, 1772951400 * scale + 86_400 * scale],
        }
    )
    got = _daily(on_engine(frame))
    assert got["active_users"].to_list() == [0, 1, 1]


def test_iso_text_times_are_read(on_engine):
    frame = pl.DataFrame(
        {
            "user_id": ["a", "b"],
            "event": ["x", "x"],
            "timestamp": ["2026-03-08 06:30:00", "2026-03-09 23:59:59"],
        }
    )
    assert _daily(on_engine(frame))["active_users"].to_list() == [0, 1, 1]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: shape.__name__)
def test_every_input_shape_is_read_as_the_canonical_events(on_engine, shape):
    """The shapes tests/metrics/test_common.py runs through every family (dates, ISO texts,
    naive or Paris times, integer ids), here one table each on the engine: read as the
    canonical frame is (that module's every family and call leaves Spark out)."""
    args = dict(start="2026-03-01", end="2026-03-14", interval="week")
    expected = engagement.active_users(canonical(), **args)
    assert_frame_equal(engagement.active_users(on_engine(shape()), **args), expected)


def test_mapping_renames_source_columns_in_the_sql(on_engine):
    frame = MARCH.rename({"user_id": "Customer ID", "event": "kind", "timestamp": "at"})
    rel = on_engine(frame, mapping={"user_id": "Customer ID", "event": "kind", "timestamp": "at"})
    args = dict(start="2026-03-01", end="2026-03-31", interval="week")
    assert_frame_equal(engagement.active_users(rel, **args), engagement.active_users(MARCH, **args))


def test_rows_without_user_or_time_are_left_out_and_duplicate_event_ids_kept_once(on_engine):
    frame = pl.DataFrame(
        {
            "user_id": ["a", None, "b", "c", "c"],
            "event": ["x", "x", "x", "x", "x"],
            "timestamp": [
                MARCH["timestamp"][0],
                MARCH["timestamp"][0],
                None,
                MARCH["timestamp"][1],
                MARCH["timestamp"][1],
            ],
            "event_id": ["1", "2", "3", "4", "4"],
        },
        schema_overrides={"timestamp": pl.Datetime("us", "UTC")},
    )
    got = engagement.active_users(on_engine(frame), start="2026-03-08", end="2026-03-09")
    assert got["active_users"].to_list() == [1, 1]


def test_an_anonymous_id_linked_to_a_user_becomes_that_user(on_engine):
    frame = pl.DataFrame(
        {
            "user_id": [None, "alice", None],
            "anonymous_id": ["cookie1", "cookie1", "cookie2"],
            "event": ["page_view", "signup", "page_view"],
            "timestamp": [MARCH["timestamp"][0], MARCH["timestamp"][1], MARCH["timestamp"][1]],
        },
        schema_overrides={"timestamp": pl.Datetime("us", "UTC")},
    )
    got = engagement.active_users(
        on_engine(frame), start="2026-03-08", end="2026-03-09", interval="week"
    )
    # Week of Mar 2: cookie1's page view is alice's. Week of Mar 9: alice and cookie2 (unlinked).
    assert got["active_users"].to_list() == [1, 2]


def test_hostile_values_are_bound_and_hostile_names_quoted(on_engine):
    evil = "x'); DROP TABLE events; --"
    frame = pl.DataFrame(
        {
            "user_id": ["a", "b"],
            "event": [evil, "x"],
            'plat"form`': ["o'k", "o'k"],
            "timestamp": [MARCH["timestamp"][0]] * 2,
        },
        schema_overrides={"timestamp": pl.Datetime("us", "UTC")},
    )
    rel = on_engine(frame)
    got = engagement.active_users(
        rel,
        start="2026-03-08",
        end="2026-03-08",
        event=evil,
        filters={'plat"form`': "o'k"},
        breakdown='plat"form`',
    )
    assert got["active_users"].to_list() == [1]


def test_the_load_report_is_counted_in_the_engine(on_engine):
    from connectors.warehouse import load_report

    frame = pl.DataFrame(
        {
            "user_id": ["a", None, "b", "c", "c", "d"],
            "event": ["x", "x", "x", "y", "y", None],
            "timestamp": [
                MARCH["timestamp"][0],
                MARCH["timestamp"][0],
                None,
                MARCH["timestamp"][1],
                MARCH["timestamp"][1],
                MARCH["timestamp"][1],
            ],
            "event_id": ["1", "2", "3", "4", "4", "5"],
        },
        schema_overrides={"timestamp": pl.Datetime("us", "UTC")},
    )
    report = load_report(on_engine(frame))
    assert (report.rows_read, report.rows_kept, report.users) == (6, 2, 2)
    assert report.dropped == {
        "no_user": 1,
        "no_event": 1,
        "unparseable_time": 1,
        "duplicate_event_id": 1,
    }
    assert report.events_by_name == {"x": 1, "y": 1}
    assert (report.first_event, report.last_event) == (MARCH["timestamp"][0], MARCH["timestamp"][1])


def test_a_mapping_can_rename_a_property_too(on_engine):
    frame = MARCH.rename({"platform": "device_platform"})
    rel = on_engine(frame, mapping={"platform": "device_platform"})
    args = dict(start="2026-03-01", end="2026-03-31", breakdown="platform")
    assert_frame_equal(engagement.active_users(rel, **args), engagement.active_users(MARCH, **args))


UNIQUE_IDS = MARCH.with_columns(event_id=pl.Series(["1", "2", "3", "4"]))
#: b's event on Mar 10 repeats the id of a's on Mar 9: the earlier one is kept.
REPEATED_IDS = MARCH.with_columns(event_id=pl.Series(["1", "2", "2", "4"]))


@pytest.mark.parametrize("duplicates", ["check", "drop"])
def test_the_duplicate_rule_applies_when_ids_repeat_and_is_skipped_when_none_do(
    on_engine, duplicates
):
    for frame, expected in ((UNIQUE_IDS, [1, 1, 1]), (REPEATED_IDS, [1, 1, 0])):
        rel = on_engine(frame, duplicates=duplicates)
        got = engagement.active_users(rel, start="2026-03-08", end="2026-03-10")
        assert got["active_users"].to_list() == expected
    rel = on_engine(UNIQUE_IDS, duplicates=duplicates)
    assert ("ROW_NUMBER" in rel.source) == (duplicates == "drop")


def test_trusted_ids_are_never_checked(on_engine):
    rel = on_engine(REPEATED_IDS, duplicates="trust")
    got = engagement.active_users(rel, start="2026-03-08", end="2026-03-10")
    assert got["active_users"].to_list() == [1, 1, 1]  # the source said its ids are unique


def test_the_public_call_reads_as_documented():
    import duckdb

    import connectors
    from connectors import warehouse

    con = duckdb.connect()
    con.execute(
        "CREATE TABLE events AS SELECT 'a' AS user_id, 'x' AS event, "
        "TIMESTAMPTZ '2026-03-08 06:30:00+00' AS timestamp"
    )
    for call in (connectors.warehouse, warehouse):
        got = engagement.active_users(
            call(con, table="events"), start="2026-03-08", end="2026-03-08"
        )
        assert got["active_users"].to_list() == [1]
    assert connectors.warehouse.engines.DuckDBEngine  # the package is still a package
