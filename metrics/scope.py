"""The shared part of every family's query: which days, in which zone, over which events.

The sidebar's date range, reporting zone and property filters mean the same thing on every page, so
they are one frozen value, :class:`Scope`, that each family's query object (``EngagementQuery``,
``RetentionQuery``, ``FunnelQuery``, ``ExperimentQuery``, ``KpiQuery``) carries as its ``scope``.
A property filter keeps the events whose property matches and drops the rest *before* a family
counts anything (docs/metrics.md, "Filters"); :meth:`Scope.keep` is that rule for a Polars frame
and :func:`metrics.warehouse.parts.filter_condition` the same rule in SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from metrics._common import check_filters, check_tz, filter_expr, to_date

#: Property filters in their one hashable form: ``((column, value or tuple of values), ...)``,
#: sorted by column; a tuple means membership, a scalar equality.
FilterItems = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Scope:
    """The inclusive local-date range ``start..end`` (either may be open), the reporting zone and
    the property filters. Hashable, so a query that carries it can key a cache."""

    start: dt.date | None = None
    end: dt.date | None = None
    tz: str = "UTC"
    filters: FilterItems = ()

    @classmethod
    def build(
        cls,
        *,
        start: dt.date | dt.datetime | str | None = None,
        end: dt.date | dt.datetime | str | None = None,
        tz: str = "UTC",
        filters: Mapping[str, Any] | FilterItems | None = None,
    ) -> Scope:
        """A checked scope; ``ValueError`` names the argument that is wrong."""
        first = None if start is None else to_date(start, "start")
        last = None if end is None else to_date(end, "end")
        if first is not None and last is not None and last < first:
            raise ValueError(f"end ({last}) is before start ({first})")
        check_tz(tz)
        return cls(first, last, tz, normalise_filters(filters))

    def with_filters(self, filters: Mapping[str, Any] | FilterItems | None) -> Scope:
        return replace(self, filters=normalise_filters(filters))

    def between(self, start: dt.date, end: dt.date) -> Scope:
        """The same zone and filters over other days (the earlier range a chart compares with)."""
        return replace(self, start=start, end=end)

    def undated(self) -> Scope:
        """The same zone and filters over every day (what a question read over the whole log,
        such as an experiment or a user's active days, is keyed by)."""
        return replace(self, start=None, end=None)

    @property
    def filter_mapping(self) -> dict[str, Any]:
        """The filters as the mapping ``metrics._common.filter_expr`` takes (tuples as lists)."""
        return {column: list(v) if isinstance(v, tuple) else v for column, v in self.filters}

    @property
    def filters_or_none(self) -> dict[str, Any] | None:
        """The filters as the public functions' ``filters=`` keyword takes them."""
        return self.filter_mapping or None

    def condition(self) -> pl.Expr:
        """True for the events the filters keep."""
        return filter_expr(self.filter_mapping)

    def keep(self, events: pl.LazyFrame, argument: str = "filters") -> pl.LazyFrame:
        """The events the filters keep; ``ValueError`` names a column the events lack, or a value
        that can never match the column's type."""
        if not self.filters:
            return events
        check_filters(events.collect_schema(), self.filter_mapping, argument)
        return events.filter(self.condition())


def normalise_filters(filters: Mapping[str, Any] | FilterItems | None) -> FilterItems:
    """The one hashable form of property filters (see :data:`FilterItems`).

    Lists, tuples and sets become sorted tuples without repeats (so equal filters are equal
    keys); columns are sorted. ``ValueError`` when ``filters`` is not a mapping of text names.
    """
    if filters is None:
        return ()
    if isinstance(filters, tuple):
        filters = dict(filters)
    if not isinstance(filters, Mapping):
        raise ValueError(
            f"filters must be a mapping property -> value(s), not {type(filters).__name__}"
        )
    out: list[tuple[str, Any]] = []
    for column, wanted in filters.items():
        if not isinstance(column, str):
            raise ValueError(f"filters: property names are strings, not {column!r}")
        if isinstance(wanted, list | tuple | set | frozenset):
            # Membership: the order never matters, so equal filters make one cache key.
            out.append((column, tuple(sorted(set(wanted), key=repr))))
        else:
            out.append((column, wanted))
    return tuple(sorted(out, key=lambda item: item[0]))
