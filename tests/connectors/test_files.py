"""connectors.files: paths, globs and folders, lazy scans with pushdown, and bad input."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import polars as pl
import pytest

import connectors
from connectors import ConnectorError

UTC = dt.UTC


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def load(path: Path | str, **options):
    events, report = connectors.load_events(str(path), **options)
    return events.collect(), report


# -- bad input: one clear message each ---------------------------------------------------------


def test_malformed_csv_names_the_file_and_row(tmp_path):
    path = write(
        tmp_path / "events.csv",
        'user_id,event,timestamp\nu1,signup,2026-01-05T10:00Z\nu2,"signup,2026-01-05T11:00Z\n',
    )
    with pytest.raises(ConnectorError, match=r"events\.csv: row 2 is malformed"):
        load(path)


def test_ragged_csv_row_names_the_file_and_row(tmp_path):
    path = write(
        tmp_path / "events.csv",
        "user_id,event,timestamp\nu1,signup,2026-01-05T10:00Z\nu2,signup,2026-01-05,extra\n",
    )
    with pytest.raises(ConnectorError, match=r"events\.csv: row 2 has 4 fields, the header has 3"):
        load(path)


def test_malformed_ndjson_names_the_file_and_line(tmp_path):
    path = write(
        tmp_path / "events.ndjson",
        '{"user_id": "u1", "event": "signup", "timestamp": "2026-01-05T10:00Z"}\n'
        '{"user_id": "u2", "event": "signup", "timestamp": \n',
    )
    with pytest.raises(ConnectorError, match=r"events\.ndjson: line 2 is not JSON"):
        load(path)


def test_corrupt_parquet_names_the_file(tmp_path):
    path = tmp_path / "events.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(ConnectorError, match=r"events\.parquet.*cannot be read"):
        load(path)


def test_missing_required_column_names_file_and_column(tmp_path):
    path = write(tmp_path / "events.csv", "user_id,timestamp\nu1,2026-01-05T10:00Z\n")
    with pytest.raises(
        ConnectorError, match=r"events\.csv: required column 'event' not found\. Columns: 'user_id'"
    ):
        load(path)


def test_timestamp_with_no_zone_is_read_in_the_configured_zone_and_said_so(tmp_path):
    path = write(tmp_path / "events.csv", "user_id,event,timestamp\nu1,signup,2026-07-01 11:00\n")
    events, report = load(path, tz="Europe/Berlin")
    assert events.item(0, "timestamp") == dt.datetime(2026, 7, 1, 9, tzinfo=UTC)  # CEST, UTC+2
    assert "1 time with no zone read in Europe/Berlin and converted to UTC." in report.notes
    # The default zone is UTC, and the report says so too.
    events, report = load(path)
    assert events.item(0, "timestamp") == dt.datetime(2026, 7, 1, 11, tzinfo=UTC)
    assert "1 time with no zone read in UTC and converted to UTC." in report.notes


@pytest.mark.parametrize(
    ("value", "unit"),
    [(1_782_896_400_000, "milliseconds"), (1_782_896_400_000_000, "microseconds")],
)
def test_epochs_in_ms_and_us_are_recognised_and_said_so(tmp_path, value, unit):
    path = write(tmp_path / "events.csv", f"user_id,event,timestamp\nu1,signup,{value}\n")
    events, report = load(path)
    assert events.item(0, "timestamp") == dt.datetime(2026, 7, 1, 9, tzinfo=UTC)
    assert f"1 time read as epoch {unit} (from their size)." in report.notes


def test_unparseable_time_names_the_row_and_value(tmp_path):
    path = write(
        tmp_path / "events.csv",
        "user_id,event,timestamp\nu1,signup,2026-07-01T09:00Z\nu2,signup,last tuesday\n",
    )
    events, report = load(path)
    assert events.height == 1
    assert report.dropped["unparseable_time"] == 1
    assert any("first at row 2: 'last tuesday'" in note for note in report.notes)


US_DATES = (
    "user_id,event,timestamp\n"
    "u1,buy,12/1/2010 8:26\n"  # 1 December, as the UCI Online Retail export writes it
    "u1,buy,12/13/2010 18:05\n"
    "u2,buy,1/2/2011 9:01\n"  # 2 January
    "u2,buy,2011-01-03T10:00:00Z\n"  # another spelling still reaches the general reader
    "u3,buy,soon\n"
)


def test_a_time_format_reads_month_first_dates_in_the_source_zone(tmp_path):
    path = write(tmp_path / "events.csv", US_DATES)
    events, report = load(path, time_format="%m/%d/%Y %H:%M", tz="America/New_York")
    assert events.get_column("timestamp").to_list() == [
        dt.datetime(2010, 12, 1, 13, 26, tzinfo=dt.UTC),
        dt.datetime(2010, 12, 13, 23, 5, tzinfo=dt.UTC),
        dt.datetime(2011, 1, 2, 14, 1, tzinfo=dt.UTC),
        dt.datetime(2011, 1, 3, 10, 0, tzinfo=dt.UTC),
    ]
    assert report.dropped["unparseable_time"] == 1  # 'soon' is counted, not lost silently
    assert any("'%m/%d/%Y %H:%M'" in note for note in report.notes)


def test_without_a_time_format_slash_dates_are_dropped_with_a_hint(tmp_path):
    path = write(tmp_path / "events.csv", US_DATES)
    events, report = load(path)
    assert events.height == 1
    assert report.dropped["unparseable_time"] == 4
    assert any("give the source a time_format" in note for note in report.notes)


def test_a_time_format_that_is_no_pattern_is_named(tmp_path):
    path = write(tmp_path / "events.csv", US_DATES)
    with pytest.raises(ConnectorError, match=r"events\.csv: time_format must be a strftime"):
        load(path, time_format="mm/dd/yyyy")


@pytest.mark.parametrize("name", ["events.csv", "events.ndjson", "events.parquet", "events.csv.gz"])
def test_empty_file_is_named(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(ConnectorError, match=rf"{name}: the file is empty"):
        load(path)


def test_gzip_of_nothing_is_empty_too(tmp_path):
    path = tmp_path / "events.ndjson.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("\n")
    with pytest.raises(ConnectorError, match="the file is empty"):
        load(path)


def test_header_only_csv_loads_no_rows_and_says_so(tmp_path):
    path = write(tmp_path / "events.csv", "user_id,event,timestamp\n")
    events, report = load(path)
    assert events.height == 0 and report.rows_read == 0
    assert "The source has no rows." in report.notes


def test_missing_path_is_named(tmp_path):
    with pytest.raises(ConnectorError, match=r"nope\.csv: no such file or folder"):
        load(tmp_path / "nope.csv")


def test_unknown_file_type_is_named(tmp_path):
    path = write(tmp_path / "events.xlsx", "not really")
    with pytest.raises(ConnectorError, match=r"events\.xlsx: unknown file type"):
        load(path)


def test_folder_without_event_files_is_named(tmp_path):
    write(tmp_path / "README.md", "hello")
    with pytest.raises(ConnectorError, match="the folder holds no event files"):
        load(tmp_path)


def test_glob_matching_nothing_is_named(tmp_path):
    with pytest.raises(ConnectorError, match=r"\*\.parquet: no event files match"):
        load(tmp_path / "*.parquet")


def test_folder_mixing_file_types_is_refused(tmp_path):
    write(tmp_path / "a.csv", "user_id,event,timestamp\nu,e,2026-01-01\n")
    write(tmp_path / "b.ndjson", '{"user_id": "u", "event": "e", "timestamp": "2026-01-01"}\n')
    with pytest.raises(ConnectorError, match=r"mixes file types \(csv, ndjson\)"):
        load(tmp_path)


def test_unreadable_file_is_named(tmp_path, monkeypatch):
    path = write(tmp_path / "events.csv", "user_id,event,timestamp\n")
    # Tests may run as root, who reads anything: pretend the permission check fails.
    monkeypatch.setattr("connectors.files.os.access", lambda *_: False)
    with pytest.raises(ConnectorError, match=r"events\.csv: cannot be read \(permission denied\)"):
        load(path)


# -- what files give -------------------------------------------------------------------------


def test_ids_keep_leading_zeros_and_types_come_from_every_row(tmp_path):
    # 150 numeric-looking rows, then text: a type guessed from the first 100 rows would break.
    rows = "".join(f"00{i},signup,2026-01-05T10:00Z,{i}\n" for i in range(150))
    path = write(
        tmp_path / "events.csv", "user_id,event,timestamp,code\n" + rows + "u,x,2026-01-06,A7\n"
    )
    events, _ = load(path)
    assert events.item(0, "user_id") == "000"
    assert events.schema["code"] == pl.String
    assert events.height == 151


def test_glob_and_folder_read_every_file_and_name_the_file_of_a_bad_row(tmp_path):
    write(tmp_path / "a.csv", "user_id,event,timestamp\nu1,signup,2026-01-05T10:00Z\n")
    write(
        tmp_path / "b.csv",
        "user_id,event,timestamp\nu2,signup,2026-01-06T10:00Z\nu3,signup,soon\n",
    )
    for source in (tmp_path / "*.csv", tmp_path):
        events, report = load(source)
        assert sorted(events.get_column("user_id").to_list()) == ["u1", "u2"]
        assert report.notes[0] == "2 files read; rows are counted within each file."
        assert any("first at row 2 in b.csv: 'soon'" in note for note in report.notes)


def test_parquet_folder_is_scanned_with_range_and_columns_pushed_down(tmp_path):
    folder = tmp_path / "lake"
    folder.mkdir()
    for month in (1, 2, 3):
        pl.DataFrame(
            {
                "user_id": [f"u{month}"],
                "event": ["signup"],
                "timestamp": [dt.datetime(2026, month, 15, tzinfo=UTC)],
                "country": ["DE"],
                "unused": [month],
            }
        ).write_parquet(folder / f"2026-{month:02}.parquet")
    events, report = connectors.load_events(
        str(folder), start="2026-02-01", end="2026-02-28", columns=["country"]
    )
    plan = events.explain()
    scan = plan[plan.index("Parquet SCAN") :]
    assert "SELECTION" in scan  # the range reaches the scan, so row groups are skipped
    assert "PROJECT 4/5 COLUMNS" in scan  # 'unused' is never read
    frame = events.collect()
    assert frame.get_column("user_id").to_list() == ["u2"]
    assert frame.columns == ["user_id", "event", "timestamp", "country"]
    assert report.rows_read == 1


def test_json_array_files_are_read(tmp_path):
    path = write(
        tmp_path / "events.json",
        '[{"user_id": "u1", "event": "signup", "timestamp": "2026-01-05T10:00:00Z"}]',
    )
    events, _ = load(path)
    assert events.item(0, "user_id") == "u1"


def test_format_and_separator_can_be_given(tmp_path):
    path = write(tmp_path / "export.txt", "user_id;event;timestamp\nu1;signup;2026-01-05T10:00Z\n")
    events, report = load(path, format="csv", separator=";")
    assert events.item(0, "event") == "signup"
    assert report.format == "csv"


def test_an_identification_outside_the_range_still_links_the_ids(tmp_path):
    # anon-1 browses on 5 January and is identified as alice on 10 January; only the first week
    # is asked for, but the link from the 10th still makes the page view alice's.
    path = tmp_path / "events.parquet"
    pl.DataFrame(
        {
            "user_id": [None, "alice"],
            "anonymous_id": ["anon-1", "anon-1"],
            "event": ["page_view", "signup"],
            "timestamp": [
                dt.datetime(2026, 1, 5, tzinfo=UTC),
                dt.datetime(2026, 1, 10, tzinfo=UTC),
            ],
        }
    ).write_parquet(path)
    events, report = load(path, start="2026-01-01", end="2026-01-07")
    assert events.select("user_id", "event").rows() == [("alice", "page_view")]
    assert report.identities_merged == 1
    assert report.rows_read == 1
