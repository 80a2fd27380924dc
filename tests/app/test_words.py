"""ui.words: event names as a page says them."""

from __future__ import annotations

import pytest

from ui.words import per_user, plural


@pytest.mark.parametrize(
    "name,words",
    [
        ("search", "searches"),
        ("purchase", "purchases"),
        ("page_view", "page_views"),
        ("add_to_cart", "add_to_carts"),
        ("checkout_start", "checkout_starts"),
        ("category_query", "category_queries"),
        ("replay", "replays"),  # a vowel before the y
        ("box", "boxes"),
        ("watch", "watches"),
        ("level_2", "level_2 events"),
        ("", ""),
    ],
)
def test_plural(name, words):
    assert plural(name) == words


def test_count_metric_names_read_as_english():
    assert per_user("search") == "searches per user"
