"""One harness per engine for the whole test run (one Spark session, one PostgreSQL server)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.warehouse.engines import ChdbHarness, DuckDBHarness, PostgresHarness, SparkHarness

#: One set per process, whichever conftest's fixture asks first: chdb allows a single session
#: per process and Spark one context, so tests/metrics and tests/warehouse must share them.
_STARTED: dict[str, Any] = {}


@pytest.fixture(scope="session")
def harnesses(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Harnesses started on first use, stopped at the end of the run."""
    yield _STARTED
    for harness in list(_STARTED.values()):
        harness.close()
    _STARTED.clear()


def harness_for(name: str, started: dict[str, Any], request: pytest.FixtureRequest) -> Any:
    if name not in started:
        if name == "duckdb":
            started[name] = DuckDBHarness()
        elif name == "clickhouse":
            started[name] = ChdbHarness()
        elif name == "spark":
            started[name] = SparkHarness()
        elif name == "postgres":
            server = request.getfixturevalue("pg_server")
            started[name] = PostgresHarness(server)
        else:
            raise ValueError(name)
    return started[name]
