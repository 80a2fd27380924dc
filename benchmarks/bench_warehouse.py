"""Warehouse benchmark: each family pushed down to an engine, against hand-written SQL and Polars.

    python -m benchmarks.bench_warehouse                    # 1M events, DuckDB, chdb, PostgreSQL
    python -m benchmarks.bench_warehouse 10M --engines duckdb clickhouse
    python -m benchmarks.bench_warehouse 1M --repeat 1 --families funnel

The events (benchmarks/generate.py: string user ids, a session-opening ``app_open`` before the
other events of every session) are loaded once into each engine: a DuckDB table, a chdb MergeTree
table, a PostgreSQL table (a throwaway server, tests/connectors/pgserver.py; written with Polars'
``write_database(engine="adbc")``). Then, per family:

- **northstar**: the public metric function on ``connectors.warehouse.warehouse(connection,
  table="events")``: the statements Northstar compiles, run in the engine, the answer's rows
  fetched and finished (the relation itself is built once, outside the timing).
- **hand-written**: the SQL one would write for the same numbers on that engine, reading the
  table directly: ``COUNT(DISTINCT user_id)`` per week; distinct (user, day) pairs spread over
  the days of each window for DAU/WAU/MAU; distinct (user, week) self-joined for the retention
  triangle; for the funnel, each step's next occurrence found with a window function
  (``MIN(...) OVER (PARTITION BY user ORDER BY t ROWS BETWEEN CURRENT ROW AND UNBOUNDED
  FOLLOWING)``) and chained by equality joins, the furthest step of each user's best attempt in
  7 days. On chdb the funnel's reference is ``windowFunnel``, a rough one: its semantics differ
  (it follows the first matching chain per window and is not our attempt rule).
- **polars**: the same function on the Parquet file read into Polars, the read included (the
  "load the events and compute locally" path).

Times are wall seconds (``time.perf_counter``), best of ``--repeat`` runs, in this one process.
The ``same`` column says whether Northstar's frame equals the Polars frame (columns, dtypes,
counts equal, floats within 1e-9 relative). The machine is shared: the load average is printed
with the table. Families: weekly active users, DAU/WAU/MAU (``rolling_active_users``), weekly
retention (13 cohorts), the ordered 4-step funnel ``app_open -> view_item -> add_to_cart ->
purchase`` with a 7-day window. ``analyze`` is not measured here (no assignments in the log;
see bench_experiments.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
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

from benchmarks.generate import ensure, parse_count

ENGINES = ("duckdb", "clickhouse", "postgres")
FAMILIES = ("active users (week)", "DAU/WAU/MAU", "retention (week)", "funnel (4 steps)")

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


def northstar(family: str, events: Any) -> pl.DataFrame:
    from metrics import engagement, funnels, retention

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


def reference_sql(engine: str, family: str) -> str:
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
    """One engine with the events in table ``events``: a relation and a raw SQL runner."""

    name: str
    relation: Any

    def sql(self, query: str) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass


class DuckDB(Engine):
    name = "duckdb"

    def __init__(self, path: Path) -> None:
        import duckdb

        from connectors.warehouse import warehouse

        self.con = duckdb.connect()
        self.con.execute(f"CREATE TABLE events AS SELECT * FROM read_parquet('{path}')")
        self.relation = warehouse(self.con, table="events")

    def sql(self, query: str) -> Any:
        return self.con.sql(query).fetchall()

    def close(self) -> None:
        self.con.close()


class Chdb(Engine):
    name = "clickhouse"

    def __init__(self, path: Path) -> None:
        from chdb import session

        from connectors.warehouse import warehouse

        self.folder = Path(tempfile.mkdtemp(prefix="northstar-bench-chdb-"))
        self.session = session.Session(str(self.folder / "db"))
        self.session.query(
            "CREATE TABLE events ENGINE = MergeTree ORDER BY tuple() "
            f"AS SELECT * FROM file('{path}', Parquet)"
        )
        self.relation = warehouse(self.session, table="events")

    def sql(self, query: str) -> Any:
        return self.session.query(query, "ArrowTable")

    def close(self) -> None:
        self.session.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class Postgres(Engine):
    name = "postgres"

    def __init__(self, path: Path) -> None:
        import sqlalchemy as sa

        from connectors.warehouse import warehouse
        from tests.connectors.pgserver import start_server

        self.server = start_server()
        self.server.create_database("bench")
        pl.read_parquet(path).write_database(
            "events", self.server.url("bench", driver=""), engine="adbc"
        )
        self.engine = sa.create_engine(self.server.url("bench"))
        with self.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE events")
        self.relation = warehouse(self.engine, table="events")

    def sql(self, query: str) -> Any:
        with self.engine.connect() as conn:
            return conn.exec_driver_sql(query).fetchall()

    def close(self) -> None:
        self.engine.dispose()
        self.server.stop()


def _open(engine: str, path: Path) -> Engine:
    if engine == "duckdb":
        return DuckDB(path)
    if engine == "clickhouse":
        return Chdb(path)
    return Postgres(path)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sizes", nargs="*", default=["1M"])
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--families", nargs="+", default=None, help="substrings of family names")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    families = [f for f in FAMILIES if not args.families or any(s in f for s in args.families)]
    for size in args.sizes:
        n = parse_count(size)
        path = ensure(n)
        print(f"\n{n:,} events ({path.name}), best of {args.repeat}", flush=True)
        local: dict[str, tuple[float, pl.DataFrame]] = {}
        for family in families:
            local[family] = best_of(
                args.repeat,
                lambda family=family, path=path: northstar(family, pl.read_parquet(path)),
            )
            print(f"  polars {family}: {local[family][0]:.2f} s", flush=True)
        rows = []
        for name in args.engines:
            began = time.perf_counter()
            engine = _open(name, path)
            print(f"  {name}: loaded in {time.perf_counter() - began:.1f} s", flush=True)
            try:
                for family in families:
                    ours, answer = best_of(
                        args.repeat, lambda f=family, e=engine: northstar(f, e.relation)
                    )
                    query = reference_sql(name, family)
                    theirs, _ = best_of(args.repeat, lambda q=query, e=engine: e.sql(q))
                    row = (
                        name,
                        family,
                        ours,
                        theirs,
                        local[family][0],
                        same(answer, local[family][1]),
                    )
                    rows.append(row)
                    print(f"  {name} {family}: {ours:.2f} s vs {theirs:.2f} s", flush=True)
            finally:
                engine.close()
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"\n{n:,} events; load average (1, 5, 15 min) at the end: {load}\n")
        print(
            "| engine | family | Northstar SQL | hand-written SQL | ratio | local Polars | "
            "Northstar = Polars |"
        )
        print("|---|---|---|---|---|---|---|")
        for name, family, ours, theirs, polars_s, ok in rows:
            print(
                f"| {name} | {family} | {ours:.2f} s | {theirs:.2f} s | {ours / theirs:.2f}x | "
                f"{polars_s:.2f} s | {ok} |"
            )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
