"""metrics/annotations.py: the notes file read and checked, and the notes nobody has to write."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from metrics import annotations as notes
from metrics.annotations import Annotation

#: Files and small frames only: no metric runs on events, so no engine to compare.
NO_EVENTS = True
D = dt.date.fromisoformat


def test_a_file_of_notes_is_read_in_order(tmp_path):
    path = tmp_path / "vision.annotations.toml"
    path.write_text(
        "# what happened\n"
        '[[annotations]]\ndate = 2026-09-01\nkind = "release"\ntext = "Checkout v2"\n'
        '[[annotations]]\ndate = "2026-09-03"\nkind = "incident"\ntext = "  Payments\\n down "\n'
    )
    assert notes.load_annotations(path) == (
        Annotation(D("2026-09-01"), "release", "Checkout v2"),
        Annotation(D("2026-09-03"), "incident", "Payments down"),  # one line, trimmed
    )
    assert notes.annotations_path(tmp_path / "vision.toml") == path
    assert notes.load_annotations(tmp_path / "none.toml") == ()  # no file yet: no notes


def test_every_problem_is_reported_at_once():
    text = (
        "note = 1\n"
        '[[annotations]]\ndate = 2026-09-31\nkind = "release"\ntext = "x"\n'
        '[[annotations]]\ndate = 2026-09-01\nkind = "launch"\ntext = ""\nwho = "me"\n'
        '[[annotations]]\nkind = "campaign"\ntext = "' + "x" * 201 + '"\n'
    )
    with pytest.raises(notes.AnnotationError) as caught:
        notes.parse_annotations(text.replace("2026-09-31", '"2026-09-31"'), source="a.toml")
    assert caught.value.problems == [
        "a.toml: unknown top-level key 'note' (expected [[annotations]])",
        "a.toml: annotation #1, field 'date': must be a date written as 2026-09-01, "
        "got '2026-09-31'",
        "a.toml: annotation #2, field 'who': unknown key (allowed: date, kind, text)",
        "a.toml: annotation #2, field 'kind': must be one of release, incident, campaign, "
        "experiment_start, experiment_end, target_change, got 'launch'",
        "a.toml: annotation #2, field 'text': must be a non-empty string, got ''",
        "a.toml: annotation #3, field 'date': missing",
        "a.toml: annotation #3, field 'text': at most 200 characters, got 201",
    ]


def test_not_toml_is_one_problem():
    with pytest.raises(notes.AnnotationError, match="not valid TOML"):
        notes.parse_annotations("[[annotations]\n")


def test_experiment_starts_and_ends_from_the_assignments():
    assignments = pl.DataFrame(
        {
            "user_id": ["a", "b", "c", "d"],
            "experiment": ["checkout", "checkout", "search", "search"],
            "variant": ["control", "treatment", "control", "treatment"],
            "timestamp": [
                dt.datetime(2026, 9, 1, 23, 30, tzinfo=dt.UTC),  # 2 Sep in Berlin
                dt.datetime(2026, 9, 20, 10, tzinfo=dt.UTC),
                dt.datetime(2026, 10, 1, 10, tzinfo=dt.UTC),
                dt.datetime(2026, 10, 31, 10, tzinfo=dt.UTC),
            ],
        }
    )
    found = notes.from_assignments(assignments, tz="Europe/Berlin", data_end=D("2026-10-31"))
    assert [(n.date, n.kind, n.text, n.origin) for n in found] == [
        (D("2026-09-02"), "experiment_start", "checkout started", "experiments"),
        (D("2026-09-20"), "experiment_end", "checkout ended", "experiments"),
        (D("2026-10-01"), "experiment_start", "search started", "experiments"),
        # search still exposes users on the data's last day: no end yet
    ]
    assert len(notes.from_assignments(assignments)) == 4  # without data_end, every end
    assert notes.from_assignments(None) == ()


def test_target_changes_from_the_change_log():
    log = pl.DataFrame(
        {
            "when": ["2026-10-02T09:00:00+00:00", "2026-10-02T09:00:00+00:00", "not a time"],
            "who": ["ana@example.com"] * 3,
            "kpi": ["weekly_buyers", "weekly_buyers", "x"],
            "field": ["target", "deadline", "target"],
            "old": ["2000", "2026-12-31", "1"],
            "new": ["2200", "2027-01-31", "2"],
        }
    )
    (note,) = notes.from_change_log(log)
    assert note == Annotation(
        D("2026-10-02"),
        "target_change",
        "weekly_buyers: target 2000 → 2200; deadline 2026-12-31 → 2027-01-31",
        origin="change_log",
        kpi="weekly_buyers",
    )
    assert notes.from_change_log(None) == ()


def test_timeline_merges_sorts_and_keeps_each_note_once():
    a = Annotation(D("2026-09-02"), "release", "v2")
    b = Annotation(D("2026-09-01"), "experiment_start", "x started", origin="experiments")
    c = Annotation(D("2026-09-02"), "incident", "down")
    merged = notes.timeline([a, c], [b, a])
    assert merged == (b, a, c)
    assert notes.in_window(merged, D("2026-09-02"), None) == (a, c)
    assert notes.in_window(merged, None, D("2026-09-01")) == (b,)
    frame = notes.as_frame(merged)
    assert frame.columns == ["date", "kind", "text", "origin", "kpi"]
    assert frame.height == 3 and frame.schema["date"] == pl.Date
    assert a.label == "Release: v2"


@pytest.mark.parametrize(
    ("period", "before_end", "first_day"),
    [
        ("week", "2026-09-06", "2026-08-31"),  # the earlier point's whole week
        ("day", "2026-09-06", "2026-08-31"),  # its 7-day average
        ("month", "2026-08-31", "2026-08-01"),  # its month
    ],
)
def test_the_drivers_window_lists_what_happened_while_the_kpi_moved(period, before_end, first_day):
    from metrics.drivers import notes_in_window

    start = D(first_day)
    found = [
        Annotation(start - dt.timedelta(days=1), "release", "just before"),
        Annotation(start, "release", "first day"),
        Annotation(D("2026-10-04"), "incident", "last day"),
        Annotation(D("2026-10-05"), "campaign", "after"),
    ]
    shown = notes_in_window(
        found, before_end=D(before_end), after_end=D("2026-10-04"), period=period
    )
    assert [n.text for n in shown] == ["first day", "last day"]
