"""The public interface as docs/metrics.md lists it: one contract check per public call.

Each check asks three things of one call: the name exists in the module the docs name; its
signature has the documented positional parameters and the documented keyword-only parameters with
their documented defaults (anything added is keyword-only with a default, so it cannot change a
documented call); and the call, made on a tiny input with the documented keywords, returns the
documented columns (long form, one scalar per cell, the expected dtypes) or attributes. A call that
reads events is made twice, on a DataFrame with ``datetime.date`` bounds and on a LazyFrame with
ISO strings (docs/metrics.md, "Time"), and both must give the same frame.

What the numbers mean is tested per family: tests/metrics/test_<family>.py and
test_<family>_contract.py (the reference tools' cases), tests/connectors/ for ``load_events``,
tests/warehouse/ for relations.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import connectors
import metrics
from connectors.report import LoadReport
from metrics import engagement
from metrics.experiments import Conversion, RatioStats, Stats
from metrics.funnels import Exclusion, Step
from metrics.targets import Vision, load_vision, parse_vision
from metrics.warehouse import Relation
from tests.conftest import make_events

REPO = Path(__file__).resolve().parents[1]
REQUIRED = object()
DAY = dt.timedelta(days=1)

# A fortnight of a tiny shop (Monday 5 .. Sunday 18 January 2026).
EVENTS = make_events(
    ("ann", "signup", "2026-01-05 09:00", {"platform": "web", "revenue": None}),
    ("ann", "purchase", "2026-01-06 10:00", {"platform": "web", "revenue": 12.0}),
    ("bob", "signup", "2026-01-06 11:00", {"platform": "ios", "revenue": None}),
    ("bob", "page_view", "2026-01-13 11:00", {"platform": "ios", "revenue": None}),
)
STEPS = ["signup", "purchase"]
ASSIGNMENTS = pl.DataFrame(
    {
        "user_id": ["ann", "bob"],
        "experiment": ["checkout", "checkout"],
        "variant": ["control", "treatment"],
        "timestamp": [dt.datetime(2026, 1, 5, 8, tzinfo=dt.UTC)] * 2,
    },
    schema_overrides={"timestamp": pl.Datetime("us", "UTC")},
)
VISION = """
[product]
name = "Tiny"
vision = "A contract check."
north_star = "buyers"

[[kpis]]
id = "buyers"
name = "Weekly buyers"
metric = "active_users"
event = "purchase"
period = "week"
target = 2
direction = "up"
deadline = 2026-03-31
owner = "me"
description = "People who bought in a week."
"""

# Column kinds a result promises.
DATE, INT, FLOAT, TEXT, BOOL = "date", "int", "float", "text", "bool"
UTC_TIME = "utc time"
KINDS: dict[str, Callable[[pl.DataType], bool]] = {
    DATE: lambda t: t == pl.Date,
    INT: lambda t: t.is_integer(),
    FLOAT: lambda t: t.is_float(),
    TEXT: lambda t: t == pl.String,
    BOOL: lambda t: t == pl.Boolean,
    UTC_TIME: lambda t: t == pl.Datetime("us", "UTC"),
}


@dataclasses.dataclass(frozen=True)
class Inputs:
    """One way of writing a call's inputs: a DataFrame with dates, or a LazyFrame with ISO text;
    ``folder`` is where a call may write its source file."""

    lazy: bool
    folder: Path

    def frame(self, frame: pl.DataFrame) -> pl.DataFrame | pl.LazyFrame:
        return frame.lazy() if self.lazy else frame

    @property
    def events(self) -> pl.DataFrame | pl.LazyFrame:
        return self.frame(EVENTS)

    def day(self, text: str) -> dt.date | str:
        return text if self.lazy else dt.date.fromisoformat(text)


@dataclasses.dataclass(frozen=True)
class Contract:
    """One public call: where it lives, its documented parameters, and a documented call."""

    module: str
    name: str
    positional: tuple[str, ...]
    keywords: dict[str, Any]  # keyword-only parameters -> documented default (or REQUIRED)
    call: Callable[[Any, Inputs], Any]  # the documented call, given the function and the inputs
    columns: dict[str, str] | None = None  # a frame result: documented column -> kind
    check: Callable[[Any], None] | None = None  # any other result: its documented attributes
    reads_events: bool = True  # the same answer from a DataFrame with dates and a LazyFrame
    defaults: dict[str, Any] = dataclasses.field(default_factory=dict)  # of positional ones


def _frozen(value: Any, field: str) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, field, None)


def _check_stats(stats: Stats) -> None:
    assert stats == Stats(n=3, sum=4.5, sum_squares=13.25, x_sum=3.0, x_sum_squares=5.0, xy_sum=8.0)
    assert (stats.mean, stats.variance) == (pytest.approx(1.5), pytest.approx(3.25))
    assert Stats.proportion(30, 100) == Stats(100, 30, 30)
    _frozen(stats, "n")


def _check_ratio_stats(stats: RatioStats) -> None:
    assert stats == RatioStats(2, 3.0, 5.0, 4.0, 10.0, 7.0)
    assert stats.mean == pytest.approx(0.75)
    _frozen(stats, "n")


COMPARISON_FIELDS = (
    "control_mean",
    "treatment_mean",
    "absolute_effect",
    "absolute_ci",
    "p_value_absolute",
    "relative_effect",
    "relative_ci",
    "p_value",
    "significant",
    "status",
    "chance_to_win",
    "risk_control",
    "risk_treatment",
)


def _check_step(step: Step) -> None:
    _frozen(step, "label")
    table = metrics.funnels.funnel(EVENTS, ["signup", step])
    assert table["event"].to_list() == ["signup", "web purchase"]  # the label names the step
    assert table["users"].to_list() == [2, 1]  # ann bought on the web


def _check_exclusion(exclusion: Exclusion) -> None:
    _frozen(exclusion, "event")
    table = metrics.funnels.funnel(EVENTS, STEPS, exclusions=[exclusion])
    assert table["users"].to_list() == [1, 1]  # bob's page view in his window spoils his attempt


def _check_comparison(result: Any) -> None:
    assert {f.name for f in dataclasses.fields(result)} >= set(COMPARISON_FIELDS)
    assert result.status == "ok"
    assert isinstance(result.relative_effect, float) and isinstance(result.p_value, float)
    assert len(result.relative_ci) == 2 and len(result.absolute_ci) == 2
    assert isinstance(result.significant, bool)
    assert isinstance(result.chance_to_win, float)  # the Bayesian call below
    _frozen(result, "p_value")


def _check_srm(result: Any) -> None:
    assert isinstance(result.p_value, float) and isinstance(result.mismatch, bool)
    _frozen(result, "mismatch")


def _check_p_values(result: Any) -> None:
    assert isinstance(result, list) and len(result) == 3
    assert all(isinstance(p, float) for p in result)


def _check_int(result: Any) -> None:
    assert isinstance(result, int) and result > 0


def _check_float(result: Any) -> None:
    assert isinstance(result, float) and result > 0


def _check_vision(vision: Any) -> None:
    assert isinstance(vision, Vision) and len(vision.kpis) >= 5
    assert load_vision(str(REPO / "vision.toml")) == vision  # a str path reads the same file
    _frozen(vision, "product")


def _check_load_events(result: Any) -> None:
    events, report = result
    assert isinstance(events, pl.LazyFrame)
    schema = events.collect_schema()
    assert (schema["user_id"], schema["event"]) == (pl.String, pl.String)
    assert schema["timestamp"] == pl.Datetime("us", "UTC")
    assert events.collect()["user_id"].to_list() == ["ann"]
    assert isinstance(report, LoadReport)


def _check_relation(relation: Any) -> None:
    assert isinstance(relation, Relation)
    got = engagement.active_users(relation, start="2026-01-05", end="2026-01-18")
    assert_frame_equal(got, engagement.active_users(EVENTS, start="2026-01-05", end="2026-01-18"))


def _check_statements(statements: Any) -> None:
    assert isinstance(statements, list) and statements
    assert all(isinstance(s, str) and "SELECT" in s.upper() for s in statements)


def _load_events(load: Any, inputs: Inputs) -> Any:
    path = inputs.folder / "custom.csv"
    path.write_text("who,what,at\nann,signup,2026-01-05 10:00:00\n", encoding="utf-8")
    return load(
        path, mapping={"user_id": "who", "event": "what", "timestamp": "at"}, tz="Europe/Paris"
    )


def _warehouse(call: Any, inputs: Inputs) -> Any:
    con = duckdb.connect()
    con.register("source", EVENTS.to_arrow())
    con.execute("CREATE TABLE events AS SELECT * FROM source")
    return call(con, table="events", tz="UTC")


ENGAGEMENT_RANGE = {"start": REQUIRED, "end": REQUIRED}
FUNNEL_COMMON = {
    "window": dt.timedelta(days=14),
    "order": "ordered",
    "exclusions": (),
    "breakdown": None,
    "start": None,
    "end": None,
    "tz": "UTC",
}

CONTRACTS = [
    Contract(
        "metrics.engagement",
        "active_users",
        ("events",),
        {
            **ENGAGEMENT_RANGE,
            "interval": "day",
            "window_days": None,
            "event": None,
            "filters": None,
            "breakdown": None,
            "week_start": "monday",
            "tz": "UTC",
        },
        lambda f, i: f(
            i.events,
            start=i.day("2026-01-05"),
            end=i.day("2026-01-18"),
            interval="day",
            window_days=7,
            event=["signup", "purchase"],
            filters={"platform": ["web", "ios"]},
            breakdown="platform",
            week_start="monday",
            tz="Europe/Berlin",
        ),
        columns={"period_start": DATE, "platform": TEXT, "active_users": INT, "is_partial": BOOL},
    ),
    Contract(
        "metrics.engagement",
        "rolling_active_users",
        ("events",),
        {
            **ENGAGEMENT_RANGE,
            "windows": (1, 7, 30),
            "event": None,
            "filters": None,
            "breakdown": None,
            "tz": "UTC",
        },
        lambda f, i: f(
            i.events,
            start=i.day("2026-01-05"),
            end=i.day("2026-01-18"),
            windows=(1, 7),
            event="signup",
            filters={"platform": "web"},
            tz="UTC",
        ),
        columns={"period_start": DATE, "window_days": INT, "active_users": INT},
    ),
    Contract(
        "metrics.engagement",
        "dau_mau",
        ("events",),
        {**ENGAGEMENT_RANGE, "event": None, "filters": None, "window_days": 30, "tz": "UTC"},
        lambda f, i: f(
            i.events,
            start=i.day("2026-01-05"),
            end=i.day("2026-01-18"),
            event=None,
            filters=None,
            window_days=7,
            tz="UTC",
        ),
        columns={"period_start": DATE, "dau": INT, "mau": INT, "ratio": FLOAT},
    ),
    Contract(
        "metrics.engagement",
        "stickiness",
        ("events",),
        {
            **ENGAGEMENT_RANGE,
            "interval": "day",
            "interval_count": 1,
            "event": None,
            "filters": None,
            "week_start": "monday",
            "tz": "UTC",
        },
        lambda f, i: f(
            i.events,
            start=i.day("2026-01-05"),
            end=i.day("2026-01-18"),
            interval="week",
            interval_count=1,
            event="signup",
            filters={"platform": "ios"},
            week_start="sunday",
            tz="UTC",
        ),
        columns={"intervals_active": INT, "users": INT, "users_at_least": INT},
    ),
    Contract(
        "metrics.engagement",
        "lifecycle",
        ("events",),
        {
            **ENGAGEMENT_RANGE,
            "interval": "day",
            "event": None,
            "filters": None,
            "week_start": "monday",
            "tz": "UTC",
            "new_means": "first_active",
        },
        lambda f, i: f(
            i.events,
            start=i.day("2026-01-05"),
            end=i.day("2026-01-18"),
            interval="week",
            event=None,
            filters=None,
            week_start="monday",
            tz="UTC",
            new_means="first_seen",
        ),
        columns={
            "period_start": DATE,
            "new": INT,
            "returning": INT,
            "resurrecting": INT,
            "dormant": INT,
            "is_partial": BOOL,
        },
    ),
    Contract(
        "metrics.engagement",
        "revenue",
        ("events",),
        {
            **ENGAGEMENT_RANGE,
            "interval": "day",
            "filters": None,
            "breakdown": None,
            "week_start": "monday",
            "tz": "UTC",
        },
        lambda f, i: f(
            i.events,
            start=i.day("2026-01-05"),
            end=i.day("2026-01-18"),
            interval="week",
            filters=None,
            breakdown="platform",
            week_start="monday",
            tz="UTC",
        ),
        columns={
            "period_start": DATE,
            "platform": TEXT,
            "revenue": FLOAT,
            "paying_users": INT,
            "active_users": INT,
            "arpu": FLOAT,
            "arppu": FLOAT,
            "is_partial": BOOL,
        },
    ),
    Contract(
        "metrics.retention",
        "retention",
        ("events",),
        {
            **ENGAGEMENT_RANGE,
            "interval": "week",
            "start_event": None,
            "return_event": None,
            "retention_type": "recurring",
            "mode": "exact",
            "periods": "calendar",
            "week_start": "monday",
            "tz": "UTC",
            "filters": None,
        },
        lambda f, i: f(
            i.events,
            start=i.day("2026-01-05"),
            end=i.day("2026-01-18"),
            interval="week",
            start_event="signup",
            return_event=["purchase", "page_view"],
            retention_type="first_time",
            mode="on_or_after",
            periods="rolling",
            week_start="monday",
            tz="UTC",
            filters={"platform": ["web", "ios"]},
        ),
        columns={
            "cohort_start": DATE,
            "cohort_size": INT,
            "offset": INT,
            "retained": INT,
            "rate": FLOAT,
            "rate_ci_low": FLOAT,
            "rate_ci_high": FLOAT,
            "incomplete": BOOL,
        },
    ),
    Contract(
        "metrics.retention",
        "revenue_retention",
        ("events",),
        {
            **ENGAGEMENT_RANGE,
            "interval": "week",
            "start_event": None,
            "revenue_column": "revenue",
            "retention_type": "first_time",
            "periods": "calendar",
            "week_start": "monday",
            "tz": "UTC",
            "filters": None,
        },
        lambda f, i: f(
            i.events,
            start=i.day("2026-01-05"),
            end=i.day("2026-01-18"),
            interval="week",
            start_event="signup",
            revenue_column="revenue",
            retention_type="recurring",
            periods="calendar",
            week_start="monday",
            tz="UTC",
            filters=None,
        ),
        columns={
            "cohort_start": DATE,
            "cohort_size": INT,
            "offset": INT,
            "revenue": FLOAT,
            "paying_users": INT,
            "revenue_per_user": FLOAT,
            "cumulative_revenue_per_user": FLOAT,
            "incomplete": BOOL,
        },
    ),
    Contract(
        "metrics.funnels",
        "funnel",
        ("events", "steps"),
        FUNNEL_COMMON,
        lambda f, i: f(
            i.events,
            STEPS,
            window=dt.timedelta(days=7),
            order="ordered",
            exclusions=[Exclusion("page_view")],
            breakdown="platform",
            start=i.day("2026-01-05"),
            end=i.day("2026-01-18"),
            tz="UTC",
        ),
        columns={
            "platform": TEXT,
            "step": INT,
            "event": TEXT,
            "users": INT,
            "conversion_rate": FLOAT,
            "conversion_rate_ci_low": FLOAT,
            "conversion_rate_ci_high": FLOAT,
            "step_conversion_rate": FLOAT,
            "step_conversion_rate_ci_low": FLOAT,
            "step_conversion_rate_ci_high": FLOAT,
            "median_seconds_to_convert": FLOAT,
            "mean_seconds_to_convert": FLOAT,
            "still_in_window": INT,
            "dropped_off": INT,
        },
    ),
    Contract(
        "metrics.funnels",
        "Step",
        ("event", "filters", "label"),
        {},
        lambda step, i: step("purchase", filters={"platform": "web"}, label="web purchase"),
        check=_check_step,
        reads_events=False,
        defaults={"filters": None, "label": None},
    ),
    Contract(
        "metrics.funnels",
        "Exclusion",
        ("event", "from_step", "to_step", "filters"),
        {},
        lambda exclusion, i: exclusion("page_view", from_step=0, to_step=1, filters=None),
        check=_check_exclusion,
        reads_events=False,
        defaults={"from_step": 0, "to_step": None, "filters": None},
    ),
    Contract(
        "metrics.funnels",
        "funnel_trends",
        ("events", "steps"),
        {
            "interval": "day",
            "week_start": "monday",
            "from_step": 1,
            "to_step": None,
            **FUNNEL_COMMON,
        },
        lambda f, i: f(
            i.events,
            STEPS,
            interval="week",
            week_start="sunday",
            from_step=1,
            to_step=2,
            start=i.day("2026-01-05"),
            end=i.day("2026-01-18"),
        ),
        columns={
            "period_start": DATE,
            "entered": INT,
            "converted": INT,
            "conversion_rate": FLOAT,
            "conversion_rate_ci_low": FLOAT,
            "conversion_rate_ci_high": FLOAT,
            "still_in_window": INT,
        },
    ),
    Contract(
        "metrics.funnels",
        "time_to_convert",
        ("events", "steps"),
        {"from_step": 1, "to_step": None, "bins": None, **FUNNEL_COMMON},
        lambda f, i: f(
            i.events,
            STEPS,
            from_step=1,
            to_step=2,
            bins=3,
            start=i.day("2026-01-05"),
            end=i.day("2026-01-18"),
        ),
        columns={"bin_start_seconds": FLOAT, "bin_end_seconds": FLOAT, "users": INT},
    ),
    Contract(
        "metrics.funnels",
        "dropped_users",
        ("events", "steps"),
        {"step": REQUIRED, **FUNNEL_COMMON},
        lambda f, i: f(
            i.events,
            STEPS,
            step=2,
            window=DAY,
            start=i.day("2026-01-05"),
            end=i.day("2026-01-18"),
        ),
        columns={"user_id": TEXT, "last_step": INT, "last_step_at": UTC_TIME},
    ),
    Contract(
        "metrics.funnels",
        "next_events_after_drop",
        ("events", "steps"),
        {"step": REQUIRED, "top": 10, "ignore": (), **FUNNEL_COMMON},
        lambda f, i: f(
            i.events,
            STEPS,
            step=2,
            top=5,
            ignore=["signup"],
            window=DAY,
            start=i.day("2026-01-05"),
            end=i.day("2026-01-18"),
        ),
        columns={"event": TEXT, "users": INT, "share": FLOAT},
    ),
    Contract(
        "metrics.experiments",
        "Stats",
        ("n", "sum", "sum_squares", "x_sum", "x_sum_squares", "xy_sum"),
        {},
        lambda stats, i: stats.from_values([1.0, 0.0, 3.5], x=[1.0, 0.0, 2.0]),
        check=_check_stats,
        reads_events=False,
        defaults={"x_sum": None, "x_sum_squares": None, "xy_sum": None},
    ),
    Contract(
        "metrics.experiments",
        "RatioStats",
        ("n", "num_sum", "num_sum_squares", "den_sum", "den_sum_squares", "num_den_sum"),
        {},
        lambda stats, i: stats.from_values([1.0, 2.0], [1.0, 3.0]),
        check=_check_ratio_stats,
        reads_events=False,
    ),
    Contract(
        "metrics.experiments",
        "compare",
        ("control", "treatment"),
        {
            "kind": "mean",
            "method": "frequentist",
            "alpha": 0.05,
            "cuped": False,
            "inverse": False,
            "sequential_tuning": 5000,
            "prior_sd": None,
        },
        lambda f, i: f(
            Stats.proportion(100, 1000),
            Stats.proportion(130, 1000),
            kind="proportion",
            method="bayesian",
            alpha=0.1,
            cuped=False,
            inverse=False,
            sequential_tuning=5000,
            prior_sd=0.5,
        ),
        check=_check_comparison,
        reads_events=False,
    ),
    Contract(
        "metrics.experiments",
        "srm",
        ("observed", "weights"),
        {"threshold": 0.001},
        lambda f, i: f([5000, 5500], [0.5, 0.5], threshold=0.01),
        check=_check_srm,
        reads_events=False,
        defaults={"weights": None},
    ),
    Contract(
        "metrics.experiments",
        "adjust_p_values",
        ("p_values", "method"),
        {},
        lambda f, i: f([0.01, 0.04, 0.03], method="bh"),
        check=_check_p_values,
        reads_events=False,
        defaults={"method": "holm"},
    ),
    Contract(
        "metrics.experiments",
        "sample_size",
        ("baseline", "mde"),
        {"relative": True, "alpha": 0.05, "power": 0.8, "kind": "proportion", "std": None},
        lambda f, i: f(10.0, 0.05, relative=True, alpha=0.05, power=0.8, kind="mean", std=5.0),
        check=_check_int,
        reads_events=False,
    ),
    Contract(
        "metrics.experiments",
        "minimum_detectable_effect",
        ("n_per_arm", "baseline"),
        {"relative": True, "alpha": 0.05, "power": 0.8, "kind": "proportion", "std": None},
        lambda f, i: f(1000, 0.1, relative=False, alpha=0.05, power=0.8, kind="proportion"),
        check=_check_float,
        reads_events=False,
    ),
    Contract(
        "metrics.experiments",
        "analyze",
        ("events", "assignments"),
        {"experiment": REQUIRED, "metrics": REQUIRED, "control": "control"},
        lambda f, i: f(
            i.events,
            i.frame(ASSIGNMENTS),
            experiment="checkout",
            metrics=[Conversion("purchase")],
            control="control",
        ),
        columns={
            "metric": TEXT,
            "variant": TEXT,
            "users": INT,
            "mean": FLOAT,
            "std": FLOAT,
            "control_mean": FLOAT,
            "absolute_effect": FLOAT,
            "absolute_ci_low": FLOAT,
            "absolute_ci_high": FLOAT,
            "p_value_absolute": FLOAT,
            "relative_effect": FLOAT,
            "relative_ci_low": FLOAT,
            "relative_ci_high": FLOAT,
            "p_value": FLOAT,
            "p_value_adjusted": FLOAT,
            "significant": BOOL,
            "chance_to_win": FLOAT,
            "risk_control": FLOAT,
            "risk_treatment": FLOAT,
            "verdict": TEXT,
            "status": TEXT,
            "theta": FLOAT,
            "srm_p_value": FLOAT,
            "srm_mismatch": BOOL,
            "excluded_users": INT,
        },
    ),
    Contract(
        "metrics.targets",
        "load_vision",
        ("path",),
        {},
        lambda f, i: f(REPO / "vision.toml"),
        check=_check_vision,
        reads_events=False,
    ),
    Contract(
        "metrics.targets",
        "evaluate",
        ("vision", "events"),
        {"today": REQUIRED, "tz": "UTC", "week_start": "monday", "assignments": None},
        lambda f, i: f(
            parse_vision(VISION),
            i.events,
            today=dt.date(2026, 1, 19),
            tz="UTC",
            week_start="monday",
            assignments=None,
        ),
        columns={
            "kpi": TEXT,
            "value": FLOAT,
            "target": FLOAT,
            "previous": FLOAT,
            "projected": FLOAT,
            "status": TEXT,
        },
    ),
    Contract(
        "connectors",
        "load_events",
        ("source",),
        {"mapping": None, "tz": "UTC"},
        _load_events,
        check=_check_load_events,
        reads_events=False,
    ),
    Contract(
        "connectors",
        "warehouse",
        ("connection",),
        {"table": None, "query": None, "mapping": None, "tz": "UTC", "dialect": None},
        _warehouse,
        check=_check_relation,
        reads_events=False,
    ),
    Contract(
        "metrics",
        "sql",
        ("function",),
        {},
        lambda f, i: f(
            engagement.active_users,
            connectors.warehouse(None, table="events", dialect="postgres"),
            start=i.day("2026-01-05"),
            end=i.day("2026-01-18"),
        ),
        check=_check_statements,
        reads_events=False,
    ),
]


def _check_signature(contract: Contract, function: Any) -> None:
    params = list(inspect.signature(function).parameters.values())
    name = contract.name
    leading = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert leading[: len(contract.positional)] == list(contract.positional), f"{name}: {leading}"
    by_name = {p.name: p for p in params}
    for positional in contract.positional:
        default = contract.defaults.get(positional, inspect.Parameter.empty)
        assert by_name[positional].default == default, f"{name}: {positional} default"
    for keyword, default in contract.keywords.items():
        assert keyword in by_name, f"{name}: no parameter {keyword!r}"
        param = by_name[keyword]
        assert param.kind is param.KEYWORD_ONLY, f"{name}: {keyword} is not keyword-only"
        if default is REQUIRED:
            assert param.default is param.empty, f"{name}: {keyword} should be required"
        else:
            assert param.default == default, f"{name}: {keyword}={param.default!r}"
    documented = set(contract.positional) | set(contract.keywords)
    for param in params:
        if param.name in documented or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        # An addition is welcome when it cannot change a documented call.
        assert param.default is not param.empty, f"{name}: {param.name} has no default"
        if param.kind is not param.KEYWORD_ONLY:
            assert params.index(param) >= len(contract.positional), f"{name}: {param.name}"


def _check_columns(contract: Contract, result: Any) -> None:
    assert isinstance(result, pl.DataFrame), f"{contract.name}: got {type(result).__name__}"
    assert result.height > 0, f"{contract.name}: an empty answer checks no dtypes"
    for column, kind in (contract.columns or {}).items():
        assert column in result.columns, f"{contract.name}: no column {column!r}"
        dtype = result.schema[column]
        if dtype == pl.Null:  # a column that is empty on this input: no dtype to check
            continue
        assert KINDS[kind](dtype), f"{contract.name}: {column} is {dtype}, not {kind}"
    nested = [c for c, t in result.schema.items() if isinstance(t, pl.Struct | pl.Array)]
    assert not nested, f"{contract.name}: nested columns {nested} (long form only)"


@pytest.mark.parametrize("contract", CONTRACTS, ids=[c.name for c in CONTRACTS])
def test_public_call_as_documented(contract: Contract, tmp_path: Path) -> None:
    module = importlib.import_module(contract.module)
    function = getattr(module, contract.name)
    _check_signature(contract, function)
    forms = (False, True) if contract.reads_events else (False,)
    answers = [contract.call(function, Inputs(lazy, tmp_path)) for lazy in forms]
    result = answers[0]
    if contract.columns is not None:
        _check_columns(contract, result)
        for other in answers[1:]:  # a LazyFrame with ISO strings: the same answer
            assert_frame_equal(other, result)
    else:
        assert contract.check is not None
        contract.check(result)
