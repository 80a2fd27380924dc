"""Overview: the product's vision, its North Star and every KPI against its target.

Layout only: the vision file is read and edited through ``ui.targets``, KPIs are judged by
``metrics.targets`` (cached in ``ui.targets``), figures come from ``ui.charts.targets``.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from metrics import annotations as notes
from metrics import drivers as why
from ui import annotations as nt
from ui import compare, components, data, editing, engine, explain, product, setup, state
from ui import engagement as eng
from ui import targets as tg
from ui.charts import targets as charts
from ui.text import md

PAGE_TITLES = {
    "engagement": "Engagement",
    "retention": "Retention",
    "funnels": "Funnels",
    "experiments": "Experiments",
}
DIRECTIONS = {"up": "Up (higher is better)", "down": "Down (lower is better)"}
PERIOD_WORDS = {
    "day": "7-day average",
    "week": "latest complete week",
    "month": "latest complete month",
}


def _md(value: object) -> str:
    """Text from the vision file or the data shown as text, never read as Markdown (ui.text.md)."""
    return md(value)


def show_problems(problems: list[str] | tuple[str, ...], heading: str) -> None:
    st.error(f"**{heading}**\n\n" + "\n".join(f"- {_md(p)}" for p in problems))


def show_saved(result: tg.Saved, file_name: str, key: str) -> None:
    """The outcome of an edit: saved, or every problem, or the new file to download."""
    if result.written:
        st.session_state["ov_flash"] = result.message
        st.session_state["ov_seen_text"] = result.text
        st.rerun()
    problems = tg.check(result.text, file_name)
    if problems:
        show_problems(problems, f"Not saved: {len(problems)} problem(s) to fix first")
        return
    st.warning(_md(result.message))
    st.download_button(
        f"Download the edited {_md(file_name)}",
        result.text,
        file_name=file_name,
        mime="application/toml",
        key=f"ov_dl_{key}",
        icon=":material/download:",
    )


def file_editor(file: tg.VisionFile) -> None:
    """Edit the whole file as text: checked before it is saved."""
    with st.form("ov_raw_form"):
        text = st.text_area(
            _md(file.path.name),
            file.text,
            height=420,
            help="Every field is described in docs/targets.md. Rates are fractions: 25% is 0.25.",
        )
        submitted = st.form_submit_button("Check and save", icon=":material/save:")
    if submitted:
        show_saved(editing.save(file.path, seen, text, editor.who), file.path.name, "raw")


if flash := st.session_state.pop("ov_flash", None):
    st.success(_md(flash), icon=":material/check_circle:")

file = tg.read_vision()
# The file as this user last saw it: an edit applies to that, and is refused if the file on disk
# has changed since (someone else's edit is never silently overwritten).
seen = st.session_state.get("ov_seen_text", file.text)
# Who may change the targets here (off unless the deployment turns editing on): ui/editing.py.
editor = editing.current_access()
if file.vision is None and not file.path.exists():
    # A product without a vision file states its own: never another product's targets.
    setup.guided(file.path)
    st.stop()
if file.vision is None:
    st.title("Overview")
    count = len(file.problems)
    show_problems(
        file.problems,
        f"{file.path.name} has {count} problem{'s' if count != 1 else ''}: "
        "the scorecard needs them fixed",
    )
    st.caption(
        f"The vision file is {_md(product.display_path(file.path))}. Fix it below or in your "
        "editor; docs/targets.md."
    )
    if file.text and editor.allowed:
        file_editor(file)
    elif file.text:
        st.info(_md(editor.reason))
    st.session_state["ov_seen_text"] = file.text
    st.stop()

vision = file.vision
shared = state.shared()
source = data.source_name()
key = data.source_key()  # the cached scorecard and drivers are keyed by the load generation
today = tg.as_of(shared.end)
card = tg.scorecard(key, vision, today, shared.tz)
rows = {row["kpi"]: row for row in card.table.iter_rows(named=True)}
# A year before, every KPI judged as of 364 days earlier by the same cached scorecard (the value
# beside "vs a year before"); with the sidebar's "Compare with", the scorecard as of the earlier
# range's end gives each KPI's chart its earlier points (ui/compare.py).
year_rows = tg.rows_before(key, vision, today, shared.tz)
compare_shift = compare.shift(shared.start, shared.end, shared.compare)
earlier_card = (
    None
    if compare_shift is None
    else tg.scorecard(key, vision, compare_shift.back(today), shared.tz)
)
currency = product.currency(vision.currency)  # the source's own, else its vision's


first_day = eng.first_data_day(key, shared.tz)


def explain_link(row: dict, key: str) -> None:
    """Open the KPI's page at the KPI's own definition and period (ui.explain)."""
    title = PAGE_TITLES[explain.page_of(row["metric"])]
    page, params = explain.link(
        vision.kpi(row["kpi"]),
        row,
        tz=shared.tz,
        first_day=first_day,
        last_day=card.today - dt.timedelta(days=1),
    )
    st.page_link(
        page,
        label="Explain this number",
        help=f"Opens {title} at this KPI's own definition and period.",
        icon=":material/arrow_forward:",
        query_params=params,
    )


def kpi_metric(row: dict, *, label: str) -> None:
    if row["status"] == "no_data":
        st.metric(label, "No data", border=False)
        st.caption(f"Missing, not zero: {_md(row['reason'])}.")
        return
    period = row["period"]
    st.metric(
        label,
        charts.format_value(row["value"], row["unit"], currency),
        delta=charts.format_delta(row["delta"], row["unit"], currency),
        delta_color="inverse" if row["direction"] == "down" else "normal",
        delta_description=f"vs the {'week' if period == 'day' else period} before",
        help=f"{PERIOD_WORDS[period].capitalize()}, ending {row['as_of']}. "
        + ("Lower is better." if row["direction"] == "down" else "Higher is better."),
    )
    st.caption(_md(tg.year_text(row, year_rows.get(row["kpi"]), currency)))


def kpi_before(row: dict):
    """The KPI's earlier points for its chart (the sidebar's "Compare with"), or None."""
    if earlier_card is None:
        return None
    found = compare.shift(shared.start, shared.end, shared.compare, row["period"])
    return compare.kpi_points(
        tg.points(earlier_card, row["kpi"]), found, period=row["period"], first_day=first_day
    )


def drivers_block(row: dict) -> None:
    found = off_track[row["kpi"]]
    if found.before_end is not None and found.after_end is not None:
        happened = why.notes_in_window(
            timeline, before_end=found.before_end, after_end=found.after_end, period=row["period"]
        )
        if happened:
            st.markdown(
                "**What happened meanwhile**\n\n"
                + "\n".join(f"- {n.date:%d %b %Y} · {_md(n.label)}" for n in happened)
            )
        else:
            st.caption("No annotation in this window (releases, incidents, experiments, ...).")
    if found.status != "ok":
        return
    left, right = st.columns(2)
    if found.split is not None:
        with left:
            components.chart(
                charts.split_chart(found, row["unit"], currency, row["direction"]),
                key=f"ov_split_{row['kpi']}",
            )
    if found.segments.height:
        with right if found.split is not None else left:
            components.chart(
                charts.segments_chart(found.segments, row["unit"], currency, row["direction"]),
                key=f"ov_segments_{row['kpi']}",
            )
    components.definition(
        "Volume × rate: the change split exactly in two (Shapley: each factor's change valued at "
        "the other's average). Segments: the KPI recomputed on each platform's and country's "
        "events; a segment's bar is its own change (counts) or its term in the weighted average "
        "(rates). Method: docs/targets.md."
    )
    components.numbers(
        found.segments,
        name=f"{row['kpi']}_segments",
        key=f"ov_seg_{row['kpi']}",
        label="Numbers behind the drivers",
    )
    engine.show_sql(
        tg.drivers.sql(key, tg.kpi_query(vision, row["kpi"], card.today, shared.tz)),
        what="the drivers",
    )


# --- vision and North Star -----------------------------------------------------------------------

st.title(f"Overview · {_md(vision.product)}")
st.markdown(f"## {_md(vision.statement)}")
st.caption(
    f"As of {today:%A %d %B %Y}: each KPI at its latest complete period before that day "
    f"(times in {shared.tz}). Targets are for the whole product: the sidebar's property filters "
    "do not apply here."
)

if shared.filters:
    st.info(
        f"The sidebar's property filters ({components.filters_text(shared.filters)}) do **not** "
        "apply on the Overview: every KPI is judged for the whole product, as its target is "
        "set. The other pages apply them.",
        icon=":material/filter_alt_off:",
    )

star = rows[vision.north_star]
with st.container(border=True):
    left, right = st.columns([2, 3])
    with left:
        st.caption("NORTH STAR")
        st.markdown(f"### {_md(star['name'])}")
        st.badge(charts.STATUS_LABELS[star["status"]], color=charts.STATUS_BADGES[star["status"]])
        kpi_metric(star, label=PERIOD_WORDS[star["period"]].capitalize())
        st.write(_md(charts.verdict(star, currency)))
        st.caption(f"{_md(star['description'])} Owner: {_md(star['owner'])}.")
        explain_link(star, "ns")
    with right:
        if star["status"] != "no_data":
            components.chart(
                charts.trend_chart(
                    tg.points(card, star["kpi"]),
                    star,
                    currency=currency,
                    start=shared.start,
                    comparison=(star_before := kpi_before(star)),
                ),
                key="ov_north_star_chart",
            )
            compare.note(compare_shift, star_before)

summary = " ".join(
    f":{charts.STATUS_BADGES[status]}-badge[{charts.STATUS_LABELS[status]}: {count}]"
    for status, count in charts.status_counts(card.table)
)
st.markdown(f"**{len(rows)} KPIs** {summary}")

off_track = tg.off_track_drivers(key, vision, card, shared.tz)
timeline = nt.current(shared.tz)  # the product's annotations, written and automatic


def review_html() -> str:
    from review import render

    return render(
        vision,
        card,
        off_track,
        start=shared.start,
        end=shared.end,
        source=source,
        currency=currency,
        changes=editing.read_log(file.path),
        annotations=timeline,
    )


st.download_button(
    "Download the leadership review (HTML)",
    review_html,
    file_name=f"{vision.product.lower().replace(' ', '-')}-review-{today.isoformat()}.html",
    mime="text/html",
    icon=":material/download:",
    key="ov_review",
    help="One self-contained file: the scorecard and each KPI's chart, readable offline.",
)

# --- the scorecard -------------------------------------------------------------------------------

st.subheader("Scorecard")
SCORECARD_CHART_WIDTH = 300
for kpi_id, row in rows.items():
    with st.container(border=True):
        # Fixed-width parts in a wrapping row, not three shrinking columns: at 800 px the value
        # goes under the name instead of being cut to "14,2…" (as do its label and the link).
        with st.container(horizontal=True, gap="medium"):
            name_col = st.container(width=260)
            value_col = st.container(width=220)  # "+0.05 pp vs the week before" whole
            chart_col = st.container(width=SCORECARD_CHART_WIDTH)
        with name_col:
            st.markdown(f"**{_md(row['name'])}**")
            st.badge(charts.STATUS_LABELS[row["status"]], color=charts.STATUS_BADGES[row["status"]])
            st.caption(_md(row["description"]))
            st.caption(f"Owner: {_md(row['owner'])} · Deadline: {row['deadline']:%d %b %Y}")
            explain_link(row, kpi_id)
        with value_col:
            kpi_metric(row, label=PERIOD_WORDS[row["period"]].capitalize())
        with chart_col:
            st.write(_md(charts.verdict(row, currency)))
            before = kpi_before(row) if row["status"] != "no_data" else None
            if row["status"] != "no_data" and before is None:
                # A drawing, not a chart: ten Plotly charts made a shared link slow to open
                # (issue 14 item 8); the KPI's own chart is a click away ("Explain this number").
                st.image(
                    charts.sparkline_svg(
                        tg.points(card, kpi_id),
                        target=row["target"],
                        status=row["status"],
                        width=SCORECARD_CHART_WIDTH,
                    ),
                    width=SCORECARD_CHART_WIDTH,
                )
            elif row["status"] != "no_data":
                components.chart(
                    charts.sparkline(
                        tg.points(card, kpi_id),
                        target=row["target"],
                        status=row["status"],
                        unit=row["unit"],
                        comparison=before,
                    ),
                    key=f"ov_spark_{kpi_id}",
                    config={"displayModeBar": False},
                )
        if row["status"] == "off_track":
            found = off_track[kpi_id]
            st.write(_md(charts.drivers_sentence(found, row["unit"], row["period"], currency)))
            # Its charts are drawn once opened: a shared link to the Overview draws fast.
            box, opened = components.lazy_expander(
                "What is driving the gap", key=f"ov_drivers_{kpi_id}", icon=":material/search:"
            )
            with box:
                if opened:
                    drivers_block(row)

components.definition(
    "Value: the latest complete period before today (daily KPIs: the 7-day average, so weekends "
    "do not count as misses). Trend: the Theil–Sen slope of the last 8 weeks, 6 months or 28 days. "
    "Projected = value + trend × periods left. Met: already at the target; on track: the "
    "projection reaches it by the deadline; at risk: short by less than 10% of the target; off "
    "track: short by more, or the deadline passed. No data is never shown as zero."
)
components.numbers(
    charts.scorecard_rows(card.table, currency),
    name="scorecard",
    key="ov_table",
    label="Numbers behind the scorecard",
)
components.numbers(
    card.series, name="kpi_series", key="ov_series", label="Every KPI's points (sparklines)"
)
engine.show_sql(
    tg.scorecard.sql(key, vision, today, shared.tz),
    what="every KPI of the scorecard, the North Star's chart and the sparklines",
)

# --- annotations ---------------------------------------------------------------------------------

st.subheader("Annotations")
notes_file = nt.read()
if notes_file.problems:
    show_problems(
        notes_file.problems, f"{notes_file.path.name}: its notes are not drawn until fixed"
    )
with st.expander(f"Notes on the timeline ({len(timeline)})", icon=":material/bookmark:"):
    if timeline:
        st.dataframe(
            notes.as_frame(timeline),
            hide_index=True,
            width="stretch",
            column_config={"date": st.column_config.DateColumn(format="YYYY-MM-DD")},
        )
    else:
        st.caption("No note yet.")
    components.definition(
        "Releases, incidents, campaigns and experiments, drawn on every time chart as a dashed "
        "line with a label. Experiment starts and ends come from the assignments (first and last "
        "exposure), target changes from the change log; the others are kept in "
        f"{_md(notes_file.path.name)} beside the vision file."
    )
if not editor.allowed:
    st.caption(f":material/lock: Adding notes: {_md(editor.reason)}")
else:
    add_note, edit_note = st.tabs(["Add a note", "Edit a note"])
    with add_note, st.form("ov_note_add_form", clear_on_submit=True):
        c1, c2 = st.columns(2)
        note_day = c1.date_input("Date", today - dt.timedelta(days=1), key="ov_note_date")
        note_kind = c2.selectbox(
            "Kind", notes.KINDS, format_func=notes.KIND_LABELS.get, key="ov_note_kind"
        )
        note_text = st.text_input("Note", max_chars=notes.MAX_TEXT, key="ov_note_text")
        add_clicked = st.form_submit_button(
            "Add the note", icon=":material/add:", key="ov_note_add"
        )
    if add_clicked:
        note, problems = nt.check(note_day, note_kind, note_text)
        if note is None:
            show_problems(problems, "Not added")
        else:
            nt.add(notes_file.path, note)
            st.session_state["ov_flash"] = f"Added to {notes_file.path.name}: {note.label}"
            st.rerun()
    with edit_note:
        written = notes_file.written
        if not written:
            st.caption("No note has been written yet (automatic ones are not edited here).")
        else:
            index = st.selectbox(
                "Note",
                range(len(written)),
                format_func=lambda i: f"{written[i].date} · {written[i].label}",
                key="ov_note_pick",
            )
            was = written[index]
            with st.form(f"ov_note_edit_{index}"):
                c1, c2 = st.columns(2)
                day = c1.date_input("Date", was.date)
                kind = c2.selectbox(
                    "Kind",
                    notes.KINDS,
                    index=notes.KINDS.index(was.kind),
                    format_func=notes.KIND_LABELS.get,
                )
                text = st.text_input("Note", was.text, max_chars=notes.MAX_TEXT)
                c1, c2 = st.columns(2)
                save_note = c1.form_submit_button("Save", icon=":material/save:")
                drop_note = c2.form_submit_button("Delete", icon=":material/delete:")
            if save_note or drop_note:
                note, problems = nt.check(day, kind, text)
                if save_note and note is None:
                    show_problems(problems, "Not saved")
                elif nt.replace(notes_file.path, index, was, None if drop_note else note):
                    st.session_state["ov_flash"] = f"Saved {notes_file.path.name}."
                    st.rerun()
                else:
                    st.warning("The notes file changed since this page read it: nothing saved.")

# --- editing -------------------------------------------------------------------------------------

st.subheader("Targets")
identity = editing.identity()
if identity.signed_in:
    signed, out = st.columns([5, 1], vertical_alignment="center")
    signed.caption(f":material/person: Signed in as **{_md(identity.email or identity.name)}**")
    out.button("Sign out", on_click=st.logout, key="ov_logout")
log = editing.read_log(file.path)
with st.expander(f"Target changes ({log.height})", icon=":material/history:"):
    if log.height:
        st.dataframe(log, hide_index=True, width="stretch")
    else:
        st.caption("No target has been changed from this page yet.")
    components.definition(
        f"Every change saved from this page, newest first: when (UTC), who, the KPI, the field, "
        f"the old and the new value. Kept in {_md(editing.log_path(file.path).name)} beside "
        "the vision file, and shown in the leadership review."
    )
if not editor.allowed:
    st.info(_md(editor.reason), icon=":material/lock:")
    if editor.sign_in:
        st.button("Sign in", on_click=st.login, key="ov_login", icon=":material/login:")
    st.session_state["ov_seen_text"] = file.text
    st.stop()
st.caption(f"Saved in {_md(product.display_path(file.path))}; comments and order are kept.")
change_tab, add_tab, file_tab = st.tabs(["Change a target", "Add a KPI", "Edit the file"])

with change_tab:
    kpi_id = st.selectbox(
        "KPI",
        list(rows),
        format_func=lambda k: rows[k]["name"],
        key="ov_edit_kpi",
    )
    kpi = vision.kpi(kpi_id)
    rate = kpi.spec.rate
    with st.form(f"ov_edit_{kpi_id}"):
        c1, c2, c3, c4 = st.columns(4)
        step, number_format = tg.target_input(kpi)
        target = c1.number_input(
            "Target" + (" (fraction: 25% = 0.25)" if rate else ""),
            value=float(kpi.target),
            min_value=0.0 if rate else None,
            max_value=1.0 if rate else None,
            step=step,
            format=number_format,
            key=f"ov_edit_target_{kpi_id}",
        )
        direction = c2.selectbox(
            "Good direction",
            ["up", "down"],
            index=0 if kpi.direction == "up" else 1,
            format_func=DIRECTIONS.get,
        )
        deadline = c3.date_input("Deadline", kpi.deadline)
        owner = c4.text_input("Owner", kpi.owner)
        save_change = st.form_submit_button("Save", icon=":material/save:", key="ov_edit_save")
    if save_change:
        changes = {"target": target, "direction": direction, "deadline": deadline, "owner": owner}
        try:
            edited = tg.set_kpi_fields(seen, kpi_id, changes)
        except ValueError as exc:
            st.error(f"Not saved: {_md(exc)}. Reload the page and edit again.")
        else:
            show_saved(editing.save(file.path, seen, edited, editor.who), file.path.name, "change")

with add_tab:
    kinds = tg.metric_kinds()
    metric = st.selectbox(
        "Metric", list(kinds), format_func=kinds.get, key="ov_new_metric",
        help="The closed list of metric kinds Northstar can compute (docs/targets.md).",
    )  # fmt: skip
    names = tg.event_names(key)
    with st.form(f"ov_add_{metric}"):
        c1, c2 = st.columns(2)
        new_id = c1.text_input(
            "Id", placeholder="weekly_searchers", help="Lowercase, digits, _", key="ov_new_id"
        )
        new_name = c2.text_input("Name", placeholder="Weekly searchers", key="ov_new_name")
        description = st.text_input("What it measures, in plain words", key="ov_new_description")
        params: dict = {}
        fields = tg.param_fields(metric)
        columns = st.columns(3)
        for index, field in enumerate(fields):
            where = columns[index % 3]
            label = field.name.replace("_", " ").capitalize()
            key = f"ov_new_{metric}_{field.name}"
            if field.widget == "choice":
                options = list(field.options)
                default = options.index(field.default) if field.default in options else 0
                params[field.name] = where.selectbox(label, options, index=default, key=key)
            elif field.widget == "event":
                params[field.name] = where.selectbox(
                    label, names, index=None, placeholder="Pick", key=key
                )
            elif field.widget == "optional_event":
                choice = where.selectbox(label, ["(any event)", *names], key=key)
                params[field.name] = None if choice == "(any event)" else choice
            elif field.widget == "events":
                chosen = where.multiselect(label + " (in order)", names, key=key)
                params[field.name] = chosen or None
            elif field.widget == "number":
                value = where.number_input(
                    label, value=field.default, min_value=1, step=1, placeholder="(none)", key=key
                )
                params[field.name] = None if value is None else int(value)
            else:
                text = where.text_input(label, value=field.default or "", key=key)
                params[field.name] = text.strip() or None
        c1, c2, c3, c4 = st.columns(4)
        new_target = c1.number_input(
            "Target", value=None, placeholder="e.g. 1200 or 0.25", key="ov_new_target"
        )
        new_direction = c2.selectbox(
            "Good direction", ["up", "down"], format_func=DIRECTIONS.get, key="ov_new_direction"
        )
        new_deadline = c3.date_input(
            "Deadline", today + dt.timedelta(days=90), key="ov_new_deadline"
        )
        new_owner = c4.text_input("Owner", key="ov_new_owner")
        add = st.form_submit_button("Add the KPI", icon=":material/add:", key="ov_new_add")
    if add:
        defaults = {f.name: f.default for f in fields}
        fields_out = {
            "id": new_id.strip(),
            "name": new_name.strip(),
            "metric": metric,
            **{k: v for k, v in params.items() if v is not None and v != defaults[k]},
            "target": new_target,
            "direction": new_direction,
            "deadline": new_deadline,
            "owner": new_owner.strip(),
            "description": description.strip(),
        }
        try:
            edited = tg.add_kpi(seen, {k: v for k, v in fields_out.items() if v not in (None, "")})
        except ValueError as exc:
            st.error(f"Not saved: {_md(exc)}. Reload the page and edit again.")
        else:
            show_saved(editing.save(file.path, seen, edited, editor.who), file.path.name, "add")

with file_tab:
    file_editor(file)
    st.download_button(
        f"Download {_md(file.path.name)}",
        file.text,
        file_name=file.path.name,
        mime="application/toml",
        key="ov_dl_current",
        icon=":material/download:",
    )

st.session_state["ov_seen_text"] = file.text
