"""Stage 4 of a funnel: each user's best clean attempt, the row every answer is counted from.

A user counts once (per breakdown value, per period in :func:`~metrics.funnels.funnel_trends`), at
the furthest step of their best attempt no exclusion spoiled: the furthest-reaching one, then the
earliest-starting, then the earliest times; ``open`` says whether any of their clean attempts is
still inside its window at the horizon (docs/funnels.md).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from metrics import _funnel_kernels as kernels
from metrics.funnels.attempts import INF, Run
from metrics.funnels.preparation import I64


def _codes(values: pl.Series) -> I64:
    """Equal values get equal integers (null included), for grouping with numpy."""
    if values.dtype == pl.Null:
        return np.zeros(values.len(), dtype=np.int64)
    if isinstance(values.dtype, pl.Categorical):
        return (values.to_physical().cast(pl.Int64) + 1).fill_null(0).to_numpy()
    if values.dtype == pl.String:
        # Hash-based codes (a fresh, private set of categories): ranking sorts the strings.
        codes = values.cast(pl.Categorical(pl.Categories.random())).to_physical()
        return (codes.cast(pl.Int64) + 1).fill_null(0).to_numpy()
    ranks = values.rank("dense").fill_null(0)
    return ranks.to_numpy().astype(np.int64)


def best_attempts(run: Run, period: I64 | None = None) -> pl.DataFrame:
    """One row per user (per breakdown value, per period if given): their best clean attempt (the
    furthest step, then the earliest start, then the earliest times) and ``open``: whether any of
    their clean attempts is still inside its window at the horizon.

    Columns: user_id, [_bd], [_period], reached, t_1..t_n (µs, null past ``reached``), open.
    """
    n = run.query.n_steps
    clean = np.flatnonzero(~run.spoiled)
    everyone = clean.size == run.spoiled.size
    user = run.user if everyone else run.user[clean]
    reached = run.reached if everyone else run.reached[clean]
    times = run.times if everyone else run.times[clean]
    groups = [user]
    bd = None
    if run.breakdown is not None:
        bd = run.breakdown if everyone else run.breakdown.gather(pl.Series(clean, dtype=pl.Int64))
        groups.append(_codes(bd))
    if period is not None:
        groups.append(period[clean])
    # Group the attempts (a stable sort keeps each group's attempts in time order; without a
    # breakdown or period they already come grouped, user by user), then take, per group, the
    # furthest-reaching attempt with the earliest times: one compiled pass.
    key = _group_key(groups)
    if key is None:
        order = np.lexsort(groups[::-1]) if clean.size else clean
        new = np.zeros(order.size, dtype=bool)
        new[:1] = True
        for g in groups:
            sorted_g = g[order]
            new[1:] |= sorted_g[1:] != sorted_g[:-1]
        key = np.empty(order.size, dtype=np.int64)
        key[order] = np.cumsum(new)
    elif key.size and bool((key[1:] >= key[:-1]).all()):
        order = np.arange(key.size, dtype=np.int64)
    else:
        order = np.argsort(key, kind="stable")
    horizon = run.horizon_us if run.horizon_us is not None else np.iinfo(np.int64).min
    pick, is_open = kernels.best_attempts(order, key, reached, times, run.query.window_us, horizon)
    first = order[pick]
    cols: list[pl.Series] = [run.user_ids.gather(pl.Series(user[first], dtype=pl.Int64))]
    if bd is not None:
        values = bd.gather(pl.Series(first, dtype=pl.Int64))
        if run.breakdown_dtype is not None:
            values = values.cast(run.breakdown_dtype)
        cols.append(values.alias("_bd"))
    if period is not None:
        cols.append(pl.Series("_period", period[clean][first], dtype=pl.Int64))
    cols.append(pl.Series("reached", reached[first], dtype=pl.Int64))
    for k in range(n):
        t = times[first, k]
        cols.append(pl.Series(f"t_{k + 1}", np.where(t == INF, 0, t), dtype=pl.Int64))
    cols.append(pl.Series("open", is_open, dtype=pl.Boolean))
    frame = pl.DataFrame(cols).rename({cols[0].name: "user_id"})
    return frame.with_columns(
        pl.when(pl.col("reached") > k).then(pl.col(f"t_{k + 1}")).alias(f"t_{k + 1}")
        for k in range(n)
    )


def _group_key(groups: list[I64]) -> I64 | None:
    """One integer per combination of the group codes (None when it would not fit in 62 bits)."""
    if not groups or groups[0].size == 0:
        return None
    key = np.zeros(groups[0].size, dtype=np.int64)
    top = 1
    for g in groups:
        low = int(g.min())
        size = int(g.max()) - low + 1
        top *= size
        if top >= 1 << 62:
            return None
        key = key * size + (g - low)
    return key
