"""connectors.demo: the seeded demo product keeps the promises docs/architecture.md makes about it.

Most properties are checked on a small generation (5,000 users, a fraction of a second); size,
seasonality and the planted experiment effect need the default data (about 3 s to generate).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from scipy import stats

from connectors import demo
from connectors.demo import DEMO_EXPERIMENT_TRUTH, generate, load_demo
from connectors.report import DROP_REASONS
from metrics.schema import ASSIGNMENT_SCHEMA, EVENT_SCHEMA

# The fixed vocabulary of docs/architecture.md ("The demo product").
EVENTS = {
    "signup",
    "onboarding_complete",
    "session_start",
    "page_view",
    "search",
    "add_to_cart",
    "checkout_start",
    "purchase",
    "experiment_exposure",
}
PROPERTIES = {
    "platform": {"web", "mobile"},
    "country": {"US", "GB", "DE", "FR", "IN", "BR"},
    "plan": {"free", "pro"},
}
START = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)  # exclusive: the last day is 2026-10-31


@pytest.fixture(scope="module")
def small_pair() -> tuple[pl.DataFrame, pl.DataFrame]:
    return generate(seed=3, users=5_000)


@pytest.fixture(scope="module")
def small(small_pair) -> pl.DataFrame:
    return small_pair[0]


@pytest.fixture(scope="module")
def full() -> tuple[pl.DataFrame, pl.DataFrame]:
    return generate()


def first_time(events: pl.DataFrame, name: str) -> pl.DataFrame:
    return (
        events.filter(pl.col("event") == name)
        .group_by("user_id")
        .agg(pl.col("timestamp").min().alias(name))
    )


# -- determinism ------------------------------------------------------------------------------


def test_same_seed_gives_the_same_frames_and_another_seed_does_not():
    events_a, assignments_a = generate(seed=11, users=1_500)
    events_b, assignments_b = generate(seed=11, users=1_500)
    assert_frame_equal(events_a, events_b)
    assert_frame_equal(assignments_a, assignments_b)
    other, _ = generate(seed=12, users=1_500)
    assert not other.equals(events_a)


def test_a_small_generation_is_pinned_by_its_hash():
    # If this fails, the generator's output changed: bump DEMO_VERSION (so cached demo files are
    # regenerated, not silently reused) and pin the new hash. A numpy release that changes how a
    # distribution is sampled would also show up here.
    events, assignments = generate(seed=1, users=300)
    digest = hashlib.sha256(events.write_csv().encode() + assignments.write_csv().encode())
    assert (events.height, assignments.height) == PINNED_SIZE
    assert digest.hexdigest() == PINNED_SHA256
    assert demo.DEMO_VERSION == PINNED_VERSION


PINNED_VERSION = 3
PINNED_SIZE = (14_153, 51)
PINNED_SHA256 = "72d7e30b0ea40fcb4cc759b4fab0213c659c04af9f694d6d9e0a89e5f59115e2"


# -- shape ------------------------------------------------------------------------------------


def test_events_have_the_canonical_columns_then_string_properties(small):
    canonical = dict(list(small.schema.items())[: len(EVENT_SCHEMA)])
    assert canonical == EVENT_SCHEMA
    properties = dict(list(small.schema.items())[len(EVENT_SCHEMA) :])
    assert properties == dict.fromkeys(
        ["platform", "country", "plan", "experiment", "variant"], pl.String()
    )
    assert set(small["event"].unique()) <= EVENTS
    for column, values in PROPERTIES.items():
        assert set(small[column].unique()) == values, column
    assert small.select("user_id", "event", "timestamp").null_count().sum_horizontal().item() == 0


def test_every_vocabulary_event_occurs_and_times_stay_inside_the_six_months(small):
    assert set(small["event"].unique()) == EVENTS
    assert small["timestamp"].min() >= START
    assert small["timestamp"].max() < END
    assert small["timestamp"].is_sorted()


def test_event_ids_are_unique_and_sessions_belong_to_one_user_with_one_start(small):
    assert small["event_id"].null_count() == 0
    assert small["event_id"].n_unique() == small.height
    assert small["session_id"].null_count() == 0
    sessions = small.group_by("session_id").agg(
        users=pl.col("user_id").n_unique(),
        starts=(pl.col("event") == "session_start").sum(),
        span=pl.col("timestamp").max() - pl.col("timestamp").min(),
    )
    assert sessions["users"].max() == 1
    assert (sessions["starts"] == 1).all()
    # A session is one visit: nothing in it is more than a few hours apart.
    assert sessions["span"].max() <= dt.timedelta(hours=6)


def test_properties_are_fixed_per_user(small):
    per_user = small.group_by("user_id").agg(pl.col("platform", "country", "plan").n_unique())
    assert per_user.select(pl.all().exclude("user_id").max()).row(0) == (1, 1, 1)


def test_default_size_has_at_least_50k_users_and_2m_events(full):
    events, _ = full
    assert events["user_id"].n_unique() >= 50_000
    assert events.height >= 2_000_000


# -- the product's story ----------------------------------------------------------------------


def test_every_user_signs_up_once_and_before_anything_else(small):
    signups = small.filter(pl.col("event") == "signup")
    assert signups["user_id"].is_unique().all()
    assert signups["user_id"].n_unique() == small["user_id"].n_unique()
    others = small.filter(pl.col("event") != "signup").join(
        first_time(small, "signup"), on="user_id"
    )
    # Strictly after: the signup is each user's first event, with no tie to break.
    assert (others["timestamp"] > others["signup"]).all()


def test_funnel_steps_happen_in_order_for_every_user(small):
    firsts = first_time(small, "signup")
    for name in ("onboarding_complete", "add_to_cart", "checkout_start", "purchase"):
        firsts = firsts.join(first_time(small, name), on="user_id", how="left")
    steps = ["signup", "onboarding_complete", "add_to_cart", "checkout_start", "purchase"]
    for before, after in zip(steps, steps[1:], strict=False):
        reached = firsts.filter(pl.col(after).is_not_null())
        # Nobody skips a step: whoever did the later one did the earlier one first.
        assert reached[before].null_count() == 0, (before, after)
        assert (reached[after] > reached[before]).all(), (before, after)


def test_every_purchase_follows_a_checkout_of_the_same_user_within_two_weeks(small):
    checkouts = (
        small.filter(pl.col("event") == "checkout_start")
        .select("user_id", pl.col("timestamp").alias("checkout"))
        .sort("checkout")
    )
    purchases = small.filter(pl.col("event") == "purchase").sort("timestamp")
    matched = purchases.join_asof(
        checkouts,
        left_on="timestamp",
        right_on="checkout",
        by="user_id",
        strategy="backward",
        check_sortedness=False,  # both sides are sorted by time above
    )
    assert matched["checkout"].null_count() == 0
    delay = matched["timestamp"] - matched["checkout"]
    assert delay.min() > dt.timedelta(0)
    assert delay.max() <= dt.timedelta(days=14)
    # Most buy in the same visit, but some come back days later.
    assert (delay > dt.timedelta(days=1)).mean() > 0.03
    assert (delay < dt.timedelta(hours=1)).mean() > 0.6


def test_revenue_is_positive_on_purchases_and_absent_elsewhere(small):
    purchases = small.filter(pl.col("event") == "purchase")
    assert purchases["revenue"].null_count() == 0
    assert purchases["revenue"].min() > 0
    assert small.filter(pl.col("event") != "purchase")["revenue"].null_count() == (
        small.height - purchases.height
    )
    # Heavy-tailed order values: the mean sits well above the median, the largest far above both.
    revenue = purchases["revenue"]
    assert revenue.mean() > 1.15 * revenue.median()
    assert revenue.max() > 8 * revenue.median()


def test_activity_is_heavy_tailed(small):
    per_user = small.group_by("user_id").len()["len"].sort(descending=True)
    top_one_percent = per_user.head(len(per_user) // 100).sum()
    assert top_one_percent > 0.10 * per_user.sum()
    assert per_user.median() < 0.5 * per_user.mean()


def test_signups_grow_over_the_period(small):
    signups = small.filter(pl.col("event") == "signup")
    by_month = signups.group_by(pl.col("timestamp").dt.month().alias("month")).len()
    counts = dict(by_month.iter_rows())
    assert set(counts) == {5, 6, 7, 8, 9, 10}
    assert counts[10] > 1.8 * counts[5]


def test_users_churn_and_some_come_back(small):
    weeks = (
        small.select("user_id", week=pl.col("timestamp").dt.truncate("1w"))
        .unique()
        .sort("user_id", "week")
        .with_columns(gap=pl.col("week").diff().over("user_id").dt.total_days())
    )
    activated = small.filter(pl.col("event") == "onboarding_complete")["user_id"].n_unique()
    resurrected = weeks.filter(pl.col("gap") >= 21)["user_id"].n_unique()
    assert resurrected > 0.08 * activated
    # Churn: of the users who signed up in May, well under half are still around in October.
    may = small.filter(
        (pl.col("event") == "signup") & (pl.col("timestamp").dt.month() == 5)
    ).select("user_id")
    october = small.filter(pl.col("timestamp").dt.month() == 10).select("user_id").unique()
    assert may.join(october, on="user_id").height < 0.5 * may.height


def test_weekends_are_quieter(full):
    events, _ = full
    daily = events.group_by(pl.col("timestamp").dt.date().alias("day")).len()
    weekend = daily.filter(pl.col("day").dt.weekday() >= 6)["len"].mean()
    weekday = daily.filter(pl.col("day").dt.weekday() <= 5)["len"].mean()
    assert weekend < 0.8 * weekday


def test_segments_behave_differently(small):
    per_segment = small.group_by("platform", "country").agg(
        users=pl.col("user_id").n_unique(), purchases=(pl.col("event") == "purchase").sum()
    )

    def rate(**where: str) -> float:
        rows = per_segment.filter(**where)
        return rows["purchases"].sum() / rows["users"].sum()

    assert rate(platform="web") > 1.3 * rate(platform="mobile")
    assert rate(country="US") > 2 * rate(country="IN")


def test_users_who_never_activate_never_shop(small):
    activated = small.filter(pl.col("event") == "onboarding_complete").select("user_id")
    shopping = small.filter(pl.col("event").is_in(["add_to_cart", "checkout_start", "purchase"]))
    assert shopping.join(activated, on="user_id", how="anti").height == 0
    share = activated.height / small["user_id"].n_unique()
    assert 0.45 < share < 0.75


# -- the experiment ---------------------------------------------------------------------------


def test_assignments_are_each_users_first_checkout_from_september(small_pair):
    events, assignments = small_pair
    assert dict(assignments.schema) == ASSIGNMENT_SCHEMA
    assert assignments["user_id"].is_unique().all()
    assert set(assignments["experiment"].unique()) == {DEMO_EXPERIMENT_TRUTH.experiment}
    assert set(assignments["variant"].unique()) == {"control", "treatment"}
    first_checkout = first_time(
        events.filter(pl.col("timestamp") >= DEMO_EXPERIMENT_TRUTH.start), "checkout_start"
    )
    expected = first_checkout.rename({"checkout_start": "timestamp"}).sort("user_id")
    assert_frame_equal(assignments.select("user_id", "timestamp").sort("user_id"), expected)
    # The same exposures are visible as events, with the experiment and variant as properties.
    exposures = events.filter(pl.col("event") == "experiment_exposure").select(
        "user_id", "experiment", "variant", "timestamp"
    )
    assert_frame_equal(exposures.sort("user_id"), assignments.sort("user_id"))
    assert events.filter(pl.col("event") != "experiment_exposure")["variant"].null_count() == (
        events.height - exposures.height
    )


def test_arms_are_split_evenly(full):
    _, assignments = full
    counts = assignments["variant"].value_counts().sort("variant")["count"].to_list()
    # Sample-ratio check against the intended 50/50 split.
    assert stats.chisquare(counts).pvalue > 0.001


def test_the_planted_effect_is_recovered(full):
    events, assignments = full
    truth = DEMO_EXPERIMENT_TRUTH
    purchases = events.filter(pl.col("event") == "purchase").select(
        "user_id", pl.col("timestamp").alias("purchased")
    )
    converted = (
        assignments.join(purchases, on="user_id", how="left")
        .group_by("user_id", "variant")
        .agg((pl.col("purchased") >= pl.col("timestamp")).any().fill_null(False).alias("bought"))
    )
    arms = converted.group_by("variant").agg(n=pl.len(), rate=pl.col("bought").mean())
    rate = dict(arms.select("variant", "rate").iter_rows())
    n = dict(arms.select("variant", "n").iter_rows())
    se = math.sqrt(sum(rate[v] * (1 - rate[v]) / n[v] for v in rate))
    # Enough users for the planted effect to be about 3.5 standard errors (module docstring).
    assert min(n.values()) > 5_000
    assert truth.absolute_effect / se > 3
    # Each arm's rate and their difference within 3 standard errors of the truth.
    assert abs(rate["control"] - truth.control_rate) < 3 * se
    assert abs(rate["treatment"] - truth.treatment_rate) < 3 * se
    assert abs(rate["treatment"] - rate["control"] - truth.absolute_effect) < 3 * se


def test_the_docstring_states_the_true_effect():
    truth = DEMO_EXPERIMENT_TRUTH
    assert truth.experiment == "checkout_redesign"
    assert (truth.control, truth.treatment) == ("control", "treatment")
    assert truth.start == dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    assert (truth.control_rate, truth.treatment_rate) == (0.60, 0.63)
    assert truth.absolute_effect == pytest.approx(0.03)
    assert truth.relative_effect == pytest.approx(0.05)
    text = " ".join((demo.__doc__ or "").split())
    assert (
        f"{truth.control_rate:.0%} in control and {truth.treatment_rate:.0%} in treatment" in text
    )
    assert "+3 percentage points absolute, +5% relative" in text


def checkout_weeks(events: pl.DataFrame, assignments: pl.DataFrame) -> pl.DataFrame:
    """Per 7-day block counted from the experiment's start (block 0 = 2026-09-01 to 09-07) and arm
    (null before exposure): users who started a checkout, the share of them who paid within 3 days
    of one of those checkouts, and the users who bought in the block."""
    start = DEMO_EXPERIMENT_TRUTH.start

    def block(column: str) -> pl.Expr:
        return ((pl.col(column) - pl.lit(start)).dt.total_seconds() // (7 * 86_400)).alias("block")

    checkouts = events.filter(pl.col("event") == "checkout_start").select("user_id", "timestamp")
    purchases = events.filter(pl.col("event") == "purchase").select(
        "user_id", pl.col("timestamp").alias("paid")
    )
    exposed = assignments.select("user_id", "variant", pl.col("timestamp").alias("exposed"))
    paid_soon = (
        checkouts.sort("timestamp")
        .join_asof(
            purchases.sort("paid"),
            left_on="timestamp",
            right_on="paid",
            by="user_id",
            strategy="forward",
            check_sortedness=False,  # both sides are sorted by time above
        )
        .join(exposed, on="user_id", how="left")
        .select(
            block("timestamp"),
            "user_id",
            arm=pl.when(pl.col("timestamp") >= pl.col("exposed")).then(pl.col("variant")),
            paid=(pl.col("paid") - pl.col("timestamp") <= dt.timedelta(days=3)).fill_null(False),
        )
    )
    conversion = (
        paid_soon.group_by("block", "arm", "user_id")
        .agg(pl.col("paid").any())
        .group_by("block", "arm")
        .agg(starters=pl.len(), converted=pl.col("paid").sum())
    )
    buyers = purchases.group_by(block("paid")).agg(buyers=pl.col("user_id").n_unique())
    return conversion.join(buyers, on="block", how="left")


def test_checkout_conversion_and_weekly_buyers_have_no_break_when_the_experiment_starts(full):
    # The experiment changes nothing for control; only the treatment (half the exposed users)
    # converts better, by about 9% per checkout. So overall checkout conversion may rise by about
    # 5% from 2026-09-01, never more than 10%; the defect this guards against fell from 45% to 22%.
    weeks = checkout_weeks(*full)

    def between(first: int, last: int, arm: str | None = None) -> tuple[float, int]:
        rows = weeks.filter(pl.col("block").is_between(first, last))
        buyers = rows.unique("block")["buyers"].sum()
        if arm is not None:
            rows = rows.filter(pl.col("arm") == arm)
        return rows["converted"].sum() / rows["starters"].sum(), buyers

    conversion_before, buyers_before = between(-4, -1)
    conversion_after, buyers_after = between(0, 3)
    assert 0.40 < conversion_before < 0.55
    assert abs(conversion_after / conversion_before - 1) < 0.10
    # Control users convert after exposure as everyone did before the experiment.
    control_after, _ = between(0, 3, arm="control")
    assert abs(control_after / conversion_before - 1) < 0.06
    # Weekly buyers keep growing as in the month before: the growth over the 4 weeks before the
    # start and over the 4 weeks from it differ by less than 10% (the old crash: 0.6 of it).
    _, buyers_earlier = between(-8, -5)
    growth_before = buyers_before / buyers_earlier
    growth_after = buyers_after / buyers_before
    assert abs(growth_after / growth_before - 1) < 0.10


# -- loading and the cache --------------------------------------------------------------------


def test_load_demo_generates_then_reads_the_same_frames_from_its_cache(tmp_path):
    events, assignments, report = load_demo(cache_dir=tmp_path, seed=5, users=2_000)
    assert report.format == "demo (generated)"
    stem = f"v{demo.DEMO_VERSION}_seed5_users2000"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"demo_assignments_{stem}.parquet",
        f"demo_events_{stem}.parquet",
    ]
    again, again_assignments, again_report = load_demo(cache_dir=tmp_path, seed=5, users=2_000)
    assert again_report.format == "demo (cached parquet)"
    expected_events, expected_assignments = generate(seed=5, users=2_000)
    for frame in (events, again):
        assert_frame_equal(frame, expected_events)
    for frame in (assignments, again_assignments):
        assert_frame_equal(frame, expected_assignments)


def test_a_new_generator_version_replaces_the_old_cache(tmp_path, monkeypatch):
    load_demo(cache_dir=tmp_path, seed=5, users=500)
    load_demo(cache_dir=tmp_path, seed=6, users=500)
    monkeypatch.setattr(demo, "DEMO_VERSION", demo.DEMO_VERSION + 1)
    _, _, report = load_demo(cache_dir=tmp_path, seed=5, users=500)
    assert report.format == "demo (generated)"
    old, new = demo.DEMO_VERSION - 1, demo.DEMO_VERSION
    # The old version's seed-5 files are gone; another seed's cache is left alone.
    names = sorted(path.name for path in tmp_path.glob("demo_events_*.parquet"))
    assert names == [
        f"demo_events_v{old}_seed6_users500.parquet",
        f"demo_events_v{new}_seed5_users500.parquet",
    ]


def test_a_damaged_cache_is_regenerated_not_shown(tmp_path):
    events, _, _ = load_demo(cache_dir=tmp_path, seed=5, users=500)
    (cached,) = tmp_path.glob("demo_events_*.parquet")
    cached.write_bytes(b"not parquet at all")
    again, _, report = load_demo(cache_dir=tmp_path, seed=5, users=500)
    assert report.format == "demo (generated)"
    assert_frame_equal(again, events)
    assert not list(tmp_path.glob(".*.tmp"))


def test_an_unwritable_cache_folder_still_gives_the_data(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("in the way")
    events, _, report = load_demo(cache_dir=blocker / "cache", seed=5, users=500)
    assert events.height > 0
    assert "not cached" in report.notes[0]


def test_the_load_report_describes_the_frame(tmp_path):
    events, _, report = load_demo(cache_dir=tmp_path, seed=5, users=2_000)
    assert report.source == "demo"
    assert report.rows_read == report.rows_kept == events.height
    assert report.dropped == dict.fromkeys(DROP_REASONS, 0)
    assert report.rows_dropped == 0
    assert report.first_event == events["timestamp"].min()
    assert report.last_event == events["timestamp"].max()
    assert report.users == events["user_id"].n_unique() == 2_000
    assert sum(report.events_by_name.values()) == events.height
    assert report.events_by_name["signup"] == 2_000
    assert set(report.events_by_name) == EVENTS
    assert list(report.columns) == events.columns
    assert report.columns["timestamp"] == str(pl.Datetime("us", "UTC"))
    assert report.identities_merged == 0
    assert any("checkout_redesign" in note for note in report.notes)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [({"tz": "Mars/Olympus"}, "tz"), ({"users": 0}, "users")],
)
def test_bad_arguments_name_the_argument(tmp_path, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        load_demo(cache_dir=tmp_path, **kwargs)
