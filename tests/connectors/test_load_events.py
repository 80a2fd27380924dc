"""connectors.load_events: one entry point, dispatched on what the source looks like."""

from __future__ import annotations

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
