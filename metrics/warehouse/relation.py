"""A relation: events that stay in an engine, and the statements that compute metrics there.

``connectors.warehouse(...)`` builds a :class:`Relation`: the dialect, one SELECT that yields the
canonical columns (``user_id``, ``event``, ``ts_us`` as microseconds since 1970 UTC, the optional
``event_id``, ``session_id``, ``revenue`` and any property), and the engine that runs statements
(``None`` for a relation that only compiles SQL). It holds no rows.

Metric functions accept a relation wherever they accept a frame: a family's *planner* turns the
same query object the Polars path uses into a :class:`Plan` (statements whose results are the
answer's rows, and a ``finish`` that gives them the frame's columns and types). Values are bound
parameters: a statement's text carries markers, rendered as the engine's placeholders to run, or
as literals to read (``metrics.sql``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import polars as pl

from metrics.warehouse.dialect import Dialect

_MARK = "\x00"


class Engine(Protocol):
    """Runs one statement with bound values and returns its (small) result as a Polars frame."""

    def run(self, sql: str, params: Mapping[str, Any]) -> pl.DataFrame: ...


@dataclass(frozen=True)
class Relation:
    """Events in an engine (or only a dialect): what the metric functions compute on in SQL."""

    dialect: Dialect
    source: str
    columns: tuple[str, ...] | None
    engine: Engine | None = field(default=None, compare=False, repr=False)
    #: "events", or "assignments": rows of ``user_id``, ``experiment``, ``variant``, ``ts_us``
    #: and properties (docs/data.md's experiment exposures, read by
    #: connectors/warehouse/assignments.py).
    kind: str = "events"
    description: str = ""
    #: The source's rows as read (user, event, time before any rule), for the load report.
    raw: str = field(default="", compare=False, repr=False)
    #: Values bound by markers in ``source`` (a relation derived in SQL, e.g. a KPI's filters).
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def compile_only(self) -> bool:
        return self.engine is None

    def has(self, column: str) -> bool:
        """Whether the canonical events carry ``column`` (unknown for a compile-only relation)."""
        return self.columns is None or column in self.columns

    def require(self, columns: Sequence[str], argument: str) -> None:
        """ValueError naming the argument and the column when a column is not in the events."""
        if self.columns is None:
            return
        missing = [c for c in columns if c not in self.columns]
        if missing:
            raise ValueError(
                f"{argument}: no column {missing[0]!r} in the events "
                f"(columns: {', '.join(self.columns)})"
            )


class Sql:
    """Builds one statement's text with its bound values (markers until rendered)."""

    def __init__(self, relation: Relation) -> None:
        self.relation = relation
        self.d = relation.dialect
        # A derived relation's source carries markers of its own values (named p0, p1, ...).
        self.params: dict[str, Any] = dict(relation.params)

    def value(self, value: Any) -> str:
        """A bound value: a marker now, a placeholder or a literal once rendered."""
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"{_MARK}{name}{_MARK}"

    def q(self, name: str) -> str:
        return self.d.quote(name)

    def statement(self, text: str) -> Statement:
        return Statement(text=text, params=dict(self.params))


@dataclass(frozen=True)
class Statement:
    """SQL text with value markers, and the values."""

    text: str
    params: Mapping[str, Any]

    def render(self, dialect: Dialect, *, inline: bool) -> tuple[str, dict[str, Any]]:
        """(text, parameters): placeholders and their values, or the values written inline."""
        pieces = self.text.split(_MARK)
        out: list[str] = []
        bound: dict[str, Any] = {}
        for i, piece in enumerate(pieces):
            if i % 2 == 0:
                out.append(piece)
                continue
            value = self.params[piece]
            if inline:
                out.append(dialect.literal(value))
            else:
                out.append(dialect.placeholder(piece, value))
                bound[piece] = value
        return "".join(out), bound


@dataclass(frozen=True)
class Plan:
    """Statements whose results are the answer's rows, and how to make the public frame of them."""

    statements: tuple[Statement, ...]
    finish: Callable[[list[pl.DataFrame]], Any]


def run(relation: Relation, plan: Plan) -> Any:
    """Run every statement of ``plan`` on the relation's engine and finish the answer."""
    if relation.engine is None:
        raise ValueError(
            f"this relation only compiles SQL ({relation.dialect.name}); "
            "use metrics.sql(function, ...) to see its statements"
        )
    frames = []
    trace = TRACE.get()
    for statement in plan.statements:
        if trace is not None:
            trace(statement.render(relation.dialect, inline=True)[0])
        text, params = statement.render(relation.dialect, inline=False)
        frames.append(relation.engine.run(text, params))
    return plan.finish(frames)


#: The app's "Show SQL" listens here: each statement :func:`run` sends to an engine, as
#: ``metrics.sql`` writes it (values inline), is passed to the callable set here.
TRACE: ContextVar[Callable[[str], None] | None] = ContextVar("northstar_trace", default=None)

F = TypeVar("F", bound=Callable[..., Any])
Planner = Callable[..., Plan]

#: The cross-engine test matrix listens here: after a call on Polars frames it receives
#: (function, args, kwargs, result) and runs the same call on an engine to compare.
SHADOW: ContextVar[
    Callable[[Callable[..., Any], tuple[Any, ...], dict[str, Any], Any], None] | None
] = ContextVar("northstar_shadow", default=None)


def pushdown(planner: Planner) -> Callable[[F], F]:
    """Let a public metric function take a :class:`Relation`: its planner then compiles the call.

    The planner takes the same arguments as the function and returns a :class:`Plan`;
    ``metrics.sql`` reads it from the function's ``__planner__`` attribute.
    """

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if args and isinstance(args[0], Relation):
                return run(args[0], planner(*args, **kwargs))
            result = function(*args, **kwargs)
            shadow = SHADOW.get()
            if shadow is not None:
                shadow(wrapper, args, kwargs, result)
            return result

        wrapper.__planner__ = planner  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def statements(function: Callable[..., Any], *args: Any, **kwargs: Any) -> list[str]:
    """The SQL a call of ``function`` on a relation would run, values written inline."""
    planner = getattr(function, "__planner__", None)
    if planner is None:
        raise ValueError(
            f"{getattr(function, '__qualname__', function)!r} has no SQL form "
            "(it computes on Polars frames only)"
        )
    if not args or not isinstance(args[0], Relation):
        raise ValueError("metrics.sql: the first argument after the function is a Relation")
    relation: Relation = args[0]
    plan = planner(*args, **kwargs)
    return [s.render(relation.dialect, inline=True)[0] for s in plan.statements]
