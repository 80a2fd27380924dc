"""Only result rows travel: PostgreSQL counts the rows each call's statements return.

pg_stat_statements (loaded by the test server) records, per statement, the rows the server sent
back. For each pushed-down call on ~40k events, the rows sent are at most the rows of the answer
(plus one per statement for the transaction's set_config): the events stay in the engine.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.warehouse.harnesses import harnesses  # noqa: F401
from tests.warehouse.workload import CALLS, analyze_call, product_log


@pytest.fixture(scope="module")
def postgres_log(harnesses, request):  # noqa: F811
    from tests.warehouse.harnesses import harness_for

    harness = harness_for("postgres", harnesses, request)
    events, assignments = product_log()
    with harness.engine.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
    return harness, harness.relation(events), harness.relation(assignments), events


def _rows_sent(harness) -> tuple[int, int]:
    """(rows returned by Northstar's statements, how many statements) since the last reset."""
    with harness.engine.connect() as conn:
        rows, calls = conn.execute(
            sa.text(
                "SELECT COALESCE(SUM(rows), 0), COALESCE(SUM(calls), 0) FROM pg_stat_statements "
                "WHERE query LIKE '%AS capped%' AND query NOT LIKE '%pg_stat_statements%'"
            )
        ).one()
    return int(rows), int(calls)


def _reset(harness) -> None:
    with harness.engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_stat_statements_reset()"))


@pytest.mark.parametrize("name,function,extra,kwargs", CALLS, ids=[c[0] for c in CALLS])
def test_a_call_returns_only_its_answer_rows(postgres_log, name, function, extra, kwargs):
    harness, events_rel, _, events = postgres_log
    _reset(harness)
    answer = function(events_rel, *extra, **kwargs)
    rows, statements = _rows_sent(harness)
    assert statements >= 1
    # dau_mau pivots its two windows (DAU, MAU) from two rows per day into one.
    per_answer_row = {"dau_mau": 2}.get(name, 1)
    assert rows <= per_answer_row * answer.height + statements, (name, rows, answer.height)
    assert rows < events.height / 20  # far from the 40k events


def test_analyze_returns_per_variant_sums_only(postgres_log):
    harness, events_rel, assignments_rel, events = postgres_log
    _reset(harness)
    answer = analyze_call(events_rel, assignments_rel)
    rows, statements = _rows_sent(harness)
    assert rows <= 10 * answer.height + statements
    assert rows < events.height / 20
