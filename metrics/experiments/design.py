"""Planning and guarding an experiment: sample size, detectable effect, duration, SRM."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from scipy.stats import chi2, norm

from metrics._common import check_choice

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
    delta = abs(baseline * mde) if relative else abs(mde)
    if delta == 0:
        raise ValueError("baseline is 0, so a relative mde is 0: give an absolute mde")
    z = _z_total(alpha, power)
    if kind == "proportion":
        treated = baseline * (1 + mde) if relative else baseline + mde
        if not 0 < treated < 1:
            raise ValueError(
                f"baseline {baseline} moved by mde {mde} gives a rate of {treated:.4g}, "
                "outside (0, 1)"
            )
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
    missing = max(0.0, needed - enrolled_per_arm)
    return math.ceil(round(missing * arms / daily_users, 6))


# pytest would otherwise collect this public function as a test when a test module imports it.
test_duration_days.__test__ = False  # type: ignore[attr-defined]
