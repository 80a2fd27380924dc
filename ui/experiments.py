"""Thin adapters between the Experiments page and :mod:`metrics.experiments`.

The page builds an :class:`~metrics.experiments.ExperimentQuery` from its controls and the
sidebar's scope (:func:`query_from`); cached functions take the *source key*
(:func:`ui.data.source_key`: name and load generation) and that query, and fetch the frames from
:mod:`ui.data`. The rest turns results into what a PM reads: plain words for every status,
verdict and planning problem, percentages, and the days a test still needs at the traffic it gets.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, TypeVar

import polars as pl
import streamlit as st

from metrics import experiments as ex
from metrics.scope import Scope
from ui import data, engine
from ui.catalogue import event_counts
from ui.text import md
from ui.words import per_user

#: Statuses (metrics.experiments codes, plus the control row) in a PM's words.
STATUS_WORDS: dict[str, str] = {
    **ex.STATUS_MESSAGES,
    "control": "The baseline the others are compared with.",
}
METHOD_LABELS: dict[ex.Method, str] = {
    "frequentist": "Fixed horizon (t-test): read once, at the planned end",
    "sequential": "Sequential: safe to check every day",
    "bayesian": "Bayesian: chance to win and risk",
}
CORRECTION_LABELS: dict[ex.Correction | None, str] = {
    None: "no correction",
    "holm": "Holm (no false winner at all)",
    "bh": "Benjamini–Hochberg (few false winners)",
}
#: The page's three tabs, each drawn only while open; the label is the value a link gives
#: ``exp_tab`` (renaming a label breaks saved links to that tab).
TAB_KEY = "exp_tab"
TABS = {"data": "From the data", "hand": "Type in counts", "plan": "Plan a test"}
HAND_KINDS: dict[ex.PlanKind, str] = {
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
#: Why there is no plan (metrics.experiments.plan's problem codes), in a PM's words.
PLAN_WORDS: dict[ex.PlanProblem, str] = {
    "baseline_not_a_number": "The current value must be a number.",
    "baseline_not_a_rate": "The current conversion rate must be between 0% and 100%.",
    "no_spread": "Give the standard deviation of the metric between users (more than 0).",
    "no_lift": "The lift to detect must be a number other than 0.",
    "zero_baseline": (
        "The current average is 0, so a lift in % of it is 0 too: give the current average."
    ),
    "lift_beyond_rate": (
        "That lift takes the conversion rate outside 0% to 100%, which no rate can reach: "
        "pick a smaller lift."
    ),
    "bad_traffic": "Users per day must be a number, 0 or more.",
    "too_few_variants": "A test needs at least 2 variants (control included), a whole number.",
}
#: What is wrong with typed-in arms (metrics.experiments.typed_in's codes); ``{arm}``, ``{users}``
#: and ``{conversions}`` are filled in from the arm.
TYPED_WORDS: dict[ex.TypedCode, str] = {
    "users_not_whole": "{arm}: users must be a whole number, 0 or more.",
    "conversions_not_whole": "{arm}: conversions must be a whole number, 0 or more.",
    "conversions_above_users": (
        "{arm}: {conversions:,} conversions out of {users:,} users is more than everyone; "
        "conversions count users, at most once each."
    ),
    "mean_not_a_number": "{arm}: the average must be a number.",
    "std_not_a_number": "{arm}: the standard deviation must be a number, 0 or more.",
    "share_out_of_range": "The planned treatment share must be between 0% and 100%.",
}
#: Events that describe the experiment itself, never a goal.
NOT_GOALS = {"experiment_exposure"}
#: An arm as typed in on the page (users, and conversions or the average and its spread).
HandArm = ex.TypedArm

C = TypeVar("C")


def choice(value: object, options: Iterable[C], default: C) -> C:
    """A widget's value as one of ``options`` (typed as they are: a Literal stays a Literal), or
    ``default`` when it is none of them."""
    for option in options:
        if value == option:
            return option
    return default


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
def traffic(source: str, experiment: str, tz: str) -> pl.DataFrame:
    """Users per variant of ``experiment``, the days (in ``tz``) they arrived over, and users a
    day. Keyed by the experiment and the zone only: adding a metric or changing the method does
    not count the assignments again (issue 12 item 5)."""
    assignments = _assignments()
    if assignments is None:
        return pl.DataFrame()
    return ex.assignment_counts(assignments, experiment=experiment, tz=tz)


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
    preferred: list[str] = [
        name for name in ("purchase conversion", "revenue per user (purchase)") if name in catalogue
    ]
    return preferred or list(catalogue)[:1]


def properties(source: str) -> list[str]:
    """Properties a result can be split by (few distinct values), for the segment picker."""
    from ui.catalogue import properties as offered

    return sorted(offered(source))


def query_from(
    *,
    catalogue: dict[str, ex.Metric],
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
    scope: Scope,
) -> tuple[ex.ExperimentQuery | None, list[str]]:
    """The page's controls and the sidebar's ``scope`` as one query, or None with what to fix
    (never an exception). Metrics are picked by name from ``catalogue``; those in ``inverse`` are
    the ones where lower is better."""
    problems: list[str] = []
    if not experiment or not control:
        problems.append("Pick an experiment and its control.")
    picked = [name for name in metrics if name in catalogue]
    if not picked:
        problems.append("Pick at least one metric.")
    days: int | None = None
    if window is not None and (not math.isfinite(window) or window < 0 or window != int(window)):
        problems.append("The window must be a whole number of days, 0 or more (0 = no limit).")
    elif window:
        days = int(window)
    if target is None or not math.isfinite(target) or target == 0:
        problems.append("The smallest lift worth detecting must be a number other than 0.")
    if problems or experiment is None or control is None:
        return None, problems
    chosen = [
        replace(catalogue[name], inverse=True) if name in inverse else catalogue[name]
        for name in picked
    ]
    query = ex.ExperimentQuery.build(
        experiment=experiment,
        metrics=chosen,
        control=control,
        method=choice(method, METHOD_LABELS, "frequentist"),
        alpha=alpha,
        cuped=cuped,
        window=days,
        winsorize=winsorize,
        segment=segment,
        correction=choice(correction, CORRECTION_LABELS, None),
        scope=scope,
    )
    return query, []


@engine.cached(max_entries=16, show_spinner="Counting the experiment's users and metrics…")
def counted(source: str, query: ex.ExperimentQuery) -> ex.VariantSums | None:
    """Per variant the users and metric sums (metrics.experiments.variant_sums_of); ``query``
    is a :meth:`~metrics.experiments.ExperimentQuery.counting` query."""
    assignments = _assignments()
    if assignments is None:
        return None
    return ex.variant_sums_of(data.events(), assignments, query)


@engine.cached(max_entries=16, show_spinner="Analysing the experiment…")
def results(source: str, query: ex.ExperimentQuery) -> pl.DataFrame:
    """One row per metric × variant (metrics.experiments.analyze_of's frame): the statistics on
    the counting shared by every method, confidence, CUPED choice and correction, so changing
    one of those does not count the events again (issue 12 item 5)."""
    sums = counted(source, query.counting())
    if sums is None:
        return pl.DataFrame()
    return ex.analysis_answer(query, sums.sums, sums.excluded)


@engine.cached(max_entries=16, show_spinner="Counting the experiment day by day…")
def daily_counted(source: str, query: ex.CumulativeQuery) -> ex.DailySums | None:
    """Per (variant, day) the entries and changes of the sums
    (metrics.experiments.daily_sums_of); ``query`` is a
    :meth:`~metrics.experiments.CumulativeQuery.counting` query."""
    assignments = _assignments()
    if assignments is None:
        return None
    return ex.daily_sums_of(data.events(), assignments, query)


@engine.cached(max_entries=16, show_spinner="Computing the effect day by day…")
def daily(source: str, query: ex.CumulativeQuery) -> pl.DataFrame:
    """One metric's effect as of the end of each day (metrics.experiments.cumulative_effect_of's
    frame), on the counting shared by every method, confidence, CUPED choice and control."""
    sums = daily_counted(source, query.counting())
    if sums is None:
        return pl.DataFrame()
    return ex.cumulative_answer(query, sums.entries, sums.changes)


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
    span = clean.select(
        pl.col("users").sum().alias("users"),
        ((pl.col("last_day").max() - pl.col("first_day").min()).dt.total_days() + 1).alias("days"),
    ).row(0, named=True)
    return float(span["users"]) / max(int(span["days"]), 1)


def verdict_words(row: dict[str, Any], needed: ex.Need, target_mde: float) -> str:
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
_KINDS: tuple[ex.Kind, ...] = ("mean", "proportion", "ratio")


def readable(
    frame: pl.DataFrame, traffic_frame: pl.DataFrame | None, *, target_mde: float, method: str
) -> pl.DataFrame:
    """The results table as a PM reads it: one row per metric × variant, in words and percents."""
    if frame.height == 0:
        return pl.DataFrame()
    per_day = users_per_day(traffic_frame)
    variants = frame["variant"].n_unique()
    controls = {
        (r.get("segment"), r["metric"]): r
        for r in frame.filter(pl.col("is_control")).iter_rows(named=True)
    }
    out = []
    for row in frame.iter_rows(named=True):
        control = controls.get((row.get("segment"), row["metric"]), {})
        needed = ex.need(
            kind=choice(row.get("kind"), _KINDS, "mean"),
            control_mean=row.get("control_mean"),
            control_std=control.get("std"),
            mde=target_mde,
            daily_users=per_day,
            arms=variants,
            enrolled_per_arm=min(row["users"] or 0, control.get("users") or 0),
        )
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


def _typed_words(problem: ex.TypedProblem, arms: dict[str, ex.TypedArm]) -> str:
    arm = arms.get(problem.arm or "")
    users = arm.users if arm is not None and arm.users is not None else 0
    conversions = arm.conversions if arm is not None and arm.conversions is not None else 0
    return TYPED_WORDS[problem.code].format(
        arm=(problem.arm or "").capitalize(), users=int(users), conversions=int(conversions)
    )


def by_hand(
    control: ex.TypedArm,
    treatment: ex.TypedArm,
    *,
    kind: str,
    method: str,
    alpha: float,
    inverse: bool = False,
    treatment_share_percent: float | None = 50.0,
) -> tuple[pl.DataFrame, dict[str, Any], list[str]]:
    """Compare two typed-in arms (metrics.experiments.typed_in): (results in analyze's columns,
    SRM banner, problems in words). Every problem with the numbers comes back as a sentence."""
    share = None if treatment_share_percent is None else treatment_share_percent / 100
    compared = ex.typed_in(
        control,
        treatment,
        kind=choice(kind, HAND_KINDS, "proportion"),
        method=choice(method, METHOD_LABELS, "frequentist"),
        alpha=alpha,
        inverse=inverse,
        treatment_share=share,
    )
    if compared.problems:
        arms = {"control": control, "treatment": treatment}
        problems = [_typed_words(problem, arms) for problem in compared.problems]
        return pl.DataFrame(), {"level": "info", "message": "", "mismatch": False}, problems
    frame = compared.frame()
    return frame, srm_banner(frame), []


# --- planning ------------------------------------------------------------------------------------


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
    """The planning form's inputs (percentages as typed) planned by metrics.experiments.plan:
    (summary, users per arm by lift, every problem in words)."""
    plan_kind = choice(kind, HAND_KINDS, "proportion")
    rate = baseline / 100 if plan_kind == "proportion" and baseline is not None else baseline
    planned = ex.plan(
        kind=plan_kind,
        baseline=rate,
        mde=None if lift_percent is None else lift_percent / 100,
        std=std,
        alpha=alpha,
        power=power,
        daily_users=daily_users,
        arms=arms,
    )
    if planned.problems or planned.users_per_arm is None:
        return pl.DataFrame(), pl.DataFrame(), [PLAN_WORDS[p] for p in planned.problems]
    summary = pl.DataFrame(
        {
            "Question": [
                "Users needed in each variant",
                "Users needed in total",
                "Days at this traffic",
                "Smallest lift 4 weeks at this traffic can detect",
            ],
            "Answer": [
                f"{planned.users_per_arm:,}",
                f"{planned.total_users:,}",
                "–" if planned.days is None else f"{planned.days:,}",
                "–" if planned.four_week_mde is None else pct(planned.four_week_mde, 1, False),
            ],
        }
    )
    curve = pl.DataFrame(
        [{"mde": lift, "users_per_arm": users} for lift, users in planned.curve],
        schema={"mde": pl.Float64, "users_per_arm": pl.Int64},
    )
    return summary, curve, []
