"""metrics/compare.py: which earlier range a comparison computes, and how it lands on the axis."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from metrics import compare

#: Pure date arithmetic on small frames: nothing to cross-check on the engines.
NO_EVENTS = True

D = dt.date


@pytest.mark.parametrize(
    ("start", "end", "choice", "interval", "expected"),
    [
        # 30 days (1-30 Sep) against the 30 days before them: 2-31 Aug.
        (D(2026, 9, 1), D(2026, 9, 30), "previous", "day", (D(2026, 8, 2), D(2026, 8, 31), 30, 0)),
        # One day against the day before.
        (D(2026, 9, 1), D(2026, 9, 1), "previous", "day", (D(2026, 8, 31), D(2026, 8, 31), 1, 0)),
        # 10 days of weekly data move by the two whole weeks that cover them (weeks meet weeks).
        (D(2026, 9, 7), D(2026, 9, 16), "previous", "week", (D(2026, 8, 24), D(2026, 9, 2), 14, 0)),
        # 15 Aug - 31 Oct touches three calendar months: May-Jul, same days of the month.
        (
            D(2026, 8, 15),
            D(2026, 10, 31),
            "previous",
            "month",
            (D(2026, 5, 15), D(2026, 7, 31), 0, 3),
        ),
        # A year before, daily: 364 days, so Tuesday 1 Sep 2026 meets Tuesday 2 Sep 2025.
        (D(2026, 9, 1), D(2026, 9, 30), "year", "day", (D(2025, 9, 2), D(2025, 10, 1), 364, 0)),
        (D(2026, 9, 7), D(2026, 9, 27), "year", "week", (D(2025, 9, 8), D(2025, 9, 28), 364, 0)),
        # Monthly: the same calendar months; 29 Feb 2028 becomes 28 Feb 2027.
        (D(2028, 2, 29), D(2028, 3, 31), "year", "month", (D(2027, 2, 28), D(2027, 3, 31), 0, 12)),
    ],
)
def test_the_earlier_range(start, end, choice, interval, expected):
    shift = compare.earlier(start, end, choice, interval=interval)
    assert (shift.start, shift.end, shift.days, shift.months) == expected
    assert shift.label == compare.LABELS[choice]


def test_a_year_before_keeps_the_weekday_of_every_day():
    shift = compare.earlier(D(2026, 5, 1), D(2026, 10, 31), "year")
    day = D(2026, 5, 1)
    while day <= D(2026, 10, 31):
        assert shift.back(day).weekday() == day.weekday()
        assert shift.forward(shift.back(day)) == day
        day += dt.timedelta(days=1)


def test_the_previous_period_ends_the_day_before_the_range_and_has_its_length():
    for length in (1, 7, 28, 90, 365):
        start = D(2026, 3, 10)
        end = start + dt.timedelta(days=length - 1)
        shift = compare.earlier(start, end, "previous")
        assert shift.end == start - dt.timedelta(days=1)
        assert (shift.end - shift.start).days + 1 == length


def test_none_is_no_comparison_and_bad_input_is_a_value_error():
    assert compare.earlier(D(2026, 9, 1), D(2026, 9, 30), "none") is None
    with pytest.raises(ValueError, match="compare"):
        compare.earlier(D(2026, 9, 1), D(2026, 9, 30), "last_year")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="before start"):
        compare.earlier(D(2026, 9, 30), D(2026, 9, 1), "previous")


def test_align_moves_the_earlier_days_onto_the_current_ones():
    shift = compare.earlier(D(2026, 9, 8), D(2026, 9, 10), "previous")  # earlier: 5-7 Sep
    earlier = pl.DataFrame(
        {"period_start": [D(2026, 9, 7), D(2026, 9, 5), D(2026, 9, 6)], "dau": [30, 10, 20]}
    )
    expected = pl.DataFrame(
        {
            "period_start": [D(2026, 9, 8), D(2026, 9, 9), D(2026, 9, 10)],
            "dau": [10, 20, 30],
            "earlier_period_start": [D(2026, 9, 5), D(2026, 9, 6), D(2026, 9, 7)],
        }
    )
    assert_frame_equal(compare.align(earlier, shift), expected, check_column_order=False)
    assert earlier["period_start"][0] == D(2026, 9, 7)  # the input is untouched


def test_align_drops_what_lies_before_the_first_day_of_data_instead_of_drawing_zero():
    shift = compare.earlier(D(2026, 9, 8), D(2026, 9, 10), "previous")
    earlier = pl.DataFrame(
        {"period_start": [D(2026, 9, 5), D(2026, 9, 6), D(2026, 9, 7)], "dau": [0, 0, 25]}
    )
    aligned = compare.align(earlier, shift, first_day=D(2026, 9, 7))
    assert aligned.select("period_start", "dau").rows() == [(D(2026, 9, 10), 25)]


def test_align_keeps_a_week_or_month_that_reaches_into_the_data():
    # The data starts on Wednesday 2 Sep: the week of Monday 31 Aug has data, the one before none.
    shift = compare.earlier(D(2026, 9, 14), D(2026, 9, 27), "previous", interval="week")
    weeks = pl.DataFrame(
        {"period_start": [D(2026, 8, 24), D(2026, 8, 31), D(2026, 9, 7)], "users": [0, 5, 9]}
    )
    aligned = compare.align(weeks, shift, first_day=D(2026, 9, 2), interval="week")
    assert aligned.select("period_start", "users").rows() == [
        (D(2026, 9, 14), 5),
        (D(2026, 9, 21), 9),
    ]
    months = pl.DataFrame({"period_start": [D(2025, 4, 1), D(2025, 5, 1)], "users": [0, 7]})
    year = compare.earlier(D(2026, 4, 1), D(2026, 5, 31), "year", interval="month")
    aligned = compare.align(months, year, first_day=D(2025, 5, 20), interval="month")
    assert aligned.select("period_start", "users").rows() == [(D(2026, 5, 1), 7)]


def test_covered_says_whether_the_earlier_range_has_any_data():
    year = compare.earlier(D(2026, 9, 1), D(2026, 9, 30), "year")  # 2 Sep - 1 Oct 2025
    assert not compare.covered(year, first_day=D(2026, 5, 1))
    assert compare.covered(year, first_day=D(2025, 10, 1))
    assert compare.covered(year, first_day=None)
    assert not compare.covered(year, first_day=D(2025, 1, 1), last_day=D(2025, 9, 1))


def test_value_before_and_change():
    shift = compare.earlier(D(2026, 9, 8), D(2026, 9, 14), "previous")  # 1-7 Sep
    series = pl.DataFrame({"period_start": [D(2026, 9, 7), D(2026, 9, 14)], "value": [40.0, 50.0]})
    before = compare.value_before(series, D(2026, 9, 14), shift)
    assert before == 40.0
    assert compare.change(50.0, before) == 10.0
    assert compare.value_before(series, D(2026, 9, 13), shift) is None
    assert compare.change(50.0, None) is None  # missing is never a change from zero


def test_a_kpis_points_land_on_the_ends_of_the_moved_periods():
    # Monthly KPI, a year before: Jun-Aug 2025 drawn at Jun-Aug 2026, each at its month's last day.
    shift = compare.earlier(D(2026, 6, 1), D(2026, 8, 31), "year", interval="month")
    points = pl.DataFrame(
        {
            "period_start": [D(2025, 5, 1), D(2025, 6, 1), D(2025, 7, 1), D(2025, 8, 1)],
            "period_end": [D(2025, 5, 31), D(2025, 6, 30), D(2025, 7, 31), D(2025, 8, 31)],
            "level": [1.0, 2.0, 3.0, 4.0],
        }
    )
    moved = compare.align_points(points, shift, period="month")
    assert moved.select("period_end", "level", "earlier_period_end").rows() == [
        (D(2026, 6, 30), 2.0, D(2025, 6, 30)),
        (D(2026, 7, 31), 3.0, D(2025, 7, 31)),
        (D(2026, 8, 31), 4.0, D(2025, 8, 31)),
    ]
    # Daily, previous period: a point per day, weekdays kept only when the length is whole weeks.
    shift = compare.earlier(D(2026, 9, 8), D(2026, 9, 21), "previous")  # 14 days
    days = pl.DataFrame(
        {
            "period_start": [D(2026, 9, 1), D(2026, 9, 7)],
            "period_end": [D(2026, 9, 1), D(2026, 9, 7)],
            "level": [5.0, 6.0],
        }
    )
    moved = compare.align_points(days, shift, first_day=D(2026, 9, 2))
    assert moved.select("period_end", "level").rows() == [(D(2026, 9, 21), 6.0)]
