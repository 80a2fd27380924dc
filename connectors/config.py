"""Sources configuration: a small TOML file naming where a product's events live.

    default = "shop"                       # the source the app opens on (the demo when absent)

    [sources.shop]
    path = "data/events/*.parquet"         # a file, glob or folder, relative to this file
    tz = "Europe/Berlin"                   # zone of times written without one
    mapping = { user_id = "customer_id" }  # canonical column = source column

    [sources.warehouse]
    url = "postgresql+psycopg://analyst@db.internal:5432/analytics"
    password_env = "WAREHOUSE_PASSWORD"    # or password_secret = "warehouse_password"
    table = "events"
    compute = "warehouse"                  # every page computes in the database (SQL)

    [sources.local_duckdb]
    path = "data/events.duckdb"            # a DuckDB file: computed there by default

Passwords never sit in this file: a URL holding one, or a ``password`` key, is refused. They come
from an environment variable (``password_env``) or from Streamlit's ``secrets.toml``
(``password_secret``, passed in as ``secrets`` by the app, since connectors never import
streamlit). With no file at all, the built-in demo is the only source. Every problem in the file
is reported at once, each naming the source and the key. Full reference: docs/data.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from connectors import is_url, load_events
from connectors.assignments import assignments_from_events, load_assignments
from connectors.errors import ConnectorError, mask_secrets
from connectors.normalise import polars_message
from connectors.report import LoadReport

DEMO = "demo"
#: The file read when no path is given; the NORTHSTAR_SOURCES environment variable overrides it.
DEFAULT_PATH = "sources.toml"
#: Where a source's vision file is looked for when it names none: visions/<source>.toml.
VISIONS_FOLDER = "visions"

_COMMON = {"tz", "mapping", "start", "end", "columns", "assignments", "description"}
_COMMON |= {"plausible_start", "plausible_end"}
#: Where a SQL source's metrics are computed: in the database ("warehouse": SQL, the events stay
#: there; docs/warehouse.md "In the app") or in Polars after loading the events ("local").
COMPUTE = ("warehouse", "local")
#: File endings of a DuckDB database file: such a path is a SQL source computed in DuckDB.
DUCKDB_SUFFIXES = (".duckdb", ".ddb")
#: The table a DuckDB file source reads when it names neither table nor query.
DUCKDB_TABLE = "events"

#: Options of a files source that make events of rows that are not yet events (docs/data.md).
_DERIVE = {"event", "compute", "where"}
#: Keys that describe the product rather than how its events are read (docs/data.md).
_PRODUCT = {"vision", "currency", "webhook"}  # webhook: python -m review digest
_KEYS: dict[str, set[str]] = {
    "demo": {"kind", "seed", "users", "cache_dir", "tz", "assignments", "description"} | _PRODUCT,
    "files": _COMMON
    | _PRODUCT
    | _DERIVE
    | {"path", "format", "separator", "time_format"}
    | {"encoding"},
    "sql": _COMMON
    | _PRODUCT
    | {"url", "table", "query", "schema", "engine", "timeout_seconds", "password_env"}
    | {"password_secret", "compute", "path"},
}
_ASSIGNMENT_KEYS = {
    "from_events",
    "exposure_event",
    "experiment_property",
    "variant_property",
    "path",
    "table",
    "query",
    "mapping",
    "keep",
}


@dataclasses.dataclass(frozen=True)
class LoadedData:
    """Everything one source gave: canonical events, experiment assignments and the load report."""

    name: str
    events: pl.DataFrame
    assignments: pl.DataFrame | None
    report: LoadReport


@dataclasses.dataclass(frozen=True)
class SourceConfig:
    """One ``[sources.<name>]`` table, checked."""

    name: str
    kind: str  # "demo", "files" or "sql"
    settings: Mapping[str, Any]
    base: Path  # folder of the configuration file; relative paths start here

    @property
    def description(self) -> str:
        """How the Data page names the source: its description, or where it reads (no secrets)."""
        text = self.settings.get("description")
        if text:
            return str(text)
        if self.kind == "demo":
            return "Built-in demo product"
        if self.kind == "files":
            return str(self.settings["path"])
        where = self.settings.get("table") or ("query" if "query" in self.settings else "events")
        shown = self.settings.get("url") or self.settings.get("path")
        return f"{mask_secrets(str(shown))} ({where})"

    @property
    def url(self) -> str | None:
        """A SQL source's database URL; a DuckDB file's path becomes ``duckdb:///<absolute>``
        (a relative path, or a relative ``duckdb:///`` URL, starts at sources.toml's folder)."""
        if self.kind != "sql":
            return None
        url = self.settings.get("url")
        if url is None:
            return "duckdb:///" + _resolve(self, str(self.settings["path"]))
        if _is_duckdb_url(url):
            path = url.removeprefix("duckdb:///")
            if path and path != ":memory:" and not Path(path).expanduser().is_absolute():
                return "duckdb:///" + _resolve(self, path)
        return str(url)

    @property
    def compute(self) -> str:
        """Where the app computes this source's metrics: "warehouse" (in the database, SQL) or
        "local" (events loaded into Polars). A DuckDB file defaults to "warehouse"."""
        if self.kind != "sql":
            return "local"  # a files source's compute is its derived columns (docs/data.md)
        given = self.settings.get("compute")
        if given is not None:
            return str(given)
        return "warehouse" if _is_duckdb_url(self.url) else "local"

    @property
    def vision_file(self) -> Path | None:
        """The product's vision file: ``vision`` (relative to sources.toml), else
        ``visions/<name>.toml`` beside sources.toml; None for the demo without one (the app's
        own vision.toml). The file need not exist yet: the Overview's guided setup writes it."""
        given = self.settings.get("vision")
        if given:
            path = Path(str(given)).expanduser()
            return path if path.is_absolute() else self.base / path
        if self.kind == "demo":
            return None
        return self.base / VISIONS_FOLDER / f"{self.name}.toml"

    @property
    def currency(self) -> str | None:
        """The currency of the source's money (an ISO 4217 code such as "GBP"), when given."""
        value = self.settings.get("currency")
        return str(value).strip().upper() if value else None


def config_path(path: str | Path | None = None) -> Path:
    """The configuration file: ``path``, else $NORTHSTAR_SOURCES, else ./sources.toml."""
    return Path(path if path is not None else os.environ.get("NORTHSTAR_SOURCES", DEFAULT_PATH))


def read_config(path: str | Path | None = None) -> tuple[dict[str, SourceConfig], str]:
    """Every configured source by name (the demo always among them) and the default's name.

    Raises one :class:`ConnectorError` listing every problem in the file.
    """
    file = config_path(path)
    demo = SourceConfig(DEMO, "demo", {}, Path.cwd())
    if not file.is_file():
        return {DEMO: demo}, DEMO
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConnectorError(f"{file}: cannot be read ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConnectorError(f"{file}: not valid TOML ({exc})") from exc
    problems: list[str] = []
    for key in sorted(set(data) - {"default", "sources", "editing"}):  # editing: ui/editing.py
        problems.append(f"unknown top-level key {key!r} (use 'default' and [sources.<name>])")
    sources: dict[str, SourceConfig] = {}
    tables = data.get("sources", {})
    if not isinstance(tables, dict):
        problems.append("'sources' must be a table of [sources.<name>] entries")
        tables = {}
    for name, settings in tables.items():
        if not isinstance(settings, dict):
            problems.append(f"source {name!r}: must be a table ([sources.{name}])")
            continue
        found = _check_source(name, settings)
        problems.extend(f"source {name!r}: {p}" for p in found)
        if not found:
            kind = _kind(settings)
            sources[name] = SourceConfig(name, kind, settings, file.resolve().parent)
    sources.setdefault(DEMO, demo)
    default = data.get("default", DEMO)
    if not isinstance(default, str) or (default not in sources and default not in tables):
        problems.append(f"default {default!r} is not one of the sources")
    if problems:
        raise ConnectorError(f"{file}: " + "; ".join(problems))
    return sources, default


def _kind(settings: Mapping[str, Any]) -> str:
    if settings.get("kind") == "demo":
        return "demo"
    return "sql" if "url" in settings or _is_duckdb_path(settings.get("path")) else "files"


def _is_duckdb_path(path: Any) -> bool:
    return isinstance(path, str) and path.lower().endswith(DUCKDB_SUFFIXES)


def _is_duckdb_url(url: Any) -> bool:
    return isinstance(url, str) and url.startswith("duckdb:///")


def _check_source(name: str, settings: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    if "password" in settings:
        problems.append(
            "a password does not belong in this file: set password_env (an environment "
            "variable) or password_secret (a key in .streamlit/secrets.toml)"
        )
    kind_value = settings.get("kind")
    if kind_value is not None and kind_value != "demo":
        problems.append(f"kind must be 'demo' when given, not {kind_value!r}")
    places = [k for k in ("path", "url") if k in settings]
    if kind_value != "demo" and len(places) != 1:
        problems.append("give exactly one of path (files) or url (a database)")
    kind = _kind(settings)
    unknown = sorted(set(settings) - _KEYS[kind] - {"password"})
    if unknown:
        problems.append(f"unknown key {', '.join(map(repr, unknown))} for a {kind} source")
    url = settings.get("url")
    if url is not None:
        if not isinstance(url, str) or not is_url(url):
            problems.append("url must be a database URL such as postgresql+psycopg://user@host/db")
        elif _url_password(url):
            problems.append(
                "the url holds a password: remove it and set password_env or password_secret"
            )
        if ("table" in settings) == ("query" in settings):
            problems.append("give exactly one of table or query")
    elif kind == "sql" and "table" in settings and "query" in settings:
        problems.append(f"give at most one of table or query (table {DUCKDB_TABLE!r} when none)")
    compute = settings.get("compute")
    if kind == "sql" and compute is not None and compute not in COMPUTE:
        problems.append(
            f"compute must be 'warehouse' (in the database) or 'local' (in Polars), not {compute!r}"
        )
    if "path" in settings and not isinstance(settings["path"], str):
        problems.append("path must be text (a file, glob or folder)")
    mapping = settings.get("mapping", {})
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        problems.append('mapping must be a table of column names, e.g. { user_id = "customer" }')
    for key in ("start", "end", "plausible_start", "plausible_end"):
        if key in settings and not isinstance(settings[key], dt.date | str):
            problems.append(f"{key} must be a date (2026-01-31)")
    # A SQL source's compute says where it is computed; a files source's derives columns.
    problems.extend(
        _derive_problems({k: v for k, v in settings.items() if kind == "files" or k != "compute"})
    )
    columns = settings.get("columns")
    if columns is not None and not (
        isinstance(columns, list) and all(isinstance(c, str) for c in columns)
    ):
        problems.append("columns must be a list of column names")
    tz = settings.get("tz", "UTC")
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(tz)
    except Exception:
        problems.append(f"tz {tz!r} is not an IANA time zone name (e.g. 'Europe/Berlin')")
    vision = settings.get("vision")
    if vision is not None and not (isinstance(vision, str) and vision.strip()):
        problems.append('vision must be the path of a vision file, e.g. "visions/shop.toml"')
    currency = settings.get("currency")
    if currency is not None and not (
        isinstance(currency, str) and currency.strip().isalpha() and len(currency.strip()) == 3
    ):
        problems.append(f"currency must be a three-letter code such as 'GBP', not {currency!r}")
    assignments = settings.get("assignments")
    if assignments is not None:
        if not isinstance(assignments, dict):
            problems.append("assignments must be a table")
        else:
            extra = sorted(set(assignments) - _ASSIGNMENT_KEYS)
            if extra:
                problems.append(f"assignments: unknown key {', '.join(map(repr, extra))}")
            places = [k for k in ("path", "table", "query") if k in assignments]
            if len(places) > 1:
                problems.append("assignments: give at most one of path, table or query")
            if places and assignments.get("from_events"):
                problems.append("assignments: from_events cannot go with a path, table or query")
            if places and places[0] != "path" and kind != "sql":
                problems.append("assignments: table or query needs a database (url) source")
    return problems


def _derive_problems(settings: Mapping[str, Any]) -> list[str]:
    """What is wrong with the event, compute and where keys (their SQL is read on load)."""
    problems: list[str] = []
    event = settings.get("event")
    if event is not None and not isinstance(event, str | dict):
        problems.append(
            'event must be an event name ("purchase") or a table '
            '{ column = "type", values = { O = "order" } }'
        )
    if isinstance(event, dict):
        if not isinstance(event.get("column"), str):
            problems.append("event: column must name a column")
        values = event.get("values", {})
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            problems.append('event: values must map a value to an event name, { O = "order" }')
        extra = sorted(set(event) - {"column", "values", "default"})
        if extra:
            problems.append(f"event: unknown key {', '.join(map(repr, extra))}")
    compute = settings.get("compute")
    if compute is not None and not (
        isinstance(compute, dict) and all(isinstance(v, str) for v in compute.values())
    ):
        problems.append('compute must be a table of SQL expressions, { revenue = "Price * Qty" }')
    if "where" in settings and not isinstance(settings["where"], str):
        problems.append('where must be an SQL condition such as "Quantity > 0"')
    return problems


def _url_password(url: str) -> bool:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).password is not None
    except Exception:
        return mask_secrets(url) != url


def source_names(path: str | Path | None = None) -> list[str]:
    """The names of the configured sources, the default first; just ["demo"] with no file."""
    sources, default = read_config(path)
    return [default, *[n for n in sources if n != default]]


def default_source(path: str | Path | None = None) -> str:
    """The source the app opens on: the file's ``default``, else the demo."""
    return read_config(path)[1]


def load_source(
    name: str,
    path: str | Path | None = None,
    *,
    secrets: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadedData:
    """The named source, loaded: events collected, assignments read or derived, the load report.

    ``secrets`` is Streamlit's secrets mapping (or any mapping) for ``password_secret`` keys;
    ``environ`` defaults to the process environment for ``password_env``.
    """
    try:
        sources, _ = read_config(path)
    except ConnectorError:
        if name != DEMO:
            raise
        # The demo needs no configuration: a broken file must not take it down too.
        sources = {DEMO: SourceConfig(DEMO, "demo", {}, Path.cwd())}
    if name not in sources:
        raise ConnectorError(
            f"{config_path(path)}: no source named {name!r} (sources: {', '.join(sources)})"
        )
    config = sources[name]
    settings = config.settings
    tz = settings.get("tz", "UTC")
    if config.kind == "demo":
        return _load_demo(config)
    options = _options(config, secrets, environ if environ is not None else os.environ)
    location = str(config.url) if config.kind == "sql" else _resolve(config, settings["path"])
    lazy, report = load_events(location, mapping=settings.get("mapping"), tz=tz, **options)
    try:
        events = lazy.collect()
    except Exception as exc:
        raise ConnectorError(f"{report.source}: cannot be read ({polars_message(exc)})") from exc
    assignments, notes = _assignments(config, events, options, tz)
    if notes:
        report = dataclasses.replace(report, notes=(*report.notes, *notes))
    return LoadedData(name=name, events=events, assignments=assignments, report=report)


def _load_demo(config: SourceConfig) -> LoadedData:
    from connectors.demo import load_demo

    settings = config.settings
    extra = {k: settings[k] for k in ("seed", "users") if k in settings}
    if "cache_dir" in settings:
        extra["cache_dir"] = _resolve(config, settings["cache_dir"])
    events, assignments, report = load_demo(tz=settings.get("tz", "UTC"), **extra)
    return LoadedData(name=config.name, events=events, assignments=assignments, report=report)


def _resolve(config: SourceConfig, location: str) -> str:
    """A relative path (or glob) is relative to the configuration file's folder."""
    path = Path(location).expanduser()
    return str(path if path.is_absolute() else config.base / path)


def _options(
    config: SourceConfig, secrets: Mapping[str, Any] | None, environ: Mapping[str, str]
) -> dict[str, Any]:
    settings = config.settings
    options: dict[str, Any] = {}
    keys = {"start", "end", "columns", "plausible_start", "plausible_end"}
    if config.kind == "files":
        keys |= _DERIVE | {"format", "separator", "time_format", "encoding"}
        options["collect"] = True  # the app holds the events in memory: read the files once
    else:
        keys |= {"table", "query", "schema", "engine", "timeout_seconds"}
    options.update({k: settings[k] for k in keys if k in settings})
    if config.kind == "sql" and "table" not in options and "query" not in options:
        options["table"] = DUCKDB_TABLE  # a DuckDB file naming neither
    if config.kind == "sql":
        password = _password(config, secrets, environ)
        if password is not None:
            options["password"] = password
    return options


def source_password(
    config: SourceConfig,
    secrets: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """A SQL source's password from ``password_env`` or ``password_secret`` (None without one);
    a ConnectorError names the variable or the secret that is missing."""
    return _password(config, secrets, environ if environ is not None else os.environ)


def _password(
    config: SourceConfig, secrets: Mapping[str, Any] | None, environ: Mapping[str, str]
) -> str | None:
    settings = config.settings
    variable = settings.get("password_env")
    if variable:
        if variable not in environ:
            raise ConnectorError(
                f"source {config.name!r}: the environment variable {variable} (password_env) "
                "is not set"
            )
        return environ[variable]
    key = settings.get("password_secret")
    if key:
        value: Any = secrets or {}
        for part in str(key).split("."):
            try:
                value = value[part]
            except (KeyError, TypeError):
                raise ConnectorError(
                    f"source {config.name!r}: no secret {key!r} (password_secret) in "
                    ".streamlit/secrets.toml"
                ) from None
        return str(value)
    return None


def _assignments(
    config: SourceConfig, events: pl.DataFrame, options: Mapping[str, Any], tz: str
) -> tuple[pl.DataFrame | None, tuple[str, ...]]:
    spec = dict(config.settings.get("assignments") or {})
    keep = spec.get("keep", "first")
    if any(k in spec for k in ("path", "table", "query")):
        mapping = spec.get("mapping")
        if "path" in spec:
            loaded = load_assignments(
                _resolve(config, spec["path"]), mapping=mapping, tz=tz, keep=keep
            )
        else:
            where = {k: spec[k] for k in ("table", "query") if k in spec}
            extra = {
                k: options[k]
                for k in ("password", "schema", "engine", "timeout_seconds")
                if k in options
            }
            loaded = load_assignments(
                config.settings["url"], mapping=mapping, tz=tz, keep=keep, **where, **extra
            )
        note = f"Assignments: {loaded.assignments.height:,} from {loaded.rows_read:,} rows."
        return loaded.assignments, (note, *loaded.notes)
    exposure = spec.get("exposure_event", "experiment_exposure")
    experiment = spec.get("experiment_property", "experiment")
    variant = spec.get("variant_property", "variant")
    explicit = spec.get("from_events", False)
    if experiment not in events.columns or variant not in events.columns:
        if explicit:
            raise ConnectorError(
                f"source {config.name!r}: assignments from events need columns {experiment!r} "
                f"and {variant!r}; the events have {', '.join(events.columns)}"
            )
        return None, ()
    assignments = assignments_from_events(
        events,
        exposure_event=exposure,
        experiment_property=experiment,
        variant_property=variant,
        keep=keep,
    )
    if assignments.height == 0 and not explicit:
        return None, ()
    note = (
        f"Assignments: {assignments.height:,} first exposures derived from {exposure!r} events "
        f"({experiment!r}, {variant!r})."
    )
    return assignments, (note,)
