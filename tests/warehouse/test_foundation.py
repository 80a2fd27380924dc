"""The relation itself on each engine: a source read as the canonical events."""

from __future__ import annotations

import pytest
from polars.testing import assert_frame_equal

from metrics import engagement
from tests.conftest import make_events

MARCH = make_events(
    ("a", "x", "2026-03-08 06:30"),
    ("a", "y", "2026-03-09 04:00", {"platform": "ios"}),
    ("b", "x", "2026-03-10 12:00", {"platform": "web"}),
    ("c", "x", "2026-03-29 00:30"),
)


@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_weekly_active_users_across_the_march_dst_change_match_polars(on_engine, tz):
    args = dict(start="2026-03-01", end="2026-03-31", interval="week", tz=tz)
    expected = engagement.active_users(MARCH, **args)
    assert_frame_equal(engagement.active_users(on_engine(MARCH), **args), expected)
