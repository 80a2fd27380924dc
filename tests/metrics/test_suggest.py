"""KPI suggestions for a product without a vision file: computed on its own data, saved valid."""

from __future__ import annotations

import datetime as dt

import pytest

from metrics.suggest import (
    check_document,
    starting_target,
    suggest_kpis,
    vision_document,
)
from metrics.targets import VisionError, scorecard


def shop_weeks(make_events, *, revenue: bool):
    """Four calendar weeks of a small shop: alice and bob browse every week, alice buys weekly
    (20.0 each time), carol only browses in the first week."""
    rows = []
    for week in range(4):
        monday = dt.date(2026, 3, 2) + dt.timedelta(weeks=week)
        for user in ("alice", "bob"):
            rows.append((user, "page_view", f"{monday} 09:00"))
            rows.append((user, "page_view", f"{monday} 10:00"))
        props = {"revenue": 20.0} if revenue else {}
        rows.append(("alice", "purchase", f"{monday} 11:00", props))
    rows.append(("carol", "page_view", "2026-03-03 12:00"))
    return make_events(*rows)


def test_suggestions_start_from_the_products_own_events(events):
    found = suggest_kpis(shop_weeks(events, revenue=False), today=dt.date(2026, 3, 30))
    ids = [s.id for s in found]
    assert ids[0] == "weekly_active_users"
    # Its two events, most common first; no revenue KPIs without revenue.
    assert ids[1:3] == ["weekly_page_view_users", "weekly_purchase_users"]
    assert not {"monthly_revenue", "arpu", "weekly_paying_users"} & set(ids)
    by_id = {s.id: s for s in found}
    # The latest complete week (23-29 March): alice and bob browsed, alice bought.
    assert by_id["weekly_active_users"].value == 2
    assert by_id["weekly_purchase_users"].value == 1
    assert by_id["weekly_purchase_users"].fields["event"] == "purchase"
    assert "purchase" in by_id["weekly_purchase_users"].why


def test_revenue_is_suggested_when_the_events_carry_money(events):
    march = shop_weeks(events, revenue=True).vstack(
        events(
            ("bob", "purchase", "2026-03-01 08:00", {"revenue": 5.0}),
            ("bob", "page_view", "2026-03-31 08:00", {"revenue": None}),
        )
    )
    found = {s.id: s for s in suggest_kpis(march, today=dt.date(2026, 4, 1))}
    # March: alice's four purchases of 20.0 and bob's 5.0.
    assert found["monthly_revenue"].value == 85.0
    assert found["monthly_revenue"].unit == "currency"
    assert found["monthly_revenue"].target == 85.0
    assert found["weekly_paying_users"].value == 1
    assert "arpu" in found


def test_a_suggestions_value_is_the_scorecards_value(events):
    frame = shop_weeks(events, revenue=True)
    today = dt.date(2026, 3, 30)
    found = suggest_kpis(frame, today=today)
    document = vision_document(
        product="Shop",
        statement="Everything for the week, in two minutes.",
        north_star="weekly_active_users",
        kpis=found,
        deadline=dt.date(2026, 6, 30),
        owner="Priya",
        currency="gbp",
    )
    vision = check_document(document)
    assert vision.currency == "GBP"
    assert [k.id for k in vision.kpis] == [s.id for s in found]
    card = scorecard(vision, frame, today=today).table
    assert dict(card.select("kpi", "value").iter_rows()) == {s.id: s.value for s in found}


def test_a_document_with_problems_is_refused_with_every_problem(events):
    found = suggest_kpis(shop_weeks(events, revenue=False), today=dt.date(2026, 3, 30))
    document = vision_document(
        product=" ",
        statement="",
        north_star="nope",
        kpis=found[:1],
        deadline=dt.date(2026, 6, 30),
        owner="Priya",
    )
    with pytest.raises(VisionError) as caught:
        check_document(document)
    text = "\n".join(caught.value.problems)
    assert "'name'" in text and "'vision'" in text and "'nope'" in text


@pytest.mark.parametrize(
    ("value", "rate", "expected"),
    [
        (14211.0, False, 14000.0),
        (6474.0, False, 6500.0),
        (18.37, False, 18.0),
        (2.345, False, 2.3),
        (0.18764, True, 0.19),
        (None, False, 0.0),
        (0.0, False, 0.0),
    ],
)
def test_starting_targets_are_round_numbers_at_the_current_value(value, rate, expected):
    assert starting_target(value, rate=rate) == expected


def test_no_events_offer_weekly_active_users_without_a_value(events):
    found = suggest_kpis(events(), today=dt.date(2026, 3, 30))
    assert [(s.id, s.value, s.target) for s in found] == [("weekly_active_users", None, 0.0)]
