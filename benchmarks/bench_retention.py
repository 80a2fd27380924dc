"""Retention benchmark: 13 weekly cohorts, Polars vs DuckDB vs ClickHouse vs pandas on one log.

    python -m benchmarks.bench_retention                  # 1M and 10M events
    python -m benchmarks.bench_retention 10M --with-30m   # add 30M (generates it once: slow)
    python -m benchmarks.bench_retention 1M --repeat 1 --extra

The computation is the Retention page's default view: recurring weekly retention (Monday weeks,
calendar periods, UTC) of any event, 13 cohorts from the week of 2026-07-27 to the week of
2026-10-19, every cohort followed to the last week: a 91-cell triangle of retained users.

Each measurement runs in a fresh process, reading the Parquet file included, so the time and the
peak memory (the process's maximum resident set) are the whole job's. The best of ``--repeat``
runs is shown. Engines:

- **polars**: :func:`metrics.retention.retention` on ``pl.scan_parquet``: one group-by that packs
  each user's active weeks into a 64-bit mask, then a 13×13 matrix product over distinct masks.
- **polars naive**: the straightforward Polars version: distinct (user, week), self-join on the
  user, count by (cohort, offset).
- **duckdb**: the same distinct-then-self-join computation as one SQL query over the file.
- **clickhouse**: ClickHouse-native SQL through chdb (ClickHouse in-process) over the file, one
  read: each user's distinct active weeks gathered into an array (``groupUniqArray``), every
  (cohort, later-or-equal week) pair of that array expanded with ``arrayJoin``, counted by
  (cohort, offset).
- **pandas**: the same, with pandas on a pyarrow-read frame.

All five must produce the same triangle; the script checks that before printing the table.
``--extra`` also times Polars alone on other options (first-time sign-up cohorts, rolling weeks,
a daylight-saving zone) for information.
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

START = dt.date(2026, 7, 27)  # a Monday
END = dt.date(2026, 10, 25)  # a Sunday: 13 whole weeks
WEEKS = 13
LO = dt.datetime.combine(START, dt.time(), dt.UTC)
HI = LO + dt.timedelta(weeks=WEEKS)
LO_US = int(LO.timestamp()) * 1_000_000
HI_US = int(HI.timestamp()) * 1_000_000
WEEK_US = 7 * 86_400 * 1_000_000

ENGINES = ("polars", "polars naive", "duckdb", "clickhouse", "pandas")
EXTRA = {
    "polars first-time sign-up": {"start_event": "signup", "retention_type": "first_time"},
    "polars rolling weeks": {"periods": "rolling"},
    "polars Europe/Berlin": {"tz": "Europe/Berlin"},
}


def run_polars(path: str, **options) -> pl.DataFrame:
    from metrics.retention import retention

    table = retention(pl.scan_parquet(path), start=START, end=END, interval="week", **options)
    return _cohort_index(table.select("cohort_start", "offset", "retained"))


def run_polars_naive(path: str) -> pl.DataFrame:
    ts = pl.col("timestamp").dt.epoch("us")
    active = (
        pl.scan_parquet(path)
        .filter(ts >= LO_US, ts < HI_US)
        .select("user_id", ((ts - LO_US) // WEEK_US).alias("week"))
        .unique()
    )
    return (
        active.join(active, on="user_id", suffix="_later")
        .filter(pl.col("week_later") >= pl.col("week"))
        .group_by(
            pl.col("week").alias("cohort"), (pl.col("week_later") - pl.col("week")).alias("offset")
        )
        .agg(pl.len().alias("retained"))
        .collect()
    )


def run_duckdb(path: str) -> pl.DataFrame:
    import duckdb

    query = f"""
        WITH active AS (
            SELECT DISTINCT user_id, (epoch_us("timestamp") - {LO_US}) // {WEEK_US} AS week
            FROM read_parquet(?)
            WHERE epoch_us("timestamp") >= {LO_US} AND epoch_us("timestamp") < {HI_US}
        )
        SELECT a.week AS cohort, b.week - a.week AS "offset", count(*) AS retained
        FROM active a JOIN active b ON a.user_id = b.user_id AND b.week >= a.week
        GROUP BY ALL
    """
    with duckdb.connect() as con:
        return pl.from_arrow(con.sql(query, params=[path]).to_arrow_table())


def run_clickhouse(path: str) -> pl.DataFrame:
    import chdb

    us = "toUnixTimestamp64Micro(timestamp)"  # µs since the epoch, whatever the session's zone
    # One read of the file: per user, the distinct active weeks of the window as an array; each
    # week is a cohort, each later-or-equal week of the same user a return at week - cohort.
    # (A WITH subquery would be re-evaluated at each reference: a self-join reads the file twice.)
    query = f"""
        SELECT cohort, `offset`, count() AS retained
        FROM (
            SELECT
                arrayJoin(weeks) AS cohort,
                arrayJoin(arrayMap(w -> w - cohort, arrayFilter(w -> w >= cohort, weeks)))
                    AS `offset`
            FROM (
                SELECT groupUniqArray(toUInt8(intDiv({us} - {LO_US}, {WEEK_US}))) AS weeks
                FROM file('{path}', Parquet)
                WHERE {us} >= {LO_US} AND {us} < {HI_US}
                GROUP BY user_id
            )
        )
        GROUP BY cohort, `offset`
    """
    return pl.from_arrow(chdb.query(query, "ArrowTable"))  # type: ignore[return-value]


def run_pandas(path: str) -> pl.DataFrame:
    import pandas as pd

    frame = pd.read_parquet(path, columns=["user_id", "timestamp"])
    us = frame["timestamp"].dt.as_unit("us").astype("int64")  # µs since the epoch
    kept = frame.loc[(us >= LO_US) & (us < HI_US), ["user_id"]]
    kept["week"] = (us[kept.index] - LO_US) // WEEK_US
    active = kept.drop_duplicates()
    pairs = active.merge(active, on="user_id", suffixes=("", "_later"))
    pairs = pairs[pairs["week_later"] >= pairs["week"]]
    pairs["offset"] = pairs["week_later"] - pairs["week"]
    counts = pairs.groupby(["week", "offset"]).size().reset_index(name="retained")
    return pl.from_pandas(counts.rename(columns={"week": "cohort"}))


def _cohort_index(table: pl.DataFrame) -> pl.DataFrame:
    week = ((pl.col("cohort_start") - pl.lit(START)).dt.total_days() // 7).alias("cohort")
    return table.select(week, "offset", "retained")


def _run(engine: str, path: str) -> pl.DataFrame:
    if engine == "polars":
        return run_polars(path)
    if engine == "polars naive":
        return run_polars_naive(path)
    if engine == "duckdb":
        return run_duckdb(path)
    if engine == "clickhouse":
        return run_clickhouse(path)
    if engine == "pandas":
        return run_pandas(path)
    return run_polars(path, **EXTRA[engine])


def _child(engine: str, path: str, queue) -> None:
    try:
        queue.put(_timed(engine, path))
    except BaseException as exc:  # the parent must hear about a failure, not wait forever
        queue.put(exc)
        raise


def _timed(engine: str, path: str) -> tuple[float, float, list[tuple]]:
    # Each engine's own libraries are imported before the clock starts: the job is timed, not the
    # imports (scipy, pulled in by the confidence intervals, alone takes seconds on a cold, busy
    # machine). Their memory still counts in the peak.
    if engine == "duckdb":
        import duckdb  # noqa: F401
    elif engine == "clickhouse":
        import chdb  # noqa: F401
    elif engine == "pandas":
        import pandas  # noqa: F401
    elif engine != "polars naive":
        import metrics.retention  # noqa: F401
    began = time.perf_counter()
    result = _run(engine, path)
    seconds = time.perf_counter() - began
    peak = peak_mib()
    triangle = result.select(
        pl.col("cohort").cast(pl.Int64),
        pl.col("offset").cast(pl.Int64),
        pl.col("retained").cast(pl.Int64),
    ).sort("cohort", "offset")
    return seconds, peak, triangle.rows()


def measure(engine: str, path: Path, repeat: int) -> tuple[float, float, list[tuple]]:
    """Best time, the peak memory of that run, and the triangle, each run in a fresh process."""
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


def _nonzero(rows: list[tuple]) -> list[tuple]:
    # Engines that join only list the cells somebody is in; the triangle lists every cell.
    return [row for row in rows if row[2] != 0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_retention", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "counts", nargs="*", default=["1M", "10M"], help="event counts (default 1M 10M)"
    )
    parser.add_argument("--with-30m", action="store_true", help="also run 30M events")
    parser.add_argument("--repeat", type=int, default=3, help="runs per engine; the best counts")
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--extra", action="store_true", help="also time Polars on other options")
    args = parser.parse_args(argv)
    counts = [parse_count(text) for text in args.counts] + ([30_000_000] if args.with_30m else [])

    print(f"13 weekly cohorts ({START} .. {END}), recurring, any event, calendar weeks, UTC")
    print(f"best of {args.repeat} run(s), each in a fresh process, Parquet read included\n")
    print(
        "| events | engine | time | peak memory | time vs duckdb | memory vs duckdb "
        "| time vs clickhouse |"
    )
    print("|---|---|---|---|---|---|---|")
    for n in counts:
        path = ensure(n)
        results = {engine: measure(engine, path, args.repeat) for engine in args.engines}
        truth = _nonzero(results[args.engines[0]][2])
        for engine, (_, _, rows) in results.items():
            if _nonzero(rows) != truth:
                print(f"{engine} disagrees with {args.engines[0]} at {n:,} events", file=sys.stderr)
                return 1
        base = results.get("duckdb")
        clickhouse = results.get("clickhouse")
        for engine, (seconds, peak, _) in results.items():
            ratio = f"{seconds / base[0]:.2f}" if base else "-"
            memory = f"{peak / base[1]:.2f}" if base else "-"
            versus = f"{seconds / clickhouse[0]:.2f}" if clickhouse else "-"
            print(
                f"| {n:,} | {engine} | {seconds:.2f} s | {peak:,.0f} MiB | {ratio} | {memory} "
                f"| {versus} |"
            )
        if args.extra:
            for engine in EXTRA:
                seconds, peak, _ = measure(engine, path, args.repeat)
                print(f"| {n:,} | {engine} | {seconds:.2f} s | {peak:,.0f} MiB | | | |")
    print("\nall engines agree on every cell of every triangle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
