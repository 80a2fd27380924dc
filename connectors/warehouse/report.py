"""The load report of a warehouse relation, counted in the engine (three small statements)."""

from __future__ import annotations

import datetime as dt

from connectors.report import LoadReport
from metrics.warehouse import Relation, Sql, run
from metrics.warehouse.relation import Plan

#: The Data page lists at most this many event names.
TOP_EVENTS = 200


def report_plan(relation: Relation) -> Plan:
    """Rows read and why rows were left out, rows kept with their users and time range, events."""
    if not relation.raw:
        raise ValueError("this relation has no source rows to report on (a compile-only preset)")
    sql = Sql(relation)
    q, d = sql.q, sql.d
    reason = (
        f"CASE WHEN {q('user_id')} IS NULL THEN 1 WHEN {q('event')} IS NULL THEN 2 "
        f"WHEN {q('timestamp')} IS NULL THEN 3 ELSE 0 END"
    )
    counts = ", ".join(
        f"{d.to_bigint(f'SUM(CASE WHEN r.reason = {i} THEN 1 ELSE 0 END)')} AS {name}"
        for i, name in ((1, "no_user"), (2, "no_event"), (3, "unparseable_time"))
    )
    read = (
        f"SELECT {d.to_bigint('COUNT(*)')} AS rows_read, {counts} "
        f"FROM (SELECT {reason} AS reason FROM ({relation.raw}) AS raw) AS r"
    )
    ts = q("ts_us")
    kept = (
        f"SELECT {d.to_bigint('COUNT(*)')} AS rows_kept, "
        f"{d.to_bigint(d.count_distinct(q('user_id')))} AS users, "
        f"{d.to_bigint(f'MIN({ts})')} AS first_us, "
        f"{d.to_bigint(f'MAX({ts})')} AS last_us "
        f"FROM ({relation.source}) AS e"
    )
    names = (
        f"SELECT {q('event')} AS event, {d.to_bigint('COUNT(*)')} AS n FROM ({relation.source}) "
        f"AS e GROUP BY {q('event')} ORDER BY n DESC, event LIMIT {TOP_EVENTS}"
    )

    def finish(frames: list) -> LoadReport:
        r, k, e = (frame.row(0, named=True) if i < 2 else frame for i, frame in enumerate(frames))
        dropped = {name: int(r[name] or 0) for name in ("no_user", "no_event", "unparseable_time")}
        rows_read = int(r["rows_read"] or 0)
        rows_kept = int(k["rows_kept"] or 0)
        duplicates = rows_read - sum(dropped.values()) - rows_kept
        if duplicates:
            dropped["duplicate_event_id"] = duplicates
        return LoadReport(
            source=relation.description,
            format=f"{relation.dialect.name} (computed there)",
            rows_read=rows_read,
            rows_kept=rows_kept,
            dropped={key: value for key, value in dropped.items() if value},
            first_event=_instant(k["first_us"]),
            last_event=_instant(k["last_us"]),
            users=int(k["users"] or 0),
            events_by_name=dict(zip(e["event"].to_list(), map(int, e["n"].to_list()), strict=True)),
            notes=("Computed in the engine: the events stay there and every page runs its SQL.",),
        )

    statements = tuple(sql.statement(text) for text in (read, kept, names))
    return Plan(statements, finish)


def sql_load_report(relation: Relation) -> LoadReport:
    return run(relation, report_plan(relation))


def _instant(micros: int | None) -> dt.datetime | None:
    if micros is None:
        return None
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(micros))
