"""metrics.experiments: GrowthBook's cases, scipy/statsmodels pins, symmetries, A/A simulations,
stories from raw events, and the reference aggregation.

Where a number comes from GrowthBook it cites the file in github.com/growthbook/growthbook
(packages/stats/tests/... for gbstats' Python tests, packages/tsgbstats/test/fixtures/... for the
fixtures gbstats generated for its TypeScript port). GrowthBook rounds to 5 decimals; so do we.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

import numpy as np
import polars as pl
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from statsmodels.stats import proportion as sm_proportion
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from metrics.experiments import (
    STATUS_MESSAGES,
    Comparison,
    Conversion,
    Count,
    ExperimentQuery,
    Ratio,
    RatioStats,
    Stats,
    Sum,
    VariantSums,
    adjust_p_values,
    analysis_answer,
    analyze,
    analyze_of,
    assignment_counts,
    compare,
    cumulative_answer,
    cumulative_effect,
    cumulative_effect_of,
    daily_sums_of,
    list_experiments,
    metric_from,
    minimum_detectable_effect,
    per_user_std,
    sample_size,
    sequential_rho,
    srm,
    test_duration_days,
    variant_sums_of,
)
from metrics.scope import Scope
from tests.conftest import make_events, ts
from tests.reference import experiments as ref


def near(value: float | None, expected: float, tol: float = 0.6e-5) -> bool:
    return value is not None and abs(value - expected) <= tol


# The arms every gbstats frequentist test uses (SampleMeanStatistic(sum, sum_squares, n)).
GB_A = Stats(n=3407, sum=1396.87, sum_squares=52377.9767)
GB_B = Stats(n=3461, sum=2422.7, sum_squares=134698.29)
GB_A3000 = Stats(n=3000, sum=1396.87, sum_squares=52377.9767)


# --- GrowthBook's own cases ----------------------------------------------------------------------


def test_two_sided_ttest_relative_growthbook():
    # packages/stats/tests/frequentist/test_tests.py::TestTwoSidedTTest::test_two_sided_ttest
    c = compare(GB_A, GB_B)
    assert c.status == "ok"
    assert near(c.relative_effect, 0.70732)
    assert near(c.relative_ci[0], -0.03526) and near(c.relative_ci[1], 1.44989)
    assert near(c.std_error, 0.37879)
    assert near(c.p_value, 0.06191)
    assert c.significant is False  # the relative CI spans 0, and p > 0.05 beside it


def test_two_sided_ttest_absolute_growthbook():
    # ...::TestTwoSidedTTest::test_two_sided_ttest_absolute
    c = compare(GB_A, GB_B)
    assert near(c.absolute_effect, 0.29)  # 0.7 - 0.41 (means 2422.7/3461 and 1396.87/3407)
    assert near(c.absolute_ci[0], 0.04538) and near(c.absolute_ci[1], 0.53462)
    assert near(c.std_error_absolute, 0.12478)
    assert near(c.p_value_absolute, 0.02016)
    # The absolute test is significant while the relative one is not: each p-value sits beside
    # its own CI (delta-method variance adds the control mean's noise to the relative one).


def test_two_sided_ttest_binomial_growthbook():
    # ...::TestTwoSidedTTest::test_two_sided_ttest_binom: ProportionStatistic(14, 28) vs (16, 30)
    c = compare(Stats.proportion(14, 28), Stats.proportion(16, 30), kind="proportion")
    assert near(c.relative_effect, (16 / 30 - 0.5) / 0.5)
    assert near(c.relative_ci[0], -0.47767) and near(c.relative_ci[1], 0.61101)
    assert near(c.std_error, 0.2717)
    assert near(c.p_value, 0.80707)


def test_missing_variance_is_a_status_not_an_error():
    # ...::test_two_sided_ttest_missing_variance: n=2 with these sums gives a negative variance;
    # GrowthBook answers ZERO_NEGATIVE_VARIANCE with a neutral result.
    c = compare(Stats(n=2, sum=1396.87, sum_squares=52377.9767), GB_B)
    assert c.status == "zero_variance"
    assert c.relative_ci is None and c.p_value is None and c.significant is False


@pytest.mark.parametrize(
    ("tuning", "low", "high", "p_value"),
    [
        # packages/stats/tests/frequentist/test_tests.py
        #   ::TestSequentialTTest::test_sequential_test_runs
        (1000, -0.55844, 1.56516, 1.0),
        # packages/tsgbstats/test/fixtures/frequentist/tests.fixtures.json,
        # SequentialTwoSidedTTest.test_sequential_test_tuning_as_expected (below / near / above N)
        (10, -0.76785, 1.77457, 1.0),
        (6461, -0.50861, 1.51534, 1.0),
        (10000, -0.51485, 1.52157, 0.95385),
    ],
)
def test_sequential_growthbook(tuning, low, high, p_value):
    c = compare(GB_A3000, GB_B, method="sequential", sequential_tuning=tuning)
    assert near(c.relative_effect, 0.50336)
    assert near(c.std_error, 0.33341)
    assert near(c.relative_ci[0], low) and near(c.relative_ci[1], high)
    assert near(c.p_value, p_value)


def test_sequential_tuning_narrowest_near_the_sample_size():
    # ...::test_sequential_test_tuning_as_expected: N* far below n is worst, N* near n is best.
    width = {
        tuning: np.diff(
            compare(GB_A3000, GB_B, method="sequential", sequential_tuning=tuning).relative_ci
        )[0]
        for tuning in (10, 6461, 10000)
    }
    assert width[10] > width[10000] > width[6461]


def test_sequential_proportion_growthbook():
    # ...::TestSequentialTTest::test_sequential_test_runs_prop (default tuning 5000)
    c = compare(
        Stats.proportion(1396, 3000),
        Stats.proportion(2422, 3461),
        kind="proportion",
        method="sequential",
    )
    assert near(c.relative_effect, 0.50386)
    assert near(c.relative_ci[0], 0.40098) and near(c.relative_ci[1], 0.60675)
    assert near(c.std_error, 0.03386)
    assert near(c.p_value, 0.0) and c.significant


def test_sequential_cuped_growthbook():
    # ...::TestSequentialTTest::test_sequential_test_runs_ra: pre-period sums with a cross-product
    # of 1, so the pooled slope is tiny and the result is close to the unadjusted one.
    a = Stats(3000, 1396.87, 52377.9767, x_sum=16.87, x_sum_squares=527.9767, xy_sum=1)
    b = Stats(3461, 2422.7, 134698.29, x_sum=22.7, x_sum_squares=1348.29, xy_sum=1)
    c = compare(a, b, method="sequential", cuped=True)
    assert near(c.relative_effect, 0.50338)
    assert near(c.relative_ci[0], -0.50969) and near(c.relative_ci[1], 1.51646)
    assert near(c.std_error, 0.33341)
    assert near(c.p_value, 1.0)


def test_cuped_theta_growthbook():
    # packages/tsgbstats/test/fixtures/statistics.fixtures.json, compute_theta.test_returns_theta:
    # both arms post (n=4, sum=11, ss=39), pre (sum=23.7, ss=485.15), cross-product 71.6.
    arm = Stats(4, 11, 39, x_sum=23.7, x_sum_squares=485.15, xy_sum=71.6)
    assert near(compare(arm, arm, cuped=True).theta, 0.01864)
    # ...compute_theta.test_returns_0_no_variance: a constant pre-period means no adjustment.
    flat = Stats(4, 11, 39, x_sum=0, x_sum_squares=0, xy_sum=0)
    assert compare(flat, flat, cuped=True).theta == 0


def test_sufficient_statistics_growthbook():
    # packages/stats/tests/test_shared_models.py (via statistics.fixtures.json)
    values = np.array([0.3, 0.5, 0.9, 22])
    stats = Stats.from_values(values)
    assert stats.mean == pytest.approx(5.925) and stats.variance == pytest.approx(114.9091666667)
    assert Stats(n=1, sum=23.7, sum_squares=485.15).variance is None  # low n: no variance
    ratio = RatioStats.from_values(values, [2, 1, 5, 3])
    expected = np.cov(values, [2, 1, 5, 3])  # the covariance gbstats' test checks, 2.1416666
    assert expected[0, 1] == pytest.approx(2.1416666667)
    assert ratio.variance == pytest.approx(
        expected[0, 0] / 2.75**2
        - 2 * expected[0, 1] * 5.925 / 2.75**3
        + 5.925**2 * expected[1, 1] / 2.75**4
    )
    assert RatioStats.from_values(values, [0, 0, 0, 0]).variance is None  # denominator zero


def test_bayesian_binomial_growthbook():
    # packages/tsgbstats/test/fixtures/bayesian/tests.fixtures.json, TestBinom (gbstats' test
    # test_bayesian_binomial_ab_test with the effect engine): 49/100 vs 51/100, flat prior.
    c = compare(
        Stats.proportion(49, 100), Stats.proportion(51, 100), kind="proportion", method="bayesian"
    )
    assert near(c.relative_effect, 0.04082)
    assert near(c.relative_ci[0], -0.24779) and near(c.relative_ci[1], 0.32943)
    assert near(c.std_error, 0.14725)
    assert near(c.chance_to_win, 0.60918)
    assert near(c.risk_control, 0.0814) and near(c.risk_treatment, 0.04058)
    # Posterior two-sided tail 2·(1 − 0.60918): well above alpha, so not significant.
    assert near(c.p_value, 2 * (1 - 0.60918)) and c.significant is False


def test_bayesian_gaussian_growthbook():
    # ...bayesian/tests.fixtures.json, TestNorm.test_bayesian_gaussian_ab_test
    c = compare(Stats(10, 100, 1002.25), Stats(10, 105, 1111.5), method="bayesian")
    assert near(c.relative_effect, 0.05)
    assert near(c.relative_ci[0], -0.02) and near(c.relative_ci[1], 0.12)
    assert near(c.std_error, 0.03572)
    assert near(c.chance_to_win, 0.91923)
    assert near(c.risk_control, 0.05131) and near(c.risk_treatment, 0.00131)


def test_bayesian_missing_data_growthbook():
    # ...bayesian/tests.fixtures.json, TestNorm.test_missing_data: empty arms, neutral answer.
    c = compare(Stats(0, 0, 0), Stats(0, 0, 0), method="bayesian")
    assert c.status == "empty_arm"
    assert c.chance_to_win is None and c.relative_effect is None and c.control_mean is None


def test_srm_growthbook():
    # packages/stats/tests/test_gbstats.py::test_srm: check_srm([1000, 1200], [0.5, 0.5])
    result = srm([1000, 1200], [0.5, 0.5])
    assert round(result.p_value, 9) == 0.000020079
    assert result.mismatch


# --- pinned against direct scipy / statsmodels calls ---------------------------------------------


@pytest.fixture(scope="module")
def raw_arms():
    rng = np.random.default_rng(20261123)
    control = rng.lognormal(3.0, 0.8, size=900)
    treatment = rng.lognormal(3.1, 1.0, size=1100)
    return control, treatment


def test_absolute_welch_matches_scipy_and_statsmodels(raw_arms):
    control, treatment = raw_arms
    c = compare(Stats.from_values(control), Stats.from_values(treatment), alpha=0.1)
    welch = scipy.stats.ttest_ind(treatment, control, equal_var=False)
    assert c.p_value_absolute == pytest.approx(welch.pvalue, rel=1e-9)
    assert c.absolute_effect == pytest.approx(treatment.mean() - control.mean(), rel=1e-12)
    assert c.dof == pytest.approx(welch.df, rel=1e-9)
    from_stats = scipy.stats.ttest_ind_from_stats(
        treatment.mean(),
        treatment.std(ddof=1),
        treatment.size,
        control.mean(),
        control.std(ddof=1),
        control.size,
        equal_var=False,
    )
    assert c.p_value_absolute == pytest.approx(from_stats.pvalue, rel=1e-9)
    low, high = CompareMeans(DescrStatsW(treatment), DescrStatsW(control)).tconfint_diff(
        alpha=0.1, usevar="unequal"
    )
    assert c.absolute_ci == pytest.approx((low, high), rel=1e-9)


def test_relative_delta_method_by_hand(raw_arms):
    control, treatment = raw_arms
    c = compare(Stats.from_values(control), Stats.from_values(treatment))
    mc, mt = control.mean(), treatment.mean()
    vc, vt = control.var(ddof=1), treatment.var(ddof=1)
    se = math.sqrt(vt / (treatment.size * mc**2) + vc * mt**2 / (control.size * mc**4))
    df = scipy.stats.ttest_ind(treatment, control, equal_var=False).df
    half = scipy.stats.t.ppf(0.975, df) * se
    assert c.relative_effect == pytest.approx(mt / mc - 1, rel=1e-12)
    assert c.relative_ci == pytest.approx((mt / mc - 1 - half, mt / mc - 1 + half), rel=1e-9)
    assert c.p_value == pytest.approx(2 * scipy.stats.t.sf(abs(mt / mc - 1) / se, df), rel=1e-9)


def test_proportions_match_statsmodels_wald_at_large_n():
    # Welch's t with per-unit variance p(1-p) is statsmodels' Wald interval, except for t versus z:
    # with ~2e5 degrees of freedom the quantiles differ by 6e-6 relative, hence rel=1e-4.
    c = compare(
        Stats.proportion(10_000, 100_000), Stats.proportion(10_450, 100_000), kind="proportion"
    )
    low, high = sm_proportion.confint_proportions_2indep(
        10_450, 100_000, 10_000, 100_000, method="wald"
    )
    assert c.absolute_ci == pytest.approx((low, high), rel=1e-4)
    wald = sm_proportion.test_proportions_2indep(10_450, 100_000, 10_000, 100_000, method="wald")
    assert c.p_value_absolute == pytest.approx(wald.pvalue, rel=1e-3)


def test_srm_matches_scipy_chisquare():
    observed, weights = [5120, 4890, 2010], [0.4, 0.4, 0.2]
    total = sum(observed)
    expected = [w * total for w in weights]
    result = srm(observed, weights)
    chi = scipy.stats.chisquare(observed, expected)
    assert result.p_value == pytest.approx(chi.pvalue, rel=1e-12)
    assert result.chi_square == pytest.approx(chi.statistic, rel=1e-12)
    assert result.mismatch == bool(chi.pvalue < 0.001)


def test_srm_edge_cases():
    assert srm({"control": 0, "treatment": 0}).p_value == 1.0  # nobody yet: no evidence
    named = srm({"a": 500, "b": 520}, {"b": 1, "a": 1})
    assert named.variants == ("a", "b") and not named.mismatch
    with pytest.raises(ValueError, match="weights"):
        srm([10, 20], [1, 1, 1])
    with pytest.raises(ValueError, match="observed"):
        srm([10, -1])


@pytest.mark.parametrize("method,statsmodels_name", [("holm", "holm"), ("bh", "fdr_bh")])
def test_adjust_p_values_match_statsmodels(method, statsmodels_name):
    p = [0.001, 0.04, 0.03, 0.2, 0.011, 0.5, 0.049]
    expected = multipletests(p, method=statsmodels_name)[1]
    assert adjust_p_values(p, method) == pytest.approx(list(expected), rel=1e-12)
    # Tests that could not run stay None and do not count.
    with_gaps = adjust_p_values([None, *p, None], method)
    assert with_gaps[0] is None and with_gaps[-1] is None
    assert with_gaps[1:-1] == pytest.approx(list(expected), rel=1e-12)


def test_sample_size_means_match_statsmodels_power():
    # n = (z_{1-α/2} + z_power)² · 2σ² / δ²: statsmodels' one-sided power at α/2 solves this.
    n = NormalIndPower().solve_power(
        effect_size=0.5 / 4.0, alpha=0.025, power=0.8, alternative="larger"
    )
    assert sample_size(10.0, 0.05, kind="mean", std=4.0) == math.ceil(n)
    assert sample_size(10.0, 0.5, relative=False, kind="mean", std=4.0) == math.ceil(n)


def test_sample_size_proportions_by_hand():
    # Each arm its own variance: 10% -> 11% at alpha 0.05, power 0.8.
    z = scipy.stats.norm.ppf(0.975) + scipy.stats.norm.ppf(0.8)
    by_hand = z**2 * (0.1 * 0.9 + 0.11 * 0.89) / 0.01**2  # 14,748.4
    assert sample_size(0.10, 0.10) == math.ceil(by_hand) == 14749
    assert sample_size(0.10, 0.01, relative=False) == 14749
    assert sample_size(0.10, -0.10) == math.ceil(z**2 * (0.09 + 0.09 * 0.91) / 0.01**2)


@pytest.mark.parametrize("baseline", [0.02, 0.1, 0.5, 0.8])
@pytest.mark.parametrize("n", [500, 5_000, 200_000])
def test_minimum_detectable_effect_inverts_sample_size(baseline, n):
    mde = minimum_detectable_effect(n, baseline)
    assert mde is not None
    assert sample_size(baseline, mde) in (n, n + 1)  # ceil of the same equation
    mean_mde = minimum_detectable_effect(n, 20.0, kind="mean", std=7.0)
    assert sample_size(20.0, mean_mde, kind="mean", std=7.0) in (n, n + 1)


def test_minimum_detectable_effect_is_none_when_no_rate_below_100_percent_is_detectable():
    # 10 users per arm at a 90% baseline: the detectable rate would be 100% or more.
    assert minimum_detectable_effect(10, 0.9) is None


def test_test_duration_days():
    needed = sample_size(0.10, 0.10)  # 14,749 per arm
    assert test_duration_days(0.10, 0.10, 1000) == math.ceil(2 * needed / 1000)  # 30 days
    assert test_duration_days(0.10, 0.10, 1000, enrolled_per_arm=needed) == 0
    assert test_duration_days(0.10, 0.10, 1000, arms=3, enrolled_per_arm=4749) == 30
    with pytest.raises(ValueError, match="daily_users"):
        test_duration_days(0.10, 0.10, 0)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"baseline": 1.2, "mde": 0.1}, "baseline"),
        ({"baseline": 0.1, "mde": 0}, "mde"),
        ({"baseline": 0.9, "mde": 0.2}, "outside"),
        ({"baseline": 5.0, "mde": 0.1, "kind": "mean"}, "std"),
        ({"baseline": 0.1, "mde": 0.1, "power": 1.0}, "power"),
    ],
)
def test_sample_size_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sample_size(**kwargs)


def test_bayesian_against_numerical_integration(raw_arms):
    control, treatment = raw_arms
    c = compare(Stats.from_values(control), Stats.from_values(treatment), method="bayesian")
    f = compare(Stats.from_values(control), Stats.from_values(treatment))
    mu, sd = f.relative_effect, f.std_error  # flat prior: the posterior is N(estimate, se²)
    post = scipy.stats.norm(mu, sd)
    assert c.chance_to_win == pytest.approx(post.sf(0), rel=1e-9)
    assert c.relative_ci == pytest.approx(post.interval(0.95), rel=1e-9)
    gain = scipy.integrate.quad(lambda x: x * post.pdf(x), 0, mu + 40 * sd)[0]
    loss = scipy.integrate.quad(lambda x: -x * post.pdf(x), mu - 40 * sd, 0)[0]
    assert c.risk_control == pytest.approx(gain, rel=1e-7)
    assert c.risk_treatment == pytest.approx(loss, rel=1e-7, abs=1e-12)


def test_bayesian_prior_shrinks_towards_zero_by_precision():
    a, b = Stats(10, 100, 1002.25), Stats(10, 105, 1111.5)
    flat = compare(a, b, method="bayesian")
    prior = compare(a, b, method="bayesian", prior_sd=0.3)
    w = (1 / flat.std_error**2) / (1 / flat.std_error**2 + 1 / 0.3**2)  # weight of the data
    assert prior.relative_effect == pytest.approx(w * flat.relative_effect, rel=1e-12)
    assert prior.std_error == pytest.approx(math.sqrt(w) * flat.std_error, rel=1e-12)
    # On the absolute scale the relative prior is scaled by the control mean (10).
    assert prior.absolute_effect == pytest.approx(
        flat.absolute_effect / (1 + flat.std_error_absolute**2 / (0.3 * 10) ** 2), rel=1e-12
    )


def test_sequential_by_hand():
    c = compare(GB_A3000, GB_B, method="sequential", alpha=0.1, sequential_tuning=2000)
    n = 3000 + 3461
    rho2 = (-2 * math.log(0.1) + math.log(1 - 2 * math.log(0.1))) / 2000
    assert sequential_rho(0.1, 2000) == pytest.approx(math.sqrt(rho2))
    s2 = c.std_error_absolute**2 * n
    half = math.sqrt(
        s2 * 2 * (n * rho2 + 1) * math.log(math.sqrt(n * rho2 + 1) / 0.1) / (n * n * rho2)
    )
    assert c.absolute_ci == pytest.approx((c.absolute_effect - half, c.absolute_effect + half))
    e_value = math.exp(
        rho2 * (c.absolute_effect**2 * n / s2 * n) / (2 * (n * rho2 + 1))
    ) / math.sqrt(n * rho2 + 1)
    assert c.p_value_absolute == pytest.approx(min(1.0, 1 / e_value))


@pytest.mark.parametrize("n", [100, 1_000, 5_000, 50_000, 1_000_000])
def test_sequential_interval_is_wider_than_fixed_horizon(n):
    arm = Stats(n, n * 1.0, n * 2.0)
    fixed = compare(arm, Stats(n, n * 1.1, n * 2.3))
    seq = compare(arm, Stats(n, n * 1.1, n * 2.3), method="sequential")
    assert np.diff(seq.absolute_ci)[0] > np.diff(fixed.absolute_ci)[0]


# --- statuses: normal situations are results, never exceptions or NaN ----------------------------


def assert_no_nan(c: Comparison) -> None:
    for field in dataclasses.fields(c):
        value = getattr(c, field.name)
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if isinstance(v, float):
                assert math.isfinite(v), f"{field.name} is {v}"


@pytest.mark.parametrize("method", ["frequentist", "sequential", "bayesian"])
def test_zero_control_mean_keeps_the_absolute_effect(method):
    # Revenue change per user: the control's average is exactly 0 but it varies.
    control = Stats.from_values([-2.0, 2.0, -1.0, 1.0])
    treatment = Stats.from_values([1.0, 3.0, 0.0, 2.0])
    c = compare(control, treatment, method=method)
    assert c.status == "zero_control_mean"
    assert c.relative_effect is None and c.relative_ci is None and c.p_value is None
    assert c.absolute_effect == pytest.approx(1.5)
    assert c.absolute_ci is not None and c.significant is False and c.verdict is None
    assert STATUS_MESSAGES[c.status]
    assert_no_nan(c)


def test_cuped_with_an_empty_arm_is_a_status_not_a_crash():
    # Found by hypothesis: the pooled CUPED slope comes from the other arm alone.
    control = Stats(n=2, sum=2, sum_squares=2, x_sum=1, x_sum_squares=1, xy_sum=1)
    empty = Stats(n=0, sum=0, sum_squares=0, x_sum=0, x_sum_squares=0, xy_sum=0)
    for arms in ((control, empty), (empty, control)):
        c = compare(*arms, kind="proportion", cuped=True)
        assert c.status == "empty_arm"
        assert_no_nan(c)


@pytest.mark.parametrize("method", ["frequentist", "sequential", "bayesian"])
def test_a_control_nobody_converted_in_still_has_an_absolute_difference(method):
    """GrowthBook checks the zero baseline before the variance: 0 of 50 converting in control is
    'zero_control_mean' (no relative lift), and the absolute difference, 3/50, has its interval
    from the treatment's noise alone (Welch: Var = p(1-p)/n for treatment, 0 for control)."""
    c = compare(Stats.proportion(0, 50), Stats.proportion(3, 50), kind="proportion", method=method)
    assert c.status == "zero_control_mean"
    assert c.relative_effect is None and c.relative_ci is None and c.p_value is None
    assert c.absolute_effect == pytest.approx(0.06)
    assert c.absolute_ci is not None and c.absolute_ci[0] < 0.06 < c.absolute_ci[1]
    assert c.std_error_absolute == pytest.approx(math.sqrt(0.06 * 0.94 / 50))
    assert c.significant is False
    assert_no_nan(c)


@pytest.mark.parametrize(
    "control,treatment,kind,status",
    [
        (Stats(0, 0, 0), Stats(10, 5, 5), "proportion", "empty_arm"),
        (Stats(10, 5, 5), Stats(0, 0, 0), "proportion", "empty_arm"),
        (Stats(1, 3, 9), Stats(10, 30, 100), "mean", "too_few_users"),
        (Stats.proportion(0, 50), Stats.proportion(0, 50), "proportion", "zero_control_mean"),
        (Stats.proportion(50, 50), Stats.proportion(3, 50), "proportion", "zero_variance"),
        (Stats(5, 10, 20), Stats(5, 15, 45), "mean", "zero_variance"),  # every user the same
        (RatioStats(5, 3, 3, 0, 0, 0), RatioStats(5, 3, 3, 4, 4, 3), "ratio", "zero_denominator"),
    ],
)
@pytest.mark.parametrize("method", ["frequentist", "sequential", "bayesian"])
def test_degenerate_data_returns_a_status(control, treatment, kind, status, method):
    c = compare(control, treatment, kind=kind, method=method)
    assert c.status == status
    assert c.p_value is None and c.relative_ci is None and c.absolute_ci is None
    assert c.significant is False and c.verdict is None
    assert STATUS_MESSAGES[status]
    assert_no_nan(c)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"method": "magic"}, "method"),
        ({"kind": "median"}, "kind"),
        ({"alpha": 1.5}, "alpha"),
        ({"sequential_tuning": 0}, "sequential_tuning"),
        ({"prior_sd": 0.1}, "prior_sd"),
        ({"method": "bayesian", "prior_sd": -1.0}, "prior_sd"),
        ({"cuped": True}, "cuped"),
        ({"kind": "ratio"}, "ratio"),
    ],
)
def test_compare_rejects_programmer_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        compare(GB_A, GB_B, **kwargs)


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: Stats(-1, 0, 0), "n"),
        (lambda: Stats(2.5, 0, 0), "n"),
        (lambda: Stats(3, float("nan"), 0), "sum"),
        (lambda: Stats(3, 1, 1, x_sum=1.0), "x_sum"),
        (lambda: Stats.proportion(11, 10), "successes"),
        (lambda: Stats.from_values([1, 2], [1]), "x"),
        (lambda: Stats.from_values([1, float("inf")]), "y"),
    ],
)
def test_stats_validation(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_ratio_stats_are_inferred_and_checked():
    a, b = RatioStats(100, 50, 60, 200, 500, 120), RatioStats(100, 60, 80, 200, 520, 140)
    assert compare(a, b).kind == "ratio"
    with pytest.raises(ValueError, match="both"):
        compare(a, GB_B)
    with pytest.raises(ValueError, match="cuped"):
        compare(a, b, cuped=True)


def test_per_user_std():
    assert per_user_std(Stats.proportion(1, 4), "proportion") == pytest.approx(math.sqrt(0.1875))
    assert per_user_std(Stats.from_values([1.0, 3.0, 8.0])) == pytest.approx(
        np.std([1, 3, 8], ddof=1)
    )
    assert per_user_std(Stats(1, 3, 9)) is None  # one user: no spread yet
    assert per_user_std(RatioStats.from_values([1, 2], [0, 0]), "ratio") is None


def test_stats_add_pools_users():
    assert Stats(2, 3, 5) + Stats(3, 4, 6) == Stats(5, 7, 11)
    assert Stats.from_values([1, 2], [3, 4]) + Stats.from_values([5], [6]) == Stats.from_values(
        [1, 2, 5], [3, 4, 6]
    )


# --- symmetries and invariants -------------------------------------------------------------------


@st.composite
def arm_values(draw):
    n = draw(st.integers(3, 40))
    y = draw(st.lists(st.floats(0, 100, allow_nan=False), min_size=n, max_size=n))
    x = draw(st.lists(st.floats(0, 100, allow_nan=False), min_size=n, max_size=n))
    return np.array(y), np.array(x)


@settings(max_examples=150, deadline=None)
@given(
    arm_values(),
    arm_values(),
    st.sampled_from(["frequentist", "sequential", "bayesian"]),
    st.booleans(),
)
def test_swapping_arms_negates_the_absolute_effect(a, b, method, cuped):
    sa, sb = Stats.from_values(*a), Stats.from_values(*b)
    forward = compare(sa, sb, method=method, cuped=cuped)
    backward = compare(sb, sa, method=method, cuped=cuped)
    assert_no_nan(forward)
    if forward.absolute_effect is None or backward.absolute_effect is None:
        return
    assert backward.absolute_effect == pytest.approx(-forward.absolute_effect, rel=1e-9, abs=1e-9)
    if method != "bayesian":
        low, high = forward.absolute_ci
        assert backward.absolute_ci == pytest.approx((-high, -low), rel=1e-9, abs=1e-9)
        assert backward.p_value_absolute == pytest.approx(forward.p_value_absolute, rel=1e-9)


@settings(max_examples=150, deadline=None)
@given(
    arm_values(),
    arm_values(),
    st.sampled_from(["frequentist", "sequential", "bayesian"]),
    st.booleans(),
)
def test_relative_and_absolute_effects_share_a_sign(a, b, method, cuped):
    c = compare(Stats.from_values(*a), Stats.from_values(*b), method=method, cuped=cuped)
    assert_no_nan(c)
    if c.relative_effect is None or method == "bayesian":
        return  # (a Bayesian prior shrinks the two scales by different amounts)
    assert c.relative_effect == pytest.approx(
        c.absolute_effect / c.control_mean, rel=1e-9, abs=1e-12
    )
    assert np.sign(c.relative_effect) == np.sign(c.absolute_effect)
    # Each p-value agrees with its own interval.
    for ci, p in ((c.relative_ci, c.p_value), (c.absolute_ci, c.p_value_absolute)):
        excludes_zero = ci[0] > 0 or ci[1] < 0
        if abs(p - c.alpha) > 1e-9:
            assert excludes_zero == (p < c.alpha)


def test_inverse_flips_chance_to_win_and_risk_but_not_the_effect():
    a, b = Stats(10, 100, 1002.25), Stats(10, 105, 1111.5)
    up = compare(a, b, method="bayesian")
    down = compare(a, b, method="bayesian", inverse=True)
    assert down.relative_effect == up.relative_effect
    assert down.chance_to_win == pytest.approx(1 - up.chance_to_win)
    assert (down.risk_control, down.risk_treatment) == (up.risk_treatment, up.risk_control)
    strong = compare(
        Stats.proportion(100, 1000), Stats.proportion(160, 1000), kind="proportion", inverse=True
    )
    assert strong.significant and strong.verdict == "loser"  # up is bad when lower is better
    assert (
        compare(Stats.proportion(100, 1000), Stats.proportion(160, 1000), kind="proportion").verdict
        == "winner"
    )


# --- A/A simulations: false positives ------------------------------------------------------------


def test_fixed_horizon_false_positive_rate_is_alpha():
    rng = np.random.default_rng(7)
    sims, n = 2000, 400
    y = rng.normal(10.0, 3.0, size=(sims, 2, n))
    sums, squares = y.sum(axis=2), (y * y).sum(axis=2)
    hits = sum(
        compare(
            Stats(n, sums[i, 0], squares[i, 0]), Stats(n, sums[i, 1], squares[i, 1])
        ).significant
        for i in range(sims)
    )
    # 2000 A/A tests at alpha 0.05: 100 expected, standard deviation about 10.
    assert 0.035 <= hits / sims <= 0.065


def test_peeking_daily_inflates_the_fixed_test_but_not_the_sequential_one():
    rng = np.random.default_rng(11)
    sims, days, per_day = 300, 20, 100
    planned = 2 * days * per_day
    y = rng.normal(5.0, 2.0, size=(sims, 2, days, per_day))
    sums = y.sum(axis=3).cumsum(axis=2)
    squares = (y * y).sum(axis=3).cumsum(axis=2)
    fixed_hits = sequential_hits = 0
    for i in range(sims):
        fixed_any = sequential_any = False
        for d in range(days):
            n = (d + 1) * per_day
            a, b = (
                Stats(n, sums[i, 0, d], squares[i, 0, d]),
                Stats(n, sums[i, 1, d], squares[i, 1, d]),
            )
            fixed_any = fixed_any or compare(a, b).significant
            # N* is fixed before the test starts (here: the planned total of both arms).
            sequential_any = (
                sequential_any
                or compare(a, b, method="sequential", sequential_tuning=planned).significant
            )
        fixed_hits += fixed_any
        sequential_hits += sequential_any
    # Seed 11: 23% of A/A tests "win" at some look with the fixed test, 1% with the sequential one.
    assert fixed_hits / sims > 0.10  # twenty looks at a fixed-horizon test: far above 5%
    assert sequential_hits / sims <= 0.05  # always valid: at or below alpha however often we look


# --- from raw events: stories --------------------------------------------------------------------


def assignments(*rows: tuple[str, str, str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"user_id": u, "experiment": e, "variant": v, "timestamp": ts(t)} for u, e, v, t in rows],
        schema={
            "user_id": pl.String,
            "experiment": pl.String,
            "variant": pl.String,
            "timestamp": pl.Datetime("us", "UTC"),
        },
    )


@pytest.fixture
def story():
    """The checkout redesign, told user by user."""
    events = make_events(
        # alice (control, exposed Tue 1 Sep 09:00): bought the week before (pre-period), then twice.
        ("alice", "purchase", "2026-08-30 10:00", {"revenue": 5.0}),
        ("alice", "purchase", "2026-09-02 10:00", {"revenue": 20.0}),
        ("alice", "purchase", "2026-09-20 10:00", {"revenue": 5.0}),  # 19 days later
        # bob (control): only browses.
        ("bob", "page_view", "2026-09-01 13:00", {"revenue": None}),
        # carol (treatment, exposed Wed 09:00): her 08:00 purchase came before exposure.
        ("carol", "purchase", "2026-09-02 08:00", {"revenue": 15.0}),
        ("carol", "purchase", "2026-09-05 10:00", {"revenue": 40.0}),
        # dave (treatment): two purchases on Thursday.
        ("dave", "purchase", "2026-09-03 11:00", {"revenue": 10.0}),
        ("dave", "purchase", "2026-09-03 12:00", {"revenue": 10.0}),
        # erin saw both variants: counted, flagged and left out, whatever she buys.
        ("erin", "purchase", "2026-09-04 10:00", {"revenue": 100.0}),
        # frank (treatment, exposed twice): bought an hour before his first exposure only.
        ("frank", "purchase", "2026-09-03 07:00", {"revenue": 30.0}),
    )
    exposures = assignments(
        ("alice", "checkout_redesign", "control", "2026-09-01 09:00"),
        ("bob", "checkout_redesign", "control", "2026-09-01 12:00"),
        ("carol", "checkout_redesign", "treatment", "2026-09-02 09:00"),
        ("dave", "checkout_redesign", "treatment", "2026-09-02 10:00"),
        ("erin", "checkout_redesign", "control", "2026-09-01 09:30"),
        ("erin", "checkout_redesign", "treatment", "2026-09-03 09:30"),
        ("frank", "checkout_redesign", "treatment", "2026-09-03 08:00"),
        ("frank", "checkout_redesign", "treatment", "2026-09-04 08:00"),
        ("alice", "other_test", "b", "2026-09-01 09:00"),  # another experiment: ignored
    )
    return events, exposures


def test_analyze_story(story):
    events, exposures = story
    result = analyze(
        events,
        exposures,
        experiment="checkout_redesign",
        metrics=[Conversion("purchase"), Sum("purchase", name="revenue"), Count("purchase")],
    )
    expected = pl.DataFrame(
        {
            "metric": ["purchase conversion"] * 2 + ["revenue"] * 2 + ["purchase per user"] * 2,
            "variant": ["control", "treatment"] * 3,
            "users": [2, 3] * 3,  # erin left out
            # conversion: alice yes, bob no | carol yes, dave yes, frank no (bought before exposure)
            # revenue: (25 + 0) / 2 | (40 + 20 + 0) / 3 ; purchases: (2 + 0) / 2 | (1 + 2 + 0) / 3
            "mean": [0.5, 2 / 3, 12.5, 20.0, 1.0, 1.0],
            "status": ["control", "ok"] * 3,
            "excluded_users": [1] * 6,
        }
    )
    # Per-user spread, for planning: √(p(1-p)) for the rate, the sample standard deviation else.
    assert result["std"].to_list() == pytest.approx(
        [
            0.5,
            math.sqrt(2 / 9),
            np.std([25, 0], ddof=1),
            np.std([40, 20, 0], ddof=1),
            np.std([2, 0], ddof=1),
            np.std([1, 2, 0], ddof=1),
        ]
    )
    assert_frame_equal(result.select(expected.columns), expected, check_dtypes=False)
    for metric, kind, control, treatment in [
        ("purchase conversion", "proportion", [1, 0], [1, 1, 0]),
        ("revenue", "mean", [25, 0], [40, 20, 0]),
    ]:
        row = result.filter(pl.col("metric") == metric, pl.col("variant") == "treatment").row(
            0, named=True
        )
        direct = compare(Stats.from_values(control), Stats.from_values(treatment), kind=kind)
        assert row["relative_effect"] == pytest.approx(direct.relative_effect)
        assert (row["relative_ci_low"], row["relative_ci_high"]) == pytest.approx(
            direct.relative_ci
        )
        assert row["p_value"] == pytest.approx(direct.p_value)
        assert row["p_value_absolute"] == pytest.approx(direct.p_value_absolute)
    # 2 vs 3 users against a 50/50 plan is no mismatch.
    assert result["srm_p_value"][0] == pytest.approx(scipy.stats.chisquare([2, 3]).pvalue)
    assert not result["srm_mismatch"].any()


def test_analyze_window_and_end(story):
    events, exposures = story
    weekly = analyze(
        events,
        exposures,
        experiment="checkout_redesign",
        metrics=Sum("purchase", name="revenue"),
        window=7,
    )
    # alice's 19-days-later purchase falls outside the 7-day window: (20 + 0) / 2.
    assert weekly["mean"].to_list() == [10.0, 20.0]
    as_of = analyze(
        events,
        exposures,
        experiment="checkout_redesign",
        metrics=Sum("purchase", name="revenue"),
        end=ts("2026-09-02 23:59"),
    )
    # By Wednesday night: alice 20, bob 0 | carol 0 (her purchase is Saturday), dave 0; frank and
    # erin's second exposure come later (erin is then a plain control user).
    assert as_of["users"].to_list() == [3, 2]
    assert as_of["mean"].to_list() == [20 / 3, 0.0]
    assert as_of["excluded_users"].to_list() == [0, 0]
    assert as_of["status"].to_list() == ["control", "zero_variance"]


def test_analyze_cuped_uses_the_pre_period(story):
    events, exposures = story
    result = analyze(
        events,
        exposures,
        experiment="checkout_redesign",
        metrics=Sum("purchase", name="revenue"),
        cuped=True,
        pre_period=14,
    )
    # Pre-period (14 days before exposure): alice 5 (30 Aug); carol's 08:00 and frank's 07:00
    # purchases come an hour before their exposures, so they are pre-period too.
    direct = compare(
        Stats.from_values([25, 0], [5, 0]), Stats.from_values([40, 20, 0], [15, 0, 30]), cuped=True
    )
    row = result.filter(pl.col("variant") == "treatment").row(0, named=True)
    assert row["theta"] == pytest.approx(direct.theta)
    assert row["absolute_effect"] == pytest.approx(direct.absolute_effect)
    assert row["p_value"] == pytest.approx(direct.p_value)


def test_analyze_ratio_and_filters(story):
    events, exposures = story
    order_value = Ratio(Sum("purchase"), Count("purchase"), name="order value")
    big = Count("purchase", filters={"revenue": [20.0, 40.0]}, name="big orders")
    result = analyze(events, exposures, experiment="checkout_redesign", metrics=[order_value, big])
    # order value: control 25 / 2 purchases, treatment (40 + 20) / 3 purchases
    # big orders: alice 1 (20) | carol 1 (40), dave 0 (two 10s)
    assert result["mean"].to_list() == [12.5, 20.0, 0.5, 1 / 3]
    row = result.filter(pl.col("metric") == "order value", ~pl.col("is_control")).row(0, named=True)
    direct = compare(
        RatioStats.from_values([25, 0], [2, 0]), RatioStats.from_values([40, 20, 0], [1, 2, 0])
    )
    assert row["status"] == direct.status == "zero_variance"  # alice is control's only buyer


def test_analyze_winsorizes_at_the_pooled_percentile(story):
    events, exposures = story
    result = analyze(
        events,
        exposures,
        experiment="checkout_redesign",
        metrics=Sum("purchase", name="revenue"),
        winsorize=0.8,
    )
    cap = float(np.percentile([25, 0, 40, 20, 0], 80))  # pooled over both arms: 28
    assert result["mean"].to_list() == pytest.approx([(min(25, cap) + 0) / 2, (cap + 20 + 0) / 3])


def test_analyze_window_includes_its_last_instant():
    # GrowthBook counts a metric event when `metric time <= exposure + delay + window`: the
    # window's last instant is in. With day-truncated times that is the whole last day.
    events = make_events(
        ("ann", "purchase", "2026-09-08 09:00", {"revenue": 10.0}),  # exactly 7 days on: in
        ("ann", "purchase", "2026-09-08 09:01", {"revenue": 99.0}),  # a minute later: out
        ("ben", "purchase", "2026-09-01 09:00", {"revenue": 4.0}),  # at exposure: in
        ("cat", "purchase", "2026-09-09 00:00", {"revenue": 7.0}),  # day-truncated, day 7: in
        ("dan", "purchase", "2026-09-10 00:00", {"revenue": 50.0}),  # day 8: out
    )
    exposures = assignments(
        ("ann", "w", "control", "2026-09-01 09:00"),
        ("ben", "w", "control", "2026-09-01 09:00"),
        ("cat", "w", "treatment", "2026-09-02 00:00"),
        ("dan", "w", "treatment", "2026-09-02 00:00"),
    )
    metrics = [Sum("purchase", name="revenue"), Conversion("purchase")]
    result = analyze(events, exposures, experiment="w", metrics=metrics, window=7)
    # revenue: control (10 + 4) / 2 = 7, treatment (7 + 0) / 2 = 3.5; conversion 2/2 and 1/2.
    # (Before the fix: control (0 + 4) / 2 = 2 and treatment 0, ann and cat not converted.)
    assert result["mean"].to_list() == [7.0, 3.5, 1.0, 0.5]
    daily = cumulative_effect(events, exposures, experiment="w", metric=metrics[0], window=7)
    last = daily.tail(1).row(0, named=True)
    assert (last["control_mean"], last["mean"]) == (7.0, 3.5)


def test_analyze_cuped_with_winsorization_caps_the_covariate_at_the_metric_cap(story):
    events, exposures = story
    result = analyze(
        events,
        exposures,
        experiment="checkout_redesign",
        metrics=Sum("purchase", name="revenue"),
        winsorize=0.8,
        cuped=True,
    )
    # After exposure: alice 25, bob 0 | carol 40, dave 20, frank 0. The cap is their pooled 80th
    # percentile: sorted 0, 0, 20, 25, 40, index 0.8 x 4 = 3.2, so 25 + 0.2 x 15 = 28.
    # Before exposure: alice 5, bob 0 | carol 15, dave 0, frank 30, capped at the same 28 (as
    # GrowthBook caps its covariate; frank's 30 used to be capped at the pre-period's own
    # percentile, 18). So y = 25, 0 | 28, 20, 0 and x = 5, 0 | 15, 0, 28.
    # Pooled: n 5, Σy 73, Σx 48, Σxy 545, Σx² 1034: var x = (1034 - 48²/5) / 4 = 143.3,
    # cov = (545 - 73·48/5) / 4 = -38.95, θ = -38.95 / 143.3 = -779/2866.
    theta = -779 / 2866
    control = result.filter(pl.col("is_control")).row(0, named=True)
    treated = result.filter(~pl.col("is_control")).row(0, named=True)
    assert (control["mean"], treated["mean"]) == (12.5, 16.0)  # (25 + 0) / 2, (28 + 20 + 0) / 3
    assert treated["theta"] == pytest.approx(theta, rel=1e-12)
    # Adjusted means ȳ - θ·x̄: 12.5 - 2.5θ and 16 - (43/3)θ; their difference 3.5 - (35.5/3)θ.
    assert treated["absolute_effect"] == pytest.approx(3.5 - theta * 35.5 / 3, rel=1e-12)
    assert treated["absolute_effect"] == pytest.approx(6.716388, abs=1e-6)


def test_analyze_segments_from_assignments_and_events(story):
    events, exposures = story
    platform = {
        "alice": "web",
        "bob": "mobile",
        "carol": "web",
        "dave": "web",
        "erin": "web",
        "frank": "mobile",
    }
    with_platform = exposures.with_columns(
        pl.col("user_id").replace_strict(platform).alias("platform")
    )
    by_segment = analyze(
        events,
        with_platform,
        experiment="checkout_redesign",
        metrics=Conversion("purchase"),
        segment="platform",
    )
    expected = pl.DataFrame(
        {
            "segment": ["mobile", "mobile", "web", "web"],
            "variant": ["control", "treatment"] * 2,
            "users": [1, 1, 1, 2],
            "mean": [0.0, 0.0, 1.0, 1.0],
            "status": ["control", "too_few_users", "control", "too_few_users"],
        }
    )
    assert_frame_equal(by_segment.select(expected.columns), expected, check_dtypes=False)
    tagged = events.with_columns(pl.col("user_id").replace_strict(platform).alias("platform"))
    from_events = analyze(
        tagged,
        exposures,
        experiment="checkout_redesign",
        metrics=Conversion("purchase"),
        segment="platform",
    )
    # bob's only event carries the platform too, so both sources agree.
    assert_frame_equal(from_events.select(expected.columns), expected, check_dtypes=False)


def test_analyze_many_variants_srm_and_correction():
    rng = np.random.default_rng(3)
    users = [f"u{i}" for i in range(3000)]
    variants = rng.choice(["control", "blue", "green"], size=3000, p=[0.5, 0.3, 0.2])
    exposures = pl.DataFrame(
        {
            "user_id": users,
            "experiment": "colors",
            "variant": variants,
            "timestamp": [dt.datetime(2026, 9, 1, tzinfo=dt.UTC)] * 3000,
        }
    )
    buys = rng.random(3000) < np.where(variants == "green", 0.2, 0.1)
    events = pl.DataFrame(
        {
            "user_id": [u for u, b in zip(users, buys, strict=True) if b],
            "event": "purchase",
            "timestamp": dt.datetime(2026, 9, 2, tzinfo=dt.UTC),
        }
    )
    result = analyze(
        events,
        exposures,
        experiment="colors",
        metrics=[Conversion("purchase"), Count("purchase", name="purchases")],
        correction="holm",
    )
    assert result.height == 6
    assert set(result["variant"]) == {"control", "blue", "green"}
    # Equal weights by default: a 50/30/20 split is a glaring mismatch...
    assert result["srm_mismatch"].all()
    planned = analyze(
        events,
        exposures,
        experiment="colors",
        metrics=Conversion("purchase"),
        weights={"control": 0.5, "blue": 0.3, "green": 0.2},
    )
    assert not planned["srm_mismatch"].any()  # ...and none against the planned split.
    treated = result.filter(~pl.col("is_control"))
    expected = multipletests(treated["p_value"].to_list(), method="holm")[1]
    assert treated["p_value_adjusted"].to_list() == pytest.approx(list(expected))
    green = result.filter(pl.col("variant") == "green", pl.col("metric") == "purchase conversion")
    assert green["verdict"].item() == "winner"


def test_analyze_edge_cases(story):
    events, exposures = story
    # A typo is an error naming it and the experiments there are (issue 13 item 6)...
    with pytest.raises(ValueError, match=r"'nope'.*'checkout_redesign', 'other_test'"):
        analyze(events, exposures, experiment="nope", metrics=Conversion("purchase"))
    # ...while a real experiment nobody was exposed to yet (as of `end`) is an empty answer.
    empty = analyze(
        events,
        exposures,
        experiment="checkout_redesign",
        metrics=Conversion("purchase"),
        end=ts("2026-08-31 00:00"),
    )
    assert empty.height == 0 and "relative_effect" in empty.columns
    with pytest.raises(ValueError, match="control"):
        analyze(
            events,
            exposures,
            experiment="checkout_redesign",
            metrics=Conversion("purchase"),
            control="baseline",
        )
    with pytest.raises(ValueError, match="metrics"):
        analyze(events, exposures, experiment="checkout_redesign", metrics=[])
    with pytest.raises(ValueError, match="winsorize"):
        analyze(
            events,
            exposures,
            experiment="checkout_redesign",
            metrics=Conversion("purchase"),
            winsorize=99,
        )
    with pytest.raises(ValueError, match="share the name"):
        analyze(
            events,
            exposures,
            experiment="checkout_redesign",
            metrics=[Conversion("purchase"), Conversion("purchase")],
        )
    nobody_bought = analyze(
        events, exposures, experiment="checkout_redesign", metrics=Conversion("signup")
    )
    assert nobody_bought["status"].to_list() == ["control", "zero_control_mean"]
    assert nobody_bought["mean"].to_list() == [0.0, 0.0]


def test_metrics_declared_as_data(story):
    events, exposures = story
    assert metric_from("purchase") == Conversion("purchase", name="purchase")
    assert metric_from({"kind": "sum", "event": "purchase", "column": "revenue"}) == Sum(
        "purchase", "revenue"
    )
    order_value = metric_from(
        {
            "kind": "ratio",
            "numerator": {"kind": "sum", "event": "purchase"},
            "denominator": {"kind": "count", "event": "purchase"},
            "name": "order value",
        }
    )
    assert order_value == Ratio(Sum("purchase"), Count("purchase"), name="order value")
    for bad in ({"kind": "median", "event": "x"}, {"kind": "sum"}, 42, ""):
        with pytest.raises(ValueError, match="metrics"):
            metric_from(bad)
    by_name = analyze(events, exposures, experiment="checkout_redesign", metrics="purchase")
    assert by_name["metric"].to_list() == ["purchase", "purchase"]
    assert by_name["mean"].to_list() == [0.5, 2 / 3]
    # The intervals also come as [low, high] lists named as on a Comparison.
    row = by_name.row(1, named=True)
    assert row["relative_ci"] == [row["relative_ci_low"], row["relative_ci_high"]]
    assert row["absolute_ci"] == [row["absolute_ci_low"], row["absolute_ci_high"]]


def test_experiment_listing_and_counts(story):
    _, exposures = story
    listing = list_experiments(exposures)
    assert listing["experiment"].to_list() == ["checkout_redesign", "other_test"]
    assert listing["users"].to_list() == [6, 1]  # erin counts once here, whatever she saw
    counts = assignment_counts(exposures, experiment="checkout_redesign")
    assert counts.select("variant", "users").to_dicts() == [
        {"variant": "(several)", "users": 1},
        {"variant": "control", "users": 2},
        {"variant": "treatment", "users": 3},
    ]


# --- the query object and the shared scope ------------------------------------------------------

#: Where each of the story's events happened, row by row (the sidebar could filter on it).
STORY_PLATFORMS = [
    "mobile",
    "web",
    "mobile",
    "web",
    "mobile",
    "web",
    "web",
    "mobile",
    "web",
    "mobile",
]


@pytest.fixture
def platform_story(story):
    """The checkout story with a platform on every event: alice bought on the web on 2 Sep and on
    mobile before and after; carol's pre-exposure purchase was on mobile, her 40 on the web; dave
    bought once on each; frank's only purchase (before exposure) was on mobile."""
    events, exposures = story
    return events.with_columns(pl.Series("platform", STORY_PLATFORMS)), exposures


def test_analyze_of_a_built_query_is_analyze(story):
    events, exposures = story
    options = dict(
        experiment="checkout_redesign",
        metrics=[Conversion("purchase"), Sum("purchase", name="revenue")],
        cuped=True,
        window=14,
    )
    assert_frame_equal(
        analyze_of(events, exposures, ExperimentQuery.build(**options)),
        analyze(events, exposures, **options),
    )


@pytest.mark.parametrize(
    "statistics",
    [
        {},
        {"method": "bayesian", "prior_sd": 0.3},
        {"method": "sequential", "sequential_tuning": 800, "alpha": 0.1},
        {"cuped": True, "control": "treatment", "srm_threshold": 0.2},
        {"correction": "holm", "weights": {"control": 0.4, "treatment": 0.6}},
    ],
    ids=["default", "bayesian", "sequential", "cuped-other-control", "holm-weights"],
)
@pytest.mark.parametrize("segment", [None, "platform"])
def test_the_statistics_on_the_shared_counting_are_analyze(platform_story, statistics, segment):
    """The app counts once per counting() query and reads every method off it: the same frame."""
    events, exposures = platform_story
    query = ExperimentQuery.build(
        experiment="checkout_redesign",
        metrics=[Conversion("purchase"), Sum("purchase", name="revenue")],
        window=14,
        winsorize=0.9,
        segment=segment,
        **statistics,
    )
    counted = variant_sums_of(events, exposures, query.counting())
    assert counted.excluded == 1  # erin
    assert_frame_equal(
        analysis_answer(query, counted.sums, counted.excluded), analyze_of(events, exposures, query)
    )


def test_nobody_assigned_counts_nothing_and_answers_an_empty_frame(story):
    events, exposures = story
    query = ExperimentQuery.build(
        experiment="checkout_redesign",
        metrics=[Conversion("purchase")],
        end=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),  # before anyone's exposure
    )
    counted = variant_sums_of(events, exposures, query.counting())
    assert counted == VariantSums(None, 0)
    assert_frame_equal(analysis_answer(query, None, 0), analyze_of(events, exposures, query))


@pytest.mark.parametrize(
    "statistics",
    [
        {},
        {"method": "bayesian", "prior_sd": 0.3},
        {"method": "sequential", "sequential_tuning": 800, "alpha": 0.1},
        {"cuped": True, "control": "treatment"},
    ],
    ids=["default", "bayesian", "sequential", "cuped-other-control"],
)
@pytest.mark.parametrize("metric", ["revenue", "revenue per purchase"])
def test_the_effect_over_time_on_the_shared_counting_is_cumulative_effect(
    platform_story, statistics, metric
):
    """The effect-over-time chart counts once per counting() query too: the same frame."""
    events, exposures = platform_story
    query = ExperimentQuery.build(
        experiment="checkout_redesign",
        metrics=[
            Sum("purchase", name="revenue"),
            Ratio(Sum("purchase"), Count("purchase"), name="revenue per purchase"),
        ],
        window=14,
        winsorize=0.9,
        scope=Scope.build(tz="Europe/Berlin"),
        **statistics,
    ).over_time(metric)
    counted = daily_sums_of(events, exposures, query.counting())
    assert counted.entries["n"].sum() == 5  # everyone but erin, on the day of their exposure
    assert_frame_equal(
        cumulative_answer(query, counted.entries, counted.changes),
        cumulative_effect_of(events, exposures, query),
    )


def test_a_control_nobody_has_is_named_by_the_statistics_not_the_counting(story):
    events, exposures = story
    query = ExperimentQuery.build(
        experiment="checkout_redesign", metrics=[Conversion("purchase")], control="baseline"
    ).over_time("purchase conversion")
    counted = daily_sums_of(events, exposures, query.counting())
    with pytest.raises(ValueError, match="baseline"):
        cumulative_answer(query, counted.entries, counted.changes)
    with pytest.raises(ValueError, match="baseline"):
        cumulative_effect_of(events, exposures, query)


def test_an_experiment_of_users_in_several_variants_counts_no_day(story):
    events, exposures = story
    only_erin = exposures.filter(pl.col("user_id") == "erin")  # she saw both variants
    query = ExperimentQuery.build(experiment="checkout_redesign", metrics=[Conversion("purchase")])
    over_time = query.over_time("purchase conversion")
    counted = daily_sums_of(events, only_erin, over_time.counting())
    assert counted.entries.height == 0 and counted.changes.height == 0
    assert cumulative_answer(over_time, counted.entries, counted.changes).height == 0
    assert cumulative_effect_of(events, only_erin, over_time).height == 0


def test_a_global_filter_counts_only_the_events_it_keeps(platform_story):
    events, exposures = platform_story
    query = ExperimentQuery.build(
        experiment="checkout_redesign",
        metrics=[Conversion("purchase"), Sum("purchase", name="revenue")],
        scope=Scope.build(filters={"platform": "web"}),
    )
    result = analyze_of(events, exposures, query)
    expected = pl.DataFrame(
        {
            "metric": ["purchase conversion"] * 2 + ["revenue"] * 2,
            "variant": ["control", "treatment"] * 2,
            # Everyone assigned still counts (erin left out as always): only their events go.
            "users": [2, 3] * 2,
            # web purchases after exposure: alice 20 | carol 40, dave 10 (his other was mobile)
            "mean": [0.5, 2 / 3, 10.0, 50 / 3],
            "excluded_users": [1] * 4,
        }
    )
    assert_frame_equal(result.select(expected.columns), expected, check_dtypes=False)


def test_a_global_filter_applies_to_the_cuped_pre_period_too(platform_story):
    events, exposures = platform_story
    query = ExperimentQuery.build(
        experiment="checkout_redesign",
        metrics=Sum("purchase", name="revenue"),
        cuped=True,
        scope=Scope.build(filters={"platform": ["web"]}),
    )
    row = analyze_of(events, exposures, query).filter(~pl.col("is_control")).row(0, named=True)
    # Every purchase before exposure (alice 5, carol 15, frank 30) was on mobile: no covariate.
    direct = compare(
        Stats.from_values([20, 0], [0, 0]), Stats.from_values([40, 10, 0], [0, 0, 0]), cuped=True
    )
    assert (row["theta"], row["absolute_effect"]) == pytest.approx(
        (direct.theta, direct.absolute_effect)
    )


def test_the_effect_over_time_reads_the_filtered_events_as_analyze_does(platform_story):
    events, exposures = platform_story
    query = ExperimentQuery.build(
        experiment="checkout_redesign",
        metrics=[Conversion("purchase"), Sum("purchase", name="revenue")],
        scope=Scope.build(tz="Europe/Berlin", filters={"platform": "web"}),
    )
    daily = cumulative_effect_of(events, exposures, query.over_time("revenue"))
    last = daily.tail(1).row(0, named=True)
    assert (last["day"], last["control_mean"], last["mean"]) == (dt.date(2026, 9, 5), 10.0, 50 / 3)


def test_an_experiment_query_keeps_the_zone_and_filters_but_not_the_dates():
    query = ExperimentQuery.build(
        experiment="e",
        metrics=Conversion("purchase"),
        scope=Scope.build(start="2026-09-01", end="2026-09-30", tz="Europe/Berlin"),
    )
    # An experiment is read over its whole run: the sidebar's dates neither apply nor key a cache.
    assert query.scope == Scope.build(tz="Europe/Berlin")


def test_equal_experiment_queries_are_one_cache_key():
    def built(plans: Any) -> ExperimentQuery:
        return ExperimentQuery.build(
            experiment="e", metrics=Count("purchase", filters={"plan": plans}), weights={"a": 1}
        )

    # A metric's filters take one hashable form, whether typed as a list or a tuple.
    assert {built(["pro", "team"]), built(("pro", "team"))} == {built(["pro", "team"])}


def test_over_time_names_a_metric_of_the_query():
    query = ExperimentQuery.build(experiment="e", metrics=[Conversion("purchase")])
    with pytest.raises(ValueError, match="'revenue' is not one of the query's metrics"):
        query.over_time("revenue")


# --- from raw events: the reference implementation -----------------------------------------------

USERS = [f"u{i}" for i in range(12)]
DAY0 = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)


@st.composite
def experiments(draw):
    exposures = []
    for user in USERS:
        for _ in range(draw(st.integers(0, 2))):
            exposures.append(
                {
                    "user_id": user,
                    "experiment": "x",
                    "variant": draw(st.sampled_from(["control", "control", "treatment"])),
                    "timestamp": DAY0 + dt.timedelta(hours=draw(st.integers(0, 96))),
                }
            )
    exposures.append(
        {"user_id": "anchor", "experiment": "x", "variant": "control", "timestamp": DAY0}
    )
    events = []
    for _ in range(draw(st.integers(0, 60))):
        events.append(
            {
                "user_id": draw(st.sampled_from(USERS)),
                "event": draw(st.sampled_from(["purchase", "view"])),
                "timestamp": DAY0 + dt.timedelta(hours=draw(st.integers(-300, 400))),
                "revenue": draw(st.one_of(st.none(), st.sampled_from([1.0, 5.0, 20.0, 80.0]))),
            }
        )
    return events, exposures


def _frames(events: list[dict], exposures: list[dict]) -> tuple[pl.DataFrame, pl.DataFrame]:
    event_schema = {
        "user_id": pl.String,
        "event": pl.String,
        "timestamp": pl.Datetime("us", "UTC"),
        "revenue": pl.Float64,
    }
    assignment_schema = {
        "user_id": pl.String,
        "experiment": pl.String,
        "variant": pl.String,
        "timestamp": pl.Datetime("us", "UTC"),
    }
    return (
        pl.DataFrame(events, schema=event_schema),
        pl.DataFrame(exposures, schema=assignment_schema),
    )


def reference_rows(events, exposures, metric, *, window, pre_period, winsorize, cuped, end=None):
    users, several = ref.assigned_users(exposures, "x", end)
    order = sorted(users)
    parts = [metric.numerator, metric.denominator] if isinstance(metric, Ratio) else [metric]
    values = {}
    for i, part in enumerate(parts):
        raw = {}
        for pre in (False, True):
            raw[pre] = [
                ref.component_value(
                    events,
                    u,
                    users[u][1],
                    part,
                    pre=pre,
                    window=window,
                    pre_period=pre_period,
                    end=end,
                )
                for u in order
            ]
        for pre in (False, True):
            column = raw[pre]
            if not isinstance(part, Conversion):
                # Before and after exposure alike, the cap is the metric's (after exposure).
                column = ref.cap(column, winsorize, of=raw[False])
            values[(i, pre)] = dict(zip(order, column, strict=True))
    arms: dict[str, Any] = {}
    for variant in ("control", "treatment"):
        members = [u for u in order if users[u][0] == variant]
        if isinstance(metric, Ratio):
            arms[variant] = RatioStats.from_values(
                [values[(0, False)][u] for u in members], [values[(1, False)][u] for u in members]
            )
        else:
            arms[variant] = Stats.from_values(
                [values[(0, False)][u] for u in members], [values[(0, True)][u] for u in members]
            )
    kind = {"Conversion": "proportion", "Ratio": "ratio"}.get(type(metric).__name__, "mean")
    return (
        arms,
        compare(arms["control"], arms["treatment"], kind=kind, cuped=cuped and kind != "ratio"),
        len(several),
    )


METRICS = [
    Conversion("purchase"),
    Count("purchase"),
    Sum("purchase"),
    Ratio(Sum("purchase"), Count("purchase")),
    Count("view", filters={"revenue": [5.0, 20.0]}),
]


@settings(max_examples=60, deadline=None)
@given(
    experiments(),
    st.sampled_from(METRICS),
    st.sampled_from([None, 2, 5]),
    st.sampled_from([None, 0.8]),
    st.booleans(),
)
def test_analyze_matches_the_reference(data, metric, window, winsorize, cuped):
    events, exposures = data
    event_frame, assignment_frame = _frames(events, exposures)
    result = analyze(
        event_frame.sample(fraction=1.0, shuffle=True, seed=1),
        assignment_frame,
        experiment="x",
        metrics=metric,
        window=window,
        winsorize=winsorize,
        cuped=cuped,
        pre_period=3,
    )
    arms, expected, several = reference_rows(
        events,
        exposures,
        metric,
        window=dt.timedelta(days=window) if window else None,
        pre_period=dt.timedelta(days=3),
        winsorize=winsorize,
        cuped=cuped,
    )
    control = result.filter(pl.col("variant") == "control").row(0, named=True)
    assert control["users"] == arms["control"].n
    assert control["excluded_users"] == several
    if arms["treatment"].n == 0:
        assert result.filter(pl.col("variant") == "treatment").height == 0
        return
    row = result.filter(pl.col("variant") == "treatment").row(0, named=True)
    assert row["users"] == arms["treatment"].n
    assert row["status"] == expected.status
    for column, value in [
        ("mean", expected.treatment_mean),
        ("control_mean", expected.control_mean),
        ("absolute_effect", expected.absolute_effect),
        ("relative_effect", expected.relative_effect),
        ("p_value", expected.p_value),
        ("p_value_absolute", expected.p_value_absolute),
        ("theta", expected.theta),
    ]:
        if value is None:
            assert row[column] is None, column
        else:
            assert row[column] == pytest.approx(value, rel=1e-7, abs=1e-9), column


@settings(max_examples=30, deadline=None)
@given(experiments(), st.sampled_from(METRICS[:4]), st.sampled_from(["UTC", "America/New_York"]))
def test_cumulative_effect_matches_analyze_as_of_each_day(data, metric, tz):
    events, exposures = data
    event_frame, assignment_frame = _frames(events, exposures)
    daily = cumulative_effect(event_frame, assignment_frame, experiment="x", metric=metric, tz=tz)
    # The curve follows one population: users who end up in several variants are left out of
    # every day, not only from their second exposure on.
    _, several = ref.assigned_users(exposures, "x")
    assignment_frame = assignment_frame.filter(~pl.col("user_id").is_in(sorted(several)))
    assert daily.select(pl.col("day").is_sorted()).item()
    from zoneinfo import ZoneInfo

    for row in daily.iter_rows(named=True):
        end = dt.datetime.combine(row["day"] + dt.timedelta(days=1), dt.time(), ZoneInfo(tz))
        end = end.astimezone(dt.UTC) - dt.timedelta(microseconds=1)
        # analyze as of that instant counts the users exposed so far, their events so far, and the
        # same users' full pre-period (exposures after `end` are not yet known to either).
        as_of = analyze(event_frame, assignment_frame, experiment="x", metrics=metric, end=end)
        treated = as_of.filter(pl.col("variant") == "treatment")
        control = as_of.filter(pl.col("variant") == "control").row(0, named=True)
        assert row["control_users"] == control["users"]
        if treated.height == 0:
            assert row["users"] == 0
            continue
        expected = treated.row(0, named=True)
        assert row["users"] == expected["users"]
        assert row["status"] == expected["status"]
        for column in ("mean", "control_mean", "absolute_effect", "relative_effect", "p_value"):
            if expected[column] is None:
                assert row[column] is None, column
            else:
                assert row[column] == pytest.approx(expected[column], rel=1e-7, abs=1e-9), column


# --- the demo product's planted effect -----------------------------------------------------------


@pytest.fixture(scope="module")
def demo():
    demo_module = pytest.importorskip("connectors.demo")
    if not hasattr(demo_module, "DEMO_EXPERIMENT_TRUTH"):
        pytest.skip("the demo has no planted experiment yet")
    # generate(), not load_demo(): the truth is the generator's, whatever a cache on disk holds.
    events, exposures = demo_module.generate()
    return events, exposures, demo_module.DEMO_EXPERIMENT_TRUTH


@pytest.mark.parametrize("method", ["frequentist", "sequential", "bayesian"])
@pytest.mark.parametrize("cuped", [False, True])
def test_demo_planted_effect_inside_the_interval(demo, method, cuped):
    events, exposures, truth = demo
    result = analyze(
        events,
        exposures,
        experiment=truth.experiment,
        control=truth.control,
        metrics=Conversion(truth.conversion_event),
        method=method,
        cuped=cuped,
    )
    row = result.filter(pl.col("variant") == truth.treatment).row(0, named=True)
    assert row["status"] == "ok" and not row["srm_mismatch"]
    assert row["absolute_ci_low"] < truth.absolute_effect < row["absolute_ci_high"]
    assert row["relative_ci_low"] < truth.relative_effect < row["relative_ci_high"]
    control = result.filter(pl.col("variant") == truth.control).row(0, named=True)
    assert control["mean"] == pytest.approx(truth.control_rate, abs=0.02)


def test_demo_cumulative_effect_settles(demo):
    events, exposures, truth = demo
    daily = cumulative_effect(
        events,
        exposures,
        experiment=truth.experiment,
        metric=Conversion(truth.conversion_event),
        control=truth.control,
    )
    last = daily.tail(1).row(0, named=True)
    assert last["relative_ci_low"] < truth.relative_effect < last["relative_ci_high"]
    ok = daily.filter(pl.col("status") == "ok")
    widths = (ok["relative_ci_high"] - ok["relative_ci_low"]).to_list()
    assert widths[-1] < widths[len(widths) // 4]  # more users, narrower interval


@pytest.mark.parametrize("method", ["frequentist", "sequential", "bayesian"])
def test_a_control_mean_near_zero_gives_the_absolute_effect_without_a_relative_one(method):
    """Found by hypothesis: a control mean of 1e-130 has a 4th power that underflows to 0; the
    relative effect's variance cannot be held in a float, so it is left out, not a crash."""
    tiny = Stats.from_values(np.array([1e-130, 2e-130, 3e-130]), np.zeros(3))
    some = Stats.from_values(np.array([1.0, 2.0, 4.0]), np.zeros(3))
    found = compare(tiny, some, method=method, cuped=False)
    assert found.absolute_effect == pytest.approx(7 / 3 - 2e-130)
    assert found.relative_effect is None
    assert_no_nan(found)
