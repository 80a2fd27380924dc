"""Nothing from the server's file system on a page: the Data page's load report line and notes."""

from __future__ import annotations

from pathlib import Path

import pytest

from ui.datapage import without_server_paths

ROOT = Path("/srv/northstar")


@pytest.mark.parametrize(
    "text,shown",
    [
        ("/srv/northstar/data/events.csv", "data/events.csv"),  # the project's own: relative
        ("/tmp/exports/events.csv", "events.csv"),  # elsewhere: its name only
        ("files /mnt/a/x.csv and /srv/northstar/y.parquet.", "files x.csv and y.parquet."),
        ("glob /data/raw/*.parquet", "glob *.parquet"),
        (r"read C:\exports\orders.csv", "read orders.csv"),
        ("demo", "demo"),
        ("https://example.com/a/b.csv", "https://example.com/a/b.csv"),  # an address, not a path
        ("1/2 of the rows", "1/2 of the rows"),
    ],
)
def test_absolute_paths_are_cut_to_what_the_reader_needs(text, shown):
    assert without_server_paths(text, ROOT) == shown


def test_the_demo_report_names_no_file():
    from connectors.config import load_source

    report = load_source("demo").report
    for line in (report.source, *report.notes):
        assert ".parquet" not in line and "/" not in without_server_paths(line)
