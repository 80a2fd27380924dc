"""Saved views: a page's whole state kept under a name, per product, and opened by link.

A view is what the URL holds for a page (every control that defines it is bound to the URL,
``bind="query-params"``): the sidebar's filters and comparison, and the page's own controls,
typed-in numbers and planner inputs included. Views are kept in a small TOML file beside the
product's vision file (``vision.toml`` -> ``vision.views.toml``), listed in the sidebar, and
opened with ``?view=<name>``. Saving one needs the editing role where roles are configured
(:mod:`ui.editing`); names are text from users and are escaped wherever they are shown.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st
import tomlkit

from ui.text import md

#: The pages a view can be kept for: script, the prefix of its own controls, its title.
PAGES: dict[str, tuple[str, str, str]] = {
    "overview": ("pages/overview.py", "", "Overview"),
    "engagement": ("pages/engagement.py", "eng_", "Engagement"),
    "retention": ("pages/retention.py", "ret_", "Retention"),
    "funnels": ("pages/funnels.py", "fun_", "Funnels"),
    "experiments": ("pages/experiments.py", "exp_", "Experiments"),
}
#: The sidebar's controls (ui/state.py, ui/compare.py); property filters are ``f_<property>``.
SIDEBAR_KEYS = ("tz", "range", "compare")
FILTER_PREFIX = "f_"
MAX_NAME = 60
MAX_VIEWS = 200
SUFFIX = ".views.toml"

Value = str | int | float | bool | dt.date | list[Any] | None


@dataclass(frozen=True)
class View:
    """One saved view: its name, its page (a key of :data:`PAGES`) and each control's value."""

    name: str
    page: str
    state: dict[str, Value] = field(default_factory=dict)


@dataclass(frozen=True)
class ViewsFile:
    """The views file as read: its path, its views, and every problem in it."""

    path: Path
    views: tuple[View, ...] = ()
    problems: tuple[str, ...] = ()

    def find(self, name: str) -> View | None:
        return next((v for v in self.views if v.name == name), None)


def views_path(vision_path: Path) -> Path:
    """``vision.toml`` -> ``vision.views.toml``, beside it."""
    return vision_path.with_name(vision_path.stem + SUFFIX)


def check_name(name: str) -> str | None:
    """What is wrong with a view's name, or ``None``."""
    if not name.strip():
        return "Give the view a name."
    if len(name) > MAX_NAME:
        return f"A view's name has at most {MAX_NAME} characters."
    if any(ord(c) < 32 for c in name):
        return "A view's name is one line of text."
    return None


def parse(text: str, where: str = "views file") -> ViewsFile:
    """The views in ``text``; every problem at once (file, view number, field)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return ViewsFile(Path(where), (), (f"{where}: not valid TOML ({exc})",))
    problems: list[str] = []
    views: list[View] = []
    for number, entry in enumerate(data.get("views", []), start=1):
        at = f"{where}, view {number}"
        if not isinstance(entry, dict):
            problems.append(f"{at}: not a table")
            continue
        name, page = entry.get("name"), entry.get("page")
        state = entry.get("state", {})
        trouble = check_name(name) if isinstance(name, str) else "name: missing or not text"
        if trouble:
            problems.append(f"{at}: {trouble}")
        if page not in PAGES:
            problems.append(f"{at}: page must be one of {', '.join(PAGES)}, not {page!r}")
        if not isinstance(state, dict):
            problems.append(f"{at}: state must be a table")
            continue
        unset = entry.get("unset", [])
        full = {**state, **{key: None for key in unset if isinstance(key, str)}}
        if not trouble and page in PAGES:
            views.append(View(str(name), str(page), full))
    return ViewsFile(Path(where), tuple(views), tuple(problems))


def dump(views: tuple[View, ...] | list[View]) -> str:
    """The views as TOML (``None`` values listed under ``unset``: TOML has no null)."""
    document = tomlkit.document()
    document.add(tomlkit.comment("Saved views (docs/app.md): written by the app."))
    tables = tomlkit.aot()
    for view in views:
        table = tomlkit.table()
        table["name"] = view.name
        table["page"] = view.page
        unset = sorted(k for k, v in view.state.items() if v is None)
        if unset:
            table["unset"] = unset
        state = tomlkit.table()
        for key, value in sorted(view.state.items()):
            if value is not None:
                state[key] = list(value) if isinstance(value, tuple) else value
        table["state"] = state
        tables.append(table)
    document["views"] = tables
    return tomlkit.dumps(document)


def read(path: Path) -> ViewsFile:
    """The views file at ``path`` (none yet: no views), read again only when it changes."""
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return ViewsFile(path)
    return _read(str(path), stamp)


@functools.lru_cache(maxsize=8)
def _read(path: str, stamp: int) -> ViewsFile:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return ViewsFile(Path(path), (), (f"{Path(path).name}: cannot be read ({exc})",))
    found = parse(text, Path(path).name)
    return ViewsFile(Path(path), found.views, found.problems)


def write(path: Path, view: View) -> ViewsFile:
    """Add ``view`` to the file (replacing one of the same name), written in one step."""
    current = read(path)
    if current.problems:
        raise ValueError("; ".join(current.problems))
    kept = [v for v in current.views if v.name != view.name]
    if len(kept) >= MAX_VIEWS:
        raise ValueError(f"At most {MAX_VIEWS} views per product: delete one from {path.name}.")
    text = dump([*kept, view])
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".views-", suffix=".toml")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)
    return read(path)


def capture(page: str, state: Mapping[str, Any]) -> dict[str, Value]:
    """The values of the controls that define ``page``'s view, from the session's state."""
    prefix = PAGES[page][1]
    out: dict[str, Value] = {}
    for key, value in state.items():
        if not isinstance(key, str):
            continue
        ours = key in SIDEBAR_KEYS or key.startswith(FILTER_PREFIX)
        ours |= bool(prefix) and key.startswith(prefix)
        if ours and _storable(value):
            out[key] = list(value) if isinstance(value, tuple) else value
    return out


def _storable(value: Any) -> bool:
    if value is None or isinstance(value, str | bool | int | float | dt.date):
        return True
    if isinstance(value, list | tuple):
        return all(isinstance(v, str | int | float | dt.date) for v in value)
    return False


# ---------------------------------------------------------------------------------------------
# In the app
# ---------------------------------------------------------------------------------------------


def current_path() -> Path:
    """The current product's views file (beside its vision file)."""
    from ui import product

    return views_path(product.vision_path())


def page_of(title: str) -> str | None:
    """The view page key of a navigation page's title (``None``: no views there)."""
    return next((key for key, (_, _, name) in PAGES.items() if name == title), None)


def restore(view: View) -> None:
    """Put the view's values into the session before the controls are drawn (they read them)."""
    for key, value in view.state.items():
        if key == "range" and isinstance(value, list):
            st.session_state[key] = tuple(value)
        else:
            st.session_state[key] = value


def open_from_link(title: str) -> None:
    """``?view=<name>``: restore the view once (the link then holds its values) and open its
    page; an unknown name is said in words. Call before the sidebar is drawn."""
    name = st.query_params.get("view")
    if name is None:
        return
    st.query_params.pop("view", None)
    found = read(current_path()).find(name)
    if found is None:
        st.warning(f"No saved view is named {md(name)} for this product.")
        return
    restore(found)
    script = PAGES[found.page][0]
    if page_of(title) != found.page:
        st.switch_page(script)


def sidebar(title: str) -> None:
    """The product's saved views (links) and, on a page that has views, "Save this view"."""
    from ui import editing

    file = read(current_path())
    with st.sidebar:
        st.subheader("Saved views")
        for problem in file.problems:
            st.error(md(problem))
        if not file.views:
            st.caption("None yet: set a page up, then save it under a name.")
        for view in file.views:
            script, _, page_title = PAGES[view.page]
            st.page_link(
                script,
                label=md(view.name),
                help=f"Opens {page_title} as it was saved.",
                icon=":material/bookmark:",
                query_params={"view": view.name},
            )
        page = page_of(title)
        if page is None:
            return
        access = editing.current_access()
        with st.expander("Save this view", icon=":material/bookmark_add:"):
            if not access.allowed:
                st.caption(md(access.reason.replace("targets", "targets and views")))
                return
            st.text_input("Name", max_chars=MAX_NAME, key="views_name")
            st.button(
                "Save",
                key="views_save",
                icon=":material/save:",
                on_click=_save,
                args=(page,),
            )
            if said := st.session_state.pop("views_said", None):
                (st.success if said[0] else st.error)(md(said[1]))


def _save(page: str) -> None:
    # A callback: it runs before the script, with every control's value from the last run.
    from ui import editing

    if not editing.current_access().allowed:
        st.session_state["views_said"] = (False, "Saving views needs the editing role.")
        return
    name = str(st.session_state.get("views_name") or "")
    trouble = check_name(name)
    if trouble:
        st.session_state["views_said"] = (False, trouble)
        return
    view = View(name.strip(), page, capture(page, st.session_state.to_dict()))
    try:
        write(current_path(), view)
    except (OSError, ValueError) as exc:
        st.session_state["views_said"] = (False, f"Not saved: {exc}")
        return
    st.session_state["views_said"] = (True, f"Saved: {view.name}. Its link is ?view={view.name}")
