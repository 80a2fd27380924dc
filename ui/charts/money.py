"""Money as every page shows it: one helper, the product's currency on every figure.

A source's currency is its own (sources.toml ``currency``, else its vision's; ``ui.product``);
these functions only write it: a symbol where one is unambiguous (£, €, $ for USD), else the
ISO code ("CHF 12.50"). No Streamlit import: chart builders and the offline review use it too.
"""

from __future__ import annotations

#: Symbols shown before an amount; any other code is written out ("CHF 1,204").
SYMBOLS: dict[str, str] = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "BRL": "R$"}


def symbol(currency: str) -> str:
    """What goes before an amount: "£", or "CHF " for a code without a symbol of its own."""
    code = (currency or "").strip().upper()
    return SYMBOLS.get(code, f"{code} " if code else "")


def money(value: float | None, currency: str, *, cents: bool | None = None) -> str:
    """An amount as a PM reads it: "£241,627", "£18.37", "-£3.50"; "—" when missing.

    ``cents`` None: cents below 100 only (12,340 needs none, 18.37 does).
    """
    if value is None:
        return "—"
    amount = abs(value)
    with_cents = amount < 100 if cents is None else cents
    text = f"{amount:,.2f}" if with_cents else f"{amount:,.0f}"
    return f"{'-' if value < 0 else ''}{symbol(currency)}{text}"


def hover(currency: str, placeholder: str = "%{y:,.2f}") -> str:
    """A Plotly hover template fragment for an amount: "£%{y:,.2f}"."""
    return f"{symbol(currency)}{placeholder}"


def axis(currency: str) -> dict[str, str]:
    """Plotly axis settings that put the currency on every tick: {"tickprefix": "£"}."""
    return {"tickprefix": symbol(currency)}
