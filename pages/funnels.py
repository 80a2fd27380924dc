"""Funnels page: where do we lose people on the way from one step to the next?"""

from __future__ import annotations

import streamlit as st

from ui import compare, components, data, engine, explain, state
from ui import funnels as fun
from ui.charts import funnels as charts
from ui.text import md

st.title("Funnels")
st.caption(
    "Where do we lose people? Pick the steps users should take; each bar counts the users who got "
    "that far, and the charts below show when they entered, how long they took and where the ones "
    "who dropped off went instead."
)

shared = state.shared()
source = data.source_key()
options = fun.choices(source)

# -- controls ---------------------------------------------------------------------------------
defaults = fun.default_steps(options.events)
count_column, _ = st.columns([1, 4])
state.finite_param("fun_step_count")
step_count = count_column.number_input(
    "Number of steps",
    min_value=fun.MIN_STEPS,
    max_value=fun.MAX_STEPS,
    value=max(len(defaults), fun.MIN_STEPS),
    step=1,
    key="fun_step_count",
    bind="query-params",
    help="How many steps the funnel has. A step may repeat an earlier step's event (for example "
    "page_view, then page_view again).",
)
picked: list[str | None] = []
for row_start in range(0, int(step_count or fun.MIN_STEPS), fun.STEPS_PER_ROW):
    row = st.columns(fun.STEPS_PER_ROW)
    for offset, column in enumerate(row):
        number = row_start + offset + 1
        if number > int(step_count or fun.MIN_STEPS):
            break
        default = defaults[number - 1] if number <= len(defaults) else None
        picked.append(
            column.selectbox(
                f"Step {number}",
                options.events,
                index=options.events.index(default) if default in options.events else None,
                key=f"fun_step_{number}",
                bind="query-params",
                placeholder="Pick an event",
            )
        )
chosen = [name for name in picked if name]
# Two rows of two, so every picker stays readable in a narrow window; the order's three buttons
# get the wider column (at 800 px an even split cut "Any order" off).
pick_order, pick_breakdown = st.columns([3, 2])
pick_value, pick_unit = st.columns(2)
order = pick_order.segmented_control(
    "Order",
    list(fun.ORDER_LABELS),
    format_func=fun.ORDER_LABELS.__getitem__,
    default="ordered",
    required=True,
    key="fun_order",
    bind="query-params",
    help="Ordered: steps in this order, other events allowed in between. Strict: each step must be "
    "the user's very next event. Any order: the steps in any order within the window.",
)
state.finite_param("fun_window")
window_value = pick_value.number_input(
    "Conversion window",
    min_value=1,
    max_value=1000,
    value=14,
    step=1,
    key="fun_window",
    bind="query-params",
    help="How long after step 1 a user has to finish the funnel (elapsed time).",
)
window_unit = pick_unit.selectbox(
    "Window unit",
    list(fun.UNIT_LABELS),
    index=list(fun.UNIT_LABELS).index("day"),
    format_func=fun.UNIT_LABELS.__getitem__,
    key="fun_window_unit",
    bind="query-params",
)
breakdown_label = pick_breakdown.selectbox(
    "Break down by",
    [fun.NO_BREAKDOWN, *options.properties],
    key="fun_breakdown",
    bind="query-params",
    help="Split the funnel by a property of each attempt's first event (first touch).",
)
with st.expander("Exclusions: attempts that do not count"):
    pick_excluded, pick_from, pick_to = st.columns([3, 1.5, 1.5])
    excluded = pick_excluded.multiselect(
        "Exclude attempts with",
        [name for name in options.events if name not in chosen],
        key="fun_exclusions",
        bind="query-params",
        placeholder="No exclusions",
        help="An attempt in which the user did one of these events between the two steps below "
        "does not count (a user with another, clean attempt still does).",
    )
    numbers = list(range(1, max(len(chosen), 2) + 1))
    exclude_from = pick_from.selectbox(
        "Between step",
        numbers[:-1],
        key="fun_exclude_from",
        bind="query-params",
    )
    exclude_to = pick_to.selectbox(
        "and step",
        numbers[1:],
        index=len(numbers) - 2,
        key="fun_exclude_to",
        bind="query-params",
    )

view = fun.View(window_value=int(window_value or 14), window_unit=window_unit or "day")
unpicked = [number for number, name in enumerate(picked, start=1) if not name]
trouble = (
    f"Pick an event for step {unpicked[0]} (or lower the number of steps)."
    if unpicked
    else fun.problem(chosen, excluded, int(exclude_from or 1), int(exclude_to or 0))
)
if trouble:
    st.info(trouble)
    st.stop()

try:
    query = fun.query(
        chosen,
        order=order or "ordered",
        view=view,
        exclusions=excluded,
        exclude_from=int(exclude_from or 1),
        exclude_to=int(exclude_to or 0),
        breakdown=None if breakdown_label == fun.NO_BREAKDOWN else breakdown_label,
        scope=shared.scope,
    )
    whole = fun.whole(query)  # every chart but the split one
    table = fun.steps(source, whole)
except ValueError as exc:
    st.error(f"This funnel cannot be computed: {md(exc)}")
    st.stop()

if not fun.has_users(table):
    st.info(
        f"Nobody did **{md(chosen[0])}** between {shared.start:%d %b %Y} and "
        f"{shared.end:%d %b %Y} with these settings. Widen the date range in the sidebar, pick "
        "another first step or clear the filters."
    )
    st.stop()

# -- the KPI this page was opened to explain (the Overview's "Explain this number") -----------
if (explained := explain.current("funnels")) is not None:
    explain.show(
        explained, *explain.funnel_value(explained, fun.trends(source, whole, explained.kpi.period))
    )

# -- headline numbers -------------------------------------------------------------------------
headline_row = components.headline_row()
for headline in fun.headlines(table):
    headline_row.metric(
        headline.label,
        headline.value,
        help=headline.help,
        format="percent" if headline.percent else "localized",
        border=True,
        width=components.HEADLINE_WIDTH,
    )

# -- steps ------------------------------------------------------------------------------------
st.header("Steps")
components.chart(charts.steps_figure(table), key="fun_chart_steps")
components.numbers(table, name="funnel_steps", key="fun_steps_table")
engine.show_sql(fun.steps.sql(source, whole), what="the steps")
components.definition(fun.describe_steps(query, view))

# -- breakdown --------------------------------------------------------------------------------
st.header("By property")
if query.breakdown is None:
    st.info("Pick a property in **Break down by** above to compare the funnel across its values.")
else:
    split = fun.steps(source, query)
    components.chart(
        charts.breakdown_figure(split, breakdown=query.breakdown), key="fun_chart_breakdown"
    )
    components.numbers(split, name=f"funnel_by_{query.breakdown}", key="fun_breakdown_table")
    engine.show_sql(fun.steps.sql(source, query), what="the breakdown")
    components.definition(fun.describe_breakdown(query, view, query.breakdown))

# -- conversion over time, time to convert, drop-offs ----------------------------------------
# In tabs, each drawn only while open (ui/components.lazy_tabs): a shared link draws two charts, not
# four. The open tab is part of the link.


@st.fragment  # its own control reruns only this tab (issue 12 item 5)
def trends_tab() -> None:
    """Conversion of the users who entered in each day, week or month."""
    interval = st.segmented_control(
        "Group users by the",
        list(fun.INTERVAL_LABELS),
        format_func=fun.INTERVAL_LABELS.__getitem__,
        default="day",
        required=True,
        key="fun_interval",
        bind="query-params",
    )
    interval = interval or "day"
    over_time = fun.trends(source, whole, interval)
    # The sidebar's "Compare with": the same funnel on the earlier range (ui/compare.py).
    trends_shift = compare.shift(shared.start, shared.end, shared.compare, interval)
    trends_before = compare.earlier(
        trends_shift,
        lambda s, e: fun.trends(source, whole.between(s, e), interval),
        first_day=compare.first_day(source, shared.tz),
        interval=interval,
    )
    components.chart(
        charts.trends_figure(over_time, interval=interval, comparison=trends_before),
        key="fun_chart_trends",
    )
    compare.note(trends_shift, trends_before)
    components.numbers(
        over_time,
        name=f"funnel_conversion_by_{interval}",
        key="fun_trends_table",
        column_config={"period_start": st.column_config.DateColumn("Entered", format="YYYY-MM-DD")},
    )
    engine.show_sql(fun.trends.sql(source, whole, interval), what="conversion over time")
    components.definition(fun.describe_trends(query, view, interval))


def time_tab() -> None:
    """How long converted users took from the first step to the last."""
    histogram = fun.time_to_convert(source, whole)
    if histogram.height == 0:
        st.info("Nobody reached the last step, so there is no time to convert to show.")
        return
    components.chart(charts.time_to_convert_figure(histogram), key="fun_chart_time")
    components.numbers(histogram, name="funnel_time_to_convert", key="fun_time_table")
    engine.show_sql(fun.time_to_convert.sql(source, whole), what="time to convert")
    components.definition(fun.describe_time(query, view))


@st.fragment  # its own control reruns only this tab (issue 12 item 5)
def drops_tab() -> None:
    """What users who dropped off before a step did next."""
    labels = fun.step_options(query)
    drop_step = st.selectbox(
        "Users who dropped off on the way to",
        list(labels),
        index=fun.biggest_drop(table),
        format_func=labels.__getitem__,
        key="fun_drop_step",
        bind="query-params",
    )
    drop_step = int(drop_step or 2)
    ignored = st.multiselect(
        "Pass over these events",
        options.events,
        default=fun.default_ignored(options.events),
        key="fun_next_ignore",
        bind="query-params",
        placeholder="Count every event",
        help="Events recorded on their own after almost anything (session starts, page views) hide "
        "what users chose to do next; the first event that is not one of these counts instead.",
    )
    gone = fun.dropped(source, whole, drop_step)
    if gone.height == 0:
        st.info(f"Nobody has dropped off on the way to step {drop_step} (yet).")
        return
    went = fun.next_events(source, whole, drop_step, tuple(ignored))
    components.chart(charts.next_events_figure(went), key="fun_chart_next")
    components.numbers(
        went,
        name=f"funnel_next_events_step_{drop_step}",
        key="fun_next_table",
    )
    engine.show_sql(
        fun.dropped.sql(source, whole, drop_step)
        + fun.next_events.sql(source, whole, drop_step, tuple(ignored)),
        what="the drop-offs and their next events",
    )
    components.definition(fun.describe_next(query, view, drop_step, tuple(ignored)))
    st.download_button(
        f"Download the {gone.height:,} user{'' if gone.height == 1 else 's'} who dropped off (CSV)",
        gone.write_csv().encode(),
        file_name=f"dropped_before_step_{drop_step}.csv",
        mime="text/csv",
        key="fun_dl_dropped",
        icon=":material/download:",
    )


DRAW = {
    fun.MORE_TABS["trends"]: trends_tab,
    fun.MORE_TABS["time"]: time_tab,
    fun.MORE_TABS["drops"]: drops_tab,
}
st.header("Over time, time to convert and drop-offs")
components.lazy_sections(DRAW, key=fun.MORE_KEY)
