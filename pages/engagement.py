"""Engagement page: are people using the product, how often they return, who comes, who goes."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from ui import compare, components, data, engine, explain, state
from ui import engagement as eng
from ui.charts import engagement as charts
from ui.text import md

st.title("Engagement")
st.caption(
    "Are people using the product, how often do they come back, and who is arriving and leaving? "
    "Every number counts people, not events."
)

shared = state.shared()
source = data.source_key()
options = eng.choices(source)

# -- controls ---------------------------------------------------------------------------------
# Two rows of two, so every picker stays readable in a narrow window.
pick_event, pick_breakdown = st.columns(2)
pick_interval, pick_week = st.columns(2)
event_label = pick_event.selectbox(
    "Active means doing",
    [eng.ANY_EVENT, *options.events],
    key="eng_event",
    bind="query-params",
    help="A user is active in a period when they did this event in it (or any event).",
)
interval = pick_interval.segmented_control(
    "Interval",
    list(eng.INTERVAL_LABELS),
    format_func=eng.INTERVAL_LABELS.get,
    default="day",
    required=True,
    key="eng_interval",
    bind="query-params",
    help="Day shows DAU, WAU and MAU; week and month count calendar periods.",
)
week_start = pick_week.selectbox(
    "Weeks start on",
    list(eng.WEEK_START_LABELS),
    format_func=eng.WEEK_START_LABELS.get,
    key="eng_week_start",
    bind="query-params",
    disabled=interval != "week",
)
breakdown_label = pick_breakdown.selectbox(
    "Break down by",
    [eng.NO_BREAKDOWN, *options.properties],
    key="eng_breakdown",
    bind="query-params",
    help="Split active users and revenue by a property of the events.",
)
event = None if event_label == eng.ANY_EVENT else event_label
breakdown = None if breakdown_label == eng.NO_BREAKDOWN else breakdown_label

try:
    # The page's question: the sidebar's scope and the controls above (ui/engagement.py).
    query = eng.page_query(shared.scope, event=event, interval=interval, week_start=week_start)
    daily = eng.daily(query)
    rolling = eng.rolling(source, daily)
    ratio = eng.dau_mau(source, daily)
except ValueError as exc:
    st.error(f"These settings cannot be computed: {md(exc)}")
    st.stop()

interval = query.interval
split = replace(query, breakdown=breakdown)  # active users by the picked property
money_query = replace(query, event=None)  # revenue counts every event
scope = eng.describe_scope(query)
periods = eng.describe_weeks(query)
noun = eng.INTERVAL_LABELS[interval].lower()
dates = {"period_start": st.column_config.DateColumn("Period start", format="YYYY-MM-DD")}
targets = eng.vision_targets(query)
first_day = eng.first_data_day(source, shared.tz)

if not eng.has_activity(rolling):
    st.info(
        f"Nobody was active between {shared.start:%d %b %Y} and {shared.end:%d %b %Y} with these "
        "settings. Widen the date range in the sidebar, pick another event or clear the filters."
    )
    st.stop()

# -- the KPI this page was opened to explain (the Overview's "Explain this number") -----------
if (explained := explain.current("engagement")) is not None:
    explain.show(
        explained,
        *explain.engagement_value(
            explained,
            rolling=rolling,
            ratio=ratio,
            periodic=eng.periodic(source, query) if interval != "day" else None,
            lifecycle=eng.lifecycle(source, query),
            money=eng.revenue(source, money_query),
        ),
    )

# -- headline numbers -------------------------------------------------------------------------
# A wrapping row of fixed-width cards: four across on a wide window, two by two at 800 px, so a
# number is never cut short ("14,2…"). Each says its change against the previous period and
# against a year before (the lined-up day: metrics/compare.py).
headline_row = components.headline_row()
before = eng.headlines_before(source, daily, first_day)
for headline in eng.headlines(rolling, ratio, before):
    # A little wider than other pages' cards: "+12,611 vs previous" fits whole, four across.
    with headline_row.container(border=True, width=components.HEADLINE_WIDTH + 10):
        st.metric(
            headline.label,
            headline.value,
            delta=headline.delta_text,
            help=headline.help,
            format="percent" if headline.percent else "localized",
            delta_description="vs previous",
        )
        st.caption(headline.year_text)

# -- the earlier period the charts are compared with (the sidebar's "Compare with") -----------
daily_shift = compare.shift(shared.start, shared.end, shared.compare)
period_shift = compare.shift(shared.start, shared.end, shared.compare, interval)


def earlier(found, adapter, asked, *, by=interval):
    """The earlier series of one chart: the same cached adapter on the same question over the
    earlier days (ui/compare.py)."""
    return compare.earlier(
        found,
        lambda s, e: adapter(source, eng.over(asked, s, e)),
        first_day=first_day,
        interval=by,
    )


# -- active users -----------------------------------------------------------------------------
st.header("Active users")
if interval == "day":
    rolling_before = earlier(daily_shift, eng.rolling, daily)
    components.chart(
        charts.rolling_active_figure(
            rolling, data_start=first_day, targets=targets.rolling, comparison=rolling_before
        ),
        key="eng_chart_rolling",
    )
    compare.note(daily_shift, rolling_before)
    components.numbers(
        eng.rolling_wide(rolling), name="dau_wau_mau", key="eng_rolling", column_config=dates
    )
    engine.show_sql(eng.rolling.sql(source, daily), what="DAU, WAU and MAU")
    components.definition(
        f"{scope} **DAU**: users active that day. **WAU** and **MAU**: users active in the 7 and "
        "30 days ending that day (rolling windows that reach back before the start of the range). "
        "Dotted: the window reaches back before the first day of data, so it is not yet full."
    )
else:
    active = eng.periodic(source, query)
    active_before = earlier(period_shift, eng.periodic, query)
    components.chart(
        charts.active_users_figure(
            active,
            interval=interval,
            target=targets.periodic.get(interval),
            comparison=active_before,
        ),
        key="eng_chart_periodic",
    )
    compare.note(period_shift, active_before)
    components.numbers(
        active, name=f"active_users_per_{noun}", key="eng_periodic", column_config=dates
    )
    engine.show_sql(eng.periodic.sql(source, query), what="the chart")
    components.definition(
        f"{scope} Active users per calendar {noun}: distinct users active at least once in it. "
        f"{periods} Only days inside the date range count: a first or last {noun} that sticks out "
        "of the range is partial (dotted)."
    )

# -- breakdown --------------------------------------------------------------------------------
st.header("By property")
if breakdown is None:
    st.info("Pick a property in **Break down by** above to split active users by its values.")
else:
    by_value = eng.periodic(source, split)
    components.chart(
        charts.active_users_figure(by_value, interval=interval, breakdown=breakdown),
        key="eng_chart_breakdown",
    )
    components.numbers(
        by_value, name=f"active_users_by_{breakdown}", key="eng_split", column_config=dates
    )
    engine.show_sql(eng.periodic.sql(source, split))
    components.definition(
        f"{scope} Active users per {noun} for each value of **{md(breakdown)}** on their events: a "
        "user active with two values counts once under each, so the lines can add up to more "
        f"than the total. Events without a {md(breakdown)} form '(not set)'. The chart shows the "
        f"biggest values; the table has them all. {periods}"
    )

# -- stickiness, DAU/MAU, lifecycle and revenue ----------------------------------------------
# Secondary views in tabs, each drawn only while its tab is open (ui/components.lazy_tabs): a shared
# link draws two charts, not six. The open tab is part of the link, and "Explain this number" opens
# the tab that holds its KPI (ui/explain.py).
state.finite_param("eng_interval_count")


@st.fragment  # the blocks control reruns only this tab (issue 12 item 5)
def stickiness_tab() -> None:
    """How many periods each user was active in, in blocks of the picked size."""
    st.subheader(f"How many {noun}s do users come?")
    interval_count = st.number_input(
        f"Count {noun}s in blocks of",
        min_value=1,
        max_value=90,
        value=1,
        step=1,
        key="eng_interval_count",
        bind="query-params",
        help=f"2 counts pairs of {noun}s: a user active in either {noun} of a pair scores one.",
    )
    blocks = replace(query, interval_count=int(interval_count or 1))
    sticky = eng.stickiness(source, blocks)
    components.chart(
        charts.stickiness_figure(sticky, interval=interval, interval_count=blocks.interval_count),
        key="eng_chart_stickiness",
    )
    components.numbers(sticky, name="stickiness", key="eng_sticky")
    engine.show_sql(eng.stickiness.sql(source, blocks), what="stickiness")
    block = (
        f"{noun}s" if blocks.interval_count == 1 else f"blocks of {blocks.interval_count} {noun}s"
    )
    components.definition(
        f"{scope} Each user active in the range is counted once, at the number of {block} in "
        "which they were active (blocks start on the first day of the range; weeks and months "
        f"are the calendar ones that touch it, partial ones included). {periods}"
    )


def dau_mau_tab() -> None:
    """DAU/MAU per day, against the vision's target."""
    st.subheader("How many of the month's users come on a day?")
    ratio_before = earlier(daily_shift, eng.dau_mau, daily, by="day")
    components.chart(
        charts.dau_mau_figure(
            ratio, data_start=first_day, target=targets.dau_mau, comparison=ratio_before
        ),
        key="eng_chart_dau_mau",
    )
    compare.note(daily_shift, ratio_before)
    components.numbers(
        ratio,
        name="dau_mau",
        key="eng_ratio",
        column_config={
            **dates,
            "ratio": st.column_config.NumberColumn("DAU/MAU", format="percent"),
        },
    )
    engine.show_sql(eng.dau_mau.sql(source, daily), what="DAU/MAU")
    components.definition(
        f"{scope} DAU/MAU per day: users active that day divided by users active in the 30 days "
        "ending that day. 100% means everyone comes every day; about 3% means once a month."
    )


def lifecycle_tab() -> None:
    """New, returning, resurrecting and dormant users per period."""
    st.subheader(f"Who is new, returning, resurrecting or dormant each {noun}?")
    life = eng.lifecycle(source, query)
    components.chart(charts.lifecycle_figure(life, interval=interval), key="eng_chart_lifecycle")
    components.numbers(life, name=f"lifecycle_per_{noun}", key="eng_life", column_config=dates)
    engine.show_sql(eng.lifecycle.sql(source, query), what="the lifecycle")
    components.definition(
        f"{scope} Per {noun}: **new** = active for the first time ever; **returning** = active "
        f"in the previous {noun} too; **resurrecting** = back after at least one {noun} away; "
        f"**dormant** (below zero) = active in the previous {noun} but not this one. History "
        f"before the date range counts, and whole {noun}s count, so a {noun} sticking out of the "
        f"range is hatched. {periods}"
    )


def revenue_tab() -> None:
    """Revenue, and revenue per active and per paying user."""
    money_split = replace(money_query, breakdown=breakdown)
    money = eng.revenue(source, money_split)
    money_before = earlier(period_shift, eng.revenue, money_query) if breakdown is None else None
    if not eng.has_activity(money, "paying_users"):
        st.info("No revenue was recorded in this range (no event with a positive `revenue`).")
    st.metric(
        f"Revenue, {shared.start:%d %b %Y} – {shared.end:%d %b %Y}",
        eng.money_text(eng.revenue_total(money), targets.currency),
        help="The sum of `revenue` over every event in the date range (refunds lower it).",
    )
    components.chart(
        charts.revenue_total_figure(
            money,
            interval=interval,
            breakdown=breakdown,
            currency=targets.currency,
            comparison=money_before,
        ),
        key="eng_chart_revenue_total",
    )
    if breakdown is None:
        compare.note(period_shift, money_before)
    st.subheader("Revenue per active user")
    components.chart(
        charts.revenue_figure(
            money,
            interval=interval,
            breakdown=breakdown,
            currency=targets.currency,
            comparison=money_before,
        ),
        key="eng_chart_revenue",
    )
    components.numbers(money, name=f"revenue_per_{noun}", key="eng_money", column_config=dates)
    engine.show_sql(eng.revenue.sql(source, money_split), what="revenue")
    components.definition(
        f"Counting unit: a user (`user_id`); days are calendar days in **{shared.tz}**; every "
        f"event counts, whatever the event picked above. Per {noun}: revenue = sum of `revenue` "
        "(refunds lower it); revenue per active user = revenue / users with any event; per "
        f"paying user = revenue / users with a positive `revenue`. {periods}"
        + (f" Partial {noun}s are dotted." if interval != "day" else "")
    )


DRAW = {
    eng.MORE_TABS["dau_mau"]: dau_mau_tab,
    eng.MORE_TABS["stickiness"]: stickiness_tab,
    eng.MORE_TABS["lifecycle"]: lifecycle_tab,
    eng.MORE_TABS["revenue"]: revenue_tab,
}
st.header("Stickiness, lifecycle and revenue")
components.lazy_sections(DRAW, key=eng.MORE_KEY)
