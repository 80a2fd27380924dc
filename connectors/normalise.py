"""The normalisation every connector shares: any frame of events -> docs/data.md plus a load report.

:func:`to_canonical` takes whatever columns a source has and returns the canonical event frame
(``user_id``, ``event``, ``timestamp`` in UTC, optional ``event_id``, ``session_id``, ``revenue``,
and every other column as a flat property) with a :class:`~connectors.report.LoadReport` that
accounts for every row and every change:

- columns: ``mapping`` names the source column for a canonical one (``{"user_id": "customer"}``);
  canonical columns not mapped are found by name (:data:`ALIASES`, case and punctuation ignored);
- times: zoned strings and zoned datetimes are converted to UTC; strings and datetimes with no zone
  are read in ``tz`` (the source's zone) and converted; integer or numeric-string epochs are read as
  seconds, milliseconds, microseconds or nanoseconds by their magnitude (:data:`EPOCH_LIMITS`);
- rows with no user, no event name or no readable time are dropped and counted by reason, and so are
  repeated ``event_id`` values (the first occurrence is kept); a row missing several things is
  counted once, under the first reason in :data:`~connectors.report.DROP_REASONS`;
- identity: with an ``anonymous_id`` column (mapped, or found by name), anonymous events of people
  identified later are attributed to them (:mod:`connectors.identity`);
- nested columns are flattened (a struct's fields become ``parent_field`` columns; lists become JSON
  text), each with a note.

The report costs one collect of small aggregates over the columns it needs.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from connectors import derive, identity
from connectors.errors import ConnectorError, mask_secrets
from connectors.report import CHANGE_REASONS, DROP_REASONS, LoadReport
from metrics.schema import EVENT_OPTIONAL, EVENT_REQUIRED, UTC_MICROS

#: Canonical column -> source column names recognised without a mapping, best first. Names are
#: compared ignoring case and all but letters and digits ("$insert_id" matches "insert_id").
ALIASES: dict[str, tuple[str, ...]] = {
    "user_id": ("user_id", "userid", "distinct_id", "person_id", "uid", "user", "customer_id"),
    "anonymous_id": ("anonymous_id", "anon_id", "anon_distinct_id"),
    "event": ("event", "event_name", "event_type", "action"),
    "timestamp": (
        "timestamp",
        "time",
        "ts",
        "event_time",
        "event_timestamp",
        "occurred_at",
        "created_at",
        "datetime",
        "derived_tstamp",
    ),
    "event_id": ("event_id", "uuid", "message_id", "insert_id", "id"),
    "session_id": ("session_id", "session"),
    "revenue": ("revenue",),
}

#: The targets a mapping may name with a meaning of their own (any other key renames a property).
TARGETS: tuple[str, ...] = (*EVENT_REQUIRED, "anonymous_id", *EVENT_OPTIONAL)

#: Epoch magnitude limits: |value| below 1e11 is seconds (up to year 5138), below 1e14 milliseconds,
#: below 1e17 microseconds, anything larger nanoseconds. Real event times are far from each limit.
EPOCH_LIMITS: tuple[tuple[str, float], ...] = (("s", 1e11), ("ms", 1e14), ("us", 1e17))
_EPOCH_UNITS = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}

_ROW = "__row"
_FILE = "__file"
_TS_RAW = "__ts_raw"
_TS_READ = "__ts_read"
_TS_KIND = "__ts_kind"
_REASON = "__reason"
#: A kept row's ``event_id`` hashed, for the duplicate check of a collected load.
_ID_HASH = "__id_hash"
_ID_HASH_SEED = 0x6E6F7274
#: A kept row's value changed for a reason of CHANGE_REASONS: "__changed:<reason>:<column>".
_CHANGED = "__changed:"
_HELPERS = (
    _ROW,
    _FILE,
    _TS_RAW,
    _TS_KIND,
    _REASON,
    _ID_HASH,
    derive.KEEP,
    derive.UNMAPPED,
    identity.CHANGED,
)

#: Times a datetime can hold (year 1 to 9999); an epoch or Parquet time outside is unreadable.
_EARLIEST = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
_LATEST = dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC)
#: Event times before this, or later than the day after the load, are implausible unless the source
#: says otherwise (``plausible_start``/``plausible_end``): kept, counted, and kept out of the range
#: a page opens on (a clock at 1970 or 9999 must not stretch it).
PLAUSIBLE_START = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
PLAUSIBLE_AHEAD = dt.timedelta(days=1)


def column_key(name: str) -> str:
    """A column name compared loosely: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass
class _Plan:
    """What the schema alone decides: which source column feeds which target, and the notes."""

    chosen: dict[str, str] = field(default_factory=dict)  # target -> source column
    renamed: dict[str, str] = field(default_factory=dict)  # property source column -> new name
    notes: list[str] = field(default_factory=list)


def to_canonical(
    frame: pl.LazyFrame,
    *,
    source: str,
    format: str,
    mapping: Mapping[str, str] | None = None,
    tz: str = "UTC",
    start: dt.date | dt.datetime | str | None = None,
    end: dt.date | dt.datetime | str | None = None,
    columns: Sequence[str] | None = None,
    time_format: str | None = None,
    collect: bool = False,
    event: str | Mapping[str, Any] | None = None,
    compute: Mapping[str, str] | None = None,
    where: str | None = None,
    plausible_start: dt.date | dt.datetime | str | None = None,
    plausible_end: dt.date | dt.datetime | str | None = None,
) -> tuple[pl.LazyFrame, LoadReport]:
    """The canonical event frame of ``frame``, and a report of what was kept, dropped and changed.

    ``source`` names the source in messages (passwords are masked), ``format`` says what it was
    ("csv", "segment", "postgresql", ...). ``mapping`` maps a canonical column (or ``anonymous_id``,
    or a new property name) to the source column that holds it. ``tz`` is the zone of times that
    carry none. ``start``/``end`` keep only events on those days (in ``tz``, inclusive; a datetime
    is an instant) plus the rows whose time cannot be read, so they are still counted. ``columns``
    keeps only these property columns besides the canonical ones. ``time_format`` (a strftime
    pattern such as ``"%m/%d/%Y %H:%M"``) reads text times written in a spelling no reader can guess
    (is 01/02 January or February?); texts it does not fit still reach the general reader.
    ``event``, ``compute`` and ``where`` make events of rows that are not yet events
    (:mod:`connectors.derive`). Times before ``plausible_start`` (default 1990-01-01) or after
    ``plausible_end`` (default a day after now) are kept and counted as implausible.

    The events stay lazy: the report reads only the columns it needs, once. With ``collect=True``
    the source is read once for both (about half the work when the caller collects anyway) and the
    returned LazyFrame wraps the collected events.

    Raises :class:`~connectors.errors.ConnectorError` when the frame cannot be read, a required
    column is missing, the mapping names an absent column or ``tz`` is not a zone.
    """
    source = mask_secrets(source)
    _check_zone(tz, source)
    window = _plausible_window(plausible_start, plausible_end, source)
    bounds = (
        _bound(start, tz, end_of_day=False, source=source, key="start"),
        _bound(end, tz, end_of_day=True, source=source, key="end"),
    )
    schema = _schema(frame, source)
    frame, schema, flat_notes = _flatten(frame, schema)
    unmapped_words = None
    derived: derive.Derived | None = None
    if event is not None or compute is not None or where is not None:
        derived = derive.apply(
            frame,
            schema,
            source=source,
            mapping=mapping,
            event=event,
            compute=compute,
            where=where,
        )
        frame, schema, mapping = derived.frame, derived.schema, derived.mapping
        flat_notes.extend(derived.notes)
        unmapped_words = derived.unmapped_words
    plan = _plan_columns(schema, mapping, source, columns)
    plan.notes[:0] = flat_notes
    steps = _row_steps(
        frame, schema, plan, bounds, (start, end), tz, source, time_format, collect=collect
    )
    staged = steps.stage(frame, first_row=1)
    links = None
    if steps.resolve_identity:
        # Before the date range: an identification outside the range still links the ids.
        plan_id = identity.resolve(staged)
        staged, links = plan_id.frame, plan_id.links
    staged = steps.judge(staged)
    return _finish(
        staged,
        links,
        collect=collect,
        check_ids=steps.check_ids,
        source=source,
        format=format,
        tz=tz,
        notes=plan.notes,
        window=window,
        unmapped_words=unmapped_words,
        derived=derived,
    )


def to_canonical_batches(
    batches: Iterable[pl.DataFrame],
    *,
    source: str,
    format: str,
    mapping: Mapping[str, str] | None = None,
    tz: str = "UTC",
    start: dt.date | dt.datetime | str | None = None,
    end: dt.date | dt.datetime | str | None = None,
    columns: Sequence[str] | None = None,
    plausible_start: dt.date | dt.datetime | str | None = None,
    plausible_end: dt.date | dt.datetime | str | None = None,
) -> tuple[pl.LazyFrame, LoadReport]:
    """:func:`to_canonical` (collected) of the rows of ``batches`` one after another, each batch
    read as it comes, so the reading overlaps the fetching of the next one.

    ``batches`` yields at least one frame (an empty one for no rows), all with the same columns.
    Every row is read on its own, batch by batch (ids, time, revenue, drop reason, the hash of its
    event_id); what needs all rows (identity resolution, the duplicate event_id rule, the load
    report) runs once on the rows of every batch together. The events and the report are the
    same as ``to_canonical(pl.concat(batches).lazy(), collect=True, ...)`` gives (the tests
    compare them).
    """
    source = mask_secrets(source)
    _check_zone(tz, source)
    window = _plausible_window(plausible_start, plausible_end, source)
    bounds = (
        _bound(start, tz, end_of_day=False, source=source, key="start"),
        _bound(end, tz, end_of_day=True, source=source, key="end"),
    )
    stream = iter(batches)
    head: list[pl.DataFrame] = []  # the batches holding the first rows, which pick time spellings
    for batch in stream:
        head.append(batch)
        if sum(b.height for b in head) >= _SPELLING_SAMPLE:
            break
    if not head:
        raise ValueError("to_canonical_batches needs at least one frame (an empty one for no rows)")
    raw_schema = _schema(head[0].lazy(), source)
    sample, schema, notes = _flatten(pl.concat(head, how="vertical").lazy(), raw_schema)
    plan = _plan_columns(schema, mapping, source, columns)
    plan.notes[:0] = notes
    steps = _row_steps(sample, schema, plan, bounds, (start, end), tz, source, None, collect=True)
    parts: list[pl.DataFrame] = []
    first_row = 1
    try:
        for batch in itertools.chain(head, stream):
            if batch.schema != raw_schema:
                raise ValueError(f"a batch has columns {batch.schema}, not {raw_schema}")
            flat = _flatten(batch.lazy(), raw_schema)[0]
            staged = steps.stage(flat, first_row=first_row)
            if not steps.resolve_identity:
                staged = steps.judge(staged)
            parts.append(staged.collect())
            first_row += batch.height
    except pl.exceptions.PolarsError as exc:
        raise ConnectorError(f"{source}: cannot be read ({polars_message(exc)})") from exc
    staged = pl.concat(parts, how="vertical", rechunk=False).lazy()
    links = None
    if steps.resolve_identity:
        plan_id = identity.resolve(staged)
        staged, links = steps.judge(plan_id.frame), plan_id.links
    return _finish(
        staged,
        links,
        collect=True,
        check_ids=steps.check_ids,
        source=source,
        format=format,
        tz=tz,
        notes=plan.notes,
        window=window,
        unmapped_words=None,
        derived=None,
    )


@dataclass(frozen=True)
class _RowSteps:
    """What :func:`to_canonical` does to each row on its own, so a frame read in batches can be
    read batch by batch: :meth:`stage` (canonical values and change flags), then, after identity
    resolution where there is an anonymous id, :meth:`judge` (the date range, the drop reason and,
    for a collected load, the event_id hash). With ``collect=False`` the duplicate check is in
    the reason and needs every row at once."""

    coarse: pl.Expr | None  # a filter on the raw time column that Parquet scans can push down
    number_rows: bool
    times: Callable[[pl.LazyFrame], tuple[pl.LazyFrame, list[str]]]
    selected: list[pl.Expr]
    resolve_identity: bool
    in_range: pl.Expr | None
    id_hash: pl.Expr | None
    reason: pl.Expr
    check_ids: bool

    def stage(self, frame: pl.LazyFrame, *, first_row: int) -> pl.LazyFrame:
        """The staged columns of ``frame``, whose first row is row ``first_row`` of the source."""
        if self.coarse is not None:
            # Row numbers would then count only the rows kept, so messages leave them out.
            frame = frame.filter(self.coarse)
        elif self.number_rows:
            frame = frame.with_row_index(_ROW, offset=first_row)
        return self.times(frame)[0].select(self.selected)

    def judge(self, staged: pl.LazyFrame) -> pl.LazyFrame:
        """``staged`` in the date range, with each row's drop reason (null: kept)."""
        if self.in_range is not None:
            staged = staged.filter(pl.col("timestamp").is_null() | self.in_range)
        if self.id_hash is not None:
            staged = staged.with_columns(self.id_hash)
        return staged.with_columns(self.reason)


def _row_steps(
    frame: pl.LazyFrame,
    schema: pl.Schema,
    plan: _Plan,
    bounds: _Bounds,
    asked: tuple[Any, Any],
    tz: str,
    source: str,
    time_format: str | None,
    *,
    collect: bool,
) -> _RowSteps:
    """The row steps of ``frame`` (whose first rows choose the text time spellings); the notes
    known from the schema are added to ``plan.notes``."""
    coarse = _coarse_range(plan.chosen["timestamp"], schema, bounds)
    if coarse is not None and {"user_id", "anonymous_id"} <= set(plan.chosen):
        # Rows linking an anonymous id to a user count from all history, not just the range.
        user, anon = pl.col(plan.chosen["user_id"]), pl.col(plan.chosen["anonymous_id"])
        coarse = coarse | (user.is_not_null() & anon.is_not_null())
    number_rows = coarse is None and _ROW not in schema
    has_row = number_rows or _ROW in schema
    column = plan.chosen["timestamp"]
    spellings = _spellings(frame, column) if _is_text(schema[column]) else None

    def times(frame: pl.LazyFrame) -> tuple[pl.LazyFrame, list[str]]:
        return with_times(
            frame,
            column,
            schema,
            tz,
            source,
            value=_TS_READ,
            kind=_TS_KIND,
            time_format=time_format,
            spellings=spellings,
        )

    plan.notes.extend(times(frame)[1])
    # A time no datetime can hold (an epoch of -2**63, a Parquet time in year 300000) is unreadable.
    in_range = pl.col(_TS_READ).is_between(pl.lit(_EARLIEST), pl.lit(_LATEST))
    timestamp = pl.when(in_range).then(pl.col(_TS_READ)).alias("timestamp")
    selected: list[pl.Expr] = [
        *_id_exprs(plan.chosen.get("user_id"), schema, "user_id", source),
        *_id_exprs(plan.chosen["event"], schema, "event", source),
        timestamp,
    ]
    for target in ("event_id", "session_id", "anonymous_id"):
        if target in plan.chosen:
            selected.extend(_id_exprs(plan.chosen[target], schema, target, source))
    if "revenue" in plan.chosen:
        selected.extend(_revenue_exprs(plan.chosen["revenue"], schema))
    for helper in (derive.KEEP, derive.UNMAPPED):
        if helper in schema:
            selected.append(pl.col(helper))
    for name, new in plan.renamed.items():
        selected.append(_property_expr(name, schema[name]).alias(new))
    selected.append(pl.col(column).alias(_TS_RAW))
    selected.append(pl.col(_TS_KIND))
    if has_row:
        selected.append(pl.col(_ROW))
    if _FILE in schema:
        selected.append(pl.col(_FILE))

    range_expr = _range_expr(bounds)
    if range_expr is not None:
        start, end = asked
        plan.notes.append(
            f"Only events from {start or 'the first'} to {end or 'the last'} were read."
        )
    complete = (
        pl.col("user_id").is_not_null()
        & pl.col("event").is_not_null()
        & pl.col("timestamp").is_not_null()
    )
    reason = (
        pl.when(~pl.col(derive.KEEP) if derive.KEEP in schema else pl.lit(False))
        .then(pl.lit("filtered_out"))
        .when(pl.col("user_id").is_null())
        .then(pl.lit("no_user"))
        .when(pl.col("event").is_null())
        .then(pl.lit("no_event"))
        .when(pl.col("timestamp").is_null())
        .then(pl.lit("unparseable_time"))
    )
    if derive.KEEP in schema:
        complete = complete & pl.col(derive.KEEP)
    check_ids = "event_id" in plan.chosen
    id_hash = None
    if check_ids:
        key = pl.when(complete).then(pl.col("event_id"))
        if collect:
            # Checked on the collected rows (_mark_repeated_ids): a hash first, strings only
            # where hashes repeat.
            id_hash = pl.when(key.is_not_null()).then(key.hash(_ID_HASH_SEED)).alias(_ID_HASH)
        else:
            # The rule of _mark_repeated_ids in one lazy expression: ids compared as text only
            # where their 64-bit hashes repeat, so millions of distinct ids cost one hash each.
            hashed = key.hash(_ID_HASH_SEED)
            candidate = key.is_not_null() & hashed.is_duplicated()
            repeated = candidate & ~pl.when(candidate).then(key).is_first_distinct()
            reason = reason.when(repeated).then(pl.lit("duplicate_event_id"))
    return _RowSteps(
        coarse=coarse,
        number_rows=number_rows,
        times=times,
        selected=selected,
        resolve_identity="anonymous_id" in plan.chosen,
        in_range=range_expr,
        id_hash=id_hash,
        reason=reason.otherwise(None).alias(_REASON),
        check_ids=check_ids,
    )


def _finish(
    staged: pl.LazyFrame,
    links: pl.LazyFrame | None,
    *,
    collect: bool,
    check_ids: bool,
    source: str,
    format: str,
    tz: str,
    notes: list[str],
    window: tuple[dt.datetime, dt.datetime],
    unmapped_words: str | None,
    derived: derive.Derived | None,
) -> tuple[pl.LazyFrame, LoadReport]:
    """The events of judged rows (duplicate rule applied when collected), and the report."""
    if collect:
        try:
            gathered = pl.collect_all([staged] if links is None else [staged, links])
        except Exception as exc:
            raise _read_error(source, exc, derived) from exc
        collected = _mark_repeated_ids(gathered[0]) if check_ids else gathered[0]
        staged = collected.lazy()
        links = None if links is None else gathered[1].lazy()
    outputs = [
        c for c in staged.collect_schema() if c not in _HELPERS and not c.startswith(_CHANGED)
    ]
    events = staged.filter(pl.col(_REASON).is_null()).select(outputs)
    if collect:
        reasons = staged.select(pl.col(_REASON).null_count() == pl.len()).collect().item()
        # Nothing dropped (a clean source): the columns as they are, not a filtered copy.
        events = (staged.select(outputs) if reasons else events).collect().lazy()
    try:
        report = _report(
            staged,
            events,
            links,
            source=source,
            format=format,
            tz=tz,
            notes=notes,
            window=window,
            unmapped_words=unmapped_words,
        )
    except ConnectorError as exc:
        if derived is None or exc.__cause__ is None:
            raise
        raise _read_error(source, exc.__cause__, derived) from exc.__cause__
    return events, report


def _mark_repeated_ids(staged: pl.DataFrame) -> pl.DataFrame:
    """Mark each kept row whose ``event_id`` an earlier kept row has (reason "duplicate_event_id").

    The same rule as ``is_first_distinct`` on the ids, at a fraction of its cost on millions of
    text ids: when the rows' 64-bit id hashes are all distinct (the usual case) no id repeats and
    nothing is compared; otherwise only the rows whose hash repeats are compared as text, so a
    hash collision can never drop an event.
    """
    hashes = staged.get_column(_ID_HASH)
    kept = hashes.len() - hashes.null_count()
    distinct = hashes.n_unique() if kept == hashes.len() else hashes.drop_nulls().n_unique()
    if kept == 0 or distinct == kept:
        return staged
    candidate = pl.col(_ID_HASH).is_not_null() & pl.col(_ID_HASH).is_duplicated()
    ids = pl.when(candidate).then(pl.col("event_id"))
    repeated = candidate & ~ids.is_first_distinct()
    return staged.with_columns(
        pl.when(pl.col(_REASON).is_null() & repeated)
        .then(pl.lit("duplicate_event_id"))
        .otherwise(pl.col(_REASON))
        .alias(_REASON)
    )


def _read_error(source: str, exc: BaseException, derived: derive.Derived | None) -> ConnectorError:
    """A reading error, naming the source's own expression (compute, where) when one fails."""
    blamed = None if derived is None else derived.blame()
    if blamed is not None:
        return ConnectorError(f"{source}: {blamed}")
    return ConnectorError(f"{source}: cannot be read ({polars_message(exc)})")


# -- schema-level decisions -------------------------------------------------------------------


def _check_zone(tz: str, source: str) -> None:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ConnectorError(
            f"{source}: time zone {tz!r} is not an IANA zone name (e.g. 'Europe/Berlin')"
        ) from exc


def _schema(frame: pl.LazyFrame, source: str) -> pl.Schema:
    try:
        return frame.collect_schema()
    except Exception as exc:  # polars raises many kinds; all mean "cannot be read"
        raise ConnectorError(f"{source}: cannot be read ({polars_message(exc)})") from exc


def polars_message(exc: BaseException) -> str:
    """The first meaningful line of a Polars (or Arrow) error, without its hints and backtrace."""
    for line in str(exc).splitlines():
        line = line.strip()
        if line and not line.lower().startswith(("hint", "resolved plan", "error originated")):
            return mask_secrets(line[:300])
    return type(exc).__name__


def _flatten(frame: pl.LazyFrame, schema: pl.Schema) -> tuple[pl.LazyFrame, pl.Schema, list[str]]:
    """Struct columns become ``parent_field`` columns (recursively); lists become JSON text."""
    notes: list[str] = []
    for _ in range(8):  # nesting depth; real exports have two or three levels
        structs = [n for n, t in schema.items() if isinstance(t, pl.Struct)]
        if not structs:
            break
        exprs: list[pl.Expr] = []
        taken = set(schema)
        for name in structs:
            fields = schema[name].fields  # type: ignore[attr-defined]
            for fld in fields:
                new = _unique(f"{name}_{fld.name}", taken)
                taken.add(new)
                exprs.append(pl.col(name).struct.field(fld.name).alias(new))
            notes.append(f"Column '{name}' holds records; its fields became columns '{name}_…'.")
        frame = frame.with_columns(exprs).drop(structs)
        schema = frame.collect_schema()
    lists = [n for n, t in schema.items() if isinstance(t, pl.List | pl.Array)]
    if lists:
        frame = frame.with_columns(
            pl.struct(pl.col(n).alias("v"))
            .struct.json_encode()
            .str.strip_prefix('{"v":')
            .str.strip_suffix("}")
            .alias(n)
            for n in lists
        )
        schema = frame.collect_schema()
        notes.append(f"Columns holding lists were kept as JSON text: {', '.join(lists)}.")
    return frame, schema, notes


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    return candidate


def _plan_columns(
    schema: pl.Schema,
    mapping: Mapping[str, str] | None,
    source: str,
    columns: Sequence[str] | None,
) -> _Plan:
    plan = _Plan()
    available = [n for n in schema if n not in _HELPERS]
    renames: dict[str, str] = {}  # source column -> property name, from the mapping
    for target, column in (mapping or {}).items():
        if not isinstance(column, str) or not column:
            raise ConnectorError(f"{source}: mapping for {target!r} must name a column")
        if column not in schema:
            hint = ""
            if target in schema and column in TARGETS:
                hint = f" (the mapping reads target -> source column: write {column} = {target!r})"
            raise ConnectorError(
                f"{source}: mapping names column {column!r} for {target!r}, but the source has no "
                f"such column{hint}. Columns: {_list(available)}"
            )
        if target in TARGETS:
            plan.chosen[target] = column
        else:
            renames[column] = target
    used = set(plan.chosen.values())
    by_key: dict[str, list[str]] = {}
    for name in available:
        by_key.setdefault(column_key(name), []).append(name)
    for target, aliases in ALIASES.items():
        if target in plan.chosen:
            continue
        for alias in aliases:
            found = [
                n for n in by_key.get(column_key(alias), []) if n not in used and n not in renames
            ]
            if found:
                pick = alias if alias in found else found[0]
                plan.chosen[target] = pick
                used.add(pick)
                if pick != target:
                    plan.notes.append(f"Column '{pick}' was read as {target}.")
                break
    missing = [t for t in ("event", "timestamp") if t not in plan.chosen]
    if "user_id" not in plan.chosen and "anonymous_id" not in plan.chosen:
        missing.insert(0, "user_id")
    if missing:
        hint = ""
        if len(available) == 1 and any(sep in available[0] for sep in "\t;|,"):
            hint = " The header is one column: give the source its separator (separator = ';')."
        raise ConnectorError(
            f"{source}: required column {' and '.join(repr(m) for m in missing)} not found. "
            f"Columns: {_list(available)}. Name the source column in the mapping "
            f'(e.g. {missing[0]} = "your_column").{hint}'
        )
    wanted = None if columns is None else set(columns)
    if wanted is not None:
        unknown = sorted(wanted - set(available) - set(plan.chosen) - set(renames.values()))
        if unknown:
            raise ConnectorError(
                f"{source}: no column {_list(unknown)}. Columns: {_list(available)}"
            )
    taken = set(TARGETS) | set(plan.chosen) | set(renames.values())
    for name in available:
        if name in used:
            continue
        new = renames.get(name, name)
        if wanted is not None and name not in wanted and new not in wanted:
            continue
        if name in renames:
            if new != name:
                plan.notes.append(f"Column '{name}' renamed to '{new}' (mapping).")
        elif name in taken:
            new = _unique(f"{name}_source", taken | set(available))
            origin = plan.chosen.get(name) or next(
                (c for c, t in renames.items() if t == name), None
            )
            why = f": {name} comes from '{origin}'" if origin else ""
            plan.notes.append(f"Column '{name}' kept as '{new}'{why}.")
        taken.add(new)
        plan.renamed[name] = new
    return plan


def _list(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in list(names)[:30])
    return shown + (", …" if len(names) > 30 else "") if names else "(none)"


# -- expressions ------------------------------------------------------------------------------


_NOT_A_TIME = -(2**63)
#: The largest whole number a float holds exactly (2**53): beyond it "7.0" may not be 7.
_EXACT_FLOAT = 2.0**53


def _id_exprs(column: str | None, schema: pl.Schema, target: str, source: str) -> list[pl.Expr]:
    """A String id or name column (blank strings count as missing), and a change flag for ids.

    An id read as a float (a CSV or spreadsheet column with gaps: ``13085.0``) is its whole number
    as text (``"13085"``), counted as ``id_decimal_point``; so is such a text (``"13085.0"``) in an
    id column. Other floats stay as written (``"7.5"``); NaN and infinities are missing.
    """
    if column is None:
        return [pl.lit(None, dtype=pl.String).alias(target)]
    dtype = schema[column]
    if dtype.is_nested() or dtype == pl.Binary:
        raise ConnectorError(f"{source}: column {column!r} ({target}) holds {dtype}, not text")
    raw = pl.col(column)
    whole: pl.Expr | None = None
    text: pl.Expr
    if dtype.is_float():
        finite = raw.is_finite()
        whole = finite & (raw == raw.floor()) & (raw.abs() < _EXACT_FLOAT)
        text = (
            pl.when(whole)
            .then(raw.cast(pl.Int64, strict=False).cast(pl.String))
            .when(finite)
            .then(raw.cast(pl.String))
        )
    else:
        text = raw.cast(pl.String)
        if target != "event" and _is_text(dtype):
            # Only a text that starts with '-' or a digit and ends in '0' can be one: comparisons
            # pick those cheaply, and the regexes see only them (the other rows are null to them,
            # and nulls cost next to nothing).
            maybe = (text >= "-") & (text < ":") & text.str.ends_with("0")
            whole = pl.when(maybe).then(text).str.contains(r"^-?\d{1,15}\.0+$")
            text = pl.coalesce(pl.when(whole).then(text).str.replace(r"\.0+$", ""), text)
    # A text whose first byte is printable ASCII ('!' to DEL) is not blank; only the others
    # (empty, or starting with a space, a control or a non-ASCII character) are stripped.
    printable = (text >= "!") & (text < "\u0080")
    filled = printable | (pl.when(~printable).then(text).str.strip_chars() != "")
    exprs = [pl.when(filled).then(text).alias(target)]
    if whole is not None:
        exprs.append(whole.fill_null(False).alias(f"{_CHANGED}id_decimal_point:{column}"))
    return exprs


def _revenue_exprs(column: str, schema: pl.Schema) -> list[pl.Expr]:
    """Revenue as a finite Float64, and flags for the amounts left empty (``CHANGE_REASONS``).

    Text that is no number, and booleans, dates or anything else that is not a number, are no
    amount; NaN, infinities and overflowing texts ("1e400") are no finite one. Either would
    poison a sum (ARPU) or count a non-payer as paying, so the amount is left empty and counted.
    """
    dtype = schema[column]
    raw = pl.col(column)
    if dtype.is_numeric():
        number, no_number = raw.cast(pl.Float64), pl.lit(False)
    elif _is_text(dtype):
        text = raw.cast(pl.String).str.strip_chars()
        number = text.cast(pl.Float64, strict=False)
        no_number = (text != "") & number.is_null()
    else:
        number, no_number = pl.lit(None, dtype=pl.Float64), raw.is_not_null()
    not_finite = number.is_not_null() & ~number.is_finite()
    return [
        pl.when(number.is_finite()).then(number).alias("revenue"),
        no_number.fill_null(False).alias(f"{_CHANGED}revenue_not_a_number:{column}"),
        not_finite.fill_null(False).alias(f"{_CHANGED}revenue_not_finite:{column}"),
    ]


def _property_expr(column: str, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.Categorical | pl.Enum) or dtype == pl.Null:
        return pl.col(column).cast(pl.String)
    return pl.col(column)


def _epoch(value: pl.Expr, integer: bool) -> tuple[pl.Expr, pl.Expr]:
    """(UTC timestamp, unit name) of a numeric epoch whose unit follows from its magnitude."""
    size = value.cast(pl.Float64).abs()  # as a float: abs(-2**63) overflows an Int64
    factors = {"s": 1_000_000, "ms": 1_000, "us": 1}
    # Built from the largest unit down: each step wraps the previous in when/then/otherwise.
    unit: pl.Expr = pl.lit("ns")
    micros: pl.Expr = value // 1000 if integer else (value / 1000).round()
    for name, limit in reversed(EPOCH_LIMITS):
        scaled = value * factors[name]
        unit = pl.when(size < limit).then(pl.lit(name)).otherwise(unit)
        micros = pl.when(size < limit).then(scaled if integer else scaled.round()).otherwise(micros)
    # -2**63 is no instant but NumPy's and pandas' "not a time" (NaT): missing, so unreadable.
    real = value.is_not_null() & (value != _NOT_A_TIME)
    unit = pl.when(real).then(unit)
    return pl.when(real).then(micros.cast(pl.Int64, strict=False)).cast(UTC_MICROS), unit


def _localise(naive: pl.Expr, tz: str) -> pl.Expr:
    """Wall-clock times in ``tz`` as UTC; a time skipped by a DST change is null (unparseable)."""
    return naive.dt.replace_time_zone(
        tz, ambiguous="earliest", non_existent="null"
    ).dt.convert_time_zone("UTC")


#: The shapes most exports write, parsed directly: (format, whether it carries its own zone).
#: ``%.f`` also accepts no fraction; a trailing ``Z`` means UTC.
_COMMON_TEXT_TIMES = (
    ("%Y-%m-%dT%H:%M:%S%.f%z", True),  # ISO 8601 with an offset: +00:00 or +0000
    ("%Y-%m-%dT%H:%M:%S%.fZ", True),  # ISO 8601 in UTC (Segment, PostHog)
    ("%Y-%m-%d %H:%M:%S%.f", False),  # no zone (Amplitude's export, most CSVs)
    ("%Y-%m-%dT%H:%M:%S%.f", False),  # ISO 8601 with no zone (SQLite, Python's isoformat)
)

#: How many of a column's first texts choose which common spellings to try, and in what order.
_SPELLING_SAMPLE = 200


def _spellings(frame: pl.LazyFrame, column: str) -> list[tuple[str, bool]]:
    """The common spellings that the column's first texts use, the most used first.

    Trying a spelling costs as much when it fails as when it reads, so only those seen in the
    sample are tried; texts in any other spelling still reach the general reader.
    """
    try:
        sample = (
            frame.select(pl.col(column).cast(pl.String).str.strip_chars())
            .head(_SPELLING_SAMPLE)
            .collect()
            .to_series()
            .drop_nulls()
        )
    except Exception:  # a reading error is reported, with its place, when the frame is read
        return list(_COMMON_TEXT_TIMES)
    hits = {
        shape: sample.str.to_datetime(shape[0], strict=False, time_unit="us").count()
        for shape in _COMMON_TEXT_TIMES
    }
    return sorted((shape for shape in _COMMON_TEXT_TIMES if hits[shape]), key=lambda x: -hits[x])


def _user_spelling(time_format: str, source: str) -> tuple[str, bool]:
    """A source's own ``time_format`` as a spelling to try, checked to be a strftime pattern."""
    if not isinstance(time_format, str) or "%" not in time_format:
        raise ConnectorError(
            f"{source}: time_format must be a strftime pattern such as '%m/%d/%Y %H:%M', "
            f"not {time_format!r}"
        )
    try:
        pl.Series(["2026-01-02"]).str.to_datetime(time_format, strict=False)
    except Exception as exc:
        raise ConnectorError(
            f"{source}: time_format {time_format!r} is not a pattern Polars can read "
            f"({polars_message(exc)})"
        ) from exc
    return time_format, "%z" in time_format or "%:z" in time_format


def with_text_times(
    frame: pl.LazyFrame,
    column: str,
    tz: str,
    value: str,
    kind: str,
    spellings: Sequence[tuple[str, bool]] | None = None,
) -> pl.LazyFrame:
    """``frame`` with the texts of ``column`` read as UTC instants (``value``) and how (``kind``).

    The general reader (:func:`general_text_time_exprs`) accepts many spellings but costs five
    regex passes and four parse attempts per text. A column almost always uses one spelling, so
    the common ones its first texts use are tried first (:func:`_spellings`), each on the texts
    still unread, and the general reader gets only what they leave: the others are null to it, and
    nulls cost next to nothing. Each stage is its own column, so no stage is computed twice. Both
    give the same instant for any text either reads (tests/connectors/test_normalise.py checks
    this on random texts).
    """
    if spellings is None:
        spellings = _spellings(frame, column)
    left, parsed = f"{value}__left", [f"{value}__{i}" for i in range(len(spellings))]
    frame = frame.with_columns(pl.col(column).cast(pl.String).str.strip_chars().alias(left))
    values: list[pl.Expr] = []
    kinds: list[tuple[pl.Expr, str]] = []
    for name, (fmt, zoned) in zip(parsed, spellings, strict=True):
        frame = frame.with_columns(
            pl.col(left).str.to_datetime(fmt, strict=False, time_unit="us").alias(name)
        ).with_columns(pl.when(pl.col(name).is_null()).then(pl.col(left)).alias(left))
        if zoned:
            read = pl.col(name).dt.replace_time_zone("UTC") if fmt.endswith("Z") else pl.col(name)
            values.append(read.dt.convert_time_zone("UTC"))
        else:
            values.append(_localise(pl.col(name), tz))
        kinds.append((pl.col(name).is_not_null(), "zoned" if zoned else "no_zone"))
    general_value, general_kind = general_text_time_exprs(pl.col(left), tz)
    how_read = [pl.when(read_here).then(pl.lit(how)) for read_here, how in kinds]
    return frame.with_columns(
        pl.coalesce(*values, general_value).alias(value),
        pl.coalesce(*how_read, general_kind).alias(kind),
    ).drop(left, *parsed)


def general_text_time_exprs(text: pl.Expr, tz: str) -> tuple[pl.Expr, pl.Expr]:
    """(UTC instant, how it was read) of stripped texts in any spelling this module accepts."""
    norm = (
        text.str.replace(r"^(\d{4})/(\d\d)/(\d\d)", "$1-$2-$3")
        .str.replace(r"^(\d{4}-\d\d-\d\d)[Tt ]\s*", "$1 ")
        .str.replace(r"\s*(?:[Zz]|UTC|GMT)$", "+00:00")
        .str.replace(r"^(\d{4}-\d\d-\d\d \d\d:\d\d)([+-]|$)", "$1:00$2")
        .str.replace(r"\s+([+-]\d\d:?\d\d)$", "$1")
    )
    zoned = norm.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%z", strict=False, time_unit="us")
    naive = pl.coalesce(
        norm.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us"),
        norm.str.to_datetime("%Y-%m-%d", strict=False, time_unit="us"),
    )
    numeric = text.str.contains(r"^-?\d+$")
    epoch_int, unit_int = _epoch(text.cast(pl.Int64, strict=False), integer=True)
    epoch_float, unit_float = _epoch(
        pl.when(text.str.contains(r"^-?\d+\.\d*$")).then(text.cast(pl.Float64, strict=False)),
        integer=False,
    )
    value = pl.coalesce(
        zoned.dt.convert_time_zone("UTC"),
        _localise(naive, tz),
        pl.when(numeric).then(epoch_int),
        epoch_float,
    )
    kind = (
        pl.when(zoned.is_not_null())
        .then(pl.lit("zoned"))
        .when(naive.is_not_null())
        .then(pl.lit("no_zone"))
        .when(numeric)
        .then(unit_int)
        .otherwise(unit_float)
    )
    return value, kind


def with_times(
    frame: pl.LazyFrame,
    column: str,
    schema: pl.Schema,
    tz: str,
    source: str,
    *,
    value: str,
    kind: str | None = None,
    time_format: str | None = None,
    spellings: Sequence[tuple[str, bool]] | None = None,
) -> tuple[pl.LazyFrame, list[str]]:
    """``frame`` plus the time column read as UTC (``value``) and how each row was read (``kind``).

    Also the notes known from the schema alone. ``time_format`` is tried first on text times, then
    the common ``spellings`` (default: those the frame's first texts use, :func:`_spellings`).
    Raises :class:`ConnectorError` for a column that cannot hold times or a format that is not a
    strftime pattern.
    """
    dtype = schema[column]
    if _is_text(dtype):
        kind_name = kind or f"{value}__kind"
        if spellings is None:
            spellings = _spellings(frame, column)
        if time_format is not None:
            spellings = [_user_spelling(time_format, source), *spellings]
        frame = with_text_times(frame, column, tz, value, kind_name, spellings)
        notes = []
        if time_format is not None:
            notes.append(f"Times in '{column}' were read with the format {time_format!r} first.")
        return (frame if kind else frame.drop(kind_name)), notes
    read, how, notes = _timestamp_exprs(column, schema, tz, source)
    return frame.with_columns(read.alias(value), *([how.alias(kind)] if kind else [])), notes


def _is_text(dtype: pl.DataType) -> bool:
    return dtype in (pl.String, pl.Null) or isinstance(dtype, pl.Categorical | pl.Enum)


def _timestamp_exprs(
    column: str, schema: pl.Schema, tz: str, source: str
) -> tuple[pl.Expr, pl.Expr, list[str]]:
    """(UTC timestamp, how each row was read, notes known from the schema alone) of a column that
    holds datetimes, dates or epochs; text columns are read by :func:`with_times`."""
    dtype = schema[column]
    raw = pl.col(column)
    notes: list[str] = []
    if isinstance(dtype, pl.Datetime):
        if dtype.time_unit == "ns":
            notes.append(f"Times in '{column}' have nanoseconds; they were cut to microseconds.")
        if dtype.time_zone is not None:
            value = raw.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
            return value, pl.lit("zoned"), notes
        value = _localise(raw.dt.cast_time_unit("us"), tz)
        return value, pl.when(raw.is_not_null()).then(pl.lit("no_zone")), notes
    if dtype == pl.Date:
        value = _localise(raw.cast(pl.Datetime("us")), tz)
        return value, pl.when(raw.is_not_null()).then(pl.lit("date")), notes
    if dtype.is_integer():
        # Beyond Int64 (a UInt64 or Int128 column) no time fits: null, so unreadable.
        value, unit = _epoch(raw.cast(pl.Int64, strict=False), integer=True)
        return value, unit, notes
    if dtype.is_float():
        value, unit = _epoch(raw, integer=False)
        return value, unit, notes
    raise ConnectorError(f"{source}: column {column!r} (timestamp) holds {dtype}, not times")


_Bounds = tuple[dt.datetime | None, dt.datetime | None]


def _range_expr(bounds: _Bounds) -> pl.Expr | None:
    start, end = bounds
    if start is None and end is None:
        return None
    expr = pl.lit(True)
    if start is not None:
        expr = expr & (pl.col("timestamp") >= start)
    if end is not None:
        expr = expr & (pl.col("timestamp") < end)
    return expr


def _coarse_range(column: str, schema: pl.Schema, bounds: _Bounds) -> pl.Expr | None:
    """A filter on a raw datetime column that keeps at least the range (exact one comes later).

    Zoned columns get the exact instants; wall-clock columns a day of margin each side (no zone is
    more than 14 hours from UTC). Text and epoch columns get none: their unit or zone is per row.
    """
    dtype = schema[column]
    start, end = bounds
    if (start is None and end is None) or not isinstance(dtype, pl.Datetime):
        return None
    margin = dt.timedelta(0) if dtype.time_zone else dt.timedelta(days=1)
    raw, expr = pl.col(column), pl.col(column).is_null()
    bound = pl.lit(True)

    def literal(instant: dt.datetime) -> pl.Expr:
        if dtype.time_zone:
            value = pl.lit(instant).dt.convert_time_zone(dtype.time_zone)
        else:
            value = pl.lit(instant.replace(tzinfo=None))
        return value.dt.cast_time_unit(dtype.time_unit or "us")

    if start is not None:
        bound = bound & (raw >= literal(max(start, _EARLIEST + margin) - margin))
    if end is not None:
        bound = bound & (raw < literal(min(end, _LATEST - margin) + margin))
    return expr | bound


def _bound(
    value: dt.date | dt.datetime | str | None, tz: str, *, end_of_day: bool, source: str, key: str
) -> dt.datetime | None:
    """A range bound as a UTC instant (see :func:`_instant`); ConnectorError naming a bad one."""
    if value is None:
        return None
    try:
        return _instant(value, tz, end_of_day=end_of_day)
    except (ValueError, TypeError) as exc:
        raise ConnectorError(f"{source}: {key}: {exc}") from exc


def _instant(value: dt.date | dt.datetime | str, tz: str, *, end_of_day: bool) -> dt.datetime:
    """A range bound as a UTC instant: a date means its local midnight (the next one for an end).

    Bounds at the ends of the calendar (0001-01-01, 9999-12-31) are clamped to the first or last
    instant a datetime holds, so they mean "from the beginning" and "to the end".
    """
    if isinstance(value, str):
        try:
            value = (
                dt.datetime.fromisoformat(value)
                if len(value.strip()) > 10
                else dt.date.fromisoformat(value.strip())
            )
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO date or datetime (2026-01-31)") from None
    if not isinstance(value, dt.date):
        raise TypeError(f"{value!r} is not a date (2026-01-31)")
    try:
        if isinstance(value, dt.datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=ZoneInfo(tz))
            return aware.astimezone(dt.UTC)
        day = value + dt.timedelta(days=1) if end_of_day else value
        return dt.datetime.combine(day, dt.time(), ZoneInfo(tz)).astimezone(dt.UTC)
    except OverflowError:
        late = value.year > 5000
        return _LATEST if late else _EARLIEST


def _plausible_window(
    start: dt.date | dt.datetime | str | None,
    end: dt.date | dt.datetime | str | None,
    source: str,
) -> tuple[dt.datetime, dt.datetime]:
    """The times an event can plausibly have: from 1990 to a day after now, unless the source
    says otherwise (dates are whole UTC days, both included)."""
    lo = _bound(start, "UTC", end_of_day=False, source=source, key="plausible_start")
    hi = _bound(end, "UTC", end_of_day=True, source=source, key="plausible_end")
    if hi is None:
        # The end of tomorrow (UTC): a day after the load at least, and the same all day long,
        # so two loads of one source on one day report the same window.
        today = dt.datetime.now(dt.UTC).date()
        hi = dt.datetime.combine(today + 2 * PLAUSIBLE_AHEAD, dt.time(), dt.UTC)
    return lo or PLAUSIBLE_START, hi


# -- the report -------------------------------------------------------------------------------


def _report(
    staged: pl.LazyFrame,
    events: pl.LazyFrame,
    links: pl.LazyFrame | None,
    *,
    source: str,
    format: str,
    tz: str,
    notes: list[str],
    window: tuple[dt.datetime, dt.datetime],
    unmapped_words: str | None,
) -> LoadReport:
    reason, kind = pl.col(_REASON), pl.col(_TS_KIND)
    unreadable = (reason == "unparseable_time") & pl.col(_TS_RAW).is_not_null()
    counts: list[pl.Expr] = [
        pl.len().alias("rows_read"),
        *[(reason == r).sum().alias(r) for r in DROP_REASONS],
        (reason.is_null() & (kind == "no_zone")).sum().alias("no_zone"),
        (reason.is_null() & (kind == "date")).sum().alias("date"),
        *[(reason.is_null() & (kind == u)).sum().alias(f"epoch_{u}") for u in _EPOCH_UNITS],
        unreadable.sum().alias("unreadable"),
        # Filtered before the cast: turning every time into text would cost more than the rest.
        pl.col(_TS_RAW).filter(unreadable).first().cast(pl.String).alias("bad_value"),
    ]
    staged_schema = staged.collect_schema()
    has_file = _FILE in staged_schema
    if _ROW in staged_schema:
        counts += [
            pl.col(_ROW).filter(unreadable).first().alias("bad_row"),
            pl.col(_ROW).filter(reason == "no_user").first().alias("no_user_row"),
            pl.col(_ROW).filter(reason == "no_event").first().alias("no_event_row"),
        ]
    if has_file:
        counts.append(pl.col(_FILE).filter(unreadable).first().alias("bad_file"))
    flags = [c for c in staged_schema if c.startswith(_CHANGED)]
    counts += [(reason.is_null() & pl.col(c)).sum().alias(c) for c in flags]
    if derive.UNMAPPED in staged_schema:
        unmapped = pl.col(derive.UNMAPPED).filter(reason.is_null()).drop_nulls()
        counts += [
            unmapped.count().alias("unmapped"),
            unmapped.unique(maintain_order=True).head(5).implode().alias("unmapped_values"),
        ]
    if links is not None:
        counts.append((reason.is_null() & pl.col(identity.CHANGED)).sum().alias("reattributed"))
    # What was kept, read from the events themselves (no filter to apply: with collect=True they
    # are in memory already); names counted by a group-by, a quarter of value_counts' time.
    stamp = pl.col("timestamp")
    plausible = stamp.filter(stamp.is_between(pl.lit(window[0]), pl.lit(window[1])))
    implausible = stamp.filter(~stamp.is_between(pl.lit(window[0]), pl.lit(window[1])))
    kept = [
        plausible.min().alias("first_plausible"),
        plausible.max().alias("last_plausible"),
        implausible.count().alias("implausible"),
        implausible.min().alias("first_implausible"),
        implausible.max().alias("last_implausible"),
        stamp.min().alias("first"),
        stamp.max().alias("last"),
        pl.col("user_id").n_unique().alias("users"),
    ]
    queries = [staged.select(counts), events.select(kept), events.group_by("event").len("n")]
    if links is not None:
        queries.append(identity.link_counts(links))
    try:
        results = pl.collect_all(queries)
    except Exception as exc:
        raise ConnectorError(f"{source}: cannot be read ({polars_message(exc)})") from exc
    stats: dict[str, Any] = {**results[0].row(0, named=True), **results[1].row(0, named=True)}
    first, last, users = stats["first"], stats["last"], stats["users"]
    by_name = sorted(results[2].iter_rows(), key=lambda pair: (-pair[1], pair[0]))
    merged = ambiguous = 0
    if links is not None:
        merged, ambiguous = results[3].row(0)

    notes = list(notes)
    notes.extend(_time_notes(stats, tz, has_file))
    if stats["no_user"]:
        notes.append(
            f"{_n(stats['no_user'], 'row')} had no user id and {_was(stats['no_user'])} dropped"
            f"{_at(stats.get('no_user_row'))}."
        )
    if stats["no_event"]:
        notes.append(
            f"{_n(stats['no_event'], 'row')} had no event name and "
            f"{_was(stats['no_event'])} dropped{_at(stats.get('no_event_row'))}."
        )
    if stats["duplicate_event_id"]:
        notes.append(
            f"{_n(stats['duplicate_event_id'], 'row')} repeated an earlier event_id and "
            f"{_was(stats['duplicate_event_id'])} dropped "
            "(the first occurrence was kept)."
        )
    changed = dict.fromkeys(CHANGE_REASONS, 0)
    columns_changed: dict[str, list[str]] = {}
    for flag in flags:
        _, why, column = flag.split(":", 2)
        if stats[flag]:
            changed[why] += stats[flag]
            columns_changed.setdefault(why, []).append(column)
    notes.extend(_change_notes(changed, columns_changed))
    if stats.get("unmapped"):
        values = ", ".join(repr(v) for v in stats["unmapped_values"])
        more = ", …" if len(stats["unmapped_values"]) == 5 else ""
        notes.append(
            f"{_n(stats['unmapped'], 'row')} had a value {unmapped_words}: {values}{more}."
        )
    if stats["implausible"]:
        notes.append(
            f"{_n(stats['implausible'], 'time')} outside the plausible "
            f"{window[0]:%Y-%m-%d} to {window[1]:%Y-%m-%d} (UTC), from "
            f"{stats['first_implausible']:%Y-%m-%d %H:%M} to "
            f"{stats['last_implausible']:%Y-%m-%d %H:%M}: kept, but the pages open on the "
            "plausible range (set plausible_start or plausible_end when such times are real)."
        )
    if stats["filtered_out"]:
        notes.append(
            f"{_n(stats['filtered_out'], 'row')} did not meet the source's where condition and "
            f"{_was(stats['filtered_out'])} left out."
        )
    if merged:
        notes.append(
            f"{_n(merged, 'anonymous id')} linked to a known user; "
            f"{_n(stats['reattributed'], 'anonymous event')} attributed to their user."
        )
    if ambiguous:
        notes.append(
            f"{_n(ambiguous, 'anonymous id')} linked to several users; each went to the user it "
            "was linked to first."
        )
    if stats["rows_read"] == 0:
        notes.append("The source has no rows.")
    return LoadReport(
        source=source,
        format=format,
        rows_read=stats["rows_read"],
        rows_kept=stats["rows_read"] - sum(stats[r] for r in DROP_REASONS),
        dropped={r: stats[r] for r in DROP_REASONS},
        first_event=first,
        last_event=last,
        users=users,
        events_by_name=dict(by_name),
        identities_merged=merged,
        columns={name: str(dtype) for name, dtype in events.collect_schema().items()},
        notes=tuple(notes),
        changed=changed,
        implausible_times=stats["implausible"],
        first_plausible=stats["first_plausible"],
        last_plausible=stats["last_plausible"],
        plausible_window=window,
    )


def _change_notes(changed: Mapping[str, int], columns: Mapping[str, list[str]]) -> list[str]:
    def where(why: str) -> str:
        return ", ".join(f"'{c}'" for c in columns.get(why, []))

    notes = []
    if changed["revenue_not_a_number"]:
        count = changed["revenue_not_a_number"]
        notes.append(
            f"{_n(count, 'revenue value')} in {where('revenue_not_a_number')} "
            f"{'was' if count == 1 else 'were'} not a number; left empty."
        )
    if changed["revenue_not_finite"]:
        count = changed["revenue_not_finite"]
        notes.append(
            f"{_n(count, 'revenue value')} in {where('revenue_not_finite')} "
            f"{'was' if count == 1 else 'were'} not a finite number (NaN, infinity or too "
            "large); left empty."
        )
    if changed["id_decimal_point"]:
        notes.append(
            f"{_n(changed['id_decimal_point'], 'id')} in {where('id_decimal_point')} written "
            "as whole numbers with a decimal point ('13085.0') read without it ('13085')."
        )
    return notes


def _time_notes(stats: Mapping[str, Any], tz: str, has_file: bool) -> list[str]:
    notes: list[str] = []
    if stats["no_zone"]:
        notes.append(
            f"{_n(stats['no_zone'], 'time')} with no zone read in {tz} and converted to UTC."
        )
    if stats["date"]:
        notes.append(f"{_n(stats['date'], 'date')} with no time read as midnight in {tz}.")
    for unit, words in _EPOCH_UNITS.items():
        if stats[f"epoch_{unit}"]:
            count = stats[f"epoch_{unit}"]
            notes.append(f"{_n(count, 'time')} read as epoch {words} (from their size).")
    missing = stats["unparseable_time"] - stats["unreadable"]
    if missing:
        notes.append(f"{_n(missing, 'row')} had no time and {_was(missing)} dropped.")
    if stats["unreadable"]:
        where = f"at row {stats['bad_row']}" if stats.get("bad_row") is not None else ""
        if has_file and stats.get("bad_file"):
            where += f" in {stats['bad_file']}"
        notes.append(
            f"{_n(stats['unreadable'], 'time')} could not be read (or do not exist in {tz}) and "
            f"{_was(stats['unreadable'])} dropped; first {where}: {stats['bad_value']!r}."
        )
        if re.match(r"^\s*\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}", str(stats["bad_value"])):
            notes.append(
                "Day and month first times cannot be told apart from month and day first ones "
                "(is 01/02 January or February?): give the source a time_format, for example "
                "'%m/%d/%Y %H:%M' or '%d.%m.%Y %H:%M' (docs/data.md, Time)."
            )
    return notes


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _was(count: int) -> str:
    return "was" if count == 1 else "were"


def _at(row: int | None) -> str:
    return "" if row is None else f" (first at row {row})"
