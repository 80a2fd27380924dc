"""The Overview's guided setup: a product without a vision file states one and picks its KPIs.

A source's vision file is its own (:mod:`ui.product`). When it does not exist yet, the Overview
shows this setup instead of anyone else's targets: the product's name and vision, its currency,
the North Star, then KPIs suggested from the source's own data (:mod:`metrics.suggest`), each
with its current value as the starting target. The file is checked with
:func:`metrics.targets.load_vision` before it takes its place, and never overwrites a file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st
import tomlkit

from metrics import suggest, targets
from ui import data, product, state
from ui import targets as tg
from ui.charts import targets as charts
from ui.text import md

HEADER = (
    "Northstar's vision file for {source}: what the product is for, and the numbers that say\n"
    "whether it is working. Written by the Overview's guided setup; every field is described in\n"
    "docs/targets.md. Rates are fractions: 25% is written 0.25. Dates: 2026-12-31."
)


@st.cache_data(max_entries=4, show_spinner="Looking at your data for KPIs to suggest…")
def suggestions(source: str, today: dt.date, tz: str) -> list[suggest.Suggestion]:
    """KPIs the current source's data can answer, with their values as of ``today`` (cached)."""
    return suggest.suggest_kpis(data.events(), today=today, tz=tz)


def vision_text(document: Mapping[str, Any], source: str) -> str:
    """The vision file's text for a document: a header comment, [product], then [[kpis]]."""
    out = tomlkit.document()
    for line in HEADER.format(source=source).splitlines():
        out.add(tomlkit.comment(line))
    out.add(tomlkit.nl())
    head = tomlkit.table()
    head.update(document["product"])
    out.add("product", head)
    kpis = tomlkit.aot()
    for fields in document["kpis"]:
        table = tomlkit.table()
        table.update(fields)
        kpis.append(table)
    out.add("kpis", kpis)
    return tomlkit.dumps(out)


def write_new(path: Path, text: str) -> tg.Saved:
    """Write a new vision file: checked with :func:`metrics.targets.load_vision` in a temporary
    file beside it, then moved into place in one step. An existing file is never overwritten."""
    shown = product.display_path(path)
    if path.exists():
        return tg.Saved(
            False,
            f"{shown} was created meanwhile, so it was not overwritten: reload the page, or "
            "download this file below.",
            text,
        )
    folder = path.parent
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        return tg.Saved(False, f"{shown} cannot be written here: download the file below.", text)
    temporary = None
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".vision-", suffix=".toml")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        targets.load_vision(temporary)
        os.replace(temporary, path)
    except targets.VisionError as exc:
        return tg.Saved(False, "Not saved: " + "; ".join(exc.problems), text)
    except OSError as exc:
        return tg.Saved(
            False, f"{shown} could not be written ({exc.strerror}): download it below.", text
        )
    finally:
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)
    return tg.Saved(True, f"Saved the vision of {source_label()} to {shown}.", text)


def source_label() -> str:
    return data.source_name()


def _target_step(unit: str) -> tuple[float, str]:
    if unit in ("ratio", "lift"):
        return 0.01, "%.2f"
    if unit == "currency":
        return 1.0, "%.2f"
    return 1.0, "%.0f"


def guided(path: Path) -> None:
    """The guided setup (the whole page), for a source whose vision file does not exist."""
    shared = state.shared()
    name = data.source_name()
    today = tg.as_of(shared.end)
    fixed_currency = product.source_currency()
    st.title(f"Overview · set up {md(name)}")
    st.info(
        f"**{md(name)}** has no vision file yet, so there is nothing to judge its numbers against: "
        "Northstar never uses another product's targets. State what the product is for, pick its "
        "North Star, then the KPIs to follow: each is computed on this source's data, and its "
        f"current value is the starting target. Saved as {md(product.display_path(path))} "
        '(docs/data.md, "Your own product").',
        icon=":material/flag:",
    )
    found = suggestions(data.source_key(), today, shared.tz)
    if not found:
        st.warning("This source has no events to suggest KPIs from. Check it on the Data page.")
        st.stop()
    shown_currency = fixed_currency or product.DEFAULT_CURRENCY
    by_id = {s.id: s for s in found}
    with st.form("setup_form"):
        st.subheader("1. The vision")
        product_name = st.text_input(
            "Product name", value=name.replace("_", " ").title(), key="setup_product"
        )
        statement = st.text_area(
            "Vision: what the product is for, in one sentence",
            key="setup_vision",
            placeholder="Make buying the things you need every week take two minutes.",
        )
        left, middle, right = st.columns(3)
        currency = left.text_input(
            "Currency (ISO code)",
            value=shown_currency,
            key="setup_currency",
            disabled=fixed_currency is not None,
            help="Set by the source's `currency` in sources.toml."
            if fixed_currency
            else "The currency of the revenue column, e.g. GBP, EUR, USD.",
        )
        owner = middle.text_input(
            "Owner of the KPIs", key="setup_owner", placeholder="Priya Nair (Head of Product)"
        )
        deadline = right.date_input(
            "Deadline", today + dt.timedelta(days=suggest.DEADLINE_DAYS), key="setup_deadline"
        )
        st.subheader("2. The North Star")
        north_star = st.selectbox(
            "The one number that says the product is working",
            list(by_id),
            format_func=lambda kpi_id: by_id[kpi_id].name,
            key="setup_north_star",
            help="It is always among the KPIs saved.",
        )
        st.subheader("3. The KPIs")
        st.caption(
            f"Suggested from {md(name)}'s own data, as of {today:%d %b %Y} (times in {shared.tz}). "
            "Each target starts at the current value: raise or lower it before saving."
        )
        picked: dict[str, bool] = {}
        chosen_targets: dict[str, float] = {}
        for item in found:
            with st.container(border=True):
                text_col, value_col, target_col = st.columns([4, 2, 2])
                picked[item.id] = text_col.checkbox(
                    f"**{md(item.name)}**",
                    value=item.value is not None,
                    key=f"setup_pick_{item.id}",
                )
                text_col.caption(md(item.why))
                period = (
                    "7-day average" if item.period == "day" else f"latest complete {item.period}"
                )
                value_col.markdown(
                    f"Now: **{charts.format_value(item.value, item.unit, shown_currency)}**"
                )
                value_col.caption(period)
                step, number_format = _target_step(item.unit)
                chosen_targets[item.id] = target_col.number_input(
                    "Target",
                    value=float(item.target),
                    min_value=0.0,
                    max_value=1.0 if item.unit == "ratio" else None,
                    step=step,
                    format=number_format,
                    key=f"setup_target_{item.id}",
                )
        submitted = st.form_submit_button(
            "Save the vision", icon=":material/save:", type="primary", key="setup_save"
        )
    if not submitted:
        return
    kpis = [s for s in found if picked.get(s.id) or s.id == north_star]
    document = suggest.vision_document(
        product=product_name,
        statement=statement,
        north_star=north_star,
        kpis=kpis,
        targets=chosen_targets,
        deadline=deadline if isinstance(deadline, dt.date) else today,
        owner=owner,
        currency=(fixed_currency or currency or "").strip() or None,
    )
    try:
        suggest.check_document(document, source=path.name)
    except targets.VisionError as exc:
        st.error(
            "**Not saved yet:**\n\n"
            + "\n".join(f"- {md(problem)}" for problem in _friendly(exc.problems))
        )
        return
    text = vision_text(document, name)
    saved = write_new(path, text)
    if saved.written:
        st.session_state["ov_flash"] = saved.message
        st.session_state["ov_seen_text"] = text
        st.rerun()
    st.warning(md(saved.message))
    st.download_button(
        f"Download {md(path.name)}",
        text,
        file_name=path.name,
        mime="application/toml",
        key="setup_download",
        icon=":material/download:",
    )


_FIELD_WORDS = {
    "'name'": "Give the product a name.",
    "'vision'": "Write the vision: one sentence on what the product is for.",
    "'owner'": "Name the owner of the KPIs.",
}


def _friendly(problems: list[str]) -> list[str]:
    """Problems of the form's fields in the form's words; others as the validator wrote them."""
    out: list[str] = []
    for problem in problems:
        words = next((w for key, w in _FIELD_WORDS.items() if f"field {key}" in problem), problem)
        if words not in out:
            out.append(words)
    return out
