"""The cross-engine golden matrix for the metric story tests (docs/warehouse.md "Tests").

Every test in this folder runs once on Polars and once per engine: on an engine, each public
metric call the test makes on a Polars frame is repeated on the same events loaded into that
engine, and both answers must be the same frame (tests/warehouse/matrix.py). Property tests
(hypothesis) run on the in-process engines only, DuckDB and ClickHouse, to keep the run short;
the scorecard stories of test_targets*.py and test_kinds.py leave Spark out:
tests/warehouse/test_targets_sql.py runs every KPI kind there.
A module that sets ``NO_EVENTS = True`` (pure arithmetic on results, files) runs on Polars only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.connectors.conftest import pg_server  # noqa: F401 - the matrix's PostgreSQL
from tests.warehouse.engines import ENGINES
from tests.warehouse.harnesses import harness_for, harnesses  # noqa: F401
from tests.warehouse.matrix import shadowing

_QUICK = ("duckdb", "clickhouse")


def _engines() -> tuple[str, ...]:
    chosen = os.environ.get("NORTHSTAR_ENGINES")
    if chosen is None:
        return ENGINES
    return tuple(e for e in chosen.split(",") if e and e != "polars")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "engine" not in metafunc.fixturenames:
        return
    if getattr(metafunc.module, "NO_EVENTS", False):
        return  # a module whose tests never compute a metric on events: nothing to cross-check
    engines = _engines()
    if getattr(metafunc.function, "is_hypothesis_test", False):
        engines = tuple(e for e in engines if e in _QUICK)
    if metafunc.module.__name__.rsplit(".", 1)[-1].startswith(("test_targets", "test_kinds")):
        # A scorecard story makes dozens of family calls, each repeated on the engine: on Spark
        # (about a second a statement) these files alone would take a quarter of CI's time.
        # tests/warehouse/test_targets_sql.py runs every KPI kind's story on Spark instead.
        engines = tuple(e for e in engines if e != "spark")
    metafunc.parametrize("engine", ("polars", *engines), indirect=True)


@pytest.fixture(autouse=True)
def engine(request: pytest.FixtureRequest, harnesses) -> Iterator[str]:  # noqa: F811
    name = getattr(request, "param", "polars")
    if name == "polars":
        yield name
        return
    harness = harness_for(name, harnesses, request)
    with shadowing(harness):
        yield name
