"""Pure metric computation on Polars frames in the canonical event schema.

Nothing in this package imports streamlit, sqlalchemy, plotly or connectors, and nothing reads the
clock: "today" always comes in as a parameter.
"""

from typing import Any

from metrics._pages import use_plain_pages

use_plain_pages()


def sql(function: Any, *args: Any, **kwargs: Any) -> list[str]:
    """The statements ``function(*args, **kwargs)`` would run on a relation, values inline.

    ``metrics.sql(engagement.active_users, relation, start=..., end=...)``: works on relations
    that only compile SQL too (``connectors.warehouse(None, table=..., dialect=...)``).
    """
    from metrics.warehouse import statements

    return statements(function, *args, **kwargs)
