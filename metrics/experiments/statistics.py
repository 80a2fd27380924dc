"""A/B statistics on per-variant sufficient statistics (GrowthBook's definitions, gbstats 0.8).

The statistics never see raw events: each arm is reduced to its user count and the sums (and sums of
squares and cross-products) of the per-user metric, so a PM can type the numbers in by hand and
``analyze`` can hand over millions of users as six numbers per arm.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy.special import ndtr, ndtri, stdtr, stdtrit

from metrics._common import check_choice

Kind = Literal["mean", "proportion", "ratio"]
Method = Literal["frequentist", "bayesian", "sequential"]

KINDS: tuple[str, ...] = ("mean", "proportion", "ratio")
METHODS: tuple[str, ...] = ("frequentist", "bayesian", "sequential")

#: Every status a :class:`Comparison` can carry, in a PM's words.
STATUS_MESSAGES: dict[str, str] = {
    "ok": "Enough data for a result.",
    "empty_arm": "One of the groups has no users yet.",
    "too_few_users": "One of the groups has fewer than 2 users: too early to compare.",
    "zero_variance": (
        "Every user in one group has the same value (for example nobody in the treatment "
        "converted yet), so the noise cannot be estimated: wait for more data."
    ),
    "zero_control_mean": (
        "The control group's average is zero (for example nobody in control converted yet), "
        "so a lift in % is undefined; only the absolute difference is shown."
    ),
    "zero_denominator": "The ratio's denominator is zero in one group: nothing to divide by yet.",
}


def _finite(name: str, value: float) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    return number


def _count(name: str, value: float) -> int:
    number = float(value)
    if not math.isfinite(number) or number < 0 or number != int(number):
        raise ValueError(f"{name} must be a whole number of users >= 0, not {value!r}")
    return int(number)


def _as_array(name: str, values: Iterable[float]) -> np.ndarray:
    array = np.asarray(values if hasattr(values, "__len__") else list(values), dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a flat sequence of numbers")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must contain finite numbers only (no NaN, no inf)")
    return array


@dataclass(frozen=True)
class Stats:
    """One variant's sufficient statistics: users ``n`` and the sums of the per-user metric ``y``.

    For CUPED, ``x_sum``, ``x_sum_squares`` and ``xy_sum`` carry the same users' pre-exposure
    covariate ``x`` (usually the same metric in the weeks before they entered the test).
    """

    n: int
    sum: float
    sum_squares: float
    x_sum: float | None = None
    x_sum_squares: float | None = None
    xy_sum: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", _count("n", self.n))
        object.__setattr__(self, "sum", _finite("sum", self.sum))
        object.__setattr__(self, "sum_squares", _finite("sum_squares", self.sum_squares))
        covariate = (self.x_sum, self.x_sum_squares, self.xy_sum)
        if any(v is not None for v in covariate) and any(v is None for v in covariate):
            raise ValueError("x_sum, x_sum_squares and xy_sum go together: give all three or none")
        for name in ("x_sum", "x_sum_squares", "xy_sum"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _finite(name, value))

    @classmethod
    def proportion(cls, successes: float, n: float) -> Stats:
        """A conversion rate: ``successes`` of ``n`` users converted (each user's y is 0 or 1)."""
        users = _count("n", n)
        hits = _count("successes", successes)
        if hits > users:
            raise ValueError(f"successes ({hits}) cannot exceed n ({users})")
        return cls(n=users, sum=hits, sum_squares=hits)

    @classmethod
    def from_values(cls, y: Iterable[float], x: Iterable[float] | None = None) -> Stats:
        """The statistics of raw per-user values ``y`` (and covariate ``x`` of the same users)."""
        ys = _as_array("y", y)
        if x is None:
            return cls(n=ys.size, sum=float(ys.sum()), sum_squares=float((ys * ys).sum()))
        xs = _as_array("x", x)
        if xs.size != ys.size:
            raise ValueError(f"x has {xs.size} values but y has {ys.size}: they must pair up")
        return cls(
            n=ys.size,
            sum=float(ys.sum()),
            sum_squares=float((ys * ys).sum()),
            x_sum=float(xs.sum()),
            x_sum_squares=float((xs * xs).sum()),
            xy_sum=float((xs * ys).sum()),
        )

    @property
    def has_covariate(self) -> bool:
        return self.x_sum is not None

    @property
    def mean(self) -> float | None:
        """The average per user (None for an empty arm)."""
        return self.sum / self.n if self.n else None

    @property
    def variance(self) -> float | None:
        """The per-user sample variance (ddof=1); None below 2 users."""
        if self.n < 2:
            return None
        return _sample_variance(self.n, self.sum, self.sum_squares)

    def __add__(self, other: Stats) -> Stats:
        """Pool two groups of users (strata, days) into one."""
        if not isinstance(other, Stats):
            return NotImplemented
        if self.has_covariate != other.has_covariate:
            raise ValueError("cannot add Stats with a covariate to Stats without one")
        if not self.has_covariate:
            return Stats(
                self.n + other.n, self.sum + other.sum, self.sum_squares + other.sum_squares
            )
        return Stats(
            self.n + other.n,
            self.sum + other.sum,
            self.sum_squares + other.sum_squares,
            _req(self.x_sum) + _req(other.x_sum),
            _req(self.x_sum_squares) + _req(other.x_sum_squares),
            _req(self.xy_sum) + _req(other.xy_sum),
        )


@dataclass(frozen=True)
class RatioStats:
    """One variant's sufficient statistics for a ratio metric (clicks per view) counted per user.

    The user is the unit of randomisation, so the ratio's noise comes from per-user numerator and
    denominator sums and their cross-product (delta method), never from a binomial over views.
    """

    n: int
    num_sum: float
    num_sum_squares: float
    den_sum: float
    den_sum_squares: float
    num_den_sum: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", _count("n", self.n))
        for name in ("num_sum", "num_sum_squares", "den_sum", "den_sum_squares", "num_den_sum"):
            object.__setattr__(self, name, _finite(name, getattr(self, name)))

    @classmethod
    def from_values(cls, numerator: Iterable[float], denominator: Iterable[float]) -> RatioStats:
        """The statistics of raw per-user numerators and denominators (same users, same order)."""
        num = _as_array("numerator", numerator)
        den = _as_array("denominator", denominator)
        if num.size != den.size:
            raise ValueError("numerator and denominator must have one value per user each")
        return cls(
            n=num.size,
            num_sum=float(num.sum()),
            num_sum_squares=float((num * num).sum()),
            den_sum=float(den.sum()),
            den_sum_squares=float((den * den).sum()),
            num_den_sum=float((num * den).sum()),
        )

    @property
    def mean(self) -> float | None:
        """The ratio of totals (sum of numerators over sum of denominators); None if undefined."""
        return self.num_sum / self.den_sum if self.den_sum else None

    @property
    def variance(self) -> float | None:
        """Per-user variance of the ratio by the delta method; None if undefined."""
        if self.n < 2 or self.den_sum == 0:
            return None
        return _ratio_variance(self)

    def __add__(self, other: RatioStats) -> RatioStats:
        if not isinstance(other, RatioStats):
            return NotImplemented
        return RatioStats(
            self.n + other.n,
            self.num_sum + other.num_sum,
            self.num_sum_squares + other.num_sum_squares,
            self.den_sum + other.den_sum,
            self.den_sum_squares + other.den_sum_squares,
            self.num_den_sum + other.num_den_sum,
        )


@dataclass(frozen=True)
class Comparison:
    """Treatment against control for one metric: the effect, its uncertainty and a status.

    ``relative_*`` is (treatment − control) / control; ``absolute_*`` is treatment − control (both
    CUPED-adjusted when ``cuped``). ``p_value`` goes with ``relative_ci`` and ``p_value_absolute``
    with ``absolute_ci``. Any field that cannot be computed for the data at hand is None and
    ``status`` says why (see :data:`STATUS_MESSAGES`).
    """

    status: str
    method: str
    kind: str
    alpha: float
    inverse: bool
    control_n: int
    treatment_n: int
    control_mean: float | None
    treatment_mean: float | None
    absolute_effect: float | None = None
    absolute_ci: tuple[float, float] | None = None
    p_value_absolute: float | None = None
    relative_effect: float | None = None
    relative_ci: tuple[float, float] | None = None
    p_value: float | None = None
    significant: bool = False
    chance_to_win: float | None = None
    risk_control: float | None = None
    risk_treatment: float | None = None
    std_error: float | None = None
    std_error_absolute: float | None = None
    dof: float | None = None
    theta: float | None = None

    @property
    def message(self) -> str:
        """The status in a PM's words."""
        return STATUS_MESSAGES.get(self.status, self.status)

    @property
    def verdict(self) -> str | None:
        """'winner', 'loser' or 'inconclusive' (aware of inverse metrics); None if no test ran."""
        effect = self.relative_effect
        if self.status != "ok" or effect is None:
            return None
        if not self.significant:
            return "inconclusive"
        better = effect < 0 if self.inverse else effect > 0
        return "winner" if better else "loser"


def compare(
    control: Stats | RatioStats,
    treatment: Stats | RatioStats,
    *,
    kind: Kind = "mean",
    method: Method = "frequentist",
    alpha: float = 0.05,
    cuped: bool = False,
    inverse: bool = False,
    sequential_tuning: float = 5000,
    prior_sd: float | None = None,
) -> Comparison:
    """How much the treatment moved the metric against control, and how sure we can be.

    ``kind``: "mean" (revenue per user), "proportion" (conversion rate, variance p(1−p)) or "ratio"
    (:class:`RatioStats`; inferred when RatioStats are passed). ``method``: "frequentist" (Welch's
    t-test, Welch–Satterthwaite df), "sequential" (always-valid confidence sequence, safe to look
    every day; ``sequential_tuning`` is N*, the total sample size where it is tightest) or
    "bayesian" (normal posterior on the effect, flat prior or Normal(0, ``prior_sd``²) on the
    relative lift). ``cuped`` adjusts with the pre-exposure covariate (one slope pooled over both
    arms). ``inverse`` marks metrics where lower is better (it flips chance to win, risk and
    verdict, never the sign of the effect).
    """
    check_choice("method", method, METHODS)
    check_choice("kind", kind, KINDS)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha!r}")
    if not sequential_tuning > 0:
        raise ValueError(f"sequential_tuning must be positive, not {sequential_tuning!r}")
    if prior_sd is not None:
        if method != "bayesian":
            raise ValueError("prior_sd applies to method='bayesian' only")
        if not (math.isfinite(prior_sd) and prior_sd > 0):
            raise ValueError(f"prior_sd must be a positive number, not {prior_sd!r}")
    ratio_args = isinstance(control, RatioStats), isinstance(treatment, RatioStats)
    if any(ratio_args):
        if not all(ratio_args):
            raise ValueError("control and treatment must both be Stats or both be RatioStats")
        if kind == "proportion":
            raise ValueError("kind='proportion' takes Stats, not RatioStats")
        kind = "ratio"
        if cuped:
            raise ValueError("cuped is not available for ratio metrics (no covariate)")
    elif kind == "ratio":
        raise ValueError("kind='ratio' takes RatioStats for control and treatment")
    both_covariates = (
        isinstance(control, Stats)
        and isinstance(treatment, Stats)
        and control.has_covariate
        and treatment.has_covariate
    )
    if cuped and not both_covariates:
        raise ValueError("cuped=True needs x_sum, x_sum_squares and xy_sum on both arms")

    arms = _Arms.build(control, treatment, kind, cuped)
    base = Comparison(
        status="ok",
        method=method,
        kind=kind,
        alpha=alpha,
        inverse=inverse,
        control_n=control.n,
        treatment_n=treatment.n,
        control_mean=arms.mean_c,
        treatment_mean=arms.mean_t,
        theta=arms.theta if cuped else None,
    )
    status = arms.status()
    if status not in ("ok", "zero_control_mean"):
        return _replace(base, status=status)
    assert arms.var_c is not None and arms.var_t is not None
    assert arms.mean_c is not None and arms.mean_t is not None

    diff = arms.adj_mean_t - arms.adj_mean_c
    var_abs = arms.var_t / arms.n_t + arms.var_c / arms.n_c
    if var_abs <= 0 or arms.var_c < 0 or arms.var_t < 0:
        return _replace(base, status=status)  # no noise at all: nothing to test
    dof = _welch_dof(arms.var_c, arms.n_c, arms.var_t, arms.n_t)
    fields: dict[str, object] = {
        "status": status,
        "absolute_effect": diff,
        "std_error_absolute": math.sqrt(var_abs),
        "dof": dof,
    }
    rel: float | None = None
    var_rel: float | None = None
    if status == "ok":
        rel = diff / arms.mean_c
        # Delta method for (ȳ_T − ȳ_C)/ȳ_C with V the (CUPED-adjusted) per-user variances.
        try:
            var_rel = arms.var_t / (arms.n_t * arms.mean_c**2) + arms.var_c * arms.mean_t**2 / (
                arms.n_c * arms.mean_c**4
            )
        except ZeroDivisionError:  # a baseline so near 0 (1e-130) that its 4th power underflows
            var_rel = None
        if var_rel is None or not (math.isfinite(rel) and math.isfinite(var_rel)):
            rel = var_rel = None  # no relative effect a float can hold: the absolute one stands
        else:
            fields.update(relative_effect=rel, std_error=math.sqrt(var_rel))

    if method == "frequentist":
        fields.update(_welch(diff, var_abs, dof, alpha, "absolute"))
        if rel is not None and var_rel is not None:
            fields.update(_welch(rel, var_rel, dof, alpha, "relative"))
    elif method == "sequential":
        n_total = arms.n_c + arms.n_t
        rho = sequential_rho(alpha, sequential_tuning)
        fields.update(_sequential(diff, var_abs, n_total, rho, alpha, "absolute"))
        if rel is not None and var_rel is not None:
            fields.update(_sequential(rel, var_rel, n_total, rho, alpha, "relative"))
    else:
        prior_abs = None if prior_sd is None else prior_sd * abs(arms.mean_c)
        if prior_abs == 0:
            prior_abs = None  # a relative prior cannot be scaled to a zero baseline
        fields.update(_bayesian(diff, var_abs, prior_abs, alpha, inverse, "absolute"))
        if rel is not None and var_rel is not None:
            fields.update(_bayesian(rel, var_rel, prior_sd, alpha, inverse, "relative"))

    # SPEC: significant means p_value < alpha, in every method (the relative test shown).
    p_value = fields.get("p_value")
    fields["significant"] = bool(isinstance(p_value, float) and p_value < alpha)
    return _replace(base, **fields)


def per_user_std(stats: Stats | RatioStats, kind: Kind = "mean") -> float | None:
    """The spread of the metric between users (standard deviation; √(p(1−p)) for a rate).

    What sample-size planning needs as ``std``; None when it cannot be estimated yet.
    """
    check_choice("kind", kind, KINDS)
    if isinstance(stats, RatioStats):
        variance = stats.variance
    elif stats.n == 0 or (kind != "proportion" and stats.n < 2):
        variance = None
    else:
        variance = _y_variance(stats, kind)
    return math.sqrt(variance) if variance is not None and variance >= 0 else None


# --- the arms, reduced to what the tests need ---------------------------------------------------


@dataclass(frozen=True)
class _Arms:
    kind: str
    n_c: int
    n_t: int
    mean_c: float | None  # unadjusted means
    mean_t: float | None
    adj_mean_c: float  # CUPED-adjusted means (equal to the unadjusted ones without CUPED)
    adj_mean_t: float
    var_c: float | None  # per-user variances (CUPED-adjusted)
    var_t: float | None
    theta: float
    zero_denominator: bool

    @classmethod
    def build(
        cls, control: Stats | RatioStats, treatment: Stats | RatioStats, kind: str, cuped: bool
    ) -> _Arms:
        if isinstance(control, RatioStats) and isinstance(treatment, RatioStats):
            zero_den = control.den_sum == 0 or treatment.den_sum == 0
            mean_c, mean_t = control.mean, treatment.mean
            return cls(
                kind=kind,
                n_c=control.n,
                n_t=treatment.n,
                mean_c=mean_c,
                mean_t=mean_t,
                adj_mean_c=mean_c or 0.0,
                adj_mean_t=mean_t or 0.0,
                var_c=control.variance,
                var_t=treatment.variance,
                theta=0.0,
                zero_denominator=zero_den,
            )
        assert isinstance(control, Stats) and isinstance(treatment, Stats)
        mean_c, mean_t = control.mean, treatment.mean
        var_c = _y_variance(control, kind)
        var_t = _y_variance(treatment, kind)
        theta = _pooled_theta(control, treatment, kind) if cuped else 0.0
        adj_c, adj_t = mean_c or 0.0, mean_t or 0.0
        if theta != 0.0:
            # CUPED: y − θ(x − x̄) per user; per-arm V = s_y² + θ²s_x² − 2θ·s_xy.
            var_c = _adjusted_variance(control, kind, theta)
            var_t = _adjusted_variance(treatment, kind, theta)
            # An empty arm keeps its (empty) mean; its status says it is empty.
            if control.n:
                adj_c = adj_c - theta * _req(control.x_sum) / control.n
            if treatment.n:
                adj_t = adj_t - theta * _req(treatment.x_sum) / treatment.n
        return cls(
            kind=kind,
            n_c=control.n,
            n_t=treatment.n,
            mean_c=mean_c,
            mean_t=mean_t,
            adj_mean_c=adj_c,
            adj_mean_t=adj_t,
            var_c=var_c,
            var_t=var_t,
            theta=theta,
            zero_denominator=False,
        )

    def status(self) -> str:
        if self.n_c == 0 or self.n_t == 0:
            return "empty_arm"
        if self.n_c < 2 or self.n_t < 2:
            return "too_few_users"
        if self.zero_denominator:
            return "zero_denominator"
        # A zero baseline comes first, as in GrowthBook: the relative effect is undefined, but the
        # absolute difference still has a result whenever the two arms together have noise.
        if self.mean_c == 0:
            return "zero_control_mean"
        if (self.var_c or 0) <= 0 or (self.var_t or 0) <= 0:
            return "zero_variance"
        return "ok"


def _req(value: float | None) -> float:
    assert value is not None
    return value


def _sample_variance(n: int, total: float, squares: float) -> float:
    return (squares - total * total / n) / (n - 1)


def _y_variance(stats: Stats, kind: str) -> float | None:
    if stats.n == 0:
        return None
    if kind == "proportion":
        p = stats.sum / stats.n
        return p * (1 - p)
    return _sample_variance(stats.n, stats.sum, stats.sum_squares) if stats.n > 1 else 0.0


def _x_variance(n: int, x_sum: float, x_squares: float, kind: str) -> float:
    # A binary pre-period conversion is a proportion too (gbstats pairs ProportionStatistics).
    if kind == "proportion" and x_squares == x_sum:
        p = x_sum / n
        return p * (1 - p)
    return _sample_variance(n, x_sum, x_squares) if n > 1 else 0.0


def _covariance(n: int, y_sum: float, x_sum: float, xy_sum: float) -> float:
    return (xy_sum - y_sum * x_sum / n) / (n - 1) if n > 1 else 0.0


def _pooled_theta(control: Stats, treatment: Stats, kind: str) -> float:
    """CUPED slope θ = cov(y, x) / var(x), fitted once on both arms pooled (0 if undefined)."""
    n = control.n + treatment.n
    if n < 2:
        return 0.0
    y_sum = control.sum + treatment.sum
    y_sq = control.sum_squares + treatment.sum_squares
    x_sum = _req(control.x_sum) + _req(treatment.x_sum)
    x_sq = _req(control.x_sum_squares) + _req(treatment.x_sum_squares)
    xy = _req(control.xy_sum) + _req(treatment.xy_sum)
    if kind == "proportion":
        var_y = (y_sum / n) * (1 - y_sum / n)
    else:
        var_y = _sample_variance(n, y_sum, y_sq)
    var_x = _x_variance(n, x_sum, x_sq, kind)
    if var_x <= 0 or var_y <= 0:
        return 0.0
    return _covariance(n, y_sum, x_sum, xy) / var_x


def _adjusted_variance(stats: Stats, kind: str, theta: float) -> float | None:
    if stats.n < 2:
        return 0.0 if stats.n == 1 else None
    var_y = _req(_y_variance(stats, kind))
    var_x = _x_variance(stats.n, _req(stats.x_sum), _req(stats.x_sum_squares), kind)
    cov = _covariance(stats.n, stats.sum, _req(stats.x_sum), _req(stats.xy_sum))
    return var_y + theta * theta * var_x - 2 * theta * cov


def _ratio_variance(stats: RatioStats) -> float:
    n = stats.n
    m_mean, d_mean = stats.num_sum / n, stats.den_sum / n
    var_m = _sample_variance(n, stats.num_sum, stats.num_sum_squares)
    var_d = _sample_variance(n, stats.den_sum, stats.den_sum_squares)
    cov = _covariance(n, stats.num_sum, stats.den_sum, stats.num_den_sum)
    # Delta method for M/D per user.
    return var_m / d_mean**2 - 2 * cov * m_mean / d_mean**3 + m_mean**2 * var_d / d_mean**4


def _welch_dof(var_c: float, n_c: int, var_t: float, n_t: int) -> float:
    """Welch–Satterthwaite degrees of freedom."""
    a, b = var_t / n_t, var_c / n_c
    # Scaled by the larger term first: the degrees of freedom do not depend on the scale, and
    # squaring a variance of 1e-224 would underflow to a zero denominator.
    scale = max(a, b)
    if scale == 0:
        return float(n_t + n_c - 2)
    a, b = a / scale, b / scale
    return (a + b) ** 2 / (a * a / (n_t - 1) + b * b / (n_c - 1))


def _welch(estimate: float, variance: float, dof: float, alpha: float, scale: str) -> dict:
    se = math.sqrt(variance)
    # Student t quantile and tail (scipy.special's stdtrit/stdtr: t.ppf/t.sf without the overhead).
    half = float(stdtrit(dof, 1 - alpha / 2)) * se
    p = float(2 * stdtr(dof, -abs(estimate) / se))
    prefix = "" if scale == "relative" else "_absolute"
    return {f"{scale}_ci": (estimate - half, estimate + half), f"p_value{prefix}": min(p, 1.0)}


def sequential_rho(alpha: float, tuning: float) -> float:
    """Mixing parameter ρ of the confidence sequence: ρ² = (−2 ln α + ln(1 − 2 ln α)) / N*."""
    log_alpha = math.log(alpha)
    return math.sqrt((-2 * log_alpha + math.log(1 - 2 * log_alpha)) / tuning)


def _sequential(
    estimate: float, variance: float, n_total: int, rho: float, alpha: float, scale: str
) -> dict:
    # Waudby-Smith et al. (2023), asymptotic confidence sequence, eq. 9; p-value from eq. 155.
    s2 = variance * n_total
    nr2 = n_total * rho * rho + 1
    half = math.sqrt(s2 * 2 * nr2 * math.log(math.sqrt(nr2) / alpha) / (n_total * rho) ** 2)
    log_e = rho * rho * (estimate * estimate * n_total / variance) / (2 * nr2) - 0.5 * math.log(nr2)
    p = math.exp(-log_e) if log_e > 0 else 1.0
    prefix = "" if scale == "relative" else "_absolute"
    return {f"{scale}_ci": (estimate - half, estimate + half), f"p_value{prefix}": min(p, 1.0)}


def _bayesian(
    estimate: float,
    variance: float,
    prior_sd: float | None,
    alpha: float,
    inverse: bool,
    scale: str,
) -> dict:
    # Normal likelihood for the effect; flat prior, or Normal(0, prior_sd²) (precision-weighted).
    precision = 1 / variance + (0.0 if prior_sd is None else 1 / prior_sd**2)
    mean = estimate / variance / precision if prior_sd is not None else estimate
    sd = math.sqrt(1 / precision)
    z_half = float(ndtri(1 - alpha / 2))
    low, high = mean - z_half * sd, mean + z_half * sd
    # Two-sided posterior tail, 2·min(P(effect > 0), P(effect < 0)): below alpha exactly when the
    # credible interval excludes 0, so the p-value matches its interval as in the other methods.
    p_tail = min(1.0, 2 * float(ndtr(-abs(mean) / sd)))
    prefix = "" if scale == "relative" else "_absolute"
    out: dict[str, object] = {f"{scale}_ci": (low, high), f"p_value{prefix}": p_tail}
    if scale == "relative":
        z = mean / sd
        p_up = float(ndtr(z))  # P(effect > 0)
        density = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
        # Expected loss: E[max(effect, 0)] of keeping control, E[max(−effect, 0)] of shipping.
        gain = mean * p_up + sd * density
        loss = -mean * float(ndtr(-z)) + sd * density
        out.update(
            relative_effect=mean,
            std_error=sd,
            chance_to_win=1 - p_up if inverse else p_up,
            risk_control=loss if inverse else gain,
            risk_treatment=gain if inverse else loss,
        )
    else:
        out.update(absolute_effect=mean, std_error_absolute=sd)
    return out


def _replace(base: Comparison, **changes: object) -> Comparison:
    return replace(base, **changes)  # type: ignore[arg-type]
