"""Each funnel answer computed in Polars: counts from the best attempts, finished by the tables.

The twin of metrics/warehouse/funnels/answers.py (the same answers in SQL). Arguments are
checked before these are called (:mod:`metrics.funnels.query`).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

import metrics.funnels.tables as tables
from metrics._common import Interval, WeekStart, local_date, period_start
from metrics.funnels.attempts import Run, run
from metrics.funnels.best import best_attempts
from metrics.funnels.preparation import scoped
from metrics.funnels.query import FunnelQuery
from metrics.funnels.tables import US, key_columns, rename_breakdown

Events = pl.DataFrame | pl.LazyFrame


def attempts_for(events: Events | Run, query: FunnelQuery) -> Run:
    """The query's attempts: matched on ``events``, or ``events`` itself when it is a
    :class:`Run` already matched for this query (the app matches once for several answers)."""
    if isinstance(events, Run):
        if events.query != query:
            raise ValueError("run: its attempts were matched for another funnel than the query")
        return events
    return run(events, query)


def steps(events: Events | Run, query: FunnelQuery) -> pl.DataFrame:
    """``funnel``: per (breakdown value, step) the users, rates, times and drop-offs."""
    keys = key_columns(query)
    rows = tables.step_rows(best_attempts(attempts_for(events, query)), query, keys)
    return rename_breakdown(tables.step_table(rows, query, keys), query)


def users(events: Events | Run, query: FunnelQuery) -> pl.DataFrame:
    """``funnel_users``: each user's best attempt."""
    return tables.users_table(best_attempts(attempts_for(events, query)), query)


def trends(
    events: Events | Run,
    query: FunnelQuery,
    interval: Interval,
    week_start: WeekStart,
    lo: int,
    hi: int,
) -> pl.DataFrame:
    """``funnel_trends``: per period of the attempts' start, who entered at ``lo`` and who went
    on to ``hi``."""
    attempts = attempts_for(events, query)
    keys = key_columns(query)
    # Each attempt's period: the local day (in tz) of its first event, as days since 1970-01-01.
    starts = pl.Series("t", attempts.times[:, 0], dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))
    periods = (
        pl.DataFrame([starts])
        .select(period_start(local_date(query.tz, "t"), interval, week_start).cast(pl.Int32))
        .to_series()
        .to_numpy()
        .astype(np.int64)
    )
    per_user = best_attempts(attempts, periods).with_columns(
        pl.col("_period").cast(pl.Int32).cast(pl.Date).alias("period_start")
    )
    entered = pl.col("reached") >= lo
    converted = pl.col("reached") >= hi
    agg = [
        entered.sum().cast(pl.Int64).alias("entered"),
        (entered & converted).sum().cast(pl.Int64).alias("converted"),
        (entered & ~converted & pl.col("open")).sum().cast(pl.Int64).alias("still_in_window"),
    ]
    counts = per_user.group_by([*keys, "period_start"]).agg(agg)
    return tables.trend_table(counts, query, interval, week_start)


def histogram(
    events: Events | Run, query: FunnelQuery, lo: int, hi: int, bins: int | None
) -> pl.DataFrame:
    """``time_to_convert``: the seconds from step ``lo`` to step ``hi`` of the best attempts
    that reached ``hi``, binned (Sturges' rule, at most 30 bins, unless ``bins`` is given)."""
    keys = key_columns(query)
    best = best_attempts(attempts_for(events, query))
    secs = best.filter(pl.col("reached") >= hi).select(
        *keys,
        ((pl.col(f"t_{hi}") - pl.col(f"t_{lo}")).cast(pl.Float64) / US).alias("seconds"),
    )
    if secs.height == 0:
        return rename_breakdown(tables.empty_histogram(best.select(keys)), query)
    low = float(secs.select(pl.col("seconds").min()).item())
    high = float(secs.select(pl.col("seconds").max()).item())
    count = bins if bins is not None else min(30, math.ceil(math.log2(secs.height)) + 1)
    count, width, _ = tables.bin_edges(low, high, count)
    binned = secs.with_columns(
        ((pl.col("seconds") - low) / width).floor().cast(pl.Int64).clip(0, count - 1).alias("_bin")
    )
    counts = binned.group_by([*keys, "_bin"]).agg(pl.len().cast(pl.Int64).alias("users"))
    return tables.histogram_table(counts, query, low, high, count)


def dropped(events: Events | Run, query: FunnelQuery, step: int) -> pl.DataFrame:
    """``dropped_users``: who stopped before ``step`` with their window closed."""
    keys = key_columns(query)
    best = best_attempts(attempts_for(events, query))
    rows = best.filter((pl.col("reached") == step - 1) & ~pl.col("open")).select(
        "user_id", *keys, pl.col(f"t_{step - 1}").alias("last_step_at")
    )
    return tables.dropped_table(rows, query, step)


def next_events(
    events: Events, query: FunnelQuery, step: int, top: int, skipped: list[str]
) -> pl.DataFrame:
    """``next_events_after_drop``: the dropped users' first later event (names in ``skipped``
    passed over), the ``top`` most common per breakdown value."""
    gone = dropped(events, query, step)
    keys = [query.breakdown] if query.breakdown is not None else []
    lo, hi = query.bounds_us()
    ts = pl.col("timestamp").dt.epoch("us")
    in_range = pl.lit(True)
    if lo is not None:
        in_range = in_range & (ts >= lo)
    if hi is not None:
        in_range = in_range & (ts < hi)
    who = gone.select(
        "user_id", *keys, pl.col("last_step_at").dt.epoch("us").alias("_after")
    ).lazy()
    later = (
        scoped(events, query)
        .filter(in_range & pl.col("user_id").is_in(gone.get_column("user_id").implode()))
        .select(pl.col("user_id").cast(pl.String), pl.col("event").cast(pl.String), ts.alias("_ts"))
        .join(who, on="user_id", how="inner")
        .filter(pl.col("_ts") > pl.col("_after"))
        .with_columns(_chosen=~pl.col("event").is_in(skipped))
        .group_by(["user_id", *keys])
        .agg(
            pl.col("event")
            .filter("_chosen")
            .sort_by([pl.col("_ts").filter("_chosen"), pl.col("event").filter("_chosen")])
            .first(),
            _any=pl.lit(True),
        )
    )
    nxt = (
        who.join(later, on=["user_id", *keys], how="left", nulls_equal=True)
        .with_columns(
            pl.when(pl.col("event").is_not_null())
            .then(pl.col("event"))
            .when(pl.col("_any"))
            .then(pl.lit(tables.ONLY_IGNORED_EVENTS))
            .otherwise(pl.lit(tables.NO_LATER_EVENT))
            .alias("event")
        )
        .collect()
    )
    total = nxt.group_by(keys).agg(pl.len().alias("_total")) if keys else None
    counts = nxt.group_by([*keys, "event"]).agg(pl.len().cast(pl.Int64).alias("users"))
    if total is not None:
        counts = counts.join(total, on=keys, how="left", nulls_equal=True)
    else:
        counts = counts.with_columns(pl.lit(nxt.height).alias("_total"))
    shares = counts.with_columns((pl.col("users") / pl.col("_total")).alias("share"))
    return tables.top_next_events(shares.select(*keys, "event", "users", "share"), keys, top)
