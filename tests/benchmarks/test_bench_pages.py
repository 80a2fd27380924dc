"""benchmarks.bench_pages: a folder of parts; every page's default view equal on both engines."""

from __future__ import annotations

import sys
import types

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from benchmarks import bench_pages as pages
from benchmarks import generate as bench

duckdb = pytest.importorskip("duckdb")


@pytest.fixture(autouse=True)
def plain_main(monkeypatch):
    """A spawned child re-runs ``__main__``'s file; after Streamlit's AppTest ran app.py as
    ``__main__`` in this process, that would start the app in the child. The benchmark is run as
    a script, whose ``__main__`` is its own."""
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bench, "DATA_DIR", tmp_path_factory.mktemp("data"))
        found = bench.ensure_folder(20_000, 2, seed=3)
        yield found, pages.ensure_assignments(found)


def test_folder_of_parts_shares_no_user_event_or_session(folder):
    events, _ = folder
    assert events.name == "events_20000_x2_seed3"
    parts = [pl.read_parquet(p) for p in sorted(events.glob("*.parquet"))]
    assert [p.height for p in parts] == [10_000, 10_000]
    # Part 0 is the single file of its size and seed; part 1 has its own seed and prefix.
    assert_frame_equal(parts[0], bench.generate(10_000, seed=3))
    assert_frame_equal(parts[1], bench.generate(10_000, seed=4, prefix="p1"))
    assert (events / "part_00.parquet").samefile(bench.path_for(10_000, seed=3))
    for column in ("user_id", "event_id", "session_id"):
        assert not set(parts[0][column]) & set(parts[1][column]), column
    whole = pl.scan_parquet(events / "*.parquet").collect()
    assert whole.height == 20_000
    assert whole["event_id"].is_unique().all()


def test_folder_is_reused_and_sizes_add_up(folder, monkeypatch):
    events, _ = folder
    monkeypatch.setattr(bench, "DATA_DIR", events.parent)
    written = {p.name: p.stat().st_mtime_ns for p in events.glob("*.parquet")}
    assert bench.ensure_folder(20_000, 2, seed=3) == events
    assert {p.name: p.stat().st_mtime_ns for p in events.glob("*.parquet")} == written
    assert bench.part_sizes(100_000_000, 10) == [10_000_000] * 10
    assert bench.part_sizes(10, 3) == [4, 3, 3]
    with pytest.raises(ValueError, match="parts"):
        bench.part_sizes(10, 0)


def test_assignments_cover_every_user_of_every_part(folder):
    events, assignments = folder
    users = pl.scan_parquet(events / "*.parquet").select(pl.col("user_id").unique()).collect()
    assigned = pl.scan_parquet(assignments / "*.parquet").collect()
    assert set(users["user_id"]) <= set(assigned["user_id"])
    assert assigned["user_id"].n_unique() == 4 * users.height
    assert set(assigned["variant"]) == {"control", "treatment"}


@pytest.mark.parametrize("page", pages.PAGES)
def test_both_engines_give_the_same_frames(folder, page):
    events, assignments = folder
    globs = (str(events / "*.parquet"), str(assignments / "*.parquet"))
    calls: list[str] = []

    def timed(name, function, *args, **kwargs):
        calls.append(name)
        return function(*args, **kwargs)

    answers = {}
    for engine in ("polars", "duckdb"):
        opened = pages._open(engine, *globs)
        answers[engine] = pages.as_frames(pages.PAGE_FUNCTIONS[page](*opened, timed))
    assert calls
    assert pages.differences(answers["duckdb"], answers["polars"]) == []
    assert pages.hidden_failures(answers["polars"]) == []
    if page == "Overview":
        assert answers["polars"]["scorecard"].height == 15
        kinds = set(answers["polars"]["scorecard"]["metric"])
        from metrics.targets import METRICS

        assert kinds == set(METRICS)


@pytest.mark.parametrize("engine", pages.STORED)
def test_stored_tables_are_built_once_and_answer_as_polars(folder, engine):
    pytest.importorskip("chdb" if engine == "chdb" else "duckdb")
    events, assignments = folder
    globs = (str(events / "*.parquet"), str(assignments / "*.parquet"))
    assert pages.ensure_stored(engine, *globs) > 0
    assert pages.ensure_stored(engine, *globs) == 0.0  # kept for the next run
    assert pages.stored_path(engine, globs[0]).parent == events.parent

    def plain(_name, function, *args, **kwargs):
        return function(*args, **kwargs)

    page = pages.PAGE_FUNCTIONS["Retention"]
    expected = pages.as_frames(page(*pages._open("polars", *globs), plain))
    assert (
        pages.differences(expected, pages.as_frames(page(*pages._open(engine, *globs), plain)))
        == []
    )


def test_a_difference_is_named():
    a = {"steps": pl.DataFrame({"users": [3, 2]})}
    b = {"steps": pl.DataFrame({"users": [3, 1]}), "extra": pl.DataFrame()}
    found = pages.differences(a, b)
    assert len(found) == 2
    assert found[1].startswith("steps:")


def test_a_failing_page_is_a_row_not_a_crash():
    run = pages.measure(
        "polars",
        "Experiments",
        "/nonexistent/*.parquet",
        "/nonexistent/*.parquet",
        max_memory_mib=8 * 1024,
        timeout=300,
    )
    assert run.failure is not None and run.failure.startswith("error:")
    rows = pages.table_rows({(1_000_000, "Experiments", "polars"): run}, "duckdb")
    assert "| 1M | Experiments | polars | failed: error:" in rows[-1]
