"""Engagement benchmark: DAU/WAU/MAU, Polars vs DuckDB vs ClickHouse vs pandas on one Parquet log.

    python -m benchmarks.bench_engagement                  # 1M and 10M events
    python -m benchmarks.bench_engagement 10M --with-30m   # add 30M (generates it once: slow)
    python -m benchmarks.bench_engagement 1M --repeat 1 --engines polars duckdb

The computation is the Engagement page's first chart: for every day of the log (2026-05-01 ..
2026-10-31, UTC, 184 days), the distinct users active that day (DAU), in the 7 days ending that
day (WAU) and in the 30 days ending that day (MAU), any event: 552 numbers.

Each measurement runs in a fresh process, reading the Parquet file included, so the time and the
peak memory (the process's maximum resident set) are the whole job's. The best of ``--repeat``
runs is shown. Engines:

- **polars**: :func:`metrics.engagement.rolling_active_users` on ``pl.scan_parquet``: distinct
  (user, day) pairs, sorted once; each pair covers ``[day, day + min(N, gap to the user's next
  day) - 1]`` (the interval-union trick: one user's pieces never overlap), and a running sum of
  +1/-1 over days gives every window at once.
- **polars naive**: the straightforward Polars version: distinct (user, day), each pair copied
  onto the N days whose window holds it, distinct users per (window, day).
- **duckdb union**: the interval-union trick as one SQL query (``lead`` over the user's days).
- **duckdb range join**: the obvious SQL: days joined to the pairs in ``[d - N + 1, d]``,
  ``count(DISTINCT user_id)``.
- **clickhouse**: the interval-union query of **duckdb union** in ClickHouse SQL, through chdb
  (ClickHouse in-process) over the file: distinct (user, day) pairs, ``lead`` over the user's
  days, the +1/-1 edges of every piece and a running ``sum`` over the days.
- **pandas**: the interval-union trick with pandas and numpy on a pyarrow-read frame.

All engines must produce the same 552 numbers; the script checks that before printing the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import sys
import time
from pathlib import Path

import polars as pl

from benchmarks.generate import ensure, parse_count
from benchmarks.memory import peak_mib

START = dt.date(2026, 5, 1)
END = dt.date(2026, 10, 31)
WINDOWS = (1, 7, 30)
LO = dt.datetime.combine(START - dt.timedelta(days=max(WINDOWS) - 1), dt.time(), dt.UTC)
HI = dt.datetime.combine(END + dt.timedelta(days=1), dt.time(), dt.UTC)
LO_US = int(LO.timestamp()) * 1_000_000
HI_US = int(HI.timestamp()) * 1_000_000
DAY_US = 86_400 * 1_000_000
EPOCH = dt.date(1970, 1, 1)
START_DAY = (START - EPOCH).days
END_DAY = (END - EPOCH).days

ENGINES = ("polars", "polars naive", "duckdb union", "duckdb range join", "clickhouse", "pandas")
BASELINE = "duckdb union"
CLICKHOUSE = "clickhouse"
#: Quadratic-ish engines, skipped on the biggest logs unless asked for.
SLOW = ("polars naive", "duckdb range join")


def run_polars(path: str) -> pl.DataFrame:
    from metrics.engagement import rolling_active_users

    table = rolling_active_users(pl.scan_parquet(path), start=START, end=END, windows=WINDOWS)
    return table.select(
        (pl.col("period_start").cast(pl.Int32)).alias("day"),
        pl.col("window_days").alias("window"),
        pl.col("active_users").alias("users"),
    )


def run_polars_naive(path: str) -> pl.DataFrame:
    ts = pl.col("timestamp").dt.epoch("us")
    pairs = (
        pl.scan_parquet(path)
        .filter(ts >= LO_US, ts < HI_US)
        .select("user_id", (ts // DAY_US).cast(pl.Int32).alias("active"))
        .unique()
    )
    parts = []
    for n in WINDOWS:
        # A pair counts on each of the n days whose window holds its day.
        parts.append(
            pairs.with_columns(
                day=pl.int_ranges(pl.col("active"), pl.col("active") + n, dtype=pl.Int32),
                window=pl.lit(n, pl.Int64),
            )
            .explode("day")
            .filter(pl.col("day").is_between(START_DAY, END_DAY))
            .group_by("window", "day")
            .agg(pl.col("user_id").n_unique().alias("users"))
        )
    return pl.concat(parts).collect()


def run_duckdb_union(path: str) -> pl.DataFrame:
    import duckdb

    windows = ", ".join(f"({n})" for n in WINDOWS)
    query = f"""
        WITH pairs AS (
            SELECT DISTINCT user_id, epoch_us("timestamp") // {DAY_US} AS day
            FROM read_parquet(?)
            WHERE epoch_us("timestamp") >= {LO_US} AND epoch_us("timestamp") < {HI_US}
        ),
        pieces AS (
            SELECT day, lead(day) OVER (PARTITION BY user_id ORDER BY day) - day AS gap FROM pairs
        ),
        windows(n) AS (VALUES {windows}),
        deltas AS (
            SELECT n, day, count(*) AS delta FROM pieces, windows GROUP BY ALL
            UNION ALL
            SELECT n, day + least(coalesce(gap, n), n) AS day, -count(*) AS delta
            FROM pieces, windows GROUP BY ALL
        ),
        per_day AS (SELECT n, day, sum(delta) AS delta FROM deltas GROUP BY ALL),
        grid AS (
            SELECT n, range AS day
            FROM windows, range({(LO.date() - EPOCH).days}, {END_DAY + 1})
        ),
        series AS (
            SELECT grid.n, grid.day,
                   sum(coalesce(per_day.delta, 0)) OVER (PARTITION BY grid.n ORDER BY grid.day)
                       AS users
            FROM grid LEFT JOIN per_day USING (n, day)
        )
        SELECT day, n AS "window", users FROM series WHERE day >= {START_DAY}
    """
    with duckdb.connect() as con:
        return pl.from_arrow(con.sql(query, params=[path]).to_arrow_table())  # type: ignore[return-value]


def run_duckdb_range_join(path: str) -> pl.DataFrame:
    import duckdb

    windows = ", ".join(f"({n})" for n in WINDOWS)
    query = f"""
        WITH pairs AS (
            SELECT DISTINCT user_id, epoch_us("timestamp") // {DAY_US} AS day
            FROM read_parquet(?)
            WHERE epoch_us("timestamp") >= {LO_US} AND epoch_us("timestamp") < {HI_US}
        ),
        windows(n) AS (VALUES {windows}),
        days AS (SELECT range AS d FROM range({START_DAY}, {END_DAY + 1}))
        SELECT d AS day, n AS "window", count(DISTINCT user_id) AS users
        FROM days, windows JOIN pairs ON pairs.day BETWEEN d - n + 1 AND d
        GROUP BY ALL
    """
    with duckdb.connect() as con:
        return pl.from_arrow(con.sql(query, params=[path]).to_arrow_table())  # type: ignore[return-value]


def run_clickhouse(path: str) -> pl.DataFrame:
    import chdb

    windows = ", ".join(str(n) for n in WINDOWS)
    us = "toUnixTimestamp64Micro(timestamp)"  # µs since the epoch, whatever the session's zone
    first = (LO.date() - EPOCH).days
    # ClickHouse inlines a CTE wherever it is named, so each piece gives both its +1 and its -1
    # edge in one pass (arrayJoin) rather than DuckDB's UNION ALL, which would read the file
    # twice. lead() of a Nullable day: NULL, not 0, after the user's last day, as in DuckDB.
    query = f"""
        WITH pairs AS (
            SELECT DISTINCT user_id, intDiv({us}, {DAY_US}) AS day
            FROM file('{path}', Parquet)
            WHERE {us} >= {LO_US} AND {us} < {HI_US}
        ),
        pieces AS (
            SELECT day, lead(toNullable(day)) OVER (PARTITION BY user_id ORDER BY day) - day AS gap
            FROM pairs
        ),
        windows AS (SELECT arrayJoin([{windows}]) AS n),
        edges AS (
            SELECT n, arrayJoin([(day, 1), (day + least(coalesce(gap, n), n), -1)]) AS edge
            FROM pieces, windows
        ),
        per_day AS (SELECT n, edge.1 AS day, sum(edge.2) AS delta FROM edges GROUP BY n, day),
        grid AS (
            SELECT n, toInt64(number) AS day
            FROM windows, numbers({first}, {END_DAY + 1 - first}) AS days
        ),
        series AS (
            SELECT grid.n AS n, grid.day AS day,
                   sum(coalesce(per_day.delta, 0)) OVER (PARTITION BY grid.n ORDER BY grid.day)
                       AS users
            FROM grid LEFT JOIN per_day ON grid.n = per_day.n AND grid.day = per_day.day
        )
        SELECT day, n AS window, users FROM series WHERE day >= {START_DAY}
    """
    return pl.from_arrow(chdb.query(query, "ArrowTable"))  # type: ignore[return-value]


def run_pandas(path: str) -> pl.DataFrame:
    import numpy as np
    import pandas as pd

    frame = pd.read_parquet(path, columns=["user_id", "timestamp"])
    us = frame["timestamp"].dt.as_unit("us").astype("int64").to_numpy()
    keep = (us >= LO_US) & (us < HI_US)
    pairs = pd.DataFrame({"user_id": frame["user_id"].to_numpy()[keep], "day": us[keep] // DAY_US})
    pairs = pairs.drop_duplicates().sort_values(["user_id", "day"], kind="stable")
    day = pairs["day"].to_numpy()
    same = pairs["user_id"].to_numpy()[1:] == pairs["user_id"].to_numpy()[:-1]
    gap = np.full(len(day), np.iinfo(np.int64).max)
    gap[:-1] = np.where(same, day[1:] - day[:-1], gap[:-1])
    first = int((LO.date() - EPOCH).days)
    size = END_DAY - first + 2 + max(WINDOWS)
    starts = np.bincount(day - first, minlength=size)
    out = []
    for n in WINDOWS:
        ends = np.bincount(day + np.minimum(gap, n) - first, minlength=size)
        users = np.cumsum(starts - ends)
        days = np.arange(START_DAY, END_DAY + 1)
        out.append(pd.DataFrame({"day": days, "window": n, "users": users[days - first]}))
    return pl.from_pandas(pd.concat(out))


RUNNERS = {
    "polars": run_polars,
    "polars naive": run_polars_naive,
    "duckdb union": run_duckdb_union,
    "duckdb range join": run_duckdb_range_join,
    "clickhouse": run_clickhouse,
    "pandas": run_pandas,
}


def _child(engine: str, path: str, queue) -> None:
    try:
        queue.put(_timed(engine, path))
    except BaseException as exc:  # the parent must hear about a failure, not wait forever
        queue.put(exc)
        raise


def _timed(engine: str, path: str) -> tuple[float, float, list[tuple]]:
    # Each engine's libraries are imported before the clock starts: the job is timed, not the
    # imports. Their memory still counts in the peak.
    if engine.startswith("duckdb"):
        import duckdb  # noqa: F401
    elif engine == "clickhouse":
        import chdb  # noqa: F401
    elif engine == "pandas":
        import pandas  # noqa: F401
    elif engine == "polars":
        import metrics.engagement  # noqa: F401
    began = time.perf_counter()
    result = RUNNERS[engine](path)
    seconds = time.perf_counter() - began
    peak = peak_mib()
    series = result.select(
        pl.col("day").cast(pl.Int64),
        pl.col("window").cast(pl.Int64),
        pl.col("users").cast(pl.Int64),
    ).sort("window", "day")
    return seconds, peak, series.rows()


def measure(engine: str, path: Path, repeat: int) -> tuple[float, float, list[tuple]]:
    """Best time, the peak memory of that run, and the series, each run in a fresh process."""
    ctx = mp.get_context("spawn")
    runs = []
    for _ in range(repeat):
        queue = ctx.Queue()
        process = ctx.Process(target=_child, args=(engine, str(path), queue))
        process.start()
        outcome = queue.get()
        process.join()
        if isinstance(outcome, BaseException):
            raise RuntimeError(f"{engine} failed on {path.name}") from outcome
        runs.append(outcome)
    return min(runs, key=lambda run: run[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_engagement", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "counts", nargs="*", default=["1M", "10M"], help="event counts (default 1M 10M)"
    )
    parser.add_argument("--with-30m", action="store_true", help="also run 30M events")
    parser.add_argument("--repeat", type=int, default=3, help="runs per engine; the best counts")
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument(
        "--skip-slow-above",
        type=parse_count,
        default=10_000_000,
        help="skip the range join and naive Polars above this many events (default 10M)",
    )
    args = parser.parse_args(argv)
    counts = [parse_count(text) for text in args.counts] + ([30_000_000] if args.with_30m else [])

    print(f"DAU/WAU/MAU per day, {START} .. {END} (UTC), any event: 552 numbers")
    print(f"best of {args.repeat} run(s), each in a fresh process, Parquet read included\n")
    print(
        "| events | engine | time | peak memory | time vs duckdb | memory vs duckdb "
        "| time vs clickhouse |"
    )
    print("|---|---|---|---|---|---|---|")
    failed = False
    for count in counts:
        path = ensure(count)
        results: dict[str, tuple[float, float, list[tuple]]] = {}
        for engine in args.engines:
            if engine in SLOW and count > args.skip_slow_above:
                continue
            results[engine] = measure(engine, path, args.repeat)
        reference = results[args.engines[0]][2]
        for engine, (_, _, rows) in results.items():
            if rows != reference:
                print(f"MISMATCH at {count:,} events: {engine} differs from {args.engines[0]}")
                failed = True
        base = results.get(BASELINE)
        clickhouse = results.get(CLICKHOUSE)
        for engine, (seconds, peak, _) in results.items():
            ratio_t = f"{seconds / base[0]:.2f}" if base else "—"
            ratio_m = f"{peak / base[1]:.2f}" if base else "—"
            ratio_c = f"{seconds / clickhouse[0]:.2f}" if clickhouse else "—"
            print(
                f"| {_label(count)} | {engine} | {seconds:.2f} s | {peak:,.0f} MiB "
                f"| {ratio_t} | {ratio_m} | {ratio_c} |"
            )
        sys.stdout.flush()
    return 1 if failed else 0


def _label(count: int) -> str:
    return f"{count // 1_000_000}M" if count % 1_000_000 == 0 else f"{count:,}"


if __name__ == "__main__":
    raise SystemExit(main())
