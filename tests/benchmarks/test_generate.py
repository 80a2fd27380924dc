"""benchmarks.generate: the synthetic logs every benchmark reads have the promised shape."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from benchmarks import generate as bench
from metrics.schema import EVENT_SCHEMA


@pytest.fixture(scope="module")
def log() -> pl.DataFrame:
    return bench.generate(200_000, seed=4)


def test_exact_size_canonical_columns_and_properties(log):
    assert log.height == 200_000
    assert dict(log.schema) == {
        **EVENT_SCHEMA,
        "platform": pl.String(),
        "country": pl.String(),
    }
    assert log["user_id"].n_unique() == 200_000 // 40
    assert log["user_id"].str.contains(r"^u\d{7}$").all()
    assert log["event_id"].is_unique().all()
    assert set(log["event"].unique()) == set(bench.EVENT_NAMES)
    assert len(bench.EVENT_NAMES) == 11


def test_same_seed_same_log_other_seed_other_log():
    assert_frame_equal(bench.generate(5_000, seed=1), bench.generate(5_000, seed=1))
    assert not bench.generate(5_000, seed=1).equals(bench.generate(5_000, seed=2))


def test_users_sign_up_first_and_time_stays_in_six_months(log):
    first = log.sort("timestamp").group_by("user_id").agg(pl.col("event").first())
    assert (first["event"] == "signup").all()
    assert log.filter(pl.col("event") == "signup")["user_id"].is_unique().all()
    assert log["timestamp"].min() >= dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    assert log["timestamp"].max() < dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def test_sessions_after_the_signup_open_with_an_app_open(log):
    opens = (
        log.sort("timestamp")
        .group_by("session_id")
        .agg(first=pl.col("event").first(), opens=(pl.col("event") == "app_open").sum())
    )
    later = opens.filter(pl.col("first") != "signup")
    assert (later["first"] == "app_open").all()
    assert (later["opens"] == 1).all()
    # A frequent first step: a funnel from app_open has many attempts per active user.
    assert log.filter(pl.col("event") == "app_open").height > 5 * log["user_id"].n_unique()


def test_rows_are_not_in_user_or_time_order(log):
    assert not log["timestamp"].is_sorted()
    assert not log["user_id"].is_sorted()


def test_revenue_only_on_purchases(log):
    purchases = log.filter(pl.col("event") == "purchase")
    assert purchases["revenue"].null_count() == 0
    assert purchases["revenue"].min() > 0
    assert log["revenue"].null_count() == log.height - purchases.height


def test_sessions_are_short_visits_of_one_user(log):
    sessions = log.group_by("session_id").agg(
        users=pl.col("user_id").n_unique(),
        span=pl.col("timestamp").max() - pl.col("timestamp").min(),
        events=pl.len(),
    )
    assert sessions["users"].max() == 1
    assert sessions["span"].median() < dt.timedelta(minutes=30)
    assert 3 < sessions["events"].mean() < 6


def test_heavy_tailed_activity_and_quieter_weekends(log):
    per_user = log.group_by("user_id").len()["len"].sort(descending=True)
    assert per_user.head(len(per_user) // 100).sum() > 0.05 * log.height
    weekday = log["timestamp"].dt.weekday()
    days = log.select(pl.col("timestamp").dt.date()).n_unique()
    assert days > 180
    weekend_share = (weekday >= 6).mean()
    assert weekend_share < 2 / 7 * 0.8


@pytest.mark.parametrize(
    ("text", "count"),
    [("1M", 1_000_000), ("10M", 10_000_000), ("30m", 30_000_000), ("500k", 500_000),
     ("2000000", 2_000_000), ("1.5M", 1_500_000), ("10_000", 10_000)],
)  # fmt: skip
def test_counts_accept_suffixes(text, count):
    assert bench.parse_count(text) == count


@pytest.mark.parametrize("text", ["", "ten", "1G", "0", "1.5", "-3M"])
def test_bad_counts_are_rejected_with_the_text(text):
    with pytest.raises(ValueError, match="count"):
        bench.parse_count(text)


def test_ensure_writes_once_then_reuses_and_regenerates_an_old_version(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "DATA_DIR", tmp_path)
    path = bench.ensure(3_000, seed=2)
    assert path == tmp_path / "events_3000_seed2.parquet"
    assert_frame_equal(pl.read_parquet(path), bench.generate(3_000, seed=2))
    written = path.stat().st_mtime_ns
    assert bench.ensure(3_000, seed=2) == path
    assert path.stat().st_mtime_ns == written
    monkeypatch.setattr(bench, "GENERATOR_VERSION", "older")
    bench.ensure(3_000, seed=2)
    assert path.stat().st_mtime_ns != written
    assert bench.ensure(3_000).name == "events_3000.parquet"
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [({"n_events": 0}, "n_events"), ({"n_events": 10, "users": 11}, "users")],
)
def test_bad_arguments_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        bench.generate(**kwargs)
