"""connectors.config: sources.toml, secrets kept out of it, and loading a named source."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

import connectors.config as config
from connectors import ConnectorError
from connectors.config import LoadedData, default_source, load_source, source_names
from connectors.errors import mask_secrets
from connectors.report import LoadReport

EVENTS_CSV = (
    "user_id,event,timestamp,experiment,variant\n"
    "u1,signup,2026-09-07T10:00:00Z,,\n"
    "u1,experiment_exposure,2026-09-07T10:05:00Z,checkout,treatment\n"
    "u2,experiment_exposure,2026-09-07T11:00:00Z,checkout,control\n"
)


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def fake_demo(monkeypatch):
    """A tiny stand-in for the demo generator, so these tests never build 2 million events."""
    events = pl.DataFrame({"user_id": ["d"], "event": ["signup"]})
    report = LoadReport(source="demo", format="demo", rows_read=1, rows_kept=1)
    monkeypatch.setattr("connectors.demo.load_demo", lambda **_: (events, None, report))
    return events


def test_without_a_file_the_demo_is_the_only_source(tmp_path, fake_demo):
    missing = tmp_path / "sources.toml"
    assert source_names(missing) == ["demo"]
    assert default_source(missing) == "demo"
    loaded = load_source("demo", missing)
    assert isinstance(loaded, LoadedData)
    assert loaded.events is fake_demo


def test_the_environment_variable_names_the_file(tmp_path, monkeypatch):
    path = write_config(tmp_path, 'default = "shop"\n[sources.shop]\npath = "e.csv"\n')
    monkeypatch.setenv("NORTHSTAR_SOURCES", str(path))
    assert source_names() == ["shop", "demo"]


def test_a_file_source_loads_relative_to_the_config_with_assignments_from_events(
    tmp_path, monkeypatch
):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "events.csv").write_text(EVENTS_CSV)
    path = write_config(
        tmp_path,
        'default = "shop"\n\n[sources.shop]\npath = "data/*.csv"\ntz = "Europe/Berlin"\n'
        'description = "Shop events"\n',
    )
    monkeypatch.chdir("/")  # relative paths start at the file's folder, not the working one
    assert source_names(path) == ["shop", "demo"]
    loaded = load_source("shop", path)
    assert loaded.name == "shop"
    assert loaded.events.height == 3
    assert loaded.assignments is not None
    assert loaded.assignments.select("user_id", "variant").rows() == [
        ("u1", "treatment"),
        ("u2", "control"),
    ]
    assert any(n.startswith("Assignments: 2 first exposures") for n in loaded.report.notes)


def test_assignments_from_their_own_file(tmp_path):
    (tmp_path / "events.csv").write_text("user_id,event,timestamp\nu1,signup,2026-09-07T10:00Z\n")
    (tmp_path / "assignments.csv").write_text(
        "user,test,group,assigned_at\nu1,checkout,control,2026-09-07T10:00Z\n"
    )
    path = write_config(
        tmp_path,
        '[sources.shop]\npath = "events.csv"\n'
        '[sources.shop.assignments]\npath = "assignments.csv"\n',
    )
    loaded = load_source("shop", path)
    assert loaded.assignments is not None
    assert loaded.assignments.row(0)[:3] == ("u1", "checkout", "control")


def test_no_exposures_means_no_assignments(tmp_path):
    (tmp_path / "events.csv").write_text("user_id,event,timestamp\nu1,signup,2026-09-07T10:00Z\n")
    path = write_config(tmp_path, '[sources.shop]\npath = "events.csv"\n')
    assert load_source("shop", path).assignments is None


def test_every_problem_in_the_file_is_reported_at_once(tmp_path):
    path = write_config(
        tmp_path,
        """
default = "nowhere"
colour = "blue"

[sources.a]
path = "x.csv"
pathh = "typo"
tz = "Mars/Base"

[sources.b]
url = "postgresql+psycopg://analyst:hunter2@db:5432/shop"
table = "events"

[sources.c]
url = "postgresql+psycopg://analyst@db/shop"
password = "hunter2"
""",
    )
    with pytest.raises(ConnectorError) as caught:
        source_names(path)
    message = str(caught.value)
    for expected in [
        "unknown top-level key 'colour'",
        "source 'a': unknown key 'pathh'",
        "source 'a': tz 'Mars/Base' is not an IANA time zone name",
        "source 'b': the url holds a password",
        "source 'c': a password does not belong in this file",
        "source 'c': give exactly one of table or query",
        "default 'nowhere' is not one of the sources",
    ]:
        assert expected in message
    assert "hunter2" not in message


def test_invalid_toml_is_named(tmp_path):
    path = write_config(tmp_path, "[sources.a\npath = 'x'\n")
    with pytest.raises(ConnectorError, match=r"sources\.toml: not valid TOML"):
        source_names(path)


def test_a_broken_file_leaves_the_demo_working(tmp_path, fake_demo):
    path = write_config(tmp_path, "[sources.a\n")
    assert load_source("demo", path).events is fake_demo
    with pytest.raises(ConnectorError):
        load_source("a", path)


def test_unknown_source_is_named(tmp_path):
    path = write_config(tmp_path, '[sources.shop]\npath = "e.csv"\n')
    with pytest.raises(ConnectorError, match="no source named 'shopp' \\(sources: shop, demo\\)"):
        load_source("shopp", path)


WAREHOUSE = """
[sources.warehouse]
url = "postgresql+psycopg://analyst@db.internal:5432/analytics"
table = "events"
schema = "analytics"
timeout_seconds = 5
"""


def captured_sql_load(monkeypatch) -> dict:
    calls: dict = {}

    def fake_load_events(source, *, mapping=None, tz="UTC", **options):
        calls.update(source=source, tz=tz, mapping=mapping, **options)
        frame = pl.LazyFrame({"user_id": ["u"], "event": ["e"]})
        return frame, LoadReport(source="warehouse", format="postgresql", rows_read=1, rows_kept=1)

    monkeypatch.setattr(config, "load_events", fake_load_events)
    return calls


def test_password_from_an_environment_variable(tmp_path, monkeypatch):
    path = write_config(tmp_path, WAREHOUSE + 'password_env = "WAREHOUSE_PASSWORD"\n')
    calls = captured_sql_load(monkeypatch)
    load_source("warehouse", path, environ={"WAREHOUSE_PASSWORD": "s3cret!"})
    assert calls["password"] == "s3cret!"
    assert "s3cret" not in calls["source"]  # the URL itself never carries it
    assert (calls["table"], calls["schema"], calls["timeout_seconds"]) == ("events", "analytics", 5)


def test_missing_environment_variable_is_named(tmp_path, monkeypatch):
    path = write_config(tmp_path, WAREHOUSE + 'password_env = "WAREHOUSE_PASSWORD"\n')
    captured_sql_load(monkeypatch)
    with pytest.raises(ConnectorError, match="environment variable WAREHOUSE_PASSWORD"):
        load_source("warehouse", path, environ={})


def test_password_from_streamlit_secrets(tmp_path, monkeypatch):
    path = write_config(tmp_path, WAREHOUSE + 'password_secret = "warehouse.password"\n')
    calls = captured_sql_load(monkeypatch)
    load_source("warehouse", path, secrets={"warehouse": {"password": "from-secrets"}})
    assert calls["password"] == "from-secrets"
    with pytest.raises(ConnectorError, match="no secret 'warehouse.password'"):
        load_source("warehouse", path, secrets={})


def test_the_shipped_sources_file_is_valid():
    shipped = Path(__file__).resolve().parents[2] / "sources.toml"
    assert source_names(shipped)[0] == "demo"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql+psycopg://bob:hunter2@db:5432/x", "postgresql+psycopg://bob:***@db:5432/x"),
        ("host=db password=hunter2 user=bob", "host=db password=*** user=bob"),
        ("sqlite:///events.db", "sqlite:///events.db"),
    ],
)
def test_secrets_are_masked_in_messages(text, masked):
    assert mask_secrets(text) == masked
    assert str(ConnectorError(f"{text}: cannot connect")) == f"{masked}: cannot connect"


def test_a_file_source_can_say_how_its_times_are_written(tmp_path):
    (tmp_path / "orders.csv").write_text(
        "CustomerID,Description,InvoiceDate\n17850,purchase,12/1/2010 8:26\n"
    )
    path = write_config(
        tmp_path,
        "[sources.retail]\n"
        'path = "orders.csv"\n'
        'time_format = "%m/%d/%Y %H:%M"\n'
        'mapping = { user_id = "CustomerID", event = "Description", timestamp = "InvoiceDate" }\n',
    )
    loaded = load_source("retail", path)
    assert loaded.events.get_column("timestamp").to_list() == [
        dt.datetime(2010, 12, 1, 8, 26, tzinfo=dt.UTC)
    ]
