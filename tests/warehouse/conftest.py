"""Fixtures for the warehouse tests: ``on_engine(frame)`` puts events in each engine in turn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
import pytest

from metrics.warehouse import Relation
from tests.connectors.conftest import pg_server  # noqa: F401 - the engines' PostgreSQL
from tests.warehouse.engines import ENGINES
from tests.warehouse.harnesses import harness_for, harnesses  # noqa: F401


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def harness(engine_name: str, harnesses, request: pytest.FixtureRequest) -> Any:  # noqa: F811
    return harness_for(engine_name, harnesses, request)


@pytest.fixture
def on_engine(harness: Any) -> Callable[..., Relation]:
    """``on_engine(frame, **options)``: the frame as a table in the engine, as a Relation."""

    def put(frame: pl.DataFrame, **options: Any) -> Relation:
        return harness.relation(frame, **options)

    return put
