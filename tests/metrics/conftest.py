"""The cross-engine golden matrix for the metric story tests (docs/warehouse.md "Tests").

Every test in this folder runs once on Polars and once per engine: on an engine, each public
metric call the test makes on a Polars frame is repeated on the same events loaded into that
engine, and both answers must be the same frame (tests/warehouse/matrix.py). Property tests
(hypothesis) run on the in-process engines only, DuckDB and ClickHouse, to keep the run short;
the modules in ``WITHOUT_SPARK`` leave Spark out (each says where Spark is covered instead).
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

#: Modules whose tests run on every engine but Spark, where a statement takes about a second and
#: CI has 30 minutes (these took a third of its share; each is covered there otherwise):
WITHOUT_SPARK = (
    # A scorecard story makes dozens of family calls; tests/warehouse/test_targets_sql.py runs
    # every KPI kind's story on Spark instead. Suggestions are scorecard values too.
    "test_targets",
    "test_targets_contract",
    "test_kinds",
    "test_suggest",
    # Input shapes (dates, ISO texts, naive or Paris times, integer ids), one table per shape
    # and call: the relation's reading of them, which tests/warehouse/test_foundation.py checks
    # on Spark with one call per shape.
    "test_common",
    # Polars' compiled funnel passes (long histories, hash collisions): nothing of Spark's SQL;
    # the funnel stories of test_funnels.py and tests/warehouse/test_funnels_sql.py run there.
    "test_funnel_kernels",
)


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
    if metafunc.module.__name__.rsplit(".", 1)[-1] in WITHOUT_SPARK:
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
