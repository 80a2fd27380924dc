"""KPI evaluation stories from the SPEC conformance file (tests/test_spec_interface.py, which
now checks only the shape of each public call): the shipped vision on a tiny shop, no data, and
one KPI per status (docs/targets.md).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

from metrics import targets
from tests.conftest import make_events

D = dt.date
REPO = Path(__file__).resolve().parents[2]
STATUSES = {"met", "on_track", "at_risk", "off_track", "no_data"}


def _small_product() -> pl.DataFrame:
    """Three months of a tiny shop using the demo's vocabulary (what the shipped vision reads)."""
    rng = np.random.default_rng(11)
    rows: list[dict] = []
    start = dt.datetime(2026, 8, 1, tzinfo=dt.UTC)
    for u in range(150):
        user = f"u{u}"
        joined = start + dt.timedelta(days=int(rng.integers(0, 80)), hours=int(rng.integers(0, 24)))
        rows.append({"user_id": user, "event": "signup", "timestamp": joined, "revenue": None})
        if rng.random() < 0.6:
            rows.append(
                {
                    "user_id": user,
                    "event": "onboarding_complete",
                    "timestamp": joined + dt.timedelta(hours=2),
                    "revenue": None,
                }
            )
        day = joined
        while day < dt.datetime(2026, 10, 31, tzinfo=dt.UTC):
            day += dt.timedelta(days=int(rng.integers(1, 6)), minutes=int(rng.integers(0, 600)))
            rows.append(
                {"user_id": user, "event": "session_start", "timestamp": day, "revenue": None}
            )
            if rng.random() < 0.3:
                rows.append(
                    {
                        "user_id": user,
                        "event": "checkout_start",
                        "timestamp": day + dt.timedelta(minutes=5),
                        "revenue": None,
                    }
                )
                if rng.random() < 0.5:
                    rows.append(
                        {
                            "user_id": user,
                            "event": "purchase",
                            "timestamp": day + dt.timedelta(minutes=9),
                            "revenue": float(rng.integers(5, 60)),
                        }
                    )
    frame = pl.DataFrame(
        rows,
        schema={
            "user_id": pl.String,
            "event": pl.String,
            "timestamp": pl.Datetime("us", "UTC"),
            "revenue": pl.Float64,
        },
    )
    return frame.filter(pl.col("timestamp") < dt.datetime(2026, 11, 1, tzinfo=dt.UTC))


def test_evaluate_shipped_vision_gives_one_row_per_kpi_in_file_order() -> None:
    vision = targets.load_vision(REPO / "vision.toml")
    result = targets.evaluate(vision, _small_product(), today=D(2026, 11, 1))
    assert result["kpi"].to_list() == [k.id for k in vision.kpis]  # one row per KPI
    assert set(result["status"].to_list()) <= STATUSES
    weekly_buyers = result.row(by_predicate=pl.col("kpi") == "weekly_buyers", named=True)
    assert weekly_buyers["status"] != "no_data" and weekly_buyers["value"] > 0
    assert weekly_buyers["target"] == vision.kpi("weekly_buyers").target


def test_evaluate_without_data_is_no_data_not_zero() -> None:
    vision = targets.load_vision(REPO / "vision.toml")
    empty = make_events()
    result = targets.evaluate(vision, empty, today=D(2026, 11, 1))
    assert set(result["status"].to_list()) == {"no_data"}
    assert result["value"].null_count() == result.height


STATUS_VISION = """
[product]
name = "Tiny"
vision = "Statuses"
north_star = "easy"

[[kpis]]
id = "easy"
name = "Weekly actives, low bar"
metric = "active_users"
period = "week"
target = 5
direction = "up"
deadline = 2026-12-31
owner = "me"
description = "met: far above the target"

[[kpis]]
id = "impossible"
name = "Weekly actives, moonshot"
metric = "active_users"
period = "week"
target = 1000000
direction = "up"
deadline = 2026-11-30
owner = "me"
description = "off track: no trend gets there in a month"

[[kpis]]
id = "lower_is_better"
name = "Weekly actives, down"
metric = "active_users"
period = "week"
target = 1000000
direction = "down"
deadline = 2026-12-31
owner = "me"
description = "met: already below a ceiling"

[[kpis]]
id = "absent"
name = "Nobody does this"
metric = "active_users"
event = "no_such_event"
period = "week"
target = 5
direction = "up"
deadline = 2026-12-31
owner = "me"
description = "no data: never zero"
"""


def test_evaluate_statuses(tmp_path: Path) -> None:
    path = tmp_path / "vision.toml"
    path.write_text(STATUS_VISION, encoding="utf-8")
    vision = targets.load_vision(path)
    result = targets.evaluate(vision, _small_product(), today=D(2026, 11, 1))
    status = dict(zip(result["kpi"], result["status"], strict=True))
    assert status == {
        "easy": "met",
        "impossible": "off_track",
        "lower_is_better": "met",
        "absent": "no_data",
    }
    absent = result.row(by_predicate=pl.col("kpi") == "absent", named=True)
    assert absent["value"] is None  # no data is not zero
    assert result["target"].to_list() == [5.0, 1e6, 1e6, 5.0]
