"""What defines a funnel: its steps, exclusions, window, order and scope, checked once.

:class:`FunnelQuery` is the one frozen, hashable value every funnel function computes (the
public keyword functions build it; the app's cached adapters take it as their key). Its
:meth:`FunnelQuery.build` reports every problem of the arguments at once, in one ``ValueError``
(:class:`FunnelQueryError`) whose message lists them (docs/metrics.md, "The public interface").
The checks of the few arguments that belong to one function only (``step``, ``bins``, ...) are
here too, so every message about a funnel's arguments is written in one place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

from metrics._common import INTERVALS, WEEK_STARTS, check_choice, check_tz, to_date, utc_bounds
from metrics.scope import FilterItems, Scope, normalise_filters

Order = Literal["ordered", "strict", "unordered"]
ORDERS: tuple[Order, ...] = ("ordered", "strict", "unordered")

WindowUnit = Literal["second", "minute", "hour", "day", "week", "month"]
#: Conversion-window units a page offers, PostHog's (a month is 31 days there too).
WINDOW_UNITS: dict[WindowUnit, dt.timedelta] = {
    "second": dt.timedelta(seconds=1),
    "minute": dt.timedelta(minutes=1),
    "hour": dt.timedelta(hours=1),
    "day": dt.timedelta(days=1),
    "week": dt.timedelta(weeks=1),
    "month": dt.timedelta(days=31),
}

#: Steps are bits of a UInt64 signature.
MAX_STEPS = 60

StepFilters = Mapping[str, Any] | FilterItems | None


@dataclass(frozen=True)
class Step:
    """One funnel step: an event name (``None`` = any event), optional property filters, a label."""

    event: str | None
    filters: StepFilters = None
    label: str | None = None

    @property
    def name(self) -> str:
        """The label shown for the step: ``label``, else the event name."""
        if self.label:
            return self.label
        return self.event if self.event is not None else "Any event"

    @property
    def filter_mapping(self) -> dict[str, Any]:
        """The filters as a mapping (given as one, or in the query's normalised form)."""
        return dict(self.filters or ())


@dataclass(frozen=True)
class Exclusion:
    """An event that spoils an attempt between two steps (0-based; ``to_step=None``: the last)."""

    event: str
    from_step: int = 0
    to_step: int | None = None
    filters: StepFilters = None

    @property
    def filter_mapping(self) -> dict[str, Any]:
        """The filters as a mapping (given as one, or in the query's normalised form)."""
        return dict(self.filters or ())


def conversion_window(value: float, unit: str) -> dt.timedelta:
    """A conversion window from a number and a unit (second, minute, hour, day, week, month)."""
    check_choice("unit", unit, WINDOW_UNITS)
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"value must be a positive number, not {value!r}")
    return _UNIT_BY_NAME[unit] * value


_UNIT_BY_NAME: dict[str, dt.timedelta] = {str(name): delta for name, delta in WINDOW_UNITS.items()}


class FunnelQueryError(ValueError):
    """The arguments of a funnel have problems; ``problems`` lists each one, naming the argument.

    One problem is the message itself; several are listed, one a line.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: list[str] = list(problems)
        if len(self.problems) == 1:
            super().__init__(self.problems[0])
        else:
            listed = "\n- ".join(self.problems)
            super().__init__(f"{len(self.problems)} problems with this funnel:\n- {listed}")


def raise_problems(problems: Sequence[str]) -> None:
    """Raise one :class:`FunnelQueryError` listing ``problems`` (nothing when there are none)."""
    if problems:
        raise FunnelQueryError(problems)


T = TypeVar("T")


def _checked(problems: list[str], check: Callable[[], T]) -> T | None:
    """``check()``, or None with its complaint added to ``problems``."""
    try:
        return check()
    except (ValueError, TypeError) as exc:
        problems.append(str(exc))
        return None


@dataclass(frozen=True)
class FunnelQuery:
    """Everything that defines a funnel, checked once (the public functions build one).

    ``scope`` holds the date range, the reporting zone and the global property filters (events
    that do not match are dropped before any step is matched); each step and exclusion keeps its
    own filters. Equal funnels are equal (and hash alike), so a query is a cache key.
    """

    steps: tuple[Step, ...]
    window: dt.timedelta = dt.timedelta(days=14)
    order: Order = "ordered"
    exclusions: tuple[Exclusion, ...] = ()
    breakdown: str | None = None
    scope: Scope = Scope()

    @classmethod
    def build(
        cls,
        steps: Sequence[str | Step],
        *,
        window: dt.timedelta = dt.timedelta(days=14),
        order: str = "ordered",
        exclusions: Iterable[Exclusion] = (),
        breakdown: str | None = None,
        start: dt.date | dt.datetime | str | None = None,
        end: dt.date | dt.datetime | str | None = None,
        tz: str = "UTC",
        filters: Mapping[str, Any] | FilterItems | None = None,
        scope: Scope | None = None,
    ) -> FunnelQuery:
        """Check and normalise a funnel's arguments: every problem is reported at once, in one
        :class:`FunnelQueryError` (a ``ValueError``) naming each argument concerned.

        The date range, zone and global filters come as ``start``/``end``/``tz``/``filters`` or
        as one ``scope`` (not both).
        """
        problems: list[str] = []
        norm = _steps(steps, problems)
        steps_ok = not problems
        if not isinstance(window, dt.timedelta) or window <= dt.timedelta(0):
            problems.append(f"window must be a positive timedelta, not {window!r}")
        chosen = next((o for o in ORDERS if o == order), None)
        if chosen is None:
            problems.append(f"order must be one of {', '.join(map(repr, ORDERS))}, not {order!r}")
        if breakdown is not None and (not isinstance(breakdown, str) or not breakdown):
            problems.append(f"breakdown must be a property (column) name, not {breakdown!r}")
        where = _scope(problems, scope, start=start, end=end, tz=tz, filters=filters)
        excl = _exclusions(exclusions, norm if steps_ok else None, problems)
        raise_problems(problems)
        assert chosen is not None and where is not None
        return cls(
            steps=tuple(norm or ()),
            window=window,
            order=chosen,
            exclusions=excl,
            breakdown=breakdown,
            scope=where,
        )

    @property
    def start(self) -> dt.date | None:
        return self.scope.start

    @property
    def end(self) -> dt.date | None:
        return self.scope.end

    @property
    def tz(self) -> str:
        return self.scope.tz

    @property
    def filters(self) -> FilterItems:
        """The global property filters (every step's and exclusion's events must match them)."""
        return self.scope.filters

    @property
    def n_steps(self) -> int:
        return len(self.steps)

    @property
    def labels(self) -> list[str]:
        return [step.name for step in self.steps]

    @property
    def window_us(self) -> int:
        return self.window // dt.timedelta(microseconds=1)

    @property
    def resolved(self) -> tuple[tuple[int, int], ...]:
        """Each exclusion's (from_step, to_step), 0-based, the last step filled in."""
        last = self.n_steps - 1
        return tuple(
            (ex.from_step, last if ex.to_step is None else ex.to_step) for ex in self.exclusions
        )

    def between(self, start: dt.date, end: dt.date) -> FunnelQuery:
        """The same funnel over other days (the earlier range a chart compares with)."""
        return replace(self, scope=self.scope.between(start, end))

    def bounds_us(self) -> tuple[int | None, int | None]:
        """UTC microseconds [lo, hi) of the date range; None for an open side."""
        lo = hi = None
        if self.start is not None:
            lo = epoch_us(utc_bounds(self.start, self.start, self.tz)[0])
        if self.end is not None:
            hi = epoch_us(utc_bounds(self.end, self.end, self.tz)[1])
        return lo, hi

    def columns_needed(self) -> set[str]:
        """The columns the steps, exclusions and breakdown read (the scope checks its own)."""
        cols = {"user_id", "event", "timestamp"}
        for step in self.steps:
            cols |= set(step.filter_mapping)
        for ex in self.exclusions:
            cols |= set(ex.filter_mapping)
        if self.breakdown is not None:
            cols.add(self.breakdown)
        return cols


def epoch_us(value: dt.datetime) -> int:
    return (value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


def _steps(steps: Sequence[str | Step], problems: list[str]) -> list[Step] | None:
    """The steps in normal form (filters hashable), or None when ``steps`` is not a list."""
    if isinstance(steps, str | Step) or not isinstance(steps, Sequence):
        problems.append("steps must be a list of event names or Step objects")
        return None
    norm: list[Step] = []
    for i, step in enumerate(steps):
        if isinstance(step, str):
            norm.append(Step(step))
        elif isinstance(step, Step):
            if step.event is not None and not isinstance(step.event, str):
                problems.append(f"steps[{i}].event must be an event name or None")
            items = _filters(f"steps[{i}]", step.filters, problems)
            norm.append(Step(step.event, items or None, step.label))
        else:
            problems.append(f"steps[{i}] must be an event name or a Step, not {step!r}")
    if not steps:
        problems.append("steps must name at least one step")
    if len(steps) > MAX_STEPS:
        problems.append(f"steps: at most {MAX_STEPS} steps, not {len(steps)}")
    return norm


def _filters(owner: str, filters: StepFilters, problems: list[str]) -> FilterItems:
    """A step's or exclusion's filters in the one hashable form (``metrics.scope``)."""
    if filters is not None and not isinstance(filters, Mapping | tuple):
        problems.append(f"{owner}.filters must be a mapping property -> value(s), not {filters!r}")
        return ()
    try:
        return normalise_filters(filters)
    except (ValueError, TypeError) as exc:
        problems.append(f"{owner}.{exc}")
        return ()


def _scope(
    problems: list[str],
    scope: Scope | None,
    *,
    start: dt.date | dt.datetime | str | None,
    end: dt.date | dt.datetime | str | None,
    tz: str,
    filters: Mapping[str, Any] | FilterItems | None,
) -> Scope | None:
    """The scope given, or one from ``start``/``end``/``tz``/``filters``, each checked."""
    if scope is not None:
        if not isinstance(scope, Scope):
            problems.append(f"scope must be a metrics.scope.Scope, not {scope!r}")
        elif (start, end, tz, filters) != (None, None, "UTC", None):
            problems.append(
                "give the date range, zone and filters as scope or one by one, not both"
            )
        return scope
    first = None if start is None else _checked(problems, lambda: to_date(start, "start"))
    last = None if end is None else _checked(problems, lambda: to_date(end, "end"))
    if first is not None and last is not None and last < first:
        problems.append(f"end ({last}) is before start ({first})")
    _checked(problems, lambda: check_tz(tz))
    items = _checked(problems, lambda: normalise_filters(filters))
    return Scope(first, last, tz, items or ())


def _exclusions(
    exclusions: Iterable[Exclusion], steps: list[Step] | None, problems: list[str]
) -> tuple[Exclusion, ...]:
    """The exclusions in normal form; their step ranges checked when the steps are known."""
    if isinstance(exclusions, Exclusion | str) or not isinstance(exclusions, Iterable):
        problems.append(f"exclusions must be a list of Exclusion objects, not {exclusions!r}")
        return ()
    out: list[Exclusion] = []
    n = len(steps) if steps else 0
    for i, ex in enumerate(exclusions):
        if not isinstance(ex, Exclusion):
            problems.append(f"exclusions[{i}] must be an Exclusion, not {ex!r}")
            continue
        if not isinstance(ex.event, str) or not ex.event:
            problems.append(f"exclusions[{i}].event must be an event name")
        items = _filters(f"exclusions[{i}]", ex.filters, problems)
        out.append(Exclusion(ex.event, ex.from_step, ex.to_step, items or None))
        if not steps:
            continue
        lo = ex.from_step
        hi = n - 1 if ex.to_step is None else ex.to_step
        if not isinstance(lo, int) or not isinstance(hi, int) or not 0 <= lo < hi <= n - 1:
            problems.append(
                f"exclusions[{i}]: from_step ({ex.from_step}) and to_step ({ex.to_step}) "
                f"must be 0-based step indices with from_step < to_step <= {n - 1}"
            )
        for j, step in enumerate(steps):
            if step.event == ex.event and _as_sets(step.filters) == _as_sets(items):
                problems.append(
                    f"exclusions[{i}]: {ex.event!r} with these filters is step {j + 1} itself"
                )
    return tuple(out)


def _as_sets(items: StepFilters) -> dict[str, Any]:
    """Normalised filters with each list of values as a set (the order of values means nothing)."""
    return {
        column: frozenset(map(repr, v)) if isinstance(v, tuple) else v
        for column, v in dict(items or ()).items()
    }


# --------------------------------------------------------------------------------------------------
# The arguments of one function only


def step_range_problems(query: FunnelQuery, from_step: int, to_step: int | None) -> list[str]:
    """Problems with ``from_step``/``to_step`` (1-based; ``to_step=None``: the last step)."""
    n = query.n_steps
    hi = n if to_step is None else to_step
    problems = []
    if not isinstance(from_step, int) or not 1 <= from_step <= n:
        problems.append(f"from_step must be a step number between 1 and {n}, not {from_step!r}")
    elif not isinstance(hi, int) or not from_step <= hi <= n:
        problems.append(
            f"to_step must be a step number between {from_step} and {n}, not {to_step!r}"
        )
    return problems


def steps_between(query: FunnelQuery, from_step: int, to_step: int | None) -> tuple[int, int]:
    """(from_step, to_step) with the last step filled in (after :func:`step_range_problems`)."""
    return from_step, query.n_steps if to_step is None else to_step


def trend_problems(
    query: FunnelQuery, interval: str, week_start: str, from_step: int, to_step: int | None
) -> list[str]:
    """Problems with :func:`~metrics.funnels.funnel_trends`' own arguments."""
    problems: list[str] = []
    _checked(problems, lambda: check_choice("interval", interval, INTERVALS))
    _checked(problems, lambda: check_choice("week_start", week_start, WEEK_STARTS))
    return problems + step_range_problems(query, from_step, to_step)


def histogram_problems(
    query: FunnelQuery, from_step: int, to_step: int | None, bins: int | None
) -> list[str]:
    """Problems with :func:`~metrics.funnels.time_to_convert`'s own arguments."""
    problems = step_range_problems(query, from_step, to_step)
    if not problems and from_step == steps_between(query, from_step, to_step)[1]:
        problems.append("to_step must come after from_step to measure a time to convert")
    if bins is not None and (not isinstance(bins, int) or bins < 1):
        problems.append(f"bins must be a positive number of bins, not {bins!r}")
    return problems


def drop_step_problems(query: FunnelQuery, step: int) -> list[str]:
    """Problems with the ``step`` users drop off on the way to (2..n)."""
    n = query.n_steps
    if not isinstance(step, int) or isinstance(step, bool) or not 2 <= step <= n:
        return [
            f"step must be a step number between 2 and {n} (users drop off on the way to a "
            f"step), not {step!r}"
        ]
    return []


def next_event_problems(
    query: FunnelQuery, step: int, top: int, ignore: Iterable[str]
) -> list[str]:
    """Problems with :func:`~metrics.funnels.next_events_after_drop`'s own arguments.

    ``ignore`` given as one string is a ``TypeError`` (a list of names was meant).
    """
    if isinstance(ignore, str):
        raise TypeError(f"ignore must be a list of event names, not the string {ignore!r}")
    problems = drop_step_problems(query, step)
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        problems.append(f"top must be a positive number of events, not {top!r}")
    return problems
