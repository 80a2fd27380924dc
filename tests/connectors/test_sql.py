"""connectors.sql.load_sql against a real SQLite file and a real PostgreSQL server.

The story of tests/connectors/story.py is written into both databases, its times stored every way a
database holds them, and must come back as the same canonical frame as from the file connectors.
Pushing the date range and the columns into the SQL must change nothing but the work done: the
property tests load random tables with and without pushdown and compare frames and reports.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import sqlite3
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import adbc_driver_postgresql.dbapi as adbc_pg
import adbc_driver_sqlite.dbapi as adbc_sqlite
import polars as pl
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import connectors
from connectors import ConnectorError
from connectors.normalise import to_canonical
from connectors.report import LoadReport
from connectors.sql import load_sql
from tests.connectors.pgserver import PostgresServer
from tests.connectors.story import STORY, assert_story

UTC = dt.UTC
STORY_ROWS: list[dict[str, Any]] = STORY.to_dicts()


# -- writing tables ----------------------------------------------------------------------------


def quoted(name: str) -> str:
    """A test-side identifier, quoted the standard way (both databases accept it)."""
    return '"' + name.replace('"', '""') + '"'


def sqlite_table(
    path: Path, rows: Sequence[dict[str, Any]], types: dict[str, str], table: str = "events"
) -> str:
    """A SQLite file holding ``rows`` in a table whose columns have the declared ``types``;
    the values are stored as given (str, int, float, None), so each test controls storage classes.
    Returns the SQLAlchemy URL."""
    with sqlite3.connect(path) as db:
        cols = ", ".join(f"{quoted(name)} {kind}" for name, kind in types.items())
        db.execute(f"DROP TABLE IF EXISTS {quoted(table)}")
        db.execute(f"CREATE TABLE {quoted(table)} ({cols})")
        marks = ", ".join("?" for _ in types)
        db.executemany(
            f"INSERT INTO {quoted(table)} VALUES ({marks})",
            [[r.get(c) for c in types] for r in rows],
        )
    db.close()
    return f"sqlite:///{path}"


def pg_table(
    server: PostgresServer,
    database: str,
    rows: Sequence[dict[str, Any]],
    types: dict[str, str],
    table: str = "events",
) -> str:
    """A PostgreSQL table with columns of the given SQL ``types``; returns the SQLAlchemy URL."""
    with psycopg.connect(server.url(database, driver=""), autocommit=True) as db:
        cols = ", ".join(f"{quoted(name)} {kind}" for name, kind in types.items())
        db.execute(f"DROP TABLE IF EXISTS {quoted(table)}")
        db.execute(f"CREATE TABLE {quoted(table)} ({cols})")
        if rows:
            marks = ", ".join("%s" for _ in types)
            with db.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {quoted(table)} VALUES ({marks})",
                    [[r.get(c) for c in types] for r in rows],
                )
    return server.url(database)


STORY_TYPES_SQLITE = {
    "user_id": "TEXT",
    "anonymous_id": "TEXT",
    "event": "TEXT",
    "timestamp": "",  # set per storage below
    "event_id": "TEXT",
    "revenue": "REAL",
    "plan": "TEXT",
}


def story_rows(encode: Callable[[dt.datetime], Any]) -> list[dict[str, Any]]:
    return [{**row, "timestamp": encode(row["timestamp"])} for row in STORY_ROWS]


def wall(zone: str, fmt: str = "%Y-%m-%d %H:%M:%S") -> Callable[[dt.datetime], str]:
    return lambda t: t.astimezone(ZoneInfo(zone)).strftime(fmt)


def epoch(scale: int, kind: type = int) -> Callable[[dt.datetime], Any]:
    return lambda t: kind(int(t.timestamp()) * scale)


def kept(report: LoadReport) -> dict[str, Any]:
    """The report without its notes (which say how the rows were fetched)."""
    fields = report.__dataclass_fields__
    return {name: getattr(report, name) for name in fields if name != "notes"}


def fetched(report: LoadReport) -> int:
    """How many rows the SQL returned, from the report's note."""
    found = re.search(r"Fetched ([\d,]+) rows", " ".join(report.notes))
    assert found, report.notes
    return int(found.group(1).replace(",", ""))


# -- the contract story ------------------------------------------------------------------------

# (declared type, how the time is written, tz the load is told): every way SQLite holds a time.
SQLITE_STORAGES = {
    "iso_utc_z": ("TEXT", lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"), "UTC"),
    "iso_offset": ("TEXT", wall("Asia/Kolkata", "%Y-%m-%d %H:%M:%S+05:30"), "UTC"),
    "wall_clock_new_york": ("DATETIME", wall("America/New_York"), "America/New_York"),
    "epoch_seconds": ("INTEGER", epoch(1), "UTC"),
    "epoch_millis": ("INTEGER", epoch(1_000), "UTC"),
    "epoch_micros_untyped": ("", epoch(1_000_000), "UTC"),
    "epoch_seconds_real": ("REAL", epoch(1, float), "UTC"),
}


@pytest.mark.parametrize("storage", sorted(SQLITE_STORAGES))
def test_story_from_sqlite_matches_the_file_connectors(tmp_path, storage):
    declared, encode, tz = SQLITE_STORAGES[storage]
    url = sqlite_table(
        tmp_path / "story.db", story_rows(encode), {**STORY_TYPES_SQLITE, "timestamp": declared}
    )
    events, report = connectors.load_events(url, table="events", tz=tz)
    assert_story(events)
    assert report.format == "sqlite"
    assert (report.rows_read, report.rows_kept, report.users) == (5, 5, 3)
    assert report.identities_merged == 2  # anon-a is alice, anon-b is bob


PG_STORAGES = {
    "timestamptz": ("timestamptz", lambda t: t, "UTC"),
    "timestamp_berlin": (
        "timestamp",
        lambda t: t.astimezone(ZoneInfo("Europe/Berlin")).replace(tzinfo=None),
        "Europe/Berlin",
    ),
    "epoch_millis_bigint": ("bigint", epoch(1_000), "UTC"),
    "epoch_seconds_numeric": ("numeric(12,0)", epoch(1), "UTC"),
    "epoch_seconds_double": ("double precision", epoch(1, float), "UTC"),
    "iso_text": ("text", lambda t: t.strftime("%Y-%m-%dT%H:%M:%S+00:00"), "UTC"),
}
STORY_TYPES_PG = {
    "user_id": "text",
    "anonymous_id": "varchar(40)",
    "event": "text",
    "timestamp": "",
    "event_id": "text",
    "revenue": "numeric(10,2)",
    "plan": "text",
}


@pytest.mark.postgres
@pytest.mark.parametrize("storage", sorted(PG_STORAGES))
def test_story_from_postgresql_matches_the_file_connectors(pg_server, pg_database, storage):
    declared, encode, tz = PG_STORAGES[storage]
    url = pg_table(
        pg_server, pg_database, story_rows(encode), {**STORY_TYPES_PG, "timestamp": declared}
    )
    events, report = connectors.load_events(url, table="events", tz=tz)
    assert_story(events)
    assert report.format == "postgresql"
    assert (report.rows_read, report.rows_kept, report.users) == (5, 5, 3)
    assert report.identities_merged == 2


@pytest.mark.postgres
def test_story_through_sqlalchemy_rows_is_the_same_frame(pg_server, pg_database, tmp_path):
    pg_url = pg_table(
        pg_server, pg_database, STORY_ROWS, {**STORY_TYPES_PG, "timestamp": "timestamptz"}
    )
    sqlite_url = sqlite_table(
        tmp_path / "story.db",
        story_rows(lambda t: t.isoformat()),
        {**STORY_TYPES_SQLITE, "timestamp": "TEXT"},
    )
    for url in (pg_url, sqlite_url):
        fast, fast_report = load_sql(url, table="events")
        slow, slow_report = load_sql(url, table="events", engine="sqlalchemy")
        assert_story(fast)
        assert_frame_equal(slow.collect(), fast.collect())
        assert kept(slow_report) == kept(fast_report)
        assert "through ADBC" in fast_report.notes[-1]
        assert "through SQLAlchemy rows" in slow_report.notes[-1]


@pytest.mark.postgres
def test_story_from_a_query_with_colons_and_casts(pg_server, pg_database):
    url = pg_table(
        pg_server, pg_database, STORY_ROWS, {**STORY_TYPES_PG, "timestamp": "timestamptz"}
    )
    # ':00' and '::' are SQL text, not bind parameters; a trailing comment and semicolon are fine.
    query = """
        SELECT user_id, anonymous_id, event, "timestamp"::timestamptz AS "timestamp", event_id,
               revenue, plan, '10:00' AS opens_at
        FROM events WHERE event <> ':nothing' -- every row;
    """
    events, report = load_sql(url, query=query)
    assert_story(events)
    assert events.collect()["opens_at"].unique().to_list() == ["10:00"]
    assert report.source.endswith("(query)")


# -- pushdown ------------------------------------------------------------------------------------


def test_date_range_is_pushed_into_the_sql_as_bound_parameters(tmp_path, caplog):
    url = sqlite_table(
        tmp_path / "story.db",
        story_rows(lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")),
        {**STORY_TYPES_SQLITE, "timestamp": "TEXT"},
    )
    with caplog.at_level(logging.DEBUG, logger="connectors.sql"):
        events, report = load_sql(url, table="events", start="2026-03-05", end="2026-03-05")
    # Only carol's Thursday page view (e5) is on 5 March.
    assert events.collect()["event_id"].to_list() == ["e5"]
    assert report.rows_read == 1
    sql = caplog.text
    assert "2026-03-0" not in sql  # the dates travel as parameters, never in the SQL text
    assert "?" in sql
    # Fetched: e5; e4 (4 March: text gets a day of margin, as written offsets may be +14:00); and
    # e2, e3, the rows that carry both ids (identity resolution needs every link). Not e1.
    assert fetched(report) == 4


def test_columns_not_needed_are_not_selected(tmp_path, caplog):
    rows = [{**row, "country": "DE", "browser": "firefox"} for row in STORY_ROWS]
    types = {**STORY_TYPES_SQLITE, "timestamp": "TEXT", "country": "TEXT", "browser": "TEXT"}
    rows = [{**row, "timestamp": row["timestamp"].isoformat()} for row in rows]
    url = sqlite_table(tmp_path / "story.db", rows, types)
    with caplog.at_level(logging.DEBUG, logger="connectors.sql"):
        events, report = load_sql(url, table="events", columns=["plan"])
    select = caplog.text.split("SELECT")[-1]
    assert "browser" not in select and "country" not in select
    assert "plan" in select and "anonymous_id" in select  # anonymous_id feeds identity
    assert_story(events)
    assert "country" not in events.collect_schema()
    assert "7 of 9 columns pushed into the SQL" in report.notes[-1]


def test_identification_outside_the_range_still_links_the_anonymous_id(tmp_path):
    rows = [
        {
            "user_id": None,
            "anonymous_id": "d1",
            "event": "page_view",
            "timestamp": "2026-03-02T10:00:00Z",
        },
        {
            "user_id": "alice",
            "anonymous_id": "d1",
            "event": "signup",
            "timestamp": "2026-03-09T10:00:00Z",
        },
    ]
    types = {"user_id": "TEXT", "anonymous_id": "TEXT", "event": "TEXT", "timestamp": "TEXT"}
    url = sqlite_table(tmp_path / "ids.db", rows, types)
    events, report = load_sql(url, table="events", start="2026-03-02", end="2026-03-02")
    assert events.collect()["user_id"].to_list() == ["alice"]
    assert report.identities_merged == 1


def test_a_column_empty_for_many_rows_keeps_its_type(tmp_path):
    # ADBC's SQLite driver types a column from its first batch of rows (RECIPES): a revenue that is
    # empty for 5,000 rows would be typed as integers and then fail on 19.99.
    rows = [
        {"user_id": f"u{i}", "event": "view", "timestamp": 1_767_225_600 + i, "revenue": None}
        for i in range(5_000)
    ]
    rows.append(
        {"user_id": "u1", "event": "purchase", "timestamp": 1_767_230_600, "revenue": 19.99}
    )
    types = {"user_id": "TEXT", "event": "TEXT", "timestamp": "INTEGER", "revenue": ""}
    url = sqlite_table(tmp_path / "sparse.db", rows, types)
    events = load_sql(url, table="events")[0].collect()
    assert events.height == 5_001
    assert events["revenue"].drop_nulls().to_list() == [19.99]


# -- the range's edges ---------------------------------------------------------------------------

# 5 March 2026 in Kiritimati (UTC+14) runs from 4 March 10:00 UTC to 5 March 10:00 UTC; in Pago Pago
# (UTC-11) from 5 March 11:00 UTC to 6 March 11:00 UTC. Times written with offsets -12:00 and +14:00
# land on other calendar dates than either, which is what the SQL's margin is for.
EDGE_DAY = dt.date(2026, 3, 5)
EDGE_SECONDS = {
    "before_start": -1,
    "start": 0,
    "after_start": 1,
    "before_end": 86_399,
    "end": 86_400,
}
INSIDE = ["after_start", "before_end", "start"]


def edge_rows(tz: str, encode: Callable[[dt.datetime], Any]) -> list[dict[str, Any]]:
    midnight = dt.datetime.combine(EDGE_DAY, dt.time(), ZoneInfo(tz)).astimezone(UTC)
    return [
        {
            "user_id": "u",
            "event": "view",
            "timestamp": encode(midnight + dt.timedelta(seconds=seconds)),
            "event_id": name,
        }
        for name, seconds in EDGE_SECONDS.items()
    ]


def written(offset_hours: int) -> Callable[[dt.datetime], str]:
    zone = dt.timezone(dt.timedelta(hours=offset_hours))
    return lambda t: t.astimezone(zone).isoformat()


EDGE_TYPES = {"user_id": "TEXT", "event": "TEXT", "timestamp": "", "event_id": "TEXT"}
SQLITE_EDGES = {
    "text_z": ("TEXT", lambda tz: lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")),
    "text_minus_12": ("TEXT", lambda tz: written(-12)),
    "text_plus_14": ("TEXT", lambda tz: written(14)),
    "text_wall_clock": ("TEXT", lambda tz: wall(tz)),
    "epoch_s": ("INTEGER", lambda tz: epoch(1)),
    "epoch_ms": ("INTEGER", lambda tz: epoch(1_000)),
    "epoch_us": ("INTEGER", lambda tz: epoch(1_000_000)),
    "epoch_ns": ("INTEGER", lambda tz: epoch(1_000_000_000)),
    "epoch_s_real": ("REAL", lambda tz: epoch(1, float)),
}


@pytest.mark.parametrize("tz", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
@pytest.mark.parametrize("storage", sorted(SQLITE_EDGES))
def test_sqlite_range_edges(tmp_path, storage, tz):
    declared, encoder = SQLITE_EDGES[storage]
    url = sqlite_table(
        tmp_path / "edges.db", edge_rows(tz, encoder(tz)), {**EDGE_TYPES, "timestamp": declared}
    )
    events, report = load_sql(url, table="events", tz=tz, start=EDGE_DAY, end=EDGE_DAY)
    assert sorted(events.collect()["event_id"]) == INSIDE
    assert report.rows_read == 3


PG_EDGES = {
    "timestamptz": ("timestamptz", lambda tz: lambda t: t),
    "timestamp_wall_clock": (
        "timestamp",
        lambda tz: lambda t: t.astimezone(ZoneInfo(tz)).replace(tzinfo=None),
    ),
    "text_minus_12": ("text", lambda tz: written(-12)),
    "text_plus_14": ("text", lambda tz: written(14)),
    "epoch_s_bigint": ("bigint", lambda tz: epoch(1)),
    "epoch_ns_bigint": ("bigint", lambda tz: epoch(1_000_000_000)),
    "epoch_ms_numeric": ("numeric(15, 0)", lambda tz: epoch(1_000)),
    "epoch_s_double": ("double precision", lambda tz: epoch(1, float)),
}


@pytest.mark.postgres
@pytest.mark.parametrize("tz", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
@pytest.mark.parametrize("storage", sorted(PG_EDGES))
def test_postgresql_range_edges(pg_server, pg_database, storage, tz):
    declared, encoder = PG_EDGES[storage]
    types = {"user_id": "text", "event": "text", "timestamp": declared, "event_id": "text"}
    url = pg_table(pg_server, pg_database, edge_rows(tz, encoder(tz)), types)
    events, report = load_sql(url, table="events", tz=tz, start=EDGE_DAY, end=EDGE_DAY)
    assert sorted(events.collect()["event_id"]) == INSIDE
    assert report.rows_read == 3


@pytest.mark.postgres
def test_postgresql_date_column_range(pg_server, pg_database):
    days = [dt.date(2026, 3, d) for d in (3, 4, 5, 6, 7)]
    rows = [{"user_id": "u", "event": "view", "day": d, "event_id": str(d)} for d in days]
    types = {"user_id": "text", "event": "text", "day": "date", "event_id": "text"}
    url = pg_table(pg_server, pg_database, rows, types)
    mapping = {"timestamp": "day"}
    for tz in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        events, report = load_sql(
            url, table="events", mapping=mapping, tz=tz, start=EDGE_DAY, end=EDGE_DAY
        )
        assert events.collect()["event_id"].to_list() == ["2026-03-05"]  # midnight in tz
        # One day of margin each side: Kiritimati's 5 March starts on 4 March UTC, so the 3rd to
        # the 6th are fetched; Pago Pago's ends on 6 March UTC, so the 4th to the 7th.
        assert fetched(report) == 4


# -- pushdown changes nothing (property tests) ----------------------------------------------------

ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati", "Pacific/Pago_Pago"]
days = st.dates(dt.date(2026, 2, 27), dt.date(2026, 3, 12))
# Seconds after a local midnight: anywhere in the day, or right at the edges where a range cuts.
edges = st.sampled_from([-1, 0, 1, 11 * 3600, 13 * 3600, 86_399, 86_400 - 12 * 3600, 14 * 3600])
day_seconds = st.one_of(st.integers(0, 86_399), edges)
offsets = st.one_of(
    st.integers(-24, 28).map(lambda k: dt.timezone(dt.timedelta(minutes=30 * k))),
    st.sampled_from([dt.timezone(dt.timedelta(hours=-12)), dt.timezone(dt.timedelta(hours=14))]),
)


def instant(draw: st.DrawFn, tz: str, cuts: Sequence[dt.date] = ()) -> dt.datetime:
    """A UTC instant from 1 to 10 March 2026; often right at a midnight in ``tz`` where the
    range cuts (the local days in ``cuts``), where a wrong bound would show."""
    if cuts and draw(st.booleans()):
        day = draw(st.sampled_from(cuts))
        seconds = draw(edges)
    else:
        day = dt.date(2026, 3, 1) + dt.timedelta(days=draw(st.integers(0, 9)))
        seconds = draw(day_seconds)
    midnight = dt.datetime.combine(day, dt.time(), ZoneInfo(tz)).astimezone(UTC)
    return midnight + dt.timedelta(seconds=seconds)


def text_time(draw: st.DrawFn, tz: str, cuts: Sequence[dt.date]) -> str | None:
    when = instant(draw, tz, cuts)
    style = draw(st.sampled_from(["z", "offset", "wall", "date", "epoch_text", "garbage", "none"]))
    if style == "z":
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    if style == "offset":
        return when.astimezone(draw(offsets)).isoformat()
    if style == "wall":
        return when.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")
    if style == "date":
        return when.astimezone(ZoneInfo(tz)).date().isoformat()
    if style == "epoch_text":
        return str(int(when.timestamp()))
    if style == "garbage":
        return draw(st.sampled_from(["", "soon", "03/04/2026"]))
    return None


def number_time(
    draw: st.DrawFn, tz: str, cuts: Sequence[dt.date], real: bool
) -> int | float | None:
    if draw(st.booleans()) and draw(st.booleans()):
        return None
    seconds = int(instant(draw, tz, cuts).timestamp())
    if real:
        return float(seconds) + draw(st.sampled_from([0.0, 0.25, 0.999]))
    return seconds * draw(st.sampled_from([1, 1_000, 1_000_000, 1_000_000_000]))


@st.composite
def random_tables(draw: st.DrawFn, storages: Sequence[str]) -> dict[str, Any]:
    tz = draw(st.sampled_from(ZONES))
    storage = draw(st.sampled_from(storages))
    start = draw(st.none() | days)
    end = draw(st.none() | days)
    # The midnights where the range cuts: the start of its first day, the end of its last.
    cuts = [d for d in (start, end and end + dt.timedelta(days=1)) if d is not None]
    rows = []
    for i in range(draw(st.integers(0, 25))):
        if storage == "text":
            when: Any = text_time(draw, tz, cuts)
        elif storage in ("integer", "real"):
            when = number_time(draw, tz, cuts, storage == "real")
        else:  # a native time type: an instant, or a wall clock in tz
            stamp = instant(draw, tz, cuts)
            when = (
                stamp
                if storage == "instant"
                else stamp.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
            )
            when = None if draw(st.integers(0, 9)) == 0 else when
        rows.append(
            {
                "user_id": draw(st.sampled_from(["u1", "u2", None])),
                "anonymous_id": draw(st.sampled_from(["a1", "a2", None, None, None, None])),
                "event": draw(st.sampled_from(["view", "buy", None])),
                "timestamp": when,
                "event_id": draw(st.sampled_from([f"e{i}", "dup"])),
            }
        )
    return {"tz": tz, "storage": storage, "rows": rows, "start": start, "end": end}


def assert_same_as_without_pushdown(url: str, raw: pl.DataFrame, case: dict[str, Any]) -> None:
    """load_sql with the range pushed down == to_canonical of the whole table, range applied."""
    pushed, pushed_report = load_sql(
        url, table="events", tz=case["tz"], start=case["start"], end=case["end"]
    )
    whole, whole_report = to_canonical(
        raw.lazy(),
        source=pushed_report.source,
        format=pushed_report.format,
        tz=case["tz"],
        start=case["start"],
        end=case["end"],
    )
    order = ["timestamp", "user_id", "event", "event_id"]
    assert_frame_equal(pushed.collect().sort(order), whole.collect().sort(order))
    assert kept(pushed_report) == kept(whole_report)

    # Notes name rows by position in what was read, which pushdown changes; nothing else may.
    def unnumbered(notes: tuple[str, ...]) -> list[str]:
        return [re.sub(r"row \d+", "row N", note) for note in notes]

    assert unnumbered(pushed_report.notes[:-1]) == unnumbered(whole_report.notes)


SQLITE_DECLARED = {"text": "TEXT", "integer": "INTEGER", "real": ""}


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=random_tables(["text", "integer", "real"]))
def test_sqlite_pushdown_changes_nothing(tmp_path, case):
    types = {
        "user_id": "TEXT",
        "anonymous_id": "TEXT",
        "event": "TEXT",
        "timestamp": SQLITE_DECLARED[case["storage"]],
        "event_id": "TEXT",
    }
    path = tmp_path / "random.db"
    url = sqlite_table(path, case["rows"], types)
    with adbc_sqlite.connect(f"file:{path}?mode=ro") as db, db.cursor() as cur:
        cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(2**30)})
        cur.execute("SELECT * FROM events")
        raw = pl.from_arrow(cur.fetch_arrow_table())
    assert_same_as_without_pushdown(url, raw, case)


PG_DECLARED = {
    "instant": "timestamptz",
    "wall": "timestamp",
    "integer": "bigint",
    "real": "double precision",
    "text": "text",
}


@pytest.mark.postgres
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=random_tables(sorted(PG_DECLARED)))
def test_postgresql_pushdown_changes_nothing(pg_server, pg_database, case):
    types = {
        "user_id": "text",
        "anonymous_id": "text",
        "event": "text",
        "timestamp": PG_DECLARED[case["storage"]],
        "event_id": "text",
    }
    url = pg_table(pg_server, pg_database, case["rows"], types)
    with adbc_pg.connect(pg_server.url(pg_database, driver="")) as db, db.cursor() as cur:
        cur.execute("SELECT * FROM events")
        raw = pl.from_arrow(cur.fetch_arrow_table())
    assert_same_as_without_pushdown(url, raw, case)


# -- bad input: one clear message, naming the source and table, never the password -----------------


@pytest.mark.postgres
def test_wrong_password_is_refused_without_showing_it(pg_server, pg_database, caplog):
    pg_table(pg_server, pg_database, STORY_ROWS, {**STORY_TYPES_PG, "timestamp": "timestamptz"})
    secret = "Tr0ub4dor&3-not-it"
    url = pg_server.url(pg_database, password=secret)
    for engine in ("adbc", "sqlalchemy"):
        with caplog.at_level(logging.DEBUG), pytest.raises(ConnectorError) as caught:
            load_sql(url, table="events", engine=engine)
        message = str(caught.value)
        assert f"postgres:***@127.0.0.1:{pg_server.port}/{pg_database}" in message
        assert "table 'events'" in message
        assert "password authentication failed" in message
        shown = message + "".join(traceback.format_exception(caught.value)) + caplog.text
        assert secret not in shown


@pytest.mark.postgres
def test_password_given_apart_is_used_and_masked(pg_server, pg_database, caplog):
    pg_table(pg_server, pg_database, STORY_ROWS, {**STORY_TYPES_PG, "timestamp": "timestamptz"})
    bare = f"postgresql+psycopg://postgres@127.0.0.1:{pg_server.port}/{pg_database}"
    with caplog.at_level(logging.DEBUG):
        events, report = load_sql(bare, table="events", password=pg_server.password)
    assert_story(events)
    assert pg_server.password not in report.source + " ".join(report.notes) + caplog.text
    with pytest.raises(ConnectorError) as caught:
        load_sql(bare, table="missing", password=pg_server.password)
    assert pg_server.password not in str(caught.value)


@pytest.mark.postgres
def test_unreachable_server(pg_server):
    # A port nothing listens on: the session server's own port plus 1000.
    url = f"postgresql+psycopg://postgres:s3cr3t-pw@127.0.0.1:{pg_server.port + 1000}/analytics"
    for engine in ("adbc", "sqlalchemy"):
        with pytest.raises(ConnectorError) as caught:
            load_sql(url, table="events", engine=engine, timeout_seconds=5)
        message = str(caught.value)
        assert message.startswith(
            f"postgresql+psycopg://postgres:***@127.0.0.1:{pg_server.port + 1000}/analytics "
            "(table 'events'): cannot connect"
        )
        assert "refused" in message.lower()
        assert "s3cr3t-pw" not in message


@pytest.mark.postgres
def test_missing_table_names_the_tables_there_are(pg_server, pg_database):
    url = pg_table(
        pg_server, pg_database, STORY_ROWS, {**STORY_TYPES_PG, "timestamp": "timestamptz"}
    )
    for engine in ("adbc", "sqlalchemy"):
        with pytest.raises(ConnectorError) as caught:
            load_sql(url, table="evnets", engine=engine)
        assert str(caught.value) == (
            f"postgresql+psycopg://postgres:***@127.0.0.1:{pg_server.port}/{pg_database} "
            "(table 'evnets'): table 'evnets' does not exist. Tables: 'events'."
        )


@pytest.mark.postgres
def test_query_with_a_syntax_error(pg_server, pg_database):
    url = pg_table(
        pg_server, pg_database, STORY_ROWS, {**STORY_TYPES_PG, "timestamp": "timestamptz"}
    )
    for engine in ("adbc", "sqlalchemy"):
        with pytest.raises(ConnectorError) as caught:
            load_sql(url, query="SELECT user_id event FROM events WHERE", engine=engine)
        message = str(caught.value)
        assert "(query): the query has a syntax error: syntax error at or near" in message
        assert pg_server.password not in message


def test_sqlite_errors_name_the_file_and_table(tmp_path):
    missing = tmp_path / "nowhere.db"
    with pytest.raises(ConnectorError, match=r"database file '.*nowhere\.db' not found"):
        load_sql(f"sqlite:///{missing}", table="events")
    url = sqlite_table(
        tmp_path / "story.db", story_rows(str), {**STORY_TYPES_SQLITE, "timestamp": "TEXT"}
    )
    for engine in ("adbc", "sqlalchemy"):
        with pytest.raises(ConnectorError) as caught:
            load_sql(url, table="evnets", engine=engine)
        assert (
            str(caught.value)
            == f"{url} (table 'evnets'): table 'evnets' does not exist. Tables: 'events'."
        )
        with pytest.raises(ConnectorError, match=r"\(query\): the query has a syntax error"):
            load_sql(url, query="SELEKT * FROM events", engine=engine)
    assert not missing.exists()  # read-only: a missing file is never created


@pytest.mark.postgres
def test_postgresql_sessions_are_read_only(pg_server, pg_database):
    url = pg_table(
        pg_server, pg_database, STORY_ROWS, {**STORY_TYPES_PG, "timestamp": "timestamptz"}
    )
    pg_server.psql("CREATE SEQUENCE counter", pg_database)
    query = "SELECT nextval('counter') AS n, user_id, event, timestamp FROM events"
    for engine in ("adbc", "sqlalchemy"):
        with pytest.raises(ConnectorError, match="tried to change data; SQL sources are read only"):
            load_sql(url, query=query, engine=engine)
    assert pg_server.psql("SELECT last_value, is_called FROM counter", pg_database).strip() == "1|f"


@pytest.mark.postgres
def test_what_read_only_transactions_allow_is_rolled_back(pg_server, pg_database):
    # PostgreSQL lets a READ ONLY transaction create large objects; the rollback undoes them.
    url = pg_table(
        pg_server, pg_database, STORY_ROWS, {**STORY_TYPES_PG, "timestamp": "timestamptz"}
    )
    query = (
        "SELECT user_id, event, timestamp, lo_from_bytea(0, CAST('x' AS bytea)) AS lo, "
        "lo_create(0) AS lo2 FROM events"
    )
    for engine in ("adbc", "sqlalchemy"):
        load_sql(url, query=query, engine=engine)
    left = pg_server.psql("SELECT COUNT(*) FROM pg_largeobject_metadata", pg_database).strip()
    assert left == "0"


def test_sqlite_files_are_opened_read_only(tmp_path):
    from connectors.sql import AdbcSqliteReader, resolve_target

    url = sqlite_table(
        tmp_path / "story.db", story_rows(str), {**STORY_TYPES_SQLITE, "timestamp": "TEXT"}
    )
    with (
        AdbcSqliteReader(resolve_target(url, None, "events", None, None), 5) as reader,
        reader.conn.cursor() as cur,
        pytest.raises(Exception, match="readonly"),
    ):
        cur.execute("DELETE FROM events")
    assert len(load_sql(url, table="events")[0].collect()) == 5


@pytest.mark.postgres
def test_postgresql_statement_timeout(pg_server, pg_database):
    url = pg_table(
        pg_server, pg_database, STORY_ROWS, {**STORY_TYPES_PG, "timestamp": "timestamptz"}
    )
    query = "SELECT user_id, event, timestamp FROM events, pg_sleep(3)"
    for engine in ("adbc", "sqlalchemy"):
        with pytest.raises(ConnectorError, match=r"ran longer than 1 s \(timeout_seconds\)"):
            load_sql(url, query=query, timeout_seconds=1, engine=engine)


def test_sqlite_statement_timeout_through_sqlalchemy(tmp_path):
    url = sqlite_table(
        tmp_path / "story.db", story_rows(str), {**STORY_TYPES_SQLITE, "timestamp": "TEXT"}
    )
    endless = """
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n)
        SELECT 'u' AS user_id, 'e' AS event, '2026-03-02' AS timestamp, (SELECT max(i) FROM n) AS x
    """
    with pytest.raises(ConnectorError, match=r"ran longer than 0.5 s"):
        load_sql(url, query=endless, timeout_seconds=0.5, engine="sqlalchemy")


@pytest.mark.parametrize("marker", ["$1", "?", ":who"])
@pytest.mark.parametrize("engine", ["adbc", "sqlalchemy"])
def test_a_parameter_marker_in_a_users_query_is_named_plainly(tmp_path, marker, engine):
    url = sqlite_table(
        tmp_path / "story.db", story_rows(str), {**STORY_TYPES_SQLITE, "timestamp": "TEXT"}
    )
    query = f"SELECT user_id, event, timestamp FROM events WHERE user_id = {marker}"
    with pytest.raises(ConnectorError, match=r"parameter marker of its own"):
        load_sql(url, query=query, engine=engine)


@pytest.mark.postgres
def test_a_parameter_marker_in_a_postgres_query_is_named_plainly(pg_server, pg_database):
    url = pg_table(
        pg_server, pg_database, STORY_ROWS, {**STORY_TYPES_PG, "timestamp": "timestamptz"}
    )
    for engine in ("adbc", "sqlalchemy"):
        with pytest.raises(ConnectorError, match=r"parameter marker of its own"):
            load_sql(url, query="SELECT * FROM events WHERE user_id = $1", engine=engine)


def test_sqlite_statement_timeout_through_adbc(tmp_path):
    url = sqlite_table(
        tmp_path / "story.db", story_rows(str), {**STORY_TYPES_SQLITE, "timestamp": "TEXT"}
    )
    # Finite (a few seconds), so the statement the driver cannot interrupt ends by itself.
    slow = """
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30000000)
        SELECT 'u' AS user_id, 'e' AS event, '2026-03-02' AS timestamp, (SELECT max(i) FROM n) AS x
    """
    with pytest.raises(ConnectorError, match=r"ran longer than 0.5 s \(timeout_seconds\)"):
        load_sql(url, query=slow, timeout_seconds=0.5, engine="adbc")


@pytest.mark.postgres
def test_identifiers_are_quoted_not_pasted(pg_server, pg_database):
    odd = 'Events "2026"; DROP TABLE events; --'
    rows = [{"User Id": "alice", "Event": "signup", "at": dt.datetime(2026, 3, 2, 8, tzinfo=UTC)}]
    types = {"User Id": "text", "Event": "text", "at": "timestamptz"}
    url = pg_table(pg_server, pg_database, rows, types, table=odd)
    pg_table(pg_server, pg_database, STORY_ROWS, {**STORY_TYPES_PG, "timestamp": "timestamptz"})
    mapping = {"user_id": "User Id", "event": "Event", "timestamp": "at"}
    events, _ = load_sql(url, table=odd, mapping=mapping, start="2026-03-01", end="2026-03-02")
    assert events.collect()["user_id"].to_list() == ["alice"]
    assert_story(load_sql(url, table="events")[0])  # still there


@pytest.mark.postgres
def test_postgresql_types_arrive_readable(pg_server, pg_database):
    pg_server.psql(
        """
        CREATE TABLE events (
            id uuid, user_id numeric(20, 0), event text, ts timestamptz, revenue numeric(10, 2),
            props jsonb, tags text[], score real, ok boolean, day date, links uuid[], doc bytea
        );
        INSERT INTO events VALUES (
            'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 12345678901234567890, 'purchase',
            '2026-03-03 19:30:00+00', 20.50, '{"coupon": "SPRING"}', '{a,b}', 0.5, true,
            '2026-03-03', ARRAY['b1eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid], 'hi'
        );
        """,
        pg_database,
    )
    events, report = load_sql(pg_server.url(pg_database), table="events")
    slow, _ = load_sql(pg_server.url(pg_database), table="events", engine="sqlalchemy")
    assert_frame_equal(slow.collect(), events.collect())
    row = events.collect().row(0, named=True)
    assert row["event_id"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert row["user_id"] == "12345678901234567890"  # an id stays exact text, never a float
    assert row["revenue"] == 20.5
    assert row["props"] == '{"coupon": "SPRING"}'
    assert row["tags"] == '["a","b"]'  # a list, kept as JSON text by the normaliser
    assert (row["score"], row["ok"], row["day"]) == (0.5, True, dt.date(2026, 3, 3))
    # Arrays of types Arrow has no plain form for come as JSON text, like every list.
    assert row["links"] == '["b1eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]'
    assert row["doc"] == "\\x6869"  # bytea as PostgreSQL writes it
    assert report.rows_kept == 1


def test_arguments_are_checked_before_connecting(tmp_path):
    url = sqlite_table(
        tmp_path / "story.db", story_rows(str), {**STORY_TYPES_SQLITE, "timestamp": "TEXT"}
    )
    cases = [
        ({}, "give either table= or query= (exactly one)"),
        ({"table": "events", "query": "SELECT 1"}, "give either table= or query="),
        ({"table": "events", "engine": "odbc"}, "engine must be one of"),
        ({"table": "events", "chunk": 5}, "unknown option 'chunk'"),
        ({"table": "events", "tz": "Mars/Olympus"}, "not an IANA zone name"),
        ({"table": "events", "timeout_seconds": 0}, "timeout_seconds must be a positive number"),
        ({"table": "events", "columns": ["nope"]}, "no column 'nope'"),
        ({"table": "events", "mapping": {"user_id": "who"}}, "mapping names column 'who'"),
        ({"table": "events", "start": "yesterday"}, "'yesterday' is not an ISO date"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ConnectorError, match=re.escape(message)):
            load_sql(url, **kwargs)
    with pytest.raises(ConnectorError, match="not a SQLAlchemy database URL"):
        load_sql("postgresql+psycopg://u:pw@host:notaport/db", table="events")


@pytest.mark.postgres
def test_a_query_returning_one_name_twice_is_refused(pg_server, pg_database):
    url = pg_table(
        pg_server, pg_database, STORY_ROWS, {**STORY_TYPES_PG, "timestamp": "timestamptz"}
    )
    # (SQLite renames the second one 'user_id:1' itself; PostgreSQL keeps both names.)
    with pytest.raises(ConnectorError, match="more than one column named 'user_id'"):
        load_sql(url, query="SELECT e.*, e.user_id FROM events AS e")


def test_other_dialects_learn_the_time_column_kind_from_one_value(tmp_path):
    # Dialects without a type probe (not PostgreSQL, not SQLite) sample one non-null time; run the
    # sampler on SQLite, whose values carry their own types.
    from connectors.sql import RowReader, resolve_target, source_clause

    rows = [
        {"user_id": "u", "event": "e", "text": None, "number": None, "real": None},
        {"user_id": "u", "event": "e", "text": "2026-03-02", "number": 1_772_409_600, "real": 1.5},
    ]
    types = {"user_id": "TEXT", "event": "TEXT", "text": "TEXT", "number": "INTEGER", "real": ""}
    url = sqlite_table(tmp_path / "kinds.db", rows, types)
    target = resolve_target(url, None, "events", None, None)
    with RowReader(target, 5) as reader:
        source = source_clause(target, list(types))
        kinds = {column: reader.sample_kind(source, column) for column in types}
    assert kinds == {
        "user_id": "text",
        "event": "text",
        "text": "text",
        "number": "number",
        "real": "number",
    }


# -- PostgreSQL's rows canonicalised batch by batch --------------------------------------------

BATCH_START = dt.datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def hostile_rows(n: int, *, anonymous: bool, text_times: bool) -> list[dict[str, Any]]:
    """``n`` rows in which everything the canonical rules judge happens many times over, spread
    through the table so each rule meets rows in many batches: blank and missing users, events and
    times; ids written as floats (``"41.0"``, ``13085.0``); event_ids repeated hundreds of rows
    later (so across batches), including one that only repeats once its ``.0`` is read away, and
    one whose first row is dropped (so the repeat is kept)."""
    rows = []
    for i in range(n):
        user: str | None = f"u{i % 97}"
        if i % 50 == 0:
            user = ""
        elif i % 77 == 0:
            user = "  "
        elif i % 91 == 0:
            user = "\u00a0"
        elif i % 60 == 0:
            user = None
        elif i % 33 == 0:
            user = f"{i % 97}.0"
        event: str | None = "buy" if i % 7 == 0 else "view"
        if i % 45 == 0:
            event = " "
        elif i % 130 == 0:
            event = None
        when = BATCH_START + dt.timedelta(minutes=3 * i)
        time: Any = when
        if text_times:
            time = when.strftime("%Y-%m-%d %H:%M:%S" if i % 3 else "%Y-%m-%dT%H:%M:%SZ")
            if i % 157 == 0:
                time = "31/02/2026"
        if i % 111 == 0:
            time = None
        event_id: str | None = f"e{i}"
        if i >= 500 and i % 10 == 3:
            event_id = f"e{i - 500}"  # an earlier row's id, 500 rows back
        elif i % 40 == 0:
            event_id = ""
        elif i % 25 == 0:
            event_id = f"{i}.0"
        elif i >= 700 and i % 25 == 1:
            event_id = str(i - 701)  # "1200.0" earlier is "1200" once read
        session = float(i // 7) if i % 13 else (float("nan") if i % 2 else i / 7)
        revenue = None
        if i % 7 == 0:
            revenue = [9.99, float("nan"), float("inf"), 0.0][i // 7 % 4]
        row = {
            "user_id": user,
            "event": event,
            "timestamp": time,
            "event_id": event_id,
            "session_id": session,
            "revenue": revenue,
            "plan": "pro" if i % 4 == 0 else "free",
        }
        if anonymous:
            row["anonymous_id"] = None if i % 9 == 0 else f"a{i % 50}"
        rows.append(row)
    return rows


@pytest.mark.postgres
@pytest.mark.parametrize("text_times", [False, True], ids=["timestamptz", "text times"])
@pytest.mark.parametrize("anonymous", [False, True], ids=["no identity", "identity"])
@pytest.mark.parametrize("days", [None, ("2026-03-02", "2026-03-04")], ids=["all", "range"])
def test_postgresql_batches_give_the_frame_and_report_of_one_frame(
    pg_server, pg_database, monkeypatch, text_times, anonymous, days
):
    # ADBC's rows are canonicalised batch by batch while the next batch is fetched; the frame and
    # the report must be those of canonicalising all rows at once (the SQLAlchemy path, and
    # to_canonical on ADBC's whole result): row numbers, the duplicate rule across batches, the
    # time spellings chosen from the first rows, identity resolution, the date range.
    import connectors.sql as sql

    types = {
        "user_id": "text",
        "event": "text",
        "timestamp": "text" if text_times else "timestamptz",
        "event_id": "text",
        "session_id": "float8",
        "revenue": "float8",
        "plan": "text",
    }
    if anonymous:
        types["anonymous_id"] = "text"
    rows = hostile_rows(3000, anonymous=anonymous, text_times=text_times)
    url = pg_table(pg_server, pg_database, rows, types)
    start, end = days or (None, None)

    heights: list[int] = []
    batched = sql.to_canonical_batches

    def counting(batches: Any, **options: Any) -> Any:
        def counted() -> Any:
            for batch in batches:
                heights.append(batch.height)
                yield batch

        return batched(counted(), **options)

    monkeypatch.setattr(sql, "PG_BATCH_BYTES", 4096)
    monkeypatch.setattr(sql, "to_canonical_batches", counting)
    events, report = load_sql(url, table="events", start=start, end=end)
    assert sum(heights) == fetched(report)
    # With bound parameters (the date range) the driver reads the result in one batch; without,
    # it streams the rows (COPY) in batches of the hinted size.
    assert len(heights) > 10 if days is None else len(heights) >= 1
    frame = events.collect()
    assert "through ADBC" in report.notes[-1]

    # The rules really were met, across batches.
    assert report.dropped["duplicate_event_id"] > 5
    assert report.dropped["no_user"] > 5 and report.dropped["no_event"] > 5
    assert report.changed["id_decimal_point"] > 5
    assert not frame["event_id"].drop_nulls().is_duplicated().any()

    slow, slow_report = load_sql(url, table="events", start=start, end=end, engine="sqlalchemy")
    assert_frame_equal(slow.collect(), frame)
    assert kept(slow_report) == kept(report)
    assert slow_report.notes[:-1] == report.notes[:-1]

    if days is None:
        libpq = pg_server.url(pg_database, driver="")
        with adbc_pg.connect(libpq) as conn, conn.cursor() as cur:
            cur.execute("SELECT * FROM events")
            whole = pl.from_arrow(cur.fetch_arrow_table())
        assert isinstance(whole, pl.DataFrame)
        one, one_report = to_canonical(
            whole.lazy(), source=report.source, format="postgresql", collect=True
        )
        assert_frame_equal(one.collect(), frame)
        assert kept(one_report) == kept(report)
        assert one_report.notes == report.notes[:-1]
