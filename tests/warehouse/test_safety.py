"""The warehouse tier's promises on every engine: a timeout, a row cap, read-only sessions."""

from __future__ import annotations

import polars as pl
import pytest
import sqlalchemy as sa

from connectors.errors import ConnectorError
from connectors.warehouse import ResultTooLarge, warehouse
from tests.conftest import make_events

EVENTS = make_events(("a", "x", "2026-03-08 06:30"), ("b", "x", "2026-03-09 06:30"))

#: A statement that runs far longer than the timeout on each engine.
SLOW = {
    "duckdb": "SELECT COUNT(*) AS n FROM range(100000000000) AS t(i) WHERE i % 7 = 3",
    "postgres": "SELECT pg_sleep(30) AS n",
    "clickhouse": "SELECT count() AS n FROM numbers(100000000000000) WHERE number % 7 = 3",
    # Spark's generated loops ignore cancellation until their partition ends: keep it finite.
    "spark": "SELECT COUNT(*) AS n FROM range(3000000000) WHERE id % 7 = 3",
}
TEN_ROWS = {
    "duckdb": "SELECT * FROM range(10) AS t(i)",
    "postgres": "SELECT * FROM generate_series(1, 10) AS i",
    "clickhouse": "SELECT number FROM numbers(10)",
    "spark": "SELECT id FROM range(10)",
}


def test_a_statement_longer_than_the_timeout_is_cancelled_with_a_clear_error(
    on_engine, engine_name
):
    engine = on_engine(EVENTS).engine.with_limits(timeout_seconds=1, max_rows=10)
    with pytest.raises(ConnectorError, match="longer than 1 s"):
        engine.run(SLOW[engine_name], {})


def test_a_result_larger_than_the_row_cap_is_an_error_not_a_truncation(on_engine, engine_name):
    relation = on_engine(EVENTS, max_rows=5)
    with pytest.raises(ResultTooLarge, match="more than 5 rows"):
        relation.engine.run(TEN_ROWS[engine_name], {})
    assert relation.engine.run(TEN_ROWS[engine_name].replace("10", "5"), {}).height == 5


def test_the_engine_still_answers_after_a_cancelled_statement(on_engine, engine_name):
    from metrics import engagement

    relation = on_engine(EVENTS)
    with pytest.raises(ConnectorError):
        relation.engine.with_limits(timeout_seconds=1, max_rows=10).run(SLOW[engine_name], {})
    got = engagement.active_users(relation, start="2026-03-08", end="2026-03-09")
    assert got["active_users"].to_list() == [1, 1]


@pytest.mark.parametrize("engine_name", ["postgres"])
def test_postgres_statements_run_read_only_and_leave_nothing_behind(on_engine, harness):
    relation = on_engine(EVENTS)
    mode = relation.engine.run("SELECT current_setting('transaction_read_only') AS ro", {})
    assert mode["ro"].to_list() == ["on"]
    # Large objects are allowed in read-only transactions: the rollback must undo them.
    relation.engine.run("SELECT lo_from_bytea(0, CAST('x' AS bytea)) AS oid", {})
    with harness.engine.connect() as conn:
        left = conn.execute(sa.text("SELECT COUNT(*) FROM pg_largeobject_metadata")).scalar()
    assert left == 0


@pytest.mark.parametrize("engine_name", ["clickhouse"])
def test_clickhouse_statements_run_read_only(on_engine):
    relation = on_engine(EVENTS)
    with pytest.raises(ConnectorError):
        relation.engine.run("SELECT * FROM (SELECT 1 AS x) AS t SETTINGS readonly = 0", {})


def test_a_bad_connection_or_missing_column_is_a_clear_error(tmp_path):
    import duckdb

    with pytest.raises(ConnectorError, match="connection must be"):
        warehouse(object(), table="events")
    con = duckdb.connect()
    con.execute("CREATE TABLE events (who VARCHAR, what VARCHAR, happened TIMESTAMP)")
    with pytest.raises(ConnectorError, match="no column for 'user_id'.*mapping="):
        warehouse(con, table="events")
    with pytest.raises(ConnectorError, match="cannot read the events"):
        warehouse(con, table="no_such_table")
    with pytest.raises(ConnectorError, match="no column 'nope'"):
        warehouse(con, table="events", mapping={"user_id": "nope"})
    relation = warehouse(
        con, table="events", mapping={"user_id": "who", "event": "what", "timestamp": "happened"}
    )
    from metrics import engagement

    with pytest.raises(ValueError, match="breakdown: no column 'country'"):
        engagement.active_users(relation, start="2026-01-01", end="2026-01-02", breakdown="country")
    with pytest.raises(ConnectorError, match="name the events with table= or query="):
        warehouse(con)


def test_a_compile_only_relation_refuses_to_run_and_says_how_to_read_its_sql():
    from metrics import engagement

    relation = warehouse(None, table="analytics.events", dialect="bigquery")
    with pytest.raises(ValueError, match="only compiles SQL"):
        engagement.active_users(relation, start="2026-01-01", end="2026-01-02")


def test_an_unreachable_engine_is_a_clear_error_without_the_password():
    relation_url = "postgresql+psycopg://reader:s3cret@127.0.0.1:1/analytics"
    with pytest.raises(ConnectorError) as caught:
        warehouse(relation_url, table="events", timeout_seconds=2)
    assert "s3cret" not in str(caught.value)


def test_values_shown_inline_are_quoted_for_reading():
    import metrics
    from metrics import engagement

    relation = warehouse(None, table="events", dialect="postgres")
    (text,) = metrics.sql(
        engagement.active_users, relation, start="2026-01-01", end="2026-01-02", event="it's"
    )
    assert "'it''s'" in text
    assert pl.Series([text]).str.contains("\x00").item() is False
