"""ui/experiments.py without a page: the query the controls build, the cached adapters, and the
words for every status a result, a plan or typed-in numbers can carry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import polars as pl
import pytest
import streamlit as st
from polars.testing import assert_frame_equal

import ui.data
import ui.experiments as adapters
from metrics import experiments as ex
from metrics.scope import Scope
from tests.conftest import make_events, ts

CATALOGUE: dict[str, ex.Metric] = {
    "purchase conversion": ex.Conversion("purchase", name="purchase conversion"),
    "revenue per user (purchase)": ex.Sum(
        "purchase", "revenue", name="revenue per user (purchase)"
    ),
}
#: The page's controls as the demo opens: two metrics, CUPED, the sidebar on Berlin, web only.
CONTROLS = dict(
    catalogue=CATALOGUE,
    experiment="checkout",
    control="control",
    metrics=list(CATALOGUE),
    method="frequentist",
    alpha=0.05,
    cuped=True,
    window=0,
    winsorize=None,
    segment=None,
    correction=None,
    inverse=[],
    target=5.0,
    scope=Scope.build(
        start="2026-09-01", end="2026-09-30", tz="Europe/Berlin", filters={"platform": ["web"]}
    ),
)


# --- the query the controls build ----------------------------------------------------------


def test_the_controls_build_one_query_with_the_sidebars_zone_and_filters():
    query, _ = adapters.query_from(**CONTROLS)
    assert query == ex.ExperimentQuery.build(
        experiment="checkout",
        metrics=list(CATALOGUE.values()),
        cuped=True,
        scope=Scope.build(tz="Europe/Berlin", filters={"platform": ["web"]}),
    )


def test_lower_is_better_marks_the_picked_metrics_inverse():
    query, _ = adapters.query_from(**{**CONTROLS, "inverse": ["purchase conversion"]})
    assert query is not None
    assert [m.inverse for m in query.metrics] == [True, False]


def test_widget_text_becomes_the_query_literals():
    query, _ = adapters.query_from(**{**CONTROLS, "method": "bayesian", "correction": "holm"})
    assert query is not None
    assert (query.method, query.correction) == ("bayesian", "holm")


def test_choice_keeps_a_known_option_and_defaults_otherwise():
    assert [
        adapters.choice(v, adapters.METHOD_LABELS, "frequentist") for v in ("sequential", "x")
    ] == [
        "sequential",
        "frequentist",
    ]


def test_every_problem_with_the_controls_is_said_at_once():
    query, problems = adapters.query_from(
        **{**CONTROLS, "experiment": None, "metrics": [], "window": -3, "target": 0.0}
    )
    assert (query, problems) == (
        None,
        [
            "Pick an experiment and its control.",
            "Pick at least one metric.",
            "The window must be a whole number of days, 0 or more (0 = no limit).",
            "The smallest lift worth detecting must be a number other than 0.",
        ],
    )


# --- the cached adapters ---------------------------------------------------------------------

EVENTS = make_events(
    ("ann", "purchase", "2026-09-02 10:00", {"revenue": 20.0, "platform": "web"}),
    ("ann", "purchase", "2026-09-03 10:00", {"revenue": 5.0, "platform": "mobile"}),
    ("bob", "purchase", "2026-09-02 23:30", {"revenue": 40.0, "platform": "web"}),
    ("cat", "page_view", "2026-09-02 11:00", {"revenue": None, "platform": "web"}),
)
ASSIGNMENTS = pl.DataFrame(
    {
        "user_id": ["ann", "bob", "cat", "dan"],
        "experiment": "checkout",
        "variant": ["control", "treatment", "treatment", "control"],
        "timestamp": [ts("2026-09-01 09:00")] * 3 + [ts("2026-09-01 22:30")],
    }
)


@pytest.fixture
def source(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The story as the current source (the adapters read it through ui.data)."""
    monkeypatch.setattr(ui.data, "events", lambda: EVENTS)
    monkeypatch.setattr(ui.data, "assignments", lambda: ASSIGNMENTS)
    st.cache_data.clear()
    yield "story"
    st.cache_data.clear()


def test_results_are_analyze_of_the_query(source):
    query, _ = adapters.query_from(**CONTROLS)
    assert query is not None
    assert_frame_equal(adapters.results(source, query), ex.analyze_of(EVENTS, ASSIGNMENTS, query))


def test_the_daily_effect_is_in_the_sidebars_zone(source):
    query, _ = adapters.query_from(**CONTROLS)
    assert query is not None
    # bob's web purchase at 23:30 UTC is on 3 September in Berlin.
    daily = adapters.daily(source, query.over_time("revenue per user (purchase)"))
    assert daily["day"].to_list() == [dt.date(2026, 9, 1), dt.date(2026, 9, 2), dt.date(2026, 9, 3)]


def test_traffic_counts_days_in_the_sidebars_zone(source):
    query, _ = adapters.query_from(**CONTROLS)
    assert query is not None
    # dan's exposure at 22:30 UTC is on 2 September in Berlin: control arrived over two days.
    counts = adapters.traffic(source, query.experiment, query.tz)
    assert counts.select("variant", "days").rows() == [("control", 2), ("treatment", 1)]


# --- results in words ------------------------------------------------------------------------


def test_verdicts_in_plain_words():
    row = {"is_control": False, "verdict": "inconclusive", "status": "ok", "users": 1000}
    words = [
        adapters.verdict_words(row, ex.Need("ok", 57_760, 12), 0.05),
        adapters.verdict_words(row, ex.Need("ok", 57_760, None), 0.05),
        adapters.verdict_words(row, ex.Need("ok", 800, None), 0.05),
        adapters.verdict_words(row, ex.Need("no_baseline"), 0.05),
        adapters.verdict_words(
            {**row, "verdict": None, "status": "zero_variance"}, ex.Need("no_baseline"), 0.05
        ),
    ]
    assert words == [
        "Not enough data yet: about 12 more days to detect a 5% change",
        "Not enough data yet: about 57,760 users per variant needed to detect a 5% change",
        "No clear difference: enough users to see a 5% change, and none showed",
        "Not enough data yet",
        ex.STATUS_MESSAGES["zero_variance"],
    ]


def test_chances_are_never_a_flat_certainty():
    assert [adapters.chance(p) for p in (0.99996, 0.0, 0.5, None)] == [
        "> 99.9%",
        "< 0.1%",
        "50.0%",
        "–",
    ]


def test_the_table_says_how_many_more_days_at_the_experiments_traffic():
    frame = pl.DataFrame(
        {
            "metric": ["conversion"] * 2,
            "variant": ["control", "treatment"],
            "is_control": [True, False],
            "users": [20_000, 20_000],
            "std": [0.3, 0.3],
            "kind": ["proportion"] * 2,
            "mean": [0.10, 0.101],
            "control_mean": [0.10, 0.10],
            "verdict": [None, "inconclusive"],
            "status": ["control", "ok"],
        }
    )
    traffic = pl.DataFrame(
        {
            "variant": ["control", "treatment"],
            "users": [20_000, 20_000],
            "first_day": [dt.date(2026, 9, 1)] * 2,
            "last_day": [dt.date(2026, 9, 20)] * 2,
        }
    )
    table = adapters.readable(frame, traffic, target_mde=0.05, method="frequentist")
    # 2,000 users a day; 57,760 per arm needs 2 × 37,760 more: 38 days.
    assert table["Verdict"][1] == "Not enough data yet: about 38 more days to detect a 5% change"


SEGMENTED = pl.DataFrame(
    {
        "segment": ["web", "web", "mobile", "mobile"],
        "metric": ["purchase conversion"] * 4,
        "variant": ["control", "treatment"] * 2,
        "users": [500, 510, 100, 300],
        "srm_p_value": [0.75, 0.75, 1e-9, 1e-9],
        "srm_mismatch": [False, False, True, True],
        "excluded_users": [3] * 4,
    }
)


def test_srm_banner_names_the_segment_whose_split_is_off():
    banner = adapters.srm_banner(SEGMENTED)
    assert (banner["level"], "segment 'mobile'" in banner["message"]) == ("error", True)


def test_srm_banner_sums_the_split_over_segments():
    assert "control 600, treatment 810" in adapters.srm_banner(SEGMENTED)["message"]


def test_srm_banner_passes_a_split_as_planned():
    frame = SEGMENTED.filter(pl.col("segment") == "web")
    assert adapters.srm_banner(frame)["message"] == (
        "Traffic split as planned (control 500, treatment 510; SRM check p = 0.75 (lowest over "
        "segments)). 3 users saw several variants and are left out."
    )


# --- typed in, and planning -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("control", "treatment", "share", "said"),
    [
        (ex.TypedArm(-5, 0), ex.TypedArm(100, 10), 50.0, "Control: users must be a whole number"),
        (ex.TypedArm(100, 10), ex.TypedArm(100, 2.5), 50.0, "Treatment: conversions must be"),
        (
            ex.TypedArm(12_000, 12_500),
            ex.TypedArm(100, 10),
            50.0,
            "Control: 12,500 conversions out of 12,000 users is more than everyone",
        ),
        (
            ex.TypedArm(100, mean=float("nan"), std=1.0),
            ex.TypedArm(100, mean=1.0, std=1.0),
            50.0,
            "Control: the average must be a number.",
        ),
        (
            ex.TypedArm(100, mean=1.0, std=1.0),
            ex.TypedArm(100, mean=1.0, std=-2.0),
            50.0,
            "Treatment: the standard deviation must be a number, 0 or more.",
        ),
        (ex.TypedArm(100, 10), ex.TypedArm(100, 10), 150.0, "between 0% and 100%"),
    ],
)
def test_each_typed_in_problem_in_words(control, treatment, share, said):
    kind = "proportion" if control.mean is None else "mean"
    _, _, problems = adapters.by_hand(
        control,
        treatment,
        kind=kind,
        method="frequentist",
        alpha=0.05,
        treatment_share_percent=share,
    )
    assert len(problems) == 1 and said in problems[0]


def test_typed_in_percent_share_checks_the_split():
    _, banner, _ = adapters.by_hand(
        ex.TypedArm(10_000, 1_000),
        ex.TypedArm(11_000, 1_100),
        kind="proportion",
        method="frequentist",
        alpha=0.05,
        treatment_share_percent=50.0,
    )
    assert banner["level"] == "error"


PLAN_FORM = dict(
    kind="proportion",
    baseline=10.0,
    std=None,
    lift_percent=5.0,
    alpha=0.05,
    power=0.8,
    daily_users=1_000,
    arms=2,
)


def test_a_plan_in_a_table():
    summary, _, _ = adapters.plan_from(**PLAN_FORM)
    # 10% typed as a percentage, +5%: 57,760 per arm, 116 days at 1,000 a day; 28 days of 500 per
    # arm detect +10.3% (metrics.experiments.minimum_detectable_effect(14_000, 0.10) = 0.10269).
    assert dict(summary.rows()) == {
        "Users needed in each variant": "57,760",
        "Users needed in total": "115,520",
        "Days at this traffic": "116",
        "Smallest lift 4 weeks at this traffic can detect": "10.3%",
    }


#: A planning form (as typed: percentages) that gets each problem.
PROBLEM_FORMS = {
    "baseline_not_a_number": dict(baseline=None),
    "baseline_not_a_rate": dict(baseline=150.0),
    "no_spread": dict(kind="mean", baseline=20.0, std=0.0),
    "no_lift": dict(lift_percent=0.0),
    "zero_baseline": dict(kind="mean", baseline=0.0, std=15.0),
    "lift_beyond_rate": dict(lift_percent=1000.0),
    "bad_traffic": dict(daily_users=-10),
    "too_few_variants": dict(arms=1),
}


@pytest.mark.parametrize("problem", ex.PLAN_PROBLEMS)
def test_each_plan_problem_in_words(problem):
    _, _, problems = adapters.plan_from(**{**PLAN_FORM, **PROBLEM_FORMS[problem]})
    assert problems == [adapters.PLAN_WORDS[problem]]
