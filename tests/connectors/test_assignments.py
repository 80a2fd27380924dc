"""connectors.assignments: first exposures from events, and assignments tables of any shape."""

from __future__ import annotations

import datetime as dt
import sqlite3

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from connectors import ConnectorError
from connectors.assignments import assignments_from_events, load_assignments, to_assignments
from metrics.schema import ASSIGNMENT_SCHEMA
from tests.conftest import make_events, ts


def exposure(user: str, when: str, experiment: str | None, variant: str | None):
    return (user, "experiment_exposure", when, {"experiment": experiment, "variant": variant})


def assignments(*rows: tuple[str, str, str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"user_id": u, "experiment": e, "variant": v, "timestamp": ts(t)} for u, e, v, t in rows],
        schema=ASSIGNMENT_SCHEMA,
    )


STORY = make_events(
    # alice sees control on Monday and, after a bug, treatment on Tuesday: she stays control.
    exposure("alice", "2026-09-07 10:00", "checkout", "control"),
    exposure("alice", "2026-09-08 10:00", "checkout", "treatment"),
    # bob is in two experiments; his checkout exposure comes first.
    exposure("bob", "2026-09-07 09:00", "checkout", "treatment"),
    exposure("bob", "2026-09-09 09:00", "onboarding", "short"),
    # carol's exposure lost its variant: it cannot assign her.
    exposure("carol", "2026-09-07 11:00", "checkout", None),
    # Not exposures at all.
    ("carol", "checkout_start", "2026-09-07 11:00", {"experiment": "checkout", "variant": "x"}),
    ("dave", "purchase", "2026-09-07 12:00"),
)


def test_first_exposure_per_user_and_experiment():
    expected = assignments(
        ("bob", "checkout", "treatment", "2026-09-07 09:00"),
        ("alice", "checkout", "control", "2026-09-07 10:00"),
        ("bob", "onboarding", "short", "2026-09-09 09:00"),
    )
    assert_frame_equal(assignments_from_events(STORY), expected)
    assert_frame_equal(assignments_from_events(STORY.lazy()), expected)


def test_keep_all_shows_users_seen_in_several_variants():
    got = assignments_from_events(STORY, keep="all")
    alice = got.filter(pl.col("user_id") == "alice")
    assert alice.get_column("variant").to_list() == ["control", "treatment"]
    assert got.height == 4


def test_exposure_event_and_property_names_are_configurable():
    events = make_events(
        ("u1", "$feature_flag_called", "2026-09-07 10:00", {"flag": "new-nav", "flag_value": "on"}),
        (
            "u1",
            "$feature_flag_called",
            "2026-09-07 09:00",
            {"flag": "new-nav", "flag_value": "off"},
        ),
    )
    got = assignments_from_events(
        events,
        exposure_event="$feature_flag_called",
        experiment_property="flag",
        variant_property="flag_value",
    )
    # The earlier call (09:00, "off") is the first exposure, whatever the row order.
    assert_frame_equal(got, assignments(("u1", "new-nav", "off", "2026-09-07 09:00")))


def test_missing_property_column_is_named():
    events = make_events(("u1", "experiment_exposure", "2026-09-07 10:00"))
    with pytest.raises(ConnectorError, match="no column 'experiment' \\(experiment_property\\)"):
        assignments_from_events(events)


def test_no_exposures_give_an_empty_frame_with_the_schema():
    got = assignments_from_events(
        make_events(("u1", "x", "2026-09-07 10:00", {"experiment": "e", "variant": "v"}))
    )
    assert got.height == 0
    assert dict(got.schema) == ASSIGNMENT_SCHEMA


def test_an_assignments_table_of_any_shape():
    raw = pl.DataFrame(
        {
            "distinct_id": [101, 101, 102, 103],
            "experiment_key": ["checkout"] * 4,
            "variation_id": ["B", "A", "A", None],
            # epoch ms; 101 saw B at 10:00 and A earlier at 09:00
            "exposed_at": [
                1_788_775_200_000,
                1_788_771_600_000,
                1_788_771_600_000,
                1_788_771_600_000,
            ],
        }
    )
    loaded = to_assignments(raw, source="assignments.csv")
    assert_frame_equal(
        loaded.assignments,
        assignments(
            ("101", "checkout", "A", "2026-09-07 09:00"),
            ("102", "checkout", "A", "2026-09-07 09:00"),
        ),
    )
    assert (loaded.rows_read, loaded.dropped) == (4, 1)  # 103 has no variant
    assert "1 later exposure of an assigned user was folded into the first." in loaded.notes
    assert any("1 assignment row had no user, experiment, variant" in n for n in loaded.notes)
    assert "Assignments column 'variation_id' was read as variant." in loaded.notes


def test_assignments_mapping_and_missing_columns():
    raw = pl.DataFrame({"who": ["u"], "exp": ["e"], "arm": ["a"], "when": ["2026-09-07T10:00Z"]})
    loaded = to_assignments(
        raw, source="a.csv", mapping={"user_id": "who", "experiment": "exp", "timestamp": "when"}
    )
    assert loaded.assignments.row(0)[:3] == ("u", "e", "a")
    with pytest.raises(ConnectorError, match=r"a\.csv: assignments need columns 'user_id'"):
        to_assignments(raw, source="a.csv")


def test_load_assignments_from_a_csv_file(tmp_path):
    path = tmp_path / "assignments.csv"
    path.write_text("user_id,experiment,variant,timestamp\n007,checkout,control,2026-09-07 10:00\n")
    loaded = load_assignments(path, tz="Europe/Berlin")
    assert_frame_equal(
        loaded.assignments, assignments(("007", "checkout", "control", "2026-09-07 08:00"))
    )


def test_load_assignments_from_a_sqlite_table(tmp_path):
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE exposures (user_id TEXT, experiment TEXT, variant TEXT, ts TEXT)"
        )
        conn.executemany(
            "INSERT INTO exposures VALUES (?, ?, ?, ?)",
            [
                ("u1", "checkout", "control", "2026-09-07T10:00:00Z"),
                ("u2", "checkout", "treatment", "2026-09-07T11:00:00Z"),
            ],
        )
    loaded = load_assignments(f"sqlite:///{path}", table="exposures")
    assert_frame_equal(
        loaded.assignments,
        assignments(
            ("u1", "checkout", "control", "2026-09-07 10:00"),
            ("u2", "checkout", "treatment", "2026-09-07 11:00"),
        ),
    )
    assert dt.datetime(2026, 9, 7, 10, tzinfo=dt.UTC) in loaded.assignments.get_column("timestamp")


def test_user_ids_written_as_floats_match_the_events(tmp_path):
    # A spreadsheet export writes the id column with gaps as floats: 7.0 is the events' user "7".
    path = tmp_path / "assignments.csv"
    path.write_text(
        "user_id,experiment,variant,timestamp\n"
        "7.0,checkout,control,2026-03-02\n"
        "8,checkout,treatment,2026-03-02\n"
        "9.5,checkout,treatment,2026-03-02\n",
        encoding="utf-8",
    )
    loaded = load_assignments(path)
    assert loaded.assignments.get_column("user_id").to_list() == ["7", "8", "9.5"]
    assert (
        "1 assignment user id written as whole numbers with a decimal point ('13085.0') "
        "read without it ('13085')."
    ) in loaded.notes
