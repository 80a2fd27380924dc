"""Funnel benchmark: funnels starting on a frequent event, Polars vs DuckDB vs ClickHouse vs pandas.

    python -m benchmarks.bench_funnels                    # 1M and 10M events
    python -m benchmarks.bench_funnels 10M --with-30m     # add 30M (generates it once: slow)
    python -m benchmarks.bench_funnels 1M --repeat 1 --engines polars duckdb

The funnel: ``app_open -> view_item -> add_to_cart -> purchase``, 7-day conversion window, over the
whole log. Every session of the generated log opens with an ``app_open``, so a user has dozens of
attempts (2M of them at 10M events), as real funnels starting on a frequent event do. Cases:

- **ordered**, overall and by ``platform`` (first touch: the value on each attempt's app_open);
  every engine counts, per step, the users whose best attempt got that far;
- **strict** (each step the user's very next event), overall: ours against ClickHouse's
  ``windowFunnel(..., 'strict_order')`` over every event;
- **any order**, overall: ours only (no peer has it as one call); read it against the ordered
  case's times in the same run (the goal: within 2x of ordered).

Each measurement runs in a fresh process, reading the Parquet file included, so the time and the
peak memory (the process's maximum resident set) are the whole job's; the best of ``--repeat``
runs is shown. The machine is shared: read the ratios (all engines measured in the same run), not
the absolute times. Engines:

- **polars**: :func:`metrics.funnels.funnel` on ``pl.scan_parquet`` (the code the app runs: every
  rule of docs/funnels.md, exclusions and ties included).
- **polars naive**: the straightforward Polars version: sort by time, one forward ``join_asof`` per
  step on the user, then the furthest step per user.
- **duckdb**: the same as-of-join chain as one SQL query over the file.
- **clickhouse**: ``windowFunnel`` through chdb (ClickHouse in-process) over the file.
- **pandas**: the same as-of chain with ``merge_asof``.

In the ordered cases all engines must report the same users at every step (the log has no ties
inside a user's history, where the engines' rules would differ); the script checks that before
printing. ClickHouse's ``strict_order`` is not quite our strict rule; its counts are shown beside
ours, not required to agree.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import multiprocessing as mp
import sys
import time
from pathlib import Path

import polars as pl

from benchmarks.generate import ensure, parse_count
from benchmarks.memory import peak_mib

STEPS = ("app_open", "view_item", "add_to_cart", "purchase")
WINDOW = dt.timedelta(days=7)
WINDOW_US = WINDOW // dt.timedelta(microseconds=1)
BREAKDOWN = "platform"
ENGINES = ("polars", "polars naive", "duckdb", "clickhouse", "pandas")
#: (case, order, breakdown, engines that have it).
CASES = (
    ("ordered", "ordered", None, ENGINES),
    ("ordered", "ordered", BREAKDOWN, ENGINES),
    ("strict", "strict", None, ("polars", "clickhouse")),
    ("any order", "unordered", None, ("polars",)),
)


def run_polars(path: str, by: str | None, order: str = "ordered") -> pl.DataFrame:
    from metrics.funnels import funnel

    table = funnel(pl.scan_parquet(path), list(STEPS), window=WINDOW, breakdown=by, order=order)
    return table.select(
        pl.col(by).alias("value") if by else pl.lit(None).alias("value"), "step", "users"
    )


def run_polars_naive(path: str, by: str | None) -> pl.DataFrame:
    ts = pl.col("timestamp").dt.epoch("us")
    events = (
        pl.scan_parquet(path)
        .filter(pl.col("event").is_in(STEPS))
        .select("user_id", "event", ts.alias("t"), *([pl.col(by).alias("value")] if by else []))
        .sort("t")
        .collect()
    )
    chain = events.filter(pl.col("event") == STEPS[0]).select(
        "user_id", pl.col("t").alias("t1"), *(["value"] if by else [])
    )
    for k, name in enumerate(STEPS[1:], start=2):
        later = events.filter(pl.col("event") == name).select("user_id", pl.col("t").alias(f"t{k}"))
        chain = chain.sort(f"t{k - 1}").join_asof(
            later,
            left_on=f"t{k - 1}",
            right_on=f"t{k}",
            by="user_id",
            strategy="forward",
            check_sortedness=False,  # both sides are sorted by time just above
        )
    level = pl.lit(1)
    for k in range(2, len(STEPS) + 1):
        level = level + (
            pl.col(f"t{k}").is_not_null() & (pl.col(f"t{k}") - pl.col("t1") <= WINDOW_US)
        )
    keys = ["user_id", *(["value"] if by else [])]
    best = chain.group_by(keys).agg(level.max().alias("level"))
    return _levels(best, by is not None)


def run_duckdb(path: str, by: str | None) -> pl.DataFrame:
    import duckdb

    value = f", {by} AS value" if by else ""
    keep = ", value" if by else ""
    names = ", ".join(f"'{name}'" for name in STEPS)
    chain = [f"s1 AS (SELECT user_id, t AS t1{keep} FROM e WHERE event = '{STEPS[0]}')"]
    for k, name in enumerate(STEPS[1:], start=2):
        chain.append(
            f"s{k} AS (SELECT s.*, x.t AS t{k} FROM s{k - 1} s ASOF LEFT JOIN "
            f"(SELECT user_id, t FROM e WHERE event = '{name}') x "
            f"ON s.user_id = x.user_id AND s.t{k - 1} <= x.t)"
        )
    level = " + ".join(
        ["1"] + [f"(t{k} IS NOT NULL AND t{k} - t1 <= {WINDOW_US})::INT" for k in range(2, 5)]
    )
    query = f"""
        WITH e AS (
            SELECT user_id, event, epoch_us("timestamp") AS t{value}
            FROM read_parquet(?) WHERE event IN ({names})
        ),
        {", ".join(chain)}
        SELECT user_id{keep}, max({level}) AS level FROM s4 GROUP BY ALL
    """
    with duckdb.connect() as con:
        best = pl.from_arrow(con.sql(query, params=[path]).to_arrow_table())
    assert isinstance(best, pl.DataFrame)
    return _levels(best, by is not None)


def run_clickhouse(path: str, by: str | None, order: str = "ordered") -> pl.DataFrame:
    import chdb

    conditions = ", ".join(f"event = '{name}'" for name in STEPS)
    names = ", ".join(f"'{name}'" for name in STEPS)
    keys = f"user_id, {by}" if by else "user_id"
    # Strict: every event goes in, so that any other event between two steps breaks the chain.
    mode, where = (
        (", 'strict_order'", "") if order == "strict" else ("", f"WHERE event IN ({names})")
    )
    query = f"""
        SELECT {keys}, windowFunnel({WINDOW_US}{mode})(
            toUInt64(toUnixTimestamp64Micro(timestamp)), {conditions}) AS level
        FROM file('{path}', Parquet)
        {where}
        GROUP BY {keys}
        HAVING level > 0
    """
    best = pl.from_arrow(chdb.query(query, "ArrowTable"))
    assert isinstance(best, pl.DataFrame)
    if by:
        best = best.rename({by: "value"})
    return _levels(best, by is not None)


def run_pandas(path: str, by: str | None) -> pl.DataFrame:
    import pandas as pd

    columns = ["user_id", "event", "timestamp", *([by] if by else [])]
    frame = pd.read_parquet(path, columns=columns)
    frame = frame[frame["event"].isin(STEPS)]
    frame["t"] = frame["timestamp"].dt.as_unit("us").astype("int64")
    frame = frame.sort_values("t")
    first = frame[frame["event"] == STEPS[0]]
    chain = pd.DataFrame({"user_id": first["user_id"], "t1": first["t"]})
    if by:
        chain["value"] = first[by]
    for k, name in enumerate(STEPS[1:], start=2):
        later = frame.loc[frame["event"] == name, ["user_id", "t"]].rename(columns={"t": f"t{k}"})
        # merge_asof refuses missing keys: attempts that already stopped skip the join.
        going = chain[f"t{k - 1}"].notna()
        ahead = chain[going].astype({f"t{k - 1}": "int64"}).sort_values(f"t{k - 1}")
        ahead = pd.merge_asof(
            ahead, later, left_on=f"t{k - 1}", right_on=f"t{k}", by="user_id", direction="forward"
        )
        chain = pd.concat([ahead, chain[~going].assign(**{f"t{k}": float("nan")})])
    level = 1
    for k in range(2, len(STEPS) + 1):
        level = level + ((chain[f"t{k}"] - chain["t1"]) <= WINDOW_US).astype(int)
    chain["level"] = level
    keys = ["user_id", *(["value"] if by else [])]
    best = chain.groupby(keys, as_index=False)["level"].max()
    return _levels(pl.from_pandas(best), by is not None)


def _levels(best: pl.DataFrame, by: bool) -> pl.DataFrame:
    """Users at each step (reached it or beyond) from one row per user with their furthest step."""
    keys = ["value"] if by else []
    best = best.with_columns(pl.col("level").cast(pl.Int64))
    parts = [
        best.filter(pl.col("level") >= k)
        .group_by(keys)
        .agg(pl.len().alias("users"))
        .with_columns(pl.lit(k).alias("step"))
        if keys
        else pl.DataFrame({"step": [k], "users": [best.filter(pl.col("level") >= k).height]})
        for k in range(1, len(STEPS) + 1)
    ]
    out = pl.concat(
        [p.select(*(keys or [pl.lit(None).alias("value")]), "step", "users") for p in parts]
    )
    return out


def _run(engine: str, path: str, by: str | None, order: str) -> pl.DataFrame:
    if engine == "polars":
        return run_polars(path, by, order)
    if engine == "clickhouse":
        return run_clickhouse(path, by, order)
    assert order == "ordered", f"{engine} has only the ordered funnel"
    runner = {
        "polars": run_polars,
        "polars naive": run_polars_naive,
        "duckdb": run_duckdb,
        "clickhouse": run_clickhouse,
        "pandas": run_pandas,
    }[engine]
    return runner(path, by)


#: What each engine imports, loaded before the clock starts (we time the work, not imports).
IMPORTS = {
    "polars": ("metrics.funnels",),
    "polars naive": (),
    "duckdb": ("duckdb",),
    "clickhouse": ("chdb",),
    "pandas": ("pandas", "pyarrow"),
}


def _child(engine: str, path: str, by: str | None, order: str, queue) -> None:
    try:
        for module in IMPORTS[engine]:
            importlib.import_module(module)
        began = time.perf_counter()
        result = _run(engine, path, by, order)
        seconds = time.perf_counter() - began
        peak = peak_mib()
        counts = result.select(
            pl.col("value").cast(pl.String),
            pl.col("step").cast(pl.Int64),
            pl.col("users").cast(pl.Int64),
        ).sort("value", "step", nulls_last=True)
        queue.put((seconds, peak, counts.rows()))
    except BaseException as exc:  # the parent must hear about a failure, not wait forever
        queue.put(exc)
        raise


def measure(
    engine: str, path: Path, by: str | None, order: str, repeat: int
) -> tuple[float, float, list]:
    """Best time, the peak memory of that run, and the counts, each run in a fresh process."""
    ctx = mp.get_context("spawn")
    runs = []
    for _ in range(repeat):
        queue = ctx.Queue()
        process = ctx.Process(target=_child, args=(engine, str(path), by, order, queue))
        process.start()
        outcome = queue.get()
        process.join()
        if isinstance(outcome, BaseException):
            raise RuntimeError(f"{engine} failed on {path.name}") from outcome
        runs.append(outcome)
    return min(runs, key=lambda run: run[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_funnels", description=__doc__.splitlines()[0]
    )
    parser.add_argument("counts", nargs="*", default=["1M", "10M"], help="event counts")
    parser.add_argument("--with-30m", action="store_true", help="also run 30M events")
    parser.add_argument("--repeat", type=int, default=2, help="runs per engine; the best counts")
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    args = parser.parse_args(argv)
    counts = [parse_count(text) for text in args.counts] + ([30_000_000] if args.with_30m else [])

    print(
        f"funnel {' -> '.join(STEPS)}, {WINDOW.days}-day window: ordered (overall and by", end=" "
    )
    print(f"{BREAKDOWN}), strict and any order (overall)")
    print(f"best of {args.repeat} run(s), each in a fresh process, Parquet read included\n")
    print(
        "| events | funnel | engine | time | peak memory | time vs fastest other "
        "| time vs clickhouse (ordered, same view) | memory vs duckdb (ordered, same view) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n in counts:
        path = ensure(n)
        reference: dict[str | None, dict[str, tuple[float, float, list]]] = {}
        for case, order, by, able in CASES:
            view = f"{case}, by {by}" if by else f"{case}, overall"
            engines = [e for e in args.engines if e in able]
            results = {e: measure(e, path, by, order, args.repeat) for e in engines}
            if not results:
                continue
            if order == "ordered":
                reference[by] = results
                truth = results[engines[0]][2]
                for engine, (_, _, rows) in results.items():
                    if rows != truth:
                        print(f"{engine} disagrees with {engines[0]} ({view}, {n:,} events):")
                        print(f"  {engine}: {rows}\n  {engines[0]}: {truth}", file=sys.stderr)
                        return 1
            elif "clickhouse" in results and results["clickhouse"][2] != results[engines[0]][2]:
                print(f"({view}, {n:,} events: clickhouse counts {results['clickhouse'][2]}")
                print(f" where ours are {results[engines[0]][2]})")
            ordered = reference.get(by, {})
            for engine, (seconds, peak, _) in results.items():
                others = [s for e, (s, _, _) in results.items() if e != engine]
                ratio = f"{seconds / min(others):.2f}" if others else "-"
                ch = f"{seconds / ordered['clickhouse'][0]:.2f}" if "clickhouse" in ordered else "-"
                memory = f"{peak / ordered['duckdb'][1]:.2f}" if "duckdb" in ordered else "-"
                print(
                    f"| {n:,} | {view} | {engine} | {seconds:.2f} s | {peak:,.0f} MiB "
                    f"| {ratio} | {ch} | {memory} |",
                    flush=True,
                )
            if order == "unordered" and "polars" in ordered and "polars" in results:
                times = results["polars"][0] / ordered["polars"][0]
                print(f"| {n:,} | any order / ordered (ours) | | {times:.2f}x | | | | |")
    print("\nall engines agree on the users at every step of the ordered funnels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
