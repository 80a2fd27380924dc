"""Vision file, KPI evaluation and drivers (metrics/targets.py and the modules it gathers:
vision.py, judging.py, scorecard.py, drivers.py; the registry of kinds is test_kinds.py).

The judging method is tested on hand-made series whose trend, projection and status can be worked
out on paper; the metric kinds on small event stories; the shipped vision.toml on the demo data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from scipy.stats import theilslopes

from metrics import targets
from metrics.drivers import largest_mover, segment_contributions, volume_rate_split
from metrics.targets import VisionError, assess, load_vision, parse_vision
from tests.conftest import make_events

ROOT = Path(__file__).resolve().parents[2]
D = dt.date.fromisoformat


def weekly(values, first="2026-09-07", incomplete=0):
    """A weekly series from ``first`` (a Monday); the last ``incomplete`` weeks are not complete."""
    start = D(first)
    n = len(values)
    return pl.DataFrame(
        {
            "period_start": [start + dt.timedelta(weeks=i) for i in range(n)],
            "value": [None if v is None else float(v) for v in values],
            "complete": [i < n - incomplete for i in range(n)],
        },
        schema={"period_start": pl.Date, "value": pl.Float64, "complete": pl.Boolean},
    )


def daily(values, first):
    start = D(first)
    return pl.DataFrame(
        {
            "period_start": [start + dt.timedelta(days=i) for i in range(len(values))],
            "value": [float(v) for v in values],
            "complete": [True] * len(values),
        },
        schema={"period_start": pl.Date, "value": pl.Float64, "complete": pl.Boolean},
    )


# The weekly story used by most judging tests: weeks of 2026-09-07 .. 2026-09-28 (the last ends
# Sunday 2026-10-04), today Monday 2026-10-12, deadline Sunday 2026-11-01 = 28 days = 4 weeks on.
GROWING = weekly([100, 110, 120, 130])
TODAY = D("2026-10-12")
DEADLINE = D("2026-11-01")


def judge(series, target, direction="up", deadline=DEADLINE, today=TODAY, period="week", **kw):
    return assess(
        series,
        target=target,
        direction=direction,
        deadline=deadline,
        today=today,
        period=period,
        **kw,
    )


# --- judging a series ----------------------------------------------------------------------------


def test_growing_kpi_is_on_track_when_its_pace_reaches_the_target():
    result = judge(GROWING, target=160)
    assert result.value == 130  # the latest complete week
    assert result.previous == 120
    assert result.trend == pytest.approx(10)  # +10 a week, every week
    assert result.as_of == D("2026-10-04")
    assert result.periods_left == pytest.approx(4)  # 2026-10-04 -> 2026-11-01
    assert result.projected == pytest.approx(170)  # 130 + 4 weeks × 10
    assert result.needed == pytest.approx(7.5)  # (160 - 130) / 4 weeks
    assert result.status == "on_track"
    assert result.reason is None


@pytest.mark.parametrize(
    "target,status",
    [
        (125, "met"),  # 130 is already past 125
        (130, "met"),  # exactly at the target counts as met
        (170, "on_track"),  # the projection lands exactly on it
        (175, "at_risk"),  # short by 5 < 10% of 175
        (188, "at_risk"),  # short by 18 < 18.8
        (189, "off_track"),  # short by 19 > 18.9
        (200, "off_track"),  # short by 30
    ],
)
def test_status_by_target_for_a_growing_kpi(target, status):
    assert judge(GROWING, target=target).status == status


@pytest.mark.parametrize(
    "values,target,status,projected",
    [
        ([130, 120, 110, 100], 100, "met", 60),  # already down to 100
        ([130, 120, 110, 100], 60, "on_track", 60),  # 100 - 4 × 10 = 60 reaches it
        ([130, 120, 110, 100], 57, "at_risk", 60),  # 3 above 57, within 5.7
        ([130, 120, 110, 100], 40, "off_track", 60),  # 20 above 40, beyond 4
        ([100, 110, 120, 130], 90, "off_track", 170),  # moving the wrong way
    ],
)
def test_down_is_good_kpi(values, target, status, projected):
    result = judge(weekly(values), target=target, direction="down")
    assert result.status == status
    assert result.projected == pytest.approx(projected)


def test_down_is_good_needed_pace_is_negative():
    result = judge(weekly([130, 120, 110, 100]), target=60, direction="down")
    assert result.needed == pytest.approx(-10)  # (60 - 100) / 4 weeks
    assert result.trend == pytest.approx(-10)


def test_one_odd_week_does_not_bend_the_trend():
    # Theil–Sen: the median of the ten pairwise slopes is 10; least squares would say 11.
    series = weekly([100, 110, 400, 130, 140])
    result = judge(series, target=150)
    assert result.trend == pytest.approx(10)
    assert result.trend == pytest.approx(theilslopes([100, 110, 400, 130, 140]).slope)


def test_theil_sen_matches_scipy():
    x = [0.0, 1.0, 2.0, 3.5, 5.0, 6.0]
    y = [3.0, 2.5, 7.0, 4.0, 9.0, 8.5]
    slope, _ = targets.theil_sen(x, y)
    assert slope == pytest.approx(theilslopes(y, x).slope)


def test_incomplete_periods_are_not_judged():
    # The week in progress (only two days in) shows 20: not a collapse, just not over yet.
    result = judge(weekly([100, 110, 120, 130, 20], incomplete=1), target=160)
    assert result.value == 130
    assert result.status == "on_track"


def test_seasonal_daily_series_is_judged_on_its_weekly_level():
    # Six weeks from Monday 2026-08-03: level 100 + day number, weekdays +20, weekends -50 (the
    # weekly pattern sums to zero). The 7-day mean ending on day d is 100 + (d - 3) = 97 + d.
    pattern = [20, 20, 20, 20, 20, -50, -50]
    values = [100 + d + pattern[d % 7] for d in range(42)]
    series = daily(values, "2026-08-03")
    result = judge(
        series, target=160, period="day", today=D("2026-09-14"), deadline=D("2026-10-13")
    )
    assert values[-1] == 141 - 50  # the last day is a quiet Sunday: 91, far below the level
    assert result.value == pytest.approx(97 + 41)  # 138: the 7-day average, not Sunday's 91
    assert result.previous == pytest.approx(97 + 34)  # a week earlier: Sunday against Sunday
    assert result.trend == pytest.approx(1.0)  # exactly the underlying +1 a day
    assert result.periods_left == pytest.approx(30)  # 2026-09-13 -> 2026-10-13
    assert result.projected == pytest.approx(168)
    assert result.needed == pytest.approx(22 / 30)
    assert result.status == "on_track"


def test_flat_seasonal_series_is_not_falsely_off_track():
    pattern = [1000, 1000, 1000, 1000, 1000, 600, 600]
    series = daily([pattern[d % 7] for d in range(35)], "2026-08-03")
    result = judge(
        series, target=880, period="day", today=D("2026-09-07"), deadline=D("2026-10-31")
    )
    assert result.value == pytest.approx(6200 / 7)  # 885.7
    assert result.trend == pytest.approx(0.0)
    assert result.status == "met"


@pytest.mark.parametrize(
    "series",
    [
        weekly([]),
        weekly([100, 110], incomplete=2),  # nothing complete yet
        weekly([None, None, None]),  # rates with no cohort at all
    ],
)
def test_no_data_is_not_zero(series):
    result = judge(series, target=10)
    assert result.status == "no_data"
    assert (result.value, result.previous, result.projected) == (None, None, None)
    assert "no complete week" in result.reason


def test_no_data_keeps_the_callers_reason():
    result = judge(weekly([]), target=10, no_data_reason="no 'purchase' events in the data")
    assert result.reason == "no 'purchase' events in the data"


def test_deadline_passed_unmet_is_off_track_and_nothing_is_projected():
    result = judge(GROWING, target=160, deadline=D("2026-10-01"))
    assert result.status == "off_track"
    assert result.projected == 130  # the deadline is behind us: what we have is what we got
    assert result.needed is None and result.periods_left is None
    assert "2026-10-01" in result.reason


def test_deadline_passed_but_met_is_met():
    assert judge(GROWING, target=120, deadline=D("2026-10-01")).status == "met"


def test_two_points_give_a_flat_projection():
    result = judge(weekly([100, 110]), target=150)
    assert result.trend is None
    assert result.projected == 110
    assert result.status == "off_track"
    assert "flat" in result.reason


def test_projection_stays_inside_the_metric_range():
    rate = weekly([0.5, 0.6, 0.7, 0.8])
    far = judge(rate, target=0.95, deadline=D("2027-06-06"), bounds=(0.0, 1.0))
    assert far.projected == 1.0
    zero_target = judge(weekly([5, 4, 3, 2]), target=0, direction="down", bounds=(0.0, None))
    assert zero_target.projected == 0.0  # 2 - 4 × 1 = -2, but a count stops at zero
    assert zero_target.status == "on_track"


def test_previous_is_missing_when_the_period_before_has_no_value():
    result = judge(weekly([None, 130]), target=100)
    assert result.value == 130 and result.previous is None


def test_monthly_series_uses_months_as_periods():
    months = pl.DataFrame(
        {
            "period_start": [D("2026-07-01"), D("2026-08-01"), D("2026-09-01"), D("2026-10-01")],
            "value": [100.0, 120.0, 140.0, 160.0],
            "complete": [True, True, True, True],
        }
    )
    result = judge(
        months, target=200, period="month", today=D("2026-11-01"), deadline=D("2026-12-31")
    )
    assert result.as_of == D("2026-10-31")
    assert result.trend == pytest.approx(20)  # a month is a step, whether of 30 or 31 days
    assert result.periods_left == pytest.approx(2)  # end of October -> end of December
    assert result.projected == pytest.approx(200)
    assert result.status == "on_track"
    mid_month = judge(months, target=200, period="month", deadline=D("2026-12-16"))
    assert mid_month.periods_left == pytest.approx(1 + 16 / 31)


def test_assess_rejects_bad_arguments():
    with pytest.raises(ValueError, match="direction"):
        judge(GROWING, target=1, direction="sideways")
    with pytest.raises(ValueError, match="period"):
        judge(GROWING, target=1, period="fortnight")


# --- invariants ----------------------------------------------------------------------------------

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), finite), min_size=0, max_size=12),
    target=finite,
    weeks_to_deadline=st.integers(min_value=-3, max_value=30),
)
def test_down_is_good_mirrors_up_is_good(values, target, weeks_to_deadline):
    """Negating the series and the target and flipping the direction changes no verdict."""
    deadline = D("2026-11-29") + dt.timedelta(weeks=weeks_to_deadline - 8)
    up = judge(weekly(values), target=target, deadline=deadline)
    mirrored = [None if v is None else -v for v in values]
    down = judge(weekly(mirrored), target=-target, direction="down", deadline=deadline)
    assert up.status == down.status
    assert (up.value is None) == (down.value is None)
    if up.value is not None:
        assert down.value == pytest.approx(-up.value)
        assert down.projected == pytest.approx(-up.projected, abs=1e-6)


@settings(max_examples=150, deadline=None)
@given(values=st.lists(finite, min_size=3, max_size=12), target=finite, shift=finite)
def test_judging_ignores_row_order_and_a_shifted_level_keeps_the_trend(values, target, shift):
    series = weekly(values)
    result = judge(series, target=target)
    assert judge(series.reverse(), target=target) == result
    shifted = judge(weekly([v + shift for v in values]), target=target + shift)
    assert shifted.trend == pytest.approx(result.trend, abs=1e-6)
    assert shifted.value == pytest.approx(result.value + shift, abs=1e-6)


@settings(max_examples=150, deadline=None)
@given(
    x=st.lists(st.integers(min_value=0, max_value=60), min_size=2, max_size=15, unique=True),
    data=st.data(),
)
def test_theil_sen_agrees_with_scipy_on_random_points(x, data):
    y = data.draw(st.lists(finite, min_size=len(x), max_size=len(x)))
    slope, _ = targets.theil_sen([float(v) for v in x], y)
    assert slope == pytest.approx(theilslopes(y, x).slope, rel=1e-9, abs=1e-6)


@settings(max_examples=150, deadline=None)
@given(v0=finite, r0=finite, v1=finite, r1=finite)
def test_volume_and_rate_effects_always_add_up(v0, r0, v1, r1):
    split = volume_rate_split(volume_before=v0, rate_before=r0, volume_after=v1, rate_after=r1)
    assert split.volume_effect + split.rate_effect == pytest.approx(
        v1 * r1 - v0 * r0, rel=1e-9, abs=1e-3
    )


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["web", "mobile", "tv"]),
            st.floats(min_value=0, max_value=1e4),
            st.floats(min_value=0, max_value=1e4),
        ),
        min_size=1,
        max_size=3,
        unique_by=lambda row: row[0],
    )
)
def test_additive_contributions_sum_to_the_total_change(rows):
    frame = pl.DataFrame(
        {
            "property": ["platform"] * len(rows),
            "segment": [r[0] for r in rows],
            "before": [r[1] for r in rows],
            "after": [r[2] for r in rows],
        }
    )
    out = segment_contributions(frame, additive=True)
    total = sum(r[2] for r in rows) - sum(r[1] for r in rows)
    assert out.get_column("contribution").sum() == pytest.approx(total, abs=1e-6)


# --- the vision file -----------------------------------------------------------------------------

MINIMAL = """
[product]
name = "Shop"
vision = "Buying made easy."
north_star = "weekly_buyers"

[[kpis]]
id = "weekly_buyers"
name = "Weekly buyers"
metric = "active_users"
event = "purchase"
period = "week"
target = 7
direction = "up"
deadline = 2026-10-25
owner = "Priya"
description = "People who bought in a calendar week."
"""


def test_minimal_vision_reads_into_frozen_dataclasses():
    vision = parse_vision(MINIMAL)
    kpi = vision.north_star_kpi
    assert vision.product == "Shop" and vision.statement == "Buying made easy."
    assert kpi == targets.Kpi(
        id="weekly_buyers",
        name="Weekly buyers",
        metric="active_users",
        params=targets.ActiveUsers(period="week", event="purchase"),
        target=7.0,
        direction="up",
        deadline=D("2026-10-25"),
        owner="Priya",
        description="People who bought in a calendar week.",
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        kpi.target = 8  # type: ignore[misc]


def test_lists_become_tuples_and_filters_are_kept():
    vision = parse_vision(
        MINIMAL.replace('event = "purchase"', 'event = ["purchase", "checkout_start"]')
        + 'filters = { platform = "web", country = ["US", "GB"] }\n'
    )
    kpi = vision.kpis[0]
    assert kpi.params.event == ("purchase", "checkout_start")
    assert kpi.filter_map == {"platform": "web", "country": ["US", "GB"]}


BROKEN = """
owner = "nobody"

[product]
name = "Shop"
north_star = "weekly_buyrs"

[[kpis]]
id = "weekly_buyers"
name = "Weekly buyers"
metric = "active_users"
event = "purchase"
period = "fortnight"
target = "900"
direction = "sideways"
deadline = "end of the year"
owner = "Priya"
description = "People who bought in a week."
colour = "green"

[[kpis]]
id = "retained"
name = "Week-1 retention"
metric = "retention"
target = 35
direction = "up"
deadline = 2026-12-31
owner = "Lena"
description = "Come back next week."

[[kpis]]
id = "retained"
name = "Conversion"
metric = "conversion_rate"
target = 0.3
direction = "up"
deadline = 2026-12-31
description = "Pay after checkout."
"""


SPEC_ONLY = """
[product]
name = "Shop"
vision = "Buying made easy."
north_star = "Weekly active users"

[[kpis]]
name = "Weekly active users"
metric = "active_users"
window_days = 7
target = 1000
direction = "up"
deadline = "2026-12-31"
owner = "Priya"

[[kpis]]
metric = "funnel"
steps = ["signup", "purchase"]
window = 7
interval = "week"
target = 0.2
direction = "up"
deadline = 2026-12-31
owner = "Sam"

[[kpis]]
metric = "retention"
offset = 1
target = 0.3
direction = "up"
deadline = 2026-12-31
owner = "Lena"

[[kpis]]
metric = "stickiness"
target = 0.2
direction = "up"
deadline = 2026-12-31
owner = "Tom"

[[kpis]]
metric = "stickiness"
event = "purchase"
target = 0.05
direction = "up"
deadline = 2026-12-31
owner = "Tom"
"""


def test_a_kpi_needs_only_what_spec_names_and_reads_the_functions_own_words():
    """SPEC 4.5: a KPI names a metric with its parameters, a target, a direction, a deadline and
    an owner. Ids, names and descriptions are filled in; the metric functions' own names
    (interval, window, funnel, stickiness) and defaults hold; an ISO date in quotes is a date."""
    vision = parse_vision(SPEC_ONLY)
    ids = [kpi.id for kpi in vision.kpis]
    assert ids == [
        "weekly_active_users",
        "funnel_conversion",
        "retention",
        "dau_mau",
        "dau_mau_5",
    ]
    assert vision.north_star == "weekly_active_users"  # named by the KPI's name
    wau, funnel, retention, sticky, _ = vision.kpis
    assert wau.name == "Weekly active users" and wau.description == ""
    assert wau.params == targets.ActiveUsers(period="day", window_days=7)  # like active_users()
    assert wau.deadline == dt.date(2026, 12, 31)
    assert funnel.metric == "funnel_conversion" and funnel.name == "funnel_conversion"
    assert funnel.params == targets.FunnelConversion(
        steps=("signup", "purchase"), period="week", window_days=7
    )
    assert retention.params.retention_type == "recurring"  # retention()'s default
    assert sticky.metric == "dau_mau"


def test_every_problem_is_reported_together_naming_file_kpi_and_field():
    with pytest.raises(VisionError) as caught:
        parse_vision(BROKEN, source="vision.toml")
    expected = [
        "vision.toml: unknown top-level key 'owner' (expected [product] and [[kpis]])",
        "vision.toml: [product], field 'vision': missing",
        "vision.toml: KPI 'weekly_buyers' (#1), field 'target': must be a number, got '900'",
        "vision.toml: KPI 'weekly_buyers' (#1), field 'direction': "
        'must be "up" or "down" (which way is good), got \'sideways\'',
        "vision.toml: KPI 'weekly_buyers' (#1), field 'deadline': "
        "must be a date written as 2026-12-31, got 'end of the year'",
        "vision.toml: KPI 'weekly_buyers' (#1), field 'colour': unknown key for metric "
        "'active_users' (its parameters: period, event, window_days)",
        "vision.toml: KPI 'weekly_buyers' (#1), field 'period': "
        'must be one of "day", "week", "month", got \'fortnight\'',
        "vision.toml: KPI 'retained' (#2), field 'offset': missing: metric 'retention' needs it "
        "(a whole number)",
        "vision.toml: KPI 'retained' (#2), field 'target': "
        "retention is a rate: write it as a fraction (25% is 0.25), got 35",
        "vision.toml: KPI 'retained' (#3), field 'owner': missing (who answers for it)",
        "vision.toml: KPI 'retained' (#3), field 'metric': unknown metric kind 'conversion_rate' "
        f"(one of: {', '.join(targets.METRICS)})",
        "vision.toml: KPI 'retained' (#3), field 'id': duplicate of KPI #2",
        "vision.toml: [product], field 'north_star': 'weekly_buyrs' is not the id of a KPI "
        "(KPIs: weekly_buyers, retained)",
    ]
    assert caught.value.problems == expected
    assert str(len(expected)) + " problems" in str(caught.value)


def test_a_rate_target_must_be_a_fraction():
    text = MINIMAL.replace('metric = "active_users"\nevent = "purchase"', 'metric = "dau_mau"')
    text = text.replace('period = "week"\n', "").replace("target = 7", "target = 25")
    with pytest.raises(VisionError) as caught:
        parse_vision(text)
    assert caught.value.problems == [
        "vision.toml: KPI 'weekly_buyers' (#1), field 'target': "
        "dau_mau is a rate: write it as a fraction (25% is 0.25), got 25"
    ]


@pytest.mark.parametrize(
    "change,field,message",
    [
        (("offset = 1", "offset = 0"), "offset", "must be at least 1"),
        (("offset = 1", "offset = 1.5"), "offset", "must be a whole number, got 1.5"),
        (("offset = 1", "offset = true"), "offset", "must be a whole number, got true"),
        (("target = 0.3", "target = nan"), "target", "must be a number"),
        (("target = 0.3", "target = false"), "target", "must be a number, got false"),
        (('owner = "Lena"', 'owner = ""'), "owner", "must be a non-empty string"),
        (('id = "ret"', 'id = "Week 1"'), "id", "lowercase letters"),
        (('id = "ret"', 'id = "ret"\nfilters = "web"'), "filters", "must be a table"),
        (('id = "ret"', 'id = "ret"\nfilters = { platform = [] }'), "filters", "non-empty list"),
        (('mode = "exact"', 'mode = "sometimes"'), "mode", 'one of "exact", "on_or_after"'),
        (
            ('start_event = "signup"', "start_event = 3"),
            "start_event",
            "must be a string, got 3 (int)",
        ),
    ],
)
def test_each_field_is_checked(change, field, message):
    text = """
[product]
name = "Shop"
vision = "V"
north_star = "ret"

[[kpis]]
id = "ret"
name = "Week-1 retention"
metric = "retention"
offset = 1
start_event = "signup"
mode = "exact"
target = 0.3
direction = "up"
deadline = 2026-12-31
owner = "Lena"
description = "Back next week."
"""
    old, new = change
    assert old in text
    broken = text.replace(old, new)
    with pytest.raises(VisionError) as caught:
        parse_vision(broken)
    assert len(caught.value.problems) >= 1
    hits = [p for p in caught.value.problems if f"field {field!r}" in p]
    assert hits and message in hits[0], caught.value.problems


def test_funnel_and_window_constraints():
    text = MINIMAL.replace(
        'metric = "active_users"\nevent = "purchase"',
        'metric = "funnel_conversion"\nsteps = ["signup"]\nwindow_days = 0',
    ).replace("target = 7", "target = 0.5")
    with pytest.raises(VisionError) as caught:
        parse_vision(text)
    assert [p.split("field ")[1] for p in caught.value.problems] == [
        "'steps': a funnel needs at least two steps",
        "'window_days': must be at least 1",
    ]
    rolling = MINIMAL.replace('event = "purchase"', "window_days = 7")
    with pytest.raises(VisionError, match='a rolling window needs period = "day"'):
        parse_vision(rolling)


def test_not_toml_and_missing_file_are_problems_too(tmp_path):
    with pytest.raises(VisionError) as caught:
        parse_vision("[product\nname = 1", source="v.toml")
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("v.toml: not valid TOML")
    with pytest.raises(VisionError) as missing:
        load_vision(tmp_path / "nope.toml")
    assert missing.value.problems == [f"{tmp_path / 'nope.toml'}: the file does not exist"]


def test_empty_file_lists_what_is_missing():
    with pytest.raises(VisionError) as caught:
        parse_vision("", source="v.toml")
    assert caught.value.problems == [
        "v.toml: [product] table is missing (name, vision, north_star)",
        "v.toml: no KPIs: add at least one [[kpis]] table",
    ]


def test_every_metric_kind_and_parameter_is_documented():
    docs = (ROOT / "docs" / "targets.md").read_text()
    for kind, spec in targets.METRICS.items():
        assert f"| `{kind}` |" in docs, kind
        for field in dataclasses.fields(spec.params):
            assert f"`{field.name}`" in docs, (kind, field.name)
    for field in ("id", "name", "metric", "target", "direction", "deadline", "owner"):
        assert f"| `{field}` |" in docs, field
    assert "10% of the target" in docs  # the stated at-risk margin
    assert targets.AT_RISK_MARGIN == 0.10


def test_shipped_vision_file_is_valid():
    vision = load_vision(ROOT / "vision.toml")
    assert vision.north_star_kpi.name == "Weekly buyers"
    assert len(vision.kpis) >= 8
    assert {k.direction for k in vision.kpis} == {"up", "down"}
    assert len({k.metric for k in vision.kpis}) >= 7


# --- KPIs computed from events -------------------------------------------------------------------

MONDAYS = ["2026-09-07", "2026-09-14", "2026-09-21", "2026-09-28"]


def buyers_story():
    """Six users browse every week; 1, 2, 3 then 4 of them buy (u1 on web, u2 web, u3-u4 mobile).

    u1 also browses every Sunday, so the data runs to the end of each week.
    """
    rows = []
    for week, monday in enumerate(MONDAYS):
        day = D(monday)
        for n in range(1, 7):
            platform = "web" if n <= 2 else "mobile"
            rows.append((f"u{n}", "page_view", f"{day} 09:00", {"platform": platform}))
        rows.append(("u1", "page_view", f"{day + dt.timedelta(days=6)} 20:00", {"platform": "web"}))
        for n in range(1, week + 2):
            platform = "web" if n <= 2 else "mobile"
            when = f"{day + dt.timedelta(days=2)} 12:00"
            rows.append((f"u{n}", "purchase", when, {"platform": platform, "revenue": 10.0 * n}))
    return make_events(*rows)


def one_kpi(**fields):
    base = {
        "id": "weekly_buyers",
        "name": "Weekly buyers",
        "metric": "active_users",
        "event": "purchase",
        "period": "week",
        "target": 7,
        "direction": "up",
        "deadline": D("2026-10-25"),
        "owner": "Priya",
        "description": "People who bought.",
    }
    base.update(fields)
    base = {k: v for k, v in base.items() if v is not None}
    return parse_vision(
        {"product": {"name": "Shop", "vision": "V", "north_star": base["id"]}, "kpis": [base]}
    )


def test_evaluate_weekly_buyers_story():
    table = targets.evaluate(one_kpi(), buyers_story(), today=D("2026-10-05"))
    expected = pl.DataFrame(
        {
            "kpi": ["weekly_buyers"],
            "value": [4.0],  # week of 2026-09-28: u1..u4 bought
            "target": [7.0],
            "previous": [3.0],
            "delta": [1.0],
            "projected": [7.0],  # 4 + 3 weeks × 1 (2026-10-04 -> 2026-10-25)
            "trend": [1.0],
            "needed": [1.0],
            "periods_left": [3.0],
            "status": ["on_track"],
            "as_of": [D("2026-10-04")],
            "unit": ["users"],
            "north_star": [True],
        }
    )
    assert_frame_equal(table.select(expected.columns), expected)
    assert table.columns == list(targets.SCORECARD_SCHEMA)


def test_data_that_stops_early_is_not_read_as_zeros():
    # Today is two months after the last event: the weeks since are missing, not empty.
    table = targets.evaluate(one_kpi(), buyers_story(), today=D("2026-11-30"))
    row = table.row(0, named=True)
    assert row["value"] == 4.0 and row["as_of"] == D("2026-10-04")
    assert row["status"] == "off_track"  # the deadline (2026-10-25) has passed at 4 of 7


def test_first_partial_week_is_not_judged():
    # Data starting on a Wednesday: that week is incomplete, so only three weeks are judged.
    late = buyers_story().filter(pl.col("timestamp") >= dt.datetime(2026, 9, 9, tzinfo=dt.UTC))
    card = targets.scorecard(one_kpi(), late, today=D("2026-10-05"))
    assert card.series.get_column("period_start").to_list() == [D(m) for m in MONDAYS[1:]]


@pytest.mark.parametrize(
    "fields,reason",
    [
        ({"event": "purchse"}, "no 'purchse' events in the data"),
        ({"filters": {"plan": "pro"}}, "the data has no 'plan' property"),
        ({"filters": {"platform": "tv"}}, "no 'purchase' events in the data for these filters"),
    ],
)
def test_a_kpi_the_data_cannot_answer_is_no_data_with_a_reason(fields, reason):
    row = targets.evaluate(one_kpi(**fields), buyers_story(), today=D("2026-10-05")).row(
        0, named=True
    )
    assert row["status"] == "no_data"
    assert row["value"] is None and row["previous"] is None
    assert row["reason"] == reason


def test_empty_events_are_no_data_for_every_kpi():
    empty = make_events()
    table = targets.evaluate(one_kpi(), empty, today=D("2026-10-05"))
    assert table.get_column("status").to_list() == ["no_data"]


def test_filters_scope_the_kpi():
    web = one_kpi(filters={"platform": "web"})
    row = targets.evaluate(web, buyers_story(), today=D("2026-10-05")).row(0, named=True)
    assert (row["value"], row["previous"]) == (2.0, 2.0)  # only u1 and u2 buy on the web


def test_down_is_good_kpi_from_events():
    # Dormant users per week (lifecycle): u5 and u6 stop browsing after the first week.
    story = buyers_story().filter(
        ~(
            pl.col("user_id").is_in(["u5", "u6"])
            & (pl.col("timestamp") > dt.datetime(2026, 9, 13, tzinfo=dt.UTC))
        )
    )
    vision = one_kpi(metric="lifecycle", event=None, state="dormant", target=1, direction="down")
    card = targets.scorecard(vision, story, today=D("2026-10-05"))
    assert card.series.get_column("value").to_list() == [0.0, 2.0, 0.0, 0.0]
    row = card.table.row(0, named=True)
    assert row["status"] == "met"  # 0 lost last week, target at most 1


def test_revenue_and_paying_users_from_events():
    # Revenue of week k: u1..u(k+1) pay 10, 20, 30, 40 -> 10, 30, 60, 100.
    card = targets.scorecard(
        one_kpi(metric="revenue", event=None, target=150), buyers_story(), today=D("2026-10-05")
    )
    assert card.series.get_column("value").to_list() == [10.0, 30.0, 60.0, 100.0]
    payers = targets.scorecard(
        one_kpi(metric="paying_users", event=None, target=5), buyers_story(), today=D("2026-10-05")
    )
    assert payers.series.get_column("value").to_list() == [1.0, 2.0, 3.0, 4.0]


def test_event_count_from_events():
    card = targets.scorecard(
        one_kpi(metric="event_count", event="page_view", target=6),
        buyers_story(),
        today=D("2026-10-05"),
    )
    assert card.series.get_column("value").to_list() == [7.0, 7.0, 7.0, 7.0]  # with u1's Sunday
    assert card.table.item(0, "status") == "met"


def test_retention_kpi_reads_offset_k_and_waits_for_it_to_finish():
    # Cohorts of first-ever events: 3 users in the week of 09-07, 2 in the week of 09-14. Of the
    # first, 2 come back the next week; of the second, 1.
    story = make_events(
        ("a", "signup", "2026-09-07 10:00"),
        ("b", "signup", "2026-09-08 10:00"),
        ("c", "signup", "2026-09-09 10:00"),
        ("a", "page_view", "2026-09-15 10:00"),
        ("b", "page_view", "2026-09-16 10:00"),
        ("d", "signup", "2026-09-14 10:00"),
        ("e", "signup", "2026-09-15 10:00"),
        ("d", "page_view", "2026-09-22 10:00"),
        ("a", "page_view", "2026-09-27 10:00"),
    )
    vision = one_kpi(metric="retention", event=None, offset=1, start_event="signup", target=0.5)
    card = targets.scorecard(vision, story, today=D("2026-09-28"))
    series = card.series.select("period_start", "value")
    # Week of 09-21's cohort is empty; its offset-1 week (09-28) has not happened yet.
    assert series.to_dict(as_series=False) == {
        "period_start": [D("2026-09-07"), D("2026-09-14")],
        "value": [2 / 3, 1 / 2],
    }
    row = card.table.row(0, named=True)
    assert row["value"] == 0.5 and row["previous"] == pytest.approx(2 / 3)


def activation_story():
    """Sign-ups of two weeks and who finished onboarding within 7 days.

    Week of 09-07: a (web) and b (web) finish, c (mobile) does not: 2 of 3.
    Week of 09-14: d (web) does not, e (mobile) does not, f (mobile) does: 1 of 3.
    g finishes 10 days after signing up: outside the window, so not converted.
    """
    web, mobile = {"platform": "web"}, {"platform": "mobile"}
    return make_events(
        ("a", "signup", "2026-09-07 10:00", web),
        ("a", "onboarding_complete", "2026-09-08 10:00", web),
        ("b", "signup", "2026-09-08 10:00", web),
        ("b", "onboarding_complete", "2026-09-09 10:00", web),
        ("c", "signup", "2026-09-09 10:00", mobile),
        ("d", "signup", "2026-09-14 10:00", web),
        ("e", "signup", "2026-09-15 10:00", mobile),
        ("f", "signup", "2026-09-16 10:00", mobile),
        ("f", "onboarding_complete", "2026-09-16 12:00", mobile),
        ("g", "signup", "2026-09-14 11:00", mobile),
        ("g", "onboarding_complete", "2026-09-24 11:00", mobile),
        ("z", "page_view", "2026-09-27 20:00", web),  # the data runs to 09-27
    )


def activation_vision(**fields):
    return one_kpi(
        id="activation",
        name="Activation",
        metric="funnel_conversion",
        event=None,
        steps=["signup", "onboarding_complete"],
        window_days=7,
        target=0.6,
        **fields,
    )


def test_funnel_kpi_is_conversion_by_entry_week():
    card = targets.scorecard(activation_vision(), activation_story(), today=D("2026-09-28"))
    # Week of 09-14 has 4 entrants now (g too): d, e, g miss, f converts.
    assert card.series.select("period_start", "value").rows() == [
        (D("2026-09-07"), 2 / 3),
        (D("2026-09-14"), 1 / 4),
    ]
    row = card.table.row(0, named=True)
    assert row["value"] == 0.25 and row["previous"] == pytest.approx(2 / 3)
    assert row["unit"] == "ratio"


def test_funnel_week_waits_for_its_window_to_close():
    # On 09-27 the week of 09-14's last sign-up (09-20) still has a day of window left.
    card = targets.scorecard(activation_vision(), activation_story(), today=D("2026-09-27"))
    assert card.series.get_column("period_start").to_list() == [D("2026-09-07")]


def test_explain_a_rate_kpi_by_segment_shift_share():
    drivers = targets.explain(
        activation_vision(), "activation", activation_story(), today=D("2026-09-28")
    )
    assert drivers.change == pytest.approx(1 / 4 - 2 / 3)
    assert drivers.split is None  # a rate has no volume × rate split
    # Web: 2 of 2 (weight 2) -> 0 of 1 (weight 1); mobile: 0 of 1 -> 1 of 3 (weight 3).
    # Terms w/W × rate: web 2/3 × 1 -> 1/4 × 0 = -2/3; mobile 1/3 × 0 -> 3/4 × 1/3 = +1/4.
    rows = drivers.segments.select("segment", "before", "after", "contribution").rows()
    assert rows[0][:3] == ("web", 1.0, 0.0) and rows[0][3] == pytest.approx(-2 / 3)
    assert rows[1][:3] == ("mobile", 0.0, pytest.approx(1 / 3))
    assert rows[1][3] == pytest.approx(1 / 4)
    assert sum(r[3] for r in rows) == pytest.approx(drivers.change)  # platforms partition users
    assert drivers.top["segment"] == "web"


def test_experiment_kpi_is_the_running_relative_lift():
    # Control: 4 exposed in week 1, 1 buys. Treatment: 4 exposed, 2 buy (one in week 2).
    # Week 1: control 1/4, treatment 1/4 -> lift 0. Week 2: 1/4 vs 2/4 -> lift +100%.
    rows = []
    assignments = []
    for n in range(8):
        arm = "control" if n < 4 else "treatment"
        when = "2026-09-07 10:00"
        assignments.append(
            {"user_id": f"x{n}", "experiment": "exp", "variant": arm, "timestamp": when}
        )
        rows.append((f"x{n}", "page_view", when))
    rows += [
        ("x0", "purchase", "2026-09-08 10:00"),
        ("x4", "purchase", "2026-09-08 10:00"),
        ("x5", "purchase", "2026-09-15 10:00"),
        ("x6", "purchase", "2026-09-06 10:00"),  # before exposure: does not count
        ("x7", "page_view", "2026-09-20 10:00"),
    ]
    frame = pl.DataFrame(assignments).with_columns(
        pl.col("timestamp").str.to_datetime().dt.replace_time_zone("UTC")
    )
    vision = one_kpi(metric="experiment", event="purchase", experiment="exp", target=0.5)
    card = targets.scorecard(vision, make_events(*rows), today=D("2026-09-21"), assignments=frame)
    assert card.series.get_column("value").to_list() == [0.0, 1.0]
    assert card.table.item(0, "status") == "met"


def test_an_experiments_running_lift_is_projected_flat_not_extrapolated():
    # The demo's story: the lift since launch reads +15% after week one and settles near +4%.
    # Its slope is the estimate converging; carried to the deadline it would read -1.1% while
    # the scorecard says "Met". A running estimate is judged as it stands.
    settling = weekly([0.15, 0.09, 0.074, 0.042])
    result = judge(settling, target=0.03, trends=False)
    assert result.value == pytest.approx(0.042)
    assert result.trend is None
    assert result.projected == pytest.approx(0.042)
    assert result.status == "met"
    assert result.reason is None  # not "only n points": no trend is looked for at all
    short = judge(settling, target=0.045, trends=False)  # 0.003 short, under 10% of 0.045
    assert (short.projected, short.status) == (pytest.approx(0.042), "at_risk")
    assert judge(settling, target=0.03).projected < 0.03  # what extrapolating would claim
    assert targets.METRICS["experiment"].trends is False
    assert all(spec.trends for kind, spec in targets.METRICS.items() if kind != "experiment")


def test_experiment_without_assignments_reads_exposure_events():
    rows = [
        (
            "c1",
            "experiment_exposure",
            "2026-09-07 10:00",
            {"experiment": "exp", "variant": "control"},
        ),
        (
            "c2",
            "experiment_exposure",
            "2026-09-07 10:00",
            {"experiment": "exp", "variant": "control"},
        ),
        (
            "t1",
            "experiment_exposure",
            "2026-09-07 10:00",
            {"experiment": "exp", "variant": "treatment"},
        ),
        (
            "t2",
            "experiment_exposure",
            "2026-09-07 10:00",
            {"experiment": "exp", "variant": "treatment"},
        ),
        ("c1", "purchase", "2026-09-08 10:00"),
        ("t1", "purchase", "2026-09-08 10:00"),
        ("t2", "purchase", "2026-09-09 10:00"),
        ("c2", "page_view", "2026-09-13 10:00"),  # the data runs to the end of the week
    ]
    vision = one_kpi(metric="experiment", event="purchase", experiment="exp", target=0.5)
    card = targets.scorecard(vision, make_events(*rows), today=D("2026-09-14"))
    assert card.series.get_column("value").to_list() == [1.0]  # 2/2 against 1/2


def test_scorecard_rejects_bad_arguments():
    with pytest.raises(ValueError, match="tz"):
        targets.evaluate(one_kpi(), buyers_story(), today=D("2026-10-05"), tz="Mars/Olympus")


# --- drivers -------------------------------------------------------------------------------------


def test_volume_rate_split_by_hand():
    # 1000 active users, 5% buy (50 buyers) -> 1200 users, 4% buy (48 buyers): -2 buyers.
    split = volume_rate_split(
        volume_before=1000, rate_before=0.05, volume_after=1200, rate_after=0.04
    )
    assert split.change == pytest.approx(-2)
    assert split.volume_effect == pytest.approx(9)  # +200 users × 4.5% (the mean rate)
    assert split.rate_effect == pytest.approx(-11)  # -1 point × 1,100 users (the mean volume)
    assert split.volume_effect + split.rate_effect == pytest.approx(split.change)
    assert split.main_driver == "rate"


def test_volume_rate_split_survives_zeros_and_is_symmetric():
    split = volume_rate_split(volume_before=0, rate_before=0, volume_after=10, rate_after=0.5)
    assert (split.volume_effect, split.rate_effect) == (2.5, 2.5)  # log split would divide by 0
    back = volume_rate_split(volume_before=10, rate_before=0.5, volume_after=0, rate_after=0)
    assert (back.volume_effect, back.rate_effect) == (-2.5, -2.5)


def test_additive_segment_contributions_sum_to_the_change():
    segments = pl.DataFrame(
        {
            "property": ["platform", "platform", "country", "country", "country"],
            "segment": ["web", "mobile", "US", "DE", "IN"],
            "before": [30.0, 20.0, 25.0, 15.0, 10.0],
            "after": [28.0, 12.0, 24.0, 14.0, None],  # nobody in IN any more
        }
    )
    out = segment_contributions(segments, additive=True)
    expected = pl.DataFrame(
        {
            "property": ["country", "country", "country", "platform", "platform"],
            "segment": ["IN", "DE", "US", "mobile", "web"],
            "before": [10.0, 15.0, 25.0, 20.0, 30.0],
            "after": [0.0, 14.0, 24.0, 12.0, 28.0],
            "contribution": [-10.0, -1.0, -1.0, -8.0, -2.0],
            "share_of_change": [10 / 12, 1 / 12, 1 / 12, 0.8, 0.2],
        }
    )
    assert_frame_equal(out, expected)
    assert largest_mover(out)["segment"] == "IN"


def test_rate_segment_contributions_are_shift_share_terms():
    # Web: 100 users at 50% -> 100 at 50%. Mobile: 100 at 30% -> 300 at 30%.
    # Overall 40% -> 35%: no segment's rate moved; the mix did (mobile's term 0.15 -> 0.225,
    # web's 0.25 -> 0.125).
    segments = pl.DataFrame(
        {
            "property": ["platform", "platform"],
            "segment": ["web", "mobile"],
            "before": [0.5, 0.3],
            "after": [0.5, 0.3],
            "weight_before": [100.0, 100.0],
            "weight_after": [100.0, 300.0],
        }
    )
    out = segment_contributions(segments, additive=False)
    assert out.get_column("segment").to_list() == ["web", "mobile"]
    assert out.get_column("contribution").to_list() == pytest.approx([-0.125, 0.075])
    assert sum(out.get_column("contribution")) == pytest.approx(0.35 - 0.40)


def test_segment_contributions_need_their_columns():
    with pytest.raises(ValueError, match="weight_before"):
        segment_contributions(
            pl.DataFrame({"property": ["p"], "segment": ["s"], "before": [1.0], "after": [2.0]}),
            additive=False,
        )


def test_explain_weekly_buyers_story():
    # Weeks of 09-07 and 09-28 (lookback 4 weeks reaches back to the first week): 1 -> 4 buyers
    # out of 6 active users each time, so all of the change is rate.
    drivers = targets.explain(one_kpi(), "weekly_buyers", buyers_story(), today=D("2026-10-05"))
    assert drivers.status == "ok"
    assert (drivers.before_end, drivers.after_end) == (D("2026-09-13"), D("2026-10-04"))
    assert (drivers.before, drivers.after, drivers.change) == (1.0, 4.0, 3.0)
    assert drivers.split_labels == ("active users", "share who did it")
    assert drivers.split.volume_effect == pytest.approx(0.0)
    assert drivers.split.rate_effect == pytest.approx(3.0)
    # Web: u1 -> u1, u2 (+1). Mobile: nobody -> u3, u4 (+2): mobile moved it most.
    assert drivers.segments.select("segment", "before", "after", "contribution").rows() == [
        ("mobile", 0.0, 2.0, 2.0),
        ("web", 1.0, 2.0, 1.0),
    ]
    assert drivers.top["segment"] == "mobile"
    assert drivers.top["share_of_change"] == pytest.approx(2 / 3)


def test_explain_without_history_says_so():
    first_week = buyers_story().filter(
        pl.col("timestamp") < dt.datetime(2026, 9, 14, tzinfo=dt.UTC)
    )
    drivers = targets.explain(one_kpi(), "weekly_buyers", first_week, today=D("2026-10-05"))
    assert drivers.status == "no_history"
    assert drivers.split is None and drivers.segments.height == 0
    missing = targets.explain(
        one_kpi(event="purchse"), "weekly_buyers", buyers_story(), today=D("2026-10-05")
    )
    assert missing.status == "no_data" and "purchse" in missing.reason


# --- the shipped vision on the demo product ------------------------------------------------------


@pytest.fixture(scope="module")
def demo():
    from connectors.demo import load_demo

    events, assignments, _ = load_demo()
    return events, assignments


def test_shipped_vision_on_the_demo_has_a_mix_of_statuses(demo):
    events, assignments = demo
    vision = load_vision(ROOT / "vision.toml")
    table = targets.evaluate(vision, events, today=D("2026-11-01"), assignments=assignments)
    statuses = dict(zip(table.get_column("kpi"), table.get_column("status"), strict=True))
    assert set(statuses.values()) >= {"met", "on_track", "at_risk", "off_track"}, statuses
    assert "no_data" not in statuses.values(), table.select("kpi", "reason")


def test_the_vision_reader_and_the_metric_registry_name_the_same_kinds():
    """metrics.vision validates KPIs against KIND_PARAMS and RATE_KINDS; metrics.targets computes
    them with METRICS: the two must list the same kinds, parameters and rates, in the same order."""
    assert list(targets.KIND_PARAMS) == list(targets.METRICS)
    assert {kind: spec.params for kind, spec in targets.METRICS.items()} == targets.KIND_PARAMS
    assert {kind for kind, spec in targets.METRICS.items() if spec.rate} == targets.RATE_KINDS
