"""connectors.derive: rows that are not yet events become events (event, compute, where;
docs/data.md).

The story is a few lines of UCI's Online Retail II export (one row per order line, no event
column, US-style times, customer ids written as floats because the column has gaps):

    line 1  invoice 489434, customer 13085, 12 glass balls at 6.95, 1 Dec 2010 08:26
    line 2  invoice 489434, customer 13085, 12 cherry lights at 6.75, same time
    line 3  invoice C489449 (a cancellation), customer 16321, -12 buntings at 2.95
    line 4  invoice 489436, no customer, 18 building blocks at 5.45
    line 5  invoice 489437, customer 17850, 6 heart decorations at 2.10, 2 Dec 2010 14:05

Loaded as purchases with revenue = Price * Quantity where Quantity > 0: line 3 is filtered out,
line 4 has no user; lines 1, 2 and 5 are kept, with revenue 83.40, 81.00 and 12.60.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import connectors
from connectors import ConnectorError
from connectors.config import load_source

UTC = dt.UTC

RETAIL = """\
Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country
489434,85048,15CM CHRISTMAS GLASS BALL 20 LIGHTS,12,12/1/2010 8:26,6.95,13085.0,United Kingdom
489434,79323P,PINK CHERRY LIGHTS,12,12/1/2010 8:26,6.75,13085.0,United Kingdom
C489449,22087,PAPER BUNTING WHITE LACE,-12,12/1/2010 10:33,2.95,16321.0,Australia
489436,21755,LOVE BUILDING BLOCK WORD,18,12/1/2010 9:06,5.45,,United Kingdom
489437,22143,"HEART DECORATIONS, SET OF 6",6,12/2/2010 14:05,2.10,17850.0,United Kingdom
"""

OPTIONS = {
    "event": "purchase",
    "compute": {"revenue": "Price * Quantity"},
    "where": "Quantity > 0",
    "mapping": {"user_id": "Customer ID", "timestamp": "InvoiceDate"},
    "time_format": "%m/%d/%Y %H:%M",
}

EXPECTED = pl.DataFrame(
    {
        # "13085.0" in the file: a float column's whole number, read as the id 13085.
        "user_id": ["13085", "13085", "17850"],
        "event": ["purchase"] * 3,
        "timestamp": [
            dt.datetime(2010, 12, 1, 8, 26, tzinfo=UTC),
            dt.datetime(2010, 12, 1, 8, 26, tzinfo=UTC),
            dt.datetime(2010, 12, 2, 14, 5, tzinfo=UTC),
        ],
        "revenue": [12 * 6.95, 12 * 6.75, 6 * 2.10],  # 83.40, 81.00, 12.60
        "Invoice": ["489434", "489434", "489437"],
        "StockCode": ["85048", "79323P", "22143"],
        "Description": [
            "15CM CHRISTMAS GLASS BALL 20 LIGHTS",
            "PINK CHERRY LIGHTS",
            "HEART DECORATIONS, SET OF 6",
        ],
        "Quantity": [12, 12, 6],
        "Price": [6.95, 6.75, 2.10],
        "Country": ["United Kingdom"] * 3,
    },
    schema_overrides={"timestamp": pl.Datetime("us", "UTC")},
)


@pytest.fixture
def retail(tmp_path: Path) -> Path:
    path = tmp_path / "online_retail_II.csv"
    path.write_text(RETAIL, encoding="utf-8")
    return path


def test_order_lines_become_purchases_with_revenue(retail):
    events, report = connectors.load_events(str(retail), **OPTIONS)
    assert_frame_equal(events.collect(), EXPECTED)
    assert report.rows_read == 5
    assert report.rows_kept == 3
    assert report.dropped == {
        "filtered_out": 1,  # line 3: Quantity -12
        "no_user": 1,  # line 4: no Customer ID
        "no_event": 0,
        "unparseable_time": 0,
        "duplicate_event_id": 0,
    }
    assert report.changed == {
        "revenue_not_a_number": 0,
        "revenue_not_finite": 0,
        "id_decimal_point": 3,  # 13085.0 twice and 17850.0 (kept rows only)
    }
    assert report.users == 2
    assert report.events_by_name == {"purchase": 3}
    assert report.first_event == dt.datetime(2010, 12, 1, 8, 26, tzinfo=UTC)
    assert report.last_event == dt.datetime(2010, 12, 2, 14, 5, tzinfo=UTC)
    assert report.time_range == (report.first_event, report.last_event)
    assert report.implausible_times == 0
    assert "Column 'revenue' computed as Price * Quantity." in report.notes
    assert "Every row is the event 'purchase' (event option)." in report.notes
    assert "1 row did not meet the source's where condition and was left out." in report.notes


def test_the_same_through_sources_toml(retail):
    config = retail.parent / "sources.toml"
    config.write_text(
        textwrap.dedent(
            """
            [sources.retail]
            path = "online_retail_II.csv"
            event = "purchase"
            compute = { revenue = "Price * Quantity" }
            where = "Quantity > 0"
            mapping = { user_id = "Customer ID", timestamp = "InvoiceDate" }
            time_format = "%m/%d/%Y %H:%M"
            """
        ),
        encoding="utf-8",
    )
    loaded = load_source("retail", config)
    assert_frame_equal(loaded.events, EXPECTED)
    assert loaded.report.dropped["filtered_out"] == 1
    assert loaded.report.dropped["no_user"] == 1
    assert loaded.report.changed["id_decimal_point"] == 3


def test_a_column_maps_to_event_names_and_unnamed_values_keep_their_own(retail):
    # Cancellations are the invoices starting with C; a third kind "X" is not in the map.
    events, report = connectors.load_events(
        str(retail),
        compute={
            "kind": "CASE WHEN Invoice LIKE 'C%' THEN 'C' WHEN Quantity > 12 THEN 'X' ELSE 'O' END"
        },
        event={"column": "kind", "values": {"O": "order", "C": "cancellation"}},
        mapping={"user_id": "Country", "timestamp": "InvoiceDate"},
        time_format="%m/%d/%Y %H:%M",
    )
    got = events.collect().sort("timestamp").select("Invoice", "event")
    assert got.rows() == [
        ("489434", "order"),
        ("489434", "order"),
        ("489436", "X"),  # Quantity 18: not in the map, kept under its own value
        ("C489449", "cancellation"),
        ("489437", "order"),
    ]
    assert report.rows_kept == 5
    assert (
        "1 row had a value of 'kind' that the event map does not name; each kept its own value "
        "as the event name: 'X'."
    ) in report.notes


def test_an_event_map_default_names_the_other_values(retail):
    events, report = connectors.load_events(
        str(retail),
        event={"column": "Country", "values": {"Australia": "export"}, "default": "home"},
        mapping={"user_id": "Invoice", "timestamp": "InvoiceDate"},
        time_format="%m/%d/%Y %H:%M",
    )
    assert events.collect().get_column("event").value_counts().sort("event").rows() == [
        ("export", 1),
        ("home", 4),
    ]
    assert any(note.startswith("4 rows had a value of 'Country'") for note in report.notes)


def test_where_keeps_only_rows_it_holds_for_unknown_included(tmp_path):
    # SQL's WHERE: a row whose condition is unknown (no Quantity) is left out too, and counted.
    path = tmp_path / "lines.csv"
    path.write_text(
        "user_id,timestamp,Quantity\nu1,2026-03-02T10:00Z,3\nu2,2026-03-02T11:00Z,\n"
        "u3,2026-03-02T12:00Z,0\n",
        encoding="utf-8",
    )
    events, report = connectors.load_events(str(path), event="line", where="Quantity > 0")
    assert events.collect().get_column("user_id").to_list() == ["u1"]
    assert report.dropped["filtered_out"] == 2
    assert report.rows_read == report.rows_kept + report.rows_dropped


def test_compute_may_replace_a_column_and_use_earlier_ones(retail):
    events, report = connectors.load_events(
        str(retail),
        event="purchase",
        compute={"Price": "Price * 100", "revenue": "Price * Quantity / 100"},
        **{k: v for k, v in OPTIONS.items() if k in ("mapping", "time_format")},
    )
    first = events.collect().row(0, named=True)
    assert first["Price"] == pytest.approx(695.0)
    assert first["revenue"] == pytest.approx(83.4)
    assert "Column 'Price' replaced by Price * 100." in report.notes


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"compute": {"revenue": "Price *"}},
            r"online_retail_II\.csv: compute 'revenue' = 'Price \*' cannot be read",
        ),
        (
            {"compute": {"revenue": "Cost * Quantity"}},
            r"online_retail_II\.csv: compute 'revenue' = 'Cost \* Quantity' cannot be read.*Cost",
        ),
        ({"compute": {"revenue": 3}}, r"compute 'revenue' must be an SQL expression"),
        ({"compute": "Price * Quantity"}, r"compute must map column names to SQL"),
        ({"where": "Quantity >"}, r"online_retail_II\.csv: where = 'Quantity >' cannot be read"),
        ({"where": "Quantity"}, r"where = 'Quantity' is not a condition \(it gives Int64\)"),
        ({"where": "Nope > 1"}, r"where = 'Nope > 1' cannot be read"),
        ({"event": ""}, r"event must be an event name"),
        ({"event": 7}, r"event must be an event name or"),
        ({"event": {"column": "Nope"}}, r"event names column 'Nope', but the source has no"),
        ({"event": {"column": "Country", "value": {}}}, r"event: unknown key 'value'"),
        ({"event": {"column": "Country", "values": {"UK": 1}}}, r"event values must map"),
        (
            {"event": "purchase", "mapping": {"event": "Country"}},
            r"either in the mapping or as the event option",
        ),
        # Errors only the data shows are still pinned on the expression.
        (
            {"compute": {"revenue": "CAST(Description AS INTEGER)"}},
            r"compute 'revenue' = 'CAST\(Description AS INTEGER\)' fails on the data",
        ),
        ({"where": "Quantity > 'many'"}, r"""where = "Quantity > 'many'" fails on the data"""),
        # No eval: Python is not SQL.
        ({"compute": {"x": "__import__('os').system('true')"}}, r"compute 'x' = .* cannot be read"),
    ],
)
def test_bad_options_are_one_error_naming_source_option_and_expression(retail, options, message):
    given = {**OPTIONS, **options}
    with pytest.raises(ConnectorError, match=message):
        events, _ = connectors.load_events(str(retail), **given)
        events.collect()


def test_sources_toml_checks_the_types_of_the_new_keys(tmp_path):
    from connectors.config import read_config

    config = tmp_path / "sources.toml"
    config.write_text(
        textwrap.dedent(
            """
            [sources.retail]
            path = "x.csv"
            event = 3
            compute = ["Price * Quantity"]
            where = 1
            plausible_start = 5
            """
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConnectorError) as caught:
        read_config(config)
    text = str(caught.value)
    for part in ("event must be", "compute must be", "where must be", "plausible_start must be"):
        assert part in text


# -- docs/data.md, "From a raw export to the Overview" -------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "data.md"


def _walk_through() -> str:
    text = DOCS.read_text(encoding="utf-8")
    start = text.index("## From a raw export to the Overview")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _block(section: str, language: str) -> str:
    start = section.index(f"```{language}\n") + len(language) + 4
    return section[start : section.index("```", start)]


def test_the_walk_through_in_docs(tmp_path):
    section = _walk_through()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "online_retail_II.csv").write_text(
        _block(section, "csv"), encoding="utf-8"
    )
    config = tmp_path / "sources.toml"
    config.write_text(_block(section, "toml"), encoding="utf-8")

    loaded = load_source("retail", config)
    # December is winter time in London: its wall clock is UTC, so the story's frame holds.
    assert_frame_equal(loaded.events, EXPECTED)
    # The page's table shows the same rows.
    table = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| 1")
    ]
    shown = [(r[0], r[1], r[2], float(r[3]), r[4], int(r[5]), float(r[6]), r[7]) for r in table]
    assert shown == [
        (
            row["user_id"],
            row["event"],
            f"{row['timestamp']:%Y-%m-%d %H:%M}",
            pytest.approx(row["revenue"]),
            row["Invoice"],
            row["Quantity"],
            row["Price"],
            row["Country"],
        )
        for row in loaded.events.iter_rows(named=True)
    ]
    # And step 3's counts are the report's.
    report = loaded.report
    assert (report.rows_read, report.rows_kept) == (5, 3)
    assert report.dropped["filtered_out"] == report.dropped["no_user"] == 1
    assert report.changed["id_decimal_point"] == 3
    assert "3 times with no zone read in Europe/London and converted to UTC." in report.notes
