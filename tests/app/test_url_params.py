"""No input reaches a traceback (issue 13, item 6): hostile URL parameters through AppTest.

Each row is a link someone could share: a number too big for a float, a negative or fractional
count, a zone that is valid but not among the common ones, an unknown zone, a date range out of
order or out of the calendar, a filter value the data does not have. Each page must answer with
its normal view or a message, never an exception box.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")

HOSTILE = [
    ("pages/funnels.py", {"fun_window": "1e309"}),
    ("pages/funnels.py", {"fun_window": "-5"}),
    ("pages/funnels.py", {"fun_window": "nan"}),
    ("pages/funnels.py", {"fun_step_count": "1e309"}),
    ("pages/funnels.py", {"fun_step_count": "99999"}),
    (
        "pages/funnels.py",
        {
            "fun_step_1": "<script>x</script>",
            "fun_more": "Where drop-offs went",
            "fun_drop_step": "1e9",
        },
    ),
    ("pages/funnels.py", {"fun_exclude_from": "7", "fun_exclude_to": "-1"}),
    ("pages/engagement.py", {"eng_more": "Stickiness", "eng_interval_count": "1e309"}),
    ("pages/engagement.py", {"eng_more": "Stickiness", "eng_interval_count": "-3"}),
    ("pages/engagement.py", {"eng_interval": "fortnight", "eng_week_start": "friday"}),
    ("pages/engagement.py", {"eng_more": "<b>Lifecycle</b>"}),
    ("pages/funnels.py", {"fun_more": "../../etc/passwd"}),
    ("pages/engagement.py", {"eng_event": "$1", "eng_breakdown": "$1"}),
    ("pages/retention.py", {"ret_interval": "year", "ret_mode": "$1"}),
    ("pages/experiments.py", {"exp_confidence": "1e309", "exp_method": "magic"}),
    ("pages/experiments.py", {"exp_experiment": "typo", "exp_control": "typo"}),
    ("pages/overview.py", {"tz": "Pacific/Chatham"}),
    ("pages/engagement.py", {"tz": "Pacific/Chatham"}),
    ("pages/engagement.py", {"tz": "Mars/Olympus_Mons"}),
    ("pages/engagement.py", {"tz": "../../etc/passwd"}),
    ("pages/retention.py", {"range": ["2026-10-31", "2026-05-01"]}),
    ("pages/retention.py", {"range": ["9999-12-31", "9999-12-31"]}),
    ("pages/engagement.py", {"range": ["0001-01-01", "2026-13-45"]}),
    ("pages/engagement.py", {"f_platform": ["(not set)", "web", "<b>"]}),
    ("pages/data.py", {"source": "$1"}),
    ("pages/engagement.py", {"compare": "<b>decade</b>"}),
    ("pages/engagement.py", {"compare": "year", "range": ["2026-10-31", "2026-05-01"]}),
    ("pages/funnels.py", {"compare": "previous", "range": ["2026-05-01", "2026-05-01"]}),
    ("pages/experiments.py", {"exp_plan_daily": "1e309", "exp_hand_share": "nan"}),
    ("pages/overview.py", {"view": "[x](http://evil.example) <b>"}),
]


@pytest.mark.parametrize(("page", "params"), HOSTILE, ids=[str(p) for _, p in HOSTILE])
def test_a_hostile_link_gets_a_page_not_a_traceback(page, params):
    at = AppTest.from_file(APP, default_timeout=600)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, at.exception
    at.switch_page(page).run()
    assert not at.exception, at.exception


def test_any_iana_zone_in_the_link_is_the_reporting_zone():
    at = AppTest.from_file(APP, default_timeout=600)
    at.query_params["tz"] = "Pacific/Chatham"
    at.run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="tz").value == "Pacific/Chatham"
    assert "Pacific/Chatham" in " ".join(c.value for c in at.caption).replace("\\", "")


def test_a_filter_can_pick_the_missing_value(tmp_path, monkeypatch):
    (tmp_path / "events.csv").write_text(
        "user_id,event,timestamp,plan\n"
        "ann,signup,2026-03-02T10:00Z,pro\n"
        "bob,signup,2026-03-02T11:00Z,\n"
        "cat,signup,2026-03-02T12:00Z,pro\n"
        "dan,signup,2026-03-02T13:00Z,pro\n"
    )
    (tmp_path / "sources.toml").write_text(
        f'default = "{tmp_path.name}"\n[sources.{tmp_path.name}]\npath = "events.csv"\n'
    )
    monkeypatch.setenv("NORTHSTAR_SOURCES", str(tmp_path / "sources.toml"))
    at = AppTest.from_file(APP, default_timeout=600)
    at.query_params["f_plan"] = "(not set)"
    at.run()
    assert not at.exception, at.exception
    assert "(not set)" in at.sidebar.multiselect(key="f_plan").options
    assert at.sidebar.multiselect(key="f_plan").value == ["(not set)"]
    at.switch_page("pages/engagement.py").run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["DAU"] == "1"  # bob: no plan
