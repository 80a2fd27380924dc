"""A source of ``sources.toml`` opened where its events live (``compute = "warehouse"``).

The app computes such a source in its database: :func:`open_source` returns relations (the
events, and the experiments' assignments when there are any), never rows. The events relation
is what ``connectors.warehouse.warehouse`` gives for the source's URL, table or query, mapping and
zone; the password comes from ``password_env`` / ``password_secret`` as for a loaded source.
Assignments come from the source's ``[assignments]`` table or query on the same connection, else
from its exposure events (``exposure_event``, ``experiment_property``, ``variant_property``), as
``connectors.config`` derives them for loaded events. docs/warehouse.md "In the app".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.config import DUCKDB_TABLE, SourceConfig, source_password
from connectors.errors import ConnectorError, mask_secrets
from connectors.warehouse import warehouse
from connectors.warehouse.engines import DEFAULT_TIMEOUT
from metrics.warehouse import Relation
from metrics.warehouse.catalogue import exposure_assignments


@dataclass(frozen=True)
class WarehouseSource:
    """A source computed in its engine: the events and the assignments as relations."""

    name: str
    events: Relation
    assignments: Relation | None
    notes: tuple[str, ...] = ()


def open_source(
    config: SourceConfig,
    *,
    secrets: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> WarehouseSource:
    """The source's relations; a ConnectorError (no password) names the source and what is
    wrong: an unreachable database, a missing table or column."""
    if config.kind != "sql" or config.url is None:
        raise ConnectorError(f"source {config.name!r}: only a database source computes there")
    settings = config.settings
    environ = environ if environ is not None else os.environ
    password = source_password(config, secrets, environ)
    connection = _connection(config.url, password)
    table, query = _where(settings)
    timeout = float(settings.get("timeout_seconds", DEFAULT_TIMEOUT))
    tz = str(settings.get("tz", "UTC"))
    try:
        events = warehouse(
            connection,
            table=table,
            query=query,
            mapping=settings.get("mapping"),
            tz=tz,
            kind="events",
            timeout_seconds=timeout,
        )
        assignments, notes = _assignments(config, events, tz, timeout)
    except ConnectorError as exc:
        message = str(exc).replace(password, "***") if password else str(exc)
        raise ConnectorError(f"source {config.name!r}: {mask_secrets(message)}") from None
    return WarehouseSource(config.name, events, assignments, notes)


def _where(settings: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(table, query): the source's query, else its table (schema-qualified; a DuckDB file
    naming neither reads ``events``)."""
    if "query" in settings:
        return None, str(settings["query"])
    table = str(settings.get("table", DUCKDB_TABLE))
    schema = settings.get("schema")
    return (f"{schema}.{table}" if schema and "." not in table else table), None


def _connection(url: str, password: str | None) -> Any:
    """A DuckDB URL as it is (opened read-only by ``warehouse``); any other URL as a SQLAlchemy
    engine with the password set apart from the text (and a connect timeout for PostgreSQL)."""
    if url.startswith("duckdb:///"):
        return url
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(url)
    except Exception:
        raise ConnectorError(f"{mask_secrets(url)}: not a SQLAlchemy database URL") from None
    if password is not None:
        parsed = parsed.set(password=password)
    options: dict[str, Any] = {}
    if parsed.get_backend_name() in ("postgresql", "postgres"):
        options["connect_args"] = {"connect_timeout": 10}
    try:
        return sa.create_engine(parsed, **options)
    except Exception as exc:
        raise ConnectorError(
            f"{parsed.render_as_string(hide_password=True)}: cannot be used "
            f"({type(exc).__name__}: {exc})"
        ) from None


def _same_connection(events: Relation) -> Any:
    """The connection the events relation runs on, for a second relation beside it."""
    engine = events.engine
    for attribute in ("connection", "session", "spark", "engine"):
        found = getattr(engine, attribute, None)
        if found is not None:
            return found
    raise ConnectorError("warehouse: the events relation has no connection")


def _assignments(
    config: SourceConfig, events: Relation, tz: str, timeout: float
) -> tuple[Relation | None, tuple[str, ...]]:
    spec = dict(config.settings.get("assignments") or {})
    if "path" in spec:
        return None, (
            "Assignments: a file cannot be joined with events in a database; load it into a "
            "table there and name it with table = ...",
        )
    if "table" in spec or "query" in spec:
        table, query = _where(spec)
        found = warehouse(
            _same_connection(events),
            table=table,
            query=query,
            mapping=spec.get("mapping"),
            tz=tz,
            kind="assignments",
            timeout_seconds=timeout,
        )
        return found, (f"Assignments: read in the database from {table or 'a query'}.",)
    exposure = str(spec.get("exposure_event", "experiment_exposure"))
    experiment = str(spec.get("experiment_property", "experiment"))
    variant = str(spec.get("variant_property", "variant"))
    if not (events.has(experiment) and events.has(variant)):
        if spec.get("from_events"):
            raise ConnectorError(
                f"assignments from events need columns {experiment!r} and {variant!r}; the "
                f"events have {', '.join(events.columns or ())}"
            )
        return None, ()
    note = (
        f"Assignments: first exposures read in the database from {exposure!r} events "
        f"({experiment!r}, {variant!r})."
    )
    return exposure_assignments(events, exposure, experiment, variant), (note,)
