"""What an experiment measures: metrics declared as data (a closed set of kinds), their checks, and
the columns of a result (docs/experiments.md, "What is counted").

A metric is a :class:`Conversion`, :class:`Count`, :class:`Sum` or a :class:`Ratio` of two of
them; each user's value is counted from the user's first exposure on. :class:`Components` names
the per-user quantities one pass over the events computes for a list of metrics (a ratio needs
two, metrics sharing a definition share one).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from metrics.experiments.statistics import Comparison, Kind
from metrics.scope import FilterItems, normalise_filters

Filters = Mapping[str, Any] | FilterItems | None


@dataclass(frozen=True)
class Conversion:
    """Share of users who did ``event`` at least once after exposure (a rate, 0 or 1 per user)."""

    event: str
    filters: Filters = None
    name: str | None = None
    inverse: bool = False

    @property
    def label(self) -> str:
        return self.name or f"{self.event} conversion"


@dataclass(frozen=True)
class Count:
    """Average number of times a user did ``event`` after exposure (0 for those who never did)."""

    event: str
    filters: Filters = None
    name: str | None = None
    inverse: bool = False

    @property
    def label(self) -> str:
        return self.name or f"{self.event} per user"


@dataclass(frozen=True)
class Sum:
    """Average per user of ``column`` summed over the user's ``event`` after exposure (revenue)."""

    event: str
    column: str = "revenue"
    filters: Filters = None
    name: str | None = None
    inverse: bool = False

    @property
    def label(self) -> str:
        return self.name or f"{self.column} per user"


@dataclass(frozen=True)
class Ratio:
    """Total of one per-user quantity over the total of another (revenue per purchase).

    Counted per user and compared with the delta method, the user being the unit of randomisation.
    """

    numerator: Conversion | Count | Sum
    denominator: Conversion | Count | Sum
    name: str | None = None
    inverse: bool = False

    @property
    def label(self) -> str:
        return self.name or f"{self.numerator.label} / {self.denominator.label}"


Part = Conversion | Count | Sum
Metric = Conversion | Count | Sum | Ratio
MetricSpec = Metric | str | Mapping[str, Any]

METRIC_KINDS: dict[type, Kind] = {
    Conversion: "proportion",
    Count: "mean",
    Sum: "mean",
    Ratio: "ratio",
}


def kind_of(metric: Metric) -> Kind:
    """The statistics' kind of a metric: a rate ("proportion"), an average ("mean") or "ratio"."""
    return METRIC_KINDS[type(metric)]


def parts_of(metric: Metric) -> list[Part]:
    """The per-user quantities a metric is made of (a ratio's numerator and denominator)."""
    return [metric.numerator, metric.denominator] if isinstance(metric, Ratio) else [metric]


def filters_of(part: Part) -> dict[str, Any]:
    """A part's property filters as the mapping ``metrics._common.filter_expr`` takes."""
    return dict(normalise_filters(part.filters))


def metric_from(spec: MetricSpec) -> Metric:
    """A metric definition from a dataclass, an event name (its conversion) or a mapping.

    Mappings name the kind: ``{"kind": "conversion" | "count" | "sum" | "ratio", "event": ...,
    "column": ..., "numerator": {...}, "denominator": {...}, "name": ..., "filters": ...,
    "inverse": ...}``, so metrics can be declared as data (in TOML or JSON).
    """
    if isinstance(spec, Conversion | Count | Sum | Ratio):
        return spec
    if isinstance(spec, str):
        if not spec:
            raise ValueError("metrics: an event name cannot be empty")
        return Conversion(spec, name=spec)
    if isinstance(spec, Mapping):
        return _metric_from_mapping(spec)
    raise ValueError(
        f"metrics: {spec!r} is not a Conversion, Count, Sum or Ratio definition, "
        "an event name, or a mapping"
    )


_BUILDERS: dict[str, type[Conversion] | type[Count] | type[Sum]] = {
    "conversion": Conversion,
    "count": Count,
    "sum": Sum,
}


def _metric_from_mapping(spec: Mapping[str, Any]) -> Metric:
    fields = dict(spec)
    kind = str(fields.pop("kind", fields.pop("type", "conversion"))).lower()
    try:
        if kind == "ratio":
            numerator = metric_from(fields.pop("numerator"))
            denominator = metric_from(fields.pop("denominator"))
            if isinstance(numerator, Ratio) or isinstance(denominator, Ratio):
                raise ValueError("metrics: a ratio's parts cannot be ratios themselves")
            return Ratio(numerator, denominator, **fields)
        if kind not in _BUILDERS:
            raise ValueError(f"metrics: kind must be conversion, count, sum or ratio, not {kind!r}")
        return _BUILDERS[kind](**fields)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"metrics: {dict(spec)!r} is not a valid {kind} metric ({exc})") from exc


def check_metrics(metrics: MetricSpec | Sequence[MetricSpec]) -> tuple[Metric, ...]:
    """The metrics as definitions, their filters in one hashable form; ``ValueError`` for none,
    an unreadable one, or two sharing a name."""
    if isinstance(metrics, str | Mapping | Conversion | Count | Sum | Ratio):
        listed = [metric_from(metrics)]
    else:
        listed = [metric_from(m) for m in metrics]
    if not listed:
        raise ValueError("metrics: give at least one metric (Conversion, Count, Sum or Ratio)")
    labels = [m.label for m in listed]
    duplicated = sorted({lab for lab in labels if labels.count(lab) > 1})
    if duplicated:
        raise ValueError(f"metrics: two metrics share the name {duplicated}; give them names")
    return tuple(_hashable(m) for m in listed)


def _hashable(metric: Metric) -> Metric:
    if isinstance(metric, Ratio):
        return replace(
            metric,
            numerator=_hashable_part(metric.numerator),
            denominator=_hashable_part(metric.denominator),
        )
    return _hashable_part(metric)


def _hashable_part(part: Part) -> Part:
    return replace(part, filters=normalise_filters(part.filters) or None)


def days(value: float | dt.timedelta | None, name: str) -> dt.timedelta | None:
    """A span given in days (or as a timedelta); ``ValueError`` naming it unless positive."""
    if value is None:
        return None
    span = value if isinstance(value, dt.timedelta) else dt.timedelta(days=float(value))
    if span <= dt.timedelta(0):
        raise ValueError(f"{name} must be a positive number of days, not {value!r}")
    return span


@dataclass(frozen=True)
class Components:
    """The per-user quantities one pass computes: a column stem (``c0``, ``c1``…) per distinct
    part of the metrics, in the order first met."""

    parts: dict[tuple[Any, ...], Part]  # part key -> definition
    columns: dict[tuple[Any, ...], str]  # part key -> column stem

    @classmethod
    def of(cls, metrics: Sequence[Metric]) -> Components:
        parts: dict[tuple[Any, ...], Part] = {}
        for metric in metrics:
            for part in parts_of(metric):
                parts.setdefault(_key(part), part)
        return cls(parts, {key: f"c{i}" for i, key in enumerate(parts)})

    def column(self, part: Part) -> str:
        return self.columns[_key(part)]

    def stems(self, metric: Metric) -> list[str]:
        """The columns of a metric's parts (two for a ratio)."""
        return [self.column(p) for p in parts_of(metric)]

    @property
    def events(self) -> list[str]:
        """The event names any part counts, sorted."""
        return sorted({part.event for part in self.parts.values()})

    @property
    def needed_columns(self) -> list[str]:
        """The event columns the parts read besides user, event and time: filters, sums."""
        needed: set[str] = set()
        for part in self.parts.values():
            needed.update(filters_of(part))
            if isinstance(part, Sum):
                needed.add(part.column)
        return sorted(needed)

    @property
    def capped(self) -> list[str]:
        """The stems winsorization caps: counts and sums (a conversion is 0 or 1 already)."""
        return [self.columns[k] for k, p in self.parts.items() if not isinstance(p, Conversion)]


def _key(part: Part) -> tuple[Any, ...]:
    filters = tuple((k, repr(v)) for k, v in normalise_filters(part.filters))
    column = part.column if isinstance(part, Sum) else None
    return (type(part).__name__, part.event, column, filters)


# --- the result's columns ------------------------------------------------------------------------

#: Columns of ``analyze``'s result, in order ("segment" comes first when requested).
RESULT_COLUMNS: tuple[str, ...] = (
    "metric",
    "variant",
    "is_control",
    "users",
    "mean",
    "std",
    "control_mean",
    "absolute_effect",
    "absolute_ci_low",
    "absolute_ci_high",
    "p_value_absolute",
    "relative_effect",
    "relative_ci_low",
    "relative_ci_high",
    "p_value",
    "p_value_adjusted",
    "significant",
    "chance_to_win",
    "risk_control",
    "risk_treatment",
    "verdict",
    "status",
    "kind",
    "method",
    "theta",
    "srm_p_value",
    "srm_mismatch",
    "excluded_users",
    "absolute_ci",
    "relative_ci",
)

_NOT_FLOAT: dict[str, pl.DataType] = {
    "metric": pl.String(),
    "variant": pl.String(),
    "is_control": pl.Boolean(),
    "users": pl.Int64(),
    "significant": pl.Boolean(),
    "verdict": pl.String(),
    "status": pl.String(),
    "kind": pl.String(),
    "method": pl.String(),
    "srm_mismatch": pl.Boolean(),
    "excluded_users": pl.Int64(),
    "absolute_ci": pl.List(pl.Float64()),
    "relative_ci": pl.List(pl.Float64()),
}


def result_schema(segment: str | None) -> dict[str, pl.DataType]:
    """The result's columns and types (a "segment" column first when results are split)."""
    columns: dict[str, pl.DataType] = {c: _NOT_FLOAT.get(c, pl.Float64()) for c in RESULT_COLUMNS}
    if segment is not None:
        columns = {"segment": pl.String(), **columns}
    return columns


def result_frame(rows: Sequence[Mapping[str, Any]], segment: str | None) -> pl.DataFrame:
    """Rows in the result's columns and types (missing fields are null)."""
    schema = result_schema(segment)
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema, orient="row")


def comparison_row(result: Comparison) -> dict[str, Any]:
    """A comparison flattened into :data:`RESULT_COLUMNS`' names (intervals as low/high)."""
    abs_ci = result.absolute_ci or (None, None)
    rel_ci = result.relative_ci or (None, None)
    return {
        "mean": result.treatment_mean,
        "control_mean": result.control_mean,
        "absolute_effect": result.absolute_effect,
        "absolute_ci_low": abs_ci[0],
        "absolute_ci_high": abs_ci[1],
        "p_value_absolute": result.p_value_absolute,
        "relative_effect": result.relative_effect,
        "relative_ci_low": rel_ci[0],
        "relative_ci_high": rel_ci[1],
        "p_value": result.p_value,
        "significant": result.significant,
        "chance_to_win": result.chance_to_win,
        "risk_control": result.risk_control,
        "risk_treatment": result.risk_treatment,
        "verdict": result.verdict,
        "status": result.status,
        "theta": result.theta,
        "absolute_ci": list(result.absolute_ci) if result.absolute_ci else None,
        "relative_ci": list(result.relative_ci) if result.relative_ci else None,
    }
