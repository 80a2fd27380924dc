"""The exports product teams already have, recognised from their columns and flattened.

Each known export gets a small function that reshapes its frame lazily into columns that
:func:`connectors.normalise.to_canonical` understands, plus the mapping of canonical columns and
notes that say what was changed. Detection looks at column names (and, for JSON, their nesting):

=================  ================================================================================
format             recognised by
=================  ================================================================================
``ga4``            ``event_timestamp``, ``event_name``, ``user_pseudo_id`` (BigQuery export)
``mixpanel``       ``event`` and a ``properties`` record holding ``time`` and ``distinct_id``
``posthog``        ``distinct_id``, ``event``, ``properties`` and ``uuid`` or ``elements_chain``
``amplitude``      ``event_type`` with ``event_time`` (export) or ``time`` (HTTP API events)
``segment``        ``type``, ``anonymousId`` or ``userId``, ``event`` or ``messageId`` (JSON calls)
``segment_tracks`` ``event``, ``anonymous_id`` and ``event_text`` or ``received_at`` (warehouse)
``snowplow``       ``derived_tstamp``, or ``domain_userid`` with ``collector_tstamp``
=================  ================================================================================

A mapping given by the user always wins over the one an export implies.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from connectors.errors import ConnectorError


@dataclass(frozen=True)
class Prepared:
    """An export reshaped for :func:`~connectors.normalise.to_canonical`."""

    frame: pl.LazyFrame
    format: str
    mapping: dict[str, str]
    notes: tuple[str, ...]


#: Columns of each text export whose values are ids or times: read as text, never as numbers, so
#: "00123" keeps its zeros and times reach the time parser as written.
TEXT_COLUMNS: dict[str, tuple[str, ...]] = {
    "posthog": ("distinct_id", "uuid", "timestamp", "person_id"),
    "amplitude": ("user_id", "device_id", "$insert_id", "uuid", "insert_id", "event_time"),
    "segment_tracks": ("id", "user_id", "anonymous_id", "timestamp"),
    "snowplow": ("event_id", "user_id", "domain_userid", "domain_sessionid", "derived_tstamp"),
    "ga4": ("user_id", "user_pseudo_id", "event_timestamp"),
    "segment": ("userId", "anonymousId", "messageId", "timestamp"),
    "mixpanel": (),
}


def detect(schema: pl.Schema | Sequence[str]) -> str | None:
    """The export format these columns come from, or None for a plain event table."""
    names = set(schema)
    types = schema if isinstance(schema, pl.Schema) else None

    def record_with(column: str, *fields: str) -> bool:
        dtype = None if types is None else types.get(column)
        if not isinstance(dtype, pl.Struct):
            return False
        return set(fields) <= {f.name for f in dtype.fields}

    if {"event_timestamp", "event_name", "user_pseudo_id"} <= names:
        return "ga4"
    if "event" in names and record_with("properties", "time", "distinct_id"):
        return "mixpanel"
    if {"distinct_id", "event", "properties"} <= names and names & {"uuid", "elements_chain"}:
        return "posthog"
    if "event_type" in names and names & {"event_time", "time"}:
        return "amplitude"
    if "type" in names and names & {"anonymousId", "userId"} and names & {"event", "messageId"}:
        return "segment"
    if {"event", "anonymous_id"} <= names and names & {"event_text", "received_at"}:
        return "segment_tracks"
    if "derived_tstamp" in names or {"domain_userid", "collector_tstamp"} <= names:
        return "snowplow"
    return None


def prepare(frame: pl.LazyFrame, *, source: str) -> Prepared | None:
    """``frame`` reshaped as its export format requires, or None when it is no known export."""
    try:
        schema = frame.collect_schema()
    except Exception as exc:
        from connectors.normalise import polars_message

        raise ConnectorError(f"{source}: cannot be read ({polars_message(exc)})") from exc
    name = detect(schema)
    if name is None:
        return None
    return _PREPARERS[name](frame, schema, source)


# -- helpers ----------------------------------------------------------------------------------


def _lift(
    frame: pl.LazyFrame, schema: pl.Schema, column: str, *, prefix: str | None = None
) -> tuple[pl.LazyFrame, pl.Schema, list[str]]:
    """The fields of record ``column`` become top-level columns (``prefix_`` only on a clash)."""
    dtype = schema.get(column)
    if not isinstance(dtype, pl.Struct):
        return frame, schema, []
    taken = set(schema) - {column}
    exprs, clashes = [], []
    for fld in dtype.fields:
        name = fld.name
        if name in taken:
            name = f"{prefix or column}_{fld.name}"
            clashes.append(fld.name)
        taken.add(name)
        exprs.append(pl.col(column).struct.field(fld.name).alias(name))
    frame = frame.with_columns(exprs).drop(column)
    notes = [f"The fields of '{column}' became columns of their own."]
    if clashes:
        notes.append(
            f"Fields of '{column}' named like other columns got the prefix "
            f"'{prefix or column}_': {', '.join(clashes)}."
        )
    return frame, frame.collect_schema(), notes


def _as_utc(column: str, schema: pl.Schema) -> pl.Expr:
    """Times that the export writes in UTC without saying so, marked as UTC."""
    dtype = schema[column]
    col = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        return col.dt.replace_time_zone("UTC") if dtype.time_zone is None else col
    if dtype == pl.String:
        zoned = col.str.contains(r"(?:[Zz]|UTC|[+-]\d\d:?\d\d)\s*$")
        dated = col.str.contains(r"^\s*\d{4}-\d\d-\d\d")
        return pl.when(dated & ~zoned).then(col.str.strip_chars() + "+00:00").otherwise(col)
    return col


def _first_present(schema: pl.Schema, *names: str) -> str | None:
    return next((n for n in names if n in schema), None)


def _mapping(schema: pl.Schema, **targets: str | None) -> dict[str, str]:
    return {t: c for t, c in targets.items() if c is not None and c in schema}


# -- the exports ------------------------------------------------------------------------------


def _segment(frame: pl.LazyFrame, schema: pl.Schema, source: str) -> Prepared:
    notes = ["Segment track export: userId, anonymousId, messageId and timestamp used."]
    kind = pl.col("type")
    if "event" not in schema:  # an export of page or identify calls only
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("event"))
    frame = frame.with_columns(
        pl.when(kind == "track")
        .then(pl.col("event"))
        .when(kind == "page")
        .then(pl.lit("page_view"))
        .when(kind == "screen")
        .then(pl.lit("screen_view"))
        .alias("event")
    )
    notes.append(
        "Segment page and screen calls became 'page_view' and 'screen_view' events; identify, "
        "group and alias calls carry no event: they link ids and are counted as 'no event'."
    )
    frame, schema, lifted = _lift(frame, schema, "properties")
    notes.extend(lifted)
    mapping = _mapping(
        schema,
        user_id="userId",
        anonymous_id="anonymousId",
        event_id="messageId",
        timestamp=_first_present(schema, "timestamp", "originalTimestamp", "receivedAt"),
    )
    return Prepared(frame, "segment", mapping, tuple(notes))


def _segment_tracks(frame: pl.LazyFrame, schema: pl.Schema, source: str) -> Prepared:
    mapping = _mapping(
        schema,
        user_id="user_id",
        anonymous_id="anonymous_id",
        event_id="id",
        timestamp=_first_present(schema, "timestamp", "original_timestamp", "received_at"),
    )
    notes = ("Segment warehouse 'tracks' table: user_id, anonymous_id, id and timestamp used.",)
    return Prepared(frame, "segment_tracks", mapping, notes)


def _amplitude(frame: pl.LazyFrame, schema: pl.Schema, source: str) -> Prepared:
    notes: list[str] = []
    if "event_time" in schema:
        frame = frame.with_columns(_as_utc("event_time", schema).alias("event_time"))
        time_column = "event_time"
        notes.append("Amplitude export: event_time is UTC (Amplitude writes it without a zone).")
    else:
        time_column = "time"
        notes.append("Amplitude HTTP API events: time is epoch milliseconds.")
    for column in ("event_properties", "user_properties"):
        frame, schema, lifted = _lift(frame, schema, column, prefix=column.split("_")[0])
        notes.extend(lifted)
    mapping = _mapping(
        schema,
        user_id="user_id",
        anonymous_id="device_id",
        event="event_type",
        timestamp=time_column,
        event_id=_first_present(schema, "$insert_id", "insert_id", "uuid"),
        session_id="session_id",
        revenue=_first_present(schema, "revenue", "$revenue"),
    )
    notes.append("device_id is the anonymous id; events before login go to the user identified.")
    return Prepared(frame, "amplitude", mapping, tuple(notes))


def _mixpanel(frame: pl.LazyFrame, schema: pl.Schema, source: str) -> Prepared:
    frame, schema, notes = _lift(frame, schema, "properties")
    if {"$user_id", "$device_id"} <= set(schema):
        # Simplified ID Merge: $device_id before login, $user_id after; distinct_id mixes the two.
        user, anonymous = "$user_id", "$device_id"
        notes.append("Mixpanel $user_id and $device_id used for identity (simplified ID merge).")
    else:
        user, anonymous = "distinct_id", None
    mapping = _mapping(
        schema,
        user_id=user,
        anonymous_id=anonymous,
        timestamp="time",
        event_id="$insert_id",
        event="event",
    )
    notes.insert(0, "Mixpanel export: properties.time is epoch seconds, distinct_id the user.")
    return Prepared(frame, "mixpanel", mapping, tuple(notes))


def _posthog(frame: pl.LazyFrame, schema: pl.Schema, source: str) -> Prepared:
    notes = ["PostHog events: properties unpacked, timestamp read as UTC."]
    if schema["properties"] == pl.String:
        frame = frame.with_columns(
            pl.when(pl.col("properties").str.strip_chars() != "").then(pl.col("properties"))
        )
        dtype = _json_dtype(frame, "properties", source)
        frame = frame.with_columns(pl.col("properties").str.json_decode(dtype))
        schema = frame.collect_schema()
        notes.append("The JSON text in 'properties' was read into columns.")
    frame, schema, lifted = _lift(frame, schema, "properties")
    notes.extend(lifted)
    frame = frame.with_columns(_as_utc("timestamp", schema).alias("timestamp"))
    mapping = _mapping(
        schema,
        user_id="distinct_id",
        anonymous_id="$anon_distinct_id",
        event="event",
        timestamp="timestamp",
        event_id="uuid",
        session_id="$session_id",
    )
    return Prepared(frame, "posthog", mapping, tuple(notes))


def _json_dtype(frame: pl.LazyFrame, column: str, source: str) -> pl.DataType:
    """The record type of a column of JSON text, learnt from every row (keys may appear late)."""
    values = frame.select(pl.col(column)).collect().to_series()
    try:
        return values.str.json_decode(infer_schema_length=None).dtype
    except Exception as exc:
        for row, text in enumerate(values.to_list(), start=1):
            if text is None:
                continue
            try:
                json.loads(text)
            except json.JSONDecodeError as bad:
                raise ConnectorError(
                    f"{source}: column {column!r} at row {row} is not JSON ({bad.msg}): "
                    f"{text[:80]!r}"
                ) from exc
        raise ConnectorError(f"{source}: column {column!r} cannot be read as JSON") from exc


def _ga4(frame: pl.LazyFrame, schema: pl.Schema, source: str) -> Prepared:
    notes = ["GA4 BigQuery export: event_timestamp is epoch microseconds; event_params unpacked."]
    for column in ("event_params", "user_properties"):
        if column in schema and isinstance(schema[column], pl.List):
            frame, added = _unpack_params(frame, column, set(schema), source)
            schema = frame.collect_schema()
            if added:
                notes.append(f"'{column}' became columns: {', '.join(added)}.")
    mapping = _mapping(
        schema,
        user_id="user_id",
        anonymous_id="user_pseudo_id",
        event="event_name",
        timestamp="event_timestamp",
        session_id="ga_session_id",
    )
    # Records (geo, device, ecommerce, ...) are flattened by to_canonical as geo_country, ...
    ecommerce = schema.get("ecommerce")
    if isinstance(ecommerce, pl.Struct) and "purchase_revenue" in {
        f.name for f in ecommerce.fields
    }:
        mapping["revenue"] = "ecommerce_purchase_revenue"
        notes.append("Revenue is ecommerce.purchase_revenue.")
    notes.append("user_pseudo_id is the anonymous id; events before login go to the user.")
    return Prepared(frame, "ga4", mapping, tuple(notes))


def _unpack_params(
    frame: pl.LazyFrame, column: str, taken: set[str], source: str
) -> tuple[pl.LazyFrame, list[str]]:
    """GA4's key/value lists -> one column per key, typed by the values the key holds."""
    params = frame.select(pl.col(column).explode().alias("p")).filter(pl.col("p").is_not_null())
    value_type = params.collect_schema()["p"]
    value_fields = [f.name for f in value_type.fields]  # type: ignore[attr-defined]
    if "key" not in value_fields or "value" not in value_fields:
        raise ConnectorError(f"{source}: column {column!r} is not a list of key/value records")
    inner = next(f.dtype for f in value_type.fields if f.name == "value")  # type: ignore[attr-defined]
    kinds = [f.name for f in inner.fields if f.name.endswith("_value")]  # type: ignore[attr-defined]
    seen = (
        params.select(
            pl.col("p").struct.field("key").alias("key"),
            *[
                pl.col("p").struct.field("value").struct.field(k).is_not_null().alias(k)
                for k in kinds
            ],
        )
        .group_by("key")
        .agg(pl.col(kinds).any())
        .sort("key")
        .collect()
    )
    exprs, added = [], []
    for row in seen.iter_rows(named=True):
        key = row["key"]
        if key is None:
            continue
        value = (
            pl.col(column)
            .list.eval(pl.element().filter(pl.element().struct.field("key") == key))
            .list.first()
            .struct.field("value")
        )
        fields = {k: value.struct.field(k) for k in kinds}
        numbers = [fields[k].cast(pl.Float64, strict=False) for k in kinds if "string" not in k]
        if row.get("string_value"):
            # Mixed text and numbers: keep text, numbers written as text.
            others = [fields[k].cast(pl.String) for k in kinds if k != "string_value"]
            expr = pl.coalesce(fields["string_value"], *others)
        elif any(row.get(k) for k in ("double_value", "float_value")):
            expr = pl.coalesce(numbers)
        else:
            expr = fields["int_value"].cast(pl.Int64, strict=False)
        name = key if key not in taken else f"{column}_{key}"
        taken.add(name)
        exprs.append(expr.alias(name))
        added.append(name)
    if exprs:
        frame = frame.with_columns(exprs)
    return frame.drop(column), added


def _snowplow(frame: pl.LazyFrame, schema: pl.Schema, source: str) -> Prepared:
    notes = ["Snowplow events: derived_tstamp is UTC; domain_userid is the anonymous id."]
    time_column = _first_present(schema, "derived_tstamp", "collector_tstamp")
    assert time_column is not None  # detect() guarantees one of them
    frame = frame.with_columns(_as_utc(time_column, schema).alias(time_column))
    if "event" in schema and "se_action" in schema:
        name = pl.coalesce("event_name", "event") if "event_name" in schema else pl.col("event")
        frame = frame.with_columns(
            pl.when((pl.col("event") == "struct") & pl.col("se_action").is_not_null())
            .then(pl.col("se_action"))
            .otherwise(name)
            .alias("event_name")
        )
        notes.append("Structured events are named by their se_action.")
    schema = frame.collect_schema()
    mapping = _mapping(
        schema,
        user_id="user_id",
        anonymous_id="domain_userid",
        event=_first_present(schema, "event_name", "event"),
        timestamp=time_column,
        event_id="event_id",
        session_id="domain_sessionid",
        revenue="tr_total",
    )
    return Prepared(frame, "snowplow", mapping, tuple(notes))


_PREPARERS: dict[str, Callable[[pl.LazyFrame, pl.Schema, str], Prepared]] = {
    "ga4": _ga4,
    "mixpanel": _mixpanel,
    "posthog": _posthog,
    "amplitude": _amplitude,
    "segment": _segment,
    "segment_tracks": _segment_tracks,
    "snowplow": _snowplow,
}
assert set(_PREPARERS) == set(TEXT_COLUMNS), "every export needs a preparer and its text columns"
