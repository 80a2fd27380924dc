"""Retention page: do people come back, cohort by cohort, and what are they worth over time?"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from metrics.retention import RetentionQuery
from ui import compare, components, data, engine, explain, product, state
from ui import retention as ret
from ui.charts import retention as charts
from ui.text import md

st.title("Retention")
st.caption(
    "Of the people who started in a given period, how many came back one, two, three periods "
    "later, and how much they have spent so far. Every number counts people, not events."
)

shared = state.shared()
source = data.source_key()
names = ret.event_names(source)

# -- controls ---------------------------------------------------------------------------------
# Each choice as wide as its options, in a row that wraps: fixed columns cut "Week",
# "Recurring" and "In period k or later" off at 800 px.
with st.container(horizontal=True, gap="medium"):
    pick_interval, pick_type, pick_periods, pick_mode = (
        st.container(width="content") for _ in range(4)
    )
interval = pick_interval.segmented_control(
    "Interval",
    list(ret.INTERVAL_LABELS),
    format_func=ret.INTERVAL_LABELS.get,
    default="week",
    required=True,
    key="ret_interval",
    bind="query-params",
    help="The length of a cohort and of each period after it.",
)
retention_type = pick_type.segmented_control(
    "Cohorts",
    list(ret.TYPE_LABELS),
    format_func=ret.TYPE_LABELS.get,
    default="recurring",
    required=True,
    key="ret_type",
    bind="query-params",
    help="First time: each user once, in the period of their first-ever start event. "
    "Recurring: a user joins the cohort of every period in which they did the start event.",
)
periods = pick_periods.segmented_control(
    "Periods",
    list(ret.PERIOD_LABELS),
    format_func=ret.PERIOD_LABELS.get,
    default="calendar",
    required=True,
    key="ret_periods",
    bind="query-params",
    help="Calendar: days, weeks, months on the calendar (PostHog). Rolling: 24-hour, 7-day or "
    "one-month windows counted from each user's own start time (Amplitude, Mixpanel).",
)
mode = pick_mode.segmented_control(
    "Counts as back",
    list(ret.MODE_LABELS),
    format_func=ret.MODE_LABELS.get,
    default="exact",
    required=True,
    key="ret_mode",
    bind="query-params",
    help="Exactly: returned in that very period. Or later: returned in it or any later period "
    "(Amplitude's unbounded retention), so the curve never rises.",
)
pick_start, pick_return, pick_week = st.columns([3, 3, 2])
start_label = pick_start.selectbox(
    "Start event",
    [ret.ANY_EVENT, *names],
    key="ret_start_event",
    bind="query-params",
    help="What puts a user in a cohort (for example their sign-up).",
)
return_label = pick_return.selectbox(
    "Return event",
    [ret.ANY_EVENT, *names],
    key="ret_return_event",
    bind="query-params",
    help="What counts as coming back.",
)
week_start = pick_week.selectbox(
    "Weeks start on",
    list(ret.WEEK_START_LABELS),
    format_func=ret.WEEK_START_LABELS.get,
    key="ret_week_start",
    bind="query-params",
    disabled=interval != "week",
)

try:
    query = RetentionQuery(
        scope=shared.scope,
        interval=ret.choice(interval, ret.INTERVAL_LABELS, "week"),
        start_event=ret.event_of(start_label),
        return_event=ret.event_of(return_label),
        retention_type=ret.choice(retention_type, ret.TYPE_LABELS, "recurring"),
        mode=ret.choice(mode, ret.MODE_LABELS, "exact"),
        periods=ret.choice(periods, ret.PERIOD_LABELS, "calendar"),
        week_start=ret.choice(week_start, ret.WEEK_START_LABELS, "monday"),
    )
except ValueError as exc:
    st.error(f"These settings cannot be computed: {md(exc)}")
    st.stop()
noun = query.interval
dates = {"cohort_start": st.column_config.DateColumn("Cohort", format="YYYY-MM-DD")}
rates = {
    name: st.column_config.NumberColumn(format="percent")
    for name in ("rate", "rate_ci_low", "rate_ci_high")
}

count = ret.cohort_count(query)
if count > ret.MAX_COHORTS:
    st.warning(
        f"The date range holds {count} {noun}s, too many cohorts to read as a triangle (at most "
        f"{ret.MAX_COHORTS}). Pick a longer interval or shorten the date range in the sidebar."
    )
    st.stop()

try:
    table = ret.cohorts(source, query)
except ValueError as exc:
    st.error(f"These settings cannot be computed: {md(exc)}")
    st.stop()

if not ret.has_cohorts(table):
    st.info(
        f"Nobody started between {shared.start:%d %b %Y} and {shared.end:%d %b %Y} with these "
        "settings. Widen the date range in the sidebar, pick another start event, switch to "
        "recurring cohorts or clear the filters."
    )
    st.stop()

curve = ret.average(table)

# -- the KPI this page was opened to explain (the Overview's "Explain this number") -----------
if (explained := explain.current("retention")) is not None:
    explain.show(explained, *explain.retention_value(explained, table))

# -- headline numbers -------------------------------------------------------------------------
headline_row = components.headline_row()
for headline in ret.headlines(table, curve, query):
    headline_row.metric(
        headline.label,
        headline.value,
        help=headline.help,
        format="percent" if headline.percent else "localized",
        border=True,
        width=components.HEADLINE_WIDTH,
    )

# -- the triangle -----------------------------------------------------------------------------
st.header("Cohort triangle")
components.chart(charts.triangle_figure(table, interval=noun), key="ret_chart_triangle")
components.numbers(
    table, name=f"retention_by_{noun}", key="ret_table", column_config={**dates, **rates}
)
engine.show_sql(ret.cohorts.sql(source, query), what="the cohorts")
components.definition(ret.describe(query))

# -- curves and lifetime value ---------------------------------------------------------------
# In tabs, each drawn only while open (ui/components.lazy_tabs): a shared link draws two charts, not
# three. The open tab is part of the link.


def curves_tab() -> None:
    """Each cohort's retention curve and their pooled average."""
    # The sidebar's "Compare with": the average curve of the earlier range's cohorts.
    curve_shift = compare.shift(shared.start, shared.end, shared.compare, query.interval)
    curve_before = compare.earlier_curve(
        curve_shift,
        lambda s, e: ret.average(
            ret.cohorts(source, replace(query, scope=query.scope.between(s, e)))
        ),
        first_day=compare.first_day(source, shared.tz),
    )
    components.chart(
        charts.curves_figure(table, curve, interval=noun, comparison=curve_before),
        key="ret_chart_curves",
    )
    compare.note(curve_shift, curve_before)
    components.numbers(
        curve,
        name=f"average_retention_by_{noun}",
        key="ret_curve",
        column_config=rates,
        label="Numbers behind the average curve",
    )
    engine.show_sql(ret.cohorts.sql(source, query), what="the cohorts the curves average")
    components.definition(
        ret.describe(query)
        + " The bold line pools all cohorts (returning users over cohort users, so big cohorts "
        "weigh more) using only finished periods; where no cohort has finished a period yet, it "
        "is dashed."
    )


def ltv_tab() -> None:
    """Cumulative revenue per cohort user (lifetime value)."""
    if not ret.has_revenue(source):
        st.info(
            "This source has no `revenue` column with values, so there is no LTV curve to draw."
        )
        return
    try:
        money = ret.revenue(source, query)
    except ValueError as exc:
        st.error(f"The revenue curve cannot be computed with these settings: {md(exc)}")
        return
    components.chart(
        charts.ltv_figure(
            money, ret.average_ltv(money), interval=noun, currency=product.money_currency()
        ),
        key="ret_chart_ltv",
    )
    components.numbers(
        money,
        name=f"revenue_by_{noun}",
        key="ret_ltv",
        column_config=dates,
        label="Numbers behind the LTV curve",
    )
    engine.show_sql(ret.revenue.sql(source, query), what="the LTV curve")
    components.definition(ret.describe(query, what="revenue"))


DRAW = {ret.MORE_TABS["curves"]: curves_tab, ret.MORE_TABS["ltv"]: ltv_tab}
st.header("Curves and lifetime value")
components.lazy_sections(DRAW, key=ret.MORE_KEY)
