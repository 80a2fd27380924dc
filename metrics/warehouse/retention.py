"""Retention and revenue retention compiled to SQL, from the Polars path's own query.

The planner receives the same :class:`~metrics.retention.RetentionQuery` and
:class:`~metrics.retention.PeriodGrid` the Polars path builds, and the engine reduces the events
to one row per (cohort, offset) cell and one per cohort: users retained (or paying, and revenue)
and cohort sizes. The finishing steps that need no events (the retained matrix and its
``on_or_after`` running sums, rates, Wilson intervals, incomplete cells, revenue per user) are
the Polars path's own functions, so the semantics are not written twice.

The statement mirrors ``metrics.retention`` step by step:

- ``ev``: the relevant events (``metrics.retention.rows.relevant_rows``): in the window
  [first period start, end of the last period) and a start or return (or revenue) event; for
  ``first_time`` also every earlier start event, since all history decides whose start is their
  first ever. The scope's filters apply to all (``filter_condition``, the SQL form of
  ``Scope.keep``).
- ``pr``: each event's period index (local calendar period minus the first one's number) and,
  for rolling periods, its *bucket* and *position*: elapsed 24h/7×24h slices since the window
  start and the time into the slice, or for months the local calendar month and the wall-clock
  time into it. A rolling offset is then ``bucket(r) - bucket(t) - [position(r) < position(t)]``,
  which is floor((r - t) / unit) for days and weeks and MySQL's TIMESTAMPDIFF(MONTH, t, r) on
  local times for months (the bucket formulation of ``metrics.retention.rolling``).
- ``co``: the cohorts (``metrics.retention.rows.cohorts``): every (user, period) with a start
  for ``recurring``, the period of the first-ever start for ``first_time``; ``t`` is the start
  that put them there.
- cells: calendar returns joined to cohorts by user (distinct (user, period) pairs, or each
  user's last return period for ``on_or_after``); rolling returns thinned to the earliest and
  latest position per (user, bucket) as in ``metrics.retention.rolling``.

Cohort sizes travel in the same result as rows with ``k = -1`` (:data:`SIZE_ROW`), so the events
are read once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import polars as pl

from metrics.warehouse.parts import (
    DAY_US,
    WEEK_SHIFT,
    day_of,
    day_of_month,
    event_condition,
    filter_condition,
    local_us,
    period_of_day,
    source,
)
from metrics.warehouse.relation import Plan, Relation, Sql

if TYPE_CHECKING:
    from metrics.retention.query import PeriodGrid, RetentionQuery

#: ``k`` of the result rows that carry a cohort's size rather than a cell.
SIZE_ROW = -1
_UNIT_US = {"day": DAY_US, "week": 7 * DAY_US}
_EPOCH_ORDINAL = 719_163  # dt.date(1970, 1, 1).toordinal()


def retention_plan(
    relation: Relation,
    query: RetentionQuery,
    grid: PeriodGrid,
    finish: Callable[[list[pl.DataFrame]], Any],
) -> Plan:
    """Users per cohort (``k = -1``) and per cell (c, k >= 1) of a retention table."""
    c = _Compiler(relation, query, grid, revenue_column=None)
    cells = c.calendar_cells() if query.periods == "calendar" else c.rolling_cells()
    d = c.d
    text = (
        f"WITH {', '.join(c.ctes)} "
        f"SELECT {d.to_bigint('ci')} AS c, {d.to_bigint(str(SIZE_ROW))} AS k, "
        f"{d.to_bigint('COUNT(*)')} AS users FROM co GROUP BY ci "
        f"UNION ALL {cells}"
    )
    return Plan((c.sql.statement(text),), finish)


def revenue_plan(
    relation: Relation,
    query: RetentionQuery,
    grid: PeriodGrid,
    finish: Callable[[list[pl.DataFrame]], Any],
) -> Plan:
    """Cohort sizes (``k = -1``), and revenue and paying users per cell (c, k >= 0)."""
    relation.require([query.revenue_column], "revenue_column")
    c = _Compiler(relation, query, grid, revenue_column=query.revenue_column)
    cells = c.calendar_revenue() if query.periods == "calendar" else c.rolling_revenue()
    d = c.d
    text = (
        f"WITH {', '.join(c.ctes)} "
        f"SELECT {d.to_bigint('ci')} AS c, {d.to_bigint(str(SIZE_ROW))} AS k, "
        f"{d.to_bigint('COUNT(*)')} AS users, {d.to_double('0')} AS revenue "
        f"FROM co GROUP BY ci "
        f"UNION ALL {cells}"
    )
    return Plan((c.sql.statement(text),), finish)


def split_sizes(frame: pl.DataFrame, users_as: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cells, sizes) of a result: cells with ``c``, ``k``, ``users_as`` [, ``revenue``] and
    sizes with ``c``, ``len``, typed as the Polars path's own intermediate frames."""
    typed = frame.with_columns(
        pl.col("c").cast(pl.Int32), pl.col("k").cast(pl.Int32), pl.col("users").cast(pl.Int64)
    )
    if "revenue" in typed.columns:
        typed = typed.with_columns(pl.col("revenue").cast(pl.Float64))
    sizes = typed.filter(pl.col("k") == SIZE_ROW).select("c", pl.col("users").alias("len"))
    cells = typed.filter(pl.col("k") != SIZE_ROW).rename({"users": users_as})
    if "revenue" in cells.columns:
        cells = cells.select("c", "k", "revenue", users_as)
    return cells, sizes


class _Compiler:
    """The common table expressions of one statement, built from the query and grid."""

    def __init__(
        self,
        relation: Relation,
        query: RetentionQuery,
        grid: PeriodGrid,
        *,
        revenue_column: str | None,
    ) -> None:
        relation.require([column for column, _ in query.filters], "filters")
        self.sql = Sql(relation)
        self.d = relation.dialect
        self.query = query
        self.grid = grid
        self.lo = self.sql.value(grid.lo_us)
        self.hi = self.sql.value(grid.hi_us)
        self.last = grid.n - 1
        self.ctes: list[str] = []
        self._events(revenue_column)
        self._periods(revenue=revenue_column is not None)
        self._cohorts()

    # -- pieces ----------------------------------------------------------------------------------

    def local(self, ts: str) -> str:
        return local_us(self.d, ts, self.query.tz)

    def index_of_local(self, local: str) -> str:
        """The cohort period index (0 = the period holding ``start``) of a local time."""
        p = self.query
        number = period_of_day(self.d, day_of(self.d, local), p.interval, p.week_start)
        return f"({number} - {_period_number(self.grid.starts[0], p.interval, p.week_start)})"

    def bucket(self, ts: str, local: str, index: str) -> tuple[str, str]:
        """(bucket, position) of an instant, for the rolling offsets (see the module notes).

        For months the bucket is the local calendar month, which is the period ``index``.
        """
        d = self.d
        if self.query.interval == "month":
            day = day_of(d, local)
            position = f"(({day_of_month(d, day)} - 1) * {DAY_US} + {d.mod(local, DAY_US)})"
            return index, position
        unit = _UNIT_US[self.query.interval]
        since = f"{ts} - {self.lo}"
        return d.idiv(since, unit), d.mod(since, unit)

    # -- the events, their periods, the cohorts --------------------------------------------------

    def _events(self, revenue_column: str | None) -> None:
        sql, p, q = self.sql, self.query, self.sql.q
        ts = q("ts_us")
        start = event_condition(sql, p.start_event)
        if revenue_column is None:
            other = event_condition(sql, p.return_event)
        else:
            other = f"{q(revenue_column)} IS NOT NULL"
        if p.retention_type == "first_time":
            wanted = f"(({start}) OR ({ts} >= {self.lo} AND ({other})))"
        else:
            wanted = f"({ts} >= {self.lo} AND (({start}) OR ({other})))"
        keep = [f"{ts} < {self.hi}", f"{q('user_id')} IS NOT NULL", wanted]
        if p.filters:
            keep.append(filter_condition(sql, p.filters))
        columns = [
            f"{q('user_id')} AS uid",
            f"{ts} AS t_us",
            f"CASE WHEN {start} THEN 1 ELSE 0 END AS is_s",
            f"CASE WHEN {ts} >= {self.lo} THEN 1 ELSE 0 END AS in_w",
        ]
        if revenue_column is None:
            columns.append(f"CASE WHEN {ts} >= {self.lo} AND {other} THEN 1 ELSE 0 END AS is_r")
        else:
            columns.append(f"{self.d.to_double(q(revenue_column))} AS rev")
        self.ctes.append(
            f"ev AS (SELECT {', '.join(columns)} FROM {source(sql)} AS e "
            f"WHERE {' AND '.join(keep)})"
        )

    def _periods(self, *, revenue: bool) -> None:
        flag = "rev" if revenue else "is_r"
        self.ctes.append(
            f"lw AS (SELECT uid, t_us, is_s, {flag}, {self.local('t_us')} AS lt "
            "FROM ev WHERE in_w = 1)"
        )
        columns = ["uid", "t_us", "is_s", flag]
        self.ctes.append(
            f"px AS (SELECT {', '.join(columns)}, lt, {self.index_of_local('lt')} AS idx FROM lw)"
        )
        columns.append("idx")
        if self.query.periods == "rolling":
            bucket, position = self.bucket("t_us", "lt", "idx")
            columns += [f"{bucket} AS b", f"{position} AS p"]
        self.ctes.append(f"pr AS (SELECT {', '.join(columns)} FROM px)")
        if self.query.periods == "calendar":
            # One pass groups each user's events by period: starts, returns (or revenue) at once.
            other = "SUM(rev) AS rs" if revenue else "MAX(is_r) AS any_r"
            self.ctes.append(
                f"up AS (SELECT uid, idx, MAX(is_s) AS any_s, {other} FROM pr GROUP BY uid, idx)"
            )

    def _cohorts(self) -> None:
        if self.query.retention_type == "recurring" and self.query.periods == "calendar":
            self.ctes.append("co AS (SELECT uid, idx AS ci FROM up WHERE any_s = 1)")
        elif self.query.retention_type == "recurring":
            self.ctes.append(
                "co AS (SELECT uid, idx AS ci, MIN(t_us) AS t FROM pr "
                "WHERE is_s = 1 GROUP BY uid, idx)"
            )
        else:
            self.ctes.append(
                f"fs AS (SELECT uid, MIN(t_us) AS t FROM ev WHERE is_s = 1 GROUP BY uid), "
                f"co AS (SELECT uid, {self.index_of_local(self.local('t'))} AS ci, t "
                f"FROM fs WHERE t >= {self.lo})"
            )
        if self.query.periods == "rolling":
            bucket, position = self.bucket("t", "tl", "ci")
            self.ctes.append(
                f"cm AS (SELECT uid, ci, t, {bucket} AS g, {position} AS pt FROM "
                f"(SELECT uid, ci, t, {self.local('t')} AS tl FROM co) AS x)"
            )

    # -- cells -----------------------------------------------------------------------------------

    def calendar_cells(self) -> str:
        """Users of cohort c who returned in period c + k (or whose last return is there)."""
        if self.query.mode == "exact":
            returns = "SELECT uid, idx AS ri FROM up WHERE any_r = 1"
        else:
            returns = "SELECT uid, MAX(idx) AS ri FROM up WHERE any_r = 1 GROUP BY uid"
        self.ctes.append(f"rt AS ({returns})")
        self.ctes.append(
            "ck AS (SELECT co.ci AS ci, rt.ri - co.ci AS ki FROM co "
            "JOIN rt ON co.uid = rt.uid WHERE rt.ri > co.ci)"
        )
        return self._counted("ck", "COUNT(*)")

    def rolling_cells(self) -> str:
        """Users of cohort c with a return at rolling offset k (or whose last one is there)."""
        self.ctes.append(
            "bk AS (SELECT uid, b, MIN(p) AS p_min, MAX(p) AS p_max FROM pr "
            "WHERE is_r = 1 GROUP BY uid, b)"
        )
        self.ctes.append(
            "jb AS (SELECT cm.uid AS uid, cm.ci AS ci, bk.b - cm.g AS k0, "
            "CASE WHEN bk.p_max >= cm.pt THEN 1 ELSE 0 END AS late, "
            "CASE WHEN bk.p_min < cm.pt THEN 1 ELSE 0 END AS early "
            "FROM cm JOIN bk ON cm.uid = bk.uid)"
        )
        # A return in the start's own window is offset 0 (the cohort itself); the triangle ends
        # where the period holding `end` ends.
        self.ctes.append(
            "kb AS (SELECT uid, ci, k0 AS ki FROM jb WHERE late = 1 "
            "UNION ALL SELECT uid, ci, k0 - 1 AS ki FROM jb WHERE early = 1)"
        )
        inside = f"ki >= 1 AND ci + ki <= {self.last}"
        if self.query.mode == "exact":
            self.ctes.append(f"ck AS (SELECT uid, ci, ki FROM kb WHERE {inside})")
            return self._counted("ck", self.d.count_distinct("uid"))
        self.ctes.append(
            f"ck AS (SELECT uid, ci, MAX(ki) AS km FROM kb WHERE {inside} GROUP BY uid, ci)"
        )
        return self._counted("ck", "COUNT(*)", k="km")

    def calendar_revenue(self) -> str:
        """Revenue of cohort c's users in period c + k, and how many of them had revenue > 0."""
        self.ctes.append("mo AS (SELECT uid, idx AS ri, rs FROM up WHERE rs IS NOT NULL)")
        self.ctes.append(
            "ck AS (SELECT co.ci AS ci, mo.ri - co.ci AS ki, mo.rs AS rs FROM co "
            "JOIN mo ON co.uid = mo.uid WHERE mo.ri >= co.ci)"
        )
        return self._money("ck", "CASE WHEN rs > 0 THEN 1 ELSE 0 END")

    def rolling_revenue(self) -> str:
        """Revenue at rolling offset k from each user's start (none before the start)."""
        self.ctes.append("mo AS (SELECT uid, t_us, b, p, rev FROM pr WHERE rev IS NOT NULL)")
        diff = "(mo.b - cm.g)"
        offset = (
            f"CASE WHEN {diff} >= 0 "
            f"THEN {diff} - CASE WHEN {diff} > 0 AND mo.p < cm.pt THEN 1 ELSE 0 END "
            f"ELSE {diff} + CASE WHEN mo.p > cm.pt THEN 1 ELSE 0 END END"
        )
        self.ctes.append(
            f"jr AS (SELECT cm.uid AS uid, cm.ci AS ci, {offset} AS ki, mo.rev AS rev "
            "FROM cm JOIN mo ON cm.uid = mo.uid WHERE mo.t_us >= cm.t)"
        )
        self.ctes.append(
            "ck AS (SELECT uid, ci, ki, SUM(rev) AS rs, "
            "MAX(CASE WHEN rev > 0 THEN 1 ELSE 0 END) AS paid FROM jr "
            f"WHERE ki >= 0 AND ci + ki <= {self.last} GROUP BY uid, ci, ki)"
        )
        return self._money("ck", "paid")

    def _counted(self, table: str, count: str, *, k: str = "ki") -> str:
        d = self.d
        return (
            f"SELECT {d.to_bigint('ci')} AS c, {d.to_bigint(k)} AS k, "
            f"{d.to_bigint(count)} AS users FROM {table} GROUP BY ci, {k}"
        )

    def _money(self, table: str, paid: str) -> str:
        d = self.d
        return (
            f"SELECT {d.to_bigint('ci')} AS c, {d.to_bigint('ki')} AS k, "
            f"{d.to_bigint(f'SUM({paid})')} AS users, {d.to_double('SUM(rs)')} AS revenue "
            f"FROM {table} GROUP BY ci, ki"
        )


def _period_number(day: dt.date, interval: str, week_start: str) -> int:
    """The number ``parts.period_of_day`` gives the period holding ``day`` (a date)."""
    number = day.toordinal() - _EPOCH_ORDINAL
    if interval == "day":
        return int(number)
    if interval == "week":
        return int((number + WEEK_SHIFT[week_start]) // 7)
    return int(day.year * 12 + day.month - 1)
