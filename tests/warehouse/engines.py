"""The engines of the cross-engine matrix: put a Polars frame in each, get a relation back.

    harness = DuckDBHarness()
    rel = harness.relation(events)          # the frame as a table in DuckDB, as a Relation
    engagement.active_users(rel, ...)       # computed in DuckDB

An engine whose program is missing skips with the reason on a developer machine; in CI
(``CI=true``) a missing engine is a failure, so nothing skips there.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from connectors.warehouse import warehouse
from metrics.warehouse import Relation

ENGINES = ("duckdb", "postgres", "clickhouse", "spark")
_names = itertools.count(1)


def unavailable(reason: str) -> None:
    """Skip with ``reason``, except in CI where every engine must run."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"engine unavailable in CI: {reason}")
    pytest.skip(reason)


def _table_name() -> str:
    return f"events_{next(_names)}"


def _prepared(frame: pl.DataFrame) -> pl.DataFrame:
    """Null-typed columns get a type every engine can store (a property no event has)."""
    return frame.with_columns(
        [pl.col(name).cast(pl.String) for name, dtype in frame.schema.items() if dtype == pl.Null]
    )


class DuckDBHarness:
    name = "duckdb"

    def __init__(self) -> None:
        import duckdb

        self.con = duckdb.connect()

    def load(self, frame: pl.DataFrame) -> str:
        table = _table_name()
        arrow = _prepared(frame).to_arrow()  # noqa: F841 - read by name below
        self.con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM arrow')
        return table

    def relation(self, frame: pl.DataFrame, **options: Any) -> Relation:
        return warehouse(self.con, table=self.load(frame), **options)

    def close(self) -> None:
        self.con.close()


class ChdbHarness:
    name = "clickhouse"

    def __init__(self) -> None:
        try:
            from chdb import session
        except ImportError as exc:  # pragma: no cover - depends on the machine
            unavailable(f"chdb is not installed ({exc})")
        self.folder = Path(tempfile.mkdtemp(prefix="northstar-chdb-"))
        self.session = session.Session(str(self.folder / "db"))

    def load(self, frame: pl.DataFrame) -> str:
        table = _table_name()
        path = self.folder / f"{table}.parquet"
        _prepared(frame).write_parquet(path)
        self.session.query(
            f"CREATE TABLE {table} ENGINE = MergeTree ORDER BY tuple() "
            f"AS SELECT * FROM file('{path}', Parquet)"
        )
        return table

    def relation(self, frame: pl.DataFrame, **options: Any) -> Relation:
        return warehouse(self.session, table=self.load(frame), **options)

    def close(self) -> None:
        self.session.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class PostgresHarness:
    name = "postgres"

    def __init__(self, server: Any) -> None:
        import sqlalchemy as sa

        self.server = server
        server.create_database("matrix")
        self.url = server.url("matrix")
        self.engine = sa.create_engine(self.url)

    def load(self, frame: pl.DataFrame) -> str:
        table = _table_name()
        _prepared(frame).write_database(table, self.server.url("matrix", driver=""), engine="adbc")
        return table

    def relation(self, frame: pl.DataFrame, **options: Any) -> Relation:
        return warehouse(self.engine, table=self.load(frame), **options)

    def close(self) -> None:
        self.engine.dispose()


class SparkHarness:
    name = "spark"

    def __init__(self) -> None:
        if shutil.which("java") is None:
            unavailable("no Java runtime (apt-get install openjdk-17-jre-headless)")
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:  # pragma: no cover - depends on the machine
            unavailable(f"pyspark is not installed ({exc})")
        self.folder = Path(tempfile.mkdtemp(prefix="northstar-spark-"))
        self.spark = (
            SparkSession.builder.master("local[2]")
            .appName("northstar-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.memory", "2g")
            .config("spark.sql.ansi.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
        self.spark.sparkContext.setLogLevel("ERROR")

    def load(self, frame: pl.DataFrame) -> str:
        table = _table_name()
        path = self.folder / f"{table}.parquet"
        _prepared(frame).write_parquet(path)
        self.spark.read.parquet(str(path)).createOrReplaceTempView(table)
        return table

    def relation(self, frame: pl.DataFrame, **options: Any) -> Relation:
        return warehouse(self.spark, table=self.load(frame), **options)

    def close(self) -> None:
        self.spark.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
