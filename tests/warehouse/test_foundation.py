"""The relation itself on each engine: reading a source as the canonical events."""

from __future__ import annotations

import pytest
from polars.testing import assert_frame_equal

from metrics import engagement
from tests.conftest import make_events


@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_active_users_by_week_across_the_march_dst_change(engine, tz):
    events = make_events(
        ("a", "x", "2026-03-08 06:30"),
        ("a", "y", "2026-03-09 04:00", {"platform": "ios"}),
        ("b", "x", "2026-03-10 12:00", {"platform": "web"}),
        ("c", "x", "2026-03-29 00:30"),
    )
    got = engagement.active_users(events, start="2026-03-01", end="2026-03-31", interval="week", tz=tz)
    assert got["active_users"].sum() >= 3
