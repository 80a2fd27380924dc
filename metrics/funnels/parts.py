"""Funnel work split into parts that run at once, one per core.

Every compiled pass of a funnel (metrics._funnel_kernels) works user by user, and a user's rows
all fall in one part (by a hash of their id), so the parts need nothing from each other: each is
sorted and walked in its own thread (the passes release Python's lock) and writes its own slice
of the shared outputs. The answers do not depend on how many parts there are.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

#: Fewer rows than this are one part: starting threads would cost more than they save.
SPLIT_FROM = 200_000
#: Never more parts than this, however many cores.
MOST = 8


def how_many(rows: int) -> int:
    """How many parts to split ``rows`` rows into: one per core this process may use."""
    if rows < SPLIT_FROM:
        return 1
    if hasattr(os, "sched_getaffinity"):  # Linux: the cores this process may run on
        cores = len(os.sched_getaffinity(0))
    else:
        cores = os.cpu_count() or 1
    return max(1, min(cores, MOST))


def at_once(calls: list[Callable[[], T]]) -> list[T]:
    """Run the calls in threads (one part each) and return their results in order."""
    if len(calls) == 1:
        return [calls[0]()]
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        running = [pool.submit(call) for call in calls]
        return [call.result() for call in running]


def spans(bounds: list[int]) -> list[tuple[int, int]]:
    """The (first row, end row) of each part from the parts' row bounds."""
    return list(zip(bounds[:-1], bounds[1:], strict=True))
