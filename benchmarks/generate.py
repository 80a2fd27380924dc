"""Seeded synthetic event logs for benchmarks: 1M, 10M or 30M events in the canonical schema.

    python -m benchmarks.generate 10M          # writes benchmarks/data/events_10000000.parquet
    python -m benchmarks.generate 1M 10M 30M --seed 0

The log looks like a product's: users who sign up over six months (2026-05-01 .. 2026-10-31 UTC) and
whose later events all follow their ``signup``; heavy-tailed activity (a few users produce many
events); quieter weekends; eleven event names, among them the funnel ``signup``, ``page_view``,
``add_to_cart``, ``checkout_start``, ``purchase`` (with ``revenue``); sessions, each opened by an
``app_open`` (so a funnel starting on ``app_open`` has dozens of attempts per active user, as real
ones do); a platform and a country per user. Rows are in random order, as in a real export, so a
benchmark pays for its sorts.

Columns: ``user_id`` ("u0001234"), ``event``, ``timestamp`` (Datetime µs UTC), ``event_id``,
``session_id`` (about five events within minutes), ``revenue`` (Float64, purchases only),
``platform``, ``country``.

Benchmark scripts call :func:`ensure`, which generates the file once and reuses it afterwards.

A *folder* of parts (``--parts N``, :func:`ensure_folder`) holds a log too big to generate in one
go: ``events_100000000_x10/part_00.parquet`` .. ``part_09.parquet``, 10M events each. Part ``i``
is ``generate(size, seed=seed + i, prefix=f"p{i}")`` (its own seed, and its own prefix on
``user_id``, ``event_id`` and ``session_id``, so users, events and sessions never collide across
parts); part 0 has no prefix, so it is the single file ``ensure(size, seed=seed)`` (reused, or
written there first, and hard-linked into the folder). Parts are generated and written one at a
time: the peak memory is one part's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

__all__ = [
    "DATA_DIR",
    "GENERATOR_VERSION",
    "ensure",
    "ensure_folder",
    "folder_for",
    "generate",
    "parse_count",
    "part_sizes",
]

#: Bump when the generated data changes, so :func:`ensure` regenerates files written before.
GENERATOR_VERSION = "4"
DATA_DIR = Path(__file__).resolve().parent / "data"

START = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)  # exclusive

#: Event names other than ``signup`` and how often each occurs among a user's later events.
EVENT_MIX: dict[str, float] = {
    "page_view": 0.42,
    "session_start": 0.14,
    "view_item": 0.12,
    "search": 0.09,
    "login": 0.06,
    "add_to_cart": 0.065,
    "share": 0.03,
    "checkout_start": 0.03,
    "purchase": 0.012,
}
#: Opens every session after the sign-up's, at the session's first instant.
SESSION_OPEN = "app_open"
EVENT_NAMES: tuple[str, ...] = ("signup", *EVENT_MIX, SESSION_OPEN)
PLATFORMS: tuple[str, ...] = ("web", "ios", "android")
COUNTRIES: tuple[str, ...] = ("US", "GB", "DE", "FR", "IN", "BR", "JP", "CA")

_SEC = 1_000_000
_DAY = 86_400 * _SEC
_SPAN = int((END - START).total_seconds()) * _SEC
_START_US = int(START.timestamp()) * _SEC
# 2026-05-01 is a Friday; weekday (Monday = 0) of day d is (d + 4) % 7. Weekends keep 60%.
_FIRST_WEEKDAY = START.weekday()
_WEEKEND_KEEP = 0.6
#: Events per user when ``users`` is not given.
_EVENTS_PER_USER = 40
_EVENTS_PER_SESSION = 5


def generate(
    n_events: int, *, seed: int = 0, users: int | None = None, prefix: str = ""
) -> pl.DataFrame:
    """A synthetic event log of exactly ``n_events`` rows, in random order; same seed, same log.

    ``prefix`` goes in front of every ``user_id``, ``event_id`` and ``session_id`` ("p3u0001234",
    "p3e17", "p3s5"): logs with different prefixes share no user, event or session.
    """
    if n_events < 1:
        raise ValueError(f"n_events must be positive, not {n_events!r}")
    n_users = max(1, n_events // _EVENTS_PER_USER) if users is None else users
    if not 1 <= n_users <= n_events:
        raise ValueError(f"users must be between 1 and n_events ({n_events}), not {users!r}")
    rng = np.random.default_rng(seed)

    # Sign-ups grow over the period (density rising linearly to 3x: the inverse of the CDF
    # (x + x^2) / 2 on [0, 1]); each user's first event.
    u = rng.random(n_users)
    signup = ((np.sqrt(1.0 + 8.0 * u) - 1.0) / 2.0 * 0.98 * _SPAN).astype(np.int64)
    weight = rng.lognormal(0.0, 1.2, size=n_users)  # heavy-tailed activity

    # Later events come in sessions of about five. Sessions belong to users in proportion to the
    # users' weights (one multinomial draw: owners come out grouped by user, which keeps the lookups
    # cache-friendly; rows are shuffled at the end).
    n_later = n_events - n_users
    n_sessions = max(1, n_later // _EVENTS_PER_SESSION)
    owner = np.repeat(
        np.arange(n_users, dtype=np.int32), rng.multinomial(n_sessions, weight / weight.sum())
    )
    # Activity fades after sign-up (more sessions early in a user's life); weekend sessions are
    # thinned by drawing a second time for a share of them.
    room = _SPAN - 2 - signup[owner]
    offset = (rng.random(n_sessions) ** 1.6 * room).astype(np.int64)
    weekend = ((signup[owner] + offset) // _DAY + _FIRST_WEEKDAY) % 7 >= 5
    redraw = weekend & (rng.random(n_sessions) > _WEEKEND_KEEP)
    offset[redraw] = (rng.random(int(redraw.sum())) ** 1.6 * room[redraw]).astype(np.int64)
    session_start = signup[owner] + 1 + offset
    del room, weekend, redraw, offset

    # Each session opens with an app_open at its start (as many as fit); every other later event
    # falls in a session chosen uniformly, a few minutes after its start.
    n_opens = min(n_sessions, n_later)
    n_rest = n_later - n_opens
    session = np.concatenate(
        [
            np.arange(n_opens, dtype=np.int64),
            rng.integers(0, n_sessions, size=n_rest, dtype=np.int64),
        ]
    )
    later = session_start[session]
    # At least 1 µs after the app_open: a session's events never tie with its opening.
    later[n_opens:] += 1 + (rng.exponential(180.0, size=n_rest) * _SEC).astype(np.int64)
    when = np.concatenate([signup, np.minimum(later, _SPAN - 1)])
    del later
    user = np.concatenate([np.arange(n_users, dtype=np.int32), owner[session]])
    # The sign-up opens a session of its own, numbered after the others.
    session = np.concatenate([n_sessions + np.arange(n_users, dtype=np.int64), session])
    del owner, session_start

    mix = np.array(list(EVENT_MIX.values()))
    event = np.concatenate(
        [
            np.zeros(n_users, dtype=np.int8),
            np.full(n_opens, len(EVENT_NAMES) - 1, dtype=np.int8),
            (rng.choice(mix.size, size=n_rest, p=mix / mix.sum()) + 1).astype(np.int8),
        ]
    )
    purchase = event == EVENT_NAMES.index("purchase")
    revenue = np.full(n_events, np.nan)
    revenue[purchase] = np.round(rng.lognormal(np.log(30.0), 0.9, size=int(purchase.sum())), 2)
    platform = rng.choice(len(PLATFORMS), size=n_users, p=[0.5, 0.3, 0.2]).astype(np.int8)
    country = rng.choice(
        len(COUNTRIES), size=n_users, p=[0.3, 0.1, 0.1, 0.08, 0.17, 0.1, 0.08, 0.07]
    ).astype(np.int8)

    # A real log is not sorted by user: shuffle the rows once, then build the columns in that order.
    order = rng.permutation(n_events)
    user, when, event, revenue = user[order], when[order], event[order], revenue[order]
    session = session[order] + 1
    event_number = order.astype(np.int64) + 1
    del order

    user_ids = (
        f"{prefix}u" + pl.Series(np.arange(1, n_users + 1)).cast(pl.String).str.zfill(7)
    ).alias("user_id")
    frame = pl.DataFrame(
        [
            user_ids.gather(pl.Series(user)),
            pl.Series("event", EVENT_NAMES, dtype=pl.String).gather(pl.Series(event)),
            pl.Series("timestamp", _START_US + when).cast(pl.Datetime("us", "UTC")),
            (f"{prefix}e" + pl.Series(event_number).cast(pl.String)).alias("event_id"),
            (f"{prefix}s" + pl.Series(session).cast(pl.String)).alias("session_id"),
            pl.Series("revenue", revenue).fill_nan(None),
            pl.Series("platform", PLATFORMS, dtype=pl.String).gather(pl.Series(platform[user])),
            pl.Series("country", COUNTRIES, dtype=pl.String).gather(pl.Series(country[user])),
        ]
    )
    return frame


def path_for(n_events: int, *, seed: int = 0) -> Path:
    """Where :func:`ensure` keeps the log of ``n_events`` events for ``seed``."""
    suffix = "" if seed == 0 else f"_seed{seed}"
    return DATA_DIR / f"events_{n_events}{suffix}.parquet"


def ensure(n_events: int, *, seed: int = 0) -> Path:
    """The Parquet file of ``generate(n_events, seed=seed)``, written once and reused afterwards.

    A file from an older generator version (recorded in the Parquet metadata) is regenerated. The
    file is written under a temporary name and renamed, so an interrupted run leaves nothing behind.
    """
    path = path_for(n_events, seed=seed)
    if path.is_file() and _version_of(path) == GENERATOR_VERSION:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(generate(n_events, seed=seed), path, {"seed": str(seed)})
    return path


def _write(frame: pl.DataFrame, path: Path, metadata: dict[str, str]) -> None:
    """Write under a temporary name, then rename: an interrupted run leaves nothing behind."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        frame.write_parquet(
            temporary, metadata={"northstar_generator": GENERATOR_VERSION, **metadata}
        )
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def part_sizes(n_events: int, parts: int) -> list[int]:
    """The events of each part: as equal as can be, the first parts one larger when it does not
    divide (100M in 10 parts: ten of 10M)."""
    if parts < 1 or parts > n_events:
        raise ValueError(f"parts must be between 1 and n_events ({n_events}), not {parts!r}")
    size, extra = divmod(n_events, parts)
    return [size + (1 if i < extra else 0) for i in range(parts)]


def folder_for(n_events: int, parts: int, *, seed: int = 0) -> Path:
    """Where :func:`ensure_folder` keeps the log of ``n_events`` events in ``parts`` files."""
    suffix = "" if seed == 0 else f"_seed{seed}"
    return DATA_DIR / f"events_{n_events}_x{parts}{suffix}"


def ensure_folder(n_events: int, parts: int, *, seed: int = 0) -> Path:
    """A folder of ``parts`` Parquet files (``part_00.parquet``, ...) holding ``n_events`` events.

    Part ``i`` is ``generate(size, seed=seed + i, prefix=f"p{i}")``; part 0, without a prefix, is
    the single file of :func:`ensure` (reused when it is there, written there otherwise) linked
    into the folder. A part written by an older generator version is regenerated. One part is in
    memory at a time. Read the whole log with ``pl.scan_parquet(folder / "*.parquet")``.
    """
    sizes = part_sizes(n_events, parts)
    folder = folder_for(n_events, parts, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i, size in enumerate(sizes):
        path = folder / f"part_{i:02d}.parquet"
        if path.is_file() and _version_of(path) == GENERATOR_VERSION:
            continue
        if i == 0:
            _link(ensure(size, seed=seed), path)
            continue
        frame = generate(size, seed=seed + i, prefix=f"p{i}")
        _write(frame, path, {"seed": str(seed + i), "prefix": f"p{i}"})
        del frame
        gc.collect()
    return folder


def _link(source: Path, path: Path) -> None:
    """``path`` becomes the same file as ``source`` (a hard link; a copy across file systems)."""
    temporary = path.with_name(f".{path.name}.link.tmp")
    temporary.unlink(missing_ok=True)
    try:
        os.link(source, temporary)
    except OSError:
        shutil.copyfile(source, temporary)
    os.replace(temporary, path)


def _version_of(path: Path) -> str | None:
    try:
        return pl.read_parquet_metadata(path).get("northstar_generator")
    except (OSError, pl.exceptions.PolarsError):
        return None


_COUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$")


def parse_count(text: str) -> int:
    """'10M' -> 10_000_000, '500k' -> 500_000, '2000000' -> 2_000_000."""
    match = _COUNT.match(text.replace("_", ""))
    if match is None:
        raise ValueError(f"count: {text!r} is not a number of events like 1M, 10M, 30M or 500k")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    value = float(match.group(1)) * scale
    if value < 1 or value != int(value):
        raise ValueError(f"count: {text!r} is not a whole positive number of events")
    return int(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.generate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("counts", nargs="+", help="numbers of events: 1M, 10M, 30M, 500k, ...")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="regenerate even if the file exists")
    parser.add_argument(
        "--parts",
        type=int,
        default=None,
        help="write a folder of this many Parquet files instead of one file (see ensure_folder)",
    )
    args = parser.parse_args(argv)
    try:
        counts = [parse_count(text) for text in args.counts]
    except ValueError as exc:
        parser.error(str(exc))
    for n in counts:
        began = time.perf_counter()
        if args.parts is None:
            if args.force:
                path_for(n, seed=args.seed).unlink(missing_ok=True)
            path = ensure(n, seed=args.seed)
            size = path.stat().st_size / 2**20
        else:
            if args.force:  # every part, the single file reused as part 0 included
                shutil.rmtree(folder_for(n, args.parts, seed=args.seed), ignore_errors=True)
                path_for(part_sizes(n, args.parts)[0], seed=args.seed).unlink(missing_ok=True)
            path = ensure_folder(n, args.parts, seed=args.seed)
            size = sum(p.stat().st_size for p in path.glob("*.parquet")) / 2**20
        print(f"{n:>12,} events  {time.perf_counter() - began:6.1f} s  {size:8.1f} MiB  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
