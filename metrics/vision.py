"""The vision file: the product, its vision, its North Star and its KPIs (docs/targets.md).

:func:`load_vision` reads ``vision.toml`` with ``tomllib`` into frozen dataclasses (:class:`Vision`,
:class:`Kpi`, and the parameter dataclass of each KPI's metric kind, :mod:`metrics.kinds`) and
reports every problem at once, each naming the file, the KPI and the field (:class:`VisionError`).
A KPI needs only what docs/targets.md names: a metric with its parameters, a target, a direction,
a deadline and an owner. How a KPI is computed and judged is :mod:`metrics.targets`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import math
import re
import tomllib
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from metrics._common import Interval
from metrics.kinds import KINDS, METRICS, MetricKind, MetricParams, MetricSpec, Unit

Direction = Literal["up", "down"]

DIRECTIONS: tuple[str, ...] = ("up", "down")

_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_SCALAR = (str, int, float, bool)


@dataclass(frozen=True)
class Kpi:
    """One KPI of the vision: a metric, its target, and who answers for it."""

    id: str
    name: str
    metric: MetricKind
    params: MetricParams
    target: float
    direction: Direction
    deadline: dt.date
    owner: str
    description: str
    filters: tuple[tuple[str, Any], ...] = ()
    #: Alert thresholds (optional): the morning digest posts a message when the KPI's value
    #: crosses below ``alert_below`` or above ``alert_above`` (docs/digest.md).
    alert_below: float | None = None
    alert_above: float | None = None

    @property
    def period(self) -> Interval:
        return self.params.period

    @property
    def spec(self) -> MetricSpec[Any]:
        """The KPI's kind: its unit, whether a rate, how its series is computed (metrics.kinds)."""
        return METRICS[self.metric]

    @property
    def unit(self) -> Unit:
        return self.spec.unit

    @property
    def filter_map(self) -> dict[str, Any]:
        return {
            key: list(value) if isinstance(value, tuple) else value for key, value in self.filters
        }


@dataclass(frozen=True)
class Vision:
    """The product's vision file, validated: what the product is for and how success is measured."""

    product: str
    statement: str
    north_star: str
    kpis: tuple[Kpi, ...]
    currency: str = "USD"
    source: str = "vision.toml"
    #: Where the morning digest posts its alerts (a Slack-compatible incoming webhook), if set.
    webhook: str | None = None

    def kpi(self, kpi_id: str) -> Kpi:
        for kpi in self.kpis:
            if kpi.id == kpi_id:
                return kpi
        raise KeyError(f"kpi: no KPI with id {kpi_id!r} in {self.source}")

    @property
    def north_star_kpi(self) -> Kpi:
        return self.kpi(self.north_star)


class VisionError(Exception):
    """The vision file has problems; ``problems`` lists each one, naming file, KPI and field."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: list[str] = list(problems)
        count = len(self.problems)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in the vision file:\n- "
            + "\n- ".join(self.problems)
        )


# --- reading and validating the vision file -----------------------------------------------------

_KPI_FIELDS: dict[str, str] = {
    "id": "a short identifier: lowercase letters, digits and _ (e.g. weekly_buyers)",
    "name": "the KPI's name as people say it",
    "metric": "the metric kind",
    "target": "a number",
    "direction": '"up" or "down": which way is good',
    "deadline": "a date (YYYY-MM-DD)",
    "owner": "who answers for it",
    "description": "what it measures, in plain words",
}
#: Fields a KPI may leave out (docs/targets.md names only metric, target, direction, deadline and
#: owner): the id is made from the name (or the metric), the name is the id, no description.
_KPI_DEFAULTED = {"id", "name", "description"}
_KPI_OPTIONAL = {"filters", "alert_below", "alert_above"}
#: Other names for metric kinds: the names of the functions in metrics/ and common synonyms.
METRIC_ALIASES: dict[str, str] = {
    "funnel": "funnel_conversion",
    "conversion": "funnel_conversion",
    "stickiness": "dau_mau",
    "arppu": "arpu",
}
#: Other names for parameters: the keyword names of the functions in metrics/ (``interval`` for
#: ``period``; a funnel's ``window``, in days, for ``window_days``).
PARAM_ALIASES: dict[str, str] = {"interval": "period", "window": "window_days"}
_PRODUCT_REQUIRED = {"name", "vision", "north_star"}
_PRODUCT_OPTIONAL = {"currency", "webhook"}


def load_vision(path: str | Path) -> Vision:
    """The vision file read and validated; raises one :class:`VisionError` listing every problem."""
    where = Path(path)
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VisionError([f"{where}: the file does not exist"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise VisionError([f"{where}: cannot be read ({exc})"]) from None
    return parse_vision(text, source=str(where))


def parse_vision(text: str | Mapping[str, Any], *, source: str = "vision.toml") -> Vision:
    """A vision from TOML text (or a parsed mapping), validated like :func:`load_vision`."""
    if isinstance(text, str):
        try:
            document: Mapping[str, Any] = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise VisionError([f"{source}: not valid TOML: {exc}"]) from None
    else:
        document = text
    problems: list[str] = []
    vision = _build_vision(document, source, problems)
    if problems or vision is None:
        raise VisionError(problems or [f"{source}: no vision found"])
    return vision


def _build_vision(doc: Mapping[str, Any], source: str, problems: list[str]) -> Vision | None:
    for key in sorted(set(doc) - {"product", "kpis"}):
        problems.append(
            f"{source}: unknown top-level key {key!r} (expected [product] and [[kpis]])"
        )
    product = doc.get("product")
    name = statement = north_star = ""
    currency = "USD"
    webhook: str | None = None
    if not isinstance(product, Mapping):
        problems.append(f"{source}: [product] table is missing (name, vision, north_star)")
    else:
        where = f"{source}: [product]"
        for key in sorted(set(product) - _PRODUCT_REQUIRED - _PRODUCT_OPTIONAL):
            allowed = ", ".join(sorted(_PRODUCT_REQUIRED | _PRODUCT_OPTIONAL))
            problems.append(f"{where}, field {key!r}: unknown key (allowed: {allowed})")
        for key in ("name", "vision", "north_star", "currency", "webhook"):
            if key not in product:
                if key in _PRODUCT_REQUIRED:
                    problems.append(f"{where}, field {key!r}: missing")
                continue
            value = product[key]
            if not isinstance(value, str) or not value.strip():
                problems.append(
                    f"{where}, field {key!r}: must be a non-empty string, got {_show(value)}"
                )
        name = _str(product.get("name"))
        statement = _str(product.get("vision"))
        north_star = _str(product.get("north_star"))
        currency = _str(product.get("currency")) or "USD"
        webhook = _str(product.get("webhook")) or None
        if webhook and not webhook.startswith(("https://", "http://")):
            problems.append(f"{where}, field 'webhook': must be an http(s):// address")

    raw_kpis = doc.get("kpis")
    kpis: list[Kpi] = []
    if raw_kpis is None:
        problems.append(f"{source}: no KPIs: add at least one [[kpis]] table")
    elif not isinstance(raw_kpis, list) or not all(isinstance(k, Mapping) for k in raw_kpis):
        problems.append(f"{source}: 'kpis' must be an array of tables ([[kpis]])")
    elif not raw_kpis:
        problems.append(f"{source}: no KPIs: add at least one [[kpis]] table")
    else:
        seen: dict[str, int] = {}
        names: dict[str, str] = {}
        for index, given in enumerate(raw_kpis, start=1):
            raw = _with_defaults(given)
            if "id" not in given and raw["id"] in seen:
                raw["id"] = f"{raw['id']}_{index}"  # a made-up id never clashes
            kpi = _build_kpi(raw, index, source, problems)
            raw_id = raw.get("id")
            if isinstance(raw_id, str) and isinstance(raw.get("name"), str):
                names.setdefault(raw["name"], raw_id)
            if isinstance(raw_id, str):
                if raw_id in seen:
                    problems.append(
                        f"{source}: KPI {raw_id!r} (#{index}), field 'id': "
                        f"duplicate of KPI #{seen[raw_id]}"
                    )
                else:
                    seen[raw_id] = index
            if kpi is not None:
                kpis.append(kpi)
        if north_star and north_star not in seen and north_star in names:
            north_star = names[north_star]  # named by the KPI's name rather than its id
        if north_star and north_star not in seen:
            known = ", ".join(seen) or "none"
            problems.append(
                f"{source}: [product], field 'north_star': {north_star!r} is not the id of a KPI "
                f"(KPIs: {known})"
            )
    if problems:
        return None
    return Vision(
        product=name,
        statement=statement,
        north_star=north_star,
        kpis=tuple(kpis),
        currency=currency,
        source=source,
        webhook=webhook,
    )


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return slug if slug and slug[0].isalpha() else f"kpi_{slug}".rstrip("_")


def _with_defaults(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The KPI table with aliases read and the defaulted fields filled in (see _KPI_DEFAULTED)."""
    out = dict(raw)
    metric = out.get("metric")
    if isinstance(metric, str) and metric in METRIC_ALIASES:
        out["metric"] = METRIC_ALIASES[metric]
    for alias, name in PARAM_ALIASES.items():
        if alias in out and name not in out:
            out[name] = out.pop(alias)
    if out.get("metric") == "active_users" and "window_days" in out and "period" not in out:
        out["period"] = "day"  # a rolling window is counted every day, as active_users() does
    deadline = out.get("deadline")
    if isinstance(deadline, str):
        with contextlib.suppress(ValueError):
            out["deadline"] = dt.date.fromisoformat(deadline.strip())
    if "id" not in out:
        named = out.get("name")
        base = named if isinstance(named, str) and named.strip() else out.get("metric") or "kpi"
        out["id"] = _slug(str(base))
    if "name" not in out and isinstance(out.get("id"), str):
        out["name"] = out["id"]
    out.setdefault("description", "")
    return out


def _build_kpi(raw: Mapping[str, Any], index: int, source: str, problems: list[str]) -> Kpi | None:
    raw = _with_defaults(raw)
    raw_id = raw.get("id")
    label = f"KPI {raw_id!r} (#{index})" if isinstance(raw_id, str) and raw_id else f"KPI #{index}"
    before = len(problems)

    def problem(field_name: str, message: str) -> None:
        problems.append(f"{source}: {label}, field {field_name!r}: {message}")

    for key, meaning in _KPI_FIELDS.items():
        if key not in raw:
            problem(key, f"missing ({meaning})")
    if "id" in raw and (not isinstance(raw_id, str) or not _ID.match(raw_id)):
        problem("id", f"must be {_KPI_FIELDS['id']}, got {_show(raw_id)}")
    for key in ("name", "owner"):
        if key in raw and (not isinstance(raw[key], str) or not raw[key].strip()):
            problem(key, f"must be a non-empty string, got {_show(raw[key])}")
    if not isinstance(raw["description"], str):
        problem("description", f"must be a string, got {_show(raw['description'])}")
    target = raw.get("target")
    if "target" in raw and (
        isinstance(target, bool) or not isinstance(target, int | float) or not math.isfinite(target)
    ):
        problem("target", f"must be a number, got {_show(target)}")
    if "direction" in raw and raw["direction"] not in DIRECTIONS:
        problem(
            "direction",
            f'must be "up" or "down" (which way is good), got {_show(raw["direction"])}',
        )
    deadline = raw.get("deadline")
    if "deadline" in raw and (
        not isinstance(deadline, dt.date) or isinstance(deadline, dt.datetime)
    ):
        problem("deadline", f"must be a date written as 2026-12-31, got {_show(deadline)}")
    filters = _check_filters(raw.get("filters"), problem) if "filters" in raw else ()
    alerts = _check_alerts(raw, problem)

    metric = raw.get("metric")
    params: MetricParams | None = None
    if "metric" in raw:
        if metric not in KINDS:
            kinds = ", ".join(KINDS)
            problem("metric", f"unknown metric kind {_show(metric)} (one of: {kinds})")
            # Without a kind the parameters cannot be judged: flag only keys no kind knows.
            known_params = {
                f.name for kind in METRICS.values() for f in dataclasses.fields(kind.params)
            }
            for key in sorted(set(raw) - set(_KPI_FIELDS) - _KPI_OPTIONAL - known_params):
                problem(key, "unknown key")
        else:
            params = _build_params(METRICS[metric].params, raw, metric, problem)
            if (
                METRICS[metric].rate
                and isinstance(target, int | float)
                and not isinstance(target, bool)
                and not 0 <= target <= 1
            ):
                problem(
                    "target",
                    f"{metric} is a rate: write it as a fraction (25% is 0.25), got {target}",
                )

    if len(problems) > before or params is None:
        return None
    return Kpi(
        id=typing.cast(str, raw_id),
        name=raw["name"].strip(),
        metric=typing.cast(MetricKind, metric),
        params=params,
        target=float(typing.cast(float, target)),
        direction=typing.cast(Direction, raw["direction"]),
        deadline=typing.cast(dt.date, deadline),
        owner=raw["owner"].strip(),
        description=raw["description"].strip(),
        filters=filters,
        alert_below=alerts[0],
        alert_above=alerts[1],
    )


def _build_params(
    cls: type, raw: Mapping[str, Any], metric: str, problem: Callable[[str, str], None]
) -> MetricParams | None:
    hints = typing.get_type_hints(cls)
    params = {f.name: f for f in dataclasses.fields(cls)}
    for key in sorted(set(raw) - set(_KPI_FIELDS) - _KPI_OPTIONAL - set(params)):
        allowed = ", ".join(params) or "none"
        problem(key, f"unknown key for metric {metric!r} (its parameters: {allowed})")
    values: dict[str, Any] = {}
    ok = True
    for name, spec in params.items():
        required = (
            spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
        )
        if name not in raw:
            if required:
                problem(name, f"missing: metric {metric!r} needs it ({_describe(hints[name])})")
                ok = False
            continue
        matched, value = _conform(raw[name], hints[name])
        if not matched:
            problem(name, f"must be {_describe(hints[name])}, got {_show(raw[name])}")
            ok = False
        else:
            values[name] = value
    if not ok:
        return None
    built = cls(**values)
    checks = built.check()
    for name, message in checks:
        problem(name, message)
    return None if checks else typing.cast(MetricParams, built)


def _check_alerts(
    raw: Mapping[str, Any], problem: Callable[[str, str], None]
) -> tuple[float | None, float | None]:
    """The optional alert thresholds: numbers, and ``alert_below`` under ``alert_above``."""
    found: list[float | None] = []
    for key in ("alert_below", "alert_above"):
        value = raw.get(key)
        if value is None:
            found.append(None)
        elif (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            problem(
                key,
                f"must be a number (the KPI's own unit; rates as fractions), got {_show(value)}",
            )
            found.append(None)
        else:
            found.append(float(value))
    below, above = found
    if below is not None and above is not None and below >= above:
        problem("alert_below", f"must be below alert_above ({below:g} is not below {above:g})")
    return below, above


def _check_filters(value: Any, problem: Callable[[str, str], None]) -> tuple[tuple[str, Any], ...]:
    if not isinstance(value, Mapping):
        problem("filters", f"must be a table of property = value or [values], got {_show(value)}")
        return ()
    out: list[tuple[str, Any]] = []
    for key, wanted in value.items():
        if isinstance(wanted, list):
            if not wanted or not all(isinstance(v, _SCALAR) for v in wanted):
                problem("filters", f"{key!r} must be a value or a non-empty list of values")
                continue
            out.append((str(key), tuple(wanted)))
        elif isinstance(wanted, _SCALAR):
            out.append((str(key), wanted))
        else:
            problem("filters", f"{key!r} must be a value or a list of values, got {_show(wanted)}")
    return tuple(out)


def _conform(value: Any, hint: Any) -> tuple[bool, Any]:
    """Whether a TOML value fits a parameter's annotation, and the value (lists -> tuples)."""
    origin = get_origin(hint)
    if origin is Literal:
        return (value in get_args(hint) and isinstance(value, str)), value
    if origin in (typing.Union, types.UnionType):
        for option in get_args(hint):
            if option is type(None):
                continue
            matched, converted = _conform(value, option)
            if matched:
                return True, converted
        return False, value
    if origin is tuple:
        if not isinstance(value, list) or not value:
            return False, value
        inner = get_args(hint)[0]
        converted_items = []
        for item in value:
            matched, converted = _conform(item, inner)
            if not matched:
                return False, value
            converted_items.append(converted)
        return True, tuple(converted_items)
    if hint is str:
        return (isinstance(value, str) and bool(value.strip())), value
    if hint is int:
        return (isinstance(value, int) and not isinstance(value, bool)), value
    if hint is float:
        return (isinstance(value, int | float) and not isinstance(value, bool)), float(value)
    raise TypeError(f"parameter annotation {hint!r} is not one the vision file can express")


def _describe(hint: Any) -> str:
    origin = get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(f'"{option}"' for option in get_args(hint))
    if origin in (typing.Union, types.UnionType):
        options = [_describe(o) for o in get_args(hint) if o is not type(None)]
        return " or ".join(options)
    if origin is tuple:
        return f"a list of {_describe(get_args(hint)[0]).removeprefix('a ')}s"
    return {str: "a string", int: "a whole number", float: "a number"}.get(hint, str(hint))


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return f"{value!r} ({type(value).__name__})"


def _str(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
