"""Experiments on relations: direct stories on each engine, compared with the Polars answer.

Each story puts the events and the assignments in the engine as two tables on one connection
and checks the figures by hand as well as against Polars: the conversion window's last instant,
CUPED with winsorization (the covariate at the metric's cap), a ratio metric, and a user seen in
two variants. Also: only per-variant rows come back, and ``metrics.sql(analyze, ...)`` gives SQL
that parses in every dialect.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import polars as pl
import pytest
import sqlglot
from polars.testing import assert_frame_equal

import metrics
from connectors.warehouse import warehouse
from metrics.experiments import (
    Conversion,
    Count,
    ExperimentQuery,
    Ratio,
    Sum,
    analyze,
    analyze_of,
    assignment_counts,
    cumulative_effect,
    cumulative_effect_of,
    list_experiments,
)
from metrics.scope import Scope
from metrics.warehouse import DIALECTS
from tests.conftest import make_events, ts


def assignments(*rows: tuple[str, str, str, str], **extra: list[Any]) -> pl.DataFrame:
    frame = pl.DataFrame(
        [{"user_id": u, "experiment": e, "variant": v, "timestamp": ts(t)} for u, e, v, t in rows],
        schema={
            "user_id": pl.String,
            "experiment": pl.String,
            "variant": pl.String,
            "timestamp": pl.Datetime("us", "UTC"),
        },
    )
    return frame.with_columns(pl.Series(k, v) for k, v in extra.items())


#: Exposed Tue 1 Sep 09:00 (control) or Wed 2 Sep 00:00 (treatment, times truncated to days).
WINDOW_EVENTS = make_events(
    ("ann", "purchase", "2026-09-08 09:00", {"revenue": 10.0}),  # exactly 7 days on: in
    ("ann", "purchase", "2026-09-08 09:01", {"revenue": 99.0}),  # a minute later: out
    ("ben", "purchase", "2026-09-01 09:00", {"revenue": 4.0}),  # at exposure: in
    ("cat", "purchase", "2026-09-09 00:00", {"revenue": 7.0}),  # day 7 (truncated): in
    ("dan", "purchase", "2026-09-10 00:00", {"revenue": 50.0}),  # day 8: out
)
WINDOW_ASSIGNMENTS = assignments(
    ("ann", "w", "control", "2026-09-01 09:00"),
    ("ben", "w", "control", "2026-09-01 09:00"),
    ("cat", "w", "treatment", "2026-09-02 00:00"),
    ("dan", "w", "treatment", "2026-09-02 00:00"),
)

#: The checkout redesign: erin saw both variants, frank was exposed twice to one.
STORY_EVENTS = make_events(
    ("alice", "purchase", "2026-08-30 10:00", {"revenue": 5.0}),
    ("alice", "purchase", "2026-09-02 10:00", {"revenue": 20.0}),
    ("alice", "purchase", "2026-09-20 10:00", {"revenue": 5.0}),
    ("bob", "page_view", "2026-09-01 13:00", {"revenue": None}),
    ("carol", "purchase", "2026-09-02 08:00", {"revenue": 15.0}),
    ("carol", "purchase", "2026-09-05 10:00", {"revenue": 40.0}),
    ("dave", "purchase", "2026-09-03 11:00", {"revenue": 10.0}),
    ("dave", "purchase", "2026-09-03 12:00", {"revenue": 10.0}),
    ("erin", "purchase", "2026-09-04 10:00", {"revenue": 100.0}),
    ("frank", "purchase", "2026-09-03 07:00", {"revenue": 30.0}),
)
STORY_ASSIGNMENTS = assignments(
    ("alice", "checkout", "control", "2026-09-01 09:00"),
    ("bob", "checkout", "control", "2026-09-01 12:00"),
    ("carol", "checkout", "treatment", "2026-09-02 09:00"),
    ("dave", "checkout", "treatment", "2026-09-02 10:00"),
    ("erin", "checkout", "control", "2026-09-01 09:30"),
    ("erin", "checkout", "treatment", "2026-09-03 09:30"),
    ("frank", "checkout", "treatment", "2026-09-03 08:00"),
    ("frank", "checkout", "treatment", "2026-09-04 08:00"),
    ("alice", "other", "b", "2026-09-01 09:00"),
)


def both(harness: Any, events: pl.DataFrame, exposures: pl.DataFrame) -> tuple[Any, Any]:
    """The events and the assignments as two relations on the harness's one connection."""
    return harness.relation(events), harness.relation(exposures)


def same(function: Any, events: Any, exposures: Any, on: tuple[Any, Any], **kw: Any) -> Any:
    """The relation answer, checked equal to the Polars answer (floats to 1e-9 relative)."""
    expected = function(events, exposures, **kw)
    got = function(*on, **kw)
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-9, abs_tol=1e-12)
    return got


def test_assignments_are_read_as_their_own_kind(harness):
    rel = harness.relation(STORY_ASSIGNMENTS)
    assert rel.kind == "assignments"
    assert rel.columns is not None and rel.columns[:3] == ("user_id", "experiment", "variant")
    assert harness.relation(STORY_EVENTS).kind == "events"


def test_the_window_includes_its_last_instant(harness):
    on = both(harness, WINDOW_EVENTS, WINDOW_ASSIGNMENTS)
    metrics_ = [Sum("purchase", name="revenue"), Conversion("purchase")]
    got = same(
        analyze,
        WINDOW_EVENTS,
        WINDOW_ASSIGNMENTS,
        on,
        experiment="w",
        metrics=metrics_,
        window=7,
    )
    # revenue (10 + 4) / 2 = 7 and (7 + 0) / 2 = 3.5; conversion 2/2 and 1/2.
    assert got["mean"].to_list() == [7.0, 3.5, 1.0, 0.5]
    daily = same(
        cumulative_effect,
        WINDOW_EVENTS,
        WINDOW_ASSIGNMENTS,
        on,
        experiment="w",
        metric=metrics_[0],
        window=7,
    )
    assert daily.tail(1).select("control_mean", "mean").row(0) == (7.0, 3.5)


def test_cuped_with_winsorization_caps_the_covariate_at_the_metric_cap(harness):
    on = both(harness, STORY_EVENTS, STORY_ASSIGNMENTS)
    got = same(
        analyze,
        STORY_EVENTS,
        STORY_ASSIGNMENTS,
        on,
        experiment="checkout",
        metrics=Sum("purchase", name="revenue"),
        winsorize=0.8,
        cuped=True,
    )
    # Cap: the pooled 80th percentile of 0, 0, 20, 25, 40 = 25 + 0.2 x 15 = 28, for carol's 40
    # and for frank's pre-period 30 alike; theta = -38.95 / 143.3 (tests/metrics/test_experiments).
    treated = got.filter(~pl.col("is_control")).row(0, named=True)
    assert treated["mean"] == 16.0
    assert treated["theta"] == pytest.approx(-779 / 2866, rel=1e-12)
    daily = same(
        cumulative_effect,
        STORY_EVENTS,
        STORY_ASSIGNMENTS,
        on,
        experiment="checkout",
        metric=Sum("purchase", name="revenue"),
        winsorize=0.8,
        cuped=True,
    )
    assert daily.tail(1)["mean"].item() == 16.0


def test_a_ratio_metric(harness):
    on = both(harness, STORY_EVENTS, STORY_ASSIGNMENTS)
    order_value = Ratio(Sum("purchase"), Count("purchase"), name="order value")
    got = same(
        analyze,
        STORY_EVENTS,
        STORY_ASSIGNMENTS,
        on,
        experiment="checkout",
        metrics=[order_value, Count("purchase", filters={"revenue": [20.0, 40.0]})],
    )
    # order value: control 25 / 2 purchases, treatment (40 + 20) / 3; big orders 1/2 and 1/3.
    assert got["mean"].to_list() == [12.5, 20.0, 0.5, 1 / 3]
    same(
        cumulative_effect,
        STORY_EVENTS,
        STORY_ASSIGNMENTS,
        on,
        experiment="checkout",
        metric=order_value,
        winsorize=0.9,
    )


def test_a_user_in_two_variants_is_counted_flagged_and_left_out(harness):
    on = both(harness, STORY_EVENTS, STORY_ASSIGNMENTS)
    got = same(
        analyze,
        STORY_EVENTS,
        STORY_ASSIGNMENTS,
        on,
        experiment="checkout",
        metrics=Sum("purchase", name="revenue"),
    )
    # erin (100 of revenue) is out: control alice 25, bob 0; treatment 40, 20, 0.
    assert got["users"].to_list() == [2, 3]
    assert got["excluded_users"].to_list() == [1, 1]
    assert got["mean"].to_list() == [12.5, 20.0]
    counts = assignment_counts(on[1], experiment="checkout")
    assert_frame_equal(counts, assignment_counts(STORY_ASSIGNMENTS, experiment="checkout"))
    assert counts.select("variant", "users").rows() == [
        ("(several)", 1),
        ("control", 2),
        ("treatment", 3),
    ]
    assert_frame_equal(list_experiments(on[1]), list_experiments(STORY_ASSIGNMENTS))


def test_segments_from_assignments_and_from_events(harness):
    platform = {"alice": "web", "bob": "mobile", "carol": "web", "dave": "web", "erin": "web"}
    tagged = STORY_ASSIGNMENTS.with_columns(
        pl.col("user_id").replace_strict(platform, default=None).alias("platform")
    )
    on = both(harness, STORY_EVENTS, tagged)
    same(
        analyze,
        STORY_EVENTS,
        tagged,
        on,
        experiment="checkout",
        metrics=Conversion("purchase"),
        segment="platform",
    )
    events = STORY_EVENTS.with_columns(
        pl.col("user_id").replace_strict(platform, default=None).alias("platform")
    )
    on = both(harness, events, STORY_ASSIGNMENTS)
    got = same(
        analyze,
        events,
        STORY_ASSIGNMENTS,
        on,
        experiment="checkout",
        metrics=Conversion("purchase"),
        segment="platform",
    )
    assert "(none)" in got["segment"].to_list()  # frank has no platform anywhere


def test_a_typo_names_the_experiment_and_lists_the_known_ones(harness):
    on = both(harness, STORY_EVENTS, STORY_ASSIGNMENTS)
    with pytest.raises(ValueError, match=r"'chekout'.*'checkout', 'other'"):
        analyze(*on, experiment="chekout", metrics="purchase")
    with pytest.raises(ValueError, match=r"'chekout'"):
        cumulative_effect(*on, experiment="chekout", metric="purchase")
    with pytest.raises(ValueError, match=r"'chekout'"):
        assignment_counts(on[1], experiment="chekout")


class _Counting:
    """An engine that records how many rows each statement returned."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.connection = getattr(inner, "connection", inner)
        self.rows: list[int] = []

    def run(self, sql: str, params: Any) -> pl.DataFrame:
        frame = self.inner.run(sql, params)
        self.rows.append(frame.height)
        return frame


def test_only_per_variant_rows_come_back():
    from tests.warehouse.engines import DuckDBHarness

    harness = DuckDBHarness()
    events = pl.concat(
        [STORY_EVENTS]
        + [
            make_events((f"u{i}", "purchase", "2026-09-03 10:00", {"revenue": float(i)}))
            for i in range(200)
        ]
    )
    exposures = pl.concat(
        [STORY_ASSIGNMENTS]
        + [
            assignments((f"u{i}", "checkout", ("control", "treatment")[i % 2], "2026-09-02 09:00"))
            for i in range(200)
        ]
    )
    ev, ex = both(harness, events, exposures)
    spy = _Counting(ev.engine)
    ev, ex = dataclasses.replace(ev, engine=spy), dataclasses.replace(ex, engine=spy)
    analyze(ev, ex, experiment="checkout", metrics=[Sum("purchase"), Conversion("purchase")])
    # One statement: the sums per variant (2 rows) and the users in several variants (erin: 1
    # row); no experiment names, since it exists.
    assert spy.rows == [3]
    spy.rows.clear()
    with pytest.raises(ValueError, match=r"'chekout'.*'checkout', 'other'"):
        analyze(ev, ex, experiment="chekout", metrics="purchase")
    # A typo: still one statement, its rows the mark of an unknown experiment and the 2 names.
    assert spy.rows == [3]
    harness.close()


#: The sidebar's filters on a read-out (UTC: SQLite and MySQL have no zone database).
FILTERED = ExperimentQuery.build(
    experiment="checkout",
    metrics=[Conversion("purchase"), Sum("purchase", name="revenue")],
    cuped=True,
    scope=Scope.build(filters={"plan": ["pro", "team"]}),
)
#: Where each STORY_EVENTS row happened: alice's 2 Sep purchase, carol's 40, dave's first and
#: erin's on the web; the rest (every purchase before exposure among them) on mobile.
PLATFORMS = ["mobile", "web", "mobile", "web", "mobile", "web", "web", "mobile", "web", "mobile"]


def test_a_global_filter_drops_events_in_the_engine_as_in_polars(harness):
    events = STORY_EVENTS.with_columns(pl.Series("platform", PLATFORMS))
    query = ExperimentQuery.build(
        experiment="checkout",
        metrics=[Conversion("purchase"), Sum("purchase", name="revenue")],
        cuped=True,
        scope=Scope.build(filters={"platform": "web"}),
    )
    got = analyze_of(*both(harness, events, STORY_ASSIGNMENTS), query)
    assert_frame_equal(
        got,
        analyze_of(events, STORY_ASSIGNMENTS, query),
        check_exact=False,
        rel_tol=1e-9,
        abs_tol=1e-12,
    )


def test_a_global_filter_counts_the_matching_events_of_everyone_assigned(harness):
    events = STORY_EVENTS.with_columns(pl.Series("platform", PLATFORMS))
    query = ExperimentQuery.build(
        experiment="checkout",
        metrics=Sum("purchase", name="revenue"),
        scope=Scope.build(filters={"platform": "web"}),
    )
    got = analyze_of(*both(harness, events, STORY_ASSIGNMENTS), query)
    # web purchases after exposure: alice 20, bob 0 | carol 40, dave 10, frank 0
    assert got.select("users", "mean").rows() == [(2, 10.0), (3, 50 / 3)]


def test_the_effect_over_time_reads_the_filtered_events_in_the_zone(harness):
    events = STORY_EVENTS.with_columns(pl.Series("platform", PLATFORMS))
    query = ExperimentQuery.build(
        experiment="checkout",
        metrics=Sum("purchase", name="revenue"),
        scope=Scope.build(tz="America/New_York", filters={"platform": "web"}),
    )
    over_time = query.over_time("revenue")
    got = cumulative_effect_of(*both(harness, events, STORY_ASSIGNMENTS), over_time)
    assert_frame_equal(
        got,
        cumulative_effect_of(events, STORY_ASSIGNMENTS, over_time),
        check_exact=False,
        rel_tol=1e-9,
        abs_tol=1e-12,
    )


def test_a_global_filter_on_a_column_the_events_lack_names_it(harness):
    query = ExperimentQuery.build(
        experiment="checkout", metrics="purchase", scope=Scope.build(filters={"nope": "x"})
    )
    with pytest.raises(ValueError, match="filters: no column 'nope'"):
        analyze_of(*both(harness, STORY_EVENTS, STORY_ASSIGNMENTS), query)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_sql_parses_in_every_dialect(dialect):
    # A compile-only relation knows the properties its mapping names (and no others).
    events = warehouse(
        None, table="events", dialect=dialect, mapping={"revenue": "amount", "plan": "plan"}
    )
    exposures = warehouse(
        None, table="assignments", dialect=dialect, mapping={"platform": "platform"}
    )
    assert exposures.kind == "assignments"
    calls = [
        (
            analyze,
            (events, exposures),
            dict(
                experiment="checkout",
                metrics=[
                    Ratio(Sum("purchase"), Count("purchase")),
                    Count("purchase", filters={"plan": ["pro", "team"]}),
                ],
                winsorize=0.99,
                cuped=True,
                window=7,
                segment="platform",
            ),
        ),
        (
            cumulative_effect,
            (events, exposures),
            dict(experiment="checkout", metric=Sum("purchase"), winsorize=0.99),
        ),
        (assignment_counts, (exposures,), dict(experiment="checkout")),
        (list_experiments, (exposures,), {}),
        (analyze_of, (events, exposures, FILTERED), {}),
        (cumulative_effect_of, (events, exposures, FILTERED.over_time("purchase conversion")), {}),
    ]
    for function, args, kwargs in calls:
        statements = metrics.sql(function, *args, **kwargs)
        assert statements
        for text in statements:
            sqlglot.parse_one(text, read=dialect)


def test_filters_match_as_in_polars_a_missing_value_included(harness):
    coupons = {"alice": "SUMMER", "carol": None, "dave": "SUMMER"}
    events = STORY_EVENTS.with_columns(
        pl.col("user_id").replace_strict(coupons, default=None).alias("coupon")
    )
    on = both(harness, events, STORY_ASSIGNMENTS)
    got = same(
        analyze,
        events,
        STORY_ASSIGNMENTS,
        on,
        experiment="checkout",
        metrics=[
            Count("purchase", filters={"coupon": "(not set)"}, name="no coupon"),
            Count("purchase", filters={"coupon": ["SUMMER", None]}, name="any"),
            Count("purchase", filters={"coupon": "SUMMER"}, name="summer"),
        ],
    )
    # after exposure: alice 2 (SUMMER), bob 0 | carol 1 (none), dave 2 (SUMMER), frank 0
    assert got["mean"].to_list() == [0.0, 1 / 3, 1.0, 1.0, 1.0, 2 / 3]


def test_events_and_assignments_must_be_in_the_same_place(harness):
    events, exposures = both(harness, STORY_EVENTS, STORY_ASSIGNMENTS)
    with pytest.raises(ValueError, match="assignments"):
        analyze(events, STORY_ASSIGNMENTS, experiment="checkout", metrics="purchase")
    with pytest.raises(ValueError, match="assignments"):
        analyze(STORY_EVENTS, exposures, experiment="checkout", metrics="purchase")
    with pytest.raises(ValueError, match="holds events"):
        analyze(events, events, experiment="checkout", metrics="purchase")
