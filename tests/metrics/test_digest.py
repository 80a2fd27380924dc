"""metrics/digest.py: what the morning digest says and which messages it owes, as stories."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from metrics import digest
from metrics.annotations import Annotation
from metrics.targets import parse_vision

#: Pure arithmetic on scorecard rows: no metric runs on events, so no engine to compare.
NO_EVENTS = True
D = dt.date.fromisoformat
TODAY = D("2026-11-02")

VISION = """
[product]
name = "Shop"
vision = "Groceries in two taps."
north_star = "buyers"

[[kpis]]
id = "buyers"
metric = "active_users"
event = "purchase"
target = 100
direction = "up"
deadline = 2026-12-31
owner = "Priya"
alert_below = 50

[[kpis]]
id = "refunds"
metric = "event_count"
event = "refund"
target = 5
direction = "down"
deadline = 2026-12-31
owner = "Sam"
alert_above = 20
"""


def reading(kpi: str, status: str, value: float | None, previous: float | None = None, **kw):
    defaults = dict(
        name=kpi.title(),
        target=100.0,
        direction="up",
        unit="users",
        period="week",
        as_of=D("2026-11-01"),
    )
    return digest.Reading(kpi, status=status, value=value, previous=previous, **{**defaults, **kw})


def last_run(as_of: str, **kpis: tuple[str, float | None, str | None]) -> dict:
    return {
        "as_of": as_of,
        "kpis": {k: {"status": s, "value": v, "band": b} for k, (s, v, b) in kpis.items()},
    }


@pytest.mark.parametrize(
    ("value", "below", "above", "expected"),
    [
        (10, 20, None, "below"),
        (20, 20, None, "within"),  # at the threshold is not beyond it
        (30, 20, 25, "above"),
        (25, 20, 25, "within"),
        (None, 20, 25, None),
        (5, None, None, "within"),
    ],
)
def test_band(value, below, above, expected):
    assert digest.band(value, below, above) == expected


def test_readings_carry_the_visions_thresholds():
    vision = parse_vision(VISION)
    table = pl.DataFrame(
        {
            "kpi": ["buyers", "refunds"],
            "name": ["buyers", "refunds"],
            "status": ["on_track", "no_data"],
            "value": [60.0, None],
            "previous": [55.0, None],
            "target": [100.0, 5.0],
            "direction": ["up", "down"],
            "unit": ["users", "events"],
            "period": ["week", "week"],
            "as_of": [D("2026-11-01"), None],
        }
    )
    first, second = digest.readings(vision, table)
    assert (first.alert_below, first.alert_above, first.band) == (50.0, None, "within")
    assert (second.alert_below, second.alert_above, second.band) == (None, 20.0, None)


def test_first_run_reports_no_change_but_an_alert_already_due():
    current = [
        reading("buyers", "off_track", 40, 45, alert_below=50),
        reading("visits", "met", 900, 800),
    ]
    found = digest.compare("shop", "Shop", current, None, as_of=TODAY)
    assert found.first_run and found.since is None
    assert found.changes == ()
    assert [(a.reading.kpi, a.side, a.threshold, a.before) for a in found.alerts] == [
        ("buyers", "below", 50, None)
    ]
    assert found.alerts[0].key == "shop/buyers/alert:below/2026-11-02"


def test_a_status_change_is_reported_once_with_its_key():
    previous = last_run("2026-11-01", buyers=("on_track", 60, "within"), visits=("met", 900, None))
    current = [reading("buyers", "at_risk", 58, 60), reading("visits", "met", 910, 900)]
    found = digest.compare("shop", "Shop", current, previous, as_of=TODAY)
    assert found.since == D("2026-11-01")
    assert [(c.reading.kpi, c.before, c.after) for c in found.changes] == [
        ("buyers", "on_track", "at_risk")
    ]
    assert found.changes[0].key == "shop/buyers/status:on_track->at_risk/2026-11-02"
    # The same statuses again: nothing turned.
    again = digest.compare("shop", "Shop", current, digest.snapshot(found), as_of=TODAY)
    assert again.changes == ()


def test_a_kpi_new_since_the_last_run_has_no_status_change():
    previous = last_run("2026-11-01", buyers=("met", 120, None))
    current = [reading("buyers", "met", 121, 120), reading("added", "off_track", 3, 2)]
    assert digest.compare("s", "S", current, previous, as_of=TODAY).changes == ()


@pytest.mark.parametrize(
    ("was", "value", "alerts"),
    [
        ("within", 40, [("below", "within")]),  # crossed down: alert
        ("below", 40, []),  # stayed below: no new alert
        ("below", 60, []),  # came back: no alert
        ("above", 10, [("below", "above")]),  # jumped from above to below
        (None, 40, [("below", None)]),  # no value last time
    ],
)
def test_an_alert_fires_when_a_threshold_is_crossed_not_while_beyond_it(was, value, alerts):
    previous = last_run("2026-11-01", buyers=("on_track", 55, was))
    current = [reading("buyers", "on_track", value, 55, alert_below=50, alert_above=200)]
    found = digest.compare("s", "S", current, previous, as_of=TODAY)
    assert [(a.side, a.before) for a in found.alerts] == alerts


def test_rising_above_the_upper_threshold():
    previous = last_run("2026-11-01", refunds=("at_risk", 15, "within"))
    current = [reading("refunds", "off_track", 25, 15, alert_above=20, direction="down")]
    (alert,) = digest.compare("s", "S", current, previous, as_of=TODAY).alerts
    assert (alert.side, alert.threshold) == ("above", 20)


def test_biggest_movers_by_relative_change_with_direction():
    current = [
        reading("small", "met", 101, 100),  # +1%
        reading("big", "met", 50, 100),  # -50%
        reading("mid", "met", 110, 100, direction="down"),  # +10%, worse for a down KPI
        reading("flat", "met", 100, 100),  # did not move
        reading("fromzero", "met", 7, 0),  # no relative change: ranked after the others
        reading("nodata", "no_data", None, None),
    ]
    movers = digest.biggest_movers(current, limit=10)
    assert [m.reading.kpi for m in movers] == ["big", "mid", "small", "fromzero"]
    assert [m.better for m in movers] == [False, False, True, True]
    assert movers[0].relative == pytest.approx(-0.5)
    assert movers[3].relative is None and movers[3].change == 7
    assert len(digest.biggest_movers(current, limit=2)) == 2


def test_annotations_since_the_last_run_only():
    notes = [
        Annotation(D("2026-10-30"), "release", "old"),
        Annotation(D("2026-11-01"), "release", "on the last run's day"),
        Annotation(D("2026-11-02"), "incident", "today"),
        Annotation(D("2026-11-05"), "campaign", "planned"),
    ]
    previous = last_run("2026-11-01")
    found = digest.compare("s", "S", [], previous, as_of=TODAY, annotations=notes)
    assert [n.text for n in found.annotations] == ["today"]
    first = digest.compare("s", "S", [], None, as_of=TODAY, annotations=notes)
    assert [n.text for n in first.annotations] == ["old", "on the last run's day", "today"]


def test_state_round_trip_and_what_is_owed():
    pending = digest.Pending("s/a/alert:below/2026-11-01", "s", {"text": "a"}, 3, "HTTP 500")
    state = digest.State(
        products={"s": last_run("2026-11-01", a=("met", 1.0, "within"))},
        sent=("s/b/status:met->at_risk/2026-10-31",),
        pending=(pending,),
    )
    assert digest.parse_state(digest.state_json(state)) == state
    new = [
        ("s/b/status:met->at_risk/2026-10-31", "s", {"text": "already sent"}),
        ("s/a/alert:below/2026-11-01", "s", {"text": "already pending"}),
        ("s/c/status:met->off_track/2026-11-02", "s", {"text": "new"}),
        ("s/c/status:met->off_track/2026-11-02", "s", {"text": "twice in one run"}),
    ]
    queue = digest.owed(state, new)
    assert [(key.split("/")[1], tried) for key, _, _, tried in queue] == [("a", 3), ("c", 0)]


def test_an_empty_state_is_a_first_run_and_a_broken_one_is_an_error():
    assert digest.parse_state("") == digest.State()
    for text in ("{", "[]", '{"version": 99}', '{"version": 1, "pending": [{"key": "x"}]}'):
        with pytest.raises(digest.StateError):
            digest.parse_state(text)


def test_the_state_forgets_the_oldest_keys_first():
    state = digest.State(sent=tuple(f"k{i}" for i in range(digest.MAX_SENT + 5)))
    kept = digest.parse_state(digest.state_json(state)).sent
    assert len(kept) == digest.MAX_SENT and kept[-1] == f"k{digest.MAX_SENT + 4}"
