"""Rolling windows (DAU, WAU, MAU) without a range join: the interval union (docs/engagement.md).

Every (user, active day) pair covers the days ``[day, day + N - 1]`` of the windows that contain
it; cut each piece short where the same user's next active day begins, and the pieces of one user
never overlap. Counting a ``+1`` where a piece starts and a ``-1`` where it ends, the running sum
over days is the number of distinct users active in the window ending that day. One sort of the
distinct (user, day) pairs serves every window. Without a breakdown, that sort runs on one Int64
per event (a hashed user code times the number of days, plus the day) rather than on strings and
dates; a second hash catches two users sharing a code, and then the exact string path runs instead
(see :func:`_packed_pieces`). ``metrics/warehouse/rolling.py`` is the same trick in SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import reduce

import polars as pl

from metrics.engagement.query import EngagementQuery, Events, day_number, matching
from metrics.warehouse import Plan, Relation
from metrics.warehouse import rolling as sql_rolling

#: The packed rolling-window keys: a user code of 64 - 17 = 47 hash bits times at most 2^16 days
#: stays below 2^63; the second hash that detects code collisions uses another seed.
_CODE_SHIFT = 17
_MAX_PACKED_DAYS = 1 << 16
_CODE_SEED = 0x6E6F727468
_CHECK_SEED = 0x73746172


def user_code() -> pl.Expr:
    """A user's packed code: the top 47 bits of a 64-bit hash of ``user_id``."""
    return (pl.col("user_id").hash(_CODE_SEED) // (1 << _CODE_SHIFT)).cast(pl.Int64)


def user_check() -> pl.Expr:
    """A second, independent 32-bit hash of ``user_id``: two users with one code differ here."""
    return pl.col("user_id").hash(_CHECK_SEED).cast(pl.UInt32, wrap_numerical=True)


def rolling_counts(
    events: Events, query: EngagementQuery, windows: tuple[int, ...]
) -> pl.LazyFrame:
    """Distinct users active in the N days ending on each day of the range, for N in ``windows``.

    The interval union (module docstring): each distinct (user, day) covers
    ``[day, day + min(N, gap) - 1]``, where gap is the distance to that user's next active day.
    """
    keys = query.keys
    reach = max(windows) - 1
    first_day = query.start - dt.timedelta(days=reach)
    origin = day_number(first_day)
    end_number = day_number(query.end)

    counted = matching(events, query, first_day, query.end, keys)
    longest = max(windows)
    found = None if keys else _packed_pieces(counted, origin, end_number, longest)
    pieces = (found if found is not None else _exact_pieces(counted, keys, longest)).lazy()
    return _window_counts(pieces, query, windows, origin)


def rolling_counts_of_pairs(
    pairs: pl.DataFrame, query: EngagementQuery, windows: tuple[int, ...]
) -> pl.LazyFrame:
    """:func:`rolling_counts` without breakdown from distinct (``code``, ``day``) pairs sorted by
    user code then day (:class:`metrics.engagement.activity.Activity`): the range's days are a
    filter that keeps that order, so each pair's gap is its next row's day, with no sort."""
    longest = max(windows)
    origin = day_number(query.start - dt.timedelta(days=longest - 1))
    same_user = pl.col("code") == pl.col("code").shift(-1)
    gap = pl.when(same_user).then(pl.col("day").shift(-1) - pl.col("day"))
    pieces = (
        pairs.lazy()
        .filter(pl.col("day").is_between(origin, day_number(query.end)))
        .select("day", gap=gap.fill_null(longest).clip(upper_bound=longest).cast(pl.Int32))
        .group_by("day", "gap")
        .agg(pieces=pl.len().cast(pl.Int64))
    )
    return _window_counts(pieces, query, windows, origin)


def rolling_counts_of_rows(
    rows: pl.LazyFrame, query: EngagementQuery, windows: tuple[int, ...]
) -> pl.LazyFrame:
    """:func:`rolling_counts` from counted (``user_id``, ``day``, [breakdown]) rows that reach
    back ``max(windows) - 1`` days before the range (an activity table's, by a property)."""
    longest = max(windows)
    origin = day_number(query.start - dt.timedelta(days=longest - 1))
    pieces = _exact_pieces(rows, query.keys, longest).lazy()
    return _window_counts(pieces, query, windows, origin)


def _window_counts(
    pieces: pl.LazyFrame, query: EngagementQuery, windows: tuple[int, ...], origin: int
) -> pl.LazyFrame:
    """The running counts from the pieces ([breakdown], ``day``, ``gap``, ``pieces``): a +1
    where each piece starts and a -1 where it ends, per window."""
    keys = query.keys
    end_number = day_number(query.end)
    key_values = pieces.select(keys).unique() if keys else None
    changes = []
    for n in windows:
        piece_end = pl.col("day") + pl.min_horizontal(pl.col("gap"), pl.lit(n))
        starts = pieces.select(*keys, "day", delta=pl.col("pieces"))
        ends = pieces.select(*keys, piece_end.alias("day"), delta=-pl.col("pieces"))
        changes.append(
            pl.concat([starts, ends]).with_columns(window_days=pl.lit(n, dtype=pl.Int64))
        )
    deltas = (
        pl.concat(changes)
        .filter(pl.col("day") <= end_number)
        .group_by(*keys, "window_days", "day")
        .agg(pl.col("delta").sum())
    )
    return _series(deltas, query, windows, keys, key_values, origin)


def _series(
    deltas: pl.LazyFrame,
    query: EngagementQuery,
    windows: tuple[int, ...],
    keys: list[str],
    key_values: pl.LazyFrame | None,
    first: int,
) -> pl.LazyFrame:
    """Running sums of the changes per ([breakdown], window) over the days ``first..end``.

    ``deltas``: ([breakdown], ``window_days``, ``day``, ``delta``), the summed +1/-1 of the
    pieces; both back ends finish with this, so the day grid and the zero days are built once.
    """
    start_number, end_number = day_number(query.start), day_number(query.end)
    days = pl.LazyFrame({"day": pl.int_range(first, end_number + 1, eager=True).cast(pl.Int32)})
    grid = days.join(
        pl.LazyFrame({"window_days": list(windows)}, schema={"window_days": pl.Int64}), how="cross"
    )
    if key_values is not None:
        grid = key_values.join(grid, how="cross")
    series = (
        grid.join(deltas, on=[*keys, "window_days", "day"], how="left", nulls_equal=True)
        .with_columns(pl.col("delta").fill_null(0))
        .sort(*keys, "window_days", "day", nulls_last=True)
        .with_columns(active_users=pl.col("delta").cum_sum().over(*keys, "window_days"))
        .filter(pl.col("day").is_between(start_number, end_number))
    )
    return series.with_columns(period_start=pl.col("day").cast(pl.Date)).sort(
        "period_start", *keys, "window_days", nulls_last=True
    )


def _exact_pieces(matching: pl.LazyFrame, keys: list[str], longest: int) -> pl.DataFrame:
    """Distinct (user, day) pairs counted by ([breakdown], day, gap to the user's next day).

    Gaps longer than the longest window end every piece alike, so they are capped at it: a few
    small integers then summarise all pairs (at most days × gaps rows per breakdown value).
    """
    pairs = (
        matching.select(*keys, "user_id", "day")
        .unique()
        .sort(*keys, "user_id", "day", nulls_last=True)
    )
    same_user = reduce(
        lambda a, b: a & b,
        [pl.col(c).eq_missing(pl.col(c).shift(-1)) for c in (*keys, "user_id")],
    )
    gap = pl.when(same_user).then(pl.col("day").shift(-1) - pl.col("day"))
    return (
        pairs.select(*keys, "day", gap=gap.fill_null(longest).clip(upper_bound=longest))
        .group_by(*keys, "day", "gap")
        .agg(pieces=pl.len().cast(pl.Int64))
        .collect()
    )


def _packed_pieces(
    matching: pl.LazyFrame, first: int, last: int, longest: int
) -> pl.DataFrame | None:
    """What :func:`_exact_pieces` gives without breakdown, from integers instead of strings.

    Each event becomes one Int64 key, ``user code × days + day offset``, where the user code is
    the top bits of a 64-bit hash of ``user_id``: sorting that one column puts every user's days
    in order, and equal neighbours are the same (user, day). Hashing and sorting integers costs
    a fraction of grouping strings with dates (time and memory; see benchmarks/bench_engagement.py).

    Two different users could share a code. A second, independent 32-bit hash of ``user_id``
    tells them apart: a code found with two different second hashes is such a collision, and
    then this returns ``None`` so the caller takes the exact string path. A
    collision goes unnoticed only when two users agree on both hashes (79 bits, about 1 in 10^10
    for ten million users). ``None`` also when the day range does not fit beside the code.
    """
    span = last - first + 1
    if span > _MAX_PACKED_DAYS:
        return None
    code, check = user_code(), user_check()
    # Streamed passes over integers, never sorting every event. First the users: per code, the
    # lowest and highest check, where two that differ are a collision (a group-by holds less
    # than the distinct (code, check) pairs did: 30M events, 0.46 GB against 0.86 GB). Then the
    # distinct keys (1.7M of 10M events in the benchmark's log), in two halves of the users (by
    # the code's lowest bit): Polars' streamed distinct holds about 100 bytes per distinct key,
    # so one more read of the ids (+0.5 s at 30M events) halves the peak (0.66 GB -> 0.43 GB).
    # (Collected one after the other: pl.collect_all would cache the shared scan, strings and all.)
    collided = (
        matching.select(code=code, check=check)
        .group_by("code")
        .agg(low=pl.col("check").min(), high=pl.col("check").max())
        .select((pl.col("low") != pl.col("high")).any())
        .collect(engine="streaming")
    )
    if collided.item():
        return None
    keys = matching.select(key=code * span + (pl.col("day") - first))
    halves = [
        keys.filter(pl.col("key") // span % 2 == half).unique().collect(engine="streaming")
        for half in (0, 1)
    ]
    pairs = pl.concat(halves).lazy().sort("key")
    user = pl.col("key") // span
    # Within one user, neighbouring keys differ by the days between the two pairs.
    gap = pl.when(user == user.shift(-1)).then(pl.col("key").shift(-1) - pl.col("key"))
    summary = (
        pairs.select(
            day=(pl.col("key") % span + first).cast(pl.Int32),
            gap=gap.fill_null(longest).clip(upper_bound=longest).cast(pl.Int32),
        )
        .group_by("day", "gap")
        .agg(pieces=pl.len().cast(pl.Int64))
    )
    return summary.collect(engine="streaming")


def rolling_plan(
    events: Relation,
    query: EngagementQuery,
    windows: tuple[int, ...],
    finish: Callable[[pl.LazyFrame], pl.DataFrame],
) -> Plan:
    """The rolling counts in SQL: the engine gives the day-by-day changes, clamped to ``start``.

    The same pieces and changes as :func:`rolling_counts`; the engine moves every change that
    happens before ``start`` onto ``start`` (so the running sum there is already right) and
    ``finish`` gets the same series the Polars path builds, from :func:`_series`.
    """
    keys = query.keys
    start_number, end_number = day_number(query.start), day_number(query.end)

    def series(deltas: pl.LazyFrame) -> pl.DataFrame:
        key_values = deltas.select(keys).unique() if keys else None
        return finish(_series(deltas, query, windows, keys, key_values, start_number))

    return sql_rolling.rolling_plan(
        events,
        query,
        windows,
        keys,
        first_day=query.start - dt.timedelta(days=max(windows) - 1),
        first_number=start_number,
        last_number=end_number,
        finish=series,
    )
