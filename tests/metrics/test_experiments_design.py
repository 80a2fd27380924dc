"""metrics.experiments.design: planning, a running test's need and typed-in arms as results.

What a person types in, and what the data does not allow yet, comes back as a status code (each
one below, once); the numbers come from the same formulas as ``sample_size`` and friends, whose
values test_experiments.py pins against statsmodels and hand computation.
"""

from __future__ import annotations

import math

import polars as pl
import pytest

from metrics.experiments import (
    CURVE_LIFTS,
    PLAN_PROBLEMS,
    Need,
    Stats,
    TypedArm,
    TypedProblem,
    compare,
    minimum_detectable_effect,
    need,
    plan,
    sample_size,
    srm,
    test_duration_days,
    typed_in,
)

NO_EVENTS = True  # arithmetic on typed-in numbers: nothing for the engine matrix to repeat

#: A form that plans: a 10% conversion rate, +5% relative, 1,000 users a day over 2 variants.
FORM = dict(kind="proportion", baseline=0.10, mde=0.05, daily_users=1000.0, arms=2)


# --- plan ------------------------------------------------------------------------------------


def test_a_plan_gives_users_days_and_what_four_weeks_detect():
    planned = plan(**FORM)
    # 57,760 per arm (the spec's formula); 115,520 users at 1,000 a day is 116 days.
    assert (
        planned.status,
        planned.users_per_arm,
        planned.total_users,
        planned.days,
        planned.four_week_mde,
    ) == ("ok", 57_760, 115_520, 116, minimum_detectable_effect(14_000, 0.10))


def test_a_plan_agrees_with_sample_size_and_test_duration_days():
    planned = plan(kind="mean", baseline=20.0, mde=0.05, std=15.0, daily_users=300.0, arms=3)
    assert (planned.users_per_arm, planned.days) == (
        sample_size(20.0, 0.05, kind="mean", std=15.0),
        test_duration_days(20.0, 0.05, 300.0, arms=3, kind="mean", std=15.0),
    )


def test_the_planning_curve_leaves_out_lifts_a_rate_cannot_take():
    # A 70% rate cannot rise by 50% (to 105%): the curve stops at +30%.
    curve = plan(kind="proportion", baseline=0.7, mde=0.05, daily_users=0.0, arms=2).curve
    assert curve == tuple(
        (lift, sample_size(0.7, lift)) for lift in CURVE_LIFTS if 0.7 * (1 + lift) < 1
    )


def test_without_traffic_a_plan_has_no_days():
    planned = plan(**{**FORM, "daily_users": 0.0})
    assert (planned.status, planned.days, planned.four_week_mde) == ("ok", None, None)


#: A form that gets each problem (and only it).
PROBLEM_FORMS = {
    "baseline_not_a_number": dict(baseline=None),
    "baseline_not_a_rate": dict(baseline=1.5),
    "no_spread": dict(kind="mean", baseline=20.0, std=0.0),
    "no_lift": dict(mde=0.0),
    "zero_baseline": dict(kind="mean", baseline=0.0, std=15.0),
    "lift_beyond_rate": dict(baseline=0.9, mde=0.2),
    "bad_traffic": dict(daily_users=-10.0),
    "too_few_variants": dict(arms=1),
}


@pytest.mark.parametrize("problem", PLAN_PROBLEMS)
def test_each_plan_problem(problem):
    planned = plan(**{**FORM, **PROBLEM_FORMS[problem]})
    assert (planned.problems, planned.users_per_arm) == ((problem,), None)


def test_a_form_gets_every_problem_at_once():
    planned = plan(kind="mean", baseline=math.nan, mde=0.0, std=None, daily_users=None, arms=2.5)
    assert planned.problems == (
        "baseline_not_a_number",
        "no_spread",
        "no_lift",
        "bad_traffic",
        "too_few_variants",
    )


def test_a_program_error_is_still_an_exception():
    with pytest.raises(ValueError, match="power"):
        plan(**FORM, power=1.0)


# --- need ------------------------------------------------------------------------------------


RUNNING = dict(
    kind="proportion",
    control_mean=0.10,
    control_std=0.3,
    mde=0.05,
    daily_users=1000.0,
    arms=2,
    enrolled_per_arm=20_000,
)


def test_a_running_test_needs_the_users_it_lacks():
    # 57,760 per arm, 20,000 in each already: 2 × 37,760 more at 1,000 a day is 76 days.
    assert need(**RUNNING) == Need("ok", 57_760, 76)


def test_a_test_with_enough_users_needs_no_more_days():
    assert need(**{**RUNNING, "enrolled_per_arm": 60_000}).days == 0


@pytest.mark.parametrize(
    ("running", "status"),
    [
        (dict(control_mean=0.0), "no_baseline"),
        (dict(kind="mean", control_mean=20.0, control_std=None), "no_spread"),
        (dict(control_mean=0.99, mde=0.05), "lift_beyond_rate"),
    ],
)
def test_each_reason_the_data_cannot_tell_yet(running, status):
    assert need(**{**RUNNING, **running}) == Need(status)


# --- typed in --------------------------------------------------------------------------------


def test_typed_in_conversions_compare_as_compare_does():
    compared = typed_in(TypedArm(10_000, 1_000), TypedArm(10_000, 1_080), kind="proportion")
    direct = compare(
        Stats.proportion(1_000, 10_000), Stats.proportion(1_080, 10_000), kind="proportion"
    )
    assert compared.comparison == direct


def test_typed_in_averages_reproduce_the_typed_mean_and_spread():
    compared = typed_in(
        TypedArm(400, mean=20.0, std=15.0), TypedArm(410, mean=20.6, std=15.0), kind="mean"
    )
    rows = compared.frame().select("users", "mean", "std").rows()
    assert [v for row in rows for v in row] == pytest.approx([400, 20.0, 15.0, 410, 20.6, 15.0])


def test_typed_in_checks_the_split_against_the_planned_share():
    compared = typed_in(
        TypedArm(9_000, 900), TypedArm(11_000, 1_100), kind="proportion", treatment_share=0.55
    )
    assert compared.split == srm([9_000, 11_000], [0.45, 0.55])


def test_typed_in_results_have_the_analysis_columns():
    frame = typed_in(TypedArm(100, 10), TypedArm(100, 12), kind="proportion").frame()
    assert frame.select("metric", "variant", "is_control", "status").rows() == [
        ("typed in", "control", True, "control"),
        ("typed in", "treatment", False, "ok"),
    ]


@pytest.mark.parametrize(
    ("control", "treatment", "share", "problem"),
    [
        (TypedArm(-5, 0), TypedArm(100, 10), 0.5, TypedProblem("users_not_whole", "control")),
        (
            TypedArm(100, 10),
            TypedArm(100, 2.5),
            0.5,
            TypedProblem("conversions_not_whole", "treatment"),
        ),
        (
            TypedArm(0, 3),
            TypedArm(100, 10),
            0.5,
            TypedProblem("conversions_above_users", "control"),
        ),
        (
            TypedArm(100, mean=math.inf, std=1.0),
            TypedArm(100, mean=1.0, std=1.0),
            0.5,
            TypedProblem("mean_not_a_number", "control"),
        ),
        (
            TypedArm(100, mean=1.0, std=1.0),
            TypedArm(100, mean=1.0, std=-2.0),
            0.5,
            TypedProblem("std_not_a_number", "treatment"),
        ),
        (TypedArm(100, 10), TypedArm(100, 10), 1.5, TypedProblem("share_out_of_range")),
    ],
)
def test_each_typed_in_problem(control, treatment, share, problem):
    kind = "proportion" if control.mean is None else "mean"
    compared = typed_in(control, treatment, kind=kind, treatment_share=share)
    assert (compared.problems, compared.frame().height) == ((problem,), 0)


def test_typed_in_reports_every_problem_at_once():
    compared = typed_in(TypedArm(None), TypedArm(10, 20), kind="proportion", treatment_share=0.0)
    assert compared.problems == (
        TypedProblem("users_not_whole", "control"),
        TypedProblem("conversions_above_users", "treatment"),
        TypedProblem("share_out_of_range"),
    )


def test_an_empty_typed_in_result_has_the_analysis_schema():
    frame = typed_in(TypedArm(None), TypedArm(None), kind="proportion").frame()
    assert frame.schema["relative_ci"] == pl.List(pl.Float64)
