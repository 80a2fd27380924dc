"""Experiments: did the change work? Results from the data or typed-in counts, and test planning."""

from __future__ import annotations

import streamlit as st

from metrics.experiments import ExperimentQuery
from ui import components, data, engine, explain, state
from ui import experiments as adapters
from ui.charts import experiments as charts

st.title("Experiments")
st.caption(
    "Did the change work? Each variant against control, with how sure we can be. "
    "Experiments use their whole run; the sidebar's date range does not apply here, its time "
    "zone and property filters do."
)

# -- the KPI this page was opened to explain (the Overview's "Explain this number") -----------
if (explained := explain.current("experiments")) is not None:
    value, how = explain.experiment_value(explained, data.source_key(), state.shared().tz)
    explain.show(explained, value, how)

if state.shared().filters:
    st.info(
        f"The sidebar's property filters ({components.filters_text(state.shared().filters)}) "
        "apply here: each metric counts only the events that match them. Everyone assigned to "
        "the experiment still counts, so the groups stay the randomised ones. To compare the "
        "users of one segment only, pick its property under **Options → Split results by**.",
        icon=":material/filter_alt:",
    )

top_left, top_right = st.columns([3, 1])
method = top_left.radio(
    "How to read the test",
    list(adapters.METHOD_LABELS),
    format_func=adapters.METHOD_LABELS.get,
    key="exp_method",
    horizontal=True,
    bind="query-params",
    help="Fixed horizon: decide once, when the planned sample is reached. Sequential: valid "
    "however often you look. Bayesian: the chance the variant beats control, and what you "
    "would lose if you picked wrong. docs/experiments.md explains each.",
)
confidence = top_right.selectbox(
    "Confidence",
    [0.95, 0.90, 0.99],
    format_func=lambda c: f"{c:.0%}",
    key="exp_confidence",
    bind="query-params",
    help="How sure a result must be before we call a winner (alpha = 1 − confidence).",
)
alpha = round(1 - confidence, 4)


# --- the effect over time -------------------------------------------------------------------
@st.fragment
def effect_over_time(
    source: str, query: ExperimentQuery, chosen: list[str], experiment: str
) -> None:
    """The cumulative effect of one metric, day by day. A fragment: picking another metric
    reruns only this chart, not the whole analysis above it (issue 12 item 5)."""
    st.subheader("Effect over time")
    shown = st.selectbox("Metric", chosen, key="exp_daily_metric", bind="query-params")
    over_time = query.over_time(shown)
    daily = adapters.daily(source, over_time)
    components.chart(charts.cumulative_chart(daily), key="exp_daily")
    components.definition(adapters.DAILY_DEFINITION)
    components.numbers(daily, name=f"{experiment}_daily", key="exp_daily_numbers")
    engine.show_sql(adapters.daily.sql(source, over_time), what="the effect over time")


# --- from the data -------------------------------------------------------------------------------
def from_data_tab() -> None:
    """An experiment of this source: its results, checks and effect over time."""
    source = data.source_key()
    listing = adapters.experiments(source)
    if listing.height == 0:
        st.info(
            "This source has no experiment assignments. Map your exposure events on the Data page, "
            "or type the counts in by hand in the next tab."
        )
    else:
        left, right = st.columns(2)
        experiment = left.selectbox(
            "Experiment", listing["experiment"].to_list(), key="exp_experiment", bind="query-params"
        )
        variants = adapters.variants_of(listing, experiment)
        control = right.selectbox(
            "Control (the baseline)",
            variants,
            index=adapters.control_index(variants),
            key="exp_control",
            bind="query-params",
        )
        catalogue = adapters.metric_catalogue(source)
        chosen = st.multiselect(
            "Metrics",
            list(catalogue),
            default=adapters.default_metrics(catalogue),
            key="exp_metrics",
            bind="query-params",
            help="Each counts a user's events from their first exposure on.",
        )
        with st.expander("Options: CUPED, window, outliers, segments, many tests"):
            col1, col2, col3 = st.columns(3)
            cuped = col1.toggle(
                "CUPED (use each user's pre-exposure behaviour)",
                value=True,
                key="exp_cuped",
                bind="query-params",
                help="Removes noise users brought with them, so intervals narrow; never biases.",
            )
            state.finite_param("exp_window")
            window = col1.number_input(
                "Count events within N days of exposure (0 = all)",
                value=0,
                step=1,
                key="exp_window",
                bind="query-params",
            )
            winsorize = col2.selectbox(
                "Cap extreme users at",
                [None, 0.99, 0.995, 0.95],
                format_func=lambda q: "no cap" if q is None else f"the {q:.1%} percentile",
                key="exp_winsorize",
                bind="query-params",
            )
            segment = col2.selectbox(
                "Split results by",
                [None, *adapters.properties(source)],
                format_func=lambda s: "nothing" if s is None else s,
                key="exp_segment",
                bind="query-params",
            )
            correction = col3.selectbox(
                "Correct for many comparisons",
                [None, "holm", "bh"],
                format_func=adapters.CORRECTION_LABELS.get,
                key="exp_correction",
                bind="query-params",
            )
            inverse = col3.multiselect(
                "Lower is better for",
                chosen,
                key="exp_inverse",
                bind="query-params",
                placeholder="none",
            )
            state.finite_param("exp_target")
            target = col3.number_input(
                "Smallest lift worth detecting (%)",
                value=5.0,
                step=1.0,
                key="exp_target",
                bind="query-params",
            )
        query, problems = adapters.query_from(
            catalogue=catalogue,
            experiment=experiment,
            control=control,
            metrics=chosen,
            method=method,
            alpha=alpha,
            cuped=cuped,
            window=window,
            winsorize=winsorize,
            segment=segment,
            correction=correction,
            inverse=inverse,
            target=target,
            scope=state.shared().scope,
        )
        for problem in problems:
            st.warning(problem)
        if query is not None:
            frame = adapters.results(source, query)
            banner = adapters.srm_banner(frame)
            getattr(st, banner["level"])(banner["message"])
            holder = (
                st.expander("Show the results anyway", expanded=False)
                if banner["mismatch"]
                else st.container()
            )
            with holder:
                st.subheader("Lift by metric")
                components.chart(charts.forest_plot(frame), key="exp_forest")
                components.definition(adapters.FOREST_DEFINITION[method])
                table = adapters.readable(
                    frame,
                    adapters.traffic(source, query.experiment, query.tz),
                    target_mde=adapters.target_share(target),
                    method=method,
                )
                st.dataframe(
                    table,
                    hide_index=True,
                    width="stretch",
                    column_config=adapters.RESULT_COLUMNS,
                )
                components.numbers(
                    adapters.downloadable(frame), name=f"{experiment}_results", key="exp_results"
                )
                engine.show_sql(adapters.results.sql(source, query), what="the results")

                effect_over_time(source, query, chosen, experiment)


# --- typed-in counts -----------------------------------------------------------------------------
def by_hand_tab() -> None:
    """Counts typed in from another tool, analysed with the same statistics."""
    st.caption("Numbers from another tool, or a test run outside this data: type them in.")
    kind = st.radio(
        "What did you measure?",
        list(adapters.HAND_KINDS),
        format_func=adapters.HAND_KINDS.get,
        key="exp_hand_kind",
        bind="query-params",
        horizontal=True,
    )
    arms = {}
    for column, arm in zip(st.columns(2), ("control", "treatment"), strict=True):
        with column:
            st.markdown(f"**{arm.capitalize()}**")
            state.finite_param(f"exp_hand_{arm}_users")
            users = st.number_input(
                "Users", value=10_000, step=1, key=f"exp_hand_{arm}_users", bind="query-params"
            )
            if kind == "proportion":
                state.finite_param(f"exp_hand_{arm}_conversions")
                converted = st.number_input(
                    "Users who converted",
                    value=1_000 if arm == "control" else 1_080,
                    step=1,
                    key=f"exp_hand_{arm}_conversions",
                    bind="query-params",
                )
                arms[arm] = adapters.HandArm(users=users, conversions=converted)
            else:
                state.finite_param(f"exp_hand_{arm}_mean")
                mean = st.number_input(
                    "Average per user",
                    value=20.0 if arm == "control" else 20.6,
                    key=f"exp_hand_{arm}_mean",
                    bind="query-params",
                )
                state.finite_param(f"exp_hand_{arm}_std")
                spread = st.number_input(
                    "Standard deviation between users",
                    value=15.0,
                    key=f"exp_hand_{arm}_std",
                    bind="query-params",
                )
                arms[arm] = adapters.HandArm(users=users, mean=mean, std=spread)
    left, right = st.columns(2)
    state.finite_param("exp_hand_share")
    share = left.number_input(
        "Planned share of users in treatment (%)",
        value=50.0,
        key="exp_hand_share",
        bind="query-params",
    )
    lower_is_better = right.checkbox(
        "Lower is better for this metric", key="exp_hand_inverse", bind="query-params"
    )
    hand_frame, hand_banner, hand_problems = adapters.by_hand(
        arms["control"],
        arms["treatment"],
        kind=kind,
        method=method,
        alpha=alpha,
        inverse=lower_is_better,
        treatment_share_percent=share,
    )
    for problem in hand_problems:
        st.error(problem)
    if not hand_problems:
        getattr(st, hand_banner["level"])(hand_banner["message"])
        components.chart(charts.forest_plot(hand_frame), key="exp_hand_forest")
        components.definition(adapters.FOREST_DEFINITION[method])
        st.dataframe(
            adapters.readable(hand_frame, None, target_mde=0.05, method=method),
            hide_index=True,
            width="stretch",
            column_config=adapters.RESULT_COLUMNS,
        )
        components.numbers(
            adapters.downloadable(hand_frame), name="typed_in_results", key="exp_hand_numbers"
        )


# --- planning ------------------------------------------------------------------------------------
def planning_tab() -> None:
    """How many users and days a planned test needs."""
    st.caption("How many users, and how many days, before a test can answer its question?")
    plan_kind = st.radio(
        "What will you measure?",
        list(adapters.HAND_KINDS),
        format_func=adapters.HAND_KINDS.get,
        key="exp_plan_kind",
        bind="query-params",
        horizontal=True,
    )
    col1, col2, col3 = st.columns(3)
    if plan_kind == "proportion":
        state.finite_param("exp_plan_rate")
        baseline = col1.number_input(
            "Current conversion rate (%)", value=10.0, key="exp_plan_rate", bind="query-params"
        )
        plan_std = None
    else:
        state.finite_param("exp_plan_mean")
        baseline = col1.number_input(
            "Current average per user", value=20.0, key="exp_plan_mean", bind="query-params"
        )
        state.finite_param("exp_plan_std")
        plan_std = col1.number_input(
            "Standard deviation between users", value=15.0, key="exp_plan_std", bind="query-params"
        )
    state.finite_param("exp_plan_mde")
    lift = col2.number_input(
        "Smallest lift worth detecting (% of the current value)",
        value=5.0,
        key="exp_plan_mde",
        bind="query-params",
    )
    power = col2.selectbox(
        "Power (chance to catch a real lift that size)",
        [0.8, 0.9, 0.95],
        format_func=lambda p: f"{p:.0%}",
        key="exp_plan_power",
        bind="query-params",
    )
    state.finite_param("exp_plan_daily")
    per_day = col3.number_input(
        "Users entering the test per day", value=1_000, key="exp_plan_daily", bind="query-params"
    )
    state.finite_param("exp_plan_arms")
    variants_planned = col3.number_input(
        "Variants, control included", value=2, step=1, key="exp_plan_arms", bind="query-params"
    )
    summary, curve, plan_problems = adapters.plan_from(
        kind=plan_kind,
        baseline=baseline,
        std=plan_std,
        lift_percent=lift,
        alpha=alpha,
        power=power,
        daily_users=per_day,
        arms=variants_planned,
    )
    for problem in plan_problems:
        st.error(problem)
    if not plan_problems:
        st.dataframe(summary, hide_index=True)
        components.definition(adapters.PLAN_DEFINITION)
        components.chart(
            charts.sample_size_curve(curve, chosen_mde=adapters.target_share(lift)),
            key="exp_plan_curve",
        )
        components.numbers(curve, name="sample_size_by_lift", key="exp_plan_numbers")


# Each tab is drawn only while open (ui/components.lazy_tabs): a shared link to the results does
# not also draw the calculator's and the planner's charts. The open tab is part of the link.
components.lazy_sections(
    {
        adapters.TABS["data"]: from_data_tab,
        adapters.TABS["hand"]: by_hand_tab,
        adapters.TABS["plan"]: planning_tab,
    },
    key=adapters.TAB_KEY,
)
