"""Experiments compiled to SQL, GrowthBook style: the engine returns per-variant sums only.

The same :class:`~metrics.experiments.query.ExperimentQuery` (and its components) the Polars
path reduces is compiled here into one chain of common table expressions over two relations on
one connection, the events (those the query's scope keeps) and the assignments:

1. the experiment's users: first exposure, their variant, how many variants they saw (those in
   several are counted, flagged and left out, in SQL);
2. each clean user's metric components after exposure (within the window, its last instant
   included) and over the pre-period before it, for CUPED;
3. winsorization: each count or sum capped at its pooled percentile, computed in the engine exactly
   as Polars' ``quantile(p, "linear")`` (the value at ``floor((n - 1) p)`` in sort order plus the
   fraction of the gap to the next, with ROW_NUMBER/COUNT); the covariate takes the metric's cap;
4. per (segment,) variant: n, sums, sums of squares and cross-products (``m0_y``, ``m0_x2``…);
   the users in several variants are one more row of that grouping (a NULL variant: their
   count), and the experiment names, for the error on a typo, come back only when the
   experiment has no assignment at all (:func:`_or_unknown`). So a read-out is one statement,
   with one grouping of the assignments by user (x_users) written in it.

Only those rows travel; ``analysis_answer`` (the Polars path's own) turns them into effects, SRM
checks and corrections. ``cumulative_effect`` returns per (variant, day) changes of the same sums,
``assignment_counts`` and ``list_experiments`` their few rows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import polars as pl

from metrics.experiments.aggregation import typed_sums, unknown_experiment
from metrics.experiments.definitions import (
    Components,
    Conversion,
    Ratio,
    Sum,
    filters_of,
    parts_of,
)
from metrics.experiments.query import CumulativeQuery, ExperimentQuery
from metrics.scope import Scope
from metrics.warehouse.parts import day_of, filter_condition, local_us
from metrics.warehouse.relation import _MARK, Plan, Relation, Sql

_US = dt.timedelta(microseconds=1)


# --- the two relations ---------------------------------------------------------------------------


def check_pair(events: Relation, assignments: Any) -> Relation:
    """The assignments relation beside ``events``: same dialect and connection, assignments kind."""
    if not isinstance(assignments, Relation):
        raise ValueError(
            "assignments: with events in an engine, the assignments must be a relation on the same "
            "connection (connectors.warehouse.warehouse(conn, table=..., kind='assignments'))"
        )
    check_assignments(assignments)
    if assignments.dialect != events.dialect or not _same_connection(events, assignments):
        raise ValueError(
            "assignments: the events and the assignments must be relations on one connection "
            f"(events: {events.description or events.dialect.name}, "
            f"assignments: {assignments.description or assignments.dialect.name})"
        )
    return assignments


def check_assignments(assignments: Relation) -> None:
    if assignments.kind != "assignments":
        raise ValueError(
            "assignments: this relation holds events; read the assignments with "
            "connectors.warehouse.warehouse(conn, table=..., kind='assignments') "
            "(columns user_id, experiment, variant and a time)"
        )


def _same_connection(a: Relation, b: Relation) -> bool:
    if a.engine is None or b.engine is None:
        return a.engine is None and b.engine is None
    if type(a.engine) is not type(b.engine):
        return False
    for attribute in ("connection", "session", "spark", "engine"):
        left, right = getattr(a.engine, attribute, None), getattr(b.engine, attribute, None)
        if left is not None:
            return left is right or str(getattr(left, "url", id(left))) == str(
                getattr(right, "url", id(right))
            )
    return True


def _embedded(sql: Sql, relation: Relation) -> str:
    """``relation``'s source as a derived table in ``sql``'s statement, its bound values renamed
    to fresh markers (a derived relation carries values of its own)."""
    values = dict(getattr(relation, "params", ()) or ())
    if not values:
        return f"({relation.source})"
    pattern = re.compile(re.escape(_MARK) + r"(p\d+)" + re.escape(_MARK))
    return "(" + pattern.sub(lambda m: sql.value(values[m.group(1)]), relation.source) + ")"


def _events(sql: Sql) -> str:
    return f"({sql.relation.source})"


# --- the chain of CTEs ---------------------------------------------------------------------------


class _Chain:
    """One statement's WITH clauses, named and in order."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql
        self.parts: list[tuple[str, str]] = []

    def add(self, name: str, body: str) -> str:
        self.parts.append((name, body))
        return name

    def statement(self, select: str) -> Any:
        clauses = ", ".join(f"{name} AS ({body})" for name, body in self.parts)
        return self.sql.statement(f"WITH {clauses} {select}" if clauses else select)


def _users(
    chain: _Chain, assignments: Relation, experiment: str, end: dt.datetime | None, tz: str | None
) -> str:
    """x_users: per user of the experiment: variants seen, variant, first exposure (µs)[, day]."""
    sql, d = chain.sql, chain.sql.d
    q = sql.q
    conditions = [f"{q('experiment')} = {sql.value(experiment)}"]
    if end is not None:
        conditions.append(f"{q('ts_us')} <= {sql.value(_instant(end))}")
    grouped = (
        f"SELECT {q('user_id')} AS x_user, "
        f"{d.to_bigint(d.count_distinct(q('variant')))} AS x_arms, "
        f"MIN({q('variant')}) AS x_arm, MIN({q('ts_us')}) AS x_exposure "
        f"FROM {_embedded(sql, assignments)} AS a WHERE {' AND '.join(conditions)} "
        f"GROUP BY {q('user_id')}"
    )
    if tz is None:
        return chain.add("x_users", grouped)
    day = d.to_bigint(day_of(d, local_us(d, "g.x_exposure", tz)))
    return chain.add(
        "x_users",
        f"SELECT g.x_user, g.x_arms, g.x_arm, g.x_exposure, {day} AS x_day FROM ({grouped}) AS g",
    )


def _instant(moment: dt.datetime) -> int:
    return (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // _US


def _joined_events(
    chain: _Chain,
    plan: Components,
    *,
    scope: Scope,
    end: dt.datetime | None,
    pre_period: dt.timedelta,
    extra: list[str],
    all_events: bool,
    earliest: str | None = None,
) -> str:
    """x_joined: the clean users' events the scope keeps from the earliest pre-period on, with
    their exposure (the twin of ``metrics.experiments.aggregation.user_values``' selection).

    The earliest exposure is the clean users' (``MIN(x_exposure)``), or ``earliest``: any
    instant no later than it, such as :func:`_first_assignment`, when the events before the
    clean users' first pre-period are not read anyway (each user's components count only those
    from their own pre-period on; a segment of the events would read them).
    """
    sql = chain.sql
    q = sql.q
    columns = [c for c in dict.fromkeys([*plan.needed_columns, *extra])]
    sql.relation.require([column for column, _ in scope.filters], "filters")
    sql.relation.require(columns, "metrics")
    first = earliest or "(SELECT MIN(x_exposure) FROM x_clean)"
    conditions = [f"{q('ts_us')} >= {first} - {sql.value(pre_period // _US)}"]
    if scope.filters:
        conditions.append(filter_condition(sql, scope.filters))
    if not all_events:
        conditions.append(f"{q('event')} IN ({', '.join(sql.value(n) for n in plan.events)})")
    if end is not None:
        conditions.append(f"{q('ts_us')} <= {sql.value(_instant(end))}")
    listed = "".join(f", e.{q(c)}" for c in columns)
    return chain.add(
        "x_joined",
        f"SELECT e.{q('user_id')} AS x_user, e.{q('event')} AS x_event, e.{q('ts_us')} AS x_ts"
        f"{listed}, c.x_exposure FROM (SELECT * FROM {_events(sql)} AS s "
        f"WHERE {' AND '.join(conditions)}) AS e JOIN x_clean AS c "
        f"ON e.{q('user_id')} = c.x_user",
    )


def _first_assignment(
    sql: Sql, assignments: Relation, experiment: str, end: dt.datetime | None
) -> str:
    """The experiment's first assignment (up to ``end``): no later than any user's exposure,
    found without grouping the assignments by user (ClickHouse, which does not keep a CTE's
    rows, would group them once more for ``MIN(x_exposure)``)."""
    q = sql.q
    conditions = [f"{q('experiment')} = {sql.value(experiment)}"]
    if end is not None:
        conditions.append(f"{q('ts_us')} <= {sql.value(_instant(end))}")
    return (
        f"(SELECT MIN({q('ts_us')}) FROM {_embedded(sql, assignments)} AS b "
        f"WHERE {' AND '.join(conditions)})"
    )


def _match(sql: Sql, part: Any) -> str:
    condition = f"x_event = {sql.value(part.event)}"
    filters = filters_of(part)
    if filters:
        condition += f" AND {filter_condition(sql, filters)}"
    return condition


def _value(sql: Sql, part: Any) -> str:
    d = sql.d
    if isinstance(part, Sum):
        return f"COALESCE({d.to_double(sql.q(part.column))}, {d.to_double('0')})"
    return d.to_double("1")


def _periods(sql: Sql, window: dt.timedelta | None, pre_period: dt.timedelta) -> tuple[str, str]:
    """(after exposure, within the window's last instant; the pre-period before exposure)."""
    post = "x_ts >= x_exposure"
    if window is not None:
        post += f" AND x_ts <= x_exposure + {sql.value(window // _US)}"
    pre = f"x_ts < x_exposure AND x_ts >= x_exposure - {sql.value(pre_period // _US)}"
    return post, pre


def _per_user(
    chain: _Chain, plan: Components, window: dt.timedelta | None, pre_period: dt.timedelta
) -> str:
    """x_per_user: each user's components after (``c0``) and before (``c0_pre``) exposure."""
    sql, d = chain.sql, chain.sql.d
    post, pre = _periods(sql, window, pre_period)
    zero = d.to_double("0")
    aggregates = []
    for key, part in plan.parts.items():
        stem = plan.columns[key]
        match = _match(sql, part)
        for suffix, period in (("", post), ("_pre", pre)):
            hit = f"CASE WHEN {match} AND {period} THEN {_value(sql, part)} ELSE {zero} END"
            function = "MAX" if isinstance(part, Conversion) else "SUM"
            aggregates.append(f"{d.to_double(f'{function}({hit})')} AS {stem}{suffix}")
    return chain.add(
        "x_per_user", f"SELECT x_user, {', '.join(aggregates)} FROM x_joined GROUP BY x_user"
    )


def _first_value(chain: _Chain, name: str, body_from: str, value: str, order: str) -> str:
    """``name``: per x_user, the first non-null ``value`` in ``order`` (ties by the value)."""
    d = chain.sql.d
    text = d.to_text(value)
    return chain.add(
        name,
        f"SELECT x_user, x_value FROM (SELECT x_user, {text} AS x_value, ROW_NUMBER() OVER "
        f"(PARTITION BY x_user ORDER BY {order}, {text}) AS x_rank FROM {body_from} "
        f"WHERE {value} IS NOT NULL) AS r WHERE x_rank = 1",
    )


def _values(
    chain: _Chain,
    plan: Components,
    segment: str | None,
    *,
    with_day: bool = False,
    everyone: bool = False,
) -> str:
    """x_values: every clean user, their arm (and segment), components filled with zeros.

    With ``everyone``, every user of the experiment: those in several variants too, with a NULL
    arm (segment and day), so that the statement's last grouping counts them in a row of their
    own instead of a second grouping of the assignments.
    """
    sql, d = chain.sql, chain.sql.d
    zero = d.to_double("0")

    def kept(expr: str) -> str:
        return f"CASE WHEN c.x_arms = 1 THEN {expr} END" if everyone else expr

    columns = [
        f"COALESCE(p.{stem}{suffix}, {zero}) AS {stem}{suffix}"
        for stem in plan.columns.values()
        for suffix in ("", "_pre")
    ]
    joins = "LEFT JOIN x_per_user AS p ON p.x_user = c.x_user"
    if segment is not None:
        none = sql.value("(none)")
        columns.append(f"{kept(f'COALESCE(g.x_value, {none})')} AS x_seg")
        joins += " LEFT JOIN x_segments AS g ON g.x_user = c.x_user"
    arm = f"{kept('c.x_arm')} AS x_arm" if everyone else "c.x_arm"
    extra = (f", {kept('c.x_day')} AS x_day" if everyone else ", c.x_day") if with_day else ""
    source = "x_users" if everyone else "x_clean"
    return chain.add(
        "x_values",
        f"SELECT c.x_user, {arm}{extra}, {', '.join(columns)} FROM {source} AS c {joins}",
    )


def _capped(
    chain: _Chain, plan: Components, percentile: float | None, *, everyone: bool = False
) -> dict[str, str]:
    """Per capped stem, the CTE holding its cap (x_cap); the pooled linear percentile of Polars
    over the clean users (x_values of ``everyone`` holds the others too, with a NULL arm).

    Polars: i = (n - 1) p, lo = floor(i); cap = v[lo] when i is whole or v[lo] = v[lo + 1], else
    (i - lo) (v[lo + 1] - v[lo]) + v[lo] (0-based, ascending). The same doubles in the same
    order of operations give the same cap bit for bit.
    """
    if percentile is None:
        return {}
    stems = [plan.columns[k] for k, p in plan.parts.items() if not isinstance(p, Conversion)]
    if not stems:
        return {}
    sql, d = chain.sql, chain.sql.d
    values = "x_values WHERE x_arm IS NOT NULL" if everyone else "x_values"
    rank = chain.add(
        "x_rank",
        f"SELECT x_index, {d.to_bigint('FLOOR(x_index)')} AS x_low FROM (SELECT "
        f"({d.to_double('COUNT(*)')} - {d.to_double('1')}) * "
        f"{d.to_double(sql.value(float(percentile)))} AS x_index FROM {values}) AS n",
    )
    caps: dict[str, str] = {}
    for stem in stems:
        ordered = (
            f"SELECT {stem} AS x_v, ROW_NUMBER() OVER (ORDER BY {stem}) AS x_row FROM {values}"
        )
        picked = (
            f"SELECT MAX(CASE WHEN o.x_row = k.x_low + 1 THEN o.x_v END) AS x_lo, "
            f"MAX(CASE WHEN o.x_row = k.x_low + 2 THEN o.x_v END) AS x_hi, "
            f"MAX(k.x_index) AS x_index, MAX(k.x_low) AS x_low "
            f"FROM ({ordered}) AS o CROSS JOIN {rank} AS k"
        )
        caps[stem] = chain.add(
            f"x_cap_{stem}",
            "SELECT CASE WHEN t.x_hi IS NULL OR t.x_hi = t.x_lo THEN t.x_lo ELSE "
            f"(t.x_index - {d.to_double('t.x_low')}) * (t.x_hi - t.x_lo) + t.x_lo END AS x_cap "
            f"FROM ({picked}) AS t",
        )
    return caps


def _winsorized(chain: _Chain, plan: Components, caps: dict[str, str], keep: list[str]) -> str:
    """x_final: x_values with each capped stem (and its covariate) at most its cap."""
    d = chain.sql.d
    columns = [f"v.{c}" for c in keep]
    joins = ""
    for stem in plan.columns.values():
        for suffix in ("", "_pre"):
            name = stem + suffix
            if stem in caps:
                columns.append(f"{d.least(f'v.{name}', f'k_{stem}.x_cap')} AS {name}")
            else:
                columns.append(f"v.{name}")
    for stem, cte in caps.items():
        joins += f" CROSS JOIN {cte} AS k_{stem}"
    return chain.add("x_final", f"SELECT {', '.join(columns)} FROM x_values AS v{joins}")


def _sum(d: Any, expr: str) -> str:
    return d.to_double(f"SUM({expr})")


def _metric_sums(d: Any, metrics: list[Any], plan: Components) -> list[tuple[str, str]]:
    """The sums :func:`analysis_answer` reads per metric (``m{i}_y``… or ``m{i}_num``…), as
    (name, expression)."""
    out = []
    for i, metric in enumerate(metrics):
        if isinstance(metric, Ratio):
            num, den = plan.column(metric.numerator), plan.column(metric.denominator)
            pairs = [
                ("num", num),
                ("num2", f"{num} * {num}"),
                ("den", den),
                ("den2", f"{den} * {den}"),
                ("numden", f"{num} * {den}"),
            ]
        else:
            y = plan.column(metric)
            x = y + "_pre"
            pairs = [
                ("y", y),
                ("y2", f"{y} * {y}"),
                ("x", x),
                ("x2", f"{x} * {x}"),
                ("xy", f"{x} * {y}"),
            ]
        out += [(f"m{i}_{name}", _sum(d, expr)) for name, expr in pairs]
    return out


def _or_unknown(
    sql: Sql,
    assignments: Relation,
    experiment: str,
    select: str,
    columns: list[tuple[str, str]],
) -> str:
    """``select`` (its first column ``x_row``: 0), and only when ``experiment`` has no assignment
    row at all, a row 1 and the experiment names there are (rows 2, each name as ``variant``, at
    most 1000): what the error for a typo lists. So one statement answers, and when the
    experiment exists (nearly always) no other row comes back. ``columns``: the columns after
    ``x_row`` in order, as (name, "text" | "bigint" | "double").
    """
    d, q = sql.d, sql.q
    typed = {"text": d.to_text, "bigint": d.to_bigint, "double": d.to_double}

    def hits() -> str:
        """1 when the experiment has an assignment row, else 0 (the first row found will do)."""
        return (
            f"SELECT {d.to_bigint('COUNT(*)')} AS x_hits FROM (SELECT 1 AS x_one FROM "
            f"{_embedded(sql, assignments)} AS a WHERE {q('experiment')} = "
            f"{sql.value(experiment)} LIMIT 1) AS f"
        )

    def row(kind: int, name: str | None) -> str:
        values = [
            f"{name if column == 'variant' and name else typed[type_]('NULL')} AS {q(column)}"
            for column, type_ in columns
        ]
        return f"SELECT {kind} AS {q('x_row')}, {', '.join(values)}"

    absent = f"{row(1, None)} FROM ({hits()}) AS h WHERE h.x_hits = 0"
    names = (
        f"{row(2, 'k.x_name')} FROM (SELECT DISTINCT {q('experiment')} AS x_name FROM "
        f"{_embedded(sql, assignments)} AS a WHERE ({hits()}) = 0 LIMIT 1000) AS k"
    )
    return f"SELECT * FROM ({select} UNION ALL {absent} UNION ALL {names}) AS x_out"


def _answered(frame: pl.DataFrame, experiment: str) -> pl.DataFrame | None:
    """The rows of :func:`_or_unknown`'s ``select`` (without ``x_row``); None when nobody is in
    the experiment (an empty answer); the error naming the known ones for an experiment the
    assignments do not hold."""
    rows = frame.filter(pl.col("x_row") == 0).drop("x_row")
    if rows.height:
        return rows
    if frame.filter(pl.col("x_row") == 1).height:
        known = frame.filter(pl.col("x_row") == 2)["variant"]
        raise unknown_experiment(experiment, [str(v) for v in known.to_list()])
    return None


def _clean(chain: _Chain, *, with_day: bool = False) -> str:
    extra = ", x_day" if with_day else ""
    return chain.add(
        "x_clean", f"SELECT x_user, x_arm, x_exposure{extra} FROM x_users WHERE x_arms = 1"
    )


# --- analyze -------------------------------------------------------------------------------------


def analyze_plan(
    events: Relation,
    assignments: Any,
    query: ExperimentQuery,
    answer: Callable[[ExperimentQuery, pl.DataFrame | None, int], Any],
) -> Plan:
    """One statement: per (segment,) variant the sums, a row of the users in several variants
    (NULL variant), and the experiments there are only for a typo (see :func:`_or_unknown`).

    ``answer`` is the Polars path's own finishing step (``analysis_answer``), handed in so this
    planner never imports the module that imports it.
    """
    assignments = check_pair(events, assignments)
    plan = query.components
    segment = query.segment
    from_assignments = segment is not None and assignments.has(segment)
    if segment is not None and not from_assignments:
        events.require([segment], "segment")

    sql = Sql(events)
    chain = _Chain(sql)
    q = sql.q
    _users(chain, assignments, query.experiment, query.end, None)
    _clean(chain)
    extra = [segment] if segment is not None and not from_assignments else []
    # A segment of the events is each user's first value among all of x_joined's events: those
    # from the clean users' earliest pre-period on, as the Polars path reads them.
    earliest = None if extra else _first_assignment(sql, assignments, query.experiment, query.end)
    _joined_events(
        chain,
        plan,
        scope=query.scope,
        end=query.end,
        pre_period=query.pre_period,
        extra=extra,
        all_events=bool(extra),
        earliest=earliest,
    )
    _per_user(chain, plan, query.window, query.pre_period)
    if segment is not None:
        if from_assignments:
            seg = q(segment)
            source = (
                f"(SELECT {q('user_id')} AS x_user, {q('ts_us')} AS x_ts, {seg} FROM "
                f"{_embedded(sql, assignments)} AS a WHERE {q('experiment')} = "
                f"{sql.value(query.experiment)}) AS s"
            )
            _first_value(chain, "x_segments", source, seg, "x_ts")
        else:
            _first_value(chain, "x_segments", "x_joined", q(segment), "x_ts")
    _values(chain, plan, segment, everyone=True)
    caps = _capped(chain, plan, query.winsorize, everyone=True)
    keep = ["x_arm"] + (["x_seg"] if segment is not None else [])
    _winsorized(chain, plan, caps, keep)
    d = sql.d
    keys = (["x_seg"] if segment is not None else []) + ["x_arm"]
    names = ([f"x_seg AS {q('_seg')}"] if segment is not None else []) + [
        f"x_arm AS {q('variant')}"
    ]
    sums = _metric_sums(d, list(query.metrics), plan)
    select = (
        f"SELECT 0 AS {q('x_row')}, {', '.join(names)}, {d.to_bigint('COUNT(*)')} AS {q('n')}, "
        f"{', '.join(f'{expr} AS {q(name)}' for name, expr in sums)} "
        f"FROM x_final GROUP BY {', '.join(keys)}"
    )
    columns = (
        ([("_seg", "text")] if segment is not None else [])
        + [("variant", "text"), ("n", "bigint")]
        + [(name, "double") for name, _ in sums]
    )
    statement = chain.statement(_or_unknown(sql, assignments, query.experiment, select, columns))

    def finish(frames: list[pl.DataFrame]) -> Any:
        rows = _answered(frames[0], query.experiment)
        if rows is None:
            return answer(query, None, 0)  # nobody assigned
        several = int(rows.filter(pl.col("variant").is_null())["n"].sum())
        sums = rows.filter(pl.col("variant").is_not_null())
        return answer(query, typed_sums(sums), several)

    return Plan((statement,), finish)


# --- cumulative_effect ---------------------------------------------------------------------------


def cumulative_plan(
    events: Relation,
    assignments: Any,
    query: CumulativeQuery,
    answer: Callable[[CumulativeQuery, pl.DataFrame, pl.DataFrame], Any],
) -> Plan:
    """Two statements: entries per (variant, day) with the users in several variants and the
    experiments for a typo (see :func:`_or_unknown`), and changes per (variant, day); ``answer``
    is the Polars path's ``cumulative_answer`` (or its counting's ``DailySums``)."""
    assignments = check_pair(events, assignments)
    metric = query.metric
    plan = query.components
    stems = query.stems
    conversion = {plan.column(p): isinstance(p, Conversion) for p in parts_of(metric)}

    def common(sql: Sql, everyone: bool = False) -> tuple[_Chain, dict[str, str]]:
        chain = _Chain(sql)
        _users(chain, assignments, query.experiment, None, query.tz)
        _clean(chain, with_day=True)
        _joined_events(
            chain,
            plan,
            scope=query.scope,
            end=None,
            pre_period=query.pre_period,
            extra=[],
            all_events=False,
            earliest=_first_assignment(sql, assignments, query.experiment, None),
        )
        _per_user(chain, plan, query.window, query.pre_period)
        _values(chain, plan, None, with_day=True, everyone=everyone)
        caps = _capped(chain, plan, query.winsorize, everyone=everyone)
        _winsorized(chain, plan, caps, ["x_user", "x_arm", "x_day"])
        return chain, caps

    def shaped(expr: str, stem: str, caps: dict[str, str], d: Any) -> str:
        """A running value as the statistics see it: a conversion at most 1, a capped value at
        most its cap (the final cap, cross-joined as ``k_<stem>``)."""
        if conversion[stem]:
            return d.least(expr, d.to_double("1"))
        if stem in caps:
            return d.least(expr, f"k_{stem}.x_cap")
        return expr

    # Entries: users per (variant, exposure day) with the sums of their (shaped) covariates;
    # the users in several variants in one row (NULL variant and day).
    sql = Sql(events)
    chain, caps = common(sql, everyone=True)
    d, q = sql.d, sql.q
    entry_columns = [(f"{d.to_bigint('COUNT(*)')}", "n", "bigint")]
    for s in stems:
        pre = f"{s}_pre"  # x_final's covariates are capped already (a conversion's is 0 or 1)
        entry_columns += [
            (_sum(d, pre), f"{s}_x", "double"),
            (_sum(d, f"{pre} * {pre}"), f"{s}_x2", "double"),
        ]
    select = (
        f"SELECT 0 AS {q('x_row')}, x_arm AS {q('variant')}, x_day AS {q('day')}, "
        + ", ".join(f"{expr} AS {q(name)}" for expr, name, _ in entry_columns)
        + " FROM x_final GROUP BY x_arm, x_day"
    )
    columns = [("variant", "text"), ("day", "bigint")] + [
        (name, type_) for _, name, type_ in entry_columns
    ]
    entries = chain.statement(_or_unknown(sql, assignments, query.experiment, select, columns))

    # Changes: each user's cumulative components by local day, as increments of the sums.
    sql = Sql(events)
    chain, caps = common(sql)
    d, q = sql.d, sql.q
    post, _ = _periods(sql, query.window, query.pre_period)
    day = d.to_bigint(day_of(d, local_us(d, "x_ts", query.tz)))
    zero = d.to_double("0")
    increments = [
        f"{_sum(d, f'CASE WHEN {_match(sql, part)} THEN {_value(sql, part)} ELSE {zero} END')} "
        f"AS {plan.columns[key]}"
        for key, part in plan.parts.items()
    ]
    chain.add(
        "x_daily",
        f"SELECT x_user, {day} AS x_on, {', '.join(increments)} FROM x_joined "
        f"WHERE {post} GROUP BY x_user, {day}",
    )
    running = [
        f"{s} AS {s}_inc, SUM({s}) OVER (PARTITION BY x_user ORDER BY x_on "
        f"ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS {s}_now"
        for s in stems
    ]
    chain.add("x_running", f"SELECT x_user, x_on, {', '.join(running)} FROM x_daily")
    deltas: list[str] = []
    shaped_now = {s: shaped(f"r.{s}_now", s, caps, d) for s in stems}
    shaped_before = {s: shaped(f"(r.{s}_now - r.{s}_inc)", s, caps, d) for s in stems}
    for s in stems:
        now, before = shaped_now[s], shaped_before[s]
        pre = f"f.{s}_pre"
        deltas += [
            f"{_sum(d, f'{now} - {before}')} AS {q(f'{s}_y')}",
            f"{_sum(d, f'{now} * {now} - {before} * {before}')} AS {q(f'{s}_y2')}",
            f"{_sum(d, f'({now} - {before}) * {pre}')} AS {q(f'{s}_xy')}",
        ]
    if isinstance(metric, Ratio):
        a, b = stems
        cross = f"{shaped_now[a]} * {shaped_now[b]} - {shaped_before[a]} * {shaped_before[b]}"
        deltas.append(f"{_sum(d, cross)} AS {q('cross')}")
    changes = chain.statement(
        f"SELECT f.x_arm AS {q('variant')}, r.x_on AS {q('day')}, {', '.join(deltas)} "
        "FROM x_running AS r JOIN x_final AS f ON f.x_user = r.x_user"
        + "".join(f" CROSS JOIN {cte} AS k_{stem}" for stem, cte in caps.items())
        + " GROUP BY f.x_arm, r.x_on"
    )

    def finish(frames: list[pl.DataFrame]) -> Any:
        rows = _answered(frames[0], query.experiment)
        if rows is None:
            return answer(query, pl.DataFrame(), pl.DataFrame())
        entered = rows.filter(pl.col("variant").is_not_null())
        return answer(query, _by_day(entered), _by_day(frames[1]))

    return Plan((entries, changes), finish)


def _by_day(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows per (variant, day number) with the Polars path's types: a Date, Int64 n, floats."""
    epoch = dt.date(1970, 1, 1)
    casts = []
    for name in frame.columns:
        if name == "variant":
            casts.append(pl.col(name).cast(pl.String))
        elif name == "day":
            casts.append(
                (pl.lit(epoch) + pl.duration(days=pl.col(name).cast(pl.Int64))).alias("day")
            )
        elif name == "n":
            casts.append(pl.col(name).cast(pl.UInt32))
        else:
            casts.append(pl.col(name).cast(pl.Float64))
    return frame.with_columns(casts)


# --- assignment_counts and list_experiments -------------------------------------------------------


def counts_plan(
    assignments: Relation,
    experiment: str,
    tz: str,
    answer: Callable[[pl.DataFrame], pl.DataFrame],
) -> Plan:
    """Users, first and last local exposure day per variant ("(several)" apart), and the
    experiments for a typo (see :func:`_or_unknown`); ``answer`` is the Polars path's
    ``counts_answer``."""
    check_assignments(assignments)
    sql = Sql(assignments)
    chain = _Chain(sql)
    _users(chain, assignments, experiment, None, tz)
    d, q = sql.d, sql.q
    label = f"CASE WHEN x_arms > 1 THEN {sql.value('(several)')} ELSE x_arm END"
    select = (
        f"SELECT 0 AS {q('x_row')}, x_label AS {q('variant')}, "
        f"{d.to_bigint('COUNT(*)')} AS {q('users')}, "
        f"MIN(x_day) AS {q('first_day')}, MAX(x_day) AS {q('last_day')} "
        f"FROM (SELECT {label} AS x_label, x_day FROM x_users) AS l GROUP BY x_label"
    )
    columns = [
        ("variant", "text"),
        ("users", "bigint"),
        ("first_day", "bigint"),
        ("last_day", "bigint"),
    ]
    statement = chain.statement(_or_unknown(sql, assignments, experiment, select, columns))
    epoch = dt.date(1970, 1, 1)

    def finish(frames: list[pl.DataFrame]) -> pl.DataFrame:
        _answered(frames[0], experiment)  # the error for a typo
        found = frames[0].filter(pl.col("x_row") == 0).drop("x_row")
        day = {
            c: (pl.lit(epoch) + pl.duration(days=pl.col(c).cast(pl.Int64))).alias(c)
            for c in ("first_day", "last_day")
        }
        typed = found.select(
            pl.col("variant").cast(pl.String),
            pl.col("users").cast(pl.UInt32),
            day["first_day"].cast(pl.Date),
            day["last_day"].cast(pl.Date),
        )
        return answer(typed)

    return Plan((statement,), finish)


def listing_plan(
    assignments: Relation, answer: Callable[[pl.DataFrame, pl.DataFrame], pl.DataFrame]
) -> Plan:
    """Per experiment: users, first and last exposure; and its variants (a few rows each);
    ``answer`` is the Polars path's ``listing_answer``."""
    check_assignments(assignments)
    sql = Sql(assignments)
    d, q = sql.d, sql.q
    src = _embedded(sql, assignments)
    ts = q("ts_us")
    per_experiment = sql.statement(
        f"SELECT {q('experiment')} AS x_name, "
        f"{d.to_bigint(d.count_distinct(q('user_id')))} AS {q('users')}, "
        f"{d.to_bigint(f'MIN({ts})')} AS {q('first_us')}, "
        f"{d.to_bigint(f'MAX({ts})')} AS {q('last_us')} "
        f"FROM {src} AS a GROUP BY {q('experiment')}"
    )
    sql = Sql(assignments)
    arms = sql.statement(
        f"SELECT DISTINCT {q('experiment')} AS x_name, {q('variant')} AS x_arm "
        f"FROM {_embedded(sql, assignments)} AS a"
    )

    def finish(frames: list[pl.DataFrame]) -> pl.DataFrame:
        per_experiment = frames[0].rename({"x_name": "experiment"})
        pairs = frames[1].rename({"x_name": "experiment", "x_arm": "variant"})
        return answer(per_experiment, pairs)

    return Plan((per_experiment, arms), finish)


__all__ = [
    "analyze_plan",
    "counts_plan",
    "cumulative_plan",
    "listing_plan",
]
