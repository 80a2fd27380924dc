"""SQL for engines that do not run here: every family compiles, parses in its dialect, and is kept
as a reviewable snapshot (tests/warehouse/snapshots/<dialect>/<call>.sql).

Run with ``NORTHSTAR_UPDATE_SNAPSHOTS=1`` after a deliberate change to the SQL, and read the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlglot

import metrics
from connectors.warehouse import warehouse
from metrics import engagement
from metrics.warehouse import DIALECTS
from tests.warehouse.workload import CALLS

SNAPSHOTS = Path(__file__).parent / "snapshots"
COMPILE_ONLY = ("bigquery", "snowflake", "trino", "databricks", "clickhouse")


def _check(dialect: str, name: str, statements: list[str]) -> None:
    assert statements, name
    for text in statements:
        assert "\x00" not in text
        sqlglot.parse_one(text, read=dialect)  # raises on SQL the dialect cannot read
    snapshot = SNAPSHOTS / dialect / f"{name}.sql"
    body = ";\n\n".join(statements) + ";\n"
    if not snapshot.exists() and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{snapshot} is missing: run the tests once locally and commit it")
    if os.environ.get("NORTHSTAR_UPDATE_SNAPSHOTS") or not snapshot.exists():
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        snapshot.write_text(body)
    assert snapshot.read_text() == body, f"{snapshot} changed: review it, then update snapshots"


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("name,function,extra,kwargs", CALLS, ids=[c[0] for c in CALLS])
def test_every_family_compiles_for_every_dialect(dialect, name, function, extra, kwargs):
    if dialect in ("sqlite", "mysql") and "tz" in kwargs:
        pytest.fail("the workload is in UTC")  # pragma: no cover
    relation = warehouse(
        None,
        table="analytics.events",
        dialect=dialect,
        mapping={"revenue": "revenue", "platform": "platform"},
    )
    _check(dialect, name, metrics.sql(function, relation, *extra, **kwargs))


@pytest.mark.parametrize("dialect", COMPILE_ONLY)
def test_a_reporting_zone_compiles_with_the_dialects_own_zone_functions(dialect):
    relation = warehouse(None, table="analytics.events", dialect=dialect)
    statements = metrics.sql(
        engagement.active_users,
        relation,
        start="2026-03-01",
        end="2026-03-31",
        interval="week",
        tz="America/New_York",
    )
    _check(dialect, "active_users_new_york", statements)
    assert "America/New_York" in statements[0]


def test_a_ga4_export_is_a_relation_with_its_params_unnested():
    relation = warehouse(
        None,
        table="my-project.analytics_123456.events_*",
        dialect="bigquery",
        preset="ga4",
        mapping={"search_term": "search_term"},
    )
    (text,) = metrics.sql(
        engagement.active_users,
        relation,
        start="2026-03-01",
        end="2026-03-07",
        filters={"platform": "WEB"},
        breakdown="search_term",
    )
    sqlglot.parse_one(text, read="bigquery")
    assert "UNNEST(src.event_params)" in text
    assert "COALESCE(src.user_id, src.user_pseudo_id)" in text
    assert "`my-project`.`analytics_123456`.`events_*`" in text
    _check("bigquery", "ga4_active_users", [text])


def test_a_query_can_name_the_events_instead_of_a_table():
    relation = warehouse(
        None,
        query="SELECT * FROM raw.events WHERE env = 'prod'",
        dialect="snowflake",
        mapping={"user_id": "USER_ID", "event": "EVENT", "timestamp": "TS"},
    )
    (text,) = metrics.sql(engagement.active_users, relation, start="2026-03-01", end="2026-03-07")
    sqlglot.parse_one(text, read="snowflake")
    assert "(SELECT * FROM raw.events WHERE env = 'prod') AS src" in text


def test_a_compile_only_relation_knows_the_properties_its_mapping_names():
    relation = warehouse(
        None, table="events", dialect="trino", mapping={"platform": "device_platform"}
    )
    (text,) = metrics.sql(
        engagement.active_users,
        relation,
        start="2026-03-01",
        end="2026-03-07",
        filters={"platform": "ios"},
        breakdown="platform",
    )
    sqlglot.parse_one(text, read="trino")
    assert 'src."device_platform" AS "platform"' in text
    with pytest.raises(ValueError, match="filters: no column 'country'"):
        metrics.sql(
            engagement.active_users,
            relation,
            start="2026-03-01",
            end="2026-03-07",
            filters={"country": "DE"},
        )
