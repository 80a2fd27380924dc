"""Experiments benchmark: ``analyze`` against DuckDB, ClickHouse and pandas on one event log.

    python -m benchmarks.bench_experiments 10M          # ~1M assigned users by default
    python -m benchmarks.bench_experiments 1M --users 100k
    python -m benchmarks.bench_experiments 1M --repeat 1 --engines polars duckdb clickhouse

The event log comes from :func:`benchmarks.generate.ensure`. Assignments are made here, seeded:
every user of the log plus users who were exposed but never came back (so ~1M users are assigned
at 10M events), 50/50 to control and treatment, first exposures spread over Aug–Oct 2026, and
0.5% of users exposed a second time to the other variant (left out by every engine).

Measured, each in a fresh process (time and peak memory of the whole process, reading the
Parquet file included):

- **polars analyze**: :func:`metrics.experiments.analyze`, end to end (assignments cleaned,
  joined to events, four metrics counted per user after exposure and over the 14 days before it
  for CUPED, winsorization off, variants' sufficient statistics, comparisons).
- **duckdb per-user SQL**: the same per-user aggregation (clean assignments, join, conditional
  sums per user after and before exposure, then per-variant sums) as one SQL query, followed by
  the same :func:`metrics.experiments.compare` calls.
- **clickhouse per-user SQL**: that query in ClickHouse SQL (``uniqExact`` for the distinct
  variants, ``DateTime64`` arithmetic in UTC), through chdb (ClickHouse in-process) over the
  Parquet files, followed by the same ``compare`` calls.
- **pandas per-user**: the same per-user aggregation with pandas (merge, conditional columns, a
  group-by per user, then per variant), followed by the same ``compare`` calls.

Every engine must report the same users, lifts and p-values for the four metrics as the first
engine measured (to 1e-9: the lifts are floating point), and the SQL and pandas engines the same
per-variant sums: counts exactly, sums of revenue to 1e-10 relative (a float sum's last bits
depend on the order of its additions). The script checks both before printing the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import math
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks.generate import DATA_DIR, ensure, parse_count
from benchmarks.memory import peak_mib

EXPERIMENT = "bench_checkout"
START = dt.datetime(2026, 8, 1, tzinfo=dt.UTC)
SPAN_S = 75 * 86_400


def assignments_path(events_path: Path, users: int | None) -> Path:
    """Generate (once) the assignments for an event log: Parquet beside it."""
    suffix = f"_{users}" if users else ""
    path = DATA_DIR / f"assignments_{events_path.stem}{suffix}.parquet"
    if path.exists():
        return path
    logged = pl.scan_parquet(events_path).select(pl.col("user_id").unique()).collect()["user_id"]
    target = users or max(logged.len(), 4 * logged.len())
    rng = np.random.default_rng(20261123)
    silent = max(0, target - logged.len())
    ids = pl.concat([logged, pl.Series("user_id", [f"s{i:07d}" for i in range(silent)])])
    n = ids.len()
    variant = np.where(rng.random(n) < 0.5, "control", "treatment")
    seconds = rng.integers(0, SPAN_S, n)
    frame = pl.DataFrame(
        {
            "user_id": ids,
            "experiment": EXPERIMENT,
            "variant": variant,
            "timestamp": pl.Series(seconds * 1_000_000).cast(pl.Duration("us")) + START,
        }
    )
    twice = frame.sample(fraction=0.005, seed=1).with_columns(
        pl.when(pl.col("variant") == "control")
        .then(pl.lit("treatment"))
        .otherwise(pl.lit("control"))
        .alias("variant"),
        pl.col("timestamp") + pl.duration(days=3),
    )
    out = pl.concat([frame, twice]).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))
    out.write_parquet(path)
    return path


def metrics():
    from metrics.experiments import Conversion, Count, Ratio, Sum

    return [
        Conversion("purchase"),
        Sum("purchase", "revenue", name="revenue per user"),
        Count("page_view"),
        Ratio(Sum("purchase", "revenue"), Count("purchase"), name="order value"),
    ]


def run_polars(events_path: str, assignments_path_: str) -> pl.DataFrame:
    from metrics.experiments import analyze

    return analyze(
        pl.scan_parquet(events_path),
        pl.scan_parquet(assignments_path_),
        experiment=EXPERIMENT,
        metrics=metrics(),
        cuped=True,
        pre_period=14,
    )


#: The per-variant sums the SQL and pandas engines compute, and those of them summing revenue.
SUMS = (
    "n", "conv", "conv_x", "conv_x2", "conv_xy", "rev", "rev2", "rev_x", "rev_x2", "rev_xy",
    "views", "views2", "views_x", "views_x2", "views_xy", "buys", "buys2", "rev_buys",
)  # fmt: skip
FLOAT_SUMS = ("rev", "rev2", "rev_x", "rev_x2", "rev_xy", "rev_buys")

#: The end every engine's query shares: each assigned user's per-user values (zero when they
#: did nothing), then GrowthBook's per-variant sums of them, their squares and products.
PER_VARIANT_SQL = """j AS (
    SELECT a.variant AS variant,
           coalesce(conv, 0) AS conv, coalesce(conv_pre, 0) AS conv_pre,
           coalesce(rev, 0) AS rev, coalesce(rev_pre, 0) AS rev_pre,
           coalesce(buys, 0) AS buys,
           coalesce(views, 0) AS views, coalesce(views_pre, 0) AS views_pre
    FROM a LEFT JOIN u USING (user_id)
)
SELECT variant, count(*) AS n,
       sum(conv) AS conv, sum(conv_pre) AS conv_x, sum(conv_pre * conv_pre) AS conv_x2,
       sum(conv * conv_pre) AS conv_xy,
       sum(rev) AS rev, sum(rev * rev) AS rev2, sum(rev_pre) AS rev_x,
       sum(rev_pre * rev_pre) AS rev_x2, sum(rev * rev_pre) AS rev_xy,
       sum(views) AS views, sum(views * views) AS views2, sum(views_pre) AS views_x,
       sum(views_pre * views_pre) AS views_x2, sum(views * views_pre) AS views_xy,
       sum(buys) AS buys, sum(buys * buys) AS buys2, sum(rev * buys) AS rev_buys
FROM j GROUP BY variant ORDER BY variant
"""

DUCKDB_SQL = (
    """
WITH a AS (
    SELECT user_id, min(timestamp) AS exposure, any_value(variant) AS variant
    FROM read_parquet($assignments)
    WHERE experiment = $experiment
    GROUP BY user_id
    HAVING count(DISTINCT variant) = 1
),
e AS (
    SELECT e.user_id, e.event, e.timestamp, e.revenue, a.exposure
    FROM read_parquet($events) e JOIN a USING (user_id)
    WHERE e.event IN ('purchase', 'page_view')
),
u AS (
    SELECT
        user_id,
        max(CASE WHEN event = 'purchase' AND timestamp >= exposure THEN 1 ELSE 0 END) AS conv,
        max(CASE WHEN event = 'purchase' AND timestamp < exposure
                  AND timestamp >= exposure - INTERVAL 14 DAY THEN 1 ELSE 0 END) AS conv_pre,
        sum(CASE WHEN event = 'purchase' AND timestamp >= exposure
                 THEN coalesce(revenue, 0) ELSE 0 END) AS rev,
        sum(CASE WHEN event = 'purchase' AND timestamp < exposure
                  AND timestamp >= exposure - INTERVAL 14 DAY
                 THEN coalesce(revenue, 0) ELSE 0 END) AS rev_pre,
        sum(CASE WHEN event = 'purchase' AND timestamp >= exposure THEN 1 ELSE 0 END) AS buys,
        sum(CASE WHEN event = 'page_view' AND timestamp >= exposure THEN 1 ELSE 0 END) AS views,
        sum(CASE WHEN event = 'page_view' AND timestamp < exposure
                  AND timestamp >= exposure - INTERVAL 14 DAY THEN 1 ELSE 0 END) AS views_pre
    FROM e GROUP BY user_id
),
"""
    + PER_VARIANT_SQL
)

#: DUCKDB_SQL in ClickHouse's dialect. ``prefer_column_name_to_alias``: in ClickHouse an alias
#: shadows the column it is named after (``sum(conv) AS conv`` inside ``sum(conv * conv_pre)``),
#: unlike in standard SQL. Timestamps are ``DateTime64(6, 'UTC')``: 14 days are 14 UTC days.
CLICKHOUSE_SQL = (
    """
WITH a AS (
    SELECT user_id, min(timestamp) AS exposure, any(variant) AS variant
    FROM file('{assignments}', Parquet)
    WHERE experiment = '{experiment}'
    GROUP BY user_id
    HAVING uniqExact(variant) = 1
),
u AS (
    SELECT
        user_id,
        max(if(event = 'purchase' AND timestamp >= exposure, 1, 0)) AS conv,
        max(if(event = 'purchase' AND timestamp < exposure
               AND timestamp >= exposure - INTERVAL 14 DAY, 1, 0)) AS conv_pre,
        sum(if(event = 'purchase' AND timestamp >= exposure, coalesce(revenue, 0), 0)) AS rev,
        sum(if(event = 'purchase' AND timestamp < exposure
               AND timestamp >= exposure - INTERVAL 14 DAY, coalesce(revenue, 0), 0)) AS rev_pre,
        sum(if(event = 'purchase' AND timestamp >= exposure, 1, 0)) AS buys,
        sum(if(event = 'page_view' AND timestamp >= exposure, 1, 0)) AS views,
        sum(if(event = 'page_view' AND timestamp < exposure
               AND timestamp >= exposure - INTERVAL 14 DAY, 1, 0)) AS views_pre
    FROM file('{events}', Parquet) AS e INNER JOIN a USING (user_id)
    WHERE e.event IN ('purchase', 'page_view')
    GROUP BY user_id
),
"""
    + PER_VARIANT_SQL
    + "SETTINGS prefer_column_name_to_alias = 1\n"
)


def run_duckdb(events_path: str, assignments_path_: str) -> pl.DataFrame:
    """The per-variant sums (:data:`SUMS`), by DuckDB."""
    import duckdb

    connection = duckdb.connect()
    connection.execute("SET threads TO 2")
    connection.execute("SET TimeZone = 'UTC'")  # INTERVAL 14 DAY: 14 UTC days, as Polars counts
    return connection.sql(
        DUCKDB_SQL,
        params={"events": events_path, "assignments": assignments_path_, "experiment": EXPERIMENT},
    ).pl()


def run_clickhouse(events_path: str, assignments_path_: str) -> pl.DataFrame:
    """The per-variant sums (:data:`SUMS`), by ClickHouse through chdb."""
    import chdb

    query = CLICKHOUSE_SQL.format(
        events=events_path, assignments=assignments_path_, experiment=EXPERIMENT
    )
    return pl.from_arrow(chdb.query(query, "ArrowTable"))  # type: ignore[return-value]


def run_pandas(events_path: str, assignments_path_: str) -> pl.DataFrame:
    """The per-variant sums (:data:`SUMS`), by pandas."""
    import pandas as pd

    assigned = pd.read_parquet(
        assignments_path_, columns=["user_id", "experiment", "variant", "timestamp"]
    )
    assigned = assigned[assigned["experiment"] == EXPERIMENT]
    users = assigned.groupby("user_id", as_index=False).agg(
        exposure=("timestamp", "min"), variant=("variant", "first"), arms=("variant", "nunique")
    )
    users = users[users["arms"] == 1]
    frame = pd.read_parquet(events_path, columns=["user_id", "event", "timestamp", "revenue"])
    frame = frame[frame["event"].isin(["purchase", "page_view"])]
    e = frame.merge(users[["user_id", "exposure"]], on="user_id")
    after = e["timestamp"] >= e["exposure"]
    before = (e["timestamp"] < e["exposure"]) & (
        e["timestamp"] >= e["exposure"] - pd.Timedelta(days=14)
    )
    buy = e["event"] == "purchase"
    view = e["event"] == "page_view"
    revenue = e["revenue"].fillna(0.0)
    per_event = pd.DataFrame(
        {
            "user_id": e["user_id"],
            "conv": (buy & after).astype("int64"),
            "conv_pre": (buy & before).astype("int64"),
            "rev": revenue.where(buy & after, 0.0),
            "rev_pre": revenue.where(buy & before, 0.0),
            "buys": (buy & after).astype("int64"),
            "views": (view & after).astype("int64"),
            "views_pre": (view & before).astype("int64"),
        }
    )
    per_user = per_event.groupby("user_id", as_index=False).agg(
        {
            "conv": "max",
            "conv_pre": "max",
            "rev": "sum",
            "rev_pre": "sum",
            "buys": "sum",
            "views": "sum",
            "views_pre": "sum",
        }
    )
    j = users[["user_id", "variant"]].merge(per_user, on="user_id", how="left").fillna(0)
    counts = ["conv", "conv_pre", "buys", "views", "views_pre"]
    j = j.astype(dict.fromkeys(counts, "int64"))
    columns = {
        "conv": j["conv"],
        "conv_x": j["conv_pre"],
        "conv_x2": j["conv_pre"] * j["conv_pre"],
        "conv_xy": j["conv"] * j["conv_pre"],
        "rev": j["rev"],
        "rev2": j["rev"] * j["rev"],
        "rev_x": j["rev_pre"],
        "rev_x2": j["rev_pre"] * j["rev_pre"],
        "rev_xy": j["rev"] * j["rev_pre"],
        "views": j["views"],
        "views2": j["views"] * j["views"],
        "views_x": j["views_pre"],
        "views_x2": j["views_pre"] * j["views_pre"],
        "views_xy": j["views"] * j["views_pre"],
        "buys": j["buys"],
        "buys2": j["buys"] * j["buys"],
        "rev_buys": j["rev"] * j["buys"],
    }
    by_variant = pd.DataFrame({"variant": j["variant"], **columns}).groupby("variant")
    sums = by_variant.sum()
    sums.insert(0, "n", by_variant.size())
    return pl.from_pandas(sums.reset_index())


def _normalized(sums: pl.DataFrame) -> pl.DataFrame:
    """One engine's per-variant sums as Int64 counts and Float64 revenue, one row per variant."""
    return sums.select(
        pl.col("variant").cast(pl.String),
        *(pl.col(c).cast(pl.Float64 if c in FLOAT_SUMS else pl.Int64) for c in SUMS),
    ).sort("variant")


def compare_sums(sums: pl.DataFrame) -> pl.DataFrame:
    """The four metrics' comparisons from per-variant sums: the calls ``analyze`` makes."""
    from metrics.experiments import RatioStats, Stats, compare

    rows = {r["variant"]: r for r in sums.iter_rows(named=True)}
    c, t = rows["control"], rows["treatment"]

    def arm(r, y, y2, x, x2, xy):
        return Stats(r["n"], r[y], r[y2], r[x], r[x2], r[xy])

    results = [
        compare(
            arm(c, "conv", "conv", "conv_x", "conv_x2", "conv_xy"),
            arm(t, "conv", "conv", "conv_x", "conv_x2", "conv_xy"),
            kind="proportion",
            cuped=True,
        ),
        compare(
            arm(c, "rev", "rev2", "rev_x", "rev_x2", "rev_xy"),
            arm(t, "rev", "rev2", "rev_x", "rev_x2", "rev_xy"),
            cuped=True,
        ),
        compare(
            arm(c, "views", "views2", "views_x", "views_x2", "views_xy"),
            arm(t, "views", "views2", "views_x", "views_x2", "views_xy"),
            cuped=True,
        ),
        compare(
            RatioStats(c["n"], c["rev"], c["rev2"], c["buys"], c["buys2"], c["rev_buys"]),
            RatioStats(t["n"], t["rev"], t["rev2"], t["buys"], t["buys2"], t["rev_buys"]),
        ),
    ]
    return pl.DataFrame(
        {
            "users": [t["n"]] * 4,
            "relative_effect": [r.relative_effect for r in results],
            "p_value": [r.p_value for r in results],
        }
    )


RUNNERS = {
    "polars": run_polars,
    "duckdb": run_duckdb,
    "clickhouse": run_clickhouse,
    "pandas": run_pandas,
}
ENGINES = tuple(RUNNERS)
#: What each engine imports beyond metrics.experiments, loaded before the clock starts.
IMPORTS = {
    "polars": (),
    "duckdb": ("duckdb",),
    "clickhouse": ("chdb",),
    "pandas": ("pandas", "pyarrow"),
}
LABELS = {
    "polars": "metrics.experiments.analyze, end to end",
    "duckdb": "per-user aggregation in SQL + the same compare calls",
    "clickhouse": "the same SQL in ClickHouse (chdb) + the same compare calls",
    "pandas": "the same per-user aggregation in pandas + the same compare calls",
}


def _child(engine: str, events_path: str, assignments_path_: str, queue) -> None:
    try:
        import metrics.experiments  # noqa: F401  (imports are not what is measured)

        for module in IMPORTS[engine]:
            importlib.import_module(module)
        started = time.perf_counter()
        if engine == "polars":
            sums = None
            frame = run_polars(events_path, assignments_path_).filter(~pl.col("is_control"))
        else:
            sums = _normalized(RUNNERS[engine](events_path, assignments_path_))
            frame = compare_sums(sums)
        seconds = time.perf_counter() - started
        peak = peak_mib()
        lifts = frame.select("users", "relative_effect", "p_value").to_dicts()
        queue.put(("ok", (seconds, peak, lifts, None if sums is None else sums.to_dicts())))
    except BaseException as exc:  # report it to the parent instead of leaving it waiting
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def measure(
    engine: str, events_path: Path, assignments: Path
) -> tuple[float, float, list[dict], list[dict] | None]:
    """(seconds, peak MiB, lifts, per-variant sums or None) of one engine in a fresh process."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(engine, str(events_path), str(assignments), queue))
    process.start()
    try:
        status, payload = queue.get(timeout=3600)
    finally:
        process.join(timeout=60)
    if status != "ok":
        raise RuntimeError(f"{engine} failed: {payload}")
    return payload


def _same_lifts(ours: list[dict], theirs: list[dict]) -> bool:
    return len(ours) == len(theirs) and all(
        a["users"] == b["users"]
        and abs(a["relative_effect"] - b["relative_effect"]) < 1e-9
        and abs(a["p_value"] - b["p_value"]) < 1e-9
        for a, b in zip(ours, theirs, strict=True)
    )


def _same_sums(ours: list[dict], theirs: list[dict]) -> bool:
    return len(ours) == len(theirs) and all(
        a["variant"] == b["variant"]
        and all(
            math.isclose(a[c], b[c], rel_tol=1e-10) if c in FLOAT_SUMS else a[c] == b[c]
            for c in SUMS
        )
        for a, b in zip(ours, theirs, strict=True)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_experiments", description=__doc__.splitlines()[0]
    )
    parser.add_argument("events", nargs="?", default="10M", help="log size: 1M, 10M, 30M")
    parser.add_argument("--users", default=None, help="assigned users (default: ~4x the log's)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per engine (best is kept)")
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    args = parser.parse_args(argv)
    n_events = parse_count(args.events)
    users = parse_count(args.users) if args.users else None
    events_path = ensure(n_events)
    assignments = assignments_path(events_path, users)
    assigned = pl.scan_parquet(assignments).select(pl.col("user_id").n_unique()).collect().item()
    print(f"events: {n_events:,} ({events_path.name}); assigned users: {assigned:,}", flush=True)
    best: dict[str, tuple[float, float]] = {}
    lifts: dict[str, list[dict]] = {}
    sums: dict[str, list[dict]] = {}
    for engine in args.engines:
        runs = [measure(engine, events_path, assignments) for _ in range(args.repeat)]
        best[engine] = (min(r[0] for r in runs), max(r[1] for r in runs))
        lifts[engine] = runs[0][2]
        if runs[0][3] is not None:
            sums[engine] = runs[0][3]
    first = args.engines[0]
    for engine in args.engines[1:]:
        if not _same_lifts(lifts[first], lifts[engine]):
            print(f"{engine} disagrees with {first}:", file=sys.stderr)
            print(f"  {engine}: {lifts[engine]}\n  {first}: {lifts[first]}", file=sys.stderr)
            return 1
    summed = list(sums)
    for engine in summed[1:]:
        if not _same_sums(sums[summed[0]], sums[engine]):
            print(f"{engine}'s per-variant sums differ from {summed[0]}'s:", file=sys.stderr)
            print(f"  {engine}: {sums[engine]}\n  {summed[0]}: {sums[summed[0]]}", file=sys.stderr)
            return 1
    print("results agree (users, lifts and p-values of all four metrics", end="")
    print(f"; per-variant sums of {', '.join(summed)})\n" if len(summed) > 1 else ")\n")
    print(
        "| engine | what | time | peak memory | time vs duckdb | memory vs duckdb "
        "| time vs clickhouse |"
    )
    print("|---|---|---|---|---|---|---|")
    duck, clickhouse = best.get("duckdb"), best.get("clickhouse")
    for engine, (seconds, peak) in best.items():
        ratio = f"{seconds / duck[0]:.2f}" if duck else "-"
        memory = f"{peak / duck[1]:.2f}" if duck else "-"
        versus = f"{seconds / clickhouse[0]:.2f}" if clickhouse else "-"
        print(
            f"| {engine} | {LABELS[engine]} | {seconds:.2f} s | {peak:,.0f} MiB | {ratio} "
            f"| {memory} | {versus} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
