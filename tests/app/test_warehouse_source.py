"""A source computed where its events live (``compute = "warehouse"``): every page runs on DuckDB.

The demo's events of 500 users are written to a DuckDB file made here; sources.toml names the
file (a ``.duckdb`` path computes there by default; this one also says ``compute = "warehouse"``)
and the demo's vision file. Every page must render without an exception, the Overview's KPI
values must be the ones computed on the same events in Polars, each chart's "Show SQL" must show
the statements that ran, and the Data page the report counted in SQL. An unreachable PostgreSQL
server gives a clear message on every page. docs/warehouse.md "In the app".
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

import connectors
from metrics import targets
from ui.charts import targets as charts

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGES = (
    "pages/engagement.py",
    "pages/retention.py",
    "pages/funnels.py",
    "pages/experiments.py",
    "pages/data.py",
)
USERS = 500


@pytest.fixture(scope="module")
def warehouse_events(tmp_path_factory) -> tuple[Path, pl.DataFrame]:
    """The demo's events of its first 500 users, in a DuckDB file (table ``events``)."""
    folder = tmp_path_factory.mktemp("warehouse_app")
    lazy, _ = connectors.load_events("demo")
    events = lazy.collect()
    users = events.select("user_id").unique().sort("user_id").head(USERS)
    events = events.join(users, on="user_id", how="semi").sort("timestamp", "event_id")
    con = duckdb.connect(str(folder / "events.duckdb"))
    con.register("loaded", events.to_arrow())
    con.execute("CREATE TABLE events AS SELECT * FROM loaded")
    con.close()
    shutil.copy(ROOT / "vision.toml", folder / "vision.toml")
    return folder, events


def configure(monkeypatch, folder: Path, name: str, body: str) -> None:
    config = folder / f"{name}.toml"
    config.write_text(f'default = "{name}"\n[sources.{name}]\n{body}', encoding="utf-8")
    monkeypatch.setenv("NORTHSTAR_SOURCES", str(config))
    monkeypatch.delenv("NORTHSTAR_VISION", raising=False)


@pytest.fixture
def engine_app(warehouse_events, monkeypatch) -> tuple[AppTest, pl.DataFrame]:
    folder, events = warehouse_events
    configure(
        monkeypatch,
        folder,
        "wh_duckdb",
        'path = "events.duckdb"\ncompute = "warehouse"\nvision = "vision.toml"\n'
        'description = "Demo events in DuckDB"\n',
    )
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    return at, events


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def sql_blocks(at: AppTest) -> list[str]:
    return [c.value for c in at.code if c.language == "sql"]


def test_the_overview_computes_in_the_engine_and_matches_polars(engine_app):
    at, events = engine_app
    assert not at.exception, at.exception
    assert not errors(at), errors(at)
    vision = targets.load_vision(ROOT / "vision.toml")
    last = events.get_column("timestamp").max().date()  # type: ignore[union-attr]
    today = min(last + dt.timedelta(days=1), dt.date.today())
    card = targets.scorecard(vision, events, today=today, tz="UTC")
    shown = {m.label: m.value for m in at.metric}
    expected = {
        row["kpi"]: charts.format_value(row["value"], row["unit"], "USD")
        for row in card.table.iter_rows(named=True)
        if row["value"] is not None
    }
    assert len(expected) >= 8
    values = [m.value for m in at.metric]
    for kpi, value in expected.items():
        assert value in values, (kpi, value, shown)
    # "Show SQL" under the scorecard: the statements that computed it, values inline.
    statements = sql_blocks(at)
    assert statements and all("SELECT" in s for s in statements)
    assert any("'purchase'" in s for s in statements)  # weekly buyers' event, inline


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_on_the_engine(engine_app, page):
    at, _ = engine_app
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert not errors(at), errors(at)
    labels = [e.label for e in at.expander]
    assert "Show SQL" in labels, labels
    assert sql_blocks(at), page
    if page == "pages/experiments.py":  # the demo's experiment, analysed in the engine
        assert "Lift by metric" in [h.value for h in at.subheader]
        assert any("checkout_redesign" in s for s in sql_blocks(at))


def test_the_engagement_page_shows_the_numbers_of_polars(engine_app):
    from metrics import engagement

    at, events = engine_app
    start, end = at.sidebar.date_input(key="range").value  # the sidebar's default range
    at.switch_page("pages/engagement.py").run()
    assert not at.exception, at.exception
    rolling = engagement.rolling_active_users(
        events, start=start, end=end, windows=(1, 7, 30), tz="UTC"
    )
    mau = rolling.filter((pl.col("window_days") == 30) & (pl.col("period_start") == end))
    shown = {m.label: m.value for m in at.metric}
    assert shown["MAU"].replace(",", "") == str(mau.get_column("active_users")[0])
    assert any("COUNT" in s.upper() for s in sql_blocks(at))


def test_the_previous_period_is_computed_in_the_engine_too(engine_app):
    """Compare with: the same cached adapters on the earlier range, so in SQL, equal to Polars."""
    import json

    from metrics import compare, engagement

    first_run, events = engine_app  # the source is configured; a link opens Engagement
    start, end = first_run.sidebar.date_input(key="range").value
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["compare"] = "previous"
    at.switch_page("pages/engagement.py")
    at.run()
    assert not at.exception, at.exception
    assert not errors(at), errors(at)
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    drawn = [t for t in figure["data"] if t.get("name") == "Previous period"]
    assert len(drawn) == 3
    shift = compare.earlier(start, end, "previous")
    first = events.get_column("timestamp").min().date()  # type: ignore[union-attr]
    earlier = compare.align(
        engagement.rolling_active_users(
            events, start=shift.start, end=shift.end, windows=(1, 7, 30), tz="UTC"
        ),
        shift,
        first_day=first,
    )
    mau = earlier.filter(pl.col("window_days") == 30).sort("period_start")
    assert drawn[2]["y"] == mau.get_column("active_users").to_list()


def test_the_data_page_shows_the_report_counted_in_sql(engine_app):
    at, events = engine_app
    at.switch_page("pages/data.py").run()
    assert not at.exception, at.exception
    shown = {m.label: m.value for m in at.metric}
    assert shown["Rows kept"] == f"{events.height:,}"
    assert shown["Users"] == f"{USERS:,}"
    captions = " ".join(c.value.replace("\\", "") for c in at.caption)
    assert "duckdb (computed there)" in captions
    assert "events.duckdb" in captions and str(ROOT) not in captions and "/tmp" not in captions
    statements = sql_blocks(at)
    assert any("COUNT(*)" in s for s in statements), statements


def test_sidebar_filters_come_from_the_engine(engine_app):
    at, events = engine_app
    platforms = sorted(events.get_column("platform").unique().to_list())
    assert at.sidebar.multiselect(key="f_platform").options == platforms
    # A shared link's filter reaches the funnel's SQL as a bound value (inline in Show SQL).
    linked = AppTest.from_file(APP, default_timeout=300)
    linked.query_params["f_platform"] = "web"
    linked.run()
    linked.switch_page("pages/funnels.py").run()
    assert not linked.exception, linked.exception
    assert not errors(linked), errors(linked)
    assert any("'web'" in s for s in sql_blocks(linked))


def test_an_unreachable_database_is_a_clear_message_on_every_page(warehouse_events, monkeypatch):
    folder, _ = warehouse_events
    configure(
        monkeypatch,
        folder,
        "wh_gone",
        'url = "postgresql+psycopg://nobody@127.0.0.1:9/analytics"\ntable = "events"\n'
        'compute = "warehouse"\n',
    )
    for page in ("pages/overview.py", *PAGES):
        at = AppTest.from_file(APP, default_timeout=120)
        at.switch_page(page)  # a fresh session opening the page's link
        at.run()
        assert not at.exception, (page, at.exception)
        message = " ".join(errors(at)).replace("\\", "")
        assert "wh_gone" in message and "127.0.0.1" in message, (page, message)
        assert "Connection refused" in message, (page, message)


def test_a_product_without_a_vision_gets_suggestions_from_the_engine(warehouse_events, monkeypatch):
    folder, _ = warehouse_events
    configure(monkeypatch, folder, "wh_setup", 'path = "events.duckdb"\n')  # DuckDB: computed there
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    assert not errors(at), errors(at)
    labels = [c.label.replace("\\", "") for c in at.checkbox]
    assert "**Weekly active users**" in labels
    assert "**Monthly revenue**" in labels


def test_a_missing_column_is_named(warehouse_events, monkeypatch):
    folder, _ = warehouse_events
    con = duckdb.connect(str(folder / "no_event.duckdb"))
    con.execute("CREATE TABLE events AS SELECT 'u1' AS user_id, TIMESTAMPTZ '2026-10-01' AS ts")
    con.close()
    configure(monkeypatch, folder, "wh_no_event", 'path = "no_event.duckdb"\n')
    for page in ("pages/overview.py", "pages/data.py"):
        at = AppTest.from_file(APP, default_timeout=120)
        at.switch_page(page)
        at.run()
        assert not at.exception, (page, at.exception)
        message = " ".join(errors(at)).replace("\\", "")
        assert "wh_no_event" in message and "no column for 'event'" in message, (page, message)


@pytest.mark.parametrize(
    "failure, words",
    [
        (NotImplementedError("lifecycle has no SQL form yet"), "not computed in the database yet"),
        (
            connectors.ConnectorError("duckdb: the statement failed: no function 'width_bucket'"),
            "The database could not answer",
        ),
        (ValueError("filters: no column 'plan' in the events"), "cannot be computed"),
    ],
)
def test_what_the_engine_cannot_answer_is_said_in_words(
    warehouse_events, monkeypatch, failure, words
):
    """A function not computed in SQL yet, a function the dialect lacks, a missing column: the
    charts above stay, the failing one is an error box in plain words, never a traceback."""
    from metrics import engagement

    def cannot(*args, **kwargs):
        raise failure

    folder, _ = warehouse_events
    name = f"wh_fail_{type(failure).__name__.lower()}"  # its own cache entries
    configure(monkeypatch, folder, name, 'path = "events.duckdb"\n')
    monkeypatch.setattr(engagement, "lifecycle_of", cannot)
    at = AppTest.from_file(APP, default_timeout=300)
    at.switch_page("pages/engagement.py")
    at.query_params["eng_more"] = "Lifecycle"  # the tab that computes the lifecycle
    at.run()
    assert not at.exception, at.exception
    message = " ".join(errors(at)).replace("\\", "")
    assert words in message and str(failure).split(":")[-1].strip() in message, message
    assert "Who is new, returning, resurrecting or dormant each day?" in [
        h.value for h in at.subheader
    ]  # the page got this far
    assert "DAU" in [m.label for m in at.metric]
