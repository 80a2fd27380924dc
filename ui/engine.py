"""Computing where the events live, as the pages see it: adapters that keep their SQL.

With a source computed in its engine (``compute = "warehouse"``, docs/warehouse.md "In the app")
the metric functions run SQL there. :func:`cached` is ``st.cache_data`` for an adapter that also
keeps the statements the call ran, values written inline exactly as ``metrics.sql`` writes them
(they are recorded as ``metrics.warehouse.run`` sends them), so a chart's "Show SQL"
(:func:`show_sql`) shows what produced it, from the cache too. The cache keys stay the adapter's
arguments (the source key and the metric parameters), never a relation. With events in Polars an
adapter keeps no statements and no "Show SQL" is drawn.

:func:`failure` words what an engine may answer instead of a result (an unreachable database, a
missing column, a function the dialect lacks or one not computed in SQL yet) for the page.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ParamSpec, Protocol, TypeVar

import streamlit as st

from connectors.errors import ConnectorError
from metrics.warehouse.relation import TRACE
from ui.text import md

P = ParamSpec("P")
R = TypeVar("R", covariant=True)


class Adapter(Protocol[P, R]):
    """A cached adapter: called as before, and ``.sql(...)`` with the same arguments."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...

    def sql(self, *args: P.args, **kwargs: P.kwargs) -> tuple[str, ...]: ...

    def clear(self) -> None: ...


#: What the engine may raise instead of an answer; a page shows it in words (:func:`failure`).
ENGINE_ERRORS: tuple[type[Exception], ...] = (ConnectorError, NotImplementedError, ValueError)


@contextmanager
def recording() -> Iterator[list[str]]:
    """The statements run inside the block (values inline), in order."""
    statements: list[str] = []
    token = TRACE.set(statements.append)
    try:
        yield statements
    finally:
        TRACE.reset(token)


def _passed_on(statements: Sequence[str]) -> None:
    """Hand an adapter's statements to the adapter that called it, if one is recording."""
    outer = TRACE.get()
    if outer is not None:
        for statement in statements:
            outer(statement)


def cached(**options: Any) -> Callable[[Callable[P, Any]], Adapter[P, Any]]:
    """``st.cache_data(**options)`` that also keeps the SQL each call ran.

    The adapter returns what it returned before; ``adapter.sql(*same arguments)`` gives the
    statements of that call (from the cache: nothing runs twice).
    """

    def decorate(function: Callable[P, Any]) -> Adapter[P, Any]:
        @functools.wraps(function)  # the cache key is the adapter's own (name, source, arguments)
        def computed(*args: Any, **kwargs: Any) -> tuple[Any, tuple[str, ...]]:
            with recording() as statements:
                result = function(*args, **kwargs)
            return result, tuple(statements)

        store = st.cache_data(**options)(computed)

        @functools.wraps(function)
        def adapter(*args: Any, **kwargs: Any) -> Any:
            result, statements = store(*args, **kwargs)
            _passed_on(statements)
            return result

        def sql(*args: Any, **kwargs: Any) -> tuple[str, ...]:
            statements: tuple[str, ...] = store(*args, **kwargs)[1]
            return statements

        adapter.sql = sql  # type: ignore[attr-defined]
        adapter.clear = store.clear  # type: ignore[attr-defined]
        return adapter  # type: ignore[return-value]  # it has sql and clear now

    return decorate


def show_sql(statements: Sequence[str], *, what: str = "this chart") -> None:
    """An expander with the statements that computed ``what`` (nothing when none ran in SQL)."""
    if not statements:
        return
    count = len(statements)
    with st.expander("Show SQL", icon=":material/code:"):
        st.caption(
            f"The {count} statement{'' if count == 1 else 's'} that computed {md(what)} in the "
            "engine, values written inline (they ran with bound parameters). Only their result "
            "rows left the database."
        )
        for statement in statements:
            st.code(statement, language="sql", wrap_lines=True)


def failure(exc: BaseException) -> str:
    """What went wrong computing in the engine, in plain words (Markdown-escaped)."""
    text = md(str(exc).strip() or type(exc).__name__)
    if isinstance(exc, ConnectorError):
        return f"The database could not answer: {text}"
    if isinstance(exc, NotImplementedError):
        return (
            f"This is not computed in the database yet: {text}. Load the events into Polars "
            '(compute = "local" in sources.toml) to see it.'
        )
    return f"These settings cannot be computed: {text}"
