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

On ClickHouse (``Dialect.pairs_in_user_arrays``), which evaluates a CTE at each of its
references, cohorts and returns do not meet in a join: ``us`` gathers each user's cohorts and
returns (the same per-period and per-bucket aggregates as ``co``, ``up`` and ``bk``) into arrays
in one GROUP BY, ``co`` unrolls a row per cohort with ``ARRAY JOIN``, and the cells, filtered and
offset by the same rule functions as the join's, are unrolled from it beside the cohort's own
``k = -1`` row. One reading of the events, as ClickHouse's own retention queries do.
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
    if c.arrays:
        return Plan((c.sql.statement(f"WITH {', '.join(c.ctes)} {cells}"),), finish)
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
    if c.arrays:
        return Plan((c.sql.statement(f"WITH {', '.join(c.ctes)} {cells}"),), finish)
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
    """The common table expressions of one statement, built from the query and grid.

    Two shapes pair a user's cohorts with their returns (:attr:`Dialect.pairs_in_user_arrays
    <metrics.warehouse.dialect.Dialect.pairs_in_user_arrays>`): a join of a table of cohorts
    with a table of returns on the user, or one row per user holding both as arrays, unrolled
    per cohort. Both apply the same rules (the ``_`` functions after this class) to the same
    events and periods (``ev``, ``pr``).
    """

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
        self.arrays = self.d.pairs_in_user_arrays
        self.query = query
        self.grid = grid
        self.lo = self.sql.value(grid.lo_us)
        self.hi = self.sql.value(grid.hi_us)
        self.last = grid.n - 1
        self.ctes: list[str] = []
        self._events(revenue_column)
        self._periods(revenue=revenue_column is not None)
        if not self.arrays:
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

    def inside(self, ki: str, ci: str, first: int) -> str:
        """Offset ``ki`` of cohort ``ci`` is a cell: from ``first`` on, and the triangle ends
        where the period holding ``end`` ends."""
        return f"{ki} >= {first} AND {ci} + {ki} <= {self.last}"

    def first_cohort(self, t: str) -> tuple[str, str]:
        """(cohort index, condition) of a user whose first-ever start was at ``t``: only a
        first start inside the window makes a cohort."""
        return self.index_of_local(self.local(t)), f"{t} >= {self.lo}"

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
        columns = ["uid", "t_us", "is_s", flag]
        if self.arrays:
            # One pass over every event, the first-ever starts before the window included:
            # ``in_w`` tells the window's events apart.
            columns.append("in_w")
            self.ctes.append(
                f"lw AS (SELECT {', '.join(columns)}, {self.local('t_us')} AS lt FROM ev)"
            )
        else:
            self.ctes.append(
                f"lw AS (SELECT {', '.join(columns)}, {self.local('t_us')} AS lt "
                "FROM ev WHERE in_w = 1)"
            )
        self.ctes.append(
            f"px AS (SELECT {', '.join(columns)}, lt, {self.index_of_local('lt')} AS idx FROM lw)"
        )
        columns.append("idx")
        if self.query.periods == "rolling":
            bucket, position = self.bucket("t_us", "lt", "idx")
            columns += [f"{bucket} AS b", f"{position} AS p"]
        self.ctes.append(f"pr AS (SELECT {', '.join(columns)} FROM px)")
        if self.query.periods == "calendar" and not self.arrays:
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
            ci, started = self.first_cohort("t")
            self.ctes.append(
                f"fs AS (SELECT uid, MIN(t_us) AS t FROM ev WHERE is_s = 1 GROUP BY uid), "
                f"co AS (SELECT uid, {ci} AS ci, t FROM fs WHERE {started})"
            )
        if self.query.periods == "rolling":
            self._moments([])

    def _moments(self, carried: list[str]) -> None:
        """``cm``: each cohort's start ``t`` as a rolling bucket ``g`` and position ``pt``."""
        bucket, position = self.bucket("t", "tl", "ci")
        kept = "".join(f", {name}" for name in carried)
        self.ctes.append(
            f"cm AS (SELECT uid, ci, t, {bucket} AS g, {position} AS pt{kept} FROM "
            f"(SELECT uid, ci, t{kept}, {self.local('t')} AS tl FROM co) AS x)"
        )

    # -- cells -----------------------------------------------------------------------------------

    def calendar_cells(self) -> str:
        """Users of cohort c who returned in period c + k (or whose last return is there)."""
        if self.arrays:
            returns = "groupUniqArrayIf(idx, is_r = 1)"
            if self.query.retention_type == "recurring" and (
                self.query.start_event == self.query.return_event
            ):
                # Every event is in the window and starts iff it returns: the periods a user
                # started in are the ones they returned in (one array, not two).
                returns = "cs"
            if self.query.mode == "on_or_after":
                returns = _last(returns)
            self._user_rows({"rs": returns})
            cells = _map("r", _offset("r", "ci"), _filter("r", _returned("r", "ci"), "rs"))
            self.ctes.append(f"ck AS (SELECT ci, ki FROM co {_unrolled(cells, 'ki')})")
            return self._counted("ck", "COUNT(*)")
        if self.query.mode == "exact":
            returns = "SELECT uid, idx AS ri FROM up WHERE any_r = 1"
        else:
            returns = "SELECT uid, MAX(idx) AS ri FROM up WHERE any_r = 1 GROUP BY uid"
        self.ctes.append(f"rt AS ({returns})")
        self.ctes.append(
            f"ck AS (SELECT co.ci AS ci, {_offset('rt.ri', 'co.ci')} AS ki FROM co "
            f"JOIN rt ON co.uid = rt.uid WHERE {_returned('rt.ri', 'co.ci')})"
        )
        return self._counted("ck", "COUNT(*)")

    def rolling_cells(self) -> str:
        """Users of cohort c with a return at rolling offset k (or whose last one is there)."""
        if self.arrays:
            # The events first reduced per (user, period, bucket), with plain aggregates (a -Map
            # aggregate per event cost 2x the join's CPU): the earliest start, and the earliest
            # and latest return position, as ``co`` and ``bk`` below. Then in the user's row
            # bn.1 (= bx.1) are the buckets, bn.2 and bx.2 those positions.
            self.ctes.append(
                "ub AS (SELECT uid, idx, b, minIf(t_us, is_s = 1) AS t_s, MAX(is_s) AS s, "
                "minIf(p, is_r = 1) AS p_min, maxIf(p, is_r = 1) AS p_max, MAX(is_r) AS r "
                "FROM pr GROUP BY uid, idx, b)"
            )
            self._user_rows(
                {"bn": "minMapIf([b], [p_min], r = 1)", "bx": "maxMapIf([b], [p_max], r = 1)"},
                rows="ub",
                started="s",
                at="t_s",
            )
            late = _map(
                "b", _late_offset("b", "g"), _filter("(b, h)", _late("h", "pt"), "bn.1, bx.2")
            )
            early = _map(
                "b", _early_offset("b", "g"), _filter("(b, l)", _early("l", "pt"), "bn.1, bn.2")
            )
            ks = _filter("k", self.inside("k", "ci", 1), f"arrayConcat({late}, {early})")
            ks = f"arrayDistinct({ks})" if self.query.mode == "exact" else _last(ks)
            self.ctes.append(f"ck AS (SELECT ci, ki FROM cm {_unrolled(ks, 'ki')})")
            return self._counted("ck", "COUNT(*)")
        self.ctes.append(
            "bk AS (SELECT uid, b, MIN(p) AS p_min, MAX(p) AS p_max FROM pr "
            "WHERE is_r = 1 GROUP BY uid, b)"
        )
        self.ctes.append(
            f"jb AS (SELECT cm.uid AS uid, cm.ci AS ci, {_late_offset('bk.b', 'cm.g')} AS k0, "
            f"CASE WHEN {_late('bk.p_max', 'cm.pt')} THEN 1 ELSE 0 END AS late, "
            f"CASE WHEN {_early('bk.p_min', 'cm.pt')} THEN 1 ELSE 0 END AS early "
            "FROM cm JOIN bk ON cm.uid = bk.uid)"
        )
        # A return in the start's own window is offset 0 (the cohort itself); the triangle ends
        # where the period holding `end` ends.
        self.ctes.append(
            "kb AS (SELECT uid, ci, k0 AS ki FROM jb WHERE late = 1 "
            "UNION ALL SELECT uid, ci, k0 - 1 AS ki FROM jb WHERE early = 1)"
        )
        inside = self.inside("ki", "ci", 1)
        if self.query.mode == "exact":
            self.ctes.append(f"ck AS (SELECT uid, ci, ki FROM kb WHERE {inside})")
            return self._counted("ck", self.d.count_distinct("uid"))
        self.ctes.append(
            f"ck AS (SELECT uid, ci, MAX(ki) AS km FROM kb WHERE {inside} GROUP BY uid, ci)"
        )
        return self._counted("ck", "COUNT(*)", k="km")

    def calendar_revenue(self) -> str:
        """Revenue of cohort c's users in period c + k, and how many of them had revenue > 0."""
        if self.arrays:
            # Summed per period in the user's row; the count keeps a period whose sum is 0.
            self._user_rows(
                {"ms": "sumMapIf([idx], [assumeNotNull(rev)], [1], in_w = 1 AND rev IS NOT NULL)"}
            )
            periods = "arrayZip(ms.1, ms.2)"
            cells = _map(
                "m",
                f"({_offset('m.1', 'ci')}, {_paid('m.2')}, m.2)",
                _filter("m", _paid_from("m.1", "ci"), periods),
            )
            self.ctes.append(
                "ck AS (SELECT ci, x.1 AS ki, x.2 AS paid, x.3 AS rs FROM co "
                f"{_unrolled(cells, 'x', size='(-1, 1, 0.0)')})"
            )
            return self._money("ck", "paid")
        self.ctes.append("mo AS (SELECT uid, idx AS ri, rs FROM up WHERE rs IS NOT NULL)")
        self.ctes.append(
            f"ck AS (SELECT co.ci AS ci, {_offset('mo.ri', 'co.ci')} AS ki, mo.rs AS rs FROM co "
            f"JOIN mo ON co.uid = mo.uid WHERE {_paid_from('mo.ri', 'co.ci')})"
        )
        return self._money("ck", _paid("rs"))

    def rolling_revenue(self) -> str:
        """Revenue at rolling offset k from each user's start (none before the start)."""
        if self.arrays:
            money = "(t_us, b, p, assumeNotNull(rev))"
            self._user_rows({"ms": f"groupArrayIf({money}, in_w = 1 AND rev IS NOT NULL)"})
            offsets = _map(
                "m",
                f"({_revenue_offset('m.2', 'm.3', 'g', 'pt')}, m.4)",
                _filter("m", _after_start("m.1", "t"), "ms"),
            )
            cells = _map(
                "m",
                f"(m.1, m.2, {_paid('m.2')})",
                _filter("m", self.inside("m.1", "ci", 0), offsets),
            )
            self.ctes.append(
                "jr AS (SELECT uid, ci, x.1 AS ki, x.2 AS rev, x.3 AS paid FROM cm "
                f"{_unrolled(cells, 'x', size='(-1, 0.0, 1)')})"
            )
            self.ctes.append(
                "ck AS (SELECT uid, ci, ki, SUM(rev) AS rs, MAX(paid) AS paid FROM jr "
                "GROUP BY uid, ci, ki)"
            )
            return self._money("ck", "paid")
        self.ctes.append("mo AS (SELECT uid, t_us, b, p, rev FROM pr WHERE rev IS NOT NULL)")
        offset = _revenue_offset("mo.b", "mo.p", "cm.g", "cm.pt")
        self.ctes.append(
            f"jr AS (SELECT cm.uid AS uid, cm.ci AS ci, {offset} AS ki, mo.rev AS rev "
            f"FROM cm JOIN mo ON cm.uid = mo.uid WHERE {_after_start('mo.t_us', 'cm.t')})"
        )
        self.ctes.append(
            f"ck AS (SELECT uid, ci, ki, SUM(rev) AS rs, MAX({_paid('rev')}) AS paid FROM jr "
            f"WHERE {self.inside('ki', 'ci', 0)} GROUP BY uid, ci, ki)"
        )
        return self._money("ck", "paid")

    # -- one row per user (the array shape) ------------------------------------------------------

    def _user_rows(
        self, returns: dict[str, str], *, rows: str = "pr", started: str = "is_s", at: str = "t_us"
    ) -> None:
        """``us``: one row per user, their starts and the ``returns`` aggregates, from one pass
        over ``rows`` (whose ``started`` flags the starts at time ``at``); ``co``: a row per
        cohort of theirs carrying ``returns`` (and ``cm``, their rolling moments); a user
        without a cohort has no row."""
        p = self.query
        kept = list(returns)
        gathered = ", ".join(f"{aggregate} AS {name}" for name, aggregate in returns.items())
        carried = "".join(f", {name}" for name in kept)
        if p.retention_type == "first_time":
            ci, inside = self.first_cohort("t")
            self.ctes.append(
                f"us AS (SELECT uid, minIf({at}, {started} = 1) AS t, "
                f"MAX({started}) AS any_s, {gathered} FROM {rows} GROUP BY uid)"
            )
            self.ctes.append(
                f"co AS (SELECT uid, {ci} AS ci, t{carried} FROM us WHERE any_s = 1 AND {inside})"
            )
        elif p.periods == "calendar":
            self.ctes.append(
                f"us AS (SELECT uid, groupUniqArrayIf(idx, {started} = 1) AS cs, {gathered} "
                f"FROM {rows} GROUP BY uid)"
            )
            self.ctes.append(f"co AS (SELECT uid, ci{carried} FROM us ARRAY JOIN cs AS ci)")
        else:
            # The earliest start in each period: the cohort's t.
            self.ctes.append(
                f"us AS (SELECT uid, minMapIf([idx], [{at}], {started} = 1) AS cs, {gathered} "
                f"FROM {rows} GROUP BY uid)"
            )
            # (sqlglot reads no ``cs.1`` after ARRAY JOIN: tupleElement there.)
            self.ctes.append(
                f"co AS (SELECT uid, ci, t{carried} FROM us "
                "ARRAY JOIN tupleElement(cs, 1) AS ci, tupleElement(cs, 2) AS t)"
            )
        if p.periods == "rolling":
            self._moments(kept)

    # -- the answer ------------------------------------------------------------------------------

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


# -- the rules: one cohort (index ``ci``, start ``t``, rolling bucket ``g`` and position ``pt``)
# -- and one of the user's returns, whichever shape brings them together ---------------------------


def _returned(ri: str, ci: str) -> str:
    """A calendar return in period ``ri`` counts for cohort ``ci`` (offset 0 is the cohort)."""
    return f"{ri} > {ci}"


def _paid_from(ri: str, ci: str) -> str:
    """Revenue in period ``ri`` counts for cohort ``ci`` (offset 0 included)."""
    return f"{ri} >= {ci}"


def _offset(ri: str, ci: str) -> str:
    return f"{ri} - {ci}"


def _late(p_max: str, pt: str) -> str:
    """A bucket's return at or after the start's position: offset ``_late_offset``."""
    return f"{p_max} >= {pt}"


def _late_offset(b: str, g: str) -> str:
    return f"{b} - {g}"


def _early(p_min: str, pt: str) -> str:
    """A bucket's return before the start's position: one offset less."""
    return f"{p_min} < {pt}"


def _early_offset(b: str, g: str) -> str:
    return f"{b} - {g} - 1"


def _after_start(tr: str, t: str) -> str:
    """Rolling revenue counts from the start on."""
    return f"{tr} >= {t}"


def _revenue_offset(b: str, p: str, g: str, pt: str) -> str:
    """The rolling offset of revenue at (bucket ``b``, position ``p``) after a start at (``g``,
    ``pt``), for revenue at or after the start."""
    diff = f"({b} - {g})"
    return (
        f"CASE WHEN {diff} >= 0 "
        f"THEN {diff} - CASE WHEN {diff} > 0 AND {p} < {pt} THEN 1 ELSE 0 END "
        f"ELSE {diff} + CASE WHEN {p} > {pt} THEN 1 ELSE 0 END END"
    )


def _paid(amount: str) -> str:
    """A user paid in a cell when their revenue there is positive."""
    return f"CASE WHEN {amount} > 0 THEN 1 ELSE 0 END"


# -- ClickHouse's arrays (the only engine that pairs in user arrays) -------------------------------


def _filter(variables: str, condition: str, arrays: str) -> str:
    return f"arrayFilter({variables} -> {condition}, {arrays})"


def _map(variable: str, value: str, array: str) -> str:
    return f"arrayMap({variable} -> {value}, {array})"


def _last(array: str) -> str:
    """The array's largest element as a one-element array (none when it is empty)."""
    return f"arraySlice(arrayReverseSort({array}), 1, 1)"


def _unrolled(cells: str, alias: str, *, size: str = "-1") -> str:
    """One row per cell of a cohort row, and one more (``k = -1``) that counts the cohort."""
    return f"ARRAY JOIN arrayConcat([{size}], {cells}) AS {alias}"


def _period_number(day: dt.date, interval: str, week_start: str) -> int:
    """The number ``parts.period_of_day`` gives the period holding ``day`` (a date)."""
    number = day.toordinal() - _EPOCH_ORDINAL
    if interval == "day":
        return int(number)
    if interval == "week":
        return int((number + WEEK_SHIFT[week_start]) // 7)
    return int(day.year * 12 + day.month - 1)
