"""The registry of KPI kinds (metrics/kinds.py): every kind declared there computes a series.

The registry is the only list of kinds; these tests read it rather than repeat it. Each kind is
made into a KPI from its own parameter dataclass (its required parameters filled from the demo's
vocabulary) and computed on a small story in the demo's words: nine weeks of a shop whose users
sign up, browse, buy and see the checkout experiment.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing
from typing import Any

import polars as pl
import pytest

from metrics import kinds, targets
from metrics.kpi_series import SERIES_SCHEMA
from tests.conftest import make_events

D = dt.date.fromisoformat
FIRST_MONDAY = D("2026-08-03")
WEEKS = 9  # to Sunday 2026-10-04: September is a whole month inside the data
TODAY = FIRST_MONDAY + dt.timedelta(weeks=WEEKS)


def demo_like_story() -> pl.DataFrame:
    """Twelve users in the demo's words. User n signs up on day n (even users finish onboarding),
    has a session with a page view every other day; all but every third user add to cart, start
    checkout and buy once a week (10 + n each); from the sixth week each checkout-starter is exposed
    to checkout_redesign (even users control, odd treatment). u0 is there every day, so the data
    runs to the last Sunday."""
    rows: list[tuple[Any, ...]] = []
    for n in range(12):
        user = f"u{n}"
        platform = {"platform": "web" if n < 6 else "mobile"}
        joined = FIRST_MONDAY + dt.timedelta(days=n)
        rows.append((user, "signup", f"{joined} 08:00", platform))
        if n % 2 == 0:
            rows.append((user, "onboarding_complete", f"{joined} 09:00", platform))
        exposed = False
        for offset in range((TODAY - joined).days):
            day = joined + dt.timedelta(days=offset)
            if n == 0 or offset % 2 == 0:
                rows.append((user, "session_start", f"{day} 10:00", platform))
                rows.append((user, "page_view", f"{day} 10:01", platform))
            if n % 3 == 0 or offset % 7 != 3:
                continue
            rows.append((user, "add_to_cart", f"{day} 10:02", platform))
            rows.append((user, "checkout_start", f"{day} 10:03", platform))
            if day >= FIRST_MONDAY + dt.timedelta(weeks=5) and not exposed:
                arm = "control" if n % 2 == 0 else "treatment"
                exposure = {**platform, "experiment": "checkout_redesign", "variant": arm}
                rows.append((user, "experiment_exposure", f"{day} 10:03:30", exposure))
                exposed = True
            rows.append((user, "purchase", f"{day} 10:04", {**platform, "revenue": 10.0 + n}))
    return make_events(*rows)


def _example(hint: Any, name: str) -> Any:
    """A value for a required parameter, in the demo's words, read from its annotation."""
    if typing.get_origin(hint) is typing.Literal:
        return typing.get_args(hint)[0]
    if hint is int:
        return 1
    if typing.get_origin(hint) is tuple:
        return ["signup", "purchase"]
    return "checkout_redesign" if name == "experiment" else "purchase"


def kpi_of(kind: kinds.MetricKind) -> targets.Kpi:
    """A KPI of the kind with only its required parameters given."""
    params = kinds.METRICS[kind].params
    hints = typing.get_type_hints(params)
    required = {
        field.name: _example(hints[field.name], field.name)
        for field in dataclasses.fields(params)
        if field.default is dataclasses.MISSING
    }
    target = 0.5 if kinds.METRICS[kind].rate else 10
    table = {"id": kind, "metric": kind, "target": target, "direction": "up", **required}
    vision = targets.parse_vision(
        {
            "product": {"name": "Shop", "vision": "V", "north_star": kind},
            "kpis": [{**table, "deadline": D("2026-12-31"), "owner": "o"}],
        }
    )
    return vision.kpi(kind)


@pytest.mark.parametrize("kind", kinds.KINDS)
def test_every_kind_computes_a_series_on_the_demo_like_story(kind):
    series = targets.kpi_series(kpi_of(kind), demo_like_story(), today=TODAY)
    judged = targets.levels(series, kpi_of(kind).period).filter(pl.col("level").is_not_null())
    assert series.schema == pl.Schema(SERIES_SCHEMA)
    assert judged.height > 0, series


@pytest.mark.parametrize("kind", kinds.KINDS)
def test_every_kind_has_frozen_parameters_a_label_and_a_unit(kind):
    spec = kinds.METRICS[kind]
    assert spec.kind == kind
    assert dataclasses.is_dataclass(spec.params) and spec.params.__dataclass_params__.frozen
    assert spec.label and spec.unit in typing.get_args(kinds.Unit)


def test_the_rates_are_the_ratio_kinds():
    """A rate's target must lie in [0, 1] (metrics/vision.py): exactly the kinds shown as ratios."""
    assert {
        kind for kind, spec in kinds.METRICS.items() if spec.unit == "ratio"
    } == kinds.RATE_KINDS


@pytest.mark.parametrize(
    ("kind", "bounds"),
    [("retention", (0.0, 1.0)), ("revenue", (0.0, None)), ("experiment", (None, None))],
)
def test_a_projection_stays_in_the_kinds_range(kind, bounds):
    assert kinds.METRICS[kind].bounds == bounds
