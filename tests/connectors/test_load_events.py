"""connectors.load_events: one entry point, dispatched on what the source looks like; then the
documented loading cases from the SPEC conformance file (epochs in every unit, duplicates and drop
reasons, mappings, naive times in the source zone, folders, globs, NDJSON, SQLite tables and
queries, optional columns' types), end to end through the public call."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import polars as pl
import pytest

import connectors
from connectors.report import LoadReport


@pytest.mark.parametrize(
    ("source", "url"),
    [
        ("postgresql+psycopg://analyst@db:5432/shop", True),
        ("sqlite:///events.db", True),
        ("mysql+pymysql://u@h/db", True),
        ("file:///tmp/events.csv", False),
        ("events/*.parquet", False),
        ("C:/exports/events.csv", False),
        ("demo", False),
    ],
)
def test_urls_are_told_from_paths(source, url):
    assert connectors.is_url(source) is url


def test_demo_dispatches_to_the_demo_generator(monkeypatch):
    seen = {}
    events = pl.DataFrame({"user_id": ["u"]})
    report = LoadReport(source="demo", format="demo", rows_read=1, rows_kept=1)

    def fake_load_demo(*, tz="UTC", **options):
        seen.update(tz=tz, **options)
        return events, None, report

    monkeypatch.setattr("connectors.demo.load_demo", fake_load_demo)
    lazy, got = connectors.load_events("demo", tz="Asia/Tokyo", users=100)
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect().equals(events)
    assert got is report
    assert seen == {"tz": "Asia/Tokyo", "users": 100}


def test_urls_dispatch_to_the_sql_connector(monkeypatch):
    seen = {}

    def fake_load_sql(url, *, mapping=None, tz="UTC", **options):
        seen.update(url=url, mapping=mapping, tz=tz, **options)
        return "events", "report"

    monkeypatch.setattr("connectors.sql.load_sql", fake_load_sql)
    got = connectors.load_events(
        "postgresql+psycopg://analyst@db/shop", mapping={"user_id": "uid"}, table="events"
    )
    assert got == ("events", "report")
    assert seen == {
        "url": "postgresql+psycopg://analyst@db/shop",
        "mapping": {"user_id": "uid"},
        "tz": "UTC",
        "table": "events",
    }


def test_paths_dispatch_to_the_file_connector(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("user_id,event,timestamp\nu1,signup,2026-03-02T10:00Z\n")
    events, report = connectors.load_events(path)  # a Path works as well as a str
    assert events.collect().height == 1
    assert report.format == "csv"


# --- the documented loading cases, end to end ------------------------------------------------

EPOCH_CSV = """user_id,event,timestamp,event_id
alice,signup,1767600000,e1
bob,signup,1767600000000,e2
carol,signup,1767600000000000,e3
dave,signup,1767600000000000000,e4
dave,signup,1767600000000000000,e4
,signup,1767600000,e5
,signup,1767600001,e6
eve,,1767600000,e7
frank,signup,not a time,e8
"""


def _check_canonical(events: object) -> pl.DataFrame:
    """The loaded events as a frame, after checking the canonical types of docs/data.md."""
    assert isinstance(events, pl.LazyFrame | pl.DataFrame)
    frame = events.collect() if isinstance(events, pl.LazyFrame) else events
    assert frame.schema["user_id"] == pl.String
    assert frame.schema["event"] == pl.String
    assert frame.schema["timestamp"] == pl.Datetime("us", "UTC")
    return frame


def test_load_events_epochs_duplicates_and_drop_reasons(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(EPOCH_CSV, encoding="utf-8")
    events, report = connectors.load_events(path)
    frame = _check_canonical(events)
    # 1767600000 s = 2026-01-05 08:00 UTC, written in s, ms, µs and ns.
    when = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
    assert frame.sort("user_id").select("user_id", "timestamp").rows() == [
        ("alice", when),
        ("bob", when),
        ("carol", when),
        ("dave", when),  # once: the repeated event_id e4 is dropped
    ]
    dropped = dict(report.dropped)
    by_reason = {key: value for key, value in dropped.items() if value}
    assert sum(by_reason.values()) == 5, dropped
    assert [v for k, v in by_reason.items() if "user" in k] == [2], dropped
    assert [v for k, v in by_reason.items() if "duplicate" in k] == [1], dropped
    assert [v for k, v in by_reason.items() if "event" in k and "duplicate" not in k] == [1]
    assert [v for k, v in by_reason.items() if "time" in k] == [1], dropped


def test_load_events_mapping_and_naive_times_in_zone(tmp_path: Path) -> None:
    csv = tmp_path / "custom.csv"
    csv.write_text("customer,action,when\nann,signup,2026-01-05 10:00:00\n", encoding="utf-8")
    events, report = connectors.load_events(
        csv,
        mapping={"user_id": "customer", "event": "action", "timestamp": "when"},
        tz="Europe/Paris",
    )
    frame = _check_canonical(events)
    assert frame.select("user_id", "event", "timestamp").rows() == [
        ("ann", "signup", dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC))  # 10:00 in Paris (UTC+1)
    ]
    assert report is not None
    # A time that carries its own zone is not moved by tz.
    aware = tmp_path / "aware.csv"
    aware.write_text("user_id,event,timestamp\nann,signup,2026-01-05T10:00:00Z\n", encoding="utf-8")
    frame = _check_canonical(connectors.load_events(aware, tz="Europe/Paris")[0])
    assert frame["timestamp"].to_list() == [dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)]


def test_load_events_parquet_naive_datetimes_in_zone(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    pl.DataFrame(
        {
            "user_id": ["ann"],
            "event": ["signup"],
            "timestamp": [dt.datetime(2026, 7, 1, 12, 0)],  # naive, New York summer time (UTC-4)
        }
    ).write_parquet(path)
    frame = _check_canonical(connectors.load_events(path, tz="America/New_York")[0])
    assert frame["timestamp"].to_list() == [dt.datetime(2026, 7, 1, 16, 0, tzinfo=dt.UTC)]


def test_load_events_sqlite_table(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    with sqlite3.connect(db) as con:
        con.execute("create table events (user_id text, event text, timestamp text, event_id text)")
        con.executemany(
            "insert into events values (?, ?, ?, ?)",
            [
                ("ann", "signup", "2026-01-05 10:00:00", "a"),
                ("ann", "signup", "2026-01-05 10:00:00", "a"),  # duplicate event_id
                (None, "signup", "2026-01-05 11:00:00", "b"),  # no user
            ],
        )
    events, report = connectors.load_events(f"sqlite:///{db}", table="events", tz="Europe/Paris")
    frame = _check_canonical(events)
    assert frame.select("user_id", "timestamp").rows() == [
        ("ann", dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC))
    ]
    assert sum(report.dropped.values()) == 2


def test_load_events_folder_glob_and_ndjson(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a.csv").write_text("user_id,event,timestamp\nann,a,2026-01-05 10:00:00\n")
    (folder / "b.csv").write_text("user_id,event,timestamp\nbob,b,2026-01-05 11:00:00\n")
    for source in (folder, str(folder / "*.csv")):
        frame = _check_canonical(connectors.load_events(source, tz="Asia/Tokyo")[0])
        assert sorted(frame.select("user_id", "timestamp").rows()) == [
            ("ann", dt.datetime(2026, 1, 5, 1, 0, tzinfo=dt.UTC)),  # Tokyo is UTC+9
            ("bob", dt.datetime(2026, 1, 5, 2, 0, tzinfo=dt.UTC)),
        ]
    ndjson = tmp_path / "events.ndjson"
    ndjson.write_text(
        '{"user_id": "cid", "event": "b", "timestamp": 1767600000123}\n'
        '{"user_id": "dan", "event": "b", "timestamp": "2026-01-05T11:00:00+01:00"}\n'
    )
    frame = _check_canonical(connectors.load_events(ndjson, tz="Asia/Tokyo")[0])
    assert sorted(frame["timestamp"].to_list()) == [
        dt.datetime(2026, 1, 5, 8, 0, 0, 123000, tzinfo=dt.UTC),  # epoch ms: no zone applies
        dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC),  # its own offset wins over tz
    ]


def test_load_events_sql_query_and_optional_columns(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as con:
        con.execute(
            "create table raw (who text, what text, at text, id integer, sess integer, "
            "revenue integer, plan text)"
        )
        con.executemany(
            "insert into raw values (?, ?, ?, ?, ?, ?, ?)",
            [
                ("ann", "purchase", "2026-01-05 10:00:00", 1, 77, 20, "pro"),
                ("bob", "view", "2026-01-05 11:00:00", 2, 78, None, "free"),
            ],
        )
    events, _ = connectors.load_events(
        f"sqlite:///{db}",
        query="select who, what, at, id as event_id, sess as session_id, revenue, plan from raw",
        mapping={"user_id": "who", "event": "what", "timestamp": "at"},
    )
    frame = _check_canonical(events).sort("user_id")
    assert frame.schema["event_id"] == pl.String
    assert frame.schema["session_id"] == pl.String
    assert frame.schema["revenue"] == pl.Float64
    assert frame["revenue"].to_list() == [20.0, None]
    assert frame["plan"].to_list() == ["pro", "free"]


def test_load_events_csv_optional_columns_types(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "user_id,event,timestamp,event_id,session_id,revenue,country\n"
        "00123,purchase,2026-01-05 10:00:00,17,5,20,DE\n",
        encoding="utf-8",
    )
    frame = _check_canonical(connectors.load_events(path)[0])
    assert frame["user_id"].to_list() == ["00123"]  # an id keeps its zeros
    assert frame.schema["event_id"] == pl.String and frame.schema["session_id"] == pl.String
    assert frame.schema["revenue"] == pl.Float64 and frame["revenue"].to_list() == [20.0]
    assert frame["country"].to_list() == ["DE"]
