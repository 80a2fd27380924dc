"""Data page: which source the numbers come from, what loading it kept and dropped, its columns."""

from __future__ import annotations

import streamlit as st

from ui import components, data, datapage, engine
from ui.charts.data import events_by_name_figure
from ui.text import md

st.title("Data")
st.caption(
    "Where every number in Northstar comes from: the source, what loading it kept, dropped or "
    "changed, and the columns it has."
)

# -- source -------------------------------------------------------------------------------------
choices = datapage.source_choices()
if choices.problem:
    st.error(
        "sources.toml has problems; only the demo is offered until they are fixed. "
        + md(choices.problem)
    )
current = data.source_name()
names = choices.names if current in choices.names else [current, *choices.names]
picker, reload = st.columns([4, 1], vertical_alignment="bottom")
picker.selectbox(
    "Source",
    names,
    index=names.index(current),
    key="data_source",
    on_change=datapage.pick_source,
    format_func=lambda name: f"{name} — {choices.labels.get(name, name)}",
    help="The sources listed in sources.toml. Every page uses the one picked here.",
)
reload.button(
    "Reload",
    on_click=datapage.reload_source,
    help="Read the source again (after its files or sources.toml changed).",
    key="data_reload",
)

source: data.LoadedSource | data.EngineSource | None
try:
    source = data.loaded()
except data.SourceError as exc:
    st.error(
        f"**{md(current)}** could not be loaded: " + md(datapage.without_server_paths(str(exc)))
    )
    st.info("Fix the file or the entry in sources.toml and press Reload, or pick another source.")
    source = None

if source is not None:
    report = source.report

    # -- load report ----------------------------------------------------------------------------
    st.header("Load report")
    shown_source = datapage.without_server_paths(report.source)
    st.caption(f"{md(shown_source)} · format: {md(report.format)}")
    in_engine = isinstance(source, data.EngineSource)
    if isinstance(source, data.EngineSource):
        st.info(
            f"Computed in the database ({md(source.dialect)}): the events stay there. Every "
            "figure of this report was counted by SQL, and every page sends its own statements "
            "(under **Show SQL** beside each chart); only their result rows come back.",
            icon=":material/database:",
        )
    # Fixed-width cards that wrap in a narrow window: never "2…" for 2,104,220 rows.
    with components.headline_row():
        for label, count in (
            ("Rows read", report.rows_read),
            ("Rows kept", report.rows_kept),
            ("Rows dropped", report.rows_dropped),
            ("Users", report.users),
            ("Anonymous ids merged", report.identities_merged),
        ):
            st.metric(label, f"{count:,}", border=True, width=components.HEADLINE_WIDTH)
    if report.first_event is not None and report.last_event is not None:
        st.markdown(
            f"Events from **{report.first_event:%Y-%m-%d %H:%M}** to "
            f"**{report.last_event:%Y-%m-%d %H:%M}** UTC."
        )
    else:
        st.warning("No events were kept: the pages will show no data for this source.")

    left, right = st.columns(2)
    with left:
        st.subheader("Rows dropped, by reason")
        st.dataframe(
            datapage.dropped_table(report),
            hide_index=True,
            column_config={
                "reason": "Reason",
                "rows": st.column_config.NumberColumn("Rows", format="localized"),
                "share_of_rows_read": st.column_config.NumberColumn(
                    "Share of rows read", format="percent"
                ),
            },
        )
        components.definition(
            "A row missing several things is counted once, under the first reason listed. "
            "Repeated event_ids keep their first occurrence."
        )
    with right:
        st.subheader("What loading changed")
        if report.notes:
            notes = (datapage.without_server_paths(note) for note in report.notes)
            st.markdown("\n".join(f"- {md(note)}" for note in notes))
        else:
            st.markdown("Nothing: the source was already in the canonical shape.")

    st.subheader("Events by name")
    by_name = datapage.events_table(report)
    components.chart(events_by_name_figure(by_name), key="data_events_chart")
    components.definition("Events kept after loading, per event name, over the whole source.")
    components.numbers(
        by_name,
        name="events_by_name",
        key="data_events",
        column_config={
            "events": st.column_config.NumberColumn("Events", format="localized"),
            "share": st.column_config.NumberColumn("Share", format="percent"),
        },
    )
    if isinstance(source, data.EngineSource):
        engine.show_sql(source.report_sql, what="this report")

    # -- schema and sample ----------------------------------------------------------------------
    st.header("Schema")
    st.dataframe(
        datapage.schema_table(data.source_key()),
        hide_index=True,
        column_config={
            "column": "Column",
            "type": "Type",
            "meaning": "Meaning",
            "empty_share": st.column_config.NumberColumn("Empty", format="percent"),
            "example": "Example",
        },
    )
    components.definition(
        "user_id, event and timestamp are required; every other column is a property the pages "
        "can filter and break down by."
    )

    st.header("Sample of rows")
    st.caption(
        f"The first {datapage.SAMPLE_ROWS} rows the database hands out, in time order; times in "
        "UTC."
        if in_engine
        else f"{datapage.SAMPLE_ROWS} rows picked at random (the same ones each time), in time "
        "order; times in UTC."
    )
    st.dataframe(datapage.sample_rows(data.source_key()), hide_index=True)

    assignments = datapage.assignment_table(data.source_key())
    if assignments is not None:
        st.header("Experiment assignments")
        st.dataframe(
            assignments,
            hide_index=True,
            column_config={
                "experiment": "Experiment",
                "variant": "Variant",
                "users": st.column_config.NumberColumn("Users", format="localized"),
                "first_exposure": st.column_config.DatetimeColumn("First exposure (UTC)"),
                "last_exposure": st.column_config.DatetimeColumn("Last exposure (UTC)"),
            },
        )
        components.definition(
            "Each user's first exposure to each experiment and the variant they saw then."
        )

# -- your own data ------------------------------------------------------------------------------
st.header("Connect your own data")
st.markdown(
    "List your sources in **sources.toml** next to app.py; they appear in the picker above. "
    "Files (CSV/TSV, Parquet, NDJSON, also .gz; one file, a glob or a folder), databases through "
    "SQLAlchemy, and the exports of Segment, Amplitude, Mixpanel, GA4, PostHog and Snowplow, which "
    "are recognised by their columns. Passwords go in an environment variable or in "
    ".streamlit/secrets.toml, never in sources.toml. The full guide is **docs/data.md**."
)
st.code(datapage.EXAMPLE_SOURCES, language="toml")
