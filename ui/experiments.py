"""Thin adapters between the Experiments page and :mod:`metrics.experiments`.

Cached functions take the *source key* (:func:`ui.data.source_key`: name and load generation) and
plain parameters (cheap to hash) and fetch the frames from :mod:`ui.data`; the rest turns results
into what a PM reads: plain words for every status and verdict, percentages, and the days a test
still needs at the traffic it gets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import polars as pl
import streamlit as st

from metrics import experiments as ex
from ui import data, engine
from ui.catalogue import event_counts
from ui.text import md
from ui.words import per_user

#: Statuses (metrics.experiments codes, plus the control row) in a PM's words.
STATUS_WORDS: dict[str, str] = {
    **ex.STATUS_MESSAGES,
    "control": "The baseline the others are compared with.",
}
METHOD_LABELS: dict[str, str] = {
    "frequentist": "Fixed horizon (t-test): read once, at the planned end",
    "sequential": "Sequential: safe to check every day",
    "bayesian": "Bayesian: chance to win and risk",
}
CORRECTION_LABELS: dict[str | None, str] = {
    None: "no correction",
    "holm": "Holm (no false winner at all)",
    "bh": "Benjamini–Hochberg (few false winners)",
}
HAND_KINDS: dict[str, str] = {
    "proportion": "Conversions (users who did it)",
    "mean": "An average per user (revenue, time, …)",
}
FOREST_DEFINITION: dict[str, str] = {
    "frequentist": (
        "Dot: the variant's lift over control, (variant − control) / control. Bar: the "
        "confidence interval (Welch t-test, delta method). A bar that crosses 0 means no clear "
        "difference yet. Read once, when the planned sample is reached."
    ),
    "sequential": (
        "Dot: the lift over control. Bar: an always-valid confidence sequence, wider than a "
        "fixed-horizon interval but safe to check every day. A bar clear of 0 is a result."
    ),
    "bayesian": (
        "Dot: the most likely lift over control. Bar: the credible interval (the lift lies "
        "inside with the chosen confidence). Chance to win: probability the variant is better."
    ),
}
DAILY_DEFINITION = (
    "The lift as it read at the end of each day: every user exposed so far, their events up to "
    "that day. Early days swing; a line that settles with a band clear of 0 is a result."
)
PLAN_DEFINITION = (
    "Users per variant = (z for the confidence + z for the power)² × (each variant's variance) "
    "/ lift², two-sided. Days = users in all variants / users per day."
)
#: Events that describe the experiment itself, never a goal.
NOT_GOALS = {"experiment_exposure"}


# --- experiments in the data ---------------------------------------------------------------------


def _assignments() -> Any:
    # A relation (a source computed in its engine) stays there: the functions compute on it.
    assignments = data.assignments()
    if assignments is None or (isinstance(assignments, pl.DataFrame) and assignments.height == 0):
        return None
    return assignments


@engine.cached(max_entries=4, show_spinner=False)
def experiments(source: str) -> pl.DataFrame:
    """The source's experiments (name, variants, users, first and last exposure); empty if none."""
    assignments = _assignments()
    if assignments is None:
        return pl.DataFrame(
            schema={"experiment": pl.String, "variants": pl.List(pl.String), "users": pl.UInt32}
        )
    return ex.list_experiments(assignments)


@engine.cached(max_entries=8, show_spinner=False)
def traffic(source: str, experiment: str) -> pl.DataFrame:
    """Users per variant, the days they arrived over, and users a day."""
    assignments = _assignments()
    if assignments is None:
        return pl.DataFrame()
    return ex.assignment_counts(assignments, experiment=experiment)


@st.cache_data(max_entries=4, show_spinner=False)
def metric_catalogue(source: str) -> dict[str, ex.Metric]:
    """Every metric a PM can pick, by name: for each event its conversion and count per user, and
    where events carry revenue, revenue per user and revenue per event (a ratio)."""
    counted = event_counts(source)  # ui.catalogue: from the engine for a source computed there
    catalogue: dict[str, ex.Metric] = {}
    for row in counted.iter_rows(named=True):
        event = row["event"]
        if event in NOT_GOALS:
            continue
        catalogue[f"{event} conversion"] = ex.Conversion(event, name=f"{event} conversion")
        catalogue[per_user(event)] = ex.Count(event, name=per_user(event))
        if row["with_revenue"]:
            catalogue[f"revenue per user ({event})"] = ex.Sum(
                event, "revenue", name=f"revenue per user ({event})"
            )
            catalogue[f"revenue per {event}"] = ex.Ratio(
                ex.Sum(event, "revenue"), ex.Count(event), name=f"revenue per {event}"
            )
    return catalogue


def variants_of(listing: pl.DataFrame, experiment: str) -> list[str]:
    """The experiment's variants, from :func:`experiments`' listing."""
    picked = listing.filter(pl.col("experiment") == experiment)
    return picked["variants"][0].to_list() if picked.height else []


def control_index(variants: list[str]) -> int:
    """Preselect the variant that looks like the control."""
    for i, name in enumerate(variants):
        if name.lower() in ("control", "baseline", "original", "a", "off"):
            return i
    return 0


def target_share(percent: float | None) -> float:
    """A lift typed in percent as a share (5 -> 0.05); 5% when the input is unusable."""
    if percent is None or not math.isfinite(percent) or percent == 0:
        return 0.05
    return abs(percent) / 100


def default_metrics(catalogue: dict[str, ex.Metric]) -> list[str]:
    """A sensible first pick: purchase conversion and revenue per user when the data has them."""
    preferred = [
        name for name in ("purchase conversion", "revenue per user (purchase)") if name in catalogue
    ]
    return preferred or list(catalogue)[:1]


def properties(source: str) -> list[str]:
    """Properties a result can be split by (few distinct values), for the segment picker."""
    from ui.catalogue import properties as offered

    return sorted(offered(source))


@dataclass(frozen=True)
class Settings:
    """What the page's controls say, hashable so the cache can key on it."""

    experiment: str
    control: str
    metrics: tuple[str, ...]
    method: str = "frequentist"
    alpha: float = 0.05
    cuped: bool = True
    window: int | None = None
    winsorize: float | None = None
    segment: str | None = None
    correction: str | None = None
    inverse: tuple[str, ...] = ()


def settings_from(
    *,
    experiment: str | None,
    control: str | None,
    metrics: list[str],
    method: str,
    alpha: float,
    cuped: bool,
    window: float | None,
    winsorize: float | None,
    segment: str | None,
    correction: str | None,
    inverse: list[str],
    target: float | None,
) -> tuple[Settings | None, list[str]]:
    """The page's controls as :class:`Settings`, or None with what to fix (never an exception)."""
    problems: list[str] = []
    if not experiment or not control:
        problems.append("Pick an experiment and its control.")
    if not metrics:
        problems.append("Pick at least one metric.")
    days: int | None = None
    if window is not None and (not math.isfinite(window) or window < 0 or window != int(window)):
        problems.append("The window must be a whole number of days, 0 or more (0 = no limit).")
    elif window:
        days = int(window)
    if target is None or not math.isfinite(target) or target == 0:
        problems.append("The smallest lift worth detecting must be a number other than 0.")
    if problems:
        return None, problems
    assert experiment is not None and control is not None
    return (
        Settings(
            experiment=experiment,
            control=control,
            metrics=tuple(metrics),
            method=method,
            alpha=alpha,
            cuped=cuped,
            window=days,
            winsorize=winsorize,
            segment=segment,
            correction=correction,
            inverse=tuple(i for i in inverse if i in metrics),
        ),
        [],
    )


def _metrics(source: str, settings: Settings) -> list[ex.Metric]:
    catalogue = metric_catalogue(source)
    chosen = []
    for name in settings.metrics:
        metric = catalogue[name]
        if name in settings.inverse:
            metric = replace(metric, inverse=True)
        chosen.append(metric)
    return chosen


@engine.cached(max_entries=16, show_spinner="Analysing the experiment…")
def results(source: str, settings: Settings) -> pl.DataFrame:
    """One row per metric × variant (metrics.experiments.analyze)."""
    assignments = _assignments()
    if assignments is None or not settings.metrics:
        return pl.DataFrame()
    return ex.analyze(
        data.events(),
        assignments,
        experiment=settings.experiment,
        metrics=_metrics(source, settings),
        control=settings.control,
        method=settings.method,  # type: ignore[arg-type]
        alpha=settings.alpha,
        cuped=settings.cuped,
        window=settings.window,
        winsorize=settings.winsorize,
        segment=settings.segment,
        correction=settings.correction,  # type: ignore[arg-type]
    )


@engine.cached(max_entries=16, show_spinner="Computing the effect day by day…")
def daily(source: str, settings: Settings, metric: str) -> pl.DataFrame:
    """The metric's effect as of the end of each day (metrics.experiments.cumulative_effect)."""
    assignments = _assignments()
    if assignments is None:
        return pl.DataFrame()
    (chosen,) = _metrics(source, replace(settings, metrics=(metric,)))
    return ex.cumulative_effect(
        data.events(),
        assignments,
        experiment=settings.experiment,
        metric=chosen,
        control=settings.control,
        method=settings.method,  # type: ignore[arg-type]
        alpha=settings.alpha,
        cuped=settings.cuped,
        window=settings.window,
        winsorize=settings.winsorize,
    )


# --- plain words ---------------------------------------------------------------------------------


def pct(value: float | None, digits: int = 1, sign: bool = True) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value * 100:{'+' if sign else ''}.{digits}f}%"


def num(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def srm_banner(frame: pl.DataFrame) -> dict[str, Any]:
    """The split check in words: level ("error"/"success"/"info"), message (Markdown, the variant
    and segment names escaped), and mismatch.

    Per segment (when results are split) any segment whose split is off counts as a mismatch.
    """
    if frame.height == 0 or "srm_p_value" not in frame.columns:
        return {"level": "info", "message": "No users in this experiment yet.", "mismatch": False}
    excluded = int(frame["excluded_users"][0] or 0)
    first_metric = frame.filter(pl.col("metric") == frame["metric"][0])
    keys = ["segment"] if "segment" in frame.columns else []
    checks = first_metric.group_by(keys or pl.lit(0), maintain_order=True).agg(
        pl.col("srm_p_value").first(), pl.col("srm_mismatch").first()
    )
    counts = first_metric.group_by("variant", maintain_order=True).agg(pl.col("users").sum())
    split = ", ".join(f"{md(r['variant'])} {r['users']:,}" for r in counts.iter_rows(named=True))
    tested = checks.filter(pl.col("srm_p_value").is_not_null())
    if tested.height == 0:
        return {
            "level": "info",
            "message": f"Only one variant so far ({split}).",
            "mismatch": False,
        }
    worst = tested.sort("srm_p_value").row(0, named=True)
    if tested["srm_mismatch"].any():
        where = f" in segment '{md(worst['segment'])}'" if keys else ""
        return {
            "level": "error",
            "mismatch": True,
            "message": (
                f"Sample ratio mismatch{where}: users did not split as planned ({split}; "
                f"chance of a split this uneven by luck p = {worst['srm_p_value']:.2g}). "
                "Assignment or exposure tracking is probably broken, so the lifts below cannot "
                "be trusted."
            ),
        }
    note = f" {excluded:,} users saw several variants and are left out." if excluded else ""
    lowest = " (lowest over segments)" if keys else ""
    return {
        "level": "success",
        "mismatch": False,
        "message": (
            f"Traffic split as planned ({split}; SRM check p = {worst['srm_p_value']:.2g}"
            f"{lowest}).{note}"
        ),
    }


def downloadable(frame: pl.DataFrame) -> pl.DataFrame:
    """The results without their list columns (CSV has no lists; low/high columns remain)."""
    nested = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.List)]
    return frame.drop(nested)


def users_per_day(traffic_frame: pl.DataFrame | None) -> float | None:
    """New users a day across all variants, over the days the experiment has run."""
    if traffic_frame is None or traffic_frame.height == 0:
        return None
    clean = traffic_frame.filter(pl.col("variant") != "(several)")
    if clean.height == 0:
        return None
    days = (clean["last_day"].max() - clean["first_day"].min()).days + 1  # type: ignore[operator]
    return float(clean["users"].sum()) / max(days, 1)


@dataclass(frozen=True)
class Need:
    """How far a test is from answering: users per variant it needs, and days at its traffic."""

    users_per_arm: int | None
    days: int | None


def need(
    row: dict[str, Any], *, target_mde: float, per_day: float | None, arms: int, enrolled: int
) -> Need:
    """Users per variant to detect a ``target_mde`` relative change, and the days still needed
    at ``per_day`` new users a day (None where the data cannot say yet)."""
    baseline, kind, std = row.get("control_mean"), row.get("kind"), row.get("control_std")
    if baseline is None or baseline == 0:
        return Need(None, None)
    plan_kind = "proportion" if kind == "proportion" else "mean"
    if plan_kind == "mean" and (std is None or std <= 0):
        return Need(None, None)
    options: dict[str, Any] = {"kind": plan_kind, "std": None if plan_kind == "proportion" else std}
    level = baseline if plan_kind == "proportion" else abs(baseline)
    try:
        users = ex.sample_size(level, target_mde, **options)
        days = None
        if per_day is not None and per_day > 0:
            days = ex.test_duration_days(
                level, target_mde, per_day, arms=arms, enrolled_per_arm=enrolled, **options
            )
    except ValueError:
        return Need(None, None)
    return Need(users, days)


def verdict_words(row: dict[str, Any], needed: Need, target_mde: float) -> str:
    """What a PM should conclude from one row."""
    if row.get("is_control"):
        return "Baseline"
    verdict, status = row.get("verdict"), row.get("status")
    if verdict == "winner":
        return "Winner: better than control"
    if verdict == "loser":
        return "Loser: worse than control"
    change = pct(target_mde, 0, False)
    if verdict == "inconclusive":
        if needed.days == 0 or (
            needed.days is None
            and needed.users_per_arm is not None
            and (row.get("users") or 0) >= needed.users_per_arm
        ):
            return f"No clear difference: enough users to see a {change} change, and none showed"
        if needed.days is not None:
            return (
                f"Not enough data yet: about {needed.days:,} more days to detect a {change} change"
            )
        if needed.users_per_arm is not None:
            return (
                f"Not enough data yet: about {needed.users_per_arm:,} users per variant "
                f"needed to detect a {change} change"
            )
        return "Not enough data yet"
    return STATUS_WORDS.get(status or "", "No result")


def chance(value: float | None) -> str:
    """A probability in words a PM trusts: never a flat 100% or 0%."""
    if value is None:
        return "–"
    if value > 0.999:
        return "> 99.9%"
    if value < 0.001:
        return "< 0.1%"
    return f"{value:.1%}"


#: How the results table shows its columns: users with separators (6,321), the verdict wide.
RESULT_COLUMNS: dict[str, Any] = {
    "Users": st.column_config.NumberColumn("Users", format="localized"),
    "Verdict": st.column_config.TextColumn("Verdict", width="large"),
}


def readable(
    frame: pl.DataFrame, traffic_frame: pl.DataFrame | None, *, target_mde: float, method: str
) -> pl.DataFrame:
    """The results table as a PM reads it: one row per metric × variant, in words and percents."""
    if frame.height == 0:
        return pl.DataFrame()
    per_day = users_per_day(traffic_frame)
    variants = frame["variant"].n_unique()
    control_std = {
        (r.get("segment"), r["metric"]): r["std"]
        for r in frame.filter(pl.col("is_control")).iter_rows(named=True)
    }
    control_users = {
        (r.get("segment"), r["metric"]): r["users"]
        for r in frame.filter(pl.col("is_control")).iter_rows(named=True)
    }
    out = []
    for row in frame.iter_rows(named=True):
        key = (row.get("segment"), row["metric"])
        row = {**row, "control_std": control_std.get(key)}
        enrolled = min(row["users"] or 0, control_users.get(key) or 0)
        needed = need(row, target_mde=target_mde, per_day=per_day, arms=variants, enrolled=enrolled)
        low, high = row.get("relative_ci_low"), row.get("relative_ci_high")
        if method == "bayesian":
            evidence = "" if row["is_control"] else chance(row.get("chance_to_win"))
        else:
            p = row.get("p_value")
            evidence = "" if p is None else (f"{p:.3f}" if p >= 0.001 else "< 0.001")
        # The verdict comes right after the names: in a narrow window it is what must show,
        # the numbers behind it can scroll.
        entry = {
            "Metric": row["metric"],
            "Variant": row["variant"],
            "Verdict": verdict_words(row, needed, target_mde),
            "Users": row["users"],
            "Average": (
                pct(row.get("mean"), 1, False)
                if row.get("kind") == "proportion"
                else num(row.get("mean"))
            ),
            "Lift": "" if row["is_control"] else pct(row.get("relative_effect")),
            "Interval": "" if low is None else f"{pct(low)} to {pct(high)}",
            "Chance to win" if method == "bayesian" else "p-value": evidence,
        }
        if row.get("segment") is not None:
            entry = {"Segment": row["segment"], **entry}
        out.append(entry)
    return pl.DataFrame(out)


# --- typed-in counts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class HandArm:
    """One arm as typed in: users and either conversions or the average and its spread."""

    users: float | None
    conversions: float | None = None
    mean: float | None = None
    std: float | None = None


def by_hand(
    control: HandArm,
    treatment: HandArm,
    *,
    kind: str,
    method: str,
    alpha: float,
    inverse: bool = False,
    treatment_share_percent: float | None = 50.0,
) -> tuple[pl.DataFrame, dict[str, Any], list[str]]:
    """Compare two typed-in arms: (results in metrics.experiments.analyze's columns, SRM banner,
    problems). Every problem with the numbers comes back as a sentence, never an exception."""
    problems: list[str] = []
    stats = []
    for name, arm in (("Control", control), ("Treatment", treatment)):
        users = arm.users
        if users is None or not math.isfinite(users) or users < 0 or users != int(users):
            problems.append(f"{name}: users must be a whole number, 0 or more.")
            continue
        if kind == "proportion":
            hits = arm.conversions
            if hits is None or not math.isfinite(hits) or hits < 0 or hits != int(hits):
                problems.append(f"{name}: conversions must be a whole number, 0 or more.")
            elif hits > users:
                problems.append(
                    f"{name}: {int(hits):,} conversions out of {int(users):,} users is more than "
                    "everyone; conversions count users, at most once each."
                )
            else:
                stats.append(ex.Stats.proportion(int(hits), int(users)))
        else:
            mean, std = arm.mean, arm.std
            if mean is None or not math.isfinite(mean):
                problems.append(f"{name}: the average must be a number.")
            elif std is None or not math.isfinite(std) or std < 0:
                problems.append(f"{name}: the standard deviation must be a number, 0 or more.")
            else:
                n = int(users)
                # Sums that reproduce the typed mean and (ddof=1) standard deviation exactly.
                squares = (n - 1) * std * std + n * mean * mean if n > 0 else 0.0
                stats.append(ex.Stats(n, n * mean, squares))
    share = treatment_share_percent
    if share is None or not math.isfinite(share) or not 0 < share < 100:
        problems.append("The planned treatment share must be between 0% and 100%.")
    if problems:
        return pl.DataFrame(), {"level": "info", "message": "", "mismatch": False}, problems
    base, arm = stats
    comparison = ex.compare(
        base,
        arm,
        kind=kind,
        method=method,
        alpha=alpha,  # type: ignore[arg-type]
        inverse=inverse,
    )
    assert share is not None
    check = ex.srm([base.n, arm.n], [100 - share, share])
    row = {
        **ex.comparison_row(comparison),
        "metric": "typed in",
        "kind": kind,
        "method": method,
        "srm_p_value": check.p_value,
        "srm_mismatch": check.mismatch,
        "excluded_users": 0,
    }
    frame = pl.DataFrame(
        [
            {
                "metric": "typed in",
                "variant": "control",
                "is_control": True,
                "users": base.n,
                "mean": comparison.control_mean,
                "std": ex.per_user_std(base, kind),
                "control_mean": comparison.control_mean,
                "status": "control",
                "kind": kind,
                "method": method,
                "srm_p_value": check.p_value,
                "srm_mismatch": check.mismatch,
                "excluded_users": 0,
            },
            {
                **row,
                "variant": "treatment",
                "is_control": False,
                "users": arm.n,
                "std": ex.per_user_std(arm, kind),
            },
        ],
        infer_schema_length=None,
    )
    return frame, srm_banner(frame), []


# --- planning ------------------------------------------------------------------------------------


def plan(
    *,
    kind: str,
    baseline: float,
    mde: float,
    std: float | None,
    alpha: float,
    power: float,
    daily_users: float,
    arms: int,
) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """Sample size for a relative ``mde``: (summary, users per arm by lift, problems)."""
    try:
        per_arm = ex.sample_size(
            baseline,
            mde,
            alpha=alpha,
            power=power,
            kind=kind,  # type: ignore[arg-type]
            std=std,
        )
    except ValueError as exc:
        return pl.DataFrame(), pl.DataFrame(), [_plain(str(exc))]
    days = None
    if daily_users > 0:
        days = ex.test_duration_days(
            baseline, mde, daily_users, arms=arms, alpha=alpha, power=power, kind=kind, std=std
        )  # type: ignore[arg-type]
    four_weeks = None
    if daily_users > 0:
        # What a four-week test at this traffic could detect, for comparison.
        four_weeks = ex.minimum_detectable_effect(
            daily_users * 28 / arms,
            baseline,
            alpha=alpha,
            power=power,
            kind=kind,
            std=std,  # type: ignore[arg-type]
        )
    summary = pl.DataFrame(
        {
            "Question": [
                "Users needed in each variant",
                "Users needed in total",
                "Days at this traffic",
                "Smallest lift 4 weeks at this traffic can detect",
            ],
            "Answer": [
                f"{per_arm:,}",
                f"{per_arm * arms:,}",
                "–" if days is None else f"{days:,}",
                "–" if four_weeks is None else pct(four_weeks, 1, False),
            ],
        }
    )
    curve = []
    for step in (0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5):
        try:
            needed = ex.sample_size(
                baseline,
                step,
                alpha=alpha,
                power=power,
                kind=kind,  # type: ignore[arg-type]
                std=std,
            )
        except ValueError:
            continue
        curve.append({"mde": step, "users_per_arm": needed})
    return summary, pl.DataFrame(curve, schema={"mde": pl.Float64, "users_per_arm": pl.Int64}), []


def plan_from(
    *,
    kind: str,
    baseline: float | None,
    std: float | None,
    lift_percent: float | None,
    alpha: float,
    power: float,
    daily_users: float | None,
    arms: float | None,
) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """The planning form's inputs (percentages as typed) checked and handed to :func:`plan`."""
    problems = []
    if baseline is None or not math.isfinite(baseline):
        problems.append("The current value must be a number.")
    if lift_percent is None or not math.isfinite(lift_percent) or lift_percent == 0:
        problems.append("The lift to detect must be a number other than 0.")
    if daily_users is None or not math.isfinite(daily_users) or daily_users < 0:
        problems.append("Users per day must be a number, 0 or more.")
    if arms is None or not math.isfinite(arms) or arms < 2 or arms != int(arms):
        problems.append("A test needs at least 2 variants (control included), a whole number.")
    if problems:
        return pl.DataFrame(), pl.DataFrame(), problems
    assert baseline is not None and lift_percent is not None and arms is not None
    value = baseline / 100 if kind == "proportion" else baseline
    return plan(
        kind=kind,
        baseline=value,
        mde=lift_percent / 100,
        std=std,
        alpha=alpha,
        power=power,
        daily_users=daily_users or 0.0,
        arms=int(arms),
    )


def _plain(message: str) -> str:
    """A metrics ValueError reworded for the page."""
    replacements = {
        "baseline must be a rate between 0 and 1 (exclusive)": (
            "The current conversion rate must be between 0% and 100%"
        ),
        "std (the per-user standard deviation, > 0) is required for kind='mean'": (
            "Give the standard deviation of the metric between users (more than 0)"
        ),
        "mde must be a non-zero number": "The lift to detect cannot be 0",
    }
    for old, new in replacements.items():
        if message.startswith(old):
            return new + "."
    return message[0].upper() + message[1:] + "."
