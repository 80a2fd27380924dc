"""sources.toml's ``compute``: where the app computes a database source (docs/warehouse.md "In
the app"), and opening such a source as relations (connectors/warehouse/configured.py)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from connectors.config import read_config
from connectors.errors import ConnectorError
from connectors.warehouse.configured import open_source


def config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(body, encoding="utf-8")
    return path


def events_file(path: Path, *, with_exposures: bool = True) -> None:
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE events AS SELECT * FROM (VALUES "
        "('ann', 'signup', TIMESTAMPTZ '2026-10-01 10:00:00+00', NULL, NULL), "
        "('ann', 'experiment_exposure', TIMESTAMPTZ '2026-10-02 10:00:00+00', 'x', 'control'), "
        "('bob', 'experiment_exposure', TIMESTAMPTZ '2026-10-02 11:00:00+00', 'x', 'treatment')"
        ") AS t(user_id, event, timestamp, experiment, variant)"
    )
    con.close()


def test_a_duckdb_file_computes_there_by_default(tmp_path):
    sources, _ = read_config(
        config(
            tmp_path,
            '[sources.by_path]\npath = "events.duckdb"\n'
            '[sources.by_url]\nurl = "duckdb:///data/events.duckdb"\ntable = "events"\n'
            '[sources.pg]\nurl = "postgresql+psycopg://reader@db/analytics"\ntable = "events"\n'
            '[sources.pg_there]\nurl = "postgresql+psycopg://reader@db/analytics"\n'
            'table = "events"\ncompute = "warehouse"\n'
            '[sources.duck_local]\npath = "events.duckdb"\ncompute = "local"\n'
            '[sources.csv]\npath = "events.csv"\n',
        )
    )
    assert {name: sources[name].compute for name in sources} == {
        "by_path": "warehouse",
        "by_url": "warehouse",
        "pg": "local",
        "pg_there": "warehouse",
        "duck_local": "local",
        "csv": "local",
        "demo": "local",
    }
    # Relative DuckDB paths start at sources.toml's folder, as file paths do.
    assert sources["by_path"].url == f"duckdb:///{tmp_path.resolve() / 'events.duckdb'}"
    assert sources["by_url"].url == f"duckdb:///{tmp_path.resolve() / 'data/events.duckdb'}"


def test_a_wrong_compute_is_named(tmp_path):
    with pytest.raises(ConnectorError, match="compute must be 'warehouse'.*not 'cloud'"):
        read_config(
            config(
                tmp_path,
                '[sources.pg]\nurl = "postgresql+psycopg://reader@db/a"\ntable = "e"\n'
                'compute = "cloud"\n',
            )
        )
    # A files source's compute is still its table of derived columns.
    with pytest.raises(ConnectorError, match="compute must be a table of SQL expressions"):
        read_config(config(tmp_path, '[sources.f]\npath = "x.csv"\ncompute = "warehouse"\n'))


def test_opening_a_duckdb_source_gives_relations_with_exposure_assignments(tmp_path):
    events_file(tmp_path / "events.duckdb")
    sources, _ = read_config(config(tmp_path, '[sources.duck]\npath = "events.duckdb"\n'))
    opened = open_source(sources["duck"])
    assert opened.events.columns is not None and "experiment" in opened.events.columns
    assert opened.assignments is not None and opened.assignments.kind == "assignments"
    from metrics import experiments

    listing = experiments.list_experiments(opened.assignments)
    assert listing.get_column("experiment").to_list() == ["x"]
    assert listing.get_column("users").to_list() == [2]


def test_an_assignments_table_is_read_on_the_same_connection(tmp_path):
    events_file(tmp_path / "events.duckdb")
    con = duckdb.connect(str(tmp_path / "events.duckdb"))
    con.execute(
        "CREATE TABLE exposures AS SELECT 'ann' AS user_id, 'y' AS experiment_id, "
        "'a' AS variation_id, TIMESTAMPTZ '2026-10-01 10:00:00+00' AS timestamp"
    )
    con.close()
    sources, _ = read_config(
        config(
            tmp_path,
            '[sources.duck]\npath = "events.duckdb"\n[sources.duck.assignments]\n'
            'table = "exposures"\n',
        )
    )
    opened = open_source(sources["duck"])
    from metrics import experiments

    assert opened.assignments is not None
    listing = experiments.list_experiments(opened.assignments)
    assert listing.get_column("experiment").to_list() == ["y"]


def test_a_missing_table_names_the_source(tmp_path):
    events_file(tmp_path / "events.duckdb")
    sources, _ = read_config(
        config(tmp_path, '[sources.duck]\npath = "events.duckdb"\ntable = "gone"\n')
    )
    with pytest.raises(ConnectorError, match="source 'duck'.*gone"):
        open_source(sources["duck"])
