"""Saved views (issue 15 item 4): the file beside the vision, a view restoring every control by
link, saving with the editing role, refused without it.

Each test has its own copy of the vision file (``NORTHSTAR_VISION``), so its views file
(``vision.views.toml``) is its own; the editing role is monkeypatched as in test_editing.py.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui import editing, views
from ui.editing import Settings

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
D = dt.date

ENGAGEMENT = views.View(
    name="Weekly web <b>DE</b> [x](http://evil.example)",
    page="engagement",
    state={
        "tz": "Europe/Berlin",
        "range": [D(2026, 8, 3), D(2026, 9, 27)],
        "compare": "previous",
        "f_platform": ["web"],
        "f_country": ["DE", "FR"],
        "eng_event": "purchase",
        "eng_interval": "week",
        "eng_week_start": "sunday",
        "eng_breakdown": "plan",
        "eng_more": "Stickiness",  # the open tab, with its own control
        "eng_interval_count": 3,
    },
)
PLANNER = views.View(
    name="Checkout plan",
    page="experiments",
    state={
        "compare": "year",
        "exp_tab": "Type in counts",
        "exp_hand_kind": "mean",
        "exp_hand_control_users": 2_500,
        "exp_hand_treatment_users": 2_400,
        "exp_hand_control_mean": 31.5,
        "exp_hand_share": 40.0,
        "exp_hand_inverse": True,
        "exp_plan_kind": "proportion",
        "exp_plan_rate": 4.5,
        "exp_plan_mde": 10.0,
        "exp_plan_power": 0.9,
        "exp_plan_daily": 750,
        "exp_plan_arms": 3,
        "exp_winsorize": None,
    },
)


@pytest.fixture
def vision_copy(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "vision.toml"
    shutil.copy(ROOT / "vision.toml", path)
    monkeypatch.setenv("NORTHSTAR_VISION", str(path))
    return path


def configure(monkeypatch, **settings) -> None:
    monkeypatch.setattr(editing, "settings", lambda: Settings(**settings))


# -- the file -----------------------------------------------------------------------------------


def test_the_views_file_round_trips_every_kind_of_value():
    text = views.dump([ENGAGEMENT, PLANNER])
    found = views.parse(text)
    assert found.problems == ()
    assert found.views == (ENGAGEMENT, PLANNER)


def test_every_problem_in_the_file_is_listed_at_once():
    text = """
[[views]]
name = ""
page = "engagement"

[[views]]
name = "Fine name"
page = "nowhere"

[[views]]
name = "Good"
page = "funnels"
[views.state]
fun_order = "strict"
"""
    found = views.parse(text, "vision.views.toml")
    assert [v.name for v in found.views] == ["Good"]
    assert found.problems == (
        "vision.views.toml, view 1: Give the view a name.",
        "vision.views.toml, view 2: page must be one of overview, engagement, retention, "
        "funnels, experiments, not 'nowhere'",
    )


def test_a_view_captures_the_sidebar_and_its_own_pages_controls_only():
    state = {
        "tz": "UTC",
        "range": (D(2026, 9, 1), D(2026, 9, 30)),
        "compare": "none",
        "f_plan": ["pro"],
        "eng_interval": "week",
        "eng_interval_count": 2,
        "ret_interval": "month",  # another page's
        "views_name": "typed in the save box",
        "_shared_filters": object(),
        "ov_flash": "a message",
    }
    assert views.capture("engagement", state) == {
        "tz": "UTC",
        "range": [D(2026, 9, 1), D(2026, 9, 30)],
        "compare": "none",
        "f_plan": ["pro"],
        "eng_interval": "week",
        "eng_interval_count": 2,
    }


# -- in the app ---------------------------------------------------------------------------------


def open_view(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=600)
    at.query_params["view"] = name
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_link_to_a_saved_view_restores_every_control(vision_copy):
    views.write(views.views_path(vision_copy), ENGAGEMENT)
    at = open_view(ENGAGEMENT.name)
    assert at.title[0].value == "Engagement"
    sidebar = at.sidebar
    assert sidebar.selectbox(key="tz").value == "Europe/Berlin"
    assert sidebar.date_input(key="range").value == (D(2026, 8, 3), D(2026, 9, 27))
    assert sidebar.segmented_control(key="compare").value == "previous"
    assert sidebar.multiselect(key="f_platform").value == ["web"]
    assert sidebar.multiselect(key="f_country").value == ["DE", "FR"]
    assert at.selectbox(key="eng_event").value == "purchase"
    assert at.segmented_control(key="eng_interval").value == "week"
    assert at.selectbox(key="eng_week_start").value == "sunday"
    assert at.selectbox(key="eng_breakdown").value == "plan"
    assert at.number_input(key="eng_interval_count").value == 3
    # Listed in the sidebar by its name, as text (no link to the outside, no bold).
    links = [link.label for link in at.get("page_link")]
    assert any("evil" in label and "](" not in label for label in links), links


def test_a_view_restores_the_typed_in_numbers_and_the_planner(vision_copy):
    views.write(views.views_path(vision_copy), PLANNER)
    at = open_view(PLANNER.name)
    assert at.title[0].value == "Experiments"
    assert at.sidebar.segmented_control(key="compare").value == "year"
    # The view opens on its tab; the other tabs' controls keep the view's values once opened.
    for tab, prefix in (("Type in counts", "exp_hand_"), ("Plan a test", "exp_plan_"), (None, "")):
        at.session_state["exp_tab"] = tab or "From the data"  # a click on the tab
        at.run()
        if tab is None:
            assert at.selectbox(key="exp_winsorize").value is None
            continue
        for key, value in PLANNER.state.items():
            if not key.startswith(prefix):
                continue
            if key in ("exp_hand_kind", "exp_plan_kind"):
                assert at.radio(key=key).value == value
            elif key == "exp_plan_power":
                assert at.selectbox(key=key).value == value
            elif key == "exp_hand_inverse":
                assert at.checkbox(key=key).value is True
            else:
                assert at.number_input(key=key).value == value, key


def test_a_view_whose_values_no_longer_fit_opens_with_the_defaults(vision_copy):
    stale = views.View(
        name="stale",
        page="engagement",
        state={
            "tz": "Mars/Base",
            "range": [D(2020, 1, 1), D(2020, 1, 31)],  # before the data
            "f_platform": ["web", "gone"],
            "eng_event": "no_such_event",
            "eng_interval": "fortnight",
        },
    )
    views.write(views.views_path(vision_copy), stale)
    at = open_view("stale")
    assert at.title[0].value == "Engagement"
    assert at.sidebar.selectbox(key="tz").value == "UTC"
    assert at.segmented_control(key="eng_interval").value == "day"


def test_an_unknown_view_is_said_in_words(vision_copy):
    at = open_view("nobody saved this")
    assert any("No saved view is named" in w.value for w in at.warning)


def test_saving_a_view_with_the_editing_role(vision_copy, monkeypatch):
    configure(monkeypatch, enabled=True)  # no login, no editors: anyone edits
    at = AppTest.from_file(APP, default_timeout=600)
    at.query_params["eng_interval"] = "Week"
    at.query_params["eng_more"] = "Stickiness"  # the tab that holds the blocks control
    at.query_params["eng_interval_count"] = "4"
    at.query_params["f_plan"] = "pro"
    # One run before the click: AppTest shows the sidebar of a page's first run only.
    at.switch_page("pages/engagement.py")
    at.run()
    assert not at.exception, at.exception
    at.text_input(key="views_name").input("Pro users, weekly")
    at.button(key="views_save").click().run()
    assert not at.exception, at.exception
    saved = views.read(views.views_path(vision_copy))
    assert saved.problems == ()
    [view] = saved.views
    assert (view.name, view.page) == ("Pro users, weekly", "engagement")
    assert view.state["eng_interval"] == "week"
    assert view.state["eng_interval_count"] == 4
    assert view.state["eng_more"] == "Stickiness"
    assert view.state["f_plan"] == ["pro"]
    assert view.state["compare"] == "none"
    assert len(view.state["range"]) == 2
    # ...and its link opens it again.
    again = open_view("Pro users, weekly")
    assert again.number_input(key="eng_interval_count").value == 4
    assert again.sidebar.multiselect(key="f_plan").value == ["pro"]


def test_saving_is_refused_without_the_editing_role(vision_copy, monkeypatch):
    configure(monkeypatch, enabled=False)
    at = AppTest.from_file(APP, default_timeout=600)
    at.switch_page("pages/engagement.py")
    at.run()
    assert not at.exception, at.exception
    assert not [b for b in at.button if b.key == "views_save"]
    said = " ".join(c.value for c in at.sidebar.caption).replace("\\", "")
    assert "Editing targets and views is off in this deployment" in said
    assert not views.views_path(vision_copy).exists()
