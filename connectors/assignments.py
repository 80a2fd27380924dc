"""Experiment assignments (docs/data.md): who saw which variant of which experiment, and when first.

Two ways in: derived from exposure events already in the event frame
(:func:`assignments_from_events`), or read from an assignments table or file of their own
(:func:`load_assignments`, :func:`to_assignments`). Either way the result has the columns of
:data:`metrics.schema.ASSIGNMENT_SCHEMA`: ``user_id``, ``experiment``, ``variant``, ``timestamp``
(the first exposure, UTC), one row per user and experiment.

A user exposed to several variants of one experiment keeps the variant of their first exposure
here; pass ``keep="all"`` to get one row per variant seen, so an analysis can flag and exclude them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import polars as pl

from connectors.errors import ConnectorError
from connectors.normalise import _id_exprs, column_key, polars_message, with_times
from metrics.schema import ASSIGNMENT_SCHEMA

#: The read time's working column (the source's own columns keep their names).
_WHEN = "__assignment_time"
_DECIMAL = "__assignment_id_decimal_point"

Keep = Literal["first", "all"]

#: Column names recognised without a mapping, best first (compared like event columns).
ALIASES: dict[str, tuple[str, ...]] = {
    "user_id": ("user_id", "distinct_id", "userid", "uid", "user", "customer_id", "anonymous_id"),
    "experiment": (
        "experiment",
        "experiment_id",
        "experiment_key",
        "experiment_name",
        "test",
        "flag",
    ),
    "variant": ("variant", "variation", "variation_id", "variant_id", "group", "arm", "bucket"),
    "timestamp": (
        "timestamp",
        "time",
        "ts",
        "exposed_at",
        "assigned_at",
        "first_exposure",
        "created_at",
    ),
}


def assignments_from_events(
    events: pl.DataFrame | pl.LazyFrame,
    *,
    exposure_event: str = "experiment_exposure",
    experiment_property: str = "experiment",
    variant_property: str = "variant",
    keep: Keep = "first",
) -> pl.DataFrame:
    """Each user's first exposure to each experiment, and the variant they saw then.

    Exposures are the events named ``exposure_event`` whose ``experiment_property`` and
    ``variant_property`` are both set. With ``keep="all"``, one row per variant a user saw (its
    first exposure), so users seen in several variants can be found.
    """
    if keep not in ("first", "all"):
        raise ValueError(f"keep must be 'first' or 'all', not {keep!r}")
    frame = events.lazy()
    names = frame.collect_schema().names()
    for argument, column in (
        ("experiment_property", experiment_property),
        ("variant_property", variant_property),
    ):
        if column not in names:
            raise ConnectorError(
                f"assignments: the events have no column {column!r} ({argument}); "
                f"columns: {', '.join(names)}"
            )
    keys = ["user_id", "experiment"] + (["variant"] if keep == "all" else [])
    return (
        frame.filter(pl.col("event") == exposure_event)
        .select(
            pl.col("user_id"),
            pl.col(experiment_property).cast(pl.String).alias("experiment"),
            pl.col(variant_property).cast(pl.String).alias("variant"),
            pl.col("timestamp"),
        )
        .drop_nulls()
        # Ties at the same instant go to the smallest variant name, so the result is deterministic.
        .sort("timestamp", "variant")
        .group_by(keys, maintain_order=True)
        .first()
        .select(list(ASSIGNMENT_SCHEMA))
        .sort("experiment", "timestamp", "user_id", "variant")
        .collect()
        .cast(ASSIGNMENT_SCHEMA)  # type: ignore[arg-type]
    )


@dataclasses.dataclass(frozen=True)
class AssignmentLoad:
    """Assignments read from a table, with what reading them dropped or changed."""

    assignments: pl.DataFrame
    rows_read: int
    dropped: int
    notes: tuple[str, ...]


def to_assignments(
    frame: pl.LazyFrame | pl.DataFrame,
    *,
    source: str,
    mapping: Mapping[str, str] | None = None,
    tz: str = "UTC",
    keep: Keep = "first",
) -> AssignmentLoad:
    """An assignments table with any column names (:data:`ALIASES`, ``mapping``) made canonical.

    Times are read like event times (zones, no zone read in ``tz``, epochs by magnitude). Rows
    missing a user, experiment, variant or readable time are dropped and counted.
    """
    lazy = frame.lazy()
    try:
        schema = lazy.collect_schema()
    except Exception as exc:
        raise ConnectorError(f"{source}: cannot be read ({polars_message(exc)})") from exc
    chosen: dict[str, str] = {}
    notes: list[str] = []
    for target, column in (mapping or {}).items():
        if target not in ALIASES:
            raise ConnectorError(
                f"{source}: assignments mapping key {target!r} is not one of {', '.join(ALIASES)}"
            )
        if column not in schema:
            raise ConnectorError(
                f"{source}: mapping names column {column!r} for {target!r}, but there is no such "
                f"column. Columns: {', '.join(schema.names())}"
            )
        chosen[target] = column
    by_key = {column_key(n): n for n in reversed(schema.names())}
    for target, aliases in ALIASES.items():
        if target in chosen:
            continue
        found = next((by_key[column_key(a)] for a in aliases if column_key(a) in by_key), None)
        if found is not None and found not in chosen.values():
            chosen[target] = found
            if found != target:
                notes.append(f"Assignments column '{found}' was read as {target}.")
    missing = [t for t in ALIASES if t not in chosen]
    if missing:
        raise ConnectorError(
            f"{source}: assignments need columns {', '.join(repr(m) for m in missing)}, not found. "
            f"Columns: {', '.join(schema.names())}"
        )
    lazy, time_notes = with_times(lazy, chosen["timestamp"], schema, tz, source, value=_WHEN)
    notes.extend(time_notes)

    def text(target: str) -> pl.Expr:
        value = pl.col(chosen[target]).cast(pl.String)
        return pl.when(value.str.strip_chars() != "").then(value).alias(target)

    # User ids read as the events read them ("13085.0" is user "13085"), so the two frames join.
    user, *flag = _id_exprs(chosen["user_id"], schema, "user_id", source)
    decimal = flag[0].alias(_DECIMAL) if flag else pl.lit(False).alias(_DECIMAL)
    staged = lazy.select(
        user, text("experiment"), text("variant"), pl.col(_WHEN).alias("timestamp"), decimal
    )
    try:
        rows_read = staged.select(pl.len()).collect().item()
        complete = staged.drop_nulls().collect()
    except Exception as exc:
        raise ConnectorError(f"{source}: cannot be read ({polars_message(exc)})") from exc
    decimals = int(complete.get_column(_DECIMAL).sum())
    complete = complete.drop(_DECIMAL)
    if decimals:
        notes.append(
            f"{decimals:,} assignment user id{'' if decimals == 1 else 's'} written as whole "
            "numbers with a decimal point ('13085.0') read without it ('13085')."
        )
    dropped = rows_read - complete.height
    if dropped:
        notes.append(
            f"{dropped:,} assignment row{'' if dropped == 1 else 's'} had no user, experiment, "
            f"variant or readable time and {'was' if dropped == 1 else 'were'} dropped."
        )
    keys = ["user_id", "experiment"] + (["variant"] if keep == "all" else [])
    first = (
        complete.sort("timestamp", "variant")
        .group_by(keys, maintain_order=True)
        .first()
        .select(list(ASSIGNMENT_SCHEMA))
        .sort("experiment", "timestamp", "user_id", "variant")
        .cast(ASSIGNMENT_SCHEMA)  # type: ignore[arg-type]
    )
    repeats = complete.height - first.height
    if repeats:
        notes.append(
            f"{repeats:,} later exposure{'' if repeats == 1 else 's'} of an assigned user "
            f"{'was' if repeats == 1 else 'were'} folded into the first."
        )
    return AssignmentLoad(first, rows_read, dropped, tuple(notes))


def load_assignments(
    source: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    tz: str = "UTC",
    keep: Keep = "first",
    **options: Any,
) -> AssignmentLoad:
    """Assignments from a file, glob or folder (CSV/TSV, Parquet, NDJSON) or a SQL table/query.

    For a database URL pass ``table=`` or ``query=`` (and ``password=``), as for events.
    """
    from connectors import is_url

    if is_url(source):
        frame, label = _read_sql(str(source), **options)
        return to_assignments(frame, source=label, mapping=mapping, tz=tz, keep=keep)
    from connectors.files import scan

    scanned = scan(source, **options)
    raw = scanned.frame.drop("__row", "__file", strict=False)
    return to_assignments(raw, source=scanned.label, mapping=mapping, tz=tz, keep=keep)


def _read_sql(
    url: str,
    *,
    table: str | None = None,
    query: str | None = None,
    password: str | None = None,
    schema: str | None = None,
    engine: str = "auto",
    timeout_seconds: float = 60,
) -> tuple[pl.DataFrame, str]:
    """Every column of a (small) assignments table or query, through the SQL connector's readers
    (read-only session, statement timeout, Arrow where there is a driver)."""
    import sqlalchemy as sa

    from connectors import sql

    target = sql.resolve_target(url, password, table, query, schema)
    with sql._reader(target, engine, timeout_seconds) as reader:
        names, _ = reader.probe()
        source = sql.source_clause(target, names)
        frame = reader.fetch(sa.select(*[source.c[n] for n in names]))
    return frame, target.label
