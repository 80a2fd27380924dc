"""ui/charts/money.py: amounts as every chart writes them, in the product's currency."""

from __future__ import annotations

import pytest

from ui.charts import money


@pytest.mark.parametrize(
    ("value", "currency", "text"),
    [
        (241_627.4, "GBP", "£241,627"),
        (18.37, "EUR", "€18.37"),
        (-3.5, "USD", "-$3.50"),
        (1204.0, "CHF", "CHF 1,204"),
        (None, "USD", "—"),
    ],
)
def test_money_is_written_with_the_products_currency(value, currency, text):
    assert money.money(value, currency) == text


def test_money_on_axes_and_in_hovers():
    assert money.axis("eur") == {"tickprefix": "€"}
    assert money.hover("CHF") == "CHF %{y:,.2f}"
