"""Experiments benchmark: ``analyze`` over a generated event log against DuckDB SQL.

    python -m benchmarks.bench_experiments 10M          # ~1M assigned users by default
    python -m benchmarks.bench_experiments 1M --users 100k

The event log comes from :func:`benchmarks.generate.ensure`. Assignments are made here, seeded:
every user of the log plus users who were exposed but never came back (so ~1M users are assigned
at 10M events), 50/50 to control and treatment, first exposures spread over Aug–Oct 2026, and
0.5% of users exposed a second time to the other variant (left out by both engines).

Measured, each in a fresh process (time and peak memory of the whole process, reading the
Parquet file included):

- **polars analyze**: :func:`metrics.experiments.analyze`, end to end (assignments cleaned,
  joined to events, four metrics counted per user after exposure and over the 14 days before it
  for CUPED, winsorization off, variants' sufficient statistics, comparisons).
- **duckdb per-user SQL**: the same per-user aggregation (clean assignments, join, conditional
  sums per user after and before exposure, then per-variant sums) as one SQL query, followed by
  the same :func:`metrics.experiments.compare` calls. Its per-variant sums are checked against
  Polars' results, so both engines compute the same thing.
"""

from __future__ import annotations

import argparse
import datetime as dt
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


DUCKDB_SQL = """
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
j AS (
    SELECT a.variant,
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


def run_duckdb(events_path: str, assignments_path_: str) -> pl.DataFrame:
    import duckdb

    from metrics.experiments import RatioStats, Stats, compare

    connection = duckdb.connect()
    connection.execute("SET threads TO 2")
    sums = connection.sql(
        DUCKDB_SQL,
        params={"events": events_path, "assignments": assignments_path_, "experiment": EXPERIMENT},
    ).pl()
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


def _child(engine: str, events_path: str, assignments_path_: str, queue) -> None:
    try:
        import duckdb  # noqa: F401  (imports are not what is measured)

        import metrics.experiments  # noqa: F401

        started = time.perf_counter()
        frame = (run_polars if engine == "polars" else run_duckdb)(events_path, assignments_path_)
        seconds = time.perf_counter() - started
        peak = peak_mib()
        queue.put(("ok", (seconds, peak, frame.to_dicts())))
    except BaseException as exc:  # report it to the parent instead of leaving it waiting
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def measure(engine: str, events_path: Path, assignments: Path) -> tuple[float, float, list[dict]]:
    """(seconds, peak MiB, result rows) of one engine in a fresh process."""
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", nargs="?", default="10M", help="log size: 1M, 10M, 30M")
    parser.add_argument("--users", default=None, help="assigned users (default: ~4x the log's)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per engine (best is kept)")
    args = parser.parse_args(argv)
    n_events = parse_count(args.events)
    users = parse_count(args.users) if args.users else None
    events_path = ensure(n_events)
    assignments = assignments_path(events_path, users)
    assigned = pl.scan_parquet(assignments).select(pl.col("user_id").n_unique()).collect().item()
    print(f"events: {n_events:,} ({events_path.name}); assigned users: {assigned:,}", flush=True)
    best: dict[str, tuple[float, float]] = {}
    outputs: dict[str, list[dict]] = {}
    for engine in ("polars", "duckdb"):
        runs = [measure(engine, events_path, assignments) for _ in range(args.repeat)]
        seconds = min(r[0] for r in runs)
        best[engine] = (seconds, max(r[1] for r in runs))
        outputs[engine] = runs[0][2]
    polars_rows = [r for r in outputs["polars"] if not r["is_control"]]
    for ours, theirs in zip(polars_rows, outputs["duckdb"], strict=True):
        assert ours["users"] == theirs["users"], (ours["users"], theirs["users"])
        assert abs(ours["relative_effect"] - theirs["relative_effect"]) < 1e-9, (ours, theirs)
    print("results agree (users and lifts of all four metrics)\n")
    print("| engine | what | time | peak memory |")
    print("|---|---|---|---|")
    labels = {
        "polars": "metrics.experiments.analyze, end to end",
        "duckdb": "per-user aggregation in SQL + the same compare calls",
    }
    for engine, (seconds, peak) in best.items():
        print(f"| {engine} | {labels[engine]} | {seconds:.2f} s | {peak:,.0f} MiB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
