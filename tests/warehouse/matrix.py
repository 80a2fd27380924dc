"""The cross-engine golden matrix: every story test's metric calls, repeated on an engine.

With :func:`shadowing` active, each public metric call made on Polars frames is made again on
the same events loaded into the engine (as a relation), and the two answers must be the same
frame: same columns and types, equal counts, floats within 1e-9 relative. A difference is a bug
in the SQL, never a tolerance to widen. Story tests opt in through the ``engine`` fixture of
``tests/metrics/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields, is_dataclass
from typing import Any

import polars as pl
from polars.testing import assert_frame_equal

from metrics.warehouse.relation import SHADOW

RTOL = 1e-9


#: Tables already in an engine, by the frame's content: parametrised stories and repeated calls
#: reuse one table (loading and probing a table is most of a call's time on Spark).
_LOADED: dict[tuple[Any, ...], Any] = {}


def _content(frame: pl.DataFrame) -> tuple[Any, ...]:
    hashed = int(frame.hash_rows(seed=7).sum()) if frame.height else 0
    return (tuple(frame.schema.items()), frame.height, hashed)


def _load(harness: Any, value: Any, cache: dict[int, Any]) -> Any:
    if isinstance(value, pl.LazyFrame):
        value = value.collect()
    if isinstance(value, pl.DataFrame):
        key = id(value)
        if key not in cache:
            content = (harness.name, id(harness), *_content(value))
            if content not in _LOADED:
                _LOADED[content] = harness.relation(value)
            cache[key] = (value, _LOADED[content])
        return cache[key][1]
    return value


def assert_same_answer(expected: Any, actual: Any, where: str) -> None:
    """Frames equal (floats to 1e-9 relative); other results compared field by field."""
    if isinstance(expected, pl.DataFrame):
        assert isinstance(actual, pl.DataFrame), f"{where}: got {type(actual).__name__}"
        try:
            assert_frame_equal(actual, expected, check_exact=False, rel_tol=RTOL, abs_tol=1e-12)
        except AssertionError as exc:
            raise AssertionError(f"{where}: {exc}") from None
        return
    if is_dataclass(expected) and not isinstance(expected, type):
        for f in fields(expected):
            assert_same_answer(
                getattr(expected, f.name), getattr(actual, f.name), f"{where}.{f.name}"
            )
        return
    if isinstance(expected, float) and isinstance(actual, float):
        assert abs(actual - expected) <= RTOL * max(abs(expected), 1e-12) + 1e-12, where
        return
    if isinstance(expected, tuple | list) and isinstance(actual, tuple | list):
        assert len(expected) == len(actual), where
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_same_answer(e, a, f"{where}[{i}]")
        return
    assert actual == expected, f"{where}: {actual!r} != {expected!r}"


@contextmanager
def shadowing(harness: Any) -> Iterator[list[str]]:
    """Repeat every metric call on ``harness``'s engine and compare; yields the calls checked."""
    checked: list[str] = []
    cache: dict[int, Any] = {}

    def shadow(
        function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], result: Any
    ) -> None:
        token = SHADOW.set(None)  # calls made inside the engine call are not shadowed again
        try:
            moved = [_load(harness, a, cache) for a in args]
            answer = function(*moved, **kwargs)
        finally:
            SHADOW.reset(token)
        name = getattr(function, "__qualname__", str(function))
        assert_same_answer(result, answer, f"{name} on {harness.name}")
        checked.append(name)

    token = SHADOW.set(shadow)
    try:
        yield checked
    finally:
        SHADOW.reset(token)
