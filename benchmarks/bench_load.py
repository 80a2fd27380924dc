"""Loading benchmark: the same events from Parquet, NDJSON, SQLite and PostgreSQL into Polars.

    python -m benchmarks.bench_load                   # 1M and 10M events
    python -m benchmarks.bench_load 1M --repeat 3
    python -m benchmarks.bench_load 10M --with-30m    # add 30M (generates it once: slow)
    python -m benchmarks.bench_load 1M --methods "postgresql adbc" "postgresql load_sql"

The events come from :func:`benchmarks.generate.ensure` (seeded Parquet). The script writes them
once as NDJSON and as a SQLite file next to it (``benchmarks/data/load/``, reused while newer than
the Parquet file) and, on every run, into a throwaway PostgreSQL server of its own (the tests'
``tests/connectors/pgserver.py``), through ADBC ingestion, with an index on ``timestamp``.

Each measurement runs in a fresh process (imports done before the clock starts): the time is the
load into a Polars DataFrame, the memory the process's peak resident set (a fresh interpreter with
Polars and the drivers imported holds about 150 MiB of it). For ``load_sql`` the table also shows
the part spent fetching (SQL, driver, Arrow to Polars; from the load report's note): the rest is
the canonicalisation every source shares (:func:`connectors.normalise.to_canonical`). PostgreSQL's
batches are canonicalised while the next ones arrive, so there the fetch figure is the time until
the last batch had arrived, and the rest is what needs every row (duplicate check, report). Methods:

- **raw** reads: everything as stored (``pl.read_parquet``, ``pl.read_ndjson``, ``SELECT *`` through
  ADBC, connectorx when installed, or SQLAlchemy's row fetch into ``pl.DataFrame``);
- **load_events** / **load_sql**: our connectors, i.e. the canonical frame of docs/data.md with its
load
  report (column detection, time parsing, drop counting), collected;
- **pushdown**: ``load_sql`` for one month (September 2026) of the six, canonical columns only (no
  properties): the date range and the columns go into the SQL.

Goal (issue 2, §9): ``postgresql load_sql`` within 1.2x of ``postgresql adbc``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import multiprocessing as mp
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks.generate import DATA_DIR, ensure, parse_count
from benchmarks.memory import peak_mib

LOAD_DIR = DATA_DIR / "load"
MONTH = (dt.date(2026, 9, 1), dt.date(2026, 9, 30))

Context = dict[str, str]
Loaded = pl.DataFrame | tuple[pl.DataFrame, float | None]


# -- the methods: each loads into a Polars DataFrame and returns it -------------------------------


def parquet_raw(ctx: Context) -> pl.DataFrame:
    return pl.read_parquet(ctx["parquet"])


def parquet_load_events(ctx: Context) -> pl.DataFrame:
    import connectors

    return connectors.load_events(ctx["parquet"])[0].collect()


def ndjson_raw(ctx: Context) -> pl.DataFrame:
    return pl.read_ndjson(ctx["ndjson"])


def ndjson_load_events(ctx: Context) -> pl.DataFrame:
    import connectors

    return connectors.load_events(ctx["ndjson"])[0].collect()


def sqlite_adbc(ctx: Context) -> pl.DataFrame:
    import adbc_driver_sqlite.dbapi as adbc_sqlite

    with adbc_sqlite.connect(f"file:{ctx['sqlite']}?mode=ro") as conn, conn.cursor() as cur:
        # One batch: the driver types columns from the first batch (revenue is mostly empty).
        cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(2**30)})
        cur.execute("SELECT * FROM events")
        return _frame(pl.from_arrow(cur.fetch_arrow_table()))


def sqlite_rows(ctx: Context) -> pl.DataFrame:
    return _sqlalchemy_rows(f"sqlite:///{ctx['sqlite']}")


def sqlite_load_sql(ctx: Context) -> Loaded:
    return _load_sql(f"sqlite:///{ctx['sqlite']}")


def sqlite_pushdown(ctx: Context) -> Loaded:
    return _load_sql(f"sqlite:///{ctx['sqlite']}", start=MONTH[0], end=MONTH[1], columns=[])


def postgresql_adbc(ctx: Context) -> pl.DataFrame:
    import adbc_driver_postgresql.dbapi as adbc_pg

    with adbc_pg.connect(ctx["pg_libpq"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM events")
        return _frame(pl.from_arrow(cur.fetch_arrow_table()))


def postgresql_connectorx(ctx: Context) -> pl.DataFrame:
    import connectorx

    return _frame(
        connectorx.read_sql(ctx["pg_libpq"], "SELECT * FROM events", return_type="polars")
    )


def postgresql_rows(ctx: Context) -> pl.DataFrame:
    return _sqlalchemy_rows(ctx["pg_url"])


def postgresql_load_sql(ctx: Context) -> Loaded:
    return _load_sql(ctx["pg_url"])


def postgresql_pushdown(ctx: Context) -> Loaded:
    return _load_sql(ctx["pg_url"], start=MONTH[0], end=MONTH[1], columns=[])


def _load_sql(url: str, **options: Any) -> Loaded:
    """The canonical frame, and the seconds of it spent in the database and the driver."""
    from connectors.sql import load_sql

    events, report = load_sql(url, table="events", **options)
    frame = events.collect()
    fetch = re.search(r"^Fetched .* in ([\d.]+) s", report.notes[-1])
    return frame, float(fetch.group(1)) if fetch else None


def _sqlalchemy_rows(url: str) -> pl.DataFrame:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        result = conn.execute(sa.text("SELECT * FROM events"))
        names = list(result.keys())
        rows = result.fetchall()
    engine.dispose()
    return pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)


def _frame(frame: pl.DataFrame | pl.Series) -> pl.DataFrame:
    assert isinstance(frame, pl.DataFrame)
    return frame


METHODS: dict[str, tuple[Callable[[Context], Loaded], tuple[str, ...]]] = {
    "parquet": (parquet_raw, ()),
    "parquet load_events": (parquet_load_events, ("connectors.files",)),
    "ndjson": (ndjson_raw, ()),
    "ndjson load_events": (ndjson_load_events, ("connectors.files",)),
    "sqlite adbc": (sqlite_adbc, ("adbc_driver_sqlite.dbapi",)),
    "sqlite sqlalchemy rows": (sqlite_rows, ("sqlalchemy",)),
    "sqlite load_sql": (sqlite_load_sql, ("connectors.sql", "adbc_driver_sqlite.dbapi")),
    "sqlite load_sql pushdown": (sqlite_pushdown, ("connectors.sql", "adbc_driver_sqlite.dbapi")),
    "postgresql adbc": (postgresql_adbc, ("adbc_driver_postgresql.dbapi",)),
    "postgresql connectorx": (postgresql_connectorx, ("connectorx",)),
    "postgresql sqlalchemy rows": (postgresql_rows, ("sqlalchemy", "psycopg")),
    "postgresql load_sql": (
        postgresql_load_sql,
        ("connectors.sql", "adbc_driver_postgresql.dbapi"),
    ),
    "postgresql load_sql pushdown": (
        postgresql_pushdown,
        ("connectors.sql", "adbc_driver_postgresql.dbapi"),
    ),
}


# -- measuring --------------------------------------------------------------------------------


def _child(method: str, ctx: Context, queue: Any) -> None:
    try:
        run, imports = METHODS[method]
        for module in ("polars", "pyarrow", *imports):
            importlib.import_module(module)
        began = time.perf_counter()
        loaded = run(ctx)
        seconds = time.perf_counter() - began
        frame, fetch = loaded if isinstance(loaded, tuple) else (loaded, None)
        queue.put((seconds, peak_mib(), frame.height, fetch))
    except BaseException as exc:  # the parent must hear about a failure, not wait forever
        queue.put(exc)
        raise


def measure(method: str, ctx: Context, repeat: int) -> tuple[float, float, int, float | None]:
    """Best of ``repeat`` fresh-process runs: time, peak memory (MiB), rows, SQL fetch time."""
    spawn = mp.get_context("spawn")
    runs = []
    for _ in range(repeat):
        queue = spawn.Queue()
        process = spawn.Process(target=_child, args=(method, ctx, queue))
        process.start()
        outcome = queue.get()
        process.join()
        if isinstance(outcome, BaseException):
            raise RuntimeError(f"{method} failed") from outcome
        runs.append(outcome)
    return min(runs, key=lambda run: run[0])


def available(method: str) -> bool:
    """Whether the method's driver is installed (connectorx is optional)."""
    try:
        for module in METHODS[method][1]:
            importlib.import_module(module)
    except ImportError:
        return False
    return True


# -- the data in every store ------------------------------------------------------------------


def _fresh(path: Path, source: Path) -> bool:
    return path.exists() and path.stat().st_mtime >= source.stat().st_mtime


def ndjson_file(parquet: Path) -> Path:
    path = LOAD_DIR / f"{parquet.stem}.ndjson"
    if not _fresh(path, parquet):
        LOAD_DIR.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        pl.scan_parquet(parquet).sink_ndjson(partial)
        partial.replace(path)
    return path


def sqlite_file(parquet: Path) -> Path:
    import adbc_driver_sqlite.dbapi as adbc_sqlite
    import pyarrow.parquet as pq

    path = LOAD_DIR / f"{parquet.stem}.sqlite"
    if not _fresh(path, parquet):
        LOAD_DIR.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        batches = pq.ParquetFile(parquet).iter_batches(batch_size=500_000)
        with adbc_sqlite.connect(str(partial)) as conn:
            with conn.cursor() as cur:
                # ADBC writes the UTC timestamps as ISO text without a zone (read back in UTC).
                cur.adbc_ingest("events", _reader(parquet, batches), mode="create")
                cur.execute('CREATE INDEX events_timestamp ON events ("timestamp")')
            conn.commit()
        partial.replace(path)
    return path


def _reader(parquet: Path, batches: Iterator[Any]) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pa.RecordBatchReader.from_batches(pq.read_schema(parquet), batches)


@contextlib.contextmanager
def postgresql(parquet: Path) -> Iterator[Context]:
    """A throwaway server holding the events (timestamptz, indexed, vacuumed): its URLs."""
    import adbc_driver_postgresql.dbapi as adbc_pg
    import pyarrow.parquet as pq

    from tests.connectors.pgserver import start_server

    server = start_server()
    try:
        server.create_database("analytics")
        libpq = server.url("analytics", driver="")
        batches = pq.ParquetFile(parquet).iter_batches(batch_size=500_000)
        with adbc_pg.connect(libpq) as conn:
            with conn.cursor() as cur:
                cur.adbc_ingest("events", _reader(parquet, batches), mode="create")
                cur.execute('CREATE INDEX events_timestamp ON events ("timestamp")')
            conn.commit()
        # Sets hint bits and the visibility map now, so no read pays for them.
        server.psql("VACUUM ANALYZE events", "analytics")
        yield {"pg_url": server.url("analytics"), "pg_libpq": libpq}
    finally:
        server.stop()


def expected_rows(parquet: Path) -> tuple[int, int]:
    """Rows in the file, and rows in :data:`MONTH` (UTC days), to check every method's count."""
    lo = dt.datetime.combine(MONTH[0], dt.time(), dt.UTC)
    hi = dt.datetime.combine(MONTH[1] + dt.timedelta(days=1), dt.time(), dt.UTC)
    counts = (
        pl.scan_parquet(parquet)
        .select(
            pl.len().alias("all"),
            pl.col("timestamp").is_between(lo, hi, closed="left").sum().alias("month"),
        )
        .collect()
    )
    return counts["all"].item(), counts["month"].item()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_load", description=__doc__.splitlines()[0]
    )
    parser.add_argument("counts", nargs="*", default=["1M", "10M"], help="event counts")
    parser.add_argument("--with-30m", action="store_true", help="also run 30M events")
    parser.add_argument("--repeat", type=int, default=1, help="runs per method; the best counts")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    args = parser.parse_args(argv)
    counts = [parse_count(text) for text in args.counts] + ([30_000_000] if args.with_30m else [])
    methods = [m for m in args.methods if available(m)]
    missing = [m for m in args.methods if m not in methods]

    print(f"load into a Polars DataFrame; best of {args.repeat} run(s), each in a fresh process")
    print(f"pushdown: {MONTH[0]}..{MONTH[1]} of 2026-05-01..2026-10-31, no property columns")
    if missing:
        print(f"not installed, skipped: {', '.join(missing)}")
    print()
    print(
        "| events | method | rows | time | of which SQL fetch | peak memory "
        "| time vs postgresql adbc |"
    )
    print("|---|---|---|---|---|---|---|")
    for n in counts:
        parquet = ensure(n)
        total, month = expected_rows(parquet)
        ctx: Context = {"parquet": str(parquet)}
        if any(m.startswith("ndjson") for m in methods):
            ctx["ndjson"] = str(ndjson_file(parquet))
        if any(m.startswith("sqlite") for m in methods):
            ctx["sqlite"] = str(sqlite_file(parquet))
        with contextlib.ExitStack() as stack:
            if any(m.startswith("postgresql") for m in methods):
                ctx.update(stack.enter_context(postgresql(parquet)))
            results = {m: measure(m, ctx, args.repeat) for m in methods}
        for method, (_, _, rows, _) in results.items():
            want = month if method.endswith("pushdown") else total
            if rows != want:
                print(f"{method} loaded {rows:,} rows of {n:,}; expected {want:,}", file=sys.stderr)
                return 1
        base = results.get("postgresql adbc")
        for method, (seconds, peak, rows, fetch) in results.items():
            ratio = f"{seconds / base[0]:.2f}" if base else "-"
            fetched = "" if fetch is None else f"{fetch:.2f} s"
            print(
                f"| {n:,} | {method} | {rows:,} | {seconds:.2f} s | {fetched} | {peak:,.0f} MiB "
                f"| {ratio} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
