"""Planning and guarding an experiment: sample size, detectable effect, duration, SRM, and the
statistics of two arms typed in by hand.

The formulas (:func:`sample_size`, :func:`minimum_detectable_effect`, :func:`test_duration_days`)
raise ``ValueError`` for arguments a program got wrong. What a person types into a form, and what
the data does not allow yet, comes back as a result with a status code instead (:func:`plan`,
:func:`need`, :func:`typed_in`); the page puts each code into words (docs/experiments.md,
"Planning").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import polars as pl
from scipy.stats import chi2, norm

from metrics._common import check_choice
from metrics.experiments.definitions import comparison_row, result_frame
from metrics.experiments.statistics import (
    KINDS,
    METHODS,
    Comparison,
    Kind,
    Method,
    Stats,
    compare,
    per_user_std,
)

PlanKind = Literal["proportion", "mean"]
Correction = Literal["holm", "bh"]

PLAN_KINDS: tuple[str, ...] = ("proportion", "mean")
CORRECTIONS: tuple[str, ...] = ("holm", "bh")


@dataclass(frozen=True)
class SrmResult:
    """Sample-ratio mismatch check: did users land in the variants in the intended proportions?

    ``mismatch`` is True when ``p_value < threshold``: the split is so far off plan that the
    assignment (or the tracking of exposures) is probably broken and no lift should be trusted.
    """

    p_value: float
    mismatch: bool
    chi_square: float
    dof: int
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    threshold: float
    variants: tuple[str, ...] | None = None

    @property
    def status(self) -> str:
        if sum(self.observed) == 0:
            return "no_users"
        return "mismatch" if self.mismatch else "ok"


def srm(
    observed: Sequence[float] | Mapping[str, float],
    weights: Sequence[float] | Mapping[str, float] | None = None,
    *,
    threshold: float = 0.001,
) -> SrmResult:
    """Is the assignment split what was planned? Chi-square goodness of fit of users per variant.

    ``observed`` are users per variant (a list, or a mapping variant -> users); ``weights`` the
    intended split in the same order or by the same names (any scale; equal when omitted).
    As GrowthBook, a variant with weight 0 adds nothing to the statistic but still counts in the
    degrees of freedom (number of variants − 1). No users at all gives p = 1.
    """
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be between 0 and 1, not {threshold!r}")
    names: tuple[str, ...] | None = None
    if isinstance(observed, Mapping):
        names = tuple(str(k) for k in observed)
        counts = [observed[k] for k in observed]
        if isinstance(weights, Mapping):
            missing = [k for k in observed if k not in weights]
            if missing:
                raise ValueError(f"weights has no entry for variant(s) {missing}")
            planned = [float(weights[k]) for k in observed]
        elif weights is None:
            planned = [1.0] * len(counts)
        else:
            planned = [float(w) for w in weights]
    else:
        counts = list(observed)
        if isinstance(weights, Mapping):
            raise ValueError("weights can be a mapping only when observed is a mapping too")
        planned = [1.0] * len(counts) if weights is None else [float(w) for w in weights]
    if len(counts) < 2:
        raise ValueError("observed needs at least two variants")
    if len(planned) != len(counts):
        raise ValueError(f"weights has {len(planned)} entries but observed has {len(counts)}")
    users: list[int] = []
    for value in counts:
        number = float(value)
        if not math.isfinite(number) or number < 0 or number != int(number):
            raise ValueError(f"observed must hold whole numbers of users >= 0, not {value!r}")
        users.append(int(number))
    if any(not math.isfinite(w) or w < 0 for w in planned) or sum(planned) <= 0:
        raise ValueError("weights must be finite, >= 0 and not all zero")
    total, weight_total = sum(users), sum(planned)
    expected = tuple(w / weight_total * total for w in planned)
    dof = len(users) - 1
    if total == 0:
        return SrmResult(1.0, False, 0.0, dof, tuple(users), expected, threshold, names)
    statistic = sum((o - e) ** 2 / e for o, e in zip(users, expected, strict=True) if e > 0)
    p_value = float(chi2.sf(statistic, dof))
    return SrmResult(
        p_value, p_value < threshold, statistic, dof, tuple(users), expected, threshold, names
    )


def adjust_p_values(
    p_values: Sequence[float | None], method: Correction = "holm"
) -> list[float | None]:
    """P-values corrected for looking at many variants × metrics at once.

    "holm" (Holm–Bonferroni) keeps the chance of *any* false winner below alpha; "bh"
    (Benjamini–Hochberg) keeps the expected *share* of false winners below alpha (less strict).
    None entries (tests that could not run) stay None and do not count as tests.
    """
    check_choice("method", method, CORRECTIONS)
    present = [(i, float(p)) for i, p in enumerate(p_values) if p is not None]
    for _, p in present:
        if not 0 <= p <= 1 or math.isnan(p):
            raise ValueError(f"p_values must lie in [0, 1], not {p!r}")
    out: list[float | None] = [None] * len(p_values)
    m = len(present)
    if m == 0:
        return out
    ranked = sorted(present, key=lambda item: item[1])
    if method == "holm":
        running = 0.0
        for rank, (index, p) in enumerate(ranked):
            running = max(running, min(1.0, (m - rank) * p))
            out[index] = running
    else:
        running = 1.0
        for rank in range(m - 1, -1, -1):
            index, p = ranked[rank]
            running = min(running, min(1.0, m / (rank + 1) * p))
            out[index] = running
    return out


def _z_total(alpha: float, power: float) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha!r}")
    if not 0 < power < 1:
        raise ValueError(f"power must be between 0 and 1, not {power!r}")
    return float(norm.ppf(1 - alpha / 2) + norm.ppf(power))


def _check_plan(baseline: float, kind: str, std: float | None) -> None:
    check_choice("kind", kind, PLAN_KINDS)
    if not math.isfinite(baseline):
        raise ValueError(f"baseline must be a finite number, not {baseline!r}")
    if kind == "proportion" and not 0 < baseline < 1:
        raise ValueError(f"baseline must be a rate between 0 and 1 (exclusive), not {baseline!r}")
    if kind == "mean" and (std is None or not math.isfinite(std) or std <= 0):
        raise ValueError("std (the per-user standard deviation, > 0) is required for kind='mean'")


def sample_size(
    baseline: float,
    mde: float,
    *,
    relative: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
    kind: PlanKind = "proportion",
    std: float | None = None,
) -> int:
    """Users needed in *each* arm to detect a change of ``mde`` with the given power (two-sided).

    n = (z₁₋α/₂ + z_power)² · (p₁q₁ + p₂q₂) / δ², each arm with its own variance, where
    p₂ = p₁(1 + mde) when ``relative`` else p₁ + mde. For means (``kind="mean"``) 2σ² replaces
    p₁q₁ + p₂q₂, with σ = ``std``.
    """
    _check_plan(baseline, kind, std)
    if not math.isfinite(mde) or mde == 0:
        raise ValueError(f"mde must be a non-zero number, not {mde!r}")
    if relative and baseline == 0:
        raise ValueError("baseline is 0, so a relative mde is 0: give an absolute mde")
    n = _required(baseline, mde, relative=relative, alpha=alpha, power=power, kind=kind, std=std)
    if n is None:
        treated = baseline * (1 + mde) if relative else baseline + mde
        raise ValueError(
            f"baseline {baseline} moved by mde {mde} gives a rate of {treated:.4g}, outside (0, 1)"
        )
    return n


def _required(
    baseline: float,
    mde: float,
    *,
    relative: bool,
    alpha: float,
    power: float,
    kind: PlanKind,
    std: float | None,
) -> int | None:
    """:func:`sample_size` for checked arguments; None when the change moves a rate outside
    (0, 1)."""
    delta = abs(baseline * mde) if relative else abs(mde)
    z = _z_total(alpha, power)
    if kind == "proportion":
        treated = baseline * (1 + mde) if relative else baseline + mde
        if not 0 < treated < 1:
            return None
        spread = baseline * (1 - baseline) + treated * (1 - treated)
    else:
        assert std is not None
        spread = 2 * std * std
    n = z * z * spread / (delta * delta)
    # Round away float noise before ceil, so 3841.0000000002 users stays 3841.
    return max(1, math.ceil(round(n, 6)))


def minimum_detectable_effect(
    n_per_arm: float,
    baseline: float,
    *,
    relative: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
    kind: PlanKind = "proportion",
    std: float | None = None,
) -> float | None:
    """The smallest upward change ``n_per_arm`` users per arm detect with the given power.

    Solves the :func:`sample_size` equation for the effect (relative to ``baseline`` when
    ``relative``). None when no rate below 100% is detectable with so few users.
    """
    _check_plan(baseline, kind, std)
    if not math.isfinite(n_per_arm) or n_per_arm <= 0:
        raise ValueError(f"n_per_arm must be a positive number of users, not {n_per_arm!r}")
    z = _z_total(alpha, power)
    if kind == "mean":
        assert std is not None
        delta = z * std * math.sqrt(2 / n_per_arm)
    else:
        # n(p₂ − p₁)² = z²(p₁q₁ + p₂q₂) is a quadratic in p₂; the upper root is the detectable rate.
        n, p1, z2 = float(n_per_arm), baseline, z * z
        a = n + z2
        b = -(2 * n * p1 + z2)
        c = n * p1 * p1 - z2 * p1 * (1 - p1)
        p2 = (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
        if p2 >= 1:
            return None
        delta = p2 - p1
    if relative:
        if baseline == 0:
            return None
        return delta / abs(baseline)
    return delta


def test_duration_days(
    baseline: float,
    mde: float,
    daily_users: float,
    *,
    arms: int = 2,
    enrolled_per_arm: float = 0,
    relative: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
    kind: PlanKind = "proportion",
    std: float | None = None,
) -> int:
    """Days the test still needs at ``daily_users`` new users a day (all arms together).

    Needs :func:`sample_size` users in each of ``arms`` arms; ``enrolled_per_arm`` users already
    in each arm count towards it. 0 when the test already has enough users.
    """
    if not math.isfinite(daily_users) or daily_users <= 0:
        raise ValueError(f"daily_users must be a positive number, not {daily_users!r}")
    if arms < 2:
        raise ValueError(f"arms must be at least 2, not {arms!r}")
    if not math.isfinite(enrolled_per_arm) or enrolled_per_arm < 0:
        raise ValueError(f"enrolled_per_arm must be >= 0, not {enrolled_per_arm!r}")
    needed = sample_size(
        baseline, mde, relative=relative, alpha=alpha, power=power, kind=kind, std=std
    )
    return _days(needed, enrolled_per_arm, arms, daily_users)


def _days(needed_per_arm: int, enrolled_per_arm: float, arms: int, daily_users: float) -> int:
    missing = max(0.0, needed_per_arm - enrolled_per_arm)
    return math.ceil(round(missing * arms / daily_users, 6))


# --- planning a test from a form --------------------------------------------------------------

#: What can stand in the way of a plan, each a code the page words.
PlanProblem = Literal[
    "baseline_not_a_number",  # the current value is missing or not a finite number
    "baseline_not_a_rate",  # a conversion rate must lie strictly between 0 and 1
    "no_spread",  # an average needs its standard deviation between users, above 0
    "no_lift",  # the lift to detect is missing or 0
    "zero_baseline",  # a lift in % of a current value of 0 is 0
    "lift_beyond_rate",  # the lift moves the rate to 0 or 1 or beyond
    "bad_traffic",  # users a day must be a number, 0 or more
    "too_few_variants",  # a test has 2 variants or more (control included), a whole number
]
PLAN_PROBLEMS: tuple[PlanProblem, ...] = get_args(PlanProblem)
#: The lifts the planning curve shows (relative to the current value).
CURVE_LIFTS: tuple[float, ...] = (0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5)


@dataclass(frozen=True)
class Plan:
    """How big a test must be: users per variant, days at the expected traffic, what four weeks
    could detect, and users per variant for each lift of :data:`CURVE_LIFTS` (``curve``, the
    lifts a rate can take). ``problems`` lists every reason there is no plan (then the numbers
    are None); ``status`` is "ok" or the first of them."""

    problems: tuple[PlanProblem, ...] = ()
    users_per_arm: int | None = None
    arms: int = 2
    days: int | None = None
    four_week_mde: float | None = None
    curve: tuple[tuple[float, int], ...] = ()

    @property
    def status(self) -> Literal["ok"] | PlanProblem:
        return self.problems[0] if self.problems else "ok"

    @property
    def total_users(self) -> int | None:
        return None if self.users_per_arm is None else self.users_per_arm * self.arms


def _number(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def plan(
    *,
    kind: PlanKind,
    baseline: float | None,
    mde: float | None,
    std: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    daily_users: float | None = 0.0,
    arms: float | None = 2,
) -> Plan:
    """Users per variant to detect a relative change of ``mde`` over ``baseline`` (a rate for
    ``kind="proportion"``, an average with per-user ``std`` for "mean"), and the days that takes
    at ``daily_users`` new users a day over ``arms`` variants (none without traffic), as
    :func:`sample_size` and :func:`test_duration_days` compute them.

    Numbers typed into a form that cannot make a plan come back as :attr:`Plan.problems`, all of
    them at once; ``kind``, ``alpha`` and ``power`` are the program's to get right (ValueError).
    """
    check_choice("kind", kind, PLAN_KINDS)
    _z_total(alpha, power)
    problems: list[PlanProblem] = []
    if baseline is None or not math.isfinite(baseline):
        problems.append("baseline_not_a_number")
    elif kind == "proportion" and not 0 < baseline < 1:
        problems.append("baseline_not_a_rate")
    if kind == "mean" and (std is None or not math.isfinite(std) or std <= 0):
        problems.append("no_spread")
    if mde is None or not math.isfinite(mde) or mde == 0:
        problems.append("no_lift")
    elif kind == "mean" and baseline == 0:
        problems.append("zero_baseline")
    if daily_users is None or not math.isfinite(daily_users) or daily_users < 0:
        problems.append("bad_traffic")
    if arms is None or not math.isfinite(arms) or arms < 2 or arms != int(arms):
        problems.append("too_few_variants")
    if problems:
        return Plan(tuple(problems))
    assert baseline is not None and mde is not None and daily_users is not None
    assert arms is not None
    variants = int(arms)

    def required(lift: float) -> int | None:
        return _required(
            baseline, lift, relative=True, alpha=alpha, power=power, kind=kind, std=std
        )

    per_arm = required(mde)
    if per_arm is None:
        return Plan(("lift_beyond_rate",), arms=variants)
    four_weeks = None
    days = None
    if daily_users > 0:
        days = _days(per_arm, 0.0, variants, daily_users)
        # What a four-week test at this traffic could detect, for comparison.
        four_weeks = minimum_detectable_effect(
            daily_users * 28 / variants, baseline, alpha=alpha, power=power, kind=kind, std=std
        )
    curve = tuple((lift, n) for lift in CURVE_LIFTS if (n := required(lift)) is not None)
    return Plan(
        users_per_arm=per_arm, arms=variants, days=days, four_week_mde=four_weeks, curve=curve
    )


# --- how far a running test is from an answer ---------------------------------------------------

#: Why the data cannot say yet how many users a test needs: no control average to plan from (none
#: yet, 0, or a rate of 100%), no spread between users for an average, or a lift that would move
#: the control's rate to 100% or beyond.
NeedStatus = Literal["ok", "no_baseline", "no_spread", "lift_beyond_rate"]


@dataclass(frozen=True)
class Need:
    """How far a test is from answering: users per variant it needs, and the days still needed
    at its traffic (None without traffic, or when ``status`` says the data cannot tell)."""

    status: NeedStatus
    users_per_arm: int | None = None
    days: int | None = None


def need(
    *,
    kind: Kind,
    control_mean: float | None,
    control_std: float | None,
    mde: float,
    daily_users: float | None,
    arms: int,
    enrolled_per_arm: float,
) -> Need:
    """Users per variant to detect a relative change of ``mde`` over the control's observed
    average (a rate for ``kind="proportion"``, else an average with spread ``control_std``), and
    the days still needed at ``daily_users`` new users a day with ``enrolled_per_arm`` in each of
    ``arms`` variants already (docs/experiments.md, "Planning")."""
    check_choice("kind", kind, KINDS)
    if not math.isfinite(mde) or mde == 0:
        raise ValueError(f"mde must be a non-zero number, not {mde!r}")
    plan_kind: PlanKind = "proportion" if kind == "proportion" else "mean"
    if control_mean is None or not math.isfinite(control_mean) or control_mean == 0:
        return Need("no_baseline")
    if plan_kind == "proportion" and not 0 < control_mean < 1:
        return Need("no_baseline")
    std = None
    if plan_kind == "mean":
        if control_std is None or not math.isfinite(control_std) or control_std <= 0:
            return Need("no_spread")
        std = control_std
    level = control_mean if plan_kind == "proportion" else abs(control_mean)
    users = _required(level, mde, relative=True, alpha=0.05, power=0.8, kind=plan_kind, std=std)
    if users is None:
        return Need("lift_beyond_rate")
    days = None
    if daily_users is not None and daily_users > 0 and arms >= 2:
        days = _days(users, max(0.0, enrolled_per_arm), arms, daily_users)
    return Need("ok", users, days)


# --- two arms typed in by hand ------------------------------------------------------------------

Arm = Literal["control", "treatment"]
TypedCode = Literal[
    "users_not_whole",  # users must be a whole number, 0 or more
    "conversions_not_whole",  # conversions must be a whole number, 0 or more
    "conversions_above_users",  # more conversions than users (each user converts once at most)
    "mean_not_a_number",  # the average must be a finite number
    "std_not_a_number",  # the standard deviation must be a finite number, 0 or more
    "share_out_of_range",  # the planned treatment share must lie strictly between 0 and 1
]


@dataclass(frozen=True)
class TypedArm:
    """One arm as typed in: users and either conversions or the average and its spread."""

    users: float | None
    conversions: float | None = None
    mean: float | None = None
    std: float | None = None


@dataclass(frozen=True)
class TypedProblem:
    """What is wrong with the numbers typed in, and in which arm (None: the planned split)."""

    code: TypedCode
    arm: Arm | None = None


@dataclass(frozen=True)
class TypedIn:
    """Two typed-in arms compared, or ``problems`` saying (all at once) why they cannot be."""

    kind: PlanKind
    method: Method
    problems: tuple[TypedProblem, ...] = ()
    control: Stats | None = None
    treatment: Stats | None = None
    comparison: Comparison | None = None
    split: SrmResult | None = None

    @property
    def status(self) -> Literal["ok", "problems"]:
        return "problems" if self.problems else "ok"

    def frame(self) -> pl.DataFrame:
        """The comparison in ``analyze``'s columns: a control row and a treatment row ("typed
        in"); empty when there are problems."""
        if self.control is None or self.treatment is None or self.comparison is None:
            return result_frame([], None)
        assert self.split is not None
        common: dict[str, Any] = {
            "metric": "typed in",
            "kind": self.kind,
            "method": self.method,
            "srm_p_value": self.split.p_value,
            "srm_mismatch": self.split.mismatch,
            "excluded_users": 0,
        }
        control_row = {
            **common,
            "variant": "control",
            "is_control": True,
            "users": self.control.n,
            "mean": self.comparison.control_mean,
            "std": per_user_std(self.control, self.kind),
            "control_mean": self.comparison.control_mean,
            "status": "control",
        }
        treatment_row = {
            **common,
            **comparison_row(self.comparison),
            "variant": "treatment",
            "is_control": False,
            "users": self.treatment.n,
            "std": per_user_std(self.treatment, self.kind),
        }
        return result_frame([control_row, treatment_row], None)


def _whole(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value >= 0 and value == int(value)


def _typed_stats(arm: TypedArm, name: Arm, kind: PlanKind) -> Stats | list[TypedProblem]:
    if arm.users is None or not _whole(arm.users):
        return [TypedProblem("users_not_whole", name)]
    users = int(arm.users)
    if kind == "proportion":
        hits = arm.conversions
        if hits is None or not _whole(hits):
            return [TypedProblem("conversions_not_whole", name)]
        if hits > users:
            return [TypedProblem("conversions_above_users", name)]
        return Stats.proportion(int(hits), users)
    if not _number(arm.mean):
        return [TypedProblem("mean_not_a_number", name)]
    if arm.std is None or not math.isfinite(arm.std) or arm.std < 0:
        return [TypedProblem("std_not_a_number", name)]
    assert arm.mean is not None
    # Sums that reproduce the typed mean and (ddof=1) standard deviation exactly.
    squares = (users - 1) * arm.std * arm.std + users * arm.mean * arm.mean if users > 0 else 0.0
    return Stats(users, users * arm.mean, squares)


def typed_in(
    control: TypedArm,
    treatment: TypedArm,
    *,
    kind: PlanKind,
    method: Method = "frequentist",
    alpha: float = 0.05,
    inverse: bool = False,
    treatment_share: float | None = 0.5,
) -> TypedIn:
    """Compare two arms typed in by hand (conversions of users, or an average and its spread per
    user) with :func:`~metrics.experiments.compare`, and check the split against the planned
    ``treatment_share`` with :func:`srm`. Every problem with the numbers comes back in
    :attr:`TypedIn.problems`, never as an exception."""
    check_choice("kind", kind, PLAN_KINDS)
    check_choice("method", method, METHODS)
    problems: list[TypedProblem] = []
    arms: list[Stats] = []
    typed: tuple[tuple[Arm, TypedArm], ...] = (("control", control), ("treatment", treatment))
    for name, arm in typed:
        checked = _typed_stats(arm, name, kind)
        if isinstance(checked, Stats):
            arms.append(checked)
        else:
            problems += checked
    share = treatment_share
    if share is None or not math.isfinite(share) or not 0 < share < 1:
        problems.append(TypedProblem("share_out_of_range"))
    if problems:
        return TypedIn(kind, method, tuple(problems))
    assert share is not None
    base, treated = arms
    comparison = compare(base, treated, kind=kind, method=method, alpha=alpha, inverse=inverse)
    split = srm([base.n, treated.n], [1 - share, share])
    return TypedIn(kind, method, (), base, treated, comparison, split)


# pytest would otherwise collect this public function as a test when a test module imports it.
test_duration_days.__test__ = False  # type: ignore[attr-defined]
