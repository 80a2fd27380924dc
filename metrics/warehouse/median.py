"""An exact median in portable SQL, equal to Polars' (the mean of the two middle values).

Engines disagree on medians: PERCENTILE_CONT is missing on ClickHouse and Spark (their
``median``/``percentile_approx`` approximate), and sqlglot turns exact medians into approximate
ones on Spark and Trino. Ranking the values with ROW_NUMBER and COUNT windows and averaging the
middle one or two is exact everywhere. Two layers: :func:`ranks` in the rows' SELECT, then
:func:`median` in the aggregate over them.
"""

from __future__ import annotations

from collections.abc import Sequence

from metrics.warehouse.dialect import Dialect


def ranks(value: str, partition: Sequence[str]) -> tuple[str, str]:
    """(position, count) window expressions: a non-null value's 1-based rank within its group
    (NULLs last, so they never sit in the middle) and the group's count of non-null values."""
    by = f"PARTITION BY {', '.join(partition)} " if partition else ""
    nulls_last = f"CASE WHEN {value} IS NULL THEN 1 ELSE 0 END"
    position = f"ROW_NUMBER() OVER ({by}ORDER BY {nulls_last}, {value})"
    count = f"COUNT({value}) OVER ({by[:-1] if by else ''})"
    return position, count


def median(d: Dialect, value: str, position: str, count: str) -> str:
    """The aggregate: the mean of the middle value(s) given the columns :func:`ranks` made
    (NULL for a group without values)."""
    low = d.idiv(f"{count} + 1", 2)
    high = d.idiv(f"{count} + 2", 2)
    middle = f"CASE WHEN {position} = {low} OR {position} = {high} THEN {value} END"
    return d.to_double(f"AVG({middle})")
