"""Experiment statistics by hand, from the SPEC conformance file (tests/test_spec_interface.py,
which now checks only the shape of each public call): each number is recomputed here from the
formulas of docs/experiments.md (delta method, CUPED, sequential, Bayesian prior) or by numpy and
scipy, beside GrowthBook's own cases in test_experiments.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from metrics.experiments import RatioStats, Stats, compare, minimum_detectable_effect, sample_size

NO_EVENTS = True  # sufficient statistics in, numbers out: no events to load into an engine

# GrowthBook packages/stats/tests/frequentist/test_tests.py, test_two_sided_ttest
# (SampleMeanStatistic sums for control 0.41 ± 3.9 over 3407 users, treatment 0.70 ± 6.2 over 3461).
GB_CONTROL = Stats(3407, 1396.87, 52377.9767)
GB_TREATMENT = Stats(3461, 2422.7, 134698.29)


def test_compare_reports_each_arms_mean():
    result = compare(GB_CONTROL, GB_TREATMENT)
    assert result.control_mean == pytest.approx(0.41, abs=1e-6)
    assert result.treatment_mean == pytest.approx(0.70, abs=1e-6)


@pytest.mark.parametrize("method", ["frequentist", "sequential", "bayesian"])
@pytest.mark.parametrize(
    ("control", "treatment", "kind"),
    [
        (Stats.proportion(500, 5000), Stats.proportion(600, 5000), "proportion"),  # clear win
        (Stats.proportion(500, 5000), Stats.proportion(510, 5000), "proportion"),  # noise
        (GB_CONTROL, GB_TREATMENT, "mean"),
    ],
)
def test_compare_significant_means_p_below_alpha(
    method: str, control: Stats, treatment: Stats, kind: str
) -> None:
    result = compare(control, treatment, kind=kind, method=method, alpha=0.05)
    assert result.status == "ok"
    # docs/experiments.md: `significant` is `p_value < alpha` (the relative test shown), whatever
    # the method.
    assert result.p_value is not None, f"{method}: no p_value"
    assert result.significant == (result.p_value < 0.05)
    # "Each p-value matches its CI": an interval that excludes 0 never sits beside p > alpha.
    for ci, p in (
        (result.relative_ci, result.p_value),
        (result.absolute_ci, result.p_value_absolute),
    ):
        assert ci is not None and p is not None
        assert (ci[0] > 0 or ci[1] < 0) == (p < 0.05)
    bayes_fields = (result.chance_to_win, result.risk_control, result.risk_treatment)
    if method == "bayesian":
        assert all(isinstance(v, float) for v in bayes_fields)
    else:
        assert bayes_fields == (None, None, None)


def test_compare_sequential_half_width_by_the_documented_formula() -> None:
    control, treatment = Stats.proportion(500, 5000), Stats.proportion(600, 5000)
    result = compare(
        control, treatment, kind="proportion", method="sequential", sequential_tuning=5000
    )
    n_c = n_t = 5000
    y_c, y_t = 0.1, 0.12
    v_c, v_t = y_c * (1 - y_c), y_t * (1 - y_t)
    var_rel = v_t / (n_t * y_c**2) + y_t**2 * v_c / (n_c * y_c**4)
    n = n_c + n_t
    s2 = n * var_rel
    alpha = 0.05
    rho2 = (-2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha))) / 5000
    half = math.sqrt(s2) * math.sqrt(
        2 * (n * rho2 + 1) * math.log(math.sqrt(n * rho2 + 1) / alpha) / (n * n * rho2)
    )
    assert result.relative_effect == pytest.approx(0.2)
    assert result.relative_ci == pytest.approx((0.2 - half, 0.2 + half), rel=1e-9)


def test_compare_cuped_by_the_documented_formulas() -> None:
    rng = np.random.default_rng(7)
    x_c, x_t = rng.normal(10, 2, 400), rng.normal(10, 2, 420)
    y_c = 2 + 0.8 * x_c + rng.normal(0, 1, 400)
    y_t = 2.4 + 0.8 * x_t + rng.normal(0, 1, 420)
    result = compare(Stats.from_values(y_c, x_c), Stats.from_values(y_t, x_t), cuped=True)
    x_all, y_all = np.concatenate([x_c, x_t]), np.concatenate([y_c, y_t])
    theta = np.cov(y_all, x_all, ddof=1)[0, 1] / np.var(x_all, ddof=1)

    def v(y: np.ndarray, x: np.ndarray) -> float:
        return (
            np.var(y, ddof=1)
            + theta**2 * np.var(x, ddof=1)
            - 2 * theta * np.cov(y, x, ddof=1)[0, 1]
        )

    diff = (y_t.mean() - y_c.mean()) - theta * (x_t.mean() - x_c.mean())
    rel = diff / y_c.mean()
    v_c, v_t = v(y_c, x_c), v(y_t, x_t)
    var_rel = v_t / (420 * y_c.mean() ** 2) + y_t.mean() ** 2 * v_c / (400 * y_c.mean() ** 4)
    a, b = v_t / 420, v_c / 400
    dof = (a + b) ** 2 / (a * a / 419 + b * b / 399)
    assert result.absolute_effect == pytest.approx(diff, rel=1e-9)
    assert result.relative_effect == pytest.approx(rel, rel=1e-9)
    assert result.p_value == pytest.approx(
        2 * sps.t.sf(abs(rel) / math.sqrt(var_rel), dof), rel=1e-6
    )


def test_stats_constructors() -> None:
    y = [1.0, 0.0, 3.5, 2.0]
    x = [0.5, 1.0, 2.0, 0.0]
    s = Stats.from_values(y)
    assert (s.n, s.sum, s.sum_squares) == (4, 6.5, pytest.approx(1 + 12.25 + 4))
    sx = Stats.from_values(y, x=x)
    assert sx.x_sum == pytest.approx(3.5)
    assert sx.x_sum_squares == pytest.approx(0.25 + 1 + 4)
    assert sx.xy_sum == pytest.approx(0.5 + 0 + 7 + 0)
    p = Stats.proportion(30, 100)
    assert (p.n, p.sum, p.sum_squares) == (100, 30, 30)
    keyword = Stats(n=4, sum=6.5, sum_squares=17.25, x_sum=None, x_sum_squares=None, xy_sum=None)
    assert keyword == Stats(4, 6.5, 17.25)


def test_ratio_stats_per_user_delta_method() -> None:
    rng = np.random.default_rng(3)
    views_c, views_t = rng.poisson(5, 300) + 1, rng.poisson(5, 320) + 1
    clicks_c, clicks_t = rng.binomial(views_c, 0.2), rng.binomial(views_t, 0.25)

    def ratio_stats(m: np.ndarray, d: np.ndarray) -> RatioStats:
        return RatioStats(len(m), m.sum(), (m * m).sum(), d.sum(), (d * d).sum(), (m * d).sum())

    result = compare(ratio_stats(clicks_c, views_c), ratio_stats(clicks_t, views_t), kind="ratio")

    def per_user_var(m: np.ndarray, d: np.ndarray) -> float:
        mm, dm = m.mean(), d.mean()
        cov = np.cov(m, d, ddof=1)[0, 1]
        return np.var(m, ddof=1) / dm**2 - 2 * cov * mm / dm**3 + mm**2 * np.var(d, ddof=1) / dm**4

    r_c, r_t = clicks_c.sum() / views_c.sum(), clicks_t.sum() / views_t.sum()
    v_c, v_t = per_user_var(clicks_c, views_c), per_user_var(clicks_t, views_t)
    var_rel = v_t / (320 * r_c**2) + r_t**2 * v_c / (300 * r_c**4)
    a, b = v_t / 320, v_c / 300
    dof = (a + b) ** 2 / (a * a / 319 + b * b / 299)
    assert result.status == "ok"
    assert result.control_mean == pytest.approx(r_c)
    assert result.relative_effect == pytest.approx((r_t - r_c) / r_c)
    assert result.p_value == pytest.approx(
        2 * sps.t.sf(abs((r_t - r_c) / r_c) / math.sqrt(var_rel), dof), rel=1e-6
    )
    # The absolute interval uses the same per-user variances (never the page-view binomial).
    half = sps.t.ppf(0.975, dof) * math.sqrt(v_t / 320 + v_c / 300)
    assert result.absolute_ci == pytest.approx((r_t - r_c - half, r_t - r_c + half), rel=1e-6)


def test_compare_bayesian_prior_by_hand() -> None:
    control, treatment = Stats.proportion(49, 100), Stats.proportion(51, 100)
    flat = compare(control, treatment, kind="proportion", method="bayesian")
    prior = compare(control, treatment, kind="proportion", method="bayesian", prior_sd=0.1)
    estimate, se = 0.51 / 0.49 - 1, 0.14725254573469446  # GrowthBook's uplift sd (above)
    precision = 1 / se**2 + 1 / 0.1**2
    assert flat.relative_effect == pytest.approx(estimate)
    assert prior.relative_effect == pytest.approx(estimate / se**2 / precision, rel=1e-6)
    z = sps.norm.ppf(0.975)
    mean, sd = estimate / se**2 / precision, math.sqrt(1 / precision)
    assert prior.relative_ci == pytest.approx((mean - z * sd, mean + z * sd), rel=1e-6)
    assert prior.chance_to_win == pytest.approx(sps.norm.cdf(mean / sd), rel=1e-6)


def test_compare_sequential_p_value_inverts_the_sequence() -> None:
    control, treatment = Stats.proportion(500, 5000), Stats.proportion(575, 5000)
    result = compare(control, treatment, kind="proportion", method="sequential")
    y_c, y_t, n = 0.1, 0.115, 10_000
    var_rel = y_t * (1 - y_t) / (5000 * y_c**2) + y_t**2 * y_c * (1 - y_c) / (5000 * y_c**4)
    rho2 = (-2 * math.log(0.05) + math.log(1 - 2 * math.log(0.05))) / 5000
    s2 = n * var_rel
    # The alpha' at which the half-width (rho fixed) equals |estimate|.
    estimate = y_t / y_c - 1
    log_root = math.log(math.sqrt(n * rho2 + 1))
    p = math.exp(log_root - estimate**2 * (n * n * rho2) / (2 * s2 * (n * rho2 + 1)))
    assert result.p_value == pytest.approx(min(1.0, p), rel=1e-9)
    assert result.significant == (result.p_value < 0.05)


def test_sample_size_at_another_alpha_and_power_by_the_documented_formula():
    # n = (z_{1-α/2} + z_power)² (p1q1 + p2q2) / δ² at alpha 0.01 and power 0.9, 10% -> 11%.
    z = sps.norm.ppf(1 - 0.01 / 2) + sps.norm.ppf(0.9)
    p1, p2 = 0.1, 0.11
    strict = z**2 * (p1 * (1 - p1) + p2 * (1 - p2)) / (p2 - p1) ** 2
    assert sample_size(0.1, 0.1, alpha=0.01, power=0.9) == math.ceil(strict)


def test_minimum_detectable_effect_in_absolute_terms():
    z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)
    for n in (1000, 14749, 100_000):
        mde = minimum_detectable_effect(n, 0.1)
        p2 = 0.1 * (1 + mde)
        # It solves the sample-size equation: n·δ² = z²(p1q1 + p2q2).
        assert n * (p2 - 0.1) ** 2 == pytest.approx(z**2 * (0.09 + p2 * (1 - p2)), rel=1e-9)
    absolute = minimum_detectable_effect(14749, 0.1, relative=False)
    assert absolute == pytest.approx(0.1 * minimum_detectable_effect(14749, 0.1), rel=1e-12)
    mean_mde = minimum_detectable_effect(1000, 10.0, kind="mean", std=5.0, relative=False)
    assert mean_mde == pytest.approx(z * 5.0 * math.sqrt(2 / 1000), rel=1e-12)
