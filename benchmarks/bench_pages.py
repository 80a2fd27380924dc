"""Every page's default view on a folder of Parquet files: Polars (lazy) against DuckDB.

    python -m benchmarks.bench_pages 1M                   # 1M events in one part, both engines
    python -m benchmarks.bench_pages 1M --parts 2         # the same events in two files
    python -m benchmarks.bench_pages 1M 10M 100M --repeat 2
    python -m benchmarks.bench_pages 100M --engines polars polars-in-memory duckdb
    python -m benchmarks.bench_pages 10M --pages Funnels Overview --detail

Issue 12 item 4: 100M events on the 2-core, 24 GiB machine, every page's default view answers
(nothing fails for memory), each page within 2x of DuckDB doing the same work on the same files.

**The data.** :func:`benchmarks.generate.ensure_folder`: ``--parts`` Parquet files (by default
one per 10M events: 100M is 10 parts of 10M), each with its own seed and id prefix. The
experiment's assignments are generated beside it, one file per part, as bench_experiments.py
makes them: every user of the part plus three times as many exposed users who never came back,
50/50 control/treatment, first exposures over Aug–Oct 2026, 0.5% exposed again to the other arm.

**A page's default view** is the metric calls the app makes when the page opens with no widget
touched and the sidebar's defaults (the last 90 days of data, 2026-08-03 .. 2026-10-31, UTC, no
filter, no comparison), read from pages/*.py and ui/*.py; only public functions of ``metrics``:

- Overview (pages/overview.py, ui/targets.py): ``targets.scorecard`` of benchmarks/vision_bench.toml
  (every metric kind) as of 2026-11-01 (``ui.targets.as_of``), the same a year earlier ("vs a year
  before"), and ``targets.explain`` for every off-track KPI (the page computes their drivers on
  opening; the vision file puts two KPIs off track).
- Engagement (pages/engagement.py, ui/engagement.py; interval "day"): ``rolling_active_users``
  (DAU/WAU/MAU) and ``dau_mau`` over the range and on the day lined up in the previous 90 days
  (the headlines' "vs previous"; the year before has no data), ``stickiness``, ``lifecycle`` and
  ``revenue`` per day. At the default interval the page draws no ``active_users`` chart.
- Retention (pages/retention.py, ui/retention.py): ``retention`` (weekly, recurring, exact,
  calendar, any event), its ``average_curve``, ``revenue_retention`` (the LTV curve: the data has
  revenue) and ``average_ltv``.
- Funnels (pages/funnels.py, ui/funnels.py): ``ui.funnels.default_steps`` on the generated events
  is signup -> add_to_cart -> checkout_start -> purchase (the demo's steps that exist); ordered,
  14 days: ``funnel``; when anybody entered, also ``funnel_trends`` by day, ``time_to_convert``,
  ``dropped_users`` at the step most users dropped before (``biggest_drop``) and
  ``next_events_after_drop`` (top 10, passing over page_view and session_start). The generator
  puts every sign-up before August, so nobody enters this funnel in the default range and the
  page stops after ``funnel`` ("Nobody did signup ..."), as the app does.
- Funnels (app_open): the same page with bench_funnels.py's steps picked (app_open -> view_item
  -> add_to_cart -> purchase), every other control at its default: all five calls, on a funnel
  with dozens of attempts per user.
- Experiments (pages/experiments.py, ui/experiments.py): ``list_experiments``, ``analyze`` of
  purchase conversion and revenue per user (purchase) (``default_metrics``; frequentist, 95%,
  CUPED on), ``assignment_counts`` and ``cumulative_effect`` of the first metric.

**The engines**, each page in a fresh process (spawn; imports, opening the source and one run of
the page on a 5,000-event log, which loads the funnels' compiled kernels, happen before the clock;
peak memory is the whole process's VmHWM, :func:`benchmarks.memory.peak_mib`):

- ``polars``: the functions on ``pl.scan_parquet(folder/*.parquet)`` (the events stay lazy), with
  Polars' default engine, which is the streaming engine since Polars 2.
- ``polars-in-memory``: the same with ``pl.Config.set_engine_affinity("in-memory")``.
- ``duckdb``: the same functions on ``connectors.warehouse(duckdb.connect(), query="SELECT * FROM
  read_parquet('folder/*.parquet')", duplicates="trust")`` and the assignments as a second relation
  on that connection: DuckDB runs Northstar's generated SQL on the same files. ``trust`` skips the
  duplicate ``event_id`` check (a COUNT DISTINCT over every event) that the app runs once when it
  opens a source; the generated ids are unique, so the check would pick this same SQL. ``--pages
  Open`` measures opening the source itself (the check included). Each statement may take up to
  ``--timeout`` seconds (the app's default is 300 s a statement); the row cap is the app's (1M).

Issue 11 item 9 asks the same of the warehouse tier on stored tables, where a team's events live:

- ``duckdb-file``: the events and assignments copied once into a DuckDB database file beside
  the folder (``<folder>.duckdb``, built before the clock and kept for the next run), opened
  read-only; ``warehouse(connection, table="events")``.
- ``chdb``: the same in ClickHouse through chdb, MergeTree tables in a chdb folder beside the
  folder (``<folder>.chdb``), ordered by day and event as PostHog orders its events table;
  ``warehouse(session, table="events")``.

Both run Northstar's generated SQL and hand Python only the answers' rows; both trust the
generated ids' uniqueness as the ``duckdb`` engine does.

Every page's frames must be equal on every engine (columns, dtypes, counts, floats within 1e-9
relative): a difference is printed under the table. A page that fails (an exception, more memory
than ``--max-memory``, killed, over ``--timeout``) is a row saying so; the script goes on.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import math
import multiprocessing as mp
import os
import queue as queues
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal

from benchmarks.bench_experiments import EXPERIMENT, SPAN_S
from benchmarks.bench_experiments import START as EXPOSURES_START
from benchmarks.generate import DATA_DIR, ensure_folder, generate, parse_count
from benchmarks.memory import peak_mib

PAGES = ("Overview", "Engagement", "Retention", "Funnels", "Funnels (app_open)", "Experiments")
EXTRA_PAGES = ("Open",)
ENGINES = ("polars", "polars-in-memory", "duckdb", "duckdb-file", "chdb")
DEFAULT_ENGINES = ("polars", "duckdb")
PART_EVENTS = 10_000_000

VISION = Path(__file__).resolve().parent / "vision_bench.toml"
DUCKDB_TEMP = DATA_DIR / "duckdb_tmp"
#: The sidebar's default range on the generated data: its last 90 days (ui.state.render_sidebar).
START, END = dt.date(2026, 8, 3), dt.date(2026, 10, 31)
TZ = "UTC"
#: The Overview's "today" (ui.targets.as_of: the day after the range).
TODAY = END + dt.timedelta(days=1)
#: "vs a year before" (metrics.compare.YEAR_DAYS).
YEAR_BEFORE = TODAY - dt.timedelta(days=364)
#: The Engagement headlines' "vs previous" day: the range's end moved back by its 90 days.
PREVIOUS_DAY = START - dt.timedelta(days=1)
#: ui.funnels.default_steps on the generated events (the demo's funnel, minus the missing step).
FUNNEL_STEPS = ("signup", "add_to_cart", "checkout_start", "purchase")
#: ui.funnels.default_ignored: the bookkeeping events present, most frequent first.
FUNNEL_IGNORED = ("page_view", "session_start")
#: bench_funnels.py's funnel, picked on the Funnels page ("Funnels (app_open)").
APP_OPEN_STEPS = ("app_open", "view_item", "add_to_cart", "purchase")

RTOL, ATOL = 1e-9, 1e-12


# --- the data -------------------------------------------------------------------------------------


def default_parts(n_events: int) -> int:
    """One part per 10M events (at least one)."""
    return max(1, math.ceil(n_events / PART_EVENTS))


def ensure_assignments(folder: Path, *, seed: int = 20261123) -> Path:
    """The experiment's assignments for a folder of events, one file per part, beside it.

    Written once per part (again when the part is newer). Per part, as bench_experiments.py
    does for one file: its users (sorted, so the draw is the same every time) plus three times as
    many who were exposed and never came back (ids with the part's prefix, "p3s0000001"), 50/50,
    first exposures spread over 75 days from 2026-08-01, 0.5% exposed again 3 days later to the
    other variant (users both engines leave out).
    """
    out = folder.with_name(f"assignments_{folder.name}")
    out.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(sorted(folder.glob("part_*.parquet"))):
        path = out / part.name
        if path.is_file() and path.stat().st_mtime >= part.stat().st_mtime:
            continue
        logged = (
            pl.scan_parquet(part).select(pl.col("user_id").unique()).collect()["user_id"].sort()
        )
        prefix = f"p{i}" if i else ""
        silent = (
            pl.select(
                (
                    pl.lit(f"{prefix}s")
                    + pl.int_range(3 * logged.len()).cast(pl.String).str.zfill(7)
                ).alias("user_id")
            )
            .to_series()
            .rename("user_id")
        )
        ids = pl.concat([logged, silent])
        rng = np.random.default_rng(seed + i)
        n = ids.len()
        frame = pl.DataFrame(
            {
                "user_id": ids,
                "experiment": EXPERIMENT,
                "variant": np.where(rng.random(n) < 0.5, "control", "treatment"),
                "timestamp": pl.Series(rng.integers(0, SPAN_S, n) * 1_000_000).cast(
                    pl.Duration("us")
                )
                + EXPOSURES_START,
            }
        )
        twice = frame.sample(fraction=0.005, seed=seed + i).with_columns(
            pl.when(pl.col("variant") == "control")
            .then(pl.lit("treatment"))
            .otherwise(pl.lit("control"))
            .alias("variant"),
            pl.col("timestamp") + pl.duration(days=3),
        )
        result = pl.concat([frame, twice]).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))
        temporary = path.with_name(f".{path.name}.tmp")
        result.write_parquet(temporary)
        os.replace(temporary, path)
    return out


# --- each page's default view ---------------------------------------------------------------------


def overview(events: Any, assignments: Any, timed: Callable) -> dict[str, Any]:
    from metrics import targets

    vision = targets.load_vision(VISION)
    card = timed("scorecard", targets.scorecard, vision, events, today=TODAY, tz=TZ,
                 assignments=assignments)  # fmt: skip
    year = timed("scorecard a year before", targets.scorecard, vision, events, today=YEAR_BEFORE,
                 tz=TZ, assignments=assignments)  # fmt: skip
    out: dict[str, Any] = {"scorecard": card.table, "series": card.series, "year": year.table}
    for kpi, status in card.table.select("kpi", "status").iter_rows():
        if status == "off_track":
            out[f"drivers {kpi}"] = timed(
                f"drivers {kpi}", targets.explain, vision, kpi, events, today=card.today, tz=TZ,
                assignments=assignments,
            )  # fmt: skip
    return out


def engagement_page(events: Any, assignments: Any, timed: Callable) -> dict[str, Any]:
    from metrics import engagement as eng

    span = {"start": START, "end": END, "tz": TZ}
    day = {"start": PREVIOUS_DAY, "end": PREVIOUS_DAY, "tz": TZ}
    daily = {"interval": "day", "week_start": "monday"}
    return {
        "rolling": timed("rolling_active_users", eng.rolling_active_users, events,
                         windows=(1, 7, 30), **span),
        "dau_mau": timed("dau_mau", eng.dau_mau, events, **span),
        "rolling previous day": timed("rolling_active_users (previous day)",
                                      eng.rolling_active_users, events, windows=(1, 7, 30), **day),
        "dau_mau previous day": timed("dau_mau (previous day)", eng.dau_mau, events, **day),
        "stickiness": timed("stickiness", eng.stickiness, events, interval_count=1, **daily,
                            **span),
        "lifecycle": timed("lifecycle", eng.lifecycle, events, **daily, **span),
        "revenue": timed("revenue", eng.revenue, events, breakdown=None, **daily, **span),
    }  # fmt: skip


def retention_page(events: Any, assignments: Any, timed: Callable) -> dict[str, Any]:
    from metrics import retention as ret

    view = {
        "start": START, "end": END, "interval": "week", "start_event": None,
        "retention_type": "recurring", "periods": "calendar", "week_start": "monday", "tz": TZ,
        "filters": None,
    }  # fmt: skip
    table = timed("retention", ret.retention, events, return_event=None, mode="exact", **view)
    money = timed("revenue_retention", ret.revenue_retention, events, **view)
    return {
        "cohorts": table,
        "curve": ret.average_curve(table),
        "ltv": money,
        "average ltv": ret.average_ltv(money),
    }


def _funnel_calls(
    events: Any, timed: Callable, steps: Sequence[str], *, stop_when_empty: bool
) -> dict[str, Any]:
    """The Funnels page's calls for ``steps`` (every other control at its default)."""
    from metrics import funnels as fun

    steps = list(steps)
    options = {
        "window": fun.conversion_window(14, "day"), "order": "ordered", "exclusions": [],
        "breakdown": None, "start": START, "end": END, "tz": TZ,
    }  # fmt: skip
    table = timed("funnel", fun.funnel, events, steps, **options)
    out: dict[str, Any] = {"steps": table}
    if stop_when_empty and not table.filter(pl.col("step") == 1)["users"].sum():
        return out  # pages/funnels.py: "Nobody did <step 1> ..." and st.stop()
    out["trends"] = timed("funnel_trends", fun.funnel_trends, events, steps, interval="day",
                          **options)  # fmt: skip
    out["time to convert"] = timed("time_to_convert", fun.time_to_convert, events, steps,
                                   **options)  # fmt: skip
    # ui.funnels.biggest_drop: the step (2..n) most users dropped off on the way to.
    later = table.filter(pl.col("step") >= 2)
    drop_step = 2 + (int(later["dropped_off"].arg_max() or 0) if later.height else 0)
    gone = timed("dropped_users", fun.dropped_users, events, steps, step=drop_step, **options)
    out["dropped users"] = gone
    if gone.height:
        out["next events"] = timed(
            "next_events_after_drop", fun.next_events_after_drop, events, steps, step=drop_step,
            top=10, ignore=FUNNEL_IGNORED, **options,
        )  # fmt: skip
    return out


def funnels_page(events: Any, assignments: Any, timed: Callable) -> dict[str, Any]:
    """The default funnel, as the page computes it (it stops when nobody entered)."""
    return _funnel_calls(events, timed, FUNNEL_STEPS, stop_when_empty=True)


def app_open_funnel_page(events: Any, assignments: Any, timed: Callable) -> dict[str, Any]:
    """The Funnels page with bench_funnels.py's steps picked, every other control at its default:
    a funnel with many attempts per user that people enter in the default range."""
    return _funnel_calls(events, timed, APP_OPEN_STEPS, stop_when_empty=True)


def experiments_page(events: Any, assignments: Any, timed: Callable) -> dict[str, Any]:
    from metrics import experiments as ex

    chosen = [
        ex.Conversion("purchase", name="purchase conversion"),
        ex.Sum("purchase", "revenue", name="revenue per user (purchase)"),
    ]
    reading = {
        "experiment": EXPERIMENT, "control": "control", "method": "frequentist", "alpha": 0.05,
        "cuped": True, "window": None, "winsorize": None,
    }  # fmt: skip
    return {
        "experiments": timed("list_experiments", ex.list_experiments, assignments),
        "results": timed("analyze", ex.analyze, events, assignments, metrics=chosen,
                         segment=None, correction=None, **reading),
        "traffic": timed("assignment_counts", ex.assignment_counts, assignments,
                         experiment=EXPERIMENT),
        "daily": timed("cumulative_effect", ex.cumulative_effect, events, assignments,
                       metric=chosen[0], **reading),
    }  # fmt: skip


def open_page(events: Any, assignments: Any, timed: Callable) -> dict[str, Any]:
    """Opening the source: for DuckDB, ``warehouse(...)`` with the duplicate ``event_id`` check
    the app runs once per source (done inside the clock by :func:`_open` for this page)."""
    return {}


PAGE_FUNCTIONS: dict[str, Callable[[Any, Any, Callable], dict[str, Any]]] = {
    "Overview": overview,
    "Engagement": engagement_page,
    "Retention": retention_page,
    "Funnels": funnels_page,
    "Funnels (app_open)": app_open_funnel_page,
    "Experiments": experiments_page,
    "Open": open_page,
}


# --- one engine, one page, in a fresh process -----------------------------------------------------


def _open(
    engine: str,
    events_glob: str,
    assignments_glob: str,
    *,
    check: bool = False,
    timeout: float = 3600,
):
    """(events, assignments) as the engine reads them. DuckDB's statements may take ``timeout``
    seconds each (the app's default is 300: a slower statement would be an error there)."""
    if engine.startswith("polars"):
        lazy = pl.scan_parquet(events_glob)
        lazy.collect_schema()
        return lazy, pl.scan_parquet(assignments_glob)
    import duckdb

    from connectors.warehouse import warehouse

    if engine in STORED:
        store = stored_path(engine, events_glob)
        if engine == "chdb":
            from chdb import session

            connection: Any = session.Session(str(store))
        else:
            connection = duckdb.connect(str(store), read_only=True)
        duplicates = "check" if check else "trust"
        return (
            warehouse(connection, table="events", duplicates=duplicates, timeout_seconds=timeout),
            warehouse(connection, table="assignments", kind="assignments", timeout_seconds=timeout),
        )

    # DuckDB's defaults (2 threads, 80% of the RAM), except where it spills: under the data
    # folder rather than ./.tmp in the working directory.
    DUCKDB_TEMP.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(config={"temp_directory": str(DUCKDB_TEMP)})
    events = warehouse(
        connection,
        query=f"SELECT * FROM read_parquet('{events_glob}')",
        duplicates="check" if check else "trust",
        timeout_seconds=timeout,
    )
    assignments = warehouse(
        connection,
        query=f"SELECT * FROM read_parquet('{assignments_glob}')",
        kind="assignments",
        timeout_seconds=timeout,
    )
    return events, assignments


#: Engines whose events are stored tables, built once from the Parquet files (not timed).
STORED = ("duckdb-file", "chdb")


def stored_path(engine: str, events_glob: str) -> Path:
    """Where ``engine`` keeps the tables of the folder ``events_glob`` reads."""
    folder = Path(events_glob).parent
    return folder.with_name(folder.name + (".chdb" if engine == "chdb" else ".duckdb"))


def ensure_stored(engine: str, events_glob: str, assignments_glob: str) -> float:
    """Build ``engine``'s tables from the Parquet files unless they exist; the seconds it took."""
    store = stored_path(engine, events_glob)
    if store.exists():
        return 0.0
    began = time.perf_counter()
    building = store.with_name(store.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.unlink(missing_ok=True)
    tables = {"events": events_glob, "assignments": assignments_glob}
    if engine == "chdb":
        from chdb import session

        chdb = session.Session(str(building))
        order = {"events": "(toDate(timestamp), event)", "assignments": "(experiment, user_id)"}
        for table, glob in tables.items():
            chdb.query(
                f"CREATE TABLE {table} ENGINE = MergeTree ORDER BY {order[table]} "
                f"SETTINGS allow_nullable_key = 1 AS SELECT * FROM file('{glob}', Parquet)"
            )
        chdb.close()
    else:
        import duckdb

        with duckdb.connect(str(building)) as connection:
            connection.execute("SET enable_progress_bar = false")
            for table, glob in tables.items():
                connection.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{glob}')")
    building.rename(store)
    return time.perf_counter() - began


def _warm_up(page: str) -> None:
    """The page once on a 5,000-event log in memory: lazy imports and the funnels' compiled
    kernels (numba's on-disk cache) are loaded before the clock, as in a running app."""
    events = generate(5_000, seed=99)
    users = events.select(pl.col("user_id").unique().sort()).to_series()
    arms = np.where(np.arange(users.len()) % 2 == 0, "control", "treatment")
    assignments = pl.DataFrame(
        {"user_id": users, "experiment": EXPERIMENT, "variant": arms, "timestamp": EXPOSURES_START}
    ).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))
    PAGE_FUNCTIONS[page](events.lazy(), assignments, lambda _name, f, *a, **k: f(*a, **k))


def _child(
    engine: str, page: str, events_glob: str, assignments_glob: str, timeout: float, out
) -> None:
    try:
        import duckdb  # noqa: F401  (imports are not what is measured)

        import connectors.warehouse  # noqa: F401
        import metrics.engagement  # noqa: F401
        import metrics.experiments  # noqa: F401
        import metrics.funnels  # noqa: F401
        import metrics.retention  # noqa: F401
        import metrics.targets  # noqa: F401

        if engine == "chdb":
            import chdb  # noqa: F401
        if engine == "polars-in-memory":
            pl.Config.set_engine_affinity("in-memory")
        if page != "Open":
            _warm_up(page)
        parts: list[tuple[str, float]] = []

        def timed(name: str, function: Callable, *args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            result = function(*args, **kwargs)
            parts.append((name, time.perf_counter() - began))
            return result

        if page == "Open":
            began = time.perf_counter()
            _open(engine, events_glob, assignments_glob, check=True, timeout=timeout)
            frames: dict[str, pl.DataFrame] = {}
        else:
            events, assignments = _open(engine, events_glob, assignments_glob, timeout=timeout)
            began = time.perf_counter()
            frames = as_frames(PAGE_FUNCTIONS[page](events, assignments, timed))
        seconds = time.perf_counter() - began
        out.put(("ok", (seconds, peak_mib(), frames, parts)))
    except BaseException as exc:  # the parent reports it; it never waits for nothing
        kind = "memory" if _is_memory(exc) else "error"
        last = traceback.extract_tb(exc.__traceback__)[-1:]
        where = f" ({Path(last[0].filename).name}:{last[0].lineno})" if last else ""
        out.put((kind, f"{type(exc).__name__}: {exc}{where}"))


def _is_memory(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return isinstance(exc, MemoryError) or "out of memory" in text or "outofmemory" in text


def as_frames(value: Any, name: str = "") -> dict[str, pl.DataFrame]:
    """A page's results as named frames: frames as they are, a result object (targets.Drivers)
    as one row of its scalar fields plus its frames, each compared between engines."""
    if isinstance(value, pl.DataFrame):
        return {name: value}
    if isinstance(value, dict):
        out: dict[str, pl.DataFrame] = {}
        for key, item in value.items():
            out.update(as_frames(item, f"{name}.{key}" if name else str(key)))
        return out
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        scalars: dict[str, Any] = {}
        out = {}
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            if isinstance(item, pl.DataFrame | dict) or dataclasses.is_dataclass(item):
                out.update(as_frames(item, f"{name}.{field.name}"))
            else:
                scalars[field.name] = item
        out[name] = pl.DataFrame([scalars])
        return out
    return {name: pl.DataFrame({"value": [value]})}


@dataclasses.dataclass
class Run:
    """One page on one engine: the best time, the highest peak, the frames, or why it failed."""

    seconds: float | None = None
    peak: float | None = None
    frames: dict[str, pl.DataFrame] | None = None
    parts: list[tuple[str, float]] = dataclasses.field(default_factory=list)
    failure: str | None = None


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measure(
    engine: str,
    page: str,
    events_glob: str,
    assignments_glob: str,
    *,
    max_memory_mib: float,
    timeout: float,
) -> Run:
    """One run in a fresh process, watched: over ``max_memory_mib`` resident or ``timeout``
    seconds, the process is killed and the run is a failure saying so."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    process = ctx.Process(
        target=_child, args=(engine, page, events_glob, assignments_glob, timeout, out)
    )
    began = time.monotonic()
    process.start()
    seen = 0.0
    try:
        while True:
            try:
                status, payload = out.get(timeout=0.2)
                break
            except queues.Empty:
                pass
            seen = max(seen, _rss_mib(process.pid or 0))
            if seen > max_memory_mib:
                process.kill()
                return Run(
                    peak=seen,
                    failure=f"memory: over the {max_memory_mib / 1024:.0f} GiB limit after "
                    f"{time.monotonic() - began:.0f} s (killed)",
                )
            if time.monotonic() - began > timeout:
                process.kill()
                return Run(failure=f"timeout: not done after {timeout:.0f} s (killed)")
            if not process.is_alive():
                try:
                    status, payload = out.get(timeout=5)
                    break
                except queues.Empty:
                    code = process.exitcode
                    why = "memory: killed by the system" if code == -9 else f"exit code {code}"
                    return Run(peak=seen or None, failure=f"{why} (last seen {seen:,.0f} MiB)")
    finally:
        process.join(timeout=30)
        if process.is_alive():
            process.kill()
    if status != "ok":
        return Run(failure=f"{status}: {payload}")
    seconds, peak, frames, parts = payload
    return Run(seconds=seconds, peak=peak, frames=frames, parts=parts)


def best(runs: Sequence[Run]) -> Run:
    """The fastest run's time and parts, the highest peak of all; failed if any run failed."""
    failed = [r for r in runs if r.failure]
    if failed:
        return failed[0]
    fastest = min(runs, key=lambda r: r.seconds or 0.0)
    return Run(
        seconds=fastest.seconds,
        peak=max(r.peak or 0.0 for r in runs),
        frames=runs[0].frames,
        parts=fastest.parts,
    )


# --- the answers must be equal --------------------------------------------------------------------


def differences(expected: dict[str, pl.DataFrame], actual: dict[str, pl.DataFrame]) -> list[str]:
    """What differs between two engines' frames of one page (empty when all are equal)."""
    found = []
    if set(expected) != set(actual):
        found.append(f"frames {sorted(expected)} vs {sorted(actual)}")
    for name in sorted(set(expected) & set(actual)):
        try:
            assert_frame_equal(
                actual[name], expected[name], check_exact=False, rel_tol=RTOL, abs_tol=ATOL
            )
        except AssertionError as exc:
            found.append(f"{name}: {' '.join(str(exc).split())[:400]}")
    return found


def hidden_failures(frames: dict[str, pl.DataFrame]) -> list[str]:
    """KPIs the scorecard turned into "no data" because their computation raised."""
    out = []
    for name in ("scorecard", "year"):
        table = frames.get(name)
        if table is None:
            continue
        failing = table.filter(pl.col("reason").str.contains("could not be computed"))
        out += [
            f"{name}: {kpi}: {reason}" for kpi, reason in failing.select("kpi", "reason").rows()
        ]
    return out


# --- the table ------------------------------------------------------------------------------------


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"


def _ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or not theirs:
        return ""
    return f"{ours / theirs:.2f}x"


def label(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return f"{n:,}"


def table_rows(results: dict[tuple[int, str, str], Run], baseline: str | None) -> list[str]:
    rows = [
        "| events | page | engine | time | peak memory | time vs duckdb | memory vs duckdb |",
        "|---|---|---|---|---|---|---|",
    ]
    for (n, page, engine), run in results.items():
        base = results.get((n, page, baseline)) if baseline else None
        if run.failure:
            rows.append(f"| {label(n)} | {page} | {engine} | failed: {run.failure} | | | |")
            continue
        assert run.seconds is not None and run.peak is not None
        versus = base if base is not None and not base.failure and engine != baseline else None
        rows.append(
            f"| {label(n)} | {page} | {engine} | {_seconds(run.seconds)} | {run.peak:,.0f} MiB | "
            f"{_ratio(run.seconds, versus.seconds if versus else None)} | "
            f"{_ratio(run.peak, versus.peak if versus else None)} |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_pages", description=__doc__.splitlines()[0]
    )
    parser.add_argument("counts", nargs="+", help="numbers of events: 1M, 10M, 100M")
    parser.add_argument("--repeat", type=int, default=1, help="runs per page and engine (best)")
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(DEFAULT_ENGINES))
    parser.add_argument(
        "--pages", nargs="+", choices=PAGES + EXTRA_PAGES, default=list(PAGES),
        help="pages to measure (Open: opening the source, DuckDB's duplicate check included)",
    )  # fmt: skip
    parser.add_argument(
        "--parts", type=int, default=None, help="files per log (default: one per 10M events)"
    )
    parser.add_argument(
        "--max-memory", type=float, default=None,
        help="GiB a page may hold before it is killed (default: 20, at most 85%% of the RAM)",
    )  # fmt: skip
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    parser.add_argument("--detail", action="store_true", help="also print each call's time")
    args = parser.parse_args(argv)
    try:
        counts = [parse_count(text) for text in args.counts]
    except ValueError as exc:
        parser.error(str(exc))
    total_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    limit = args.max_memory * 1024 if args.max_memory else min(20 * 1024, 0.85 * total_mib)
    engines = list(dict.fromkeys(args.engines))
    baseline = "duckdb" if "duckdb" in engines else None
    load_before = _load()
    results: dict[tuple[int, str, str], Run] = {}
    notes: list[str] = []
    for n in counts:
        parts = args.parts or default_parts(n)
        began = time.perf_counter()
        folder = ensure_folder(n, parts)
        assignments = ensure_assignments(folder)
        files = sorted(folder.glob("*.parquet"))
        size = sum(p.stat().st_size for p in files) / 2**20
        print(
            f"{n:,} events: {folder} ({len(files)} files, {size:,.0f} MiB; ready in "
            f"{time.perf_counter() - began:.1f} s), assignments in {assignments.name}",
            flush=True,
        )
        events_glob, assignments_glob = str(folder / "*.parquet"), str(assignments / "*.parquet")
        for engine in (e for e in engines if e in STORED):
            seconds = ensure_stored(engine, events_glob, assignments_glob)
            store = stored_path(engine, events_glob)
            print(
                f"  {engine}: {store.name}"
                + (f" (built in {seconds:.0f} s, not timed)" if seconds else " (built before)"),
                flush=True,
            )
        for page in args.pages:
            runs: dict[str, list[Run]] = {engine: [] for engine in engines}
            for _ in range(args.repeat):
                for engine in engines:
                    run = measure(
                        engine, page, events_glob, assignments_glob,
                        max_memory_mib=limit, timeout=args.timeout,
                    )  # fmt: skip
                    runs[engine].append(run)
                    shown = run.failure or f"{run.seconds:.2f} s, {run.peak:,.0f} MiB"
                    print(f"  {label(n)} {page} {engine}: {shown} (load {_load()})", flush=True)
                    if run.failure:
                        break
            for engine in engines:
                results[(n, page, engine)] = best(runs[engine])
            answered = {
                e: results[(n, page, e)] for e in engines if not results[(n, page, e)].failure
            }
            reference = baseline if baseline in answered else next(iter(answered), None)
            for engine, run in answered.items():
                assert run.frames is not None
                for failure in hidden_failures(run.frames):
                    notes.append(f"{label(n)} {page} {engine}: {failure}")
                if engine == reference:
                    continue
                expected = answered[reference].frames
                assert expected is not None
                for diff in differences(expected, run.frames):
                    notes.append(f"{label(n)} {page}: {engine} differs from {reference}: {diff}")
    print()
    print(
        f"Each page's default view, best of {args.repeat} (time) in a fresh process; peak memory "
        f"is the process's (VmHWM), highest of the runs. Polars {pl.__version__}, DuckDB "
        f"{_duckdb_version()}, {os.cpu_count()} cores, {total_mib / 1024:.0f} GiB. Load average "
        f"(1, 5, 15 min): {load_before} before, {_load()} after."
    )
    print()
    print("\n".join(table_rows(results, baseline)))
    print()
    compared = [e for e in engines if e != baseline] if baseline else engines[1:]
    if notes:
        print("Differences and hidden failures (each is a bug to report):")
        print("\n".join(f"- {note}" for note in notes))
    elif len(engines) > 1:
        print(
            f"Every page's frames are equal on {', '.join(compared)} and "
            f"{baseline or engines[0]} (floats within {RTOL:g} relative)."
        )
    if args.detail:
        print()
        print("| events | page | engine | call | time |")
        print("|---|---|---|---|---|")
        for (n, page, engine), run in results.items():
            for name, seconds in run.parts:
                print(f"| {label(n)} | {page} | {engine} | {name} | {_seconds(seconds)} |")
    return 1 if notes else 0


def _duckdb_version() -> str:
    try:
        import duckdb

        return duckdb.__version__
    except ImportError:
        return "(not installed)"


if __name__ == "__main__":
    sys.exit(main())
