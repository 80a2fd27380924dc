"""Warehouse benchmark: each family pushed down to an engine, against hand-written SQL and Polars.

    python -m benchmarks.bench_warehouse                    # 1M events, DuckDB, chdb, PostgreSQL
    python -m benchmarks.bench_warehouse 10M --engines duckdb clickhouse
    python -m benchmarks.bench_warehouse 1M --repeat 1 --families funnel

The events (benchmarks/generate.py: string user ids, a session-opening ``app_open`` before the
other events of every session) are loaded once into each engine: a DuckDB table, a chdb MergeTree
table, a PostgreSQL table (a throwaway server, tests/connectors/pgserver.py; written with Polars'
``write_database(engine="adbc")``). With the experiment family, the assignments of
bench_experiments.py (every user of the log and ~3x as many never seen again, 50/50, 0.5% exposed
to both variants) are loaded beside them the same way, as table ``assignments``. Then, per family:

- **northstar**: the public metric function on ``connectors.warehouse.warehouse(connection,
  table="events")`` (and, for ``analyze``, a second relation ``warehouse(connection,
  table="assignments")`` on the same connection): the statements Northstar compiles, run in the
  engine, the answer's rows fetched and finished (the relations are built once, outside the
  timing).
- **hand-written**: the SQL one would write for the same numbers on that engine, reading the
  table directly: ``COUNT(DISTINCT user_id)`` per week; distinct (user, day) pairs spread over
  the days of each window for DAU/WAU/MAU; distinct (user, week) self-joined for the retention
  triangle (on chdb ClickHouse's own way instead: each user's weeks as an array expanded with
  ``arrayJoin``, one read, as in bench_retention.py); for the funnel, each step's next
  occurrence found with a window function
  (``MIN(...) OVER (PARTITION BY user ORDER BY t ROWS BETWEEN CURRENT ROW AND UNBOUNDED
  FOLLOWING)``) and chained by equality joins, the furthest step of each user's best attempt in
  7 days. On chdb the funnel's reference is ``windowFunnel``, a rough one: its semantics differ
  (it follows the first matching chain per window and is not our attempt rule). For ``analyze``,
  bench_experiments.py's query on the tables (GrowthBook style: clean assignments, per-user
  conditional sums after exposure and over the 14 days before it, then per-variant sums; its
  DuckDB query, its ClickHouse query, a PostgreSQL translation): the per-variant sums only, not
  the comparisons computed from them.
- **fetched into Polars**: every row of the engine's tables fetched into Polars (DuckDB's and
  chdb's Arrow results, PostgreSQL through ADBC), then the same function: what computing locally
  costs when the events live in that engine (issue 11: pushing down must beat it).
- **Parquet into Polars**: the same function on the Parquet file(s) read into Polars, the read
  included (the fastest way to compute locally, when the events are files).

Times are wall seconds (``time.perf_counter``), best of ``--repeat`` runs, in this one process.
The ``same`` column says whether Northstar's frame equals the Polars frame (columns, dtypes,
counts equal, floats within 1e-9 relative). The machine is shared: the load average is printed
with the table. Families: weekly active users, DAU/WAU/MAU (``rolling_active_users``), weekly
retention (13 cohorts), the ordered 4-step funnel ``app_open -> view_item -> add_to_cart ->
purchase`` with a 7-day window, and an experiment read-out: ``metrics.experiments.analyze`` with
bench_experiments.py's four metrics (conversion, revenue per user, page views, order value),
CUPED over 14 days.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
from polars.testing import assert_frame_equal

from benchmarks import bench_experiments
from benchmarks.generate import ensure, parse_count

ENGINES = ("duckdb", "clickhouse", "postgres")
FAMILIES = (
    "active users (week)",
    "DAU/WAU/MAU",
    "retention (week)",
    "funnel (4 steps)",
    "experiment (analyze)",
)

DAY_US = 86_400 * 1_000_000
AU_START, AU_END = dt.date(2026, 5, 4), dt.date(2026, 10, 25)  # Monday .. Sunday: 25 weeks
RA_START, RA_END = dt.date(2026, 5, 1), dt.date(2026, 10, 31)
WINDOWS = (1, 7, 30)
RT_START, RT_END = dt.date(2026, 7, 27), dt.date(2026, 10, 25)  # 13 whole Monday weeks
STEPS = ("app_open", "view_item", "add_to_cart", "purchase")
WINDOW = dt.timedelta(days=7)
WINDOW_US = WINDOW // dt.timedelta(microseconds=1)


def _day(value: dt.date) -> int:
    return (value - dt.date(1970, 1, 1)).days


# --- the public calls (the same for a relation and a Polars frame) -----------------------------


def northstar(family: str, events: Any, assignments: Any = None) -> pl.DataFrame:
    from metrics import engagement, experiments, funnels, retention

    if family == FAMILIES[4]:
        # bench_experiments.run_polars's call
        return experiments.analyze(
            events,
            assignments,
            experiment=bench_experiments.EXPERIMENT,
            metrics=bench_experiments.metrics(),
            control="control",
            cuped=True,
            pre_period=14,
        )
    if family == FAMILIES[0]:
        return engagement.active_users(events, start=AU_START, end=AU_END, interval="week")
    if family == FAMILIES[1]:
        return engagement.rolling_active_users(events, start=RA_START, end=RA_END, windows=WINDOWS)
    if family == FAMILIES[2]:
        return retention.retention(events, start=RT_START, end=RT_END, interval="week")
    return funnels.funnel(events, list(STEPS), window=WINDOW)


# --- hand-written SQL, per engine --------------------------------------------------------------


def _day_expr(engine: str) -> str:
    """Day number (days since 1970-01-01 UTC) of the ``timestamp`` column."""
    if engine == "duckdb":
        return 'epoch_us("timestamp") // 86400000000'
    if engine == "clickhouse":
        return "intDiv(toUnixTimestamp64Micro(timestamp), 86400000000)"
    return 'FLOOR(EXTRACT(EPOCH FROM "timestamp") / 86400)::BIGINT'


def _us_expr(engine: str) -> str:
    if engine == "duckdb":
        return 'epoch_us("timestamp")'
    if engine == "clickhouse":
        return "toUnixTimestamp64Micro(timestamp)"
    return '(EXTRACT(EPOCH FROM "timestamp") * 1000000)::BIGINT'


def _range(engine: str, lo_day: int, hi_day: int) -> str:
    """WHERE clause: lo_day <= day < hi_day, on the raw column (so indexes/pruning could apply)."""
    us = _us_expr(engine)
    return f"{us} >= {lo_day * DAY_US} AND {us} < {hi_day * DAY_US}"


def _swap(text: str, pairs: dict[str, str]) -> str:
    for old, new in pairs.items():
        if old not in text:
            raise ValueError(f"bench_experiments' query no longer holds {old!r}")
        text = text.replace(old, new)
    return text


#: bench_experiments.DUCKDB_SQL in PostgreSQL 15 (no ``any_value``: the variant is the user's
#: only one, so ``min`` is it; the interval spelled out; ``"timestamp"`` quoted).
POSTGRES_SQL = (
    """
WITH a AS (
    SELECT user_id, min("timestamp") AS exposure, min(variant) AS variant
    FROM assignments
    WHERE experiment = '{experiment}'
    GROUP BY user_id
    HAVING count(DISTINCT variant) = 1
),
e AS (
    SELECT e.user_id, e.event, e."timestamp" AS ts, e.revenue, a.exposure
    FROM events e JOIN a USING (user_id)
    WHERE e.event IN ('purchase', 'page_view')
),
u AS (
    SELECT
        user_id,
        max(CASE WHEN event = 'purchase' AND ts >= exposure THEN 1 ELSE 0 END) AS conv,
        max(CASE WHEN event = 'purchase' AND ts < exposure
                  AND ts >= exposure - INTERVAL '14 days' THEN 1 ELSE 0 END) AS conv_pre,
        sum(CASE WHEN event = 'purchase' AND ts >= exposure
                 THEN coalesce(revenue, 0) ELSE 0 END) AS rev,
        sum(CASE WHEN event = 'purchase' AND ts < exposure
                  AND ts >= exposure - INTERVAL '14 days'
                 THEN coalesce(revenue, 0) ELSE 0 END) AS rev_pre,
        sum(CASE WHEN event = 'purchase' AND ts >= exposure THEN 1 ELSE 0 END) AS buys,
        sum(CASE WHEN event = 'page_view' AND ts >= exposure THEN 1 ELSE 0 END) AS views,
        sum(CASE WHEN event = 'page_view' AND ts < exposure
                  AND ts >= exposure - INTERVAL '14 days' THEN 1 ELSE 0 END) AS views_pre
    FROM e GROUP BY user_id
),
"""
    + bench_experiments.PER_VARIANT_SQL
)


def experiment_sql(engine: str) -> str:
    """bench_experiments' per-variant sums, reading the tables ``events`` and ``assignments``."""
    experiment = bench_experiments.EXPERIMENT
    if engine == "duckdb":
        return _swap(
            bench_experiments.DUCKDB_SQL,
            {
                "read_parquet($assignments)": "assignments",
                "read_parquet($events)": "events",
                "$experiment": f"'{experiment}'",
            },
        )
    if engine == "clickhouse":
        return _swap(
            bench_experiments.CLICKHOUSE_SQL,
            {
                "file('{assignments}', Parquet)": "assignments",
                "file('{events}', Parquet)": "events",
                "'{experiment}'": f"'{experiment}'",
            },
        )
    return POSTGRES_SQL.format(experiment=experiment)


def reference_sql(engine: str, family: str) -> str:
    if family == FAMILIES[4]:
        return experiment_sql(engine)
    day = _day_expr(engine)
    if family == FAMILIES[0]:
        # 1970-01-05 (day 4) was a Monday: week number = (day - 4) // 7, days here are positive.
        week = f"({day} - 4) / 7" if engine != "clickhouse" else f"intDiv({day} - 4, 7)"
        if engine == "duckdb":
            week = f"({day} - 4) // 7"
        return (
            f"SELECT {week} AS week, COUNT(DISTINCT user_id) AS users FROM events "
            f"WHERE {_range(engine, _day(AU_START), _day(AU_END) + 1)} GROUP BY 1"
        )
    if family == FAMILIES[1]:
        pairs = [(n, k) for n in WINDOWS for k in range(n)]
        if engine == "clickhouse":
            offsets = (
                "(SELECT p.1 AS n, p.2 AS k FROM (SELECT arrayJoin(["
                + ", ".join(f"({n}, {k})" for n, k in pairs)
                + "]) AS p)) AS o"
            )
        else:
            offsets = "(VALUES " + ", ".join(f"({n}, {k})" for n, k in pairs) + ") AS o(n, k)"
        lo, hi = _day(RA_START) - max(WINDOWS) + 1, _day(RA_END) + 1
        return f"""
            WITH pairs AS (
                SELECT DISTINCT user_id, {day} AS day FROM events WHERE {_range(engine, lo, hi)}
            )
            SELECT n, day + k AS d, COUNT(DISTINCT user_id) AS users
            FROM pairs CROSS JOIN {offsets}
            WHERE day + k BETWEEN {_day(RA_START)} AND {_day(RA_END)}
            GROUP BY n, day + k
        """
    if family == FAMILIES[2] and engine == "clickhouse":
        # ClickHouse's own way (as bench_retention.py): each user's distinct weeks as an array,
        # every later-or-equal week of the same user a return; one read, no self-join.
        lo = _day(RT_START)
        return f"""
            SELECT cohort, k AS period, count() AS retained
            FROM (
                SELECT arrayJoin(weeks) AS cohort,
                       arrayJoin(arrayMap(w -> w - cohort, arrayFilter(w -> w >= cohort, weeks)))
                           AS k
                FROM (
                    SELECT groupUniqArray(intDiv({day} - {lo}, 7)) AS weeks FROM events
                    WHERE {_range(engine, lo, _day(RT_END) + 1)} GROUP BY user_id
                )
            )
            GROUP BY cohort, k
        """
    if family == FAMILIES[2]:
        lo = _day(RT_START)
        week = f"intDiv({day} - {lo}, 7)" if engine == "clickhouse" else f"({day} - {lo}) / 7"
        if engine == "duckdb":
            week = f"({day} - {lo}) // 7"
        return f"""
            WITH active AS (
                SELECT DISTINCT user_id, {week} AS week FROM events
                WHERE {_range(engine, lo, _day(RT_END) + 1)}
            )
            SELECT a.week AS cohort, b.week - a.week AS period, COUNT(*) AS retained
            FROM active a JOIN active b ON a.user_id = b.user_id AND b.week >= a.week
            GROUP BY a.week, b.week - a.week
        """
    names = ", ".join(f"'{name}'" for name in STEPS)
    if engine == "clickhouse":
        conditions = ", ".join(f"event = '{name}'" for name in STEPS)
        return f"""
            SELECT level, COUNT(*) AS users FROM (
                SELECT user_id, windowFunnel({WINDOW_US})(
                    toUInt64(toUnixTimestamp64Micro(timestamp)), {conditions}) AS level
                FROM events WHERE event IN ({names}) GROUP BY user_id
            ) WHERE level > 0 GROUP BY level
        """
    nxt = ",\n".join(
        f"MIN(CASE WHEN event = '{name}' THEN t END) OVER (PARTITION BY user_id ORDER BY t "
        f"ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS n{k}"
        for k, name in enumerate(STEPS[1:], start=2)
    )
    level = " + ".join(
        ["1"]
        + [
            f"CASE WHEN t{k} IS NOT NULL AND t{k} - c.t <= {WINDOW_US} THEN 1 ELSE 0 END"
            for k in range(2, 5)
        ]
    )
    return f"""
        WITH e AS (
            SELECT user_id, event, t, {nxt}
            FROM (SELECT user_id, event, {_us_expr(engine)} AS t FROM events
                  WHERE event IN ({names})) x
        ),
        a AS (SELECT user_id, t, n2 AS t2 FROM e WHERE event = '{STEPS[0]}'),
        b AS (SELECT a.*, v.n3 AS t3 FROM a LEFT JOIN e v
              ON v.user_id = a.user_id AND v.t = a.t2 AND v.event = '{STEPS[1]}'),
        c AS (SELECT b.*, w.n4 AS t4 FROM b LEFT JOIN e w
              ON w.user_id = b.user_id AND w.t = b.t3 AND w.event = '{STEPS[2]}'),
        best AS (SELECT c.user_id, MAX({level}) AS level FROM c
                 GROUP BY c.user_id)
        SELECT level, COUNT(*) AS users FROM best GROUP BY level
    """


# --- engines -----------------------------------------------------------------------------------


class Engine:
    """One engine with the events in table ``events`` (and the assignments, when given, in table
    ``assignments``): a relation on each and a raw SQL runner."""

    name: str
    relation: Any
    assignments: Any = None

    def sql(self, query: str) -> Any:
        raise NotImplementedError

    def table(self, name: str) -> pl.DataFrame:
        """Every row of table ``name``, fetched into Polars as the engine hands it out."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class DuckDB(Engine):
    name = "duckdb"

    def __init__(self, path: Path, assignments: Path | None) -> None:
        import duckdb

        from connectors.warehouse import warehouse

        self.con = duckdb.connect()
        self.con.execute(f"CREATE TABLE events AS SELECT * FROM read_parquet('{path}')")
        self.relation = warehouse(self.con, table="events")
        if assignments is not None:
            self.con.execute(
                f"CREATE TABLE assignments AS SELECT * FROM read_parquet('{assignments}')"
            )
            self.assignments = warehouse(self.con, table="assignments")

    def sql(self, query: str) -> Any:
        return self.con.sql(query).fetchall()

    def table(self, name: str) -> pl.DataFrame:
        return self.con.sql(f"SELECT * FROM {name}").pl()

    def close(self) -> None:
        self.con.close()


class Chdb(Engine):
    name = "clickhouse"

    def __init__(self, path: Path, assignments: Path | None) -> None:
        from chdb import session

        from connectors.warehouse import warehouse

        self.folder = Path(tempfile.mkdtemp(prefix="northstar-bench-chdb-"))
        self.session = session.Session(str(self.folder / "db"))
        tables = (
            {"events": path}
            if assignments is None
            else {"events": path, "assignments": assignments}
        )
        for table, source in tables.items():
            self.session.query(
                f"CREATE TABLE {table} ENGINE = MergeTree ORDER BY tuple() "
                f"AS SELECT * FROM file('{source}', Parquet)"
            )
        self.relation = warehouse(self.session, table="events")
        if assignments is not None:
            self.assignments = warehouse(self.session, table="assignments")

    def sql(self, query: str) -> Any:
        return self.session.query(query, "ArrowTable")

    def table(self, name: str) -> pl.DataFrame:
        return pl.from_arrow(self.sql(f"SELECT * FROM {name}"))  # type: ignore[return-value]

    def close(self) -> None:
        self.session.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class Postgres(Engine):
    name = "postgres"

    def __init__(self, path: Path, assignments: Path | None) -> None:
        import sqlalchemy as sa

        from connectors.warehouse import warehouse
        from tests.connectors.pgserver import start_server

        self.server = start_server()
        self.server.create_database("bench")
        tables = (
            {"events": path}
            if assignments is None
            else {"events": path, "assignments": assignments}
        )
        for table, source in tables.items():
            pl.read_parquet(source).write_database(
                table, self.server.url("bench", driver=""), engine="adbc"
            )
        self.engine = sa.create_engine(self.server.url("bench"))
        with self.engine.begin() as conn:
            for table in tables:
                conn.exec_driver_sql(f"ANALYZE {table}")
        self.relation = warehouse(self.engine, table="events")
        if assignments is not None:
            self.assignments = warehouse(self.engine, table="assignments")

    def sql(self, query: str) -> Any:
        with self.engine.connect() as conn:
            return conn.exec_driver_sql(query).fetchall()

    def table(self, name: str) -> pl.DataFrame:
        url = self.server.url("bench", driver="")
        return pl.read_database_uri(f"SELECT * FROM {name}", url, engine="adbc")

    def close(self) -> None:
        self.engine.dispose()
        self.server.stop()


def _open(engine: str, path: Path, assignments: Path | None) -> Engine:
    if engine == "duckdb":
        return DuckDB(path, assignments)
    if engine == "clickhouse":
        return Chdb(path, assignments)
    return Postgres(path, assignments)


# --- measuring ---------------------------------------------------------------------------------


def best_of(repeat: int, job: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        began = time.perf_counter()
        result = job()
        best = min(best, time.perf_counter() - began)
    return best, result


def same(a: pl.DataFrame, b: pl.DataFrame) -> str:
    try:
        assert_frame_equal(a, b, check_exact=False, rel_tol=1e-9, abs_tol=0)
    except AssertionError as exc:
        return "NO: " + str(exc).splitlines()[0][:60]
    return "yes"


def fetched(family: str, engine: Engine) -> pl.DataFrame:
    """The events (and assignments) fetched out of the engine into Polars, then the same call:
    what computing locally costs when the events live in that engine."""
    if family == FAMILIES[4]:
        return northstar(family, engine.table("events"), engine.table("assignments"))
    return northstar(family, engine.table("events"))


def local(family: str, path: Path, assignments: Path | None) -> pl.DataFrame:
    """The Polars path: the Parquet file(s) read, then the same call."""
    if family == FAMILIES[4]:
        return northstar(family, pl.read_parquet(path), pl.read_parquet(assignments))
    return northstar(family, pl.read_parquet(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sizes", nargs="*", default=["1M"])
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--families", nargs="+", default=None, help="substrings of family names")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    families = [f for f in FAMILIES if not args.families or any(s in f for s in args.families)]
    # The metric modules, imported before any clock starts (about a second, not what is measured:
    # with --repeat 1 it used to land in the first family's Polars time).
    for module in ("engagement", "experiments", "funnels", "retention"):
        importlib.import_module(f"metrics.{module}")
    for size in args.sizes:
        n = parse_count(size)
        path = ensure(n)
        assignments = None
        print(f"\n{n:,} events ({path.name}), best of {args.repeat}", flush=True)
        if FAMILIES[4] in families:
            assignments = bench_experiments.assignments_path(path, None)
            rows_assigned = pl.scan_parquet(assignments).select(pl.len()).collect().item()
            print(f"  assignments: {rows_assigned:,} rows ({assignments.name})", flush=True)
        polars: dict[str, tuple[float, pl.DataFrame]] = {}
        for family in families:
            polars[family] = best_of(
                args.repeat, lambda f=family, p=path, a=assignments: local(f, p, a)
            )
            print(f"  polars {family}: {polars[family][0]:.2f} s", flush=True)
        rows = []
        for name in args.engines:
            began = time.perf_counter()
            engine = _open(name, path, assignments)
            print(f"  {name}: loaded in {time.perf_counter() - began:.1f} s", flush=True)
            try:
                for family in families:
                    ours, answer = best_of(
                        args.repeat,
                        lambda f=family, e=engine: northstar(f, e.relation, e.assignments),
                    )
                    query = reference_sql(name, family)
                    theirs, _ = best_of(args.repeat, lambda q=query, e=engine: e.sql(q))
                    moved, _ = best_of(args.repeat, lambda f=family, e=engine: fetched(f, e))
                    row = (
                        name,
                        family,
                        ours,
                        theirs,
                        moved,
                        polars[family][0],
                        same(answer, polars[family][1]),
                    )
                    rows.append(row)
                    print(f"  {name} {family}: {ours:.2f} s vs {theirs:.2f} s", flush=True)
            finally:
                engine.close()
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"\n{n:,} events; load average (1, 5, 15 min) at the end: {load}\n")
        print(
            "| engine | family | Northstar SQL | hand-written SQL | ratio | fetched into "
            "Polars | Parquet into Polars | Northstar = Polars |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for name, family, ours, theirs, moved, polars_s, ok in rows:
            print(
                f"| {name} | {family} | {ours:.2f} s | {theirs:.2f} s | {ours / theirs:.2f}x | "
                f"{moved:.2f} s | {polars_s:.2f} s | {ok} |"
            )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
